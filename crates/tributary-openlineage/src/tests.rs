use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::{EventBody, parse_event};

fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// Compares `actual` with the golden file under `test_data/` (see `tributary_golden`).
fn check_golden(name: &str, actual: &str) {
    tributary_golden::check(&test_data().join(name), actual);
}

fn files_in(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(test_data().join("events").join(folder))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn summarize(body: &EventBody) -> String {
    match body {
        EventBody::Run(run) => format!(
            "RunEvent {:?} run={} job={} inputs={} outputs={} run_facets={:?} parent={}",
            run.event_type,
            run.run_id,
            run.job,
            run.inputs.len(),
            run.outputs.len(),
            run.run_facets.keys().collect::<Vec<_>>(),
            run.parent.as_ref().map(|(id, job)| format!("{id}@{job}")).unwrap_or_default()
        ),
        EventBody::Dataset(dataset) => format!(
            "DatasetEvent {} facets={:?}",
            dataset.dataset.id,
            dataset.dataset.facets.keys().collect::<Vec<_>>()
        ),
        EventBody::Job(job) => format!(
            "JobEvent {} inputs={} outputs={} facets={:?}",
            job.job,
            job.inputs.len(),
            job.outputs.len(),
            job.job_facets.keys().collect::<Vec<_>>()
        ),
    }
}

#[test]
fn examples_are_accepted_or_rejected_with_a_named_field() {
    let mut report = String::new();
    for folder in ["valid", "lenient", "invalid"] {
        for file in files_in(folder) {
            let bytes = std::fs::read(&file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy();
            let outcome = match parse_event(&bytes) {
                Ok(event) => format!("ok {}", summarize(&event.body)),
                Err(error) => format!("rejected field=`{}` {}", error.field, error.message),
            };
            writeln!(report, "{folder}/{name}: {outcome}").unwrap();
            match folder {
                "invalid" => assert!(
                    outcome.starts_with("rejected field=`") && !outcome.starts_with("rejected field=``"),
                    "{name}: {outcome}"
                ),
                _ => assert!(outcome.starts_with("ok"), "{name}: {outcome}"),
            }
        }
    }
    check_golden("events.expected.txt", &report);
}

/// What start-up reads of the events stored after the index snapshot: the names of a stored
/// event alone are those of its full parse, for every example (run, job and dataset events,
/// aliases, empty and absent lists), and every name is seen.
#[test]
fn stored_event_names_are_the_full_parse_names() {
    let mut kinds = std::collections::BTreeSet::new();
    for folder in ["valid", "lenient"] {
        for file in files_in(folder) {
            let event = parse_event(&std::fs::read(&file).unwrap()).unwrap();
            let names = crate::stored_event_names(&event.canonical).unwrap();
            assert_eq!(names, crate::EventNames::of(&event.body), "{}", file.display());
            kinds.insert((names.job.is_some(), names.datasets.is_empty()));
        }
    }
    assert_eq!(kinds.len(), 3, "the examples have run or job events with and without datasets, and dataset events");
    // A dataset event names its one dataset and no job (the examples above hold the order of
    // inputs, then outputs, to the full parse's).
    let dataset = br#"{"dataset":{"name":"orders","namespace":"pg://db"},"eventTime":"2024-01-01T00:00:00Z","producer":"p","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"}"#;
    let names = crate::stored_event_names(dataset).unwrap();
    assert_eq!(names, crate::EventNames::of(&parse_event(dataset).unwrap().body));
    assert_eq!(names.datasets.len(), 1);
    assert_eq!(names.job, None);
    // Bytes the tape cannot index fall back to the full parse and its error.
    let refused = crate::stored_event_names(b"{not json").unwrap_err();
    assert!(refused.message.starts_with("body is not valid JSON"), "{}", refused.message);
}

#[test]
fn canonical_form_is_key_order_independent_and_lossless() {
    let a = br#"{"b": 1, "a": {"y": [1, 2.5, "x"], "x": null}}"#;
    let b = br#"{"a": {"x": null, "y": [1, 2.5, "x"]}, "b": 1}"#;
    let value_a: serde_json::Value = serde_json::from_slice(a).unwrap();
    let value_b: serde_json::Value = serde_json::from_slice(b).unwrap();
    let canonical = crate::canonical_json(&value_a);
    assert_eq!(canonical, crate::canonical_json(&value_b));
    assert_eq!(String::from_utf8(canonical.clone()).unwrap(), r#"{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}"#);
    let back: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
    assert_eq!(back, value_a);
}

fn minimal_run_event() -> serde_json::Value {
    serde_json::json!({
        "eventType": "START",
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "https://example.com/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "3f5e83fa-3480-44ff-99c5-ff943904e5e8"},
        "job": {"namespace": "ns", "name": "job"},
        "inputs": [{"namespace": "db", "name": "in"}],
        "outputs": [{"namespace": "db", "name": "out"}]
    })
}

fn rejection(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut event = minimal_run_event();
    mutate(&mut event);
    match parse_event(&serde_json::to_vec(&event).unwrap()) {
        Ok(_) => "accepted".to_owned(),
        Err(error) => format!("{}: {}", error.field, error.message),
    }
}

#[test]
fn bad_fields_are_named() {
    assert_eq!(rejection(|_| {}), "accepted");
    let mut report = String::new();
    type Mutation = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "no eventTime",
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("eventTime");
            }),
        ),
        ("bad eventTime", Box::new(|e| e["eventTime"] = "soon".into())),
        (
            "no producer",
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("producer");
            }),
        ),
        ("runId not uuid", Box::new(|e| e["run"]["runId"] = "42".into())),
        ("job name empty", Box::new(|e| e["job"]["name"] = "".into())),
        ("job namespace number", Box::new(|e| e["job"]["namespace"] = 7.into())),
        ("bad eventType", Box::new(|e| e["eventType"] = "DONE".into())),
        ("inputs not array", Box::new(|e| e["inputs"] = serde_json::json!({}))),
        ("output name NUL", Box::new(|e| e["outputs"][0]["name"] = "a\u{0}b".into())),
        ("facet not object", Box::new(|e| e["run"]["facets"] = serde_json::json!({"x": 1}))),
        (
            "schema field without name",
            Box::new(|e| {
                e["outputs"][0]["facets"] = serde_json::json!({"schema": {
            "_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
            "fields": [{"name": "a"}, {"type": "int"}]}})
            }),
        ),
    ];
    for (name, mutate) in cases {
        writeln!(report, "{name} -> {}", rejection(mutate)).unwrap();
    }
    check_golden("bad_fields.expected.txt", &report);
}

