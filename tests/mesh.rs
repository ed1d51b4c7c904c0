//! The mesh end to end: three domains, products applied from files, lineage ingested,
//! derived product lineage, ownership with provenance, every policy kind caught (and not
//! raised where it should not be), a rejected apply leaving the previous version, freshness.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tributary_server::ServiceConfig;

use crate::support::{TestServer, run_event, run_id, start_server_with};

fn mesh_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mesh").join(name)
}

pub(crate) fn read(name: &str) -> String {
    std::fs::read_to_string(mesh_file(name)).unwrap()
}

pub(crate) async fn mesh_server(dir: &Path) -> TestServer {
    let policies = tributary_server::governance::parse_policy_file(&read("policies.yaml")).unwrap();
    start_server_with(dir, ServiceConfig { policies, ..ServiceConfig::default() }).await
}

pub(crate) const APPLY_PRODUCT: &str =
    "mutation($d: String!) { applyProduct(descriptor: $d) { id version changed violations { policy reason } } }";
pub(crate) const APPLY_DOMAIN: &str = "mutation($d: String!) { applyDomain(descriptor: $d) { id version changed } }";

fn ds(namespace: &str, name: &str) -> Value {
    json!({"namespace": namespace, "name": name})
}

fn column(output: &str, namespace: &str, name: &str, field: &str, subtype: &str, masking: bool) -> (String, Value) {
    (
        output.to_owned(),
        json!({"namespace": namespace, "name": name, "field": field,
               "transformations": [{"type": "DIRECT", "subtype": subtype, "masking": masking}]}),
    )
}

fn column_lineage_facet(entries: Vec<(String, Value)>) -> Value {
    let mut fields = serde_json::Map::new();
    for (output, input) in entries {
        fields.entry(output).or_insert_with(|| json!({"inputFields": []}))["inputFields"]
            .as_array_mut()
            .unwrap()
            .push(input);
    }
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json", "fields": fields})
}

