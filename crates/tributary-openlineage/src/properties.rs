//! Property tests: the example events, mutated byte by byte and value by value, never make
//! `parse_event` panic, and every refusal names the field (or, for bytes that are not a
//! JSON object, says where the JSON breaks). 256 cases each.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

use crate::parse_event;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// The valid and lenient example events, as bytes.
fn examples() -> &'static [Vec<u8>] {
    static EXAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data").join("events");
        let mut files = Vec::new();
        for folder in ["valid", "lenient"] {
            for entry in std::fs::read_dir(root.join(folder)).unwrap() {
                files.push(entry.unwrap().path());
            }
        }
        files.sort();
        files.iter().map(|file| std::fs::read(file).unwrap()).collect()
    })
}

/// The `schema`, `columnLineage` and `ownership` dataset facets of the valid examples and of
/// the benchmark's sample event.
fn bulk_facets() -> &'static [(&'static str, Value)] {
    static FACETS: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    FACETS.get_or_init(|| {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/data/event-complete.json");
        let mut events: Vec<Value> = examples().iter().filter_map(|bytes| serde_json::from_slice(bytes).ok()).collect();
        events.push(serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap());
        // OpenLineage's own facet examples (`test_data/facets`): bare facets, and an event.
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data").join("facets");
        let mut found = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(folder).unwrap().map(|entry| entry.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|file| file.extension().is_some_and(|ext| ext == "json")) {
            let value: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            if value.get("eventType").is_some() {
                events.push(value);
                continue;
            }
            for key in ["schema", "columnLineage", "ownership"] {
                if let Some(mut facet) = value.get(key).cloned() {
                    // The spec's examples leave out the base fields every facet must carry.
                    for base in ["_producer", "_schemaURL"] {
                        facet
                            .as_object_mut()
                            .unwrap()
                            .entry(base)
                            .or_insert_with(|| Value::from("https://example.com"));
                    }
                    found.push((key, facet));
                }
            }
        }
        for event in &events {
            let datasets = ["inputs", "outputs"]
                .iter()
                .filter_map(|list| event.get(*list).and_then(Value::as_array))
                .flatten()
                .chain(event.get("dataset"));
            for dataset in datasets {
                for key in ["schema", "columnLineage", "ownership"] {
                    if let Some(facet) = dataset.get("facets").and_then(|facets| facets.get(key))
                        && facet.get("_deleted") != Some(&Value::Bool(true))
                    {
                        found.push((key, facet.clone()));
                    }
                }
            }
        }
        assert!(found.iter().any(|(key, _)| *key == "columnLineage"), "no columnLineage facet in the examples");
        found
    })
}

