//! `impactSummary` / `Mesh/GetImpactSummary`: totals, groups and pages agree with the full
//! `impact` answer, and GraphQL and gRPC agree with each other.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tributary_grpc::proto;

use crate::mesh::{APPLY_DOMAIN, APPLY_PRODUCT};
use crate::support::{run_event, run_id, start_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_what_the_full_impact_lists_and_pages_through_it() {
    let server = start_server().await;
    for domain in ["sales", "finance"] {
        let descriptor = format!(
            "kind: Domain\nid: {domain}\nname: {domain}\nowners: [{{name: head-of-{domain}}}]\nnamespaces: [{domain}-db]\n"
        );
        assert!(server.graphql(APPLY_DOMAIN, json!({"d": descriptor})).await.get("errors").is_none());
    }
    let product = "kind: DataProduct\nid: finance.ledger\nname: Ledger\ndomain: finance\nowners: [{name: carol}]\n\
                   outputPorts:\n  - name: ledger\n    dataset: {namespace: finance-db, name: out_7_0}\n";
    let applied = server.graphql(APPLY_PRODUCT, json!({"d": product})).await;
    assert!(applied.get("errors").is_none(), "{applied}");
    // A hub read by 120 jobs, each writing 3 datasets: 40 jobs in each of sales, finance and a
    // namespace of no domain; one finance dataset is a product's port.
    let mut events = Vec::new();
    for n in 0..120u32 {
        let namespace = ["sales-db", "finance-db", "scratch"][(n % 3) as usize];
        let mut event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n + 1), &format!("job_{n}"), &[], &[]);
        event["job"]["namespace"] = namespace.into();
        event["inputs"] = json!([{"namespace": "hub-db", "name": "hub"}]);
        event["outputs"] =
            json!((0..3).map(|k| json!({"namespace": namespace, "name": format!("out_{n}_{k}")})).collect::<Vec<_>>());
        events.push(event);
    }
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/lineage/batch"))
        .json(&Value::Array(events))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let start = json!({"kind": "DATASET", "namespace": "hub-db", "name": "hub"});
    let full = server
        .graphql_data(
            "query($s: NodeInput!) { impact(start: $s) { lineage { nodes { kind namespace name distance } }
               groups { product domain namespace datasetCount jobCount } } }",
            json!({"s": start}),
        )
        .await;
    let summary_query = "query($s: NodeInput!, $after: String) { impactSummary(start: $s, first: 50, after: $after) {
        datasetCount jobCount truncated nextCursor groups { product domain namespace datasetCount jobCount owners { name } }
        nodes { kind namespace name distance } watermark { sequence } } }";
    let first = server.graphql_data(summary_query, json!({"s": start})).await["impactSummary"].clone();
    assert_eq!(first["datasetCount"], 360);
    assert_eq!(first["jobCount"], 120);
    assert_eq!(first["truncated"], false);
    // Groups: the same counts as the full answer's groups, largest first.
    let key = |g: &Value| (g["product"].to_string(), g["domain"].to_string(), g["namespace"].to_string());
    let mut full_groups: Vec<(String, String, String, u64, u64)> = full["impact"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let (p, d, n) = key(g);
            (p, d, n, g["datasetCount"].as_u64().unwrap(), g["jobCount"].as_u64().unwrap())
        })
        .collect();
    let mut summary_groups: Vec<(String, String, String, u64, u64)> = first["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let (p, d, n) = key(g);
            (p, d, n, g["datasetCount"].as_u64().unwrap(), g["jobCount"].as_u64().unwrap())
        })
        .collect();
    let sizes: Vec<u64> = summary_groups.iter().map(|g| g.3 + g.4).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest groups first: {sizes:?}");
    full_groups.sort();
    summary_groups.sort();
    assert_eq!(summary_groups, full_groups);
    let ledger = first["groups"].as_array().unwrap().iter().find(|g| g["product"] == "finance.ledger").unwrap();
    assert_eq!(ledger["datasetCount"], 1);
    assert_eq!(ledger["owners"], json!([{"name": "carol"}, {"name": "head-of-finance"}]));
    // Pages: 50 at a time, nearest first, together exactly the full answer's nodes.
    let mut paged: BTreeSet<String> = BTreeSet::new();
    let mut page = first.clone();
    let mut pages = 0;
    loop {
        pages += 1;
        for node in page["nodes"].as_array().unwrap() {
            assert!(paged.insert(format!("{}:{}", node["namespace"], node["name"])), "a node twice: {node}");
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                page = server.graphql_data(summary_query, json!({"s": start, "after": cursor})).await["impactSummary"]
                    .clone()
            }
            None => break,
        }
    }
    assert_eq!(pages, 10, "480 nodes, 50 a page");
    let listed: BTreeSet<String> = full["impact"]["lineage"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["distance"] != 0)
        .map(|node| format!("{}:{}", node["namespace"], node["name"]))
        .collect();
    assert_eq!(paged, listed);
    let distances: Vec<u64> =
        first["nodes"].as_array().unwrap().iter().map(|n| n["distance"].as_u64().unwrap()).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "nearest first");

    // gRPC gives the same summary.
    let mut mesh = proto::mesh_client::MeshClient::connect(server.base_url.clone()).await.unwrap();
    let grpc = mesh
        .get_impact_summary(proto::ImpactSummaryRequest {
            start: Some(proto::NodeRef {
                kind: proto::NodeKind::Dataset as i32,
                namespace: "hub-db".into(),
                name: "hub".into(),
            }),
            direction: proto::Direction::Downstream as i32,
            page_size: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((grpc.dataset_count, grpc.job_count), (360, 120));
    assert_eq!(grpc.groups.len(), first["groups"].as_array().unwrap().len());
    let grpc_first: Vec<String> = grpc.nodes.iter().map(|n| n.node.as_ref().unwrap().name.clone()).collect::<Vec<_>>();
    let graphql_first: Vec<String> =
        first["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(grpc_first, graphql_first);
    assert_eq!(grpc.next_page_token, first["nextCursor"].as_str().unwrap());

    // Groups are built directly for a plain selection; any selection gives the same bytes.
    let raw = |groups: &str, fragments: &str| {
        let query = format!(
            r#"{{ impactSummary(start: {{kind: DATASET, namespace: "hub-db", name: "hub"}}, first: 1) {{ groups {groups} }} }} {fragments}"#
        );
        let url = server.url("/graphql");
        async move {
            let response = reqwest::Client::new().post(url).json(&json!({"query": query})).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.text().await.unwrap()
        }
    };
    let fields =
        "product d: domain namespace datasetCount jobCount t: __typename owners { name role source __typename }";
    let plain = raw(&format!("{{ {fields} }}"), "").await;
    assert!(
        plain.contains(
            r#""owners":[{"name":"carol","role":null,"source":"product finance.ledger","__typename":"Owner"}"#
        ),
        "{plain}"
    );
    assert!(plain.contains(r#""t":"ImpactCount""#), "{plain}");
    for (groups, fragments) in [
        ("{ ...G }".to_owned(), format!("fragment G on ImpactCount {{ {fields} }}")),
        (format!("{{ ... on ImpactCount {{ {fields} }} }}"), String::new()),
        (
            "{ product d: domain namespace datasetCount jobCount t: __typename owners { ...O } }".to_owned(),
            "fragment O on Owner { name role source __typename }".to_owned(),
        ),
        (
            "{ product d: domain @include(if: true) namespace datasetCount jobCount t: __typename owners { name role source __typename } }"
                .to_owned(),
            String::new(),
        ),
    ] {
        assert_eq!(raw(&groups, &fragments).await, plain, "{groups}");
    }
    // Bad input names the field.
    let body = server
        .graphql(
            "{ impactSummary(start: {kind: DATASET, namespace: \"hub-db\", name: \"hub\"}, first: 0) { jobCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");
    let body = server.graphql("{ impactSummary(start: {kind: DATASET, namespace: \"hub-db\", name: \"hub\"}, after: \"x\") { jobCount } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "after", "{body}");
    server.shutdown().await;
}