#[test]
fn deleted_facets_and_custom_facets_pass() {
    assert_eq!(
        rejection(|e| e["outputs"][0]["facets"] = serde_json::json!({
            "schema": {"_deleted": true},
            "spark.logicalPlan": {"_producer": "p", "_schemaURL": "s", "plan": [1, 2]}
        })),
        "accepted"
    );
}

#[test]
fn not_json_is_a_clear_error() {
    let error = parse_event(b"{not json").unwrap_err();
    assert!(error.message.starts_with("body is not valid JSON"), "{error}");
    let error = parse_event(b"[1]").unwrap_err();
    assert_eq!(error.message, "an event must be a JSON object");
}

/// The hash from canonical bytes is `value_hash`'s, for values with every JSON shape: empty
/// and nested containers, strings holding brackets, quotes, backslashes and escapes.
#[test]
fn canonical_value_hash_is_value_hash() {
    let cases = [
        r#"{}"#,
        r#"[]"#,
        r#"{"a": {}, "b": [], "c": [{}, [], [[]]], "d": {"e": {"f": []}}}"#,
        r#"{"s": "}]{[\"\\", "t": "\\", "u": "\"}", "v": "ünï\u0001€ \n"}"#,
        r#"[1, -2.5, 1e300, 0, true, false, null, "x", ["]"], {"}": "{"}]"#,
        r#"{"fields": [{"name": "id", "type": "int", "fields": []}, {"name": "a\"b", "tags": ["x", "y"]}]}"#,
    ];
    for case in cases {
        let value: serde_json::Value = serde_json::from_str(case).unwrap();
        assert_eq!(crate::canonical_value_hash(&crate::canonical_json(&value)), crate::value_hash(&value), "{case}");
    }
}