/// A refusal must say what is wrong, and where: the field, or for bytes that are not a JSON
/// object, the JSON error's line and column or that the body is not an object.
fn check_refusal(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Err(error) = parse_event(bytes) else { return Ok(()) };
    prop_assert!(!error.message.is_empty());
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => prop_assert!(!error.field.is_empty(), "no field named: {error}"),
        Ok(_) => prop_assert_eq!(error.message, "an event must be a JSON object"),
        Err(_) => prop_assert!(error.message.contains(" line "), "no position: {error}"),
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum ByteEdit {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    // Bytes that matter to JSON and to the parser's checks, and any byte at all.
    let byte = prop_oneof![prop::sample::select(b"{}[]\":,0 \\\x00-Tt".to_vec()), any::<u8>()];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(at, byte)| ByteEdit::Set(at, byte)),
        (any::<Index>(), byte).prop_map(|(at, byte)| ByteEdit::Insert(at, byte)),
        any::<Index>().prop_map(ByteEdit::Remove),
        any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

fn apply_byte_edit(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    if bytes.is_empty() {
        return;
    }
    match edit {
        ByteEdit::Set(at, byte) => {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        ByteEdit::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
        ByteEdit::Remove(at) => {
            bytes.remove(at.index(bytes.len()));
        }
        ByteEdit::Truncate(at) => bytes.truncate(at.index(bytes.len())),
    }
}

/// A change to one value of the event, found by walking `path` (each step picks a member or
/// an item, modulo their number).
#[derive(Clone, Debug)]
enum ValueEdit {
    Delete(Vec<Index>),
    Replace(Vec<Index>, Value),
    /// Renames the member the path ends at (facet names included).
    RenameKey(Vec<Index>, String),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-zA-Z0-9:/._\\-\u{0} ]{0,12}".prop_map(Value::String),
        Just(Value::String("2024-01-01T00:00:00Z".to_owned())),
        Just(Value::String("3f5e83fa-3480-44ff-99c5-ff943904e5e8".to_owned())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z_\u{0}]{0,8}", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn value_edit() -> impl Strategy<Value = ValueEdit> {
    let path = prop::collection::vec(any::<Index>(), 0..7);
    prop_oneof![
        path.clone().prop_map(ValueEdit::Delete),
        (path.clone(), json_value()).prop_map(|(path, value)| ValueEdit::Replace(path, value)),
        (path, "[a-zA-Z_.\u{0}]{0,8}").prop_map(|(path, key)| ValueEdit::RenameKey(path, key)),
    ]
}

fn apply_value_edit(value: &mut Value, edit: &ValueEdit) {
    let (ValueEdit::Delete(path) | ValueEdit::Replace(path, _) | ValueEdit::RenameKey(path, _)) = edit;
    edit_at(value, path, edit);
}

/// Walks `path` down through containers; the last step (or the first one that would lead to
/// a scalar) picks the member or item to edit.
fn edit_at(value: &mut Value, path: &[Index], edit: &ValueEdit) {
    let Some((step, rest)) = path.split_first() else {
        if let ValueEdit::Replace(_, replacement) = edit {
            *value = replacement.clone();
        }
        return;
    };
    let is_container = |child: &Value| child.is_object() || child.is_array();
    let descend = !rest.is_empty()
        && match &*value {
            Value::Object(map) if !map.is_empty() => map.values().nth(step.index(map.len())).is_some_and(is_container),
            Value::Array(items) if !items.is_empty() => is_container(&items[step.index(items.len())]),
            _ => false,
        };
    if descend {
        let child = match value {
            Value::Object(map) => {
                let at = step.index(map.len());
                map.values_mut().nth(at)
            }
            Value::Array(items) => {
                let at = step.index(items.len());
                items.get_mut(at)
            }
            _ => None,
        };
        if let Some(child) = child {
            edit_at(child, rest, edit);
        }
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step.index(map.len())).cloned().unwrap_or_default();
            match edit {
                ValueEdit::Delete(_) => {
                    map.remove(&key);
                }
                ValueEdit::Replace(_, replacement) => {
                    map.insert(key, replacement.clone());
                }
                ValueEdit::RenameKey(_, new_key) => {
                    if let Some(member) = map.remove(&key) {
                        map.insert(new_key.clone(), member);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = step.index(items.len());
            match edit {
                ValueEdit::Delete(_) => {
                    items.remove(at);
                }
                ValueEdit::Replace(_, replacement) => items[at] = replacement.clone(),
                ValueEdit::RenameKey(..) => {}
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_bytes_never_panic_and_refusals_say_where(
        example in any::<Index>(),
        edits in prop::collection::vec(byte_edit(), 1..6),
    ) {
        let mut bytes = examples()[example.index(examples().len())].clone();
        for edit in &edits {
            apply_byte_edit(&mut bytes, edit);
        }
        check_refusal(&bytes)?;
        // The one-pass parse accepts the JSON serde_json accepts, writes the canonical form
        // serde_json's tree gives, and leaves JSON errors to serde_json's words.
        match (parse_event(&bytes), serde_json::from_slice::<Value>(&bytes)) {
            (Ok(event), Ok(value)) => {
                prop_assert_eq!(
                    crate::stored_event_names(&event.canonical).unwrap(),
                    crate::EventNames::of(&event.body)
                );
                prop_assert_eq!(event.canonical, crate::canonical_json(&value));
            }
            (Ok(_), Err(error)) => prop_assert!(false, "accepted what serde_json refuses: {}", error),
            (Err(refusal), Err(error)) => {
                prop_assert_eq!(refusal.message, format!("body is not valid JSON: {error}"));
            }
            (Err(_), Ok(_)) => {}
        }
    }

    /// The hand-written checks of the bulk dataset facets never pass a facet its schema
    /// refuses, and pass the examples' facets as they are.
    #[test]
    fn hand_written_facet_checks_pass_only_what_the_schema_passes(
        facet in any::<Index>(),
        edits in prop::collection::vec(value_edit(), 0..4),
    ) {
        let (key, mut value) = bulk_facets()[facet.index(bulk_facets().len())].clone();
        let untouched = edits.is_empty();
        for edit in &edits {
            apply_value_edit(&mut value, edit);
        }
        let place = crate::facets::FacetPlace::Dataset;
        let verdict = crate::facets::surely_valid(place, key, &value);
        let schema = crate::facets::FacetValidators::get().check(place, key, &value);
        if verdict == Some(true) {
            prop_assert!(schema.is_ok(), "{key} passed by hand, refused by its schema: {schema:?} {value}");
        }
        if untouched && schema.is_ok() {
            prop_assert_eq!(verdict, Some(true));
        }
    }

    #[test]
    fn mutated_values_never_panic_and_refusals_name_the_field(
        example in any::<Index>(),
        edits in prop::collection::vec(value_edit(), 1..5),
    ) {
        let mut value: Value = serde_json::from_slice(&examples()[example.index(examples().len())]).unwrap();
        for edit in &edits {
            apply_value_edit(&mut value, edit);
        }
        let bytes = serde_json::to_vec(&value).unwrap();
        check_refusal(&bytes)?;
        // Whatever is accepted has its canonical form and hash, and parses again the same.
        // A stored event's names read alone are the full parse's.
        if let Ok(event) = parse_event(&bytes) {
            let again = parse_event(&event.canonical).unwrap();
            prop_assert_eq!(again.hash, event.hash);
            prop_assert_eq!(crate::stored_event_names(&event.canonical).unwrap(), crate::EventNames::of(&event.body));
        }
    }
}
