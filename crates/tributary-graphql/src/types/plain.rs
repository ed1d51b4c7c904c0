//! Lists of small objects built straight into the response when the query selects plain
//! fields (names, aliases, `__typename`, nested plain selections; no fragment, directive,
//! argument or response key given twice), instead of async-graphql's list resolution, which
//! makes a future per item and per field. Any other selection takes the generic path, so the
//! answer is the same either way (the tests compare them byte for byte).
//!
//! Over HTTP such a list is not built as values at all: the response holds a placeholder
//! where it stands ([`Splicer`]), and the handler writes the list as JSON there while it sends
//! the response, a piece at a time on a blocking thread as the connection takes them, so a
//! hub's hundreds of thousands of nodes never become a tree of values and the first bytes
//! leave before the last are written.
//!
//! Lists of a lineage answer can be written earlier still, while the answer is read out of
//! the index ([`JsonArray`], [`WrittenList`]): their pieces are then sent as they are where
//! the placeholder stood.

use std::sync::Arc;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

/// An object whose fields can be built without a resolver.
pub(crate) trait Plain: OutputType {
    /// The GraphQL type name (`__typename`).
    const TYPE_NAME: &'static str;

    /// The value of field `name` under `selection` (empty for a scalar), or `None` when the
    /// field is not built here.
    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value>;

    /// Writes field `name` as JSON, exactly as its [`Self::plain_field`] value serialises;
    /// `None` when the field is not built here. Types with large lists override it for the
    /// fields they can write without building a value.
    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        let value = self.plain_field(name, selection)?;
        serde_json::to_writer(out, &value).ok()
    }

    /// Asks the CPU for what writing this item will read, a few items before it is written
    /// (the names of a large answer are scattered cache misses otherwise paid one by one).
    fn prefetch(&self) {}
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it (as the response is).
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    // Names rarely need escaping: serde_json escapes `"`, `\` and control characters only
    // (other characters are written as they are), so a string without those is written in
    // one piece. serde_json's own path writes it a run at a time through `io::Write`.
    if !needs_escape(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, text);
}

/// Whether JSON escapes a byte of `text`: `"`, `\` or a control character (below 0x20).
/// Eight bytes at a time (a hub's answer is tens of megabytes of names): a word has a byte
/// below `n` (`n` <= 128) exactly when `(x - n * ONES) & !x & HIGHS` is not zero, and a byte
/// equal to `b` exactly when `x ^ (b * ONES)` has a byte below 1.
pub(crate) fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut words = text.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_ne_bytes(bytes);
        if below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1) != 0 {
            return true;
        }
    }
    words.remainder().iter().any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
}

/// Writes a boolean as JSON.
pub(crate) fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Writes an enum value as JSON: its GraphQL name as a string, as its generic value serialises.
pub(crate) fn write_enum<T: async_graphql::resolver_utils::EnumType + PartialEq + Copy>(out: &mut Vec<u8>, value: T) {
    match T::items().iter().find(|item| item.value == value) {
        Some(item) => write_str(out, item.name),
        None => {
            let _ = serde_json::to_writer(out, &async_graphql::resolver_utils::enum_value(value));
        }
    }
}

/// The plain lists of one HTTP request, written as JSON while the query executes. Each list
/// stands in the response as a placeholder string naming it, which
/// [`Splicer::splice`] replaces by its JSON once the response is serialised. The placeholder
/// carries a random nonce per request, so no value a client stored can be taken for one.
pub struct Splicer {
    /// `tributary-plain-list:<nonce>:`, followed by the list's number.
    token: String,
    lists: std::sync::Mutex<Vec<Spliced>>,
}

/// What stands where a placeholder stood.
enum Spliced {
    /// A list written while the response is sent.
    Writer(Deferred),
    /// JSON written before the response was (a [`WrittenList`]'s pieces), sent as it is.
    Written(Arc<[axum::body::Bytes]>),
}

