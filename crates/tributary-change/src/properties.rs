//! Property tests: generated schemas (read and diffed), type spellings, and generated YAML
//! checked against the YAML parser. 256 cases each, so CI spends a few seconds.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::yaml::scanned_depths;
use crate::{
    Field, Schema, TypeRelation, check_yaml_limits, compare_types, diff, normalize_type, schema_from_openlineage,
};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// Few names, so generated schemas share, rename and reorder columns.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["id", "a", "b", "c", "d", "a.b", "x y", "ID", "_element", "key", "value"])
        .prop_map(str::to_owned)
}

fn spelling() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec![
            "int",
            "bigint",
            "int unsigned",
            "varchar(10)",
            "varchar(20)",
            "string",
            "decimal(10,2)",
            "decimal(12,2)",
            "numeric",
            "float",
            "double",
            "struct",
            "struct<a: int, b: string>",
            "struct<a: bigint>",
            "array<struct<a: int>>",
            "array<int>",
            "array",
            "map",
            "map<string,int>",
            "timestamp(3)",
            "timestamptz",
            "int not null",
            "record",
            "geography",
            "int[]",
            "row(integer, varchar)",
            "",
        ])
        .prop_map(str::to_owned),
    )
}

/// One field of an OpenLineage schema facet, with nested fields up to three levels down.
fn facet_field() -> impl Strategy<Value = Value> {
    let leaf = (
        name(),
        spelling(),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::collection::vec(prop::sample::select(vec!["x", "y", "z"]), 0..3)),
        prop::option::of(prop::sample::select(vec!["0", "'n/a'"])),
        prop::collection::vec(prop::sample::select(vec!["pii", "gold", "classification:secret"]), 0..3),
        prop::option::of(0u64..100),
        prop::option::of(prop::sample::select(vec!["unique", "not_null", "primary_key"])),
        prop::option::of(prop::sample::select(vec!["NULLABLE", "REQUIRED", "REPEATED"])),
    )
        .prop_map(|(name, spelling, nullable, values, default, tags, max_length, constraint, mode)| {
            let mut field = json!({ "name": name });
            if let Some(spelling) = spelling {
                field["type"] = json!(spelling);
            }
            if let Some(nullable) = nullable {
                field["nullable"] = json!(nullable);
            }
            if let Some(values) = values {
                field["enum"] = json!(values);
            }
            if let Some(default) = default {
                field["default"] = json!(default);
            }
            field["tags"] = json!(tags);
            if let Some(max_length) = max_length {
                field["maxLength"] = json!(max_length);
            }
            if let Some(constraint) = constraint {
                field["constraints"] = json!([constraint]);
            }
            if let Some(mode) = mode {
                field["mode"] = json!(mode);
            }
            field
        });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(mut field, children)| {
            field["fields"] = json!(children);
            field
        })
    })
}

fn facet() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(facet_field(), 0..8),
        prop::option::of(prop::collection::vec(name(), 0..3)),
        prop::option::of(prop::collection::vec(prop::collection::vec(name(), 1..3), 0..3)),
        prop::option::of(prop::collection::vec(name(), 0..2)),
    )
        .prop_map(|(fields, primary_key, unique_keys, partition_keys)| {
            let mut facet = json!({ "fields": fields });
            if let Some(key) = primary_key {
                facet["primaryKey"] = json!(key);
            }
            if let Some(keys) = unique_keys {
                facet["uniqueKeys"] = json!(keys);
            }
            if let Some(keys) = partition_keys {
                facet["partitionKeys"] = json!(keys);
            }
            facet
        })
}

/// Schemas as code may build them: names may repeat, anything may be missing.
fn code_field() -> impl Strategy<Value = Field> {
    let leaf = (name(), spelling(), prop::option::of(any::<bool>())).prop_map(|(name, data_type, nullable)| Field {
        name,
        data_type,
        nullable,
        ..Field::default()
    });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(mut field, children)| {
            field.fields = children;
            field
        })
    })
}

fn code_schema() -> impl Strategy<Value = Schema> {
    (prop::collection::vec(code_field(), 0..8), prop::option::of(prop::collection::vec(name(), 0..3)))
        .prop_map(|(fields, primary_key)| Schema { fields, primary_key, ..Schema::default() })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn read_schemas_diff_without_panics_and_equal_ones_without_changes(old in facet(), new in facet()) {
        let (old, new) = (schema_from_openlineage(&old), schema_from_openlineage(&new));
        for outcome in [&old, &new] {
            if let Err(error) = outcome {
                prop_assert!(!error.path.is_empty() && !error.message.is_empty(), "{error}");
            }
        }
        if let (Ok(old), Ok(new)) = (old, new) {
            let result = diff(&old, &new);
            for change in &result.changes {
                prop_assert!(!change.summary.is_empty());
            }
            prop_assert_eq!(diff(&old, &old).changes, vec![]);
            prop_assert_eq!(diff(&new, &new).changes, vec![]);
        }
    }

    #[test]
    fn code_built_schemas_diff_without_panics(old in code_schema(), new in code_schema()) {
        let _ = diff(&old, &new);
        let _ = diff(&new, &old);
    }

    #[test]
    fn any_type_spelling_normalizes_and_equals_itself(spelling in "[a-z0-9<>(),:\\[\\] `\"']{0,40}") {
        let data_type = normalize_type(&spelling);
        prop_assert_eq!(compare_types(&data_type, &data_type), TypeRelation::Same);
        let _ = data_type.to_string();
    }
}