/// sales: load_orders(orders_raw) -> orders.  marketing: build_stats(orders, orders_raw) -> campaign_stats
/// (email_domain from customer_email unmasked, hashed_email masked).  finance: build_ledger(orders) -> ledger.
pub(crate) async fn ingest_lineage(server: &TestServer) {
    let now = tributary_server::model::Timestamp::now().to_rfc3339();
    let mut load = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load_orders", &[], &[]);
    load["job"]["namespace"] = "sales-db".into();
    load["inputs"] = json!([ds("sales-db", "orders_raw")]);
    load["outputs"] = json!([ds("sales-db", "orders")]);
    load["outputs"][0]["facets"] = json!({"ownership": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/OwnershipDatasetFacet.json",
        "owners": [{"name": "team:order-pipeline", "type": "TEAM"}]}});

    let mut stats = run_event("COMPLETE", &now, &run_id(2), "build_stats", &[], &[]);
    stats["job"]["namespace"] = "mkt-db".into();
    stats["inputs"] = json!([ds("sales-db", "orders"), ds("sales-db", "orders_raw")]);
    stats["outputs"] = json!([ds("mkt-db", "campaign_stats")]);
    stats["outputs"][0]["facets"] = json!({"columnLineage": column_lineage_facet(vec![
        column("email_domain", "sales-db", "orders", "customer_email", "TRANSFORMATION", false),
        column("hashed_email", "sales-db", "orders", "customer_email", "TRANSFORMATION", true),
        column("revenue", "sales-db", "orders", "amount", "AGGREGATION", false),
    ])});

    let mut ledger = run_event("COMPLETE", &now, &run_id(3), "build_ledger", &[], &[]);
    ledger["job"]["namespace"] = "fin-db".into();
    ledger["inputs"] = json!([ds("sales-db", "orders")]);
    ledger["outputs"] = json!([ds("fin-db", "ledger")]);
    ledger["outputs"][0]["facets"] = json!({"columnLineage": column_lineage_facet(vec![
        column("revenue", "sales-db", "orders", "amount", "AGGREGATION", false),
    ])});
    for event in [load, stats, ledger] {
        let (status, body) = server.post_event(&event).await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_domain_mesh_end_to_end() {
    let temp = tempfile::tempdir().unwrap();
    let server = mesh_server(temp.path()).await;

    // Domains, applied twice: the second time changes nothing.
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        let first = server.graphql_data(APPLY_DOMAIN, json!({"d": read(file)})).await;
        assert_eq!(first["applyDomain"]["changed"], true);
        let again = server.graphql_data(APPLY_DOMAIN, json!({"d": read(file)})).await;
        assert_eq!(again["applyDomain"], json!({"id": first["applyDomain"]["id"], "version": 1, "changed": false}));
    }
    // A product of an unknown domain is refused with the field named.
    let unknown = server
        .graphql(APPLY_PRODUCT, json!({"d": read("product-ledger.yaml").replace("domain: finance", "domain: hr")}))
        .await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{unknown}");
    assert_eq!(unknown["errors"][0]["extensions"]["field"], "domain");

    // Products, one through the CLI over gRPC.
    for file in ["product-orders.yaml", "product-ledger.yaml"] {
        let applied = server.graphql_data(APPLY_PRODUCT, json!({"d": read(file)})).await;
        assert_eq!(applied["applyProduct"]["version"], 1, "{applied}");
    }
    // The CLI runs as its own process while this runtime keeps serving.
    let url = server.base_url.clone();
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["product", "apply", "--server", &url, "-f"])
            .arg(mesh_file("product-campaigns.yaml"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert_eq!(String::from_utf8_lossy(&cli.stdout).trim(), "product `marketing.campaigns` applied as version 1");

    ingest_lineage(&server).await;

    // Derived product and domain lineage.
    let lineage = server
        .graphql_data(
            "{ productLineage { from to via { from { name } to { name } } } domainLineage { from to } }",
            json!({}),
        )
        .await;
    assert_eq!(
        lineage["productLineage"],
        json!([
            {"from": "sales.orders", "to": "finance.ledger", "via": [{"from": {"name": "orders"}, "to": {"name": "ledger"}}]},
            {"from": "sales.orders", "to": "marketing.campaigns", "via": [
                {"from": {"name": "orders"}, "to": {"name": "campaign_stats"}},
                {"from": {"name": "orders_raw"}, "to": {"name": "campaign_stats"}}]}
        ])
    );
    assert_eq!(
        lineage["domainLineage"],
        json!([{"from": "sales", "to": "finance"}, {"from": "sales", "to": "marketing"}])
    );
    // Written as plain lists (on a read thread): byte for byte what the generic path writes
    // for the same fields through fragments, with aliases and `__typename`.
    // One top-level field a request: async-graphql may write two in either order.
    let node = "kind namespace n: name __typename";
    let plain = server
        .graphql_text(format!(
            "{{ productLineage {{ f: from to via {{ from {{ {node} }} to {{ {node} }} t: __typename }} __typename }} }}"
        ))
        .await;
    let generic = server.graphql_text(format!(
        "{{ productLineage {{ ...E }} }}
            fragment E on MeshEdge {{ f: from to via {{ from {{ {node} }} to {{ {node} }} t: __typename }} __typename }}"
    ))
    .await;
    assert_eq!(plain, generic);
    let domains = server.graphql_text("{ domainLineage { from to via { to { name } } } }".to_owned()).await;
    let generic_domains = server
        .graphql_text(
            "{ domainLineage { ... on MeshEdge { from to via { to { ...N } } } } } fragment N on NodeRef { name }"
                .to_owned(),
        )
        .await;
    assert_eq!(domains, generic_domains);
    assert!(
        plain.contains(
            r#"{"f":"sales.orders","to":"finance.ledger","via":[{"from":{"kind":"DATASET","namespace":"sales-db","n":"orders","__typename":"NodeRef"},"#
        ),
        "{plain}"
    );
    assert!(plain.contains(r#""t":"DatasetLink"}],"__typename":"MeshEdge"}"#), "{plain}");
    // One request asks the service for product lineage once, however many fields need it
    // (domain lineage is grouped from the same one).
    let asked = || async {
        let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|line| line.starts_with("tributary_product_lineage_cache_total{"))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum::<f64>()
    };
    let before = asked().await;
    let both = server
        .graphql_data(
            "{ productLineage { from } domainLineage { from } products { id upstreamProducts downstreamProducts } }",
            json!({}),
        )
        .await;
    assert_eq!(both["products"].as_array().unwrap().len(), 3, "{both}");
    assert_eq!(asked().await - before, 1.0, "{both}");

    // Ownership with provenance, and what an owner owns.
    let owners = server
        .graphql_data(
            r#"{ owners(node: {kind: DATASET, namespace: "sales-db", name: "orders"}) { name role source } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        owners["owners"],
        json!([
            {"name": "team:order-pipeline", "role": "TEAM", "source": "ownership facet of dataset sales-db:orders"},
            {"name": "alice@example.com", "role": "technical", "source": "product sales.orders"},
            {"name": "head-of-sales", "role": "business", "source": "domain sales"}
        ])
    );
    let owned = server.graphql_data(r#"{ ownedBy(owner: "team:order-pipeline") { datasets { name } products } alice: ownedBy(owner: "alice@example.com") { products } }"#, json!({})).await;
    assert_eq!(owned["ownedBy"]["datasets"], json!([{"name": "orders"}]));
    assert_eq!(owned["alice"]["products"], json!(["sales.orders"]));

    // Policies on ingested lineage: the unmasked PII path into the public product and the
    // read of another domain's internal table; not the masked column, not the port reads.
    let violations = server
        .graphql_data(
            "{ violations { policy kind blocking subject reason path job { name } product port since dataset { namespace name } column columnPath { namespace name field } } }",
            json!({}),
        )
        .await;
    let list = violations["violations"].as_array().unwrap();
    let pii: Vec<&Value> = list.iter().filter(|v| v["policy"] == "no-pii-in-public").collect();
    assert_eq!(pii.len(), 1, "{violations}");
    assert_eq!(pii[0]["path"], json!(["sales-db:orders.customer_email", "mkt-db:campaign_stats.email_domain"]));
    assert_eq!(pii[0]["product"], "marketing.campaigns");
    // Structured fields: no `namespace:name.field` strings to parse.
    assert_eq!(pii[0]["dataset"], json!({"namespace": "mkt-db", "name": "campaign_stats"}));
    assert_eq!(pii[0]["column"], "email_domain");
    assert_eq!(
        pii[0]["columnPath"],
        json!([
            {"namespace": "sales-db", "name": "orders", "field": "customer_email"},
            {"namespace": "mkt-db", "name": "campaign_stats", "field": "email_domain"}
        ])
    );
    assert!(pii[0]["since"].is_string());
    let cross: Vec<&Value> = list.iter().filter(|v| v["policy"] == "reads-through-ports").collect();
    assert_eq!(cross.len(), 1, "{violations}");
    assert_eq!(cross[0]["job"]["name"], "build_stats");
    assert!(
        cross[0]["reason"].as_str().unwrap().contains("reads `sales-db:orders_raw` of domain `sales`"),
        "{}",
        cross[0]["reason"]
    );
    // Freshness: orders were last written in 2024 against a 1h SLA; the others are fresh or have no SLA.
    let stale: Vec<&Value> = list.iter().filter(|v| v["policy"] == "fresh-ports").collect();
    assert_eq!(stale.len(), 1, "{violations}");
    assert_eq!(stale[0]["product"], "sales.orders");
    let freshness = server.graphql_data("{ freshness { product port status lastSuccess } }", json!({})).await;
    let statuses: Vec<(String, String)> = freshness["freshness"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["product"].as_str().unwrap().to_owned(), f["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("finance.ledger".into(), "NO_SLA".into()),
            ("marketing.campaigns".into(), "FRESH".into()),
            ("sales.orders".into(), "STALE".into())
        ]
    );

    // A breaking contract change without a new major is rejected with every reason, and an
    // undocumented port too; the previous version stays.
    let breaking = read("product-orders.yaml")
        .replace("          - {name: amount, type: decimal(12,2)}\n", "")
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("    description: Confirmed orders\n", "");
    let rejected = server.graphql(APPLY_PRODUCT, json!({"d": breaking})).await;
    let error = &rejected["errors"][0];
    assert_eq!(error["extensions"]["code"], "POLICY_VIOLATION", "{rejected}");
    let reasons: Vec<&str> =
        error["extensions"]["violations"].as_array().unwrap().iter().map(|v| v["policy"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["ports-documented", "breaking-needs-major"]);
    let product = server
        .graphql_data(r#"{ product(id: "sales.orders") { version outputPorts { contract { version } } } }"#, json!({}))
        .await;
    assert_eq!(product["product"], json!({"version": 1, "outputPorts": [{"contract": {"version": "1.0.0"}}]}));

    // With a new major and the description back, it is accepted as version 2 and diffable.
    let major = read("product-orders.yaml")
        .replace("          - {name: amount, type: decimal(12,2)}\n", "")
        .replace("version: 1.0.0", "version: 2.0.0");
    let accepted = server.graphql_data(APPLY_PRODUCT, json!({"d": major})).await;
    assert_eq!(accepted["applyProduct"]["version"], 2);
    let history = server
        .graphql_data(
            r#"{ product(id: "sales.orders") { versions { version } diff(from: 1, to: 2) { path before after } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(history["product"]["versions"], json!([{"version": 1}, {"version": 2}]));
    let paths: Vec<&str> =
        history["product"]["diff"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["outputPorts[0].contract.schema.fields[2]", "outputPorts[0].contract.version"]);

    // PII declared inside a public product's own port is refused at apply time.
    let public_pii = read("product-ledger.yaml")
        .replace("classification: confidential", "classification: public")
        .replace("{name: day, type: date}", "{name: day, type: date, tags: [PII]}");
    let refused = server.graphql(APPLY_PRODUCT, json!({"d": public_pii})).await;
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["policy"], "no-pii-in-public", "{refused}");

    // Impact of the orders table, grouped product -> domain -> owners.
    let impact = server
        .graphql_data(
            r#"{ impact(start: {kind: DATASET, namespace: "sales-db", name: "orders"}) {
                 groups { product domain namespace datasetCount jobCount owners { name source } } } }"#,
            json!({}),
        )
        .await;
    let groups = impact["impact"]["groups"].as_array().unwrap();
    let summary: Vec<String> = groups
        .iter()
        .map(|g| {
            format!(
                "{}/{} d={} j={}",
                g["product"].as_str().unwrap_or("-"),
                g["domain"].as_str().unwrap_or("-"),
                g["datasetCount"],
                g["jobCount"]
            )
        })
        .collect();
    assert_eq!(summary, ["finance.ledger/finance d=1 j=1", "marketing.campaigns/marketing d=1 j=1"]);
    let marketing_owners: Vec<&str> =
        groups[1]["owners"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(marketing_owners, ["bob@example.com", "cmo-office"]);
    // Discovery by text, owner and domain, paged.
    let search = |filter: &str| {
        format!("{{ search({filter}) {{ results {{ kind product node {{ namespace name }} }} nextCursor }} }}")
    };
    let found = server.graphql_data(&search(r#"text: "orders""#), json!({})).await;
    let rendered: Vec<String> = found["search"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["product"].as_str().map(str::to_owned).unwrap_or_else(|| {
                format!("{}:{}", r["node"]["namespace"].as_str().unwrap(), r["node"]["name"].as_str().unwrap())
            })
        })
        .collect();
    assert_eq!(rendered, ["sales.orders", "sales-db:orders", "sales-db:orders_raw", "sales-db:load_orders"]);
    let by_owner = server.graphql_data(&search(r#"owner: "team:order-pipeline""#), json!({})).await;
    assert_eq!(
        by_owner["search"]["results"],
        json!([{"kind": "DATASET", "product": null, "node": {"namespace": "sales-db", "name": "orders"}}])
    );
    let by_domain = server.graphql_data(&search(r#"domain: "marketing", kinds: [DATASET, PRODUCT]"#), json!({})).await;
    assert_eq!(by_domain["search"]["results"].as_array().unwrap().len(), 2, "{by_domain}");
    let first_page = server.graphql_data(&search(r#"text: "orders", first: 3"#), json!({})).await;
    assert_eq!(first_page["search"]["nextCursor"], "3");
    let mut mesh_client =
        tributary_grpc::proto::mesh_client::MeshClient::connect(server.base_url.clone()).await.unwrap();
    let grpc_search = mesh_client
        .search(tributary_grpc::proto::SearchRequest { text: "orders".into(), page_size: 10, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_search.results.len(), 4);
    assert_eq!(grpc_search.results[0].product, "sales.orders");
    drop(mesh_client);
    let no_filter = server.graphql("{ search { results { kind } } }", json!({})).await;
    assert_eq!(no_filter["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    server.shutdown().await;

    // After a restart: same products, same violations.
    let server = mesh_server(temp.path()).await;
    let again = server.graphql_data("{ products { id version } violations { policy } }", json!({})).await;
    assert_eq!(again["products"].as_array().unwrap().len(), 3);
    assert_eq!(again["violations"].as_array().unwrap().len(), 3);
    server.shutdown().await;
}

/// A blocking policy cannot be slipped past by the order of applies: whichever of the public
/// product and the product whose PII column reaches it comes second is refused, naming the
/// public product's port.
#[tokio::test]
async fn a_blocking_policy_cannot_be_bypassed_by_apply_order() {
    for (first, second) in
        [("product-campaigns.yaml", "product-orders.yaml"), ("product-orders.yaml", "product-campaigns.yaml")]
    {
        let temp = tempfile::tempdir().unwrap();
        let server = mesh_server(temp.path()).await;
        for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
            server.graphql_data(APPLY_DOMAIN, json!({"d": read(file)})).await;
        }
        ingest_lineage(&server).await;
        let accepted = server.graphql_data(APPLY_PRODUCT, json!({"d": read(first)})).await;
        assert_eq!(accepted["applyProduct"]["version"], 1, "{first} first: {accepted}");
        let refused = server.graphql(APPLY_PRODUCT, json!({"d": read(second)})).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "POLICY_VIOLATION", "{second} second: {refused}");
        let violations = refused["errors"][0]["extensions"]["violations"].as_array().unwrap();
        assert!(
            violations.iter().any(|v| v["policy"] == "no-pii-in-public" && v["product"] == "marketing.campaigns"),
            "{second} second: {refused}"
        );
        // Nothing of the refused product was installed.
        let products = server.graphql_data("{ products { id } }", json!({})).await;
        assert_eq!(products["products"].as_array().unwrap().len(), 1, "{products}");
        server.shutdown().await;
    }
}