/// A list whose JSON is written while the response is sent, a piece at a time.
pub trait ListWriter: Send {
    /// The next piece of the list's JSON (about [`LIST_PIECE`] bytes), `None` once it is
    /// written whole; an error says it cannot be.
    fn next_piece(&mut self) -> Option<Result<Vec<u8>, String>>;
}

pub type Deferred = Box<dyn ListWriter>;

/// A piece of a spliced response: bytes as they are, or a list written when it is sent.
pub enum Piece {
    Bytes(axum::body::Bytes),
    List(Deferred),
}

/// A deferred list's JSON is handed over in pieces of about this many bytes.
const LIST_PIECE: usize = 256 * 1024;

impl Default for Splicer {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // Each `RandomState` is keyed from the OS's randomness (std's own seeding).
        let random = || std::collections::hash_map::RandomState::new().build_hasher().finish();
        Self {
            token: format!("tributary-plain-list:{:016x}{:016x}:", random(), random()),
            lists: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Splicer {
    /// Keeps the list's writer; returns its placeholder.
    fn put(&self, list: Deferred) -> Value {
        self.keep(Spliced::Writer(list))
    }

    /// Keeps JSON already written, in pieces; returns its placeholder.
    fn put_written(&self, json: Arc<[axum::body::Bytes]>) -> Value {
        self.keep(Spliced::Written(json))
    }

    fn keep(&self, list: Spliced) -> Value {
        let mut lists = self.lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lists.push(list);
        Value::String(format!("{}{}", self.token, lists.len() - 1))
    }

    /// Splits `body`, a serialised response, at each placeholder: the response's pieces in
    /// order, its own bytes (not copied) and the lists to write where the placeholders stood.
    /// A list whose placeholder was dropped (an error nulled its parent) is not written.
    pub fn splice(&self, body: Vec<u8>) -> Vec<Piece> {
        let mut lists: Vec<Option<Spliced>> =
            std::mem::take(&mut *self.lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
                .into_iter()
                .map(Some)
                .collect();
        let body = axum::body::Bytes::from(body);
        if lists.is_empty() {
            return vec![Piece::Bytes(body)];
        }
        let needle = format!("\"{}", self.token);
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let mut pieces = Vec::with_capacity(2 * lists.len() + 1);
        // `start`: the first byte not yet in a piece; `from`: where the search goes on.
        let (mut start, mut from) = (0, 0);
        while let Some(found) = finder.find(&body[from..]) {
            let at = from + found;
            let number_at = at + needle.len();
            let digits = body[number_at..].iter().take_while(|byte| byte.is_ascii_digit()).count();
            let list = std::str::from_utf8(&body[number_at..number_at + digits])
                .ok()
                .and_then(|number| number.parse::<usize>().ok())
                .and_then(|number| lists.get_mut(number))
                .filter(|_| body.get(number_at + digits) == Some(&b'"'))
                .and_then(Option::take);
            match list {
                Some(list) => {
                    pieces.push(Piece::Bytes(body.slice(start..at)));
                    match list {
                        Spliced::Writer(writer) => pieces.push(Piece::List(writer)),
                        Spliced::Written(json) => pieces.extend(json.iter().cloned().map(Piece::Bytes)),
                    }
                    start = number_at + digits + 1;
                    from = start;
                }
                // Not a whole placeholder of a list not yet sent: kept as it is.
                None => from = number_at,
            }
        }
        pieces.push(Piece::Bytes(body.slice(start..)));
        pieces
    }
}

/// One selected field of a plain selection: its response key, its name and its own
/// selection (empty for a scalar).
struct Planned<'a> {
    key: async_graphql::Name,
    name: &'a str,
    selection: &'a SelectionSet,
}

/// A plan that owns its names and selections, for a list written after its resolver returned.
struct OwnedPlan(Vec<(async_graphql::Name, String, SelectionSet)>);

impl OwnedPlan {
    fn new(plan: &[Planned<'_>]) -> Self {
        Self(plan.iter().map(|field| (field.key.clone(), field.name.to_owned(), field.selection.clone())).collect())
    }

    fn borrow(&self) -> Vec<Planned<'_>> {
        self.0.iter().map(|(key, name, selection)| Planned { key: key.clone(), name, selection }).collect()
    }
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

/// A plain selection's plan for objects written before the response is (while an answer is
/// read out, for a [`WrittenList`]): each field's key written as JSON once, with the
/// separator before it.
#[derive(PartialEq)]
pub(crate) struct ObjectPlan {
    /// Per field: `{"key":` for the first, `,"key":` for the others; the field's name; and,
    /// for a field of an object type, the plan of its selection.
    fields: Vec<(Vec<u8>, String, Option<ObjectPlan>)>,
}

impl ObjectPlan {
    /// The fields of object types: each one's position among the fields, name and plan.
    pub(crate) fn object_fields(&self) -> impl Iterator<Item = (usize, &str, &ObjectPlan)> {
        self.fields.iter().enumerate().filter_map(|(at, (_, name, nested))| Some((at, name.as_str(), nested.as_ref()?)))
    }

    /// The plan of the field at `position` among the fields, when it is of an object type.
    pub(crate) fn nested_at(&self, position: usize) -> Option<&ObjectPlan> {
        self.fields.get(position)?.2.as_ref()
    }

    /// The plan of a plain selection of scalar fields, or of fields of object types whose
    /// own selections are plain, at any depth; `None` when a selection is not plain.
    pub(crate) fn of(selection: &SelectionSet) -> Option<Self> {
        let mut fields = Vec::new();
        for (index, field) in plan(selection)?.iter().enumerate() {
            let nested = if field.selection.items.is_empty() { None } else { Some(Self::of(field.selection)?) };
            let mut head = vec![if index == 0 { b'{' } else { b',' }];
            write_str(&mut head, field.key.as_str());
            head.push(b':');
            fields.push((head, field.name.to_owned(), nested));
        }
        Some(Self { fields })
    }

    /// Writes one object as [`build`]'s value for the selection serialises: `__typename` as
    /// `type_name`, each other field by `write_field`, given the field's position among the
    /// plan's fields, its name and, for a field of an object type, the plan of its own
    /// selection; `None` when a field is not written there.
    pub(crate) fn write(
        &self,
        type_name: &str,
        out: &mut Vec<u8>,
        mut write_field: impl FnMut(usize, &str, Option<&ObjectPlan>, &mut Vec<u8>) -> Option<()>,
    ) -> Option<()> {
        if self.fields.is_empty() {
            out.extend_from_slice(b"{}");
            return Some(());
        }
        for (position, (head, name, nested)) in self.fields.iter().enumerate() {
            out.extend_from_slice(head);
            match name.as_str() {
                "__typename" => write_str(out, type_name),
                name => write_field(position, name, nested.as_ref(), out)?,
            }
        }
        out.push(b'}');
        Some(())
    }
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

/// Writes one object of a plain selection as JSON (keys in the selection's order, as
/// [`build`] orders them); `None` when a field is not built here.
fn write_object<T: Plain>(item: &T, plan: &[Planned<'_>], out: &mut Vec<u8>) -> Option<()> {
    write_object_with(T::TYPE_NAME, plan, out, |name, selection, out| item.write_field(name, selection, out))
}

/// [`write_object`] for an object whose fields `write_field` writes (for a type that is not
/// itself a GraphQL output type, like the service's owners inside a written group).
fn write_object_with(
    type_name: &str,
    plan: &[Planned<'_>],
    out: &mut Vec<u8>,
    mut write_field: impl FnMut(&str, &SelectionSet, &mut Vec<u8>) -> Option<()>,
) -> Option<()> {
    out.push(b'{');
    for (index, field) in plan.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_str(out, field.key.as_str());
        out.push(b':');
        match field.name {
            "__typename" => write_str(out, type_name),
            name => write_field(name, field.selection, out)?,
        }
    }
    out.push(b'}');
    Some(())
}

/// A list of a plain selection written as JSON a piece at a time: pulled by the sender, so
/// no thread waits on a slow client.
struct PlainListWriter<T> {
    items: Arc<Vec<T>>,
    plan: OwnedPlan,
    /// The next item to write; `items.len() + 1` once the closing bracket is written.
    next: usize,
}

impl<T: Plain + 'static> ListWriter for PlainListWriter<T> {
    fn next_piece(&mut self) -> Option<Result<Vec<u8>, String>> {
        let Self { items, plan, next } = self;
        let plan = plan.borrow();
        write_piece(items.len(), next, |index, out| {
            if let Some(ahead) = items.get(index + 8) {
                ahead.prefetch();
            }
            // The first item was written when the list was deferred: whether a field is
            // written here depends on its name and selection, not on the item.
            write_object(&items[index], &plan, out)
                .ok_or_else(|| format!("item {index} of a list of `{}` has a field not written here", T::TYPE_NAME))
        })
    }
}

/// The next piece of a list of `len` items from item `*next` on (`len + 1` once the closing
/// bracket is written): about [`LIST_PIECE`] bytes, each item written by `write_item`; an error
/// ends the list.
fn write_piece(
    len: usize,
    next: &mut usize,
    mut write_item: impl FnMut(usize, &mut Vec<u8>) -> Result<(), String>,
) -> Option<Result<Vec<u8>, String>> {
    if *next > len {
        return None;
    }
    let mut out = Vec::with_capacity(LIST_PIECE + LIST_PIECE / 8);
    if *next == 0 {
        out.push(b'[');
    }
    while *next < len && out.len() < LIST_PIECE {
        if *next > 0 {
            out.push(b',');
        }
        if let Err(error) = write_item(*next, &mut out) {
            *next = len + 1;
            return Some(Err(error));
        }
        *next += 1;
    }
    if *next == len {
        out.push(b']');
        *next += 1;
    }
    Some(Ok(out))
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

/// Writes one object for a plain selection as JSON, as its [`plain_object`] value serialises
/// (for an object inside an item that is itself written); `None` when the selection is not
/// plain or a field is not written here.
pub(crate) fn write_plain_object<T: Plain>(item: &T, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
    write_object(item, &plan(selection)?, out)
}

/// Writes a list for a plain selection as JSON, as its [`plain_list`] value serialises (for a
/// list inside an item that is itself written); `None` when the selection is not plain or a
/// field is not written here.
pub(crate) fn write_plain_items<T: Plain>(items: &[T], selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
    write_plain_list_with(items, T::TYPE_NAME, selection, out, |item, name, selection, out| {
        item.write_field(name, selection, out)
    })
}

/// Writes a list for a plain selection as JSON, as the [`plain_list`] value of the GraphQL
/// type `type_name` serialises (for a list inside an item that is itself written, like a
/// group's owners): each item's fields by `write_field` (given the field's name and its own
/// selection). `None` when the selection is not
/// plain or a field is not written here.
pub(crate) fn write_plain_list_with<T>(
    items: &[T],
    type_name: &str,
    selection: &SelectionSet,
    out: &mut Vec<u8>,
    write_field: impl Fn(&T, &str, &SelectionSet, &mut Vec<u8>) -> Option<()>,
) -> Option<()> {
    let plan = plan(selection)?;
    out.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_object_with(type_name, &plan, out, |name, selection, out| write_field(item, name, selection, out))?;
    }
    out.push(b']');
    Some(())
}

/// Writes an optional string as JSON, as [`optional`]'s value serialises.
pub(crate) fn write_optional_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// An `OutputType`'s names and type info as `Vec<T>`'s (the list types here are `[T!]!` to
/// clients and in the schema, whichever way they are made).
macro_rules! vec_type_info {
    () => {
        fn type_name() -> std::borrow::Cow<'static, str> {
            <Vec<T> as OutputType>::type_name()
        }

        fn qualified_type_name() -> String {
            <Vec<T> as OutputType>::qualified_type_name()
        }

        fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
            <Vec<T> as OutputType>::create_type_info(registry)
        }
    };
}

/// `Vec<T>` to clients and in the schema, built by [`plain_list`] when it can be, or over
/// HTTP written as JSON while the response is sent ([`Splicer`]).
pub struct PlainList<T>(Arc<Vec<T>>);

impl<T> PlainList<T> {
    pub fn new(items: Vec<T>) -> Self {
        Self(Arc::new(items))
    }
}

impl<T: Plain + 'static> OutputType for PlainList<T> {
    vec_type_info!();

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let selection = &field.node.selection_set.node;
        let written = match ctx.data_opt::<Arc<Splicer>>() {
            // Over HTTP: written as JSON on the handler's blocking thread while the response
            // is sent, where the placeholder stands. The first item is written now to learn
            // whether the selection is one written here.
            Some(splicer) => plan(selection)
                .filter(|plan| self.0.first().is_none_or(|first| write_object(first, plan, &mut Vec::new()).is_some()))
                .map(|plan| {
                    let writer = PlainListWriter { items: Arc::clone(&self.0), plan: OwnedPlan::new(&plan), next: 0 };
                    splicer.put(Box::new(writer))
                }),
            None => plain_list(&self.0, selection),
        };
        match written {
            Some(value) => Ok(value),
            None => async_graphql::resolver_utils::resolve_list(ctx, field, self.0.iter(), Some(self.0.len())).await,
        }
    }
}

