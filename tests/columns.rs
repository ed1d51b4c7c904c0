//! Column-level lineage end to end: ingest `columnLineage` facets, query over GraphQL and
//! gRPC, survive a restart.

use serde_json::{Value, json};
use tributary_grpc::proto;

use crate::support::{TestServer, run_event, run_id, start_server, start_server_in};

fn column_lineage(inputs: &[(&str, &str, &str, &str, bool)], dataset_wide: &[(&str, &str)]) -> Value {
    // (output field, input dataset, input field, transformation type/subtype, masking)
    let mut fields = serde_json::Map::new();
    for (output, dataset, field, transformation, masking) in inputs {
        let (kind, subtype) = transformation.split_once('/').unwrap();
        let entry = fields.entry(output.to_string()).or_insert_with(|| json!({"inputFields": []}));
        entry["inputFields"].as_array_mut().unwrap().push(json!({
            "namespace": "db", "name": dataset, "field": field,
            "transformations": [{"type": kind, "subtype": subtype, "masking": masking}]
        }));
    }
    let dataset: Vec<Value> = dataset_wide
        .iter()
        .map(|(dataset, field)| json!({"namespace": "db", "name": dataset, "field": field, "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}]}))
        .collect();
    json!({"columnLineage": {
        "_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
        "fields": fields,
        "dataset": dataset
    }})
}

/// orders.amount -> daily.revenue (AGGREGATION) -> kpis.revenue (IDENTITY);
/// orders.customer_id -> daily.* (FILTER); customers.email -> daily.email_hash (masked);
/// daily -> export (job without column lineage).
async fn pipeline(server: &TestServer) {
    let mut daily =
        run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "build_daily", &["orders", "customers"], &["daily"]);
    daily["outputs"][0]["facets"] = column_lineage(
        &[
            ("revenue", "orders", "amount", "DIRECT/AGGREGATION", false),
            ("email_hash", "customers", "email", "DIRECT/TRANSFORMATION", true),
        ],
        &[("orders", "customer_id")],
    );
    let mut kpis = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "build_kpis", &["daily"], &["kpis"]);
    kpis["outputs"][0]["facets"] = column_lineage(&[("revenue", "daily", "revenue", "DIRECT/IDENTITY", false)], &[]);
    let export = run_event("COMPLETE", "2024-01-01T02:00:00Z", &run_id(3), "export", &["daily"], &["export"]);
    for event in [daily, kpis, export] {
        let (status, body) = server.post_event(&event).await;
        assert_eq!(status, 201, "{body}");
    }
}

const QUERY: &str = r#"query($name: String!, $field: String!, $direction: Direction!) {
  columnLineage(dataset: {namespace: "db", name: $name}, field: $field, direction: $direction) {
    start { name field }
    columns { column { name field } distance use masked transformations { type subtype } path { name field } }
    unverified { dataset { name } job { name } via { name field } reason }
    truncated watermark { sequence }
  }
}"#;

