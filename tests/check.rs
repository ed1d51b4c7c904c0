//! The change check end to end: a multi-domain pipeline with column lineage, a proposed
//! schema that drops one column and widens another; the exact consumers, paths, owners,
//! markdown and exit code, over GraphQL, gRPC and the CLI; then the change seen in the wild.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tributary_grpc::proto;

use crate::support::{TestServer, run_event, run_id, start_server};

fn check_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/check").join(name)
}

fn schema_facet(fields: Value) -> Value {
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json", "fields": fields})
}

fn owners(name: &str) -> Value {
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/OwnershipDatasetFacet.json", "owners": [{"name": name}]})
}

fn lineage(entries: &[(&str, &str, &str, &str)], dataset_wide: &[(&str, &str)]) -> Value {
    // (output field, input field, type, subtype); inputs are sales-db:orders unless `ds.field`.
    let mut fields = serde_json::Map::new();
    for (output, input, kind, subtype) in entries {
        let (dataset, field) = input.split_once('.').map_or(("orders", *input), |(d, f)| (d, f));
        let namespace = if dataset == "orders" { "sales-db" } else { "fin-db" };
        fields.entry(output.to_string()).or_insert_with(|| json!({"inputFields": []}))["inputFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"namespace": namespace, "name": dataset, "field": field, "transformations": [{"type": kind, "subtype": subtype}]}));
    }
    let dataset: Vec<Value> = dataset_wide
        .iter()
        .map(|(field, subtype)| json!({"namespace": "sales-db", "name": "orders", "field": field, "transformations": [{"type": "INDIRECT", "subtype": subtype}]}))
        .collect();
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json", "fields": fields, "dataset": dataset})
}

fn event(n: u32, time: &str, job: (&str, &str), inputs: &[(&str, &str)], output: (&str, &str), facets: Value) -> Value {
    let mut event = run_event("COMPLETE", time, &run_id(n), job.1, &[], &[]);
    event["job"]["namespace"] = job.0.into();
    event["inputs"] = inputs.iter().map(|(ns, name)| json!({"namespace": ns, "name": name})).collect();
    event["outputs"] = json!([{"namespace": output.0, "name": output.1, "facets": facets}]);
    event
}

const ORDERS_V1: &str = r#"[{"name": "order_id", "type": "bigint"}, {"name": "customer_id", "type": "int"},
                            {"name": "amount", "type": "decimal(10,2)"}, {"name": "status", "type": "varchar(20)"}]"#;

/// sales-db:orders -> mkt-db:customer_value (ltv from amount, customer_id, filtered by status)
///                 -> fin-db:revenue (revenue from amount, grouped by customer_id) -> fin-db:report
///                 -> mkt-db:orders_export (job without column lineage)
async fn pipeline(server: &TestServer) {
    let orders_v1: Value = serde_json::from_str(ORDERS_V1).unwrap();
    let events = [
        event(
            1,
            "2024-03-01T00:00:00Z",
            ("sales-db", "load_orders"),
            &[("sales-db", "orders_raw")],
            ("sales-db", "orders"),
            json!({"schema": schema_facet(orders_v1), "ownership": owners("team:orders")}),
        ),
        event(
            2,
            "2024-03-01T01:00:00Z",
            ("mkt-db", "customer_value"),
            &[("sales-db", "orders")],
            ("mkt-db", "customer_value"),
            json!({"columnLineage": lineage(&[("ltv", "amount", "DIRECT", "AGGREGATION"), ("customer_id", "customer_id", "DIRECT", "IDENTITY")], &[("status", "FILTER")]),
                     "ownership": owners("team:marketing")}),
        ),
        event(
            3,
            "2024-03-01T01:00:00Z",
            ("fin-db", "revenue"),
            &[("sales-db", "orders")],
            ("fin-db", "revenue"),
            json!({"columnLineage": lineage(&[("revenue", "amount", "DIRECT", "AGGREGATION"), ("revenue", "customer_id", "INDIRECT", "GROUP_BY")], &[]),
                     "ownership": owners("team:finance")}),
        ),
        event(
            4,
            "2024-03-01T02:00:00Z",
            ("fin-db", "report"),
            &[("fin-db", "revenue")],
            ("fin-db", "report"),
            json!({"columnLineage": lineage(&[("total", "revenue.revenue", "DIRECT", "IDENTITY")], &[]), "ownership": owners("team:finance")}),
        ),
        event(
            5,
            "2024-03-01T02:00:00Z",
            ("mkt-db", "export_orders"),
            &[("sales-db", "orders")],
            ("mkt-db", "orders_export"),
            json!({}),
        ),
    ];
    for event in events {
        let (status, body) = server.post_event(&event).await;
        assert_eq!(status, 201, "{body}");
    }
}