/// An optional string as the generic path writes it.
pub(crate) fn optional(text: &Option<String>) -> Value {
    text.as_ref().map_or(Value::Null, |text| Value::String(text.clone()))
}

/// A `JSON` scalar made from something shared (a change report's JSON, tens of megabytes for a
/// hub): over HTTP it is written where its placeholder stands while the response is sent, on
/// the read threads ([`Splicer`]), straight from its source by `write`, so no tree of values is
/// built on the runtime; otherwise it is built as a value by `value`. `write` must write the
/// bytes `value`'s value serialises to (the tests compare them).
pub struct WrittenJson<T> {
    source: Arc<T>,
    value: fn(&T) -> serde_json::Value,
    write: fn(&T, &mut Vec<u8>) -> Result<(), serde_json::Error>,
}

impl<T> WrittenJson<T> {
    pub fn new(
        source: Arc<T>,
        value: fn(&T) -> serde_json::Value,
        write: fn(&T, &mut Vec<u8>) -> Result<(), serde_json::Error>,
    ) -> Self {
        Self { source, value, write }
    }
}

/// A [`WrittenJson`] written in one piece when the sender asks for it.
struct JsonWriter<T> {
    source: Option<Arc<T>>,
    write: fn(&T, &mut Vec<u8>) -> Result<(), serde_json::Error>,
}

