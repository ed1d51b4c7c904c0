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
    pub edges: Listed<LineageEdge>,
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

/// Written node and edge objects are made only over HTTP (`written_plan` asks for the
/// splicer), so they are sent as written and never read back as values (an object's enum
/// field would come back as a string).
impl WrittenItem for LineageNode {}
impl WrittenItem for LineageEdge {}

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
        edges: Listed::Plain(PlainList::new(
            view.answer
                .edges
                .into_iter()
                .map(|edge| LineageEdge { from: owned(edge.from), to: owned(edge.to), kind: edge_kind(edge.kind) })
                .collect(),
        )),
        truncated: view.answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}

/// The plans of `lineage`'s node and edge objects when they can be written while the answer
/// is read out: over HTTP (the response's lists are spliced), with `nodes` and `edges` each
/// selected at most once, plainly, and no fragment around them. `None` otherwise, or when
/// neither list is selected: the answer is then collected and its lists made as they are sent
/// or resolved.
pub(crate) fn written_plan(context: &async_graphql::Context<'_>) -> Option<WrittenPlan> {
    context.data_opt::<Arc<crate::types::plain::Splicer>>()?;
    let (mut nodes, mut edges) = (None, None);
    for selected in &context.item.node.selection_set.node.items {
        let async_graphql::parser::types::Selection::Field(field) = &selected.node else { return None };
        let list = match field.node.name.node.as_str() {
            "nodes" => &mut nodes,
            "edges" => &mut edges,
            _ => continue,
        };
        if list.is_some() || !field.node.directives.is_empty() {
            return None;
        }
        *list = Some(ObjectPlan::of(&field.node.selection_set.node)?);
    }
    (nodes.is_some() || edges.is_some()).then_some(WrittenPlan { nodes, edges })
}

/// The plans of the lists of a `lineage` answer written while it is read out ([`written_plan`]);
/// a list not selected is not written.
pub(crate) struct WrittenPlan {
    nodes: Option<ObjectPlan>,
    edges: Option<ObjectPlan>,
}

/// Runs a lineage query whose node and edge objects are written as JSON while the answer is
/// read out of the index, as `plan` selects them ([`ObjectsSink`]).
pub(crate) async fn lineage_written(service: &Service, request: LineageRequest, plan: WrittenPlan) -> Result<Lineage> {
    let nodes = plan.nodes.map(|plan| (plan, JsonArray::default()));
    let sink = ObjectsSink { nodes, edges: plan.edges.map(EdgeObjects::new), failed: false };
    let (sink, outline) = service.lineage_into(request, sink).await.map_err(gql_error)?;
    if sink.failed {
        return Err(gql_error(tributary_service::ServiceError::Internal(
            "the lineage answer could not be written as its selection asks".to_owned(),
        )));
    }
    Ok(Lineage {
        nodes: Listed::Written(sink.nodes.map(|(_, json)| json).unwrap_or_default().finish()),
        edges: Listed::Written(sink.edges.map(|edges| edges.list).unwrap_or_default().finish()),
        truncated: outline.truncated,
        depth: outline.depth,
        watermark: outline.watermark.into(),
    })
}

/// `lineage`'s node and edge objects written as JSON while the answer is read out of the
/// index, on a read thread a unit of the walk at a time (as [`TableSink`] writes
/// `lineageTable`'s lists). Each list is there when the query selects it.
struct ObjectsSink {
    nodes: Option<(ObjectPlan, JsonArray)>,
    edges: Option<EdgeObjects>,
    failed: bool,
}

/// `lineage`'s edge objects. An edge's ends are nodes of the answer, which come before its
/// edges: each node's end object (`from`, `to`, as the edge plan selects them) is written once
/// when the node comes, and copied into every edge that ends there, by position (a hub's
/// closure has more edges than nodes, each naming two).
struct EdgeObjects {
    plan: ObjectPlan,
    list: JsonArray,
    /// The written end objects: one list per distinct plan among the edge plan's ends.
    written: Vec<WrittenEnds>,
    /// By position among the edge plan's fields, for a field that is an end: whether it is
    /// `from`, and which of `written` holds its objects.
    ends: Vec<Option<(bool, usize)>>,
}

/// Every node's end object for one plan: node `n`'s is `json[starts[n]..starts[n + 1]]`.
struct WrittenEnds {
    /// The position among the edge plan's fields of a field with this plan.
    field: usize,
    json: Vec<u8>,
    starts: Vec<usize>,
}

impl EdgeObjects {
    fn new(plan: ObjectPlan) -> Self {
        let mut written: Vec<WrittenEnds> = Vec::new();
        let mut ends = Vec::new();
        for (field, name, nested) in plan.object_fields() {
            let same = written.iter().position(|ends| plan.nested_at(ends.field) == Some(nested));
            let at = same.unwrap_or_else(|| {
                written.push(WrittenEnds { field, json: Vec::new(), starts: vec![0] });
                written.len() - 1
            });
            ends.resize(field + 1, None);
            ends[field] = Some((name == "from", at));
        }
        Self { plan, list: JsonArray::default(), written, ends }
    }