proptest::proptest! {
    #[test]
    fn canonical_value_hash_is_value_hash_for_any_value(value in json_value()) {
        proptest::prop_assert_eq!(crate::canonical_value_hash(&crate::canonical_json(&value)), crate::value_hash(&value));
    }
}

/// Any JSON value, up to a few levels deep, with strings drawn to hold JSON's own punctuation.
fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let text = "[\\[\\]{}\\\\\"a-z:,\\u{1}é€ ]{0,8}";
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e6f64..1e6).prop_map(|n| serde_json::json!(n)),
        text.prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(text, inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

#[test]
fn value_hash_ignores_key_order_and_sees_content() {
    let a: serde_json::Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "s"}"#).unwrap();
    let b: serde_json::Value = serde_json::from_str(r#"{"a": "s", "b": [1, {"x": 1, "y": 2}]}"#).unwrap();
    let c: serde_json::Value = serde_json::from_str(r#"{"a": "s", "b": [1, {"x": 1, "y": 3}]}"#).unwrap();
    assert_eq!(crate::value_hash(&a), crate::value_hash(&b));
    assert_ne!(crate::value_hash(&a), crate::value_hash(&c));
    // Nesting is part of the content: [[1], 2] and [[1, 2]] differ.
    let nested: serde_json::Value = serde_json::from_str("[[1], 2]").unwrap();
    let flat: serde_json::Value = serde_json::from_str("[[1, 2]]").unwrap();
    assert_ne!(crate::value_hash(&nested), crate::value_hash(&flat));
}

#[test]
fn a_nul_in_any_facet_name_is_refused_with_its_path() {
    let facet = serde_json::json!({"a\u{0}b": {"_producer": "p", "_schemaURL": "s"}});
    type Mutation<'a> = Box<dyn Fn(&mut serde_json::Value) + 'a>;
    let cases: [(&str, Mutation); 5] = [
        ("run.facets.a\\0b", Box::new(|e| e["run"]["facets"] = facet.clone())),
        ("job.facets.a\\0b", Box::new(|e| e["job"]["facets"] = facet.clone())),
        ("inputs[0].facets.a\\0b", Box::new(|e| e["inputs"][0]["facets"] = facet.clone())),
        ("inputs[0].inputFacets.a\\0b", Box::new(|e| e["inputs"][0]["inputFacets"] = facet.clone())),
        ("outputs[0].outputFacets.a\\0b", Box::new(|e| e["outputs"][0]["outputFacets"] = facet.clone())),
    ];
    for (field, mutate) in cases {
        assert_eq!(rejection(mutate), format!("{field}: a facet name must not contain a NUL character"));
    }
    // A deleted facet is no exception: its name is stored too.
    assert_eq!(
        rejection(|e| e["outputs"][0]["facets"] = serde_json::json!({"x\u{0}": {"_deleted": true}})),
        "outputs[0].facets.x\\0: a facet name must not contain a NUL character"
    );
}

/// A facet name longer than a dataset name may be is refused with its place and length, in
/// every facet map (it would be stored in its dataset's record otherwise).
#[test]
fn an_overlong_facet_name_is_refused_with_its_path() {
    let long = "f".repeat(70_000);
    let facet = serde_json::json!({ long.clone(): {"_producer": "p", "_schemaURL": "s"} });
    let shown = format!("{}…", "f".repeat(32));
    type Mutation<'a> = Box<dyn Fn(&mut serde_json::Value) + 'a>;
    let cases: [(&str, Mutation); 2] = [
        ("outputs[0].facets", Box::new(|e| e["outputs"][0]["facets"] = facet.clone())),
        ("job.facets", Box::new(|e| e["job"]["facets"] = facet.clone())),
    ];
    for (place, mutate) in cases {
        assert_eq!(
            rejection(mutate),
            format!("{place}.{shown}: a facet name must be at most 4096 bytes (this one has 70000)")
        );
    }
    let at_limit = serde_json::json!({ "g".repeat(4096): {"_producer": "p", "_schemaURL": "s"} });
    assert_eq!(rejection(|e| e["outputs"][0]["facets"] = at_limit), "accepted");
}

fn schema_facet(fields: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"schema": {
        "_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
        "fields": fields
    }})
}

