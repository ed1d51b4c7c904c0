//! The explorer against a server that requires tokens, for real: the first admin token is
//! made over GraphQL while the server is still open, which closes it; the explorer then asks
//! for a token on its first GraphQL call, shows what GraphQL answers that token, says so
//! again for a wrong one, and shows a reader without the finance domain the restricted
//! ledger as a redacted node (never its real name) without breaking a page.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    Browser, IMPACT_SUMMARY, count, drawn_nodes, impact_summary, listed_impact_nodes, node_set, screenshots,
    summary_nodes,
};
use crate::mesh::{APPLY_DOMAIN, APPLY_PRODUCT, read};
use crate::support::{TestServer, post_json, post_json_with_token, run_event, run_id, start_server};

const CREATE_TOKEN: &str =
    "mutation($name: String!, $scopes: [String!]!) { createToken(name: $name, scopes: $scopes) { token } }";

/// The real namespace of the restricted ledger: no page a reader sees may contain it.
const HIDDEN_NAMESPACE: &str = "fin-db";

/// A GraphQL answer for `token` (none: anonymous); the whole body.
async fn graphql_as(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> Value {
    let body = json!({"query": query, "variables": variables});
    let url = server.url("/graphql");
    let (status, answer) = match token {
        Some(token) => post_json_with_token(&url, &body, token).await,
        None => post_json(&url, &body).await,
    };
    assert!(status == 200 || status == 401, "graphql answered {status}: {answer}");
    answer
}

/// `data` of a GraphQL answer for `token` that must succeed.
async fn data_as(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    let answer = graphql_as(server, Some(token), query, variables).await;
    assert!(answer.get("errors").is_none(), "graphql errors: {answer}");
    answer["data"].clone()
}

async fn create_token(server: &TestServer, admin: Option<&str>, name: &str, scopes: &[&str]) -> String {
    let answer = graphql_as(server, admin, CREATE_TOKEN, json!({"name": name, "scopes": scopes})).await;
    assert!(answer.get("errors").is_none(), "createToken {name}: {answer}");
    let token = answer["data"]["createToken"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trb_"), "{token}");
    token
}

fn dataset(namespace: &str, name: &str) -> Value {
    json!({"namespace": namespace, "name": name})
}

/// sales: load_orders(orders_raw) -> orders; finance (restricted product `finance.ledger`):
/// build_ledger(orders) -> ledger; marketing: revenue_report(ledger) -> revenue_dashboard.
/// Everything applied and ingested with the admin token.
async fn restricted_fixture(server: &TestServer, admin: &str) {
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        data_as(server, admin, APPLY_DOMAIN, json!({"d": read(file)})).await;
    }
    let ledger = read("product-ledger.yaml").replace("classification: confidential", "classification: restricted");
    assert!(ledger.contains("classification: restricted"));
    for descriptor in [read("product-orders.yaml"), ledger] {
        data_as(server, admin, APPLY_PRODUCT, json!({"d": descriptor})).await;
    }
    let event = |n: u32, job_namespace: &str, job: &str, input: Value, output: Value| {
        let mut event = run_event("COMPLETE", "2024-06-01T00:00:00Z", &run_id(n), job, &[], &[]);
        event["job"]["namespace"] = job_namespace.into();
        event["inputs"] = json!([input]);
        event["outputs"] = json!([output]);
        event
    };
    let events = [
        event(1, "sales-db", "load_orders", dataset("sales-db", "orders_raw"), dataset("sales-db", "orders")),
        event(2, "finance-etl", "build_ledger", dataset("sales-db", "orders"), dataset(HIDDEN_NAMESPACE, "ledger")),
        event(
            3,
            "mkt-db",
            "revenue_report",
            dataset(HIDDEN_NAMESPACE, "ledger"),
            dataset("mkt-db", "revenue_dashboard"),
        ),
    ];
    for event in &events {
        let (status, body) = post_json_with_token(&server.url("/api/v1/lineage"), event, admin).await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Types `token` into the header's token box (opening it if closed) and submits it.
async fn enter_token(browser: &Browser, token: &str) {
    if browser.eval("return document.getElementById('token-box').hidden", json!([])).await == true {
        browser.click("#token-button").await;
    }
    browser.type_into("#token-input", token).await;
    browser.click("#token-box button[type=submit]").await;
    browser
        .wait_for(
            &format!("sessionStorage.getItem('tributary.token') === {}", serde_json::to_string(token).unwrap()),
            "the token in sessionStorage",
        )
        .await;
}

async fn notice_shown(browser: &Browser) -> bool {
    browser.eval("return !document.getElementById('notice').hidden", json!([])).await == true
}

/// Search results shown, as `KIND namespace:name` or `PRODUCT id`.
async fn search_results(browser: &Browser) -> Vec<String> {
    let shown = browser
        .eval(
            "return [...document.querySelectorAll('#search-results li')].filter(li => li.dataset.kind !== 'DOMAIN').map(li => li.dataset.kind + ' ' + (li.dataset.id || li.dataset.namespace + ':' + li.dataset.name))",
            json!([]),
        )
        .await;
    serde_json::from_value(shown).unwrap()
}

async fn search_as(server: &TestServer, token: &str, text: &str) -> Vec<String> {
    let data = data_as(
        server,
        token,
        "query($t: String!) { search(text: $t, first: 50) { results { kind product node { kind namespace name } } } }",
        json!({"t": text}),
    )
    .await;
    data["search"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r["kind"].as_str().unwrap() {
            "PRODUCT" => format!("PRODUCT {}", r["product"].as_str().unwrap()),
            _ => format!(
                "{} {}:{}",
                r["node"]["kind"].as_str().unwrap(),
                r["node"]["namespace"].as_str().unwrap(),
                r["node"]["name"].as_str().unwrap()
            ),
        })
        .collect()
}

async fn search_for(browser: &Browser, base: &str, text: &str) -> Vec<String> {
    browser.goto("about:blank").await;
    browser.goto(&format!("{base}/#/search?q={text}")).await;
    browser.wait_for("document.querySelector('#search-summary[data-state=done]')", "the search").await;
    search_results(browser).await
}

const LINEAGE: &str = "query($s: NodeInput!) { lineage(start: $s, direction: DOWNSTREAM, depth: 3) {
    nodes { kind namespace name } edges { kind } } }";

/// Opens the lineage view of `sales-db:orders` downstream (a fresh page load).
async fn open_lineage(browser: &Browser, base: &str) {
    browser.goto("about:blank").await;
    browser.goto(&format!("{base}/#/lineage?kind=DATASET&ns=sales-db&name=orders&dir=DOWNSTREAM&depth=3")).await;
    browser.wait_for("window.tributaryMetrics && window.tributaryMetrics.lineageCompleteMs", "the lineage graph").await;
}

/// Opens the impact view of `start` (a fresh page load) and checks the counts, the groups
/// and the listed nodes against `impactSummary` answered to `token`; returns that answer.
async fn check_impact(browser: &Browser, server: &TestServer, token: &str, start: &Value) -> Value {
    let url = format!(
        "{}/#/impact?kind=DATASET&ns={}&name={}",
        server.base_url,
        urlencode(start["namespace"].as_str().unwrap()),
        urlencode(start["name"].as_str().unwrap())
    );
    browser.goto("about:blank").await;
    browser.goto(&url).await;
    browser.wait_for("window.tributaryMetrics && window.tributaryMetrics.impactCountsMs", "the impact counts").await;
    let summary =
        data_as(server, token, IMPACT_SUMMARY, json!({"s": start, "first": 100})).await["impactSummary"].clone();
    assert_eq!(impact_summary(browser).await, json!([summary["datasetCount"], summary["jobCount"]]));
    assert_eq!(count(browser, "#impact-tree .impact-group").await, summary["groups"].as_array().unwrap().len() as u64);
    assert_eq!(listed_impact_nodes(browser).await, summary_nodes(&summary["nodes"]));
    summary
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn page_mentions(browser: &Browser, text: &str) -> bool {
    browser.eval("return document.documentElement.outerHTML.includes(arguments[0])", json!([text])).await == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_asks_for_a_token_and_shows_restricted_datasets_redacted() {
    let server = start_server().await;
    let base = server.base_url.clone();
    let shots = screenshots();
    // The first admin token, made while the server is open; from then on it requires tokens.
    let admin = create_token(&server, None, "platform-admin", &["admin"]).await;
    let refused = graphql_as(&server, None, "{ watermark { sequence } }", json!({})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    restricted_fixture(&server, &admin).await;
    let reader = create_token(&server, Some(&admin), "analyst", &["read"]).await;

    // No token: the first GraphQL call is refused and the explorer asks for one.
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "!document.getElementById('notice').hidden && !document.getElementById('token-box').hidden",
            "the authentication prompt",
        )
        .await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("Authentication needed") && notice.contains("token"), "{notice}");
    assert_eq!(browser.eval("return document.activeElement.id", json!([])).await, "token-input");
    browser.screenshot(&shots, "auth-prompt").await;

    // The admin token: the prompt goes, the page loads, and what it shows is what GraphQL
    // answers that token.
    enter_token(&browser, &admin).await;
    browser.wait_for("document.querySelector('#search-summary[data-state=done]')", "the first search").await;
    assert!(!notice_shown(&browser).await);
    let watermark = data_as(&server, &admin, "{ watermark { sequence } }", json!({})).await;
    assert_eq!(super::watermark_shown(&browser).await, watermark["watermark"]["sequence"].as_u64().unwrap());
    let expected = search_as(&server, &admin, "orders").await;
    assert!(!expected.is_empty());
    assert_eq!(search_for(&browser, &base, "orders").await, expected, "search for `orders` as admin");
    let start = json!({"kind": "DATASET", "namespace": "sales-db", "name": "orders"});
    open_lineage(&browser, &base).await;
    let lineage = data_as(&server, &admin, LINEAGE, json!({"s": start})).await;
    let whole = node_set(&lineage["lineage"]["nodes"]);
    assert!(whole.contains(&("DATASET".into(), HIDDEN_NAMESPACE.into(), "ledger".into())), "{whole:?}");
    assert_eq!(drawn_nodes(&browser, "#lineage-graph").await, whole, "lineage as admin");
    assert_eq!(count(&browser, "#lineage-graph g.node.redacted").await, 0);
    let summary = check_impact(&browser, &server, &admin, &start).await;
    let admin_counts = (summary["datasetCount"].clone(), summary["jobCount"].clone());
    assert_eq!(admin_counts, (json!(2), json!(2)), "ledger and revenue_dashboard, their jobs: {summary}");
    assert!(!notice_shown(&browser).await);

    // A wrong token (well formed, unknown) and a malformed one: the prompt again.
    let wrong = format!("trb_0123456789abcdef_{}", "0".repeat(64));
    for (token, says) in [(wrong.as_str(), "refused the token"), ("not-a-token", "refused the token")] {
        enter_token(&browser, token).await;
        browser.wait_for("!document.getElementById('notice').hidden", "the prompt for a wrong token").await;
        let notice = browser.text("#notice").await;
        assert!(notice.contains(says), "{token}: {notice}");
        assert_eq!(count(&browser, "#impact-summary").await, 0, "no answer is shown for a wrong token");
    }
    browser.screenshot(&shots, "auth-wrong-token").await;

    // A reader without the finance domain: the ledger is a redacted node everywhere.
    enter_token(&browser, &reader).await;
    let expected = search_as(&server, &reader, "ledger").await;
    assert!(expected.contains(&"PRODUCT finance.ledger".to_owned()), "{expected:?}");
    assert!(!expected.iter().any(|r| r.contains(HIDDEN_NAMESPACE)), "{expected:?}");
    assert_eq!(search_for(&browser, &base, "ledger").await, expected, "search for `ledger` as a reader");
    assert!(!notice_shown(&browser).await);
    open_lineage(&browser, &base).await;
    let lineage = data_as(&server, &reader, LINEAGE, json!({"s": start})).await;
    let seen = node_set(&lineage["lineage"]["nodes"]);
    let redacted: Vec<&(String, String, String)> = seen.iter().filter(|n| n.1.starts_with("redacted:")).collect();
    assert_eq!(redacted.len(), 1, "{seen:?}");
    let (_, redacted_namespace, redacted_name) = redacted[0].clone();
    assert_eq!(redacted_namespace, "redacted:finance");
    assert!(redacted_name.starts_with("finance.ledger#"), "{redacted_name}");
    assert_eq!(seen.len(), whole.len(), "the same nodes, one of them redacted");
    assert_eq!(drawn_nodes(&browser, "#lineage-graph").await, seen, "lineage as a reader");
    assert_eq!(
        count(&browser, "#lineage-graph g.edge").await,
        lineage["lineage"]["edges"].as_array().unwrap().len() as u64
    );
    let shown_redacted: BTreeSet<String> = serde_json::from_value(
        browser
            .eval(
                "return [...document.querySelectorAll('#lineage-graph g.node.redacted')].map(g => g.dataset.name)",
                json!([]),
            )
            .await,
    )
    .unwrap();
    assert_eq!(shown_redacted, BTreeSet::from([redacted_name.clone()]));
    assert!(!page_mentions(&browser, HIDDEN_NAMESPACE).await, "the real namespace on the lineage page");
    assert!(
        browser.text("#lineage-graph").await.contains("revenue_dashboard"),
        "what lies beyond the redacted node is drawn"
    );
    // Its panel says why it has no page, and asks the server nothing it would refuse.
    browser.click("#lineage-graph g.node.redacted").await;
    let panel = browser.text("#panel-redacted").await;
    assert!(panel.contains("domain:finance") && panel.contains("finance.ledger"), "{panel}");
    assert_eq!(browser.text("#panel-name").await, redacted_name);
    assert!(!notice_shown(&browser).await);
    browser.screenshot(&shots, "auth-redacted-lineage").await;

    // Impact as the reader: counted like the admin's, the ledger listed by its redacted name.
    let summary = check_impact(&browser, &server, &reader, &start).await;
    assert_eq!((summary["datasetCount"].clone(), summary["jobCount"].clone()), admin_counts, "{summary}");
    let listed = browser
        .eval(
            "return [...document.querySelectorAll('#impact-nodes .node-link.redacted')].map(e => e.innerText)",
            json!([]),
        )
        .await;
    assert_eq!(listed, json!([redacted_name]));
    assert!(browser.text("#impact-tree").await.contains("product finance.ledger"), "its group keeps its product");
    assert!(!page_mentions(&browser, HIDDEN_NAMESPACE).await, "the real namespace on the impact page");
    assert!(!notice_shown(&browser).await);
    browser.screenshot(&shots, "auth-redacted-impact").await;
    // The redacted node as an impact start (the link of its lineage panel): the server
    // reveals it for the walk and answers redacted.
    let redacted_start = json!({"kind": "DATASET", "namespace": redacted_namespace, "name": redacted_name});
    let summary = check_impact(&browser, &server, &reader, &redacted_start).await;
    assert_eq!((summary["datasetCount"].as_u64(), summary["jobCount"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(browser.text("#impact-start").await, redacted_name);
    assert!(!page_mentions(&browser, HIDDEN_NAMESPACE).await);
    assert!(!notice_shown(&browser).await);

    // Its real name is refused to the reader, and the prompt names the scope that would do.
    browser.goto("about:blank").await;
    browser.goto(&format!("{base}/#/dataset?ns={HIDDEN_NAMESPACE}&name=ledger")).await;
    browser.wait_for("!document.getElementById('notice').hidden", "the FORBIDDEN notice").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("does not allow") && notice.contains("domain:finance"), "{notice}");

    drop(browser);
    server.shutdown().await;
}