    /// Writes `node`'s end objects (the next node of the answer).
    fn node(&mut self, node: &NodeName) -> Option<()> {
        for ends in &mut self.written {
            write_node_ref(self.plan.nested_at(ends.field)?, node, &mut ends.json)?;
            ends.starts.push(ends.json.len());
        }
        Some(())
    }

    /// Writes the edge between the nodes at positions `from` and `to`, their end objects
    /// copied.
    fn edge_between(&mut self, from: u32, to: u32, kind: model::EdgeKind) -> Option<()> {
        let Self { plan, list, written, ends } = self;
        list.push_with(|out| {
            plan.write(LineageEdge::TYPE_NAME, out, |position, field, nested, out| match nested {
                Some(_) => {
                    let (is_from, held) = (*ends.get(position)?)?;
                    let node = if is_from { from } else { to } as usize;
                    let held = &written[held];
                    out.extend_from_slice(held.json.get(*held.starts.get(node)?..*held.starts.get(node + 1)?)?);
                    Some(())
                }
                None if field == "kind" => {
                    write_enum(out, edge_kind(kind));
                    Some(())
                }
                None => None,
            })
        })
    }

    /// Writes an edge by its ends' names (one whose ends are not both among the answer's
    /// nodes, which no answer has).
    fn edge_named(&mut self, from: &NodeName, to: &NodeName, kind: model::EdgeKind) -> Option<()> {
        let Self { plan, list, .. } = self;
        list.push_with(|out| {
            plan.write(LineageEdge::TYPE_NAME, out, |_, field, nested, out| match (field, nested) {
                ("from", Some(end)) => write_node_ref(end, from, out),
                ("to", Some(end)) => write_node_ref(end, to, out),
                ("kind", None) => {
                    write_enum(out, edge_kind(kind));
                    Some(())
                }
                _ => None,
            })
        })
    }
}

impl AnswerSink for ObjectsSink {
    fn node(&mut self, node: &NodeName, distance: u32) {
        if let Some((plan, nodes)) = &mut self.nodes {
            let written = nodes.push_with(|out| {
                plan.write(LineageNode::TYPE_NAME, out, |_, field, _, out| {
                    write_node_field(field, node.kind.into(), &node.namespace, &node.name, distance, out)
                })
            });
            self.failed |= written.is_none();
        }
        if let Some(edges) = &mut self.edges {
            self.failed |= edges.node(node).is_none();
        }
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: model::EdgeKind) {
        // Edges come only when the query selects them (the request's shape).
        if let Some(edges) = &mut self.edges {
            self.failed |= edges.edge_named(from, to, kind).is_none();
        }
    }

    fn by_position(&self) -> bool {
        self.edges.is_some()
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: model::EdgeKind) {
        if let Some(edges) = &mut self.edges {
            self.failed |= edges.edge_between(from, to, kind).is_none();
        }
    }
}

/// An edge's end written as a `NodeRef` object as `plan` selects it.
fn write_node_ref(plan: &ObjectPlan, node: &NodeName, out: &mut Vec<u8>) -> Option<()> {
    plan.write(NodeRef::TYPE_NAME, out, |_, field, nested, out| match (field, nested) {
        ("kind" | "namespace" | "name", None) => {
            write_node_field(field, node.kind.into(), &node.namespace, &node.name, 0, out)
        }
        _ => None,
    })
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
    namespaces: NamespacePositions,
    namespace_list: JsonArray,
    node_namespaces: JsonArray,
    node_names: JsonArray,
    node_kinds: JsonArray,
    node_distances: JsonArray,
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
            namespaces: NamespacePositions::default(),
            namespace_list: JsonArray::default(),
            node_namespaces: JsonArray::default(),
            node_names: JsonArray::default(),
            node_kinds: JsonArray::default(),
            node_distances: JsonArray::default(),
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
        self.edge_at(from, to, kind, None);
    }

    fn by_position(&self) -> bool {
        true
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: model::EdgeKind) {
        // Edges are read out only when the request's shape asks for them.
        if self.columns.edges {
            self.edge_from.push_u32(from);
            self.edge_to.push_u32(to);
            self.edge_kinds.push_enum(edge_kind(kind));
        }
    }

    fn edge_at(&mut self, from: &NodeName, _to: &NodeName, kind: model::EdgeKind, at: Option<(u32, u32)>) {
        match at {
            Some((from, to)) => self.edge_between(from, to, kind),
            None if !self.columns.edges => {}
            None => {
                self.stray.get_or_insert_with(|| {
                    format!(
                        "an edge from {}:{} has an end that is not among the answer's nodes",
                        from.namespace, from.name
                    )
                });
            }
        }
    }
}