impl<T: Send + Sync + 'static> ListWriter for JsonWriter<T> {
    fn next_piece(&mut self) -> Option<Result<Vec<u8>, String>> {
        let source = self.source.take()?;
        let mut out = Vec::new();
        Some((self.write)(&source, &mut out).map(|()| out).map_err(|error| error.to_string()))
    }
}

impl<T: Send + Sync + 'static> OutputType for WrittenJson<T> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <async_graphql::Json<serde_json::Value> as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <async_graphql::Json<serde_json::Value> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(match ctx.data_opt::<Arc<Splicer>>() {
            Some(splicer) => {
                splicer.put(Box::new(JsonWriter { source: Some(Arc::clone(&self.source)), write: self.write }))
            }
            // As `Json`'s own resolver makes it.
            None => async_graphql::to_value((self.value)(&self.source)).unwrap_or_default(),
        })
    }
}

/// A JSON array written before the response is (a lineage answer's column, written while the
/// answer is read out of the index): over HTTP its pieces are sent where its placeholder
/// stands, as they are ([`Splicer`]); otherwise it is read back as values. To clients and in
/// the schema it is a `Vec<T>`.
pub struct WrittenList<T> {
    pieces: Arc<[axum::body::Bytes]>,
    item: std::marker::PhantomData<fn() -> T>,
}

