//! Golden tests: every row of BREAKING_CHANGES.md and every "where other tools go wrong"
//! bullet is a case in `test_data/cases/`, rendered by [`check`]. The expected files are the
//! spec; `UPDATE_EXPECT=1` rewrites them, and the diff must be reviewed.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{
    ChangeKind, Field, Schema, SchemaDiff, SchemaError, TypeRelation, Verdict, compare_types, dataset_removed,
    dataset_renamed, diff, normalize_type, producing_sql_changed, schema_from_dbt_contract, schema_from_openlineage,
};

fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// Compares `actual` with the golden file under `test_data/` (see `tributary_golden`).
fn check_golden(name: &str, actual: &str) {
    tributary_golden::check(&test_data().join(name), actual);
}

fn read_text(relative: &str) -> String {
    std::fs::read_to_string(test_data().join(relative)).unwrap()
}

/// A case's schema: an OpenLineage facet (or fields array) inline, or `{"dbt": file, "model": name}`.
fn read_schema(source: &Value) -> Schema {
    match source.get("dbt").and_then(Value::as_str) {
        Some(file) => {
            let model = source.get("model").and_then(Value::as_str);
            schema_from_dbt_contract(&read_text(&format!("dbt/{file}")), model).unwrap()
        }
        None => schema_from_openlineage(source).unwrap(),
    }
}

fn render_diff(result: &SchemaDiff) -> String {
    let mut out = String::new();
    if result.changes.is_empty() {
        writeln!(out, "changes: none").unwrap();
    }
    for change in &result.changes {
        let path = if change.path.is_empty() { "(dataset)".to_owned() } else { format!("`{}`", change.path) };
        let positional = if change.positional_risk { "; RISKY if positional readers exist" } else { "" };
        writeln!(
            out,
            "- {} {path} (rule {}): {}; R {}, B {}, W {}{positional}",
            change.kind, change.rule, change.verdict, change.readers, change.history, change.writers
        )
        .unwrap();
        if change.before.is_some() || change.after.is_some() {
            let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
            writeln!(out, "  {} => {}", shown(&change.before), shown(&change.after)).unwrap();
        }
        writeln!(out, "  {}", change.summary).unwrap();
    }
    for check in &result.unsupported {
        writeln!(out, "unchecked {}: {}", check.check, check.reason).unwrap();
    }
    let (readers, history, writers) = result.worst_by_side();
    writeln!(out, "overall: {}; R {readers}, B {history}, W {writers}", result.verdict()).unwrap();
    out
}

/// Runs `test_data/cases/{case}.json` and compares with `{case}.expected.txt`.
///
/// Keys: `about`, `old`, `new` (null: the dataset was removed), `dataset` and `newName` (a
/// dataset rename), `producingSqlChanged` (paths the server flags under rule 25), and
/// `activeVersions` (diff each pinned version against `new`).
fn check(case: &str) {
    let input: Value = serde_json::from_str(&read_text(&format!("cases/{case}.json"))).unwrap();
    let mut report = format!("# {}\n", input["about"].as_str().unwrap());
    if let Some(versions) = input.get("activeVersions").and_then(Value::as_array) {
        let new = read_schema(&input["new"]);
        for version in versions {
            writeln!(report, "\nagainst {}:", version["version"].as_str().unwrap()).unwrap();
            report.push_str(&render_diff(&diff(&read_schema(&version["schema"]), &new)));
        }
    } else {
        let old = read_schema(&input["old"]);
        let dataset = input.get("dataset").and_then(Value::as_str).unwrap_or("dataset");
        let mut result = match &input["new"] {
            Value::Null => SchemaDiff { changes: vec![dataset_removed(dataset)], unsupported: Vec::new() },
            new => {
                let mut result = diff(&old, &read_schema(new));
                if let Some(new_name) = input.get("newName").and_then(Value::as_str) {
                    result.changes.insert(0, dataset_renamed(dataset, new_name));
                }
                result
            }
        };
        for path in input.get("producingSqlChanged").and_then(Value::as_array).into_iter().flatten() {
            result.changes.push(producing_sql_changed(path.as_str().unwrap()));
        }
        report.push('\n');
        report.push_str(&render_diff(&result));
    }
    check_golden(&format!("cases/{case}.expected.txt"), &report);
}