/// A YAML node to render: valid YAML by construction, with scalars that hold brackets,
/// quotes and `#` where they are content.
#[derive(Clone, Debug)]
enum Node {
    /// Valid in flow and block context.
    Scalar(String),
    /// A plain scalar with flow indicators inside: block context only.
    BlockScalar(String),
    /// A literal block scalar's lines.
    Literal(Vec<String>),
    Flow(Vec<Node>, bool),
    Map(Vec<Node>),
    Seq(Vec<Node>),
}

fn scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        "[a-z]{1,5}".prop_map(Node::Scalar),
        "\"[a-z\\[\\]{}#', ]{0,8}\"".prop_map(Node::Scalar),
        "'[a-z\\[\\]{}#\", ]{0,8}'".prop_map(Node::Scalar),
        "[a-z][a-z\\[\\]{}\"', ]{0,8}[a-z]".prop_map(Node::BlockScalar),
        prop::collection::vec("[a-z\\[\\]{}\"' #:-]{0,10}", 1..4).prop_map(Node::Literal),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    scalar().prop_recursive(8, 96, 3, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..4), any::<bool>()).prop_map(|(items, map)| Node::Flow(items, map)),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Node::Map),
            prop::collection::vec(inner, 1..4).prop_map(Node::Seq),
        ]
    })
}

/// Inline text of a node in flow context.
fn render_flow(node: &Node) -> String {
    match node {
        Node::Scalar(text) => text.clone(),
        Node::BlockScalar(_) | Node::Literal(_) => "x".to_owned(),
        Node::Flow(items, false) | Node::Seq(items) => {
            format!("[{}]", items.iter().map(render_flow).collect::<Vec<_>>().join(", "))
        }
        Node::Flow(items, true) | Node::Map(items) => format!(
            "{{{}}}",
            items
                .iter()
                .enumerate()
                .map(|(index, item)| format!("k{index}: {}", render_flow(item)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `node` as the value after `key:` or `-` at indentation `indent`.
fn render_value(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent + 2);
    match node {
        Node::Scalar(text) | Node::BlockScalar(text) => out.push_str(&format!(" {text}\n")),
        Node::Literal(lines) => {
            out.push_str(" |\n");
            for line in lines {
                out.push_str(&format!("{pad}{line}\n"));
            }
        }
        Node::Flow(..) => out.push_str(&format!(" {}\n", render_flow(node))),
        Node::Map(_) | Node::Seq(_) => {
            out.push('\n');
            render_block(node, indent + 2, out);
        }
    }
}

fn render_block(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(items) => {
            for (index, item) in items.iter().enumerate() {
                out.push_str(&format!("{pad}k{index}:"));
                render_value(item, indent, out);
            }
        }
        Node::Seq(items) => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                render_value(item, indent, out);
            }
        }
        other => {
            out.push_str(&format!("{pad}root:"));
            render_value(other, indent, out);
        }
    }
}

fn value_depth(value: &serde_yaml_ng::Value) -> usize {
    match value {
        serde_yaml_ng::Value::Sequence(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        serde_yaml_ng::Value::Mapping(map) => {
            1 + map.iter().map(|(key, value)| value_depth(key).max(value_depth(value))).max().unwrap_or(0)
        }
        serde_yaml_ng::Value::Tagged(tagged) => value_depth(&tagged.value),
        _ => 0,
    }
}

/// What the nesting check counts bounds what the parser builds: each level of the parsed
/// value is a flow collection, a block collection, or a sequence written at its key's
/// indentation (at most one per block level).
fn assert_scan_bounds_parse(text: &str) -> Result<(), TestCaseError> {
    let _ = check_yaml_limits(text);
    let (flow, block) = scanned_depths(text);
    if let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        let depth = value_depth(&value);
        prop_assert!(depth <= flow + 2 * block + 1, "depth {depth} > flow {flow} + 2 * block {block} + 1 in\n{text}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_yaml_nesting_check_counts_what_the_parser_builds(
        document in node(),
        insertions in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec!['[', ']', '{', '}', '"', '\'', '#', '\n', ' ', ':', '-', '|', '\\', '&', '*', '!', ','])), 0..4),
    ) {
        let mut text = String::new();
        render_block(&document, 0, &mut text);
        assert_scan_bounds_parse(&text)?;
        // Mutated, it may not be valid YAML any more; where the parser still reads it, the
        // bound holds all the same.
        let mut chars: Vec<char> = text.chars().collect();
        for (at, c) in insertions {
            chars.insert(at.index(chars.len() + 1), c);
        }
        assert_scan_bounds_parse(&chars.into_iter().collect::<String>())?;
    }
}