#[tokio::test]
async fn column_lineage_downstream_upstream_and_after_restart() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    pipeline(&server).await;
    let down =
        server.graphql_data(QUERY, json!({"name": "orders", "field": "amount", "direction": "DOWNSTREAM"})).await;
    let lineage = &down["columnLineage"];
    assert_eq!(
        lineage["columns"],
        json!([
            {"column": {"name": "daily", "field": "revenue"}, "distance": 1, "use": "DIRECT", "masked": false,
             "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}],
             "path": [{"name": "orders", "field": "amount"}, {"name": "daily", "field": "revenue"}]},
            {"column": {"name": "kpis", "field": "revenue"}, "distance": 2, "use": "DIRECT", "masked": false,
             "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
             "path": [{"name": "orders", "field": "amount"}, {"name": "daily", "field": "revenue"}, {"name": "kpis", "field": "revenue"}]}
        ])
    );
    // `export` reads `daily` with no column lineage: unknown, not unaffected.
    assert_eq!(lineage["unverified"].as_array().unwrap().len(), 1, "{lineage}");
    assert_eq!(lineage["unverified"][0]["dataset"]["name"], "export");
    assert_eq!(lineage["unverified"][0]["via"], json!({"name": "daily", "field": "revenue"}));

    let filter =
        server.graphql_data(QUERY, json!({"name": "orders", "field": "customer_id", "direction": "DOWNSTREAM"})).await;
    assert_eq!(
        filter["columnLineage"]["columns"],
        json!([{"column": {"name": "daily", "field": "*"}, "distance": 1, "use": "INDIRECT", "masked": false,
                "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
                "path": [{"name": "orders", "field": "customer_id"}, {"name": "daily", "field": "*"}]}])
    );
    let masked =
        server.graphql_data(QUERY, json!({"name": "customers", "field": "email", "direction": "DOWNSTREAM"})).await;
    assert_eq!(masked["columnLineage"]["columns"][0]["masked"], true);

    let up = server.graphql_data(QUERY, json!({"name": "kpis", "field": "revenue", "direction": "UPSTREAM"})).await;
    let names: Vec<String> = up["columnLineage"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}.{}", c["column"]["name"].as_str().unwrap(), c["column"]["field"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["daily.revenue", "orders.amount"]);

    let both = server.graphql(QUERY, json!({"name": "orders", "field": "amount", "direction": "BOTH"})).await;
    assert_eq!(both["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // gRPC gives the same answer.
    let mut client = server.lineage_client().await;
    let grpc = client
        .get_column_lineage(proto::ColumnLineageRequest {
            namespace: "db".into(),
            name: "orders".into(),
            field: "amount".into(),
            direction: proto::Direction::Downstream as i32,
            depth: 0,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let grpc_columns: Vec<(String, String, u32, String)> = grpc
        .columns
        .iter()
        .map(|c| {
            let column = c.column.as_ref().unwrap();
            (column.name.clone(), column.field.clone(), c.distance, c.r#use.clone())
        })
        .collect();
    assert_eq!(
        grpc_columns,
        vec![
            ("daily".into(), "revenue".into(), 1, "DIRECT".into()),
            ("kpis".into(), "revenue".into(), 2, "DIRECT".into())
        ]
    );
    assert_eq!(grpc.unverified.len(), 1);
    drop(client);
    server.shutdown().await;

    let server = start_server_in(temp.path()).await;
    let again =
        server.graphql_data(QUERY, json!({"name": "orders", "field": "amount", "direction": "DOWNSTREAM"})).await;
    assert_eq!(again, down);
    server.shutdown().await;
}

#[tokio::test]
async fn a_new_column_lineage_facet_replaces_the_old_edges() {
    let server = start_server().await;
    pipeline(&server).await;
    let mut kpis = run_event("COMPLETE", "2024-01-02T01:00:00Z", &run_id(4), "build_kpis", &["daily"], &["kpis"]);
    kpis["outputs"][0]["facets"] = column_lineage(&[("revenue", "daily", "email_hash", "DIRECT/IDENTITY", false)], &[]);
    assert_eq!(server.post_event(&kpis).await.0, 201);
    let down =
        server.graphql_data(QUERY, json!({"name": "orders", "field": "amount", "direction": "DOWNSTREAM"})).await;
    assert_eq!(down["columnLineage"]["columns"].as_array().unwrap().len(), 1);
    server.shutdown().await;
}

/// Column lineage's lists are written as plain JSON over HTTP (on a read thread): byte for byte
/// what the generic path writes for the same fields through fragments, with aliases,
/// `__typename`, every transformation field and the unverified consumers.
#[tokio::test]
async fn column_lineage_lists_are_written_as_the_generic_path_writes_them() {
    let server = start_server().await;
    pipeline(&server).await;
    let column = "namespace n: name field __typename";
    let transformation = "type subtype masking description t: __typename";
    let impact = format!(
        "column {{ {column} }} distance use masked transformations {{ {transformation} }} source path {{ {column} }} __typename"
    );
    let edge = format!("from {{ {column} }} to {{ {column} }} transformations {{ {transformation} }} source");
    let unverified =
        format!("dataset {{ kind namespace name }} job {{ name }} via {{ {column} }} path {{ {column} }} reason");
    for start in [
        "dataset: {namespace: \"db\", name: \"orders\"}, field: \"amount\"",
        "dataset: {namespace: \"db\", name: \"customers\"}, field: \"email\"",
    ] {
        let plain = server.graphql_text(format!(
            "{{ columnLineage({start}) {{ columns {{ {impact} }} edges {{ {edge} }} unverified {{ {unverified} }} }} }}"
        ))
        .await;
        let generic = server
            .graphql_text(format!(
                "{{ columnLineage({start}) {{ columns {{ ...I }} edges {{ ...E }} unverified {{ ...U }} }} }}
                fragment I on ColumnImpact {{ {impact} }} fragment E on ColumnEdge {{ {edge} }}
                fragment U on UnverifiedConsumer {{ {unverified} }}"
            ))
            .await;
        assert_eq!(plain, generic);
        assert!(plain.contains(r#""subtype":"AGGREGATION""#) || plain.contains(r#""masking":true"#), "{plain}");
    }
    let plain = server.graphql_text(format!("{{ columnLineage(dataset: {{namespace: \"db\", name: \"orders\"}}, field: \"amount\") {{ unverified {{ {unverified} }} }} }}")).await;
    assert!(plain.contains("without column lineage"), "the unverified consumer is in the answer: {plain}");
    server.shutdown().await;
}
