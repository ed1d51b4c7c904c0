//! `Lineage`: nodes and edges around a start, with the watermark they reflect.

use crate::error::gql_error;
pub use crate::scalars::{Direction, EdgeKind, NodeKind, NodeRef, Watermark};
use crate::types::plain::{
    JsonArray, Listed, ObjectPlan, Plain, PlainList, WrittenItem, WrittenList, plain_object, write_enum, write_str,
};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Result, SimpleObject, Value};
use std::sync::Arc;
use tributary_service::model;
use tributary_service::{AnswerShape, AnswerSink, LineageRequest, NamespacePositions, NodeName, Service};

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
    pub nodes: Listed<LineageNode>,
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

    fn write_field(&self, name: &str, _selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        write_node_field(name, self.kind, &self.namespace, &self.name, self.distance, out)
    }

    fn prefetch(&self) {
        tributary_service::prefetch(Arc::as_ptr(&self.name));
    }
}

/// Written node objects are made only over HTTP (`written_nodes_plan` asks for the splicer), so
/// they are sent as written and never read back as values (an object's enum field would come
/// back as a string).
impl WrittenItem for LineageNode {}

/// Writes field `field` of a `LineageNode` as JSON, as its value serialises; `None` for a
/// field it does not have.
fn write_node_field(
    field: &str,
    kind: NodeKind,
    namespace: &str,
    name: &str,
    distance: u32,
    out: &mut Vec<u8>,
) -> Option<()> {
    match field {
        "kind" => write_enum(out, kind),
        "namespace" => write_str(out, namespace),
        "name" => write_str(out, name),
        "distance" => out.extend_from_slice(itoa::Buffer::new().format(distance).as_bytes()),
        _ => return None,
    }
    Some(())
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
        nodes: Listed::Plain(PlainList::new(view.answer.nodes.into_iter().map(LineageNode::from).collect())),
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

/// The plan of `lineage`'s node objects when they can be written while the answer is read
/// out: over HTTP (the response's lists are spliced), with one `nodes` field selected,
/// plainly, of scalar fields, and no fragment around it. `None` otherwise: the answer is then
/// collected and its lists made as they are sent or resolved.
pub(crate) fn written_nodes_plan(context: &async_graphql::Context<'_>) -> Option<ObjectPlan> {
    context.data_opt::<Arc<crate::types::plain::Splicer>>()?;
    let mut nodes = None;
    for selected in &context.item.node.selection_set.node.items {
        let async_graphql::parser::types::Selection::Field(field) = &selected.node else { return None };
        if field.node.name.node == "nodes" {
            if nodes.is_some() || !field.node.directives.is_empty() {
                return None;
            }
            nodes = Some(&field.node.selection_set.node);
        }
    }
    ObjectPlan::of(nodes?)
}

/// Runs a lineage query (without edges) whose node objects are written as JSON while the
/// answer is read out of the index, as `plan` selects them ([`NodeObjects`]).
pub(crate) async fn lineage_written(service: &Service, request: LineageRequest, plan: ObjectPlan) -> Result<Lineage> {
    let sink = NodeObjects { plan, nodes: JsonArray::default(), failed: false };
    let (sink, outline) = service.lineage_into(request, sink).await.map_err(gql_error)?;
    if sink.failed {
        return Err(gql_error(tributary_service::ServiceError::Internal(
            "the lineage answer could not be written as its selection asks".to_owned(),
        )));
    }
    Ok(Lineage {
        nodes: Listed::Written(sink.nodes.finish()),
        edges: PlainList::new(Vec::new()),
        truncated: outline.truncated,
        depth: outline.depth,
        watermark: outline.watermark.into(),
    })
}

/// `lineage`'s node objects written as JSON while the answer is read out of the index, on a
/// read thread a unit of the walk at a time (as [`TableSink`] writes `lineageTable`'s lists).
struct NodeObjects {
    plan: ObjectPlan,
    nodes: JsonArray,
    failed: bool,
}

impl AnswerSink for NodeObjects {
    fn node(&mut self, node: &NodeName, distance: u32) {
        let plan = &self.plan;
        let written = self.nodes.push_with(|out| {
            plan.write(LineageNode::TYPE_NAME, out, |field, out| {
                write_node_field(field, node.kind.into(), &node.namespace, &node.name, distance, out)
            })
        });
        self.failed |= written.is_none();
    }

    fn edge(&mut self, _from: &NodeName, _to: &NodeName, _kind: model::EdgeKind) {
        // Asked without edges.
        self.failed = true;
    }
}

/// The same answer as `Lineage` in columns: each namespace written once and the nodes as
/// parallel lists (a node is the same position in each), edges as positions in them. A
/// closure of half a million nodes is about a third of the bytes of `Lineage`'s objects, and
/// a client decodes lists of strings and numbers without a key per field.
// The lists are written as JSON while the answer is read out of the index (`TableSink`).
#[derive(SimpleObject)]
pub struct LineageTable {
    /// The answer's distinct namespaces, in the order their first node comes.
    pub namespaces: WrittenList<Arc<str>>,
    /// Per node: its namespace's position in `namespaces`.
    pub node_namespaces: WrittenList<u32>,
    pub node_names: WrittenList<Arc<str>>,
    pub node_kinds: WrittenList<NodeKind>,
    /// Per node: job hops from the start (the start is at 0).
    pub node_distances: WrittenList<u32>,
    /// Per edge: the position of the node it comes from in the node lists.
    pub edge_from: WrittenList<u32>,
    /// Per edge: the position of the node it goes to.
    pub edge_to: WrittenList<u32>,
    pub edge_kinds: WrittenList<EdgeKind>,
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    /// The depth (job hops) the answer was computed to.
    pub depth: u32,
    pub watermark: Watermark,
}

fn edge_kind(kind: model::EdgeKind) -> EdgeKind {
    match kind {
        model::EdgeKind::Reads => EdgeKind::Reads,
        model::EdgeKind::Writes => EdgeKind::Writes,
    }
}

/// Which of `lineageTable`'s lists a query selects: the others are not written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableColumns {
    namespaces: bool,
    node_namespaces: bool,
    names: bool,
    kinds: bool,
    distances: bool,
    /// Any of the edge lists (they are made together).
    pub(crate) edges: bool,
}