/// An item type of a [`WrittenList`]: how a JSON value written for it reads back as its value.
pub(crate) trait WrittenItem: OutputType {
    /// The item's value from the JSON written for it (an enum is written as its name).
    fn from_json(json: Value) -> Value {
        json
    }
}

impl WrittenItem for Arc<str> {}
impl WrittenItem for u32 {}

/// An enum's items read back as enum values, as its generic resolver makes them.
macro_rules! written_enum {
    ($($enum:ty),*) => {$(
        impl WrittenItem for $enum {
            fn from_json(json: Value) -> Value {
                match json {
                    Value::String(name) => Value::Enum(async_graphql::Name::new(name)),
                    other => other,
                }
            }
        }
    )*};
}
written_enum!(crate::scalars::NodeKind, crate::scalars::EdgeKind);

/// A JSON array written an item at a time, for a [`WrittenList`]: in pieces of about
/// [`LIST_PIECE`] bytes, so a column of tens of megabytes is never copied to grow, and each
/// piece is sent as it is.
pub(crate) struct JsonArray {
    done: Vec<axum::body::Bytes>,
    out: Vec<u8>,
    items: usize,
}

impl Default for JsonArray {
    fn default() -> Self {
        Self { done: Vec::new(), out: vec![b'['], items: 0 }
    }
}

