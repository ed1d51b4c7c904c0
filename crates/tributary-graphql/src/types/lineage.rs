//! `Lineage`: nodes and edges around a start, with the watermark they reflect.

use crate::error::gql_error;
pub use crate::scalars::{Direction, EdgeKind, NodeKind, NodeRef, Watermark};
use crate::types::plain::{Plain, PlainList, PlainScalar, ScalarList, plain_object, write_enum, write_str};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Result, SimpleObject, Value};
use std::sync::Arc;
use tributary_service::model;
use tributary_service::{AnswerShape, LineageRequest, NodeName, Service};

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

    fn write_field(&self, name: &str, _selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "kind" => write_enum(out, self.kind),
            "namespace" => write_str(out, &self.namespace),
            "name" => write_str(out, &self.name),
            _ => return None,
        }
        Some(())
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

/// A lineage query's arguments as the service's request (nodes and edges; `shaped` sets
/// what the selection needs).
pub(crate) fn lineage_request(
    start: crate::scalars::NodeInput,
    direction: Direction,
    depth: Option<u32>,
    limit: Option<u32>,
) -> LineageRequest {
    LineageRequest::new(start.into(), direction.into()).depth(depth).limit(limit.map(|limit| limit as usize))
}

/// Runs a lineage query, the nodes named by the index's shared strings.
pub(crate) async fn lineage_view(
    service: &Service,
    request: LineageRequest,
) -> Result<tributary_service::LineageView<NodeName>> {
    service.lineage_named(request).await.map_err(gql_error)
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
                .map(|edge| LineageEdge { from: owned(edge.from), to: owned(edge.to), kind: edge_kind(edge.kind) })
                .collect(),
        ),
        truncated: view.answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}

/// The same answer as `Lineage` in columns: each namespace written once and the nodes as
/// parallel lists (a node is the same position in each), edges as positions in them. A
/// closure of half a million nodes is about a third of the bytes of `Lineage`'s objects, and
/// a client decodes lists of strings and numbers without a key per field.
#[derive(SimpleObject)]
pub struct LineageTable {
    /// The answer's distinct namespaces, in the order their first node comes.
    pub namespaces: ScalarList<Arc<str>>,
    /// Per node: its namespace's position in `namespaces`.
    pub node_namespaces: ScalarList<u32>,
    pub node_names: ScalarList<Arc<str>>,
    pub node_kinds: ScalarList<NodeKind>,
    /// Per node: job hops from the start (the start is at 0).
    pub node_distances: ScalarList<u32>,
    /// Per edge: the position of the node it comes from in the node lists.
    pub edge_from: ScalarList<u32>,
    /// Per edge: the position of the node it goes to.
    pub edge_to: ScalarList<u32>,
    pub edge_kinds: ScalarList<EdgeKind>,
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    /// The depth (job hops) the answer was computed to.
    pub depth: u32,
    pub watermark: Watermark,
}

impl PlainScalar for NodeKind {
    fn value(&self) -> Value {
        async_graphql::resolver_utils::enum_value(*self)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write_enum(out, *self);
    }
}

impl PlainScalar for EdgeKind {
    fn value(&self) -> Value {
        async_graphql::resolver_utils::enum_value(*self)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write_enum(out, *self);
    }
}

fn edge_kind(kind: model::EdgeKind) -> EdgeKind {
    match kind {
        model::EdgeKind::Reads => EdgeKind::Reads,
        model::EdgeKind::Writes => EdgeKind::Writes,
    }
}

/// The answer in columns, built on a blocking thread when it is large (a table lookup per
/// node and per edge end).
pub(crate) async fn lineage_table_from_view(view: tributary_service::LineageView<NodeName>) -> Result<LineageTable> {
    const INLINE_NODES: usize = 4096;
    if view.answer.nodes.len() <= INLINE_NODES {
        return build_lineage_table(view);
    }
    tokio::task::spawn_blocking(move || build_lineage_table(view))
        .await
        .map_err(|error| internal(format!("building the lineage table failed: {error}")))?
}

/// The answer in columns. Each node of the index holds its own name string (`NodeName` shares
/// it), so an edge's end is found by that string's address and kind, not by comparing text.
fn build_lineage_table(view: tributary_service::LineageView<NodeName>) -> Result<LineageTable> {
    type Key = (model::NodeKind, *const u8);
    let key = |node: &NodeName| -> Key { (node.kind, Arc::as_ptr(&node.name).cast::<u8>()) };
    let answer = view.answer;
    let count = answer.nodes.len();
    let mut namespaces: Vec<Arc<str>> = Vec::new();
    let mut namespace_at: std::collections::HashMap<Arc<str>, u32> = std::collections::HashMap::new();
    let (mut node_namespaces, mut node_names) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let (mut node_kinds, mut node_distances) = (Vec::with_capacity(count), Vec::with_capacity(count));
    let mut position: std::collections::HashMap<Key, u32> = std::collections::HashMap::new();
    if !answer.edges.is_empty() {
        position.reserve(count);
    }
    for (at, node) in answer.nodes.into_iter().enumerate() {
        // Neighbours mostly share a namespace (the index keeps one string per namespace): the
        // previous node's is tried first, then the table by text.
        let namespace = match node_namespaces.last() {
            Some(&previous) if Arc::ptr_eq(&namespaces[previous as usize], &node.node.namespace) => previous,
            _ => *namespace_at.entry(Arc::clone(&node.node.namespace)).or_insert_with(|| {
                namespaces.push(Arc::clone(&node.node.namespace));
                (namespaces.len() - 1) as u32
            }),
        };
        if !answer.edges.is_empty() {
            position.insert(key(&node.node), at as u32);
        }
        node_namespaces.push(namespace);
        node_kinds.push(node.node.kind.into());
        node_distances.push(node.distance);
        node_names.push(node.node.name);
    }
    let (mut edge_from, mut edge_to, mut edge_kinds) = (Vec::new(), Vec::new(), Vec::new());
    for edge in answer.edges {
        let end = |node: &NodeName| {
            position.get(&key(node)).copied().ok_or_else(|| {
                internal(format!("an edge's end {}:{} is not among the answer's nodes", node.namespace, node.name))
            })
        };
        edge_from.push(end(&edge.from)?);
        edge_to.push(end(&edge.to)?);
        edge_kinds.push(edge_kind(edge.kind));
    }
    Ok(LineageTable {
        namespaces: ScalarList::new(namespaces),
        node_namespaces: ScalarList::new(node_namespaces),
        node_names: ScalarList::new(node_names),
        node_kinds: ScalarList::new(node_kinds),
        node_distances: ScalarList::new(node_distances),
        edge_from: ScalarList::new(edge_from),
        edge_to: ScalarList::new(edge_to),
        edge_kinds: ScalarList::new(edge_kinds),
        truncated: answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    })
}

fn internal(reason: String) -> async_graphql::Error {
    gql_error(tributary_service::ServiceError::Internal(reason))
}
