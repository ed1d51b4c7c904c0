//! HTTP ingest: acceptance, rejection, losslessness, idempotence and the lineage rules.

use serde_json::{Value, json};

use crate::support::{example_events, run_event, run_id, start_server};

#[tokio::test]
async fn valid_and_lenient_examples_are_accepted_invalid_ones_rejected_with_the_field() {
    let server = start_server().await;
    let mut accepted = 0;
    for folder in ["valid", "lenient"] {
        for (name, event) in example_events(folder) {
            let (status, body) = server.post_event(&event).await;
            assert_eq!(status, 201, "{folder}/{name}: {body}");
            assert_eq!(body["duplicate"], false, "{name}");
            accepted += 1;
        }
    }
    let before = server.watermark().await;
    assert_eq!(before, (accepted, accepted));
    for (name, event) in example_events("invalid") {
        let (status, body) = server.post_event(&event).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_ARGUMENT", "{name}");
        let field = body["error"]["field"].as_str().unwrap();
        assert!(!field.is_empty(), "{name}: no field in {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{name}: {body}");
    }
    assert_eq!(server.watermark().await, before, "a rejected event changed the store");
    let events = server.graphql_data("{ events(first: 1000) { events { sequence } } }", json!({})).await;
    assert_eq!(events["events"]["events"].as_array().unwrap().len() as u64, accepted);
    server.shutdown().await;
}

