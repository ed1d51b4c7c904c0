//! Pages of stored events and of dataset or job names.

pub use crate::scalars::{NodeRef, Watermark};
use async_graphql::{Json, SimpleObject};
use serde_json::Value;

#[derive(SimpleObject)]
pub struct NodePage {
    pub nodes: Vec<NodeRef>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub watermark: Watermark,
}

#[derive(SimpleObject)]
pub struct StoredEvent {
    /// Position in ingest order.
    pub sequence: u64,
    /// The event as received (JSON-equal; keys sorted).
    pub event: Json<Value>,
}

#[derive(SimpleObject)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `after` for the next page; null when no more events exist now.
    pub next_after: Option<u64>,
    pub watermark: Watermark,
}
