//! GraphQL and gRPC answer alike: the same mesh asked the same questions through both front
//! doors gives the same lineage, column lineage, product lineage and violations (both only
//! decode, call one service function and encode).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tributary_grpc::proto;

use crate::mesh::{APPLY_DOMAIN, APPLY_PRODUCT, ingest_lineage, mesh_server, read};

fn kind_name(kind: i32) -> &'static str {
    if kind == proto::NodeKind::Job as i32 { "JOB" } else { "DATASET" }
}

fn node_key(node: Option<&proto::NodeRef>) -> (String, String, String) {
    let node = node.expect("node");
    (kind_name(node.kind).to_owned(), node.namespace.clone(), node.name.clone())
}

fn gql_node(value: &Value) -> (String, String, String) {
    (
        value["kind"].as_str().unwrap().to_owned(),
        value["namespace"].as_str().unwrap().to_owned(),
        value["name"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_and_grpc_give_the_same_answers() {
    let temp = tempfile::tempdir().unwrap();
    let server = mesh_server(temp.path()).await;
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        server.graphql_data(APPLY_DOMAIN, json!({"d": read(file)})).await;
    }
    ingest_lineage(&server).await;
    for file in ["product-orders.yaml", "product-ledger.yaml"] {
        server.graphql_data(APPLY_PRODUCT, json!({"d": read(file)})).await;
    }
    let mut lineage_client = server.lineage_client().await;
    let mut mesh_client = proto::mesh_client::MeshClient::connect(server.base_url.clone()).await.unwrap();

    // Dataset lineage, both directions.
    for (direction, grpc_direction) in
        [("DOWNSTREAM", proto::Direction::Downstream), ("UPSTREAM", proto::Direction::Upstream)]
    {
        let data = server
            .graphql_data(
                &format!(
                    r#"{{ lineage(start: {{kind: DATASET, namespace: "sales-db", name: "orders"}}, direction: {direction}, depth: 5) {{
                        nodes {{ kind namespace name distance }} edges {{ from {{ kind namespace name }} to {{ kind namespace name }} kind }} }} }}"#
                ),
                json!({}),
            )
            .await;
        let gql_nodes: BTreeSet<_> = data["lineage"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (gql_node(n), n["distance"].as_u64().unwrap()))
            .collect();
        let gql_edges: BTreeSet<_> = data["lineage"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (gql_node(&e["from"]), gql_node(&e["to"]), e["kind"].as_str().unwrap().to_owned()))
            .collect();
        let answer = lineage_client
            .get_lineage(proto::LineageRequest {
                start: Some(proto::NodeRef {
                    kind: proto::NodeKind::Dataset as i32,
                    namespace: "sales-db".into(),
                    name: "orders".into(),
                }),
                direction: grpc_direction as i32,
                depth: 5,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let grpc_nodes: BTreeSet<_> =
            answer.nodes.iter().map(|n| (node_key(n.node.as_ref()), u64::from(n.distance))).collect();
        let grpc_edges: BTreeSet<_> =
            answer.edges.iter().map(|e| (node_key(e.from.as_ref()), node_key(e.to.as_ref()), e.kind.clone())).collect();
        assert!(gql_nodes.len() > 1, "{direction}: {data}");
        assert_eq!(gql_nodes, grpc_nodes, "{direction} nodes");
        assert_eq!(gql_edges, grpc_edges, "{direction} edges");
    }

    // Column lineage.
    let data = server
        .graphql_data(
            r#"{ columnLineage(dataset: {namespace: "sales-db", name: "orders"}, field: "customer_email") {
                columns { column { namespace name field } distance use masked source } } }"#,
            json!({}),
        )
        .await;
    let gql_columns: BTreeSet<_> = data["columnLineage"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["column"]["namespace"].as_str().unwrap().to_owned(),
                c["column"]["name"].as_str().unwrap().to_owned(),
                c["column"]["field"].as_str().unwrap().to_owned(),
                c["distance"].as_u64().unwrap(),
                c["use"].as_str().unwrap().to_owned(),
                c["masked"].as_bool().unwrap(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let answer = lineage_client
        .get_column_lineage(proto::ColumnLineageRequest {
            namespace: "sales-db".into(),
            name: "orders".into(),
            field: "customer_email".into(),
            direction: proto::Direction::Downstream as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let grpc_columns: BTreeSet<_> = answer
        .columns
        .iter()
        .map(|c| {
            let column = c.column.as_ref().unwrap();
            (
                column.namespace.clone(),
                column.name.clone(),
                column.field.clone(),
                u64::from(c.distance),
                c.r#use.clone(),
                c.masked,
                c.source.clone(),
            )
        })
        .collect();
    assert_eq!(gql_columns.len(), 2, "{data}");
    assert_eq!(gql_columns, grpc_columns, "column lineage");

    // Product and domain lineage.
    let data = server
        .graphql_data(
            "{ productLineage { from to via { from { name } to { name } } } domainLineage { from to } }",
            json!({}),
        )
        .await;
    let gql_products: BTreeSet<_> = data["productLineage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let via: Vec<(String, String)> = e["via"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v["from"]["name"].as_str().unwrap().to_owned(), v["to"]["name"].as_str().unwrap().to_owned()))
                .collect();
            (e["from"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned(), via)
        })
        .collect();
    let gql_domains: BTreeSet<_> = data["domainLineage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap().to_owned(), e["to"].as_str().unwrap().to_owned()))
        .collect();
    let answer = mesh_client.get_mesh_lineage(proto::MeshLineageRequest {}).await.unwrap().into_inner();
    let grpc_products: BTreeSet<_> = answer
        .products
        .iter()
        .map(|e| {
            let via: Vec<(String, String)> = e
                .via
                .iter()
                .map(|v| (v.from.as_ref().unwrap().name.clone(), v.to.as_ref().unwrap().name.clone()))
                .collect();
            (e.from.clone(), e.to.clone(), via)
        })
        .collect();
    let grpc_domains: BTreeSet<_> = answer.domains.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
    assert!(!gql_products.is_empty(), "{data}");
    assert_eq!(gql_products, grpc_products, "product lineage");
    assert_eq!(gql_domains, grpc_domains, "domain lineage");

    // Violations, all and filtered by policy.
    for policy in [None, Some("reads-through-ports")] {
        let data = server
            .graphql_data(
                "query($p: String) { violations(policy: $p) { policy subject reason path } }",
                json!({"p": policy}),
            )
            .await;
        let gql: BTreeSet<_> = data["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (v["policy"].to_string(), v["subject"].to_string(), v["reason"].to_string(), v["path"].to_string())
            })
            .collect();
        let answer = mesh_client
            .list_violations(proto::ListViolationsRequest {
                policy: policy.unwrap_or_default().into(),
                product: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let grpc: BTreeSet<_> = answer
            .violations
            .iter()
            .map(|v| {
                (
                    json!(v.policy).to_string(),
                    json!(v.subject).to_string(),
                    json!(v.reason).to_string(),
                    json!(v.path).to_string(),
                )
            })
            .collect();
        assert!(!gql.is_empty(), "{policy:?}: {data}");
        assert_eq!(gql, grpc, "violations {policy:?}");
    }
    server.shutdown().await;
}