#[tokio::test]
async fn events_read_back_are_json_equal_and_custom_facets_are_kept() {
    let server = start_server().await;
    let mut sent = Vec::new();
    for (_, event) in example_events("valid").into_iter().chain(example_events("lenient")) {
        assert_eq!(server.post_event(&event).await.0, 201);
        sent.push(event);
    }
    let data = server.graphql_data("{ events(first: 100) { events { sequence event } nextAfter } }", json!({})).await;
    let stored: Vec<Value> = data["events"]["events"].as_array().unwrap().iter().map(|e| e["event"].clone()).collect();
    assert_eq!(stored, sent);
    assert_eq!(data["events"]["nextAfter"], Value::Null);
    // A custom run facet and a custom job facet from the fluentd example survive.
    let run = server
        .graphql_data(
            r#"{ run(runId: "ea041791-68bc-4ae1-bd89-4c8106a157e4") { facets } job(namespace: "my-scheduler-namespace", name: "myjob.mytask") { facets } }"#,
            json!({}),
        )
        .await;
    assert!(run["run"]["facets"]["additionalProp1"].is_object(), "{run}");
    assert_eq!(run["job"]["facets"]["sql"]["additionalPropExample"]["example"], true, "{run}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_same_event_twice_changes_nothing() {
    let server = start_server().await;
    let event = run_event("START", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let (status, first) = server.post_event(&event).await;
    assert_eq!(status, 201);
    // Same content, keys in another order: still the same event.
    let reordered: Value = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
    let (status, second) = server.post_event(&reordered).await;
    assert_eq!(status, 201);
    assert_eq!(second, json!({"sequence": first["sequence"], "duplicate": true}));
    assert_eq!(server.watermark().await, (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn gzip_bodies_and_bearer_tokens_are_accepted_bad_bodies_get_4xx() {
    use std::io::Write;
    let server = start_server().await;
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(2), "load", &["raw"], &["clean"]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(event.to_string().as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/lineage");
    let send = |body: Vec<u8>, encoding: Option<&'static str>| {
        let mut request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Authorization", "Bearer secret-token")
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        request.send()
    };
    assert_eq!(send(gzipped, Some("gzip")).await.unwrap().status(), 201);
    let cases: Vec<(Vec<u8>, Option<&'static str>, u16, &str)> = vec![
        (b"not json".to_vec(), None, 400, "not valid JSON"),
        (Vec::new(), None, 400, "body is empty"),
        (b"{}".to_vec(), None, 400, "`eventTime`: is required"),
        (b"plain".to_vec(), Some("gzip"), 400, "not valid gzip"),
        (b"{}".to_vec(), Some("br"), 415, "unsupported Content-Encoding"),
    ];
    for (body, encoding, expected_status, expected_message) in cases {
        let response = send(body, encoding).await.unwrap();
        assert_eq!(response.status().as_u16(), expected_status);
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected_message), "{message}");
    }
    assert_eq!(server.watermark().await, (1, 1));
    server.shutdown().await;
}

const RUN_STATE_QUERY: &str = r#"query($run: String!) {
  run(runId: $run) { state startedAt endedAt inputs { name } outputs { name } eventSequences }
  job(namespace: "etl", name: "load") { inputs { name } outputs { name } }
  dataset(namespace: "db", name: "clean") { facets producers { name } }
}"#;

#[tokio::test]
async fn events_of_a_run_in_any_order_give_the_same_result() {
    let id = run_id(3);
    let doc = |text: &str| json!({"documentation": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json", "description": text}});
    let mut start = run_event("START", "2024-01-01T00:00:00Z", &id, "load", &["raw"], &["clean"]);
    start["outputs"][0]["facets"] = doc("from start");
    let mut running = run_event("RUNNING", "2024-01-01T00:01:00Z", &id, "load", &["raw", "lookup"], &["clean"]);
    running["outputs"][0]["facets"] = doc("from running");
    let mut complete = run_event("COMPLETE", "2024-01-01T00:02:00Z", &id, "load", &["raw"], &["clean"]);
    complete["outputs"][0]["facets"] = doc("from complete");
    let events = [start, running, complete];
    let mut answers = Vec::new();
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let server = start_server().await;
        for index in order {
            assert_eq!(server.post_event(&events[index]).await.0, 201);
        }
        let mut answer = server.graphql_data(RUN_STATE_QUERY, json!({"run": id})).await;
        // Sequences follow arrival, the rest must not.
        answer["run"]["eventSequences"] = Value::Null;
        answers.push(answer);
        server.shutdown().await;
    }
    let first = &answers[0];
    assert_eq!(first["run"]["state"], "COMPLETE");
    assert_eq!(first["run"]["startedAt"], "2024-01-01T00:00:00Z");
    assert_eq!(first["run"]["endedAt"], "2024-01-01T00:02:00Z");
    assert_eq!(first["dataset"]["facets"]["documentation"]["description"], "from complete");
    assert_eq!(first["job"]["inputs"], json!([{"name": "lookup"}, {"name": "raw"}]));
    for answer in &answers {
        assert_eq!(answer, first);
    }
}

#[tokio::test]
async fn a_job_that_stops_reading_a_dataset_loses_the_edge_and_keeps_the_history() {
    let server = start_server().await;
    for event in [
        run_event("START", "2024-01-01T00:00:00Z", &run_id(10), "load", &["a", "b"], &["out"]),
        run_event("COMPLETE", "2024-01-01T00:05:00Z", &run_id(10), "load", &["a", "b"], &["out"]),
        run_event("START", "2024-01-02T00:00:00Z", &run_id(11), "load", &["a"], &["out"]),
    ] {
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let consumers = r#"{ dataset(namespace: "db", name: "b") { consumers { name } recentRuns { runId } } }"#;
    // The second run is still going: the current graph is the last completed run's.
    let data = server.graphql_data(consumers, json!({})).await;
    assert_eq!(data["dataset"]["consumers"], json!([{"name": "load"}]));
    let complete = run_event("COMPLETE", "2024-01-02T00:05:00Z", &run_id(11), "load", &["a"], &["out"]);
    assert_eq!(server.post_event(&complete).await.0, 201);
    let data = server.graphql_data(consumers, json!({})).await;
    assert_eq!(data["dataset"]["consumers"], json!([]));
    // History: the first run still says it read `b`.
    assert_eq!(data["dataset"]["recentRuns"], json!([{"runId": run_id(10)}]));
    let lineage = server
        .graphql_data(
            r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "b"}, direction: DOWNSTREAM) { nodes { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(lineage["lineage"]["nodes"], json!([{"name": "b"}]));
    // A failed run does not change the current graph.
    for event in [
        run_event("START", "2024-01-03T00:00:00Z", &run_id(12), "load", &["c"], &["out"]),
        run_event("FAIL", "2024-01-03T00:01:00Z", &run_id(12), "load", &["c"], &["out"]),
    ] {
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let job = server
        .graphql_data(r#"{ job(namespace: "etl", name: "load") { inputs { name } runs { runId state } } }"#, json!({}))
        .await;
    assert_eq!(job["job"]["inputs"], json!([{"name": "a"}]));
    assert_eq!(job["job"]["runs"][0], json!({"runId": run_id(12), "state": "FAIL"}));
    assert_eq!(job["job"]["runs"].as_array().unwrap().len(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn job_events_declare_static_lineage_and_dataset_events_set_facets() {
    let server = start_server().await;
    let job_event = json!({
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "https://example.com/dbt-manifest",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "etl", "name": "model_orders"},
        "inputs": [{"namespace": "db", "name": "stg_orders"}],
        "outputs": [{"namespace": "db", "name": "orders"}]
    });
    let dataset_event = json!({
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "https://example.com/catalog",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": "db", "name": "orders", "facets": {"custom.tier": {"_producer": "p", "_schemaURL": "s", "tier": "gold"}}}
    });
    assert_eq!(server.post_event(&job_event).await.0, 201);
    assert_eq!(server.post_event(&dataset_event).await.0, 201);
    let data = server
        .graphql_data(
            r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "stg_orders"}) { nodes { name distance } }
                 dataset(namespace: "db", name: "orders") { facet(name: "custom.tier") producers { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["lineage"]["nodes"],
        json!([{"name": "stg_orders", "distance": 0}, {"name": "model_orders", "distance": 1}, {"name": "orders", "distance": 1}])
    );
    assert_eq!(data["dataset"]["facet"]["tier"], "gold");
    assert_eq!(data["dataset"]["producers"], json!([{"name": "model_orders"}]));
    server.shutdown().await;
}

fn with_schema(mut event: Value, fields: Value) -> Value {
    event["outputs"][0]["facets"] = json!({"schema": {
        "_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
        "fields": fields
    }});
    event
}

#[tokio::test]
async fn schema_versions_are_deduplicated_by_content() {
    let server = start_server().await;
    let stable = json!([{"name": "id", "type": "int"}, {"name": "address", "type": "struct", "fields": [{"name": "zip", "type": "string"}]}]);
    for n in 0..6 {
        let time = format!("2024-01-01T00:{:02}:00Z", n * 10);
        let event =
            with_schema(run_event("COMPLETE", &time, &run_id(100 + n), "load", &["raw"], &["clean"]), stable.clone());
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let changed = json!([{"name": "id", "type": "bigint"}]);
    let event =
        with_schema(run_event("COMPLETE", "2024-01-02T00:00:00Z", &run_id(200), "load", &["raw"], &["clean"]), changed);
    assert_eq!(server.post_event(&event).await.0, 201);
    let data = server
        .graphql_data(
            r#"{ dataset(namespace: "db", name: "clean") {
                   currentSchema { version fields { name type } }
                   schemaVersions { version firstSeen lastSeen fields { name type fields { name } } } } }"#,
            json!({}),
        )
        .await;
    let versions = data["dataset"]["schemaVersions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{data}");
    assert_eq!(versions[0]["firstSeen"], "2024-01-01T00:00:00Z");
    assert_eq!(versions[0]["lastSeen"], "2024-01-01T00:50:00Z");
    assert_eq!(versions[0]["fields"][1]["fields"][0]["name"], "zip");
    assert_eq!(data["dataset"]["currentSchema"]["fields"], json!([{"name": "id", "type": "bigint"}]));
    assert_eq!(data["dataset"]["currentSchema"]["version"], versions[1]["version"]);
    server.shutdown().await;
}

#[tokio::test]
async fn symlinked_names_resolve_to_one_dataset() {
    let server = start_server().await;
    let mut event =
        run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(7), "spark_job", &["raw"], &["/warehouse/orders"]);
    event["outputs"][0]["facets"] = json!({"symlinks": {
        "_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json",
        "identifiers": [{"namespace": "hive", "name": "sales.orders", "type": "TABLE"}]
    }});
    assert_eq!(server.post_event(&event).await.0, 201);
    // A later job names the table by its alias.
    let reader = run_event("COMPLETE", "2024-01-02T00:00:00Z", &run_id(8), "report", &[], &["report"]);
    let mut reader = reader;
    reader["inputs"] = json!([{"namespace": "hive", "name": "sales.orders"}]);
    assert_eq!(server.post_event(&reader).await.0, 201);
    let data = server
        .graphql_data(
            r#"{ dataset(namespace: "hive", name: "sales.orders") { namespace name aliases { namespace name } consumers { name } }
                 lineage(start: {kind: DATASET, namespace: "db", name: "raw"}) { nodes { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["dataset"]["name"], "/warehouse/orders");
    assert_eq!(data["dataset"]["aliases"], json!([{"namespace": "hive", "name": "sales.orders"}]));
    assert_eq!(data["dataset"]["consumers"], json!([{"name": "report"}]));
    let names: Vec<&str> =
        data["lineage"]["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["raw", "spark_job", "/warehouse/orders", "report", "report"]);
    server.shutdown().await;
}
