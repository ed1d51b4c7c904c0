//! Read access to a JSON value, whatever holds it: a `serde_json::Value` tree, or the parser's
//! flat tape of an event's canonical JSON (`tributary-openlineage`), which builds no tree.
//! Rules that read event JSON (column lineage, facet checks, the event's envelope) are written
//! once against [`JsonView`] and give the same answer on either.

use serde_json::Value;

/// A borrowed JSON value. Objects answer [`JsonView::get`] and [`JsonView::members`] with each
/// key once (the last of duplicates, as `serde_json` keeps it), in key order.
pub trait JsonView<'a>: Copy + Sized {
    type Items: Iterator<Item = Self>;
    type Members: Iterator<Item = (&'a str, Self)>;

    /// The member `key` of an object (`None` for a missing key or a value that is no object).
    fn get(self, key: &str) -> Option<Self>;
    fn as_str(self) -> Option<&'a str>;
    fn as_bool(self) -> Option<bool>;
    /// The number, when the value is one.
    fn as_number(self) -> Option<serde_json::Number>;
    fn is_null(self) -> bool;
    fn is_object(self) -> bool;
    /// The elements of an array.
    fn items(self) -> Option<Self::Items>;
    /// The members of an object, in key order.
    fn members(self) -> Option<Self::Members>;
    /// The number of elements of an array or members of an object.
    fn size(self) -> Option<usize>;
    /// Calls `read` with the value as a `serde_json::Value` (a view over a tape builds it).
    fn with_value<R>(self, read: impl FnOnce(&Value) -> R) -> R;
}

impl<'a> JsonView<'a> for &'a Value {
    type Items = std::slice::Iter<'a, Value>;
    type Members = std::iter::Map<serde_json::map::Iter<'a>, fn((&'a String, &'a Value)) -> (&'a str, &'a Value)>;

    fn get(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }
    fn as_str(self) -> Option<&'a str> {
        Value::as_str(self)
    }
    fn as_bool(self) -> Option<bool> {
        Value::as_bool(self)
    }
    fn as_number(self) -> Option<serde_json::Number> {
        match self {
            Value::Number(number) => Some(number.clone()),
            _ => None,
        }
    }
    fn is_null(self) -> bool {
        Value::is_null(self)
    }
    fn is_object(self) -> bool {
        Value::is_object(self)
    }
    fn items(self) -> Option<Self::Items> {
        Some(self.as_array()?.iter())
    }
    fn members(self) -> Option<Self::Members> {
        Some(self.as_object()?.iter().map(|(key, value)| (key.as_str(), value)))
    }
    fn size(self) -> Option<usize> {
        match self {
            Value::Array(items) => Some(items.len()),
            Value::Object(members) => Some(members.len()),
            _ => None,
        }
    }
    fn with_value<R>(self, read: impl FnOnce(&Value) -> R) -> R {
        read(self)
    }
}
