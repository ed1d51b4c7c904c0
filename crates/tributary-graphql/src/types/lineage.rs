//! `Lineage`: nodes and edges around a start, with the watermark they reflect.

use crate::error::gql_error;
pub use crate::scalars::{Direction, EdgeKind, NodeKind, NodeRef, Watermark};
use async_graphql::{Result, SimpleObject};
use tributary_service::model;
use tributary_service::{AnswerShape, Service};

#[derive(SimpleObject)]
pub struct LineageNode {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// Job hops from the start: a job reading the start and what it writes are at 1.
    pub distance: u32,
}

impl From<tributary_service::LineageNode> for LineageNode {
    /// Consumes the node: its names move into the output.
    fn from(node: tributary_service::LineageNode) -> Self {
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
    pub nodes: LineageNodes,
    pub edges: Vec<LineageEdge>,
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    /// The depth (job hops) the answer was computed to.
    pub depth: u32,
    pub watermark: Watermark,
}

/// The nodes of a lineage answer: `[LineageNode!]!` to clients and in the schema. A hub's
/// answer holds hundreds of thousands of nodes, and async-graphql's list resolution makes a
/// future per node and per field (about a microsecond a field), several times the walk
/// itself. When the selection is plain fields of `LineageNode` (names, aliases,
/// `__typename`; no fragment, directive or response key given twice) the values are built
/// directly, in the selection's order, as the generic path would build them; any other
/// selection takes the generic path.
pub struct LineageNodes(pub Vec<LineageNode>);

/// A field of [`LineageNode`] a plain selection asks for.
#[derive(Clone, Copy)]
enum NodeField {
    Kind,
    Namespace,
    Name,
    Distance,
    Typename,
}

impl LineageNodes {
    /// The response keys and fields of a plain selection; `None` for any other.
    fn plain_selection(
        selection: &async_graphql::parser::types::SelectionSet,
    ) -> Option<Vec<(async_graphql::Name, NodeField)>> {
        use async_graphql::parser::types::Selection;
        let mut fields: Vec<(async_graphql::Name, NodeField)> = Vec::with_capacity(selection.items.len());
        for item in &selection.items {
            let Selection::Field(field) = &item.node else { return None };
            let field = &field.node;
            if !field.directives.is_empty() || !field.arguments.is_empty() || !field.selection_set.node.items.is_empty()
            {
                return None;
            }
            let which = match field.name.node.as_str() {
                "kind" => NodeField::Kind,
                "namespace" => NodeField::Namespace,
                "name" => NodeField::Name,
                "distance" => NodeField::Distance,
                "__typename" => NodeField::Typename,
                _ => return None,
            };
            let key = field.alias.as_ref().map_or_else(|| field.name.node.clone(), |alias| alias.node.clone());
            if fields.iter().any(|(seen, _)| *seen == key) {
                return None;
            }
            fields.push((key, which));
        }
        Some(fields)
    }
}

impl async_graphql::OutputType for LineageNodes {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Vec<LineageNode> as async_graphql::OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<LineageNode> as async_graphql::OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<LineageNode> as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        use async_graphql::Value;
        let Some(fields) = Self::plain_selection(&field.node.selection_set.node) else {
            return async_graphql::resolver_utils::resolve_list(ctx, field, &self.0, Some(self.0.len())).await;
        };
        let typename = async_graphql::Name::new("LineageNode");
        let nodes = self.0.iter().map(|node| {
            let object = fields.iter().map(|(key, which)| {
                let value = match which {
                    NodeField::Kind => async_graphql::resolver_utils::enum_value(node.kind),
                    NodeField::Namespace => Value::String(node.namespace.clone()),
                    NodeField::Name => Value::String(node.name.clone()),
                    NodeField::Distance => Value::Number(node.distance.into()),
                    NodeField::Typename => Value::String(typename.to_string()),
                };
                (key.clone(), value)
            });
            Value::Object(object.collect())
        });
        Ok(Value::List(nodes.collect()))
    }
}

/// Runs a lineage query in the given shape.
pub(crate) async fn lineage_view(
    service: &Service,
    start: model::NodeRef,
    direction: Direction,
    depth: Option<u32>,
    limit: Option<u32>,
    shape: AnswerShape,
) -> Result<tributary_service::LineageView> {
    let limit = limit.map(|limit| limit as usize);
    service.lineage_shaped(start, direction.into(), depth, limit, shape).await.map_err(gql_error)
}

/// Edges are built only when the caller's query selects them.
pub(crate) fn edge_shape(edges_selected: bool) -> AnswerShape {
    if edges_selected { AnswerShape::Full } else { AnswerShape::Nodes }
}

pub(crate) fn lineage_from_view(view: tributary_service::LineageView) -> Lineage {
    // The answer is consumed: names move into the output instead of being copied.
    let owned = |node: model::NodeRef| NodeRef { kind: node.kind.into(), namespace: node.namespace, name: node.name };
    Lineage {
        nodes: LineageNodes(view.answer.nodes.into_iter().map(LineageNode::from).collect()),
        edges: view
            .answer
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
        truncated: view.answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}