impl JsonArray {
    /// The buffer, after the separator that the next item needs.
    fn next(&mut self) -> &mut Vec<u8> {
        if self.out.len() >= LIST_PIECE {
            let full = std::mem::replace(&mut self.out, Vec::with_capacity(LIST_PIECE + LIST_PIECE / 8));
            self.done.push(axum::body::Bytes::from(full));
        }
        if self.items > 0 {
            self.out.push(b',');
        }
        self.items += 1;
        &mut self.out
    }

    pub(crate) fn push_str(&mut self, text: &str) {
        write_str(self.next(), text);
    }

    pub(crate) fn push_u32(&mut self, value: u32) {
        let mut digits = itoa::Buffer::new();
        let out = self.next();
        out.reserve(10);
        // Byte by byte: a slice copy of a few bytes is a call to the C library's memcpy per
        // number (15% of a closure's edge lists at 1M).
        for &digit in digits.format(value).as_bytes() {
            out.push(digit);
        }
    }

    pub(crate) fn push_enum<T: async_graphql::resolver_utils::EnumType + PartialEq + Copy>(&mut self, value: T) {
        write_enum(self.next(), value);
    }

    /// Pushes an item that `write` writes; `None` when it could not (the list is then not
    /// whole, and must not be sent).
    pub(crate) fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<()> {
        write(self.next())
    }

    pub(crate) fn finish<T>(mut self) -> WrittenList<T> {
        self.out.push(b']');
        self.done.push(axum::body::Bytes::from(self.out));
        WrittenList { pieces: self.done.into(), item: std::marker::PhantomData }
    }
}

#[cfg(test)]
impl<T> WrittenList<T> {
    pub(crate) fn pieces(&self) -> &[axum::body::Bytes] {
        &self.pieces
    }
}

impl<T: WrittenItem + Send + Sync + 'static> OutputType for WrittenList<T> {
    vec_type_info!();

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(splicer) = ctx.data_opt::<Arc<Splicer>>() {
            // The pieces are shared, not copied.
            return Ok(splicer.put_written(Arc::clone(&self.pieces)));
        }
        let json: Vec<u8> = self.pieces.concat();
        match serde_json::from_slice::<Vec<Value>>(&json) {
            Ok(items) => Ok(Value::List(items.into_iter().map(T::from_json).collect())),
            Err(error) => {
                Err(async_graphql::ServerError::new(format!("a written list is not JSON: {error}"), Some(field.pos)))
            }
        }
    }
}

/// A list made one of two ways: collected, and written while the response is sent
/// ([`PlainList`]), or written while the answer was read out ([`WrittenList`]).
pub enum Listed<T> {
    Plain(PlainList<T>),
    Written(WrittenList<T>),
}

impl<T: Plain + WrittenItem + Send + Sync + 'static> OutputType for Listed<T> {
    vec_type_info!();

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match self {
            Self::Plain(list) => list.resolve(ctx, field).await,
            Self::Written(list) => list.resolve(ctx, field).await,
        }
    }
}
