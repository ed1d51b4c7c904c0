use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    // `UPDATE_EXPECT=1 cargo test -p tributary-graphql` rewrites it; review the diff.
    tributary_golden::check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql"), &crate::sdl());
}

/// The plain writer's strings and enums are byte for byte what serde_json writes for them.
#[test]
fn plain_strings_and_enums_are_written_as_serde_json_writes_them() {
    use crate::scalars::NodeKind;
    use crate::types::plain::{write_enum, write_str};
    let texts = [
        "",
        "orders",
        "snowflake://acme-prod.eu-west-1",
        "quote \" inside",
        "back\\slash",
        "tab\tnew\nline\r",
        "\u{0}\u{1f}\u{7f}",
        "é ☃ 𝄞",
        "</script>",
    ];
    for text in texts {
        let mut ours = Vec::new();
        write_str(&mut ours, text);
        assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
    }
    for kind in [NodeKind::Dataset, NodeKind::Job] {
        let mut ours = Vec::new();
        write_enum(&mut ours, kind);
        let generic = serde_json::to_vec(&async_graphql::resolver_utils::enum_value(kind)).unwrap();
        assert_eq!(ours, generic);
    }
}

/// Without the HTTP handler's splicer (a schema executed in process), the table's lists are
/// built as values: the same answer.
#[tokio::test]
async fn lineage_table_lists_are_values_in_process() {
    let service = tributary_service::Service::open(tributary_service::ServiceConfig::default()).unwrap();
    let event = serde_json::json!({
        "eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.com/t",
        "run": {"runId": "00000000-0000-4000-8000-000000000001"}, "job": {"namespace": "etl", "name": "j"},
        "inputs": [{"namespace": "db", "name": "src"}], "outputs": [{"namespace": "wh", "name": "out\"q"}],
    });
    service.ingest(&serde_json::to_vec(&event).unwrap()).await.unwrap();
    let query = r#"{ lineageTable(start: {kind: DATASET, namespace: "db", name: "src"}) {
        namespaces nodeNamespaces nodeNames nodeKinds nodeDistances edgeFrom edgeTo edgeKinds } }"#;
    let response = crate::schema().execute(async_graphql::Request::new(query).data(service.clone())).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let answer = response.data.into_json().unwrap();
    assert_eq!(
        answer["lineageTable"],
        serde_json::json!({
            "namespaces": ["db", "etl", "wh"], "nodeNamespaces": [0, 1, 2], "nodeNames": ["src", "j", "out\"q"],
            "nodeKinds": ["DATASET", "JOB", "DATASET"], "nodeDistances": [0, 1, 1],
            "edgeFrom": [0, 1], "edgeTo": [1, 2], "edgeKinds": ["READS", "WRITES"],
        })
    );
    service.close();
}