#[test]
fn event_size_limits_name_the_field() {
    use crate::{MAX_COLUMN_LINEAGE_FIELDS, MAX_COLUMN_LINEAGE_INPUTS, MAX_INPUTS, MAX_OUTPUTS, MAX_SCHEMA_FIELDS};
    let datasets = |count: usize| -> serde_json::Value {
        (0..count).map(|index| serde_json::json!({"namespace": "db", "name": format!("t{index}")})).collect()
    };
    assert_eq!(
        rejection(|e| e["inputs"] = datasets(MAX_INPUTS + 1)),
        "inputs: has 10001 datasets; at most 10000 are accepted per event"
    );
    assert_eq!(
        rejection(|e| e["outputs"] = datasets(MAX_OUTPUTS + 1)),
        "outputs: has 10001 datasets; at most 10000 are accepted per event"
    );
    assert_eq!(rejection(|e| e["inputs"] = datasets(MAX_INPUTS)), "accepted");

    let flat = |count: usize| (0..count).map(|index| serde_json::json!({"name": format!("c{index}")})).collect();
    assert_eq!(
        rejection(|e| e["outputs"][0]["facets"] = schema_facet(flat(MAX_SCHEMA_FIELDS + 1))),
        "outputs[0].facets.schema.fields: has 20001 fields (nested ones included); at most 20000 are accepted per dataset"
    );
    // Nested fields count too.
    let nested = vec![
        serde_json::json!({"name": "a", "fields": flat(MAX_SCHEMA_FIELDS / 2)}),
        serde_json::json!({"name": "b", "fields": flat(MAX_SCHEMA_FIELDS / 2)}),
    ];
    assert_eq!(
        rejection(|e| e["inputs"][0]["facets"] = schema_facet(nested)),
        "inputs[0].facets.schema.fields: has 20002 fields (nested ones included); at most 20000 are accepted per dataset"
    );
    assert_eq!(rejection(|e| e["outputs"][0]["facets"] = schema_facet(flat(MAX_SCHEMA_FIELDS))), "accepted");

    let lineage = |columns: usize, inputs_each: usize| {
        let input: Vec<serde_json::Value> = (0..inputs_each)
            .map(|index| serde_json::json!({"namespace": "db", "name": "in", "field": format!("f{index}")}))
            .collect();
        let fields: serde_json::Map<String, serde_json::Value> =
            (0..columns).map(|index| (format!("c{index}"), serde_json::json!({"inputFields": input}))).collect();
        serde_json::json!({"columnLineage": {
            "_producer": "p",
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
            "fields": fields
        }})
    };
    assert_eq!(
        rejection(|e| e["outputs"][0]["facets"] = lineage(MAX_COLUMN_LINEAGE_FIELDS + 1, 0)),
        "outputs[0].facets.columnLineage.fields: has 20001 fields; at most 20000 are accepted per dataset"
    );
    assert_eq!(
        rejection(|e| e["outputs"][0]["facets"] = lineage(2, MAX_COLUMN_LINEAGE_INPUTS / 2 + 1)),
        "outputs[0].facets.columnLineage: names 100002 input fields; at most 100000 are accepted per dataset"
    );
    assert_eq!(rejection(|e| e["outputs"][0]["facets"] = lineage(100, 100)), "accepted");
}