const CHECK: &str = r#"query($schema: String!, $format: SchemaFormat!) {
  checkChange(dataset: {namespace: "sales-db", name: "orders"}, schema: $schema, format: $format) {
    verdict
    changes { path kind rule readers verdict impacts { dataset { namespace name } field job { name } distance use path } }
    affectedDatasets { namespace name } affectedJobs { name }
    groups { namespace owners { name source } datasetCount jobCount }
    unsupported { check }
    markdown json watermark { sequence }
  }
}"#;

fn impacts(change: &Value) -> Vec<String> {
    change["impacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}.{} via {} @{} [{}]",
                i["use"].as_str().unwrap(),
                i["dataset"]["name"].as_str().unwrap(),
                i["field"].as_str().unwrap_or("?"),
                i["job"]["name"].as_str().unwrap_or("-"),
                i["distance"],
                i["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join(" > ")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_checks_a_change_and_then_sees_it_happen() {
    let server = start_server().await;
    pipeline(&server).await;
    let proposed = std::fs::read_to_string(check_file("orders-proposed.json")).unwrap();
    let data = server.graphql_data(CHECK, json!({"schema": proposed, "format": "OPENLINEAGE"})).await;
    let check = &data["checkChange"];
    assert_eq!(check["verdict"], "BREAKING");
    let changes = check["changes"].as_array().unwrap();
    let kinds: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {} rule {} {}",
                c["path"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
                c["rule"],
                c["verdict"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(kinds, ["amount TYPE_WIDENED rule 7 RISKY", "status COLUMN_REMOVED rule 1 BREAKING"]);
    assert_eq!(
        impacts(&changes[0]),
        [
            "DIRECT revenue.revenue via revenue @1 [sales-db:orders.amount > fin-db:revenue.revenue]",
            "DIRECT customer_value.ltv via customer_value @1 [sales-db:orders.amount > mkt-db:customer_value.ltv]",
            "UNVERIFIED orders_export.? via export_orders @1 [sales-db:orders.amount]",
            "DIRECT report.total via report @2 [sales-db:orders.amount > fin-db:revenue.revenue > fin-db:report.total]",
        ]
    );
    assert_eq!(
        impacts(&changes[1]),
        [
            "INDIRECT customer_value.* via customer_value @1 [sales-db:orders.status > mkt-db:customer_value.*]",
            "UNVERIFIED orders_export.? via export_orders @1 [sales-db:orders.status]",
        ]
    );
    let affected: Vec<String> = check["affectedDatasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{}:{}", d["namespace"].as_str().unwrap(), d["name"].as_str().unwrap()))
        .collect();
    assert_eq!(affected, ["fin-db:report", "fin-db:revenue", "mkt-db:customer_value", "mkt-db:orders_export"]);
    let groups: Vec<String> = check["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let owners: Vec<&str> =
                g["owners"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
            format!("{} {:?} d={} j={}", g["namespace"].as_str().unwrap(), owners, g["datasetCount"], g["jobCount"])
        })
        .collect();
    assert_eq!(groups, [r#"fin-db ["team:finance", "team:finance"] d=2 j=2"#, r#"mkt-db ["team:marketing"] d=2 j=2"#]);
    assert!(check["unsupported"].as_array().unwrap().iter().any(|u| u["check"] == "nullability"));

    let markdown = check["markdown"].as_str().unwrap();
    assert!(markdown.starts_with("## 🔴 Schema change check for `sales-db:orders`: BREAKING"), "{markdown}");
    assert!(markdown.contains("| Column `status` (varchar(20)) was removed; consumers that read it break. | `status` | BREAKING | SAFE | SAFE | **BREAKING** | 2 |"), "{markdown}");
    assert!(
        markdown.contains("- UNVERIFIED `mkt-db:orders_export` (columns unknown) via job `mkt-db:export_orders`"),
        "{markdown}"
    );
    assert!(markdown.contains("| — | namespace `fin-db` | team:finance | 2 | 2 |"), "{markdown}");

    // gRPC gives the same report; so does the dbt contract spelling of the same schema.
    let mut changes_client = proto::changes_client::ChangesClient::connect(server.base_url.clone()).await.unwrap();
    let grpc = changes_client
        .check_change(proto::CheckChangeRequest {
            namespace: "sales-db".into(),
            name: "orders".into(),
            schema: proposed.clone(),
            format: proto::SchemaFormat::Openlineage as i32,
            dbt_model: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.verdict, "BREAKING");
    assert_eq!(grpc.markdown, markdown);
    assert_eq!(serde_json::from_str::<Value>(&grpc.report_json).unwrap(), check["json"]);
    let dbt = server
        .graphql_data(
            CHECK,
            json!({"schema": std::fs::read_to_string(check_file("orders-proposed.yml")).unwrap(), "format": "DBT"}),
        )
        .await;
    let dbt_kinds: Vec<&str> =
        dbt["checkChange"]["changes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert!(dbt_kinds.contains(&"COLUMN_REMOVED") && dbt_kinds.contains(&"TYPE_WIDENED"), "{dbt_kinds:?}");

    // The CLI: markdown on stdout, exit 1 on breaking, 0 when told never to fail, JSON on request.
    let run_cli = |extra: &'static [&'static str]| {
        let url = server.base_url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
                .args(["check", "--server", &url, "--namespace", "sales-db", "--name", "orders", "--schema"])
                .arg(check_file("orders-proposed.json"))
                .args(extra)
                .output()
                .unwrap()
        })
    };
    let output = run_cli(&[]).await.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), markdown);
    let output = run_cli(&["--fail-on", "never", "--output", "json"]).await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(serde_json::from_slice::<Value>(&output.stdout).unwrap(), check["json"]);
    let url = server.base_url.clone();
    let unknown = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["check", "--server", &url, "--namespace", "sales-db", "--name", "nope", "--schema"])
            .arg(check_file("orders-proposed.json"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown dataset `sales-db:nope`"));

    // A bot watching the stream, then the change happens in the wild.
    let mut watch = changes_client
        .watch_schema_changes(proto::ListSchemaChangesRequest { min_verdict: "RISKY".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let proposed_fields = serde_json::from_str::<Value>(&proposed).unwrap()["fields"].clone();
    let changed = event(
        6,
        "2024-03-02T00:00:00Z",
        ("sales-db", "load_orders"),
        &[("sales-db", "orders_raw")],
        ("sales-db", "orders"),
        json!({"schema": schema_facet(proposed_fields)}),
    );
    assert_eq!(server.post_event(&changed).await.0, 201);
    let seen =
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(seen.verdict, "BREAKING");
    assert_eq!(seen.sequence, 6);
    assert_eq!(seen.dataset.unwrap().name, "orders");
    let recorded = server
        .graphql_data(
            r#"{ schemaChanges(dataset: {namespace: "sales-db", name: "orders"}, minVerdict: "breaking") { sequence time verdict report } }"#,
            json!({}),
        )
        .await;
    let list = recorded["schemaChanges"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["time"], "2024-03-02T00:00:00Z");
    assert_eq!(list[0]["report"]["affectedDatasets"].as_array().unwrap().len(), 4);
    // The same schema again is no new change.
    let again = event(
        7,
        "2024-03-03T00:00:00Z",
        ("sales-db", "load_orders"),
        &[("sales-db", "orders_raw")],
        ("sales-db", "orders"),
        json!({"schema": schema_facet(serde_json::from_str::<Value>(&proposed).unwrap()["fields"].clone())}),
    );
    assert_eq!(server.post_event(&again).await.0, 201);
    let recorded = server.graphql_data("{ schemaChanges { sequence } }", json!({})).await;
    assert_eq!(recorded["schemaChanges"].as_array().unwrap().len(), 1);
    // Any two stored versions diff the same way.
    let versions = server
        .graphql_data(r#"{ dataset(namespace: "sales-db", name: "orders") { schemaVersions { version } } }"#, json!({}))
        .await;
    let ids: Vec<&str> = versions["dataset"]["schemaVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let diff = server
        .graphql_data(
            r#"query($from: String!, $to: String!) { schemaDiff(dataset: {namespace: "sales-db", name: "orders"}, from: $from, to: $to) { verdict changes { path kind } } }"#,
            json!({"from": &ids[0][..10], "to": ids[1]}),
        )
        .await;
    assert_eq!(diff["schemaDiff"]["verdict"], "BREAKING");
    let grpc_diff = changes_client
        .diff_schema_versions(proto::DiffSchemaVersionsRequest {
            namespace: "sales-db".into(),
            name: "orders".into(),
            from_version: ids[0].into(),
            to_version: ids[1].into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_diff.verdict, "BREAKING");
    assert_eq!(grpc_diff.changes, 2);
    assert_eq!(
        diff["schemaDiff"]["changes"],
        json!([{"path": "amount", "kind": "TYPE_WIDENED"}, {"path": "status", "kind": "COLUMN_REMOVED"}])
    );
    let bad = server
        .graphql(
            r#"{ schemaDiff(dataset: {namespace: "sales-db", name: "orders"}, from: "abc", to: "def") { verdict } }"#,
            json!({}),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "from");
    drop(watch);
    server.shutdown().await;
}

#[tokio::test]
async fn an_added_column_is_risky_only_when_someone_reads_by_position() {
    let server = start_server().await;
    let orders_v1: Value = serde_json::from_str(ORDERS_V1).unwrap();
    let load = event(
        1,
        "2024-03-01T00:00:00Z",
        ("sales-db", "load_orders"),
        &[("sales-db", "orders_raw")],
        ("sales-db", "orders"),
        json!({"schema": schema_facet(orders_v1.clone())}),
    );
    assert_eq!(server.post_event(&load).await.0, 201);
    let mut added = orders_v1.as_array().unwrap().clone();
    added.push(json!({"name": "channel", "type": "string"}));
    let check = r#"query($schema: String!) { checkChange(dataset: {namespace: "sales-db", name: "orders"}, schema: $schema) {
        verdict changes { kind verdict positionalRisk impacts { use job { name } dataset { name } } } } }"#;
    let proposed = json!({"fields": added}).to_string();
    let before = server.graphql_data(check, json!({"schema": proposed})).await;
    assert_eq!(before["checkChange"]["verdict"], "SAFE", "{before}");
    assert_eq!(before["checkChange"]["changes"][0]["positionalRisk"], true);

    // A consumer that reads `SELECT *` makes the same change RISKY, and is named.
    let mut snapshot = event(
        2,
        "2024-03-01T01:00:00Z",
        ("mkt-db", "snapshot"),
        &[("sales-db", "orders")],
        ("mkt-db", "orders_snapshot"),
        json!({}),
    );
    snapshot["job"]["facets"] = json!({"sql": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json",
                                                "query": "INSERT INTO orders_snapshot\n  SELECT *\n  FROM orders"}});
    assert_eq!(server.post_event(&snapshot).await.0, 201);
    let after = server.graphql_data(check, json!({"schema": proposed})).await;
    assert_eq!(after["checkChange"]["verdict"], "RISKY", "{after}");
    assert_eq!(
        after["checkChange"]["changes"][0]["impacts"],
        json!([{"use": "POSITIONAL", "job": {"name": "snapshot"}, "dataset": {"name": "orders_snapshot"}}])
    );
    server.shutdown().await;
}

/// `sales-db:orders` (order_id, amount) and `names.len()` datasets copying its `order_id`, each
/// written by a job of its own name; posted in batches of 250.
async fn orders_and_copies(server: &TestServer, names: &[String]) {
    let v1 = json!([{"name": "order_id", "type": "bigint"}, {"name": "amount", "type": "decimal(10,2)"}]);
    let first = event(
        1,
        "2024-03-01T00:00:00Z",
        ("sales-db", "load_orders"),
        &[("sales-db", "orders_raw")],
        ("sales-db", "orders"),
        json!({"schema": schema_facet(v1)}),
    );
    assert_eq!(server.post_event(&first).await.0, 201);
    let copies: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(copy, name)| {
            event(
                2 + copy as u32,
                "2024-03-01T01:00:00Z",
                ("mkt-db", name),
                &[("sales-db", "orders")],
                ("mkt-db", name),
                json!({"columnLineage": lineage(&[("order_id", "order_id", "DIRECT", "IDENTITY")], &[])}),
            )
        })
        .collect();
    for batch in copies.chunks(250) {
        let (status, body) = crate::support::post_json(&server.url("/api/v1/lineage/batch"), &json!(batch)).await;
        assert_eq!((status, &body["refused"]), (200, &json!(0)), "{body}");
    }
}

/// A change seen in the wild on a column many datasets copy: the recorded report lists the
/// nearest 100 of each list and counts them all (the writer builds it before the event's
/// acknowledgement), and `schemaDiff` of the recorded versions lists every impact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_change_of_a_hub_lists_the_nearest_and_counts_everything() {
    const COPIES: usize = 130;
    let server = start_server().await;
    let names: Vec<String> = (0..COPIES).map(|copy| format!("copy_{copy:03}")).collect();
    orders_and_copies(&server, &names).await;
    let dropped = event(
        1000,
        "2024-03-02T00:00:00Z",
        ("sales-db", "load_orders"),
        &[("sales-db", "orders_raw")],
        ("sales-db", "orders"),
        json!({"schema": schema_facet(json!([{"name": "amount", "type": "decimal(10,2)"}]))}),
    );
    assert_eq!(server.post_event(&dropped).await.0, 201);

    let recorded = server
        .graphql_data("{ schemaChanges { verdict fromVersion toVersion report } }", json!({}))
        .await["schemaChanges"]
        .clone();
    assert_eq!(recorded.as_array().unwrap().len(), 1, "{recorded}");
    let record = &recorded[0];
    assert_eq!(record["verdict"], "BREAKING");
    let report = &record["report"];
    let change = &report["changes"][0];
    assert_eq!(change["path"], "order_id");
    assert_eq!(change["impactCount"], COPIES);
    let impacts = change["impacts"].as_array().unwrap();
    assert_eq!(impacts.len(), 100);
    assert_eq!(report["affectedDatasetCount"], COPIES);
    assert_eq!(report["affectedDatasets"].as_array().unwrap().len(), 100);
    assert_eq!(report["affectedJobCount"], COPIES);
    assert_eq!(report["listsComplete"], false);
    let grouped: u64 = report["groups"].as_array().unwrap().iter().map(|g| g["datasetCount"].as_u64().unwrap()).sum();
    assert_eq!(grouped, COPIES as u64);

    // The recorded versions diffed now: every impact, the recorded ones first.
    let diff = server
        .graphql_data(
            r#"query($from: String!, $to: String!) { schemaDiff(dataset: {namespace: "sales-db", name: "orders"}, from: $from, to: $to) {
                changes { path impactCount impacts { dataset { name } field job { name } use } } json } }"#,
            json!({"from": record["fromVersion"], "to": record["toVersion"]}),
        )
        .await;
    assert_eq!(diff["schemaDiff"]["changes"][0]["impactCount"], COPIES);
    let all = diff["schemaDiff"]["changes"][0]["impacts"].as_array().unwrap();
    assert_eq!(all.len(), COPIES);
    let names = |list: &[Value]| -> Vec<String> {
        list.iter().map(|impact| impact["dataset"]["name"].as_str().unwrap().to_owned()).collect()
    };
    let expected: Vec<String> = (0..COPIES).map(|copy| format!("copy_{copy:03}")).collect();
    assert_eq!(names(all), expected);
    assert_eq!(names(impacts), expected[..100]);
    assert!(all.iter().all(|impact| impact["use"] == "DIRECT" && impact["field"] == "order_id"), "{all:?}");
    assert_eq!(all[7]["job"]["name"], "copy_007");
    assert_eq!(diff["schemaDiff"]["json"]["listsComplete"], true);
    assert_eq!(diff["schemaDiff"]["json"]["changes"][0]["impactCount"], COPIES);
}

/// A change reaching more than a gRPC message's default size (4 MiB), and more than the 64 MiB
/// the server sends of other answers (a hub's report at 1M is 96 MB): `tributary check` still
/// prints the whole JSON report (the same as GraphQL's) and a markdown that fits a pull
/// request comment, listing the nearest impacts and counting the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_checks_a_change_whose_report_is_larger_than_a_grpc_message() {
    const COPIES: usize = 2_400;
    let server = start_server().await;
    // Names of ~4 KB (the most a name may have): each impact's dataset, job and path name
    // them, so the report's JSON is some 68 MB.
    let padding = "x".repeat(4_000);
    let names: Vec<String> = (0..COPIES).map(|copy| format!("copy_{copy:04}_{padding}")).collect();
    orders_and_copies(&server, &names).await;
    let proposed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(proposed.path(), r#"{"fields": [{"name": "amount", "type": "decimal(10,2)"}]}"#).unwrap();
    let check = server
        .graphql_data(
            r#"query($schema: String!) { checkChange(dataset: {namespace: "sales-db", name: "orders"}, schema: $schema) {
                markdown json } }"#,
            json!({"schema": std::fs::read_to_string(proposed.path()).unwrap()}),
        )
        .await["checkChange"]
        .clone();
    let run_cli = |output: &'static str| {
        let (url, schema) = (server.base_url.clone(), proposed.path().to_owned());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
                .args(["check", "--server", &url, "--namespace", "sales-db", "--name", "orders", "--schema"])
                .arg(schema)
                .args(["--fail-on", "never", "--output", output])
                .output()
                .unwrap()
        })
    };
    let json_out = run_cli("json").await.unwrap();
    assert_eq!(json_out.status.code(), Some(0), "{}", String::from_utf8_lossy(&json_out.stderr));
    assert!(
        json_out.stdout.len() > tributary_grpc::MAX_MESSAGE_BYTES,
        "a report of {} bytes is no test of the limits",
        json_out.stdout.len()
    );
    let report: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(report, check["json"]);
    assert_eq!(report["changes"][0]["impactCount"], COPIES);
    assert_eq!(report["affectedDatasets"].as_array().unwrap().len(), COPIES);

    let markdown_out = run_cli("markdown").await.unwrap();
    assert_eq!(markdown_out.status.code(), Some(0), "{}", String::from_utf8_lossy(&markdown_out.stderr));
    let markdown = String::from_utf8(markdown_out.stdout).unwrap();
    assert_eq!(markdown, check["markdown"].as_str().unwrap());
    assert!(markdown.len() <= tributary_service::MARKDOWN_LIMIT, "{} bytes", markdown.len());
    let listed = markdown.lines().filter(|line| line.starts_with("- DIRECT `mkt-db:copy_")).count();
    assert!((1..=20).contains(&listed), "{listed} impacts listed");
    assert!(
        markdown.contains(&format!("- … and {} more, farther away (the nearest {listed} are listed", COPIES - listed))
    );
    server.shutdown().await;
}

