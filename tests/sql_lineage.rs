//! Column lineage from the jobs' own SQL, end to end: a dbt-style producer reports column
//! lineage without transformations and nothing about join or filter keys; the server derives
//! them from the `sql` facet, so the change check names the consumer that joins on or filters
//! by a dropped column instead of reporting no consumer.

use serde_json::{Value, json};

use crate::support::{TestServer, run_id, start_server};

const NS: &str = "postgres://warehouse:5432";

fn schema(fields: &[(&str, &str)]) -> Value {
    let fields: Vec<Value> = fields.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json", "fields": fields})
}

/// dbt-ol's shape: `inputFields` without `transformations`, no dataset-wide entries.
fn bare_lineage(entries: &[(&str, &str, &str)]) -> Value {
    let mut fields = serde_json::Map::new();
    for (output, input, field) in entries {
        fields.insert((*output).to_owned(), json!({"inputFields": [{"namespace": NS, "name": input, "field": field}]}));
    }
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json", "fields": fields})
}

fn model_event(n: u32, job: &str, sql: &str, inputs: Value, outputs: Value) -> Value {
    json!({
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/dbt",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id(n)},
        "job": {"namespace": "dbt", "name": job, "facets": {
            "sql": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json",
                    "query": sql, "dialect": "postgres"}}},
        "inputs": inputs,
        "outputs": outputs,
    })
}

async fn ingest_models(server: &TestServer, n: u32) {
    let orders_schema = schema(&[("order_id", "integer"), ("customer_id", "integer"), ("amount", "numeric")]);
    let payments_schema = schema(&[
        ("payment_id", "integer"),
        ("order_id", "integer"),
        ("payment_status", "varchar"),
        ("paid_amount", "numeric"),
    ]);
    let sql = "select o.customer_id, o.amount, p.paid_amount\n\
               from analytics.public.orders o\n\
               join analytics.public.payments p on p.order_id = o.order_id\n\
               where p.payment_status = 'paid'";
    let event = model_event(
        n,
        "analytics.order_payments",
        sql,
        json!([
            {"namespace": NS, "name": "analytics.public.orders", "facets": {"schema": orders_schema}},
            {"namespace": NS, "name": "analytics.public.payments", "facets": {"schema": payments_schema}},
        ]),
        json!([{"namespace": NS, "name": "analytics.public.order_payments", "facets": {
            "schema": schema(&[("customer_id", "integer"), ("amount", "numeric"), ("paid_amount", "numeric")]),
            "columnLineage": bare_lineage(&[
                ("customer_id", "analytics.public.orders", "customer_id"),
                ("amount", "analytics.public.orders", "amount"),
                ("paid_amount", "analytics.public.payments", "paid_amount"),
            ]),
        }}]),
    );
    let (status, body) = server.post_event(&event).await;
    assert_eq!(status, 201, "{body}");
}

const CHECK: &str = r#"query($name: String!, $schema: String!) {
  checkChange(dataset: {namespace: "postgres://warehouse:5432", name: $name}, schema: $schema) {
    verdict
    changes { path kind verdict impacts { dataset { name } field job { name } use source path } }
  }
}"#;

fn proposed(fields: &[(&str, &str)]) -> String {
    json!({"fields": fields.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>()}).to_string()
}

#[tokio::test]
async fn a_dropped_join_or_filter_key_names_its_consumer() {
    let server = start_server().await;
    // Two runs of the same model: the second changes nothing (no duplicated or re-marked edges).
    ingest_models(&server, 1).await;
    ingest_models(&server, 2).await;

    // Dropping the join key of orders: the consumer is affected through an INDIRECT edge.
    let data = server
        .graphql_data(
            CHECK,
            json!({"name": "analytics.public.orders", "schema": proposed(&[("customer_id", "integer"), ("amount", "numeric")])}),
        )
        .await;
    let check = &data["checkChange"];
    assert_eq!(check["verdict"], "BREAKING", "{data}");
    let dropped =
        check["changes"].as_array().unwrap().iter().find(|c| c["path"] == "order_id").expect("order_id change");
    let impacts = dropped["impacts"].as_array().unwrap();
    assert!(
        impacts.iter().any(|i| i["dataset"]["name"] == "analytics.public.order_payments"
            && i["use"] == "INDIRECT"
            && i["source"] == "DERIVED_FROM_SQL"
            && i["job"]["name"] == "analytics.order_payments"),
        "the joining consumer must be named: {data}"
    );

    // Dropping the filter column of payments: the same.
    let data = server
        .graphql_data(
            CHECK,
            json!({"name": "analytics.public.payments", "schema": proposed(&[("payment_id", "integer"), ("order_id", "integer"), ("paid_amount", "numeric")])}),
        )
        .await;
    let dropped = data["checkChange"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "payment_status")
        .cloned()
        .expect("payment_status change");
    assert!(
        dropped["impacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["dataset"]["name"] == "analytics.public.order_payments" && i["use"] == "INDIRECT"),
        "the filtering consumer must be named: {data}"
    );

    // Column answers say where each edge comes from: the join key's edge is derived, the
    // reported identity edge got its kind from the SQL.
    let lineage = server
        .graphql_data(
            r#"{ key: columnLineage(dataset: {namespace: "postgres://warehouse:5432", name: "analytics.public.orders"}, field: "order_id") {
                   columns { column { name field } use source transformations { type subtype } } }
                 value: columnLineage(dataset: {namespace: "postgres://warehouse:5432", name: "analytics.public.orders"}, field: "amount") {
                   columns { column { name field } use source transformations { type subtype } } } }"#,
            json!({}),
        )
        .await;
    let key = lineage["key"]["columns"].as_array().unwrap();
    assert!(
        key.iter().any(|c| c["column"]["field"] == "*"
            && c["source"] == "DERIVED_FROM_SQL"
            && c["transformations"].as_array().unwrap().iter().any(|t| t["subtype"] == "JOIN")),
        "{lineage}"
    );
    let value = lineage["value"]["columns"].as_array().unwrap();
    assert_eq!(value.len(), 1, "one edge from orders.amount: {lineage}");
    assert!(
        value.iter().any(|c| c["column"]["field"] == "amount"
            && c["source"] == "REPORTED_KINDS_FROM_SQL"
            && c["transformations"][0]["subtype"] == "IDENTITY"),
        "{lineage}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sql_that_does_not_parse_is_recorded_on_the_job_and_never_refuses_the_event() {
    let server = start_server().await;
    let event = model_event(
        7,
        "analytics.templated",
        "select {{ dbt_utils.star(ref('orders')) }} from {{ ref('orders') }} where",
        json!([{"namespace": NS, "name": "analytics.public.orders"}]),
        json!([{"namespace": NS, "name": "analytics.public.templated"}]),
    );
    let (status, body) = server.post_event(&event).await;
    assert_eq!(status, 201, "{body}");
    let job = server
        .graphql_data(
            r#"{ job(namespace: "dbt", name: "analytics.templated") { sqlError outputs { name } } }"#,
            json!({}),
        )
        .await;
    assert!(job["job"]["sqlError"].as_str().is_some_and(|e| !e.is_empty()), "{job}");
    assert_eq!(job["job"]["outputs"], json!([{"name": "analytics.public.templated"}]));
    server.shutdown().await;
}
