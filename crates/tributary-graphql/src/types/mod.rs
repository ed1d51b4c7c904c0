//! One file per GraphQL object type (and its resolvers); each converts from service views.

pub(crate) mod apply_result;
pub(crate) mod audit;
pub(crate) mod change_check;
pub(crate) mod column_lineage;
pub(crate) mod compaction;
pub(crate) mod dataset;
pub(crate) mod domain;
pub(crate) mod event;
pub(crate) mod freshness;
pub(crate) mod impact;
pub(crate) mod job;
pub(crate) mod kafka;
pub(crate) mod lineage;
pub(crate) mod mesh_edge;
pub(crate) mod owner;
pub(crate) mod plain;
pub(crate) mod product;
pub(crate) mod run;
pub(crate) mod schema_change;
pub(crate) mod search;
pub(crate) mod token;
pub(crate) mod violation;
