//! `SchemaChange`: a schema change seen in ingested events.

use crate::scalars::NodeRef;
use async_graphql::{Json, SimpleObject};
use serde_json::Value;

/// A schema change seen in ingested events.
#[derive(SimpleObject)]
pub struct SchemaChange {
    /// The event that carried the new schema.
    pub sequence: u64,
    pub time: String,
    pub dataset: NodeRef,
    pub from_version: String,
    pub to_version: String,
    pub verdict: String,
    /// The change report at that moment (as `checkChange { json }`), each list cut to its
    /// nearest 100 entries: the counts (`impactCount`, `affectedDatasetCount`…) are whole,
    /// `listsComplete` says whether every list is, and `schemaDiff` of the two versions
    /// answers as of now.
    pub report: Json<Value>,
}
