//! `Lineage`: nodes and edges around a start, with the watermark they reflect.

use crate::error::gql_error;
pub use crate::scalars::{Direction, EdgeKind, NodeKind, NodeRef, Watermark};
use crate::types::plain::{Plain, PlainList, plain_object, write_enum, write_str};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Result, SimpleObject, Value};
use std::sync::Arc;
use tributary_service::model;
use tributary_service::{AnswerShape, NodeName, Service};

#[derive(SimpleObject)]
pub struct LineageNode {
    pub kind: NodeKind,
    // The index's own strings, shared (a closure of half a million nodes copies none).
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    /// Job hops from the start: a job reading the start and what it writes are at 1.
    pub distance: u32,
}

impl From<tributary_service::LineageNode> for LineageNode {
    fn from(node: tributary_service::LineageNode) -> Self {
        Self {
            kind: node.node.kind.into(),
            namespace: node.node.namespace.into(),
            name: node.node.name.into(),
            distance: node.distance,
        }
    }
}

impl From<tributary_service::LineageNode<NodeName>> for LineageNode {
    fn from(node: tributary_service::LineageNode<NodeName>) -> Self {
        Self {
            kind: node.node.kind.into(),
            namespace: node.node.namespace,
            name: node.node.name,
            distance: node.distance,
        }
    }
}

#[derive(SimpleObject)]
pub struct LineageEdge {
    pub from: NodeRef,
    pub to: NodeRef,
    pub kind: EdgeKind,
}

#[derive(SimpleObject)]
pub struct Lineage {
    pub nodes: PlainList<LineageNode>,
    pub edges: PlainList<LineageEdge>,
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    /// The depth (job hops) the answer was computed to.
    pub depth: u32,
    pub watermark: Watermark,
}

// A hub's answer holds hundreds of thousands of nodes: they are built as a `PlainList` when
// the selection allows (see `plain`), several times faster than the generic list resolution.
impl Plain for LineageNode {
    const TYPE_NAME: &'static str = "LineageNode";

    fn plain_field(&self, name: &str, _selection: &SelectionSet) -> Option<Value> {
        match name {
            "distance" => Some(Value::Number(self.distance.into())),
            _ => node_field(name, self.kind, &self.namespace, &self.name),
        }
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "kind" => write_enum(out, self.kind),
            "namespace" => write_str(out, &self.namespace),
            "name" => write_str(out, &self.name),
            "distance" => serde_json::to_writer(&mut *out, &self.distance).ok()?,
            _ => serde_json::to_writer(out, &self.plain_field(name, selection)?).ok()?,
        }
        Some(())
    }

    fn prefetch(&self) {
        tributary_service::prefetch(Arc::as_ptr(&self.name));
    }
}

impl Plain for NodeRef {
    const TYPE_NAME: &'static str = "NodeRef";

    fn plain_field(&self, name: &str, _selection: &SelectionSet) -> Option<Value> {
        node_field(name, self.kind, &self.namespace, &self.name)
    }
}

/// The fields a lineage node and a node reference share.
fn node_field(field: &str, kind: NodeKind, namespace: &str, name: &str) -> Option<Value> {
    Some(match field {
        "kind" => async_graphql::resolver_utils::enum_value(kind),
        "namespace" => Value::String(namespace.to_owned()),
        "name" => Value::String(name.to_owned()),
        _ => return None,
    })
}

impl Plain for LineageEdge {
    const TYPE_NAME: &'static str = "LineageEdge";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        match name {
            "from" => plain_object(&self.from, selection),
            "to" => plain_object(&self.to, selection),
            "kind" => Some(async_graphql::resolver_utils::enum_value(self.kind)),
            _ => None,
        }
    }
}

/// Runs a lineage query in the given shape, the nodes named by the index's shared strings.
pub(crate) async fn lineage_view(
    service: &Service,
    start: model::NodeRef,
    direction: Direction,
    depth: Option<u32>,
    limit: Option<u32>,
    shape: AnswerShape,
) -> Result<tributary_service::LineageView<NodeName>> {
    let limit = limit.map(|limit| limit as usize);
    service.lineage_named(start, direction.into(), depth, limit, shape).await.map_err(gql_error)
}

/// Edges are built only when the caller's query selects them.
pub(crate) fn edge_shape(edges_selected: bool) -> AnswerShape {
    if edges_selected { AnswerShape::Full } else { AnswerShape::Nodes }
}

pub(crate) fn lineage_from_view(view: tributary_service::LineageView<NodeName>) -> Lineage {
    // Edges name their ends with owned strings (`NodeRef` is shared by many answers).
    let owned = |node: NodeName| NodeRef {
        kind: node.kind.into(),
        namespace: String::from(&*node.namespace),
        name: String::from(&*node.name),
    };
    Lineage {
        nodes: PlainList::new(view.answer.nodes.into_iter().map(LineageNode::from).collect()),
        edges: PlainList::new(
            view.answer
                .edges
                .into_iter()
                .map(|edge| LineageEdge {
                    from: owned(edge.from),
                    to: owned(edge.to),
                    kind: match edge.kind {
                        model::EdgeKind::Reads => EdgeKind::Reads,
                        model::EdgeKind::Writes => EdgeKind::Writes,
                    },
                })
                .collect(),
        ),
        truncated: view.answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}
