//! The small shared types every object type uses (node references, kinds, directions, the
//! watermark) and the service handle. Imports nothing else of this crate.

use async_graphql::{Context, Enum, InputObject, SimpleObject};
use tributary_service::Service;
use tributary_service::model::{self, NodeKind as ModelKind};

pub(crate) fn service<'a>(context: &Context<'a>) -> &'a Service {
    // The schema is always built with a Service in its data (see `crate::schema`).
    context.data_unchecked::<Service>()
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Dataset,
    Job,
}

impl From<ModelKind> for NodeKind {
    fn from(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Dataset => Self::Dataset,
            ModelKind::Job => Self::Job,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl From<Direction> for model::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Upstream => Self::Upstream,
            Direction::Downstream => Self::Downstream,
            Direction::Both => Self::Both,
        }
    }
}

/// `READS`: dataset -> job. `WRITES`: job -> dataset.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Reads,
    Writes,
}

/// Which ingested events an answer reflects: everything up to `sequence`.
#[derive(SimpleObject, Clone)]
pub struct Watermark {
    /// Highest event sequence the answer reflects (0: nothing ingested yet).
    pub sequence: u64,
    /// Distinct events stored at that point.
    pub events: u64,
    /// For each consumed Kafka partition, how far the answer reflects it (empty when the
    /// server consumes none).
    pub offsets: Vec<PartitionOffset>,
}

/// How far a consumed Kafka partition is applied: every record below `offset` (the next to
/// read, as Kafka commits it) is applied or rejected.
#[derive(SimpleObject, Clone)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
}

impl From<&model::Watermark> for Watermark {
    fn from(watermark: &model::Watermark) -> Self {
        Self {
            sequence: watermark.sequence,
            events: watermark.events,
            offsets: watermark
                .offsets
                .iter()
                .map(|offset| PartitionOffset {
                    topic: offset.topic.clone(),
                    partition: offset.partition,
                    offset: offset.offset,
                })
                .collect(),
        }
    }
}

impl From<model::Watermark> for Watermark {
    fn from(watermark: model::Watermark) -> Self {
        Self::from(&watermark)
    }
}

#[derive(SimpleObject, Clone)]
pub struct NodeRef {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
}

impl From<&model::NodeRef> for NodeRef {
    fn from(node: &model::NodeRef) -> Self {
        Self { kind: node.kind.into(), namespace: node.namespace.clone(), name: node.name.clone() }
    }
}

pub(crate) fn refs(nodes: &[model::NodeRef]) -> Vec<NodeRef> {
    nodes.iter().map(NodeRef::from).collect()
}

#[derive(InputObject)]
pub struct NodeInput {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
}

impl From<NodeInput> for model::NodeRef {
    fn from(input: NodeInput) -> Self {
        let kind = match input.kind {
            NodeKind::Dataset => ModelKind::Dataset,
            NodeKind::Job => ModelKind::Job,
        };
        model::NodeRef { kind, namespace: input.namespace, name: input.name }
    }
}
