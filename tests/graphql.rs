//! GraphQL: lineage depth, limits and direction, listings, and errors with codes.

use serde_json::{Value, json};

use crate::support::{TestServer, run_event, run_id, start_server};

/// src -> j1 -> a -> j2 -> b -> j3 -> c, plus src -> j4 -> d, and e -> j2.
async fn chain() -> TestServer {
    let server = start_server().await;
    let runs = [
        ("j1", vec!["src"], vec!["a"]),
        ("j2", vec!["a", "e"], vec!["b"]),
        ("j3", vec!["b"], vec!["c"]),
        ("j4", vec!["src"], vec!["d"]),
    ];
    for (n, (job, inputs, outputs)) in runs.iter().enumerate() {
        let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n as u32), job, inputs, outputs);
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    server
}

const LINEAGE: &str = r#"query($name: String!, $direction: Direction!, $depth: Int, $limit: Int, $datasetsOnly: Boolean) {
  lineage(start: {kind: DATASET, namespace: "db", name: $name}, direction: $direction, depth: $depth, limit: $limit, datasetsOnly: $datasetsOnly) {
    nodes { kind name distance } edges { from { name } to { name } kind } truncated depth watermark { sequence }
  }
}"#;

fn names_at(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["lineage"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{}@{}", n["name"].as_str().unwrap(), n["distance"]))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn lineage_follows_depth_direction_and_limit() {
    let server = chain().await;
    let down = server.graphql_data(LINEAGE, json!({"name": "src", "direction": "DOWNSTREAM"})).await;
    assert_eq!(names_at(&down), ["a@1", "b@2", "c@3", "d@1", "j1@1", "j2@2", "j3@3", "j4@1", "src@0"]);
    assert_eq!(down["lineage"]["truncated"], false);
    assert_eq!(down["lineage"]["watermark"]["sequence"], 4);
    assert_eq!(down["lineage"]["edges"].as_array().unwrap().len(), 8);

    let shallow = server.graphql_data(LINEAGE, json!({"name": "src", "direction": "DOWNSTREAM", "depth": 2})).await;
    assert_eq!(names_at(&shallow), ["a@1", "b@2", "d@1", "j1@1", "j2@2", "j4@1", "src@0"]);
    assert_eq!(shallow["lineage"]["depth"], 2);

    let up = server.graphql_data(LINEAGE, json!({"name": "c", "direction": "UPSTREAM"})).await;
    assert_eq!(names_at(&up), ["a@2", "b@1", "c@0", "e@2", "j1@3", "j2@2", "j3@1", "src@3"]);
    let edge = &up["lineage"]["edges"][0];
    assert_eq!(edge, &json!({"from": {"name": "j3"}, "to": {"name": "c"}, "kind": "WRITES"}));

    let both = server.graphql_data(LINEAGE, json!({"name": "b", "direction": "BOTH", "depth": 1})).await;
    assert_eq!(names_at(&both), ["a@1", "b@0", "c@1", "e@1", "j2@1", "j3@1"]);

    // The impact shape: the jobs are hops, not answers, and there are no edges.
    let impact =
        server.graphql_data(LINEAGE, json!({"name": "src", "direction": "DOWNSTREAM", "datasetsOnly": true})).await;
    assert_eq!(names_at(&impact), ["a@1", "b@2", "c@3", "d@1", "src@0"]);
    assert_eq!(impact["lineage"]["edges"].as_array().unwrap().len(), 0);

    let cut = server.graphql_data(LINEAGE, json!({"name": "src", "direction": "DOWNSTREAM", "limit": 3})).await;
    assert_eq!(cut["lineage"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(cut["lineage"]["truncated"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn listings_page_and_search() {
    let server = chain().await;
    let query =
        r#"query($after: String) { datasets(namespace: "db", first: 2, after: $after) { nodes { name } nextCursor } }"#;
    let mut names = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server.graphql_data(query, json!({"after": after})).await;
        for node in page["datasets"]["nodes"].as_array().unwrap() {
            names.push(node["name"].as_str().unwrap().to_owned());
        }
        after = page["datasets"]["nextCursor"].clone();
        if after.is_null() {
            break;
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e", "src"]);
    let found = server.graphql_data(r#"{ jobs(search: "J3") { nodes { namespace name } } }"#, json!({})).await;
    assert_eq!(found["jobs"]["nodes"], json!([{"namespace": "etl", "name": "j3"}]));
    server.shutdown().await;
}

#[tokio::test]
async fn errors_carry_a_code_and_the_field() {
    let server = chain().await;
    let bad_run = server.graphql(r#"{ run(runId: "not-a-uuid") { state } }"#, json!({})).await;
    assert_eq!(bad_run["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad_run}");
    assert_eq!(bad_run["errors"][0]["extensions"]["field"], "runId");
    let unknown = server.graphql(LINEAGE, json!({"name": "nope", "direction": "DOWNSTREAM"})).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "NOT_FOUND", "{unknown}");
    let bad_limit = server.graphql(LINEAGE, json!({"name": "src", "direction": "DOWNSTREAM", "limit": 0})).await;
    assert_eq!(bad_limit["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(bad_limit["errors"][0]["extensions"]["field"], "limit");
    let bad_cursor = server.graphql(r#"{ datasets(after: "zz") { nodes { name } } }"#, json!({})).await;
    assert_eq!(bad_cursor["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let missing = server.graphql_data(r#"{ dataset(namespace: "db", name: "nope") { name } }"#, json!({})).await;
    assert_eq!(missing["dataset"], Value::Null);
    server.shutdown().await;
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let server = start_server().await;
    let page = reqwest::get(server.url("/graphql")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
    server.shutdown().await;
}

/// The response text of the lineage from `db:src` downstream, selecting `selection`.
async fn raw_lineage(url: String, selection: String, fragment: String) -> String {
    let query = format!(
        r#"{{ lineage(start: {{kind: DATASET, namespace: "db", name: "src"}}, direction: DOWNSTREAM) {{ {selection} }} }} {fragment}"#
    );
    let response = reqwest::Client::new().post(url).json(&json!({"query": query})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Each (selection, fragments) of `list` answers with the same bytes as `plain`.
async fn assert_variants_agree(
    url: &str,
    list: &str,
    plain: &str,
    variants: impl IntoIterator<Item = (String, String)>,
) {
    for (selection, fragment) in variants {
        let text = raw_lineage(url.to_owned(), format!("{list} {selection}"), fragment).await;
        assert_eq!(text, plain, "{list} {selection}");
    }
}

/// Lineage nodes are built directly for a plain selection (hub answers hold hundreds of
/// thousands); the answer must be byte for byte what the generic path gives for the same
/// fields through a fragment, an inline fragment or a directive, with aliases, `__typename`
/// and a field asked twice.
#[tokio::test]
async fn lineage_nodes_read_the_same_through_any_selection() {
    let server = chain().await;
    let url = server.url("/graphql");
    let raw = |selection: String, fragment: String| raw_lineage(url.clone(), format!("nodes {selection}"), fragment);
    let fields = "kind namespace n: name distance t: __typename";
    let plain = raw(format!("{{ {fields} }}"), String::new()).await;
    assert!(
        plain.contains(r#"{"kind":"DATASET","namespace":"db","n":"src","distance":0,"t":"LineageNode"}"#),
        "{plain}"
    );
    assert_eq!(plain.matches(r#""t":"LineageNode""#).count(), 9, "{plain}");
    let variants = [
        ("{ ...F }".to_owned(), format!("fragment F on LineageNode {{ {fields} }}")),
        (format!("{{ ... on LineageNode {{ {fields} }} }}"), String::new()),
        ("{ kind @include(if: true) namespace n: name distance t: __typename }".to_owned(), String::new()),
    ];
    assert_variants_agree(&url, "nodes", &plain, variants).await;
    // A response key asked twice is one field.
    assert_eq!(
        raw("{ name name distance }".into(), String::new()).await,
        raw("{ name distance }".into(), String::new()).await
    );
    assert!(!raw("{ name @skip(if: true) distance }".into(), String::new()).await.contains("\"name\""));
    server.shutdown().await;
}

/// Edges are built directly too, their nodes included: byte for byte what the generic path
/// gives through fragments on the edge or on its nodes, or a directive.
#[tokio::test]
async fn lineage_edges_read_the_same_through_any_selection() {
    let server = chain().await;
    let url = server.url("/graphql");
    let raw = |selection: String, fragment: String| raw_lineage(url.clone(), format!("edges {selection}"), fragment);
    let node = "kind namespace n: name __typename";
    let plain = raw(format!("{{ from {{ {node} }} to {{ {node} }} kind t: __typename }}"), String::new()).await;
    assert!(
        plain.contains(
            r#"{"from":{"kind":"DATASET","namespace":"db","n":"src","__typename":"NodeRef"},"to":{"kind":"JOB""#
        ),
        "{plain}"
    );
    assert_eq!(plain.matches(r#""t":"LineageEdge""#).count(), 8, "{plain}");
    let variants = [
        (
            "{ ...E }".to_owned(),
            format!("fragment E on LineageEdge {{ from {{ {node} }} to {{ {node} }} kind t: __typename }}"),
        ),
        ("{ from { ...N } to { ...N } kind t: __typename }".to_owned(), format!("fragment N on NodeRef {{ {node} }}")),
        (
            format!(
                "{{ from {{ {node} }} to {{ kind @skip(if: false) namespace n: name __typename }} kind t: __typename }}"
            ),
            String::new(),
        ),
    ];
    assert_variants_agree(&url, "edges", &plain, variants).await;
    server.shutdown().await;
}

/// Over HTTP plain lists are written as JSON apart and spliced into the response where a
/// placeholder stands (graphql `plain::Splicer`). Names that need escaping, a stored name
/// that looks like a placeholder, several lists in one response and a batch must all read
/// exactly as the generic path writes them.
#[tokio::test]
async fn spliced_lists_read_as_the_generic_path_writes_them() {
    let server = start_server().await;
    let look_alike = "tributary-plain-list:00000000000000000000000000000000:0";
    let outputs = ["quote\"back\\slash", "ünïcödé\u{1}\u{7f}€", look_alike, "</script>\t\n"];
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "j\"1", &["src"], &outputs);
    assert_eq!(server.post_event(&event).await.0, 201);
    let url = server.url("/graphql");
    let query = |selection: &str, fragment: &str| {
        format!(
            r#"{{ a: lineage(start: {{kind: DATASET, namespace: "db", name: "src"}}, direction: DOWNSTREAM) {{ {selection} }}
                 b: lineage(start: {{kind: DATASET, namespace: "db", name: "src"}}, direction: DOWNSTREAM, datasetsOnly: true) {{ {selection} }} }} {fragment}"#
        )
    };
    let raw = |body: Value| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let length = response.content_length();
            let text = response.text().await.unwrap();
            // Given when no list is written while sending (those stream without it).
            if let Some(length) = length {
                assert_eq!(length, text.len() as u64, "Content-Length is the body's length");
            }
            text
        }
    };
    let fields = "nodes { kind namespace name distance } edges { from { name } to { name } kind }";
    let generic_fields = "nodes { ...N } edges { from { ...R } to { ...R } kind }";
    let fragments = "fragment N on LineageNode { kind namespace name distance } fragment R on NodeRef { name }";
    // One lineage field: the same bytes.
    let one = |selection: &str, fragment: &str| {
        format!(
            r#"{{ lineage(start: {{kind: DATASET, namespace: "db", name: "src"}}, direction: DOWNSTREAM) {{ {selection} }} }} {fragment}"#
        )
    };
    assert_eq!(
        raw(json!({"query": one(fields, "")})).await,
        raw(json!({"query": one(generic_fields, fragments)})).await
    );
    // Two: the same answer (async-graphql may order the two top-level fields either way).
    let plain = raw(json!({"query": query(fields, "")})).await;
    let generic = raw(json!({"query": query(generic_fields, fragments)})).await;
    let answer: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(answer, serde_json::from_str::<Value>(&generic).unwrap());
    let mut names: Vec<&str> =
        answer["data"]["b"]["nodes"].as_array().unwrap().iter().map(|node| node["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = outputs.iter().copied().chain(["src"]).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{plain}");
    assert_eq!(answer["data"]["a"]["edges"].as_array().unwrap().len(), 5);
    // A batch: each answer spliced in its place.
    let batch =
        raw(json!([{"query": query(fields, "")}, {"query": "{ __typename }"}, {"query": query(fields, "")}])).await;
    let batch: Value = serde_json::from_str(&batch).unwrap();
    assert_eq!(batch[0], answer);
    assert_eq!(batch[1], json!({"data": {"__typename": "QueryRoot"}}));
    assert_eq!(batch[2], answer);
    // Lists written in many pieces while they are sent (about 2 MB of nodes and edges):
    // the same bytes as the generic path, which builds it whole.
    for (n, job) in ["wide_a", "wide_b"].into_iter().enumerate() {
        let wide: Vec<String> = (0..6_000).map(|i| format!("{job}_output_{i:05}_with_a_longer_name\"q\"")).collect();
        let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
        let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(2 + n as u32), job, &["src2"], &wide);
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let from_src2 = |selection: &str, fragment: &str| {
        format!(
            r#"{{ lineage(start: {{kind: DATASET, namespace: "db", name: "src2"}}, direction: DOWNSTREAM, limit: 20000) {{ {selection} }} }} {fragment}"#
        )
    };
    let streamed = raw(json!({"query": from_src2(fields, "")})).await;
    assert!(streamed.len() > 1_500_000, "{} bytes, several pieces", streamed.len());
    assert_eq!(streamed, raw(json!({"query": from_src2(generic_fields, fragments)})).await);
    let answer: Value = serde_json::from_str(&streamed).unwrap();
    assert_eq!(answer["data"]["lineage"]["nodes"].as_array().unwrap().len(), 12_003);
    server.shutdown().await;
}

/// A streamed list is written as the connection takes it (a piece per poll, on a blocking
/// thread only while the piece is written): clients that ask for a large answer and then stop
/// reading, or hang up halfway, do not stop the server answering everyone else, meanwhile and
/// after.
#[tokio::test]
async fn clients_that_stop_reading_a_streamed_list_do_not_stop_the_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start_server().await;
    for (n, job) in ["fan_a", "fan_b"].into_iter().enumerate() {
        let outputs: Vec<String> = (0..6_000).map(|i| format!("{job}_output_{i:05}")).collect();
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n as u32), job, &["hub"], &outputs);
        assert_eq!(server.post_event(&event).await.0, 201);
    }
    let query = json!({"query": r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "hub"}, direction: DOWNSTREAM, limit: 20000) {
        nodes { kind namespace name distance } edges { from { name } to { name } kind } } }"#})
    .to_string();
    // Without edges the nodes are written while the answer is read out, then sent as written.
    let nodes_only = json!({"query": r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "hub"}, direction: DOWNSTREAM, limit: 20000) {
        nodes { kind namespace name distance } } }"#})
    .to_string();
    let request = |query: &str| {
        format!(
            "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{query}",
            query.len()
        )
    };
    // 40 that never read the answer (kept open), 40 that read its first bytes and hang up;
    // each asking one of the two.
    let mut stalled = Vec::new();
    for round in 0..80 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let asked = if round % 4 < 2 { &query } else { &nodes_only };
        stream.write_all(request(asked).as_bytes()).await.unwrap();
        if round % 2 == 0 {
            stalled.push(stream);
        } else {
            let mut head = [0u8; 64];
            let read = stream.read(&mut head).await.unwrap();
            assert!(head[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head[..read]));
        }
    }
    // Everyone else is answered, the large answer whole.
    let started = std::time::Instant::now();
    let answer = server.graphql_data(&query_of(&query), json!({})).await;
    assert_eq!(answer["lineage"]["nodes"].as_array().unwrap().len(), 12_003);
    let nodes = server.graphql_data(&query_of(&nodes_only), json!({})).await;
    assert_eq!(nodes["lineage"]["nodes"], answer["lineage"]["nodes"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    drop(stalled);
    let again = server.graphql_data(&query_of(&query), json!({})).await;
    assert_eq!(again, answer);
    assert_eq!(server.graphql_data(&query_of(&nodes_only), json!({})).await, nodes);
    server.shutdown().await;
}

/// The GraphQL document of a request body.
fn query_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["query"].as_str().unwrap().to_owned()
}

/// `lineageTable` is `lineage` in columns: rebuilt from its lists (namespace positions, edge
/// ends as node positions), it is the same answer in the same order, in every shape, for
/// names that need escaping, several namespaces, and a list long enough to be written in
/// several pieces while it is sent.
#[tokio::test]
async fn lineage_table_is_the_lineage_answer_in_columns() {
    let server = start_server().await;
    let dataset = |namespace: &str, name: &str| json!({"namespace": namespace, "name": name});
    let event = |n: u32, job: &str, inputs: Vec<Value>, outputs: Vec<Value>| {
        json!({
            "eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z",
            "producer": "https://example.com/tributary-tests",
            "run": {"runId": run_id(n)}, "job": {"namespace": "etl", "name": job},
            "inputs": inputs, "outputs": outputs,
        })
    };
    let wide: Vec<Value> = (0..7_000).map(|i| dataset("lake", &format!("wide_{i:05}_\"quoted\"_ü"))).collect();
    let events = [
        event(1, "j1", vec![dataset("db", "src")], vec![dataset("wh", "a"), dataset("lake", "b"), dataset("db", "c")]),
        event(2, "j\"2", vec![dataset("wh", "a"), dataset("db", "e")], vec![dataset("lake", "d\\back")]),
        event(3, "j3", vec![dataset("lake", "d\\back")], wide),
    ];
    for event in &events {
        assert_eq!(server.post_event(event).await.0, 201);
    }
    let post = |query: String| {
        let url = server.url("/graphql");
        async move {
            let answer: Value = reqwest::Client::new()
                .post(url)
                .json(&json!({"query": query}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(answer.get("errors").is_none(), "{answer}");
            answer["data"].clone()
        }
    };
    for (arguments, with_edges) in
        [("", true), ("", false), (", datasetsOnly: true", false), (", depth: 1", true), (", limit: 5", true)]
    {
        let start = format!(
            r#"start: {{kind: DATASET, namespace: "db", name: "src"}}, direction: DOWNSTREAM, limit: 20000{arguments}"#
        );
        let start = if arguments.contains("limit") { start.replace("limit: 20000, ", "") } else { start };
        let edges =
            if with_edges { "edges { from { kind namespace name } to { kind namespace name } kind }" } else { "" };
        let table_edges = if with_edges { "edgeFrom edgeTo edgeKinds" } else { "" };
        let lineage = post(format!(
            "{{ lineage({start}) {{ nodes {{ kind namespace name distance }} {edges} truncated depth watermark {{ sequence }} }} }}"
        ))
        .await;
        let table = post(format!(
            "{{ lineageTable({start}) {{ namespaces nodeNamespaces nodeNames nodeKinds nodeDistances {table_edges} truncated depth watermark {{ sequence }} }} }}"
        ))
        .await;
        let (lineage, table) = (&lineage["lineage"], &table["lineageTable"]);
        let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
        let namespaces = list(&table["namespaces"]);
        let mut distinct = namespaces.clone();
        distinct.sort_by_key(|namespace| namespace.to_string());
        distinct.dedup();
        assert_eq!(distinct.len(), namespaces.len(), "each namespace once: {namespaces:?}");
        let (nodes, edges) = crate::support::lineage_from_table(table);
        assert_eq!(nodes, list(&lineage["nodes"]), "nodes ({arguments})");
        if with_edges {
            assert_eq!(edges, list(&lineage["edges"]), "edges ({arguments})");
        }
        for field in ["truncated", "depth", "watermark"] {
            assert_eq!(table[field], lineage[field], "{field} ({arguments})");
        }
        if arguments.is_empty() {
            assert_eq!(nodes.len(), 1 + 3 + 1 + 3 + 7_000, "src; a, b, c; d; the three jobs; the wide outputs");
            assert_eq!(namespaces.len(), 4, "db, etl, wh, lake: {namespaces:?}");
        }
    }
    server.shutdown().await;
}