/// A check's lists (changes with their impacts, the affected datasets and jobs, the groups with
/// their owners and nodes) are written as plain JSON over HTTP: byte for byte what the generic
/// path writes for the same fields through fragments, with aliases and `__typename`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checks_lists_are_written_as_the_generic_path_writes_them() {
    let server = start_server().await;
    pipeline(&server).await;
    // One job writing two datasets: a group whose dataset and job counts differ.
    let mut fanout =
        event(9, "2024-03-01T03:00:00Z", ("mkt-db", "fanout"), &[("sales-db", "orders")], ("mkt-db", "a"), json!({}));
    fanout["outputs"] = json!([{"namespace": "mkt-db", "name": "a"}, {"namespace": "mkt-db", "name": "b"}]);
    assert_eq!(server.post_event(&fanout).await.0, 201);
    let proposed =
        serde_json::to_string(&std::fs::read_to_string(check_file("orders-proposed.json")).unwrap()).unwrap();
    let node = "kind namespace n: name __typename";
    let impact = format!("dataset {{ {node} }} field job {{ {node} }} distance use source path i: __typename");
    let change = format!(
        "path kind rule before after readers history writers verdict positionalRisk summary impactCount impacts {{ {impact} }} __typename"
    );
    let group = format!(
        "product domain namespace owners {{ name role source __typename }} datasetCount jobCount datasets {{ {node} }} jobs {{ name }} g: __typename"
    );
    let plain = server
        .graphql_text(format!(
            "{{ checkChange(dataset: {{namespace: \"sales-db\", name: \"orders\"}}, schema: {proposed}) {{
            changes {{ {change} }} affectedDatasets {{ {node} }} affectedJobs {{ name }} groups {{ {group} }} }} }}"
        ))
        .await;
    let generic = server.graphql_text(format!(
        "{{ checkChange(dataset: {{namespace: \"sales-db\", name: \"orders\"}}, schema: {proposed}) {{
            changes {{ ...C }} affectedDatasets {{ ...N }} affectedJobs {{ ... on NodeRef {{ name }} }} groups {{ ...G }} }} }}
         fragment C on CheckedChange {{ {change} }} fragment N on NodeRef {{ {node} }} fragment G on ImpactGroup {{ {group} }}"
    ))
    .await;
    assert_eq!(plain, generic);
    // The answer has what the comparison is about: impacts with and without a job, owners.
    assert!(plain.contains(r#""use":"UNVERIFIED""#) && plain.contains(r#""job":{"kind":"JOB""#), "{plain}");
    assert!(plain.contains("team:finance"), "{plain}");
    assert!(plain.contains(r#""datasetCount":4,"jobCount":3"#), "{plain}");
    server.shutdown().await;
}
