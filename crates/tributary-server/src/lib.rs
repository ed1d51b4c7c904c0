//! The Tributary server: wires the service to HTTP ingest, GraphQL and gRPC on one
//! listener (HTTP/1.1 and HTTP/2 cleartext), and the `tributary` command line.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests can serve on port 0.

pub mod cli;
mod http;
mod import;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

pub use http::MAX_BODY_BYTES;
pub use tributary_service::{Service, ServiceConfig, StoreConfig, governance, model};

/// Every route: `POST /api/v1/lineage`, `/graphql`, `/healthz`, and the gRPC services.
pub async fn router(service: Service) -> axum::Router {
    let grpc = tributary_grpc::routes(service.clone()).await.into_axum_router();
    http::router(service.clone()).merge(tributary_graphql::router(service)).merge(grpc)
}

/// Serves until `shutdown` resolves, then stops accepting connections, lets in-flight
/// requests finish and returns. The caller closes the service afterwards.
pub async fn run(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(service).await;
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("serving")?;
    Ok(())
}
