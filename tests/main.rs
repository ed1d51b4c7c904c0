//! End-to-end tests: the real server on loopback port 0, real HTTP, gRPC and GraphQL
//! clients. One binary (ripgrep's layout); modules by concern.

mod abuse;
mod auth;
mod batch;
mod check;
mod columns;
mod compaction;
mod disk_full;
mod export;
mod graphql;
mod grpc;
mod grpc_hostile;
mod impact_summary;
mod ingest;
mod interop;
mod kafka;
mod mesh;
mod metrics;
mod parity;
mod regression;
mod sql_lineage;
mod stress;
mod support;
mod tls;
mod web;
