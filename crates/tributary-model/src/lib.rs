//! Tributary's domain model: identifiers, nodes, runs, facets and the pure rules that
//! turn observations into lineage (facet merging, run state, a job's current inputs
//! and outputs).
//!
//! This crate does no IO, knows no wire format beyond `serde_json::Value` for facets,
//! and must not depend on storage, transports or async runtimes.

mod audit;
mod columns;
mod ids;
mod json;
mod records;
mod source;
mod time;
mod verdict;

pub use audit::{Actor, ActorKind, AuditKind, AuditRecord};
pub use columns::{
    ALL_COLUMNS, ColumnEdgeSpec, EdgeSource, Transformation, TransformationKind, column_lineage_edges,
    column_lineage_edges_of,
};
pub use ids::{DatasetId, JobId, NodeKind, NodeRef, RunId};
pub use json::JsonView;
pub use records::{
    DatasetRecord, DocumentRecord, FacetEntry, FacetStamp, FacetStamps, Facets, JobRecord, Observation, ObservationKey,
    ObservationSource, RECORD_FORMAT, RunRecord, RunState, SchemaChangeRecord, SchemaField, SchemaVersionRecord,
    SeenSchemaChange, StampOutcome, Version, Versioned, facet_column_tags, facet_owners, facet_tags, merge_facets,
    merge_stamp, parse_schema_fields, visible_facets,
};
pub use source::{PartitionOffset, SourcePosition, SourceRejection};
pub use time::{Timestamp, TimestampError};
pub use verdict::Verdict;

/// Which way a lineage traversal follows edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

/// Which ingested events an answer reflects.
///
/// `sequence` is the highest event sequence applied to the view that produced the
/// answer; `events` is the number of distinct events stored at that point. Sequences
/// are dense, so the two are equal unless the store is being read mid-write. `offsets`
/// says, for each consumed log partition, how far the answer reflects it (empty when the
/// server consumes none).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    pub sequence: u64,
    pub events: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offsets: Vec<PartitionOffset>,
}

/// The kind of a dataset-level lineage edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EdgeKind {
    /// dataset -> job: the job reads the dataset.
    Reads,
    /// job -> dataset: the job writes the dataset.
    Writes,
}

#[cfg(test)]
mod tests;