tributary_golden::cases! {
    check;
    rule_01_column_removed,
    rule_02_column_renamed,
    rule_02_not_a_rename_when_type_or_position_differs,
    rule_03_nullable_column_added,
    rule_04_required_column_added,
    rule_05_nullability_relaxed,
    rule_06_nullability_tightened,
    rule_07_type_widened,
    rule_08_type_narrowed,
    rule_09_type_family_changed,
    rule_10_enum_value_removed,
    rule_11_enum_value_added,
    rule_12_nested_field_removed_renamed_retyped,
    rule_13_nested_field_added,
    rule_14_columns_reordered,
    rule_14_not_a_reorder_when_the_set_differs,
    rule_15_primary_key_or_unique_removed,
    rule_15_key_kept_as_unique_keeps_the_grain,
    rule_16_primary_key_or_unique_added,
    rule_17_foreign_key_removed_or_added,
    rule_18_constraint_loosened,
    rule_19_constraint_tightened,
    rule_20_default_changed,
    rule_21_partition_key_changed,
    rule_22_description_and_tags_changed,
    rule_22_classification_removed,
    rule_23_dataset_removed,
    rule_23_dataset_renamed,
    rule_24_contract_enforcement_removed,
    rule_24_contract_deprecated,
    rule_25_same_type_different_meaning,
    tools_datacontract_cli_relaxed_nullability_and_added_enum_value,
    tools_datahub_rename_is_breaking_not_minor,
    tools_datahub_varchar_widening_is_risky_not_major,
    tools_dbt_misses_size_and_precision_narrowing,
    tools_unenforced_key_removal_changes_the_grain,
    tools_consumers_pinned_to_older_contract_versions,
    spelling_only_changes_are_not_changes,
    openlineage_plain_facet_names_what_it_cannot_check,
    bigquery_mode_required_nullable_repeated,
    spark_array_and_map_encodings,
    nested_fields_missing_on_one_side,
    ordinal_position_decides_the_order,
    not_null_in_the_type_spelling,
    dbt_tests_and_constraints,
    dbt_nested_columns_against_openlineage,
    identical_schemas,
    dotted_top_level_names_are_columns,
}