#[test]
fn a_large_valid_event_parses_in_linear_time() {
    use std::time::Instant;
    for count in [1_000, 10_000] {
        let mut event = minimal_run_event();
        let fields: Vec<serde_json::Value> = (0..crate::MAX_SCHEMA_FIELDS * count / 10_000)
            .map(|index| serde_json::json!({"name": format!("c{index}"), "type": "int"}))
            .collect();
        event["inputs"] =
            (0..count).map(|index| serde_json::json!({"namespace": "db", "name": format!("t{index}")})).collect();
        event["outputs"][0]["facets"] = schema_facet(fields);
        let bytes = serde_json::to_vec(&event).unwrap();
        let started = Instant::now();
        let parsed = parse_event(&bytes).unwrap();
        println!("{count} inputs and {} schema fields ({} bytes): {:?}", count * 2, bytes.len(), started.elapsed());
        let EventBody::Run(run) = parsed.body else { unreachable!() };
        assert_eq!(run.inputs.len(), count);
    }
}

/// The writer stores a facet's bytes from the event's canonical JSON and hashes a schema's
/// `fields` from them: they must be exactly the facet's (and the fields') canonical JSON and
/// what `serde_json` writes for it, and the precomputed hashes those of the facet values.
#[test]
fn facet_spans_and_hashes_match_each_facet() {
    let mut files = files_in("valid");
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/data/event-complete.json"));
    let mut checked = 0;
    let mut lineage_checked = 0;
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let event = parse_event(&bytes).unwrap();
        // The oracle: the facets as serde_json reads the input.
        let input: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(event.canonical, crate::canonical_json(&input), "{}", path.display());
        let datasets: Vec<(&crate::DatasetRef, &serde_json::Value)> = match &event.body {
            EventBody::Run(crate::RunEventBody { inputs, outputs, .. })
            | EventBody::Job(crate::JobEventBody { inputs, outputs, .. }) => {
                let listed = |list: &'static str| input[list].as_array().into_iter().flatten();
                inputs.iter().zip(listed("inputs")).chain(outputs.iter().zip(listed("outputs"))).collect()
            }
            EventBody::Dataset(dataset) => vec![(&dataset.dataset, &input["dataset"])],
        };
        for (dataset, original) in datasets {
            let empty = serde_json::Map::new();
            let facets = original["facets"].as_object().unwrap_or(&empty);
            let keys: Vec<&str> = dataset.facets.keys().collect();
            assert_eq!(keys, facets.keys().map(String::as_str).collect::<Vec<_>>(), "{}", path.display());
            // The writer takes the column lineage the parser read: it must be the facet's.
            let live_lineage = facets
                .get("columnLineage")
                .filter(|facet| facet.get("_deleted") != Some(&serde_json::Value::Bool(true)));
            assert_eq!(
                dataset.column_lineage,
                live_lineage.map(tributary_model::column_lineage_edges),
                "{}",
                path.display()
            );
            lineage_checked += usize::from(live_lineage.is_some());
            for facet in dataset.facets.iter() {
                let (key, value) = (&facet.key, &facets[&facet.key]);
                assert_eq!(facet.value(), value);
                let span = &facet.span;
                let bytes = &event.canonical[span.json.clone()];
                assert_eq!(bytes, facet.json().as_bytes());
                assert_eq!(bytes, crate::canonical_json(value).as_slice(), "{} {key}", path.display());
                assert_eq!(bytes, serde_json::to_vec(value).unwrap().as_slice(), "{} {key}", path.display());
                let deleted = value.get("_deleted") == Some(&serde_json::Value::Bool(true));
                assert_eq!(facet.hash, (!deleted).then(|| crate::value_hash(value)));
                match (key.as_str(), value.get("fields")) {
                    ("schema", Some(fields)) => {
                        let fields_span = span.schema_fields.clone().unwrap();
                        assert_eq!(&event.canonical[fields_span], crate::canonical_json(fields).as_slice());
                    }
                    _ => assert_eq!(span.schema_fields, None),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 5, "only {checked} facets checked");
    assert!(lineage_checked > 0, "no columnLineage facet among the examples");
}
