//! Lists of small objects built straight into the response when the query selects plain
//! fields (names, aliases, `__typename`, nested plain selections; no fragment, directive,
//! argument or response key given twice), instead of async-graphql's list resolution, which
//! makes a future per item and per field. Any other selection takes the generic path, so the
//! answer is the same either way (the tests compare them byte for byte).

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

/// An object whose fields can be built without a resolver.
pub(crate) trait Plain: OutputType {
    /// The GraphQL type name (`__typename`).
    const TYPE_NAME: &'static str;

    /// The value of field `name` under `selection` (empty for a scalar), or `None` when the
    /// field is not built here.
    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value>;
}

/// One selected field of a plain selection: its response key, its name and its own
/// selection (empty for a scalar).
struct Planned<'a> {
    key: async_graphql::Name,
    name: &'a str,
    selection: &'a SelectionSet,
}

/// The fields of a plain selection, in order; `None` when the selection is not plain.
fn plan(selection: &SelectionSet) -> Option<Vec<Planned<'_>>> {
    let mut planned: Vec<Planned<'_>> = Vec::with_capacity(selection.items.len());
    for selected in &selection.items {
        let Selection::Field(field) = &selected.node else { return None };
        let field = &field.node;
        if !field.directives.is_empty() || !field.arguments.is_empty() {
            return None;
        }
        let key = field.alias.as_ref().map_or_else(|| field.name.node.clone(), |alias| alias.node.clone());
        if planned.iter().any(|seen| seen.key == key) {
            return None;
        }
        planned.push(Planned { key, name: field.name.node.as_str(), selection: &field.selection_set.node });
    }
    Some(planned)
}

fn build<T: Plain>(item: &T, plan: &[Planned<'_>]) -> Option<Value> {
    let mut object = async_graphql::indexmap::IndexMap::with_capacity(plan.len());
    for field in plan {
        let value = match field.name {
            "__typename" => Value::String(T::TYPE_NAME.to_owned()),
            name => item.plain_field(name, field.selection)?,
        };
        object.insert(field.key.clone(), value);
    }
    Some(Value::Object(object))
}

/// One object for a plain selection; `None` when the selection is not plain.
pub(crate) fn plain_object<T: Plain>(item: &T, selection: &SelectionSet) -> Option<Value> {
    build(item, &plan(selection)?)
}

/// A list for a plain selection; `None` when the selection is not plain.
pub(crate) fn plain_list<T: Plain>(items: &[T], selection: &SelectionSet) -> Option<Value> {
    let plan = plan(selection)?;
    items.iter().map(|item| build(item, &plan)).collect::<Option<Vec<_>>>().map(Value::List)
}

/// `Vec<T>` to clients and in the schema, built by [`plain_list`] when it can be.
pub struct PlainList<T>(pub Vec<T>);

impl<T: Plain> OutputType for PlainList<T> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match plain_list(&self.0, &field.node.selection_set.node) {
            Some(value) => Ok(value),
            None => async_graphql::resolver_utils::resolve_list(ctx, field, &self.0, Some(self.0.len())).await,
        }
    }
}

/// An optional string as the generic path writes it.
pub(crate) fn optional(text: &Option<String>) -> Value {
    text.as_ref().map_or(Value::Null, |text| Value::String(text.clone()))
}