#[test]
fn every_case_file_has_a_test_and_every_row_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(test_data().join("cases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|name| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
    for rule in 1..=25 {
        let prefix = format!("rule_{rule:02}_");
        assert!(CASES.iter().any(|case| case.starts_with(&prefix)), "no case for rule {rule}");
    }
}

fn lines_of(relative: &str) -> Vec<String> {
    read_text(relative)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn type_spellings_normalize() {
    let mut report = String::new();
    for spelling in lines_of("types/spellings.txt") {
        let data_type = normalize_type(&spelling);
        let display = data_type.to_string();
        writeln!(report, "{spelling:<50} {:<12} {display}", data_type.family_name()).unwrap();
        // The canonical display reads back to the same type.
        if !matches!(data_type, crate::DataType::Other { .. }) {
            assert_eq!(normalize_type(&display), data_type, "{spelling} -> {display}");
        }
    }
    check_golden("types/spellings.expected.txt", &report);
}

#[test]
fn type_pairs_relate() {
    let mut report = String::new();
    for line in lines_of("types/pairs.txt") {
        let (old, new) = line.split_once("=>").unwrap();
        let (old, new) = (old.trim(), new.trim());
        let relation = compare_types(&normalize_type(old), &normalize_type(new));
        writeln!(report, "{old:<32} => {new:<32} {relation}").unwrap();
    }
    check_golden("types/pairs.expected.txt", &report);
    assert!(TypeRelation::Same < TypeRelation::Widened && TypeRelation::Narrowed < TypeRelation::FamilyChanged);
}

#[test]
fn reader_errors_name_the_path() {
    let mut report = String::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(test_data().join("errors")).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let outcome = if name.ends_with(".json") {
            schema_from_openlineage(&serde_json::from_str(&text).unwrap()).map(|_| ())
        } else {
            schema_from_dbt_contract(&text, None).map(|_| ())
        };
        let error = outcome.expect_err(&name);
        assert!(!error.path.is_empty(), "{name}: {error}");
        writeln!(report, "{name}: {error}").unwrap();
    }
    let selections = [
        ("two_models.yml", None),
        ("two_models.yml", Some("payments")),
        ("versions.yml", Some("dim_customers.v9")),
        ("contract_enforced.yml", Some("customers.v2")),
    ];
    for (file, model) in selections {
        let error = schema_from_dbt_contract(&read_text(&format!("dbt/{file}")), model).unwrap_err();
        writeln!(report, "dbt/{file} model={model:?}: {error}").unwrap();
    }
    check_golden("errors.expected.txt", &report);
}

fn render_fields(out: &mut String, fields: &[Field], parent: &str) {
    for field in fields {
        let path = if parent.is_empty() { field.name.clone() } else { format!("{parent}.{}", field.name) };
        let mut facts = vec![format!("type={}", field.data_type.as_deref().unwrap_or("?"))];
        let nullable = match field.nullable {
            Some(true) => "nullable",
            Some(false) => "not null",
            None => "nullable?",
        };
        facts.push(nullable.to_owned());
        if let Some(values) = &field.enum_values {
            facts.push(format!("enum=[{}]", values.join(", ")));
        }
        if let Some(default) = &field.default {
            facts.push(format!("default={default}"));
        }
        if !field.tags.is_empty() {
            facts.push(format!("tags=[{}]", field.tags.join(", ")));
        }
        if let Some(length) = field.max_length {
            facts.push(format!("max_length={length}"));
        }
        if let Some(pattern) = &field.pattern {
            facts.push(format!("pattern={pattern}"));
        }
        if let Some(minimum) = field.minimum {
            facts.push(format!("minimum={minimum}"));
        }
        if let Some(maximum) = field.maximum {
            facts.push(format!("maximum={maximum}"));
        }
        if let Some(description) = &field.description {
            facts.push(format!("description={description:?}"));
        }
        writeln!(out, "  {path}: {}", facts.join(" ")).unwrap();
        render_fields(out, &field.fields, &path);
    }
}

fn render_schema(schema: &Schema) -> String {
    let mut out = String::new();
    render_fields(&mut out, &schema.fields, "");
    let keys = |key: &Option<Vec<String>>| key.as_ref().map(|columns| format!("({})", columns.join(", ")));
    writeln!(out, "  primary key: {:?}", keys(&schema.primary_key)).unwrap();
    let unique = schema
        .unique_keys
        .as_ref()
        .map(|all| all.iter().map(|columns| format!("({})", columns.join(", "))).collect::<Vec<_>>());
    writeln!(out, "  unique keys: {unique:?}").unwrap();
    let foreign = schema.foreign_keys.as_ref().map(|all| {
        all.iter().map(|key| format!("({}) -> {}", key.columns.join(", "), key.references)).collect::<Vec<_>>()
    });
    writeln!(out, "  foreign keys: {foreign:?}").unwrap();
    writeln!(out, "  partition keys: {:?}", keys(&schema.partition_keys)).unwrap();
    writeln!(out, "  contract enforced: {:?}", schema.contract_enforced).unwrap();
    writeln!(out, "  deprecation date: {:?}", schema.deprecation_date).unwrap();
    out
}

#[test]
fn readers_turn_sources_into_schemas() {
    let mut report = String::new();
    let dbt_sources = [
        ("tests_old.yml", None),
        ("tests_new.yml", None),
        ("nested_bigquery.yml", None),
        ("versions.yml", Some("dim_customers.v1")),
        ("versions.yml", Some("dim_customers.v2")),
        // v3 excludes `country_name`, and with it the uniqueness its test declared.
        ("versions.yml", None),
        ("grain_unenforced_old.yml", None),
        ("contract_deprecated.yml", Some("customers")),
    ];
    for (file, model) in dbt_sources {
        let schema = schema_from_dbt_contract(&read_text(&format!("dbt/{file}")), model).unwrap();
        writeln!(report, "dbt/{file} model={model:?}:\n{}", render_schema(&schema)).unwrap();
    }
    for case in [
        "bigquery_mode_required_nullable_repeated",
        "spark_array_and_map_encodings",
        "rule_16_primary_key_or_unique_added",
        "rule_22_classification_removed",
        "not_null_in_the_type_spelling",
    ] {
        let input: Value = serde_json::from_str(&read_text(&format!("cases/{case}.json"))).unwrap();
        for side in ["old", "new"] {
            writeln!(report, "cases/{case}.json {side}:\n{}", render_schema(&read_schema(&input[side]))).unwrap();
        }
    }
    check_golden("readers.expected.txt", &report);
}

#[test]
fn diffs_serialize_with_camel_case_fields_and_screaming_kinds() {
    let input: Value =
        serde_json::from_str(&read_text("cases/rule_12_nested_field_removed_renamed_retyped.json")).unwrap();
    let mut result = diff(&read_schema(&input["old"]), &read_schema(&input["new"]));
    result.changes.truncate(3);
    let json = serde_json::to_string_pretty(&result).unwrap() + "\n";
    check_golden("serialization.expected.json", &json);
    let back: SchemaDiff = serde_json::from_str(&json).unwrap();
    assert_eq!(back, result);
    let data_type = serde_json::to_string(&normalize_type("array<decimal(10,2)>")).unwrap();
    assert_eq!(data_type, r#"{"family":"ARRAY","element":{"family":"DECIMAL","precision":10,"scale":2}}"#);
}

#[test]
fn change_kinds_score_from_one_table() {
    let mut report = String::new();
    writeln!(report, "{:<30} rule  readers  history  writers  verdict        positional", "kind").unwrap();
    for kind in ChangeKind::ALL {
        let scores = kind.scores();
        writeln!(
            report,
            "{:<30} {:>4}  {:<8} {:<8} {:<8} {:<14} {}",
            kind.as_str(),
            scores.rule,
            scores.readers.as_str(),
            scores.history.as_str(),
            scores.writers.as_str(),
            scores.verdict.as_str(),
            if scores.positional_risk { "RISKY" } else { "-" }
        )
        .unwrap();
        assert_eq!(serde_json::to_value(kind).unwrap(), Value::String(kind.as_str().to_owned()));
        // PRODUCER-SIDE is an overall verdict only; each side is SAFE, RISKY or BREAKING.
        for side in [scores.readers, scores.history, scores.writers] {
            assert_ne!(side, Verdict::ProducerSide, "{kind}");
        }
    }
    check_golden("kinds.expected.txt", &report);
}

#[test]
fn verdicts_order_by_severity() {
    assert!(Verdict::Safe < Verdict::ProducerSide);
    assert!(Verdict::ProducerSide < Verdict::Risky);
    assert!(Verdict::Risky < Verdict::Breaking);
    for verdict in [Verdict::Safe, Verdict::ProducerSide, Verdict::Risky, Verdict::Breaking] {
        assert_eq!(serde_json::to_value(verdict).unwrap(), Value::String(verdict.as_str().to_owned()));
    }
    let input: Value = serde_json::from_str(&read_text("cases/rule_03_nullable_column_added.json")).unwrap();
    let result = diff(&read_schema(&input["old"]), &read_schema(&input["new"]));
    let added = &result.changes[0];
    assert_eq!(added.verdict_with_positional_readers(false), Verdict::Safe);
    assert_eq!(added.verdict_with_positional_readers(true), Verdict::Risky);
    assert_eq!(SchemaDiff::default().verdict(), Verdict::Safe);
}

#[test]
fn schema_error_names_the_path() {
    let error =
        schema_from_openlineage(&serde_json::json!({"fields": [{"name": "a"}, {}, {"name": "c"}]})).unwrap_err();
    assert_eq!(error, SchemaError { path: "fields[1].name".to_owned(), message: "is required".to_owned() });
    assert_eq!(error.to_string(), "`fields[1].name`: is required");
}

#[test]
fn schemas_built_in_code_diff_like_parsed_ones() {
    // The server may build schemas itself; `None` stays "not stated" and `Default` fills the rest.
    let old = Schema {
        fields: vec![Field { name: "id".to_owned(), data_type: Some("int".to_owned()), ..Field::default() }],
        ..Schema::default()
    };
    let new = Schema {
        fields: vec![Field { name: "id".to_owned(), data_type: Some("bigint".to_owned()), ..Field::default() }],
        ..Schema::default()
    };
    let result = diff(&old, &new);
    assert_eq!(result.changes.len(), 1);
    assert_eq!(result.changes[0].kind, ChangeKind::TypeWidened);
    assert_eq!(result.changes[0].rule, 7);
    assert!(result.unsupported.iter().any(|check| check.check == "nullability"));
}

/// Client schemas are bounded and read, and diff, in time linear in their size.
mod limits {
    use std::time::Instant;

    use serde_json::{Value, json};

    use crate::{
        DataType, MAX_FIELD_DEPTH, MAX_SCHEMA_FIELDS, MAX_TYPE_DEPTH, diff, normalize_type, schema_from_dbt_contract,
        schema_from_openlineage,
    };

    fn facet(count: usize, prefix: &str, field: impl Fn(usize) -> Value) -> Value {
        let fields: Vec<Value> = (0..count)
            .map(|index| {
                let mut value = field(index);
                value["name"] = Value::String(format!("{prefix}{index}"));
                value
            })
            .collect();
        json!({ "fields": fields })
    }

    #[test]
    fn a_schema_at_the_field_limit_reads_and_diffs_in_linear_time() {
        // Every field unique and typed on one side, renamed or removed on the other: this
        // walked every quadratic path there was (95 s at 100,000 fields).
        let old = facet(MAX_SCHEMA_FIELDS, "c", |_| json!({"type": "int", "constraints": {"unique": true}}));
        let new = facet(MAX_SCHEMA_FIELDS, "d", |index| {
            if index % 2 == 0 { json!({"type": "int"}) } else { json!({"enum": ["a", "b"]}) }
        });
        let started = Instant::now();
        let (old, new) = (schema_from_openlineage(&old).unwrap(), schema_from_openlineage(&new).unwrap());
        let read = started.elapsed();
        let started = Instant::now();
        let changes = diff(&old, &new).changes.len();
        let renamed_or_removed = started.elapsed();
        let started = Instant::now();
        assert!(diff(&old, &old).changes.is_empty());
        let same = started.elapsed();
        println!(
            "{MAX_SCHEMA_FIELDS} fields: read {read:?}, diff {renamed_or_removed:?} ({changes} changes), diff with itself {same:?}"
        );
        assert!(changes >= MAX_SCHEMA_FIELDS);

        let mut yaml = String::from("models:\n  - name: wide\n    columns:\n");
        for index in 0..MAX_SCHEMA_FIELDS {
            yaml.push_str(&format!("      - name: c{index}\n        data_tests: [unique, not_null]\n"));
        }
        let started = Instant::now();
        let schema = schema_from_dbt_contract(&yaml, None).unwrap();
        println!("{MAX_SCHEMA_FIELDS} dbt columns: read {:?}", started.elapsed());
        assert_eq!(schema.fields.len(), MAX_SCHEMA_FIELDS);
        assert_eq!(schema.unique_keys.unwrap().len(), MAX_SCHEMA_FIELDS);
    }

    #[test]
    fn too_many_fields_are_refused_at_the_first_one_past_the_limit() {
        let error = schema_from_openlineage(&facet(MAX_SCHEMA_FIELDS + 1, "c", |_| json!({}))).unwrap_err();
        assert_eq!(error.path, format!("fields[{MAX_SCHEMA_FIELDS}]"));
        assert_eq!(
            error.message,
            "is one field too many: a schema may have at most 20000 fields, nested ones included"
        );
        // Nested fields count too.
        let nested = facet(
            2,
            "s",
            |_| json!({"type": "struct", "fields": facet(MAX_SCHEMA_FIELDS / 2, "c", |_| json!({}))["fields"]}),
        );
        let error = schema_from_openlineage(&nested).unwrap_err();
        assert_eq!(error.path, format!("fields[1].fields[{}]", MAX_SCHEMA_FIELDS / 2 - 2));

        let mut yaml = String::from("models:\n  - name: wide\n    columns:\n");
        for index in 0..=MAX_SCHEMA_FIELDS {
            yaml.push_str(&format!("      - name: c{index}\n"));
        }
        let error = schema_from_dbt_contract(&yaml, None).unwrap_err();
        assert_eq!(error.path, format!("models[0].columns[{MAX_SCHEMA_FIELDS}]"));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut fields = json!([{"name": "leaf", "type": "int"}]);
        for level in 0..MAX_FIELD_DEPTH {
            fields = json!([{"name": format!("s{level}"), "type": "struct", "fields": fields}]);
        }
        let error = schema_from_openlineage(&fields).unwrap_err();
        assert_eq!(error.path, format!("fields{}", "[0].fields".repeat(MAX_FIELD_DEPTH)));
        assert_eq!(error.message, "nests fields deeper than 64 levels; at most 64 are accepted");
        // One level less is fine.
        let fine = fields[0]["fields"].clone();
        assert!(schema_from_openlineage(&fine).is_ok());

        let mut yaml = String::from("models:\n  - name: deep\n    columns:\n");
        let mut name = String::from("a");
        for level in 0..=MAX_FIELD_DEPTH {
            yaml.push_str(&format!("      - name: {name}\n"));
            name.push_str(&format!(".a{level}"));
        }
        let error = schema_from_dbt_contract(&yaml, None).unwrap_err();
        assert_eq!(error.path, "models[0].columns");
        assert!(error.message.starts_with("column `a.a0.a1."), "{error}");
    }

    #[test]
    fn a_type_spelled_deeper_than_the_limit_reads_as_other() {
        let nested = |depth: usize| format!("{}int{}", "array<".repeat(depth), ">".repeat(depth));
        assert!(matches!(normalize_type(&nested(MAX_TYPE_DEPTH - 1)), DataType::Array { .. }));
        assert!(matches!(normalize_type(&nested(100_000)), DataType::Other { .. }));
        assert!(matches!(normalize_type(&format!("int{}", "[]".repeat(100_000))), DataType::Other { .. }));
        let started = Instant::now();
        let wide = format!("struct<{}>", (0..50_000).map(|i| format!("m{i}: int")).collect::<Vec<_>>().join(", "));
        let wide_type = normalize_type(&wide);
        assert_eq!(crate::compare_types(&wide_type, &wide_type), crate::TypeRelation::Same);
        println!("a struct of 50000 members: read and compared in {:?}", started.elapsed());
    }
}

/// YAML from clients: nesting and alias expansion are refused before the parser spends time.
mod yaml_limits {
    use std::time::Instant;

    use crate::{MAX_YAML_BLOCK_DEPTH, MAX_YAML_FLOW_DEPTH, check_yaml_limits, schema_from_dbt_contract};

    fn refusal(text: &str) -> String {
        let started = Instant::now();
        let outcome = check_yaml_limits(text);
        let elapsed = started.elapsed();
        let error = outcome.expect_err("refused");
        println!("{} bytes refused in {elapsed:?}: {error}", text.len());
        error.to_string()
    }

    #[test]
    fn deep_flow_collections_are_refused_in_linear_time() {
        // 80,000 unclosed `[` after a key took the YAML parser 7 s.
        let text = format!("models: {}", "[".repeat(80_000));
        assert_eq!(
            refusal(&text),
            "line 1, column 73: flow collections (`[`, `{`) nest deeper than 64 levels; at most 64 are accepted"
        );
        let error = schema_from_dbt_contract(&text, None).unwrap_err();
        assert_eq!(error.path, "$");
        assert!(error.message.starts_with("line 1, column 73: flow collections"), "{error}");
        let mixed = format!("a:\n  - b: {}", "{c: [".repeat(40_000));
        assert!(refusal(&mixed).starts_with("line 2, column 168: flow collections"));
        let at_limit = format!("a: {}{}", "[".repeat(MAX_YAML_FLOW_DEPTH), "]".repeat(MAX_YAML_FLOW_DEPTH));
        assert_eq!(check_yaml_limits(&at_limit), Ok(()));
    }

    #[test]
    fn deep_indentation_is_refused() {
        let text: String = (0..1000).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert_eq!(
            refusal(&text),
            "line 65, column 65: block collections (nested by indentation) nest deeper than 64 levels; at most 64 are accepted"
        );
        let compact = format!("a:\n  {}x", "- ".repeat(10_000));
        assert!(refusal(&compact).contains("block collections"));
        let at_limit: String =
            (0..MAX_YAML_BLOCK_DEPTH).map(|level| format!("{}k{level}:\n", " ".repeat(level))).collect();
        assert_eq!(check_yaml_limits(&at_limit), Ok(()));
    }

    #[test]
    fn brackets_inside_scalars_and_comments_do_not_count() {
        let deep = "[".repeat(200);
        let texts = [
            format!("a: \"{deep}\"\nb: [1, 2]\n"),
            format!("a: '{deep}'''\nb: {{c: d}}\n"),
            format!("a: x{deep}\n"),
            format!("a: x\n  {deep}\n"),
            format!("a: |\n  {deep}\n  \"\nb: [1]\n"),
            format!("a: >-\n    {deep}\n\n    more\nb: [1]\n"),
            format!("a: [1, 2] # {deep}\n"),
            format!("a: [\"{deep}\", '{deep}', x]\n"),
            format!("a: \"multi\n  line {deep}\n  \\\"still\"\nb: 1\n"),
            format!("- !tag x{deep}\n- &anchor x\n- *anchor\n"),
        ];
        for text in texts {
            assert_eq!(check_yaml_limits(&text), Ok(()), "{text}");
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).unwrap();
        }
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{previous}"); 9].join(", ")));
        }
        // The YAML parser refuses this one itself, quickly: it allows 100 alias expansions per
        // event of the document.
        let started = Instant::now();
        let error = schema_from_dbt_contract(&bomb, None).unwrap_err();
        println!("billion laughs refused in {:?}: {error}", started.elapsed());
        assert!(error.message.contains("repetition limit exceeded"), "{error}");
        // One large anchor named many times stays under that allowance and grows linearly per
        // alias, past memory all the same: this is what the count of values is for.
        let wide = format!("a: &a [{}]\nb: [{}]\n", vec!["x"; 10_000].join(","), vec!["*a"; 100].join(","));
        assert!(refusal(&wide).contains("more than 500000 values"));
        // A few aliases are fine.
        let few = format!("a: &a [{}]\nb: [{}]\n", vec!["x"; 1_000].join(","), ["*a"; 10].join(","));
        assert_eq!(check_yaml_limits(&few), Ok(()));
        assert!(schema_from_dbt_contract(&wide, None).unwrap_err().message.contains("through aliases"));
    }
}