impl TableColumns {
    /// The lists whose fields `selected` says are selected.
    pub(crate) fn selected(selected: impl Fn(&str) -> bool) -> Self {
        Self {
            namespaces: selected("namespaces"),
            node_namespaces: selected("nodeNamespaces"),
            names: selected("nodeNames"),
            kinds: selected("nodeKinds"),
            distances: selected("nodeDistances"),
            edges: ["edgeFrom", "edgeTo", "edgeKinds"].into_iter().any(selected),
        }
    }
}

/// Runs a lineage query into `lineageTable`'s columns (the request's shape must hold edges
/// when `columns` selects them).
pub(crate) async fn lineage_table(
    service: &Service,
    request: LineageRequest,
    columns: TableColumns,
) -> Result<LineageTable> {
    let (sink, outline) = service.lineage_into(request, TableSink::new(columns)).await.map_err(gql_error)?;
    sink.finish(outline)
}

/// `lineageTable`'s columns, written as JSON while the answer is read out of the index, on a
/// read thread a unit of the walk at a time: no list of nodes is collected, and each name is
/// read once, where the read-out has asked for it ahead. Lists not selected stay empty.
struct TableSink {
    columns: TableColumns,
    /// Nodes so far (an answer's nodes are fewer than 2^32).
    nodes: u32,
    namespaces: NamespacePositions,
    namespace_list: JsonArray,
    node_namespaces: JsonArray,
    node_names: JsonArray,
    node_kinds: JsonArray,
    node_distances: JsonArray,
    /// With edges: each node's position, by its name as the answer gives it (an edge's ends
    /// are named as its nodes were; a redacted name is made anew for each, so by text).
    positions: Option<std::collections::HashMap<NodeName, u32>>,
    edge_from: JsonArray,
    edge_to: JsonArray,
    edge_kinds: JsonArray,
    /// The first edge with an end that is not among the nodes.
    stray: Option<String>,
}

impl TableSink {
    fn new(columns: TableColumns) -> Self {
        Self {
            columns,
            nodes: 0,
            namespaces: NamespacePositions::default(),
            namespace_list: JsonArray::default(),
            node_namespaces: JsonArray::default(),
            node_names: JsonArray::default(),
            node_kinds: JsonArray::default(),
            node_distances: JsonArray::default(),
            positions: columns.edges.then(std::collections::HashMap::new),
            edge_from: JsonArray::default(),
            edge_to: JsonArray::default(),
            edge_kinds: JsonArray::default(),
            stray: None,
        }
    }

    fn finish(self, outline: tributary_service::LineageOutline) -> Result<LineageTable> {
        if let Some(stray) = self.stray {
            return Err(gql_error(tributary_service::ServiceError::Internal(stray)));
        }
        Ok(LineageTable {
            namespaces: self.namespace_list.finish(),
            node_namespaces: self.node_namespaces.finish(),
            node_names: self.node_names.finish(),
            node_kinds: self.node_kinds.finish(),
            node_distances: self.node_distances.finish(),
            edge_from: self.edge_from.finish(),
            edge_to: self.edge_to.finish(),
            edge_kinds: self.edge_kinds.finish(),
            truncated: outline.truncated,
            depth: outline.depth,
            watermark: outline.watermark.into(),
        })
    }
}

impl AnswerSink for TableSink {
    fn node(&mut self, node: &NodeName, distance: u32) {
        let columns = self.columns;
        if columns.namespaces || columns.node_namespaces {
            let (namespace, first) = self.namespaces.position(&node.namespace);
            if first && columns.namespaces {
                self.namespace_list.push_str(&node.namespace);
            }
            if columns.node_namespaces {
                self.node_namespaces.push_u32(namespace);
            }
        }
        if let Some(positions) = &mut self.positions {
            positions.insert(node.clone(), self.nodes);
        }
        self.nodes += 1;
        if columns.names {
            self.node_names.push_str(&node.name);
        }
        if columns.kinds {
            self.node_kinds.push_enum(NodeKind::from(node.kind));
        }
        if columns.distances {
            self.node_distances.push_u32(distance);
        }
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: model::EdgeKind) {
        // Edges are read out only when the request's shape asks for them.
        let Some(positions) = &self.positions else { return };
        match (positions.get(from), positions.get(to)) {
            (Some(&from), Some(&to)) => {
                self.edge_from.push_u32(from);
                self.edge_to.push_u32(to);
                self.edge_kinds.push_enum(edge_kind(kind));
            }
            _ => {
                let stray = if positions.contains_key(from) { to } else { from };
                self.stray.get_or_insert_with(|| {
                    format!("an edge's end {}:{} is not among the answer's nodes", stray.namespace, stray.name)
                });
            }
        }
    }
}
