//! The web explorer in a real browser: headless Chromium (installed by the harness when
//! missing, see `web/driver.rs`) loads the pages from the real server, with real ingested
//! events, and every check compares what a person would see with the GraphQL answer to the
//! same question. Screenshots of each view go to `target/tmp/web-screenshots/`.
//!
//! The hub test prints (does not assert) how long the lineage view of a dataset with 10,000
//! downstream datasets takes to first paint, and how long the impact view takes to show its
//! counts (from `impactSummary`) next to the full-closure answer it waited for before.
//! `auth` runs the explorer against a server that requires tokens.

mod auth;
mod driver;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::mesh::{APPLY_DOMAIN, APPLY_PRODUCT, ingest_lineage, mesh_server, read};
use crate::support::{TestServer, run_event, run_id, start_server};
use driver::Browser;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")
}

fn schema_facet(fields: Value) -> Value {
    json!({"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json", "fields": fields})
}

/// A run of `sales-db:load_orders` writing `sales-db:orders` with `schema`: a START and, when
/// `end` is given, its terminal event.
fn orders_run(n: u32, start: &str, end: Option<(&str, &str)>, schema: Option<Value>) -> Vec<Value> {
    let event = |event_type: &str, time: &str| {
        let mut event = run_event(event_type, time, &run_id(n), "load_orders", &[], &[]);
        event["job"]["namespace"] = "sales-db".into();
        event["inputs"] = json!([{"namespace": "sales-db", "name": "orders_raw"}]);
        event["outputs"] = json!([{"namespace": "sales-db", "name": "orders"}]);
        if let Some(schema) = &schema {
            event["outputs"][0]["facets"] = json!({"schema": schema_facet(schema.clone())});
        }
        event
    };
    let mut events = vec![event("START", start)];
    if let Some((event_type, time)) = end {
        events.push(event(event_type, time));
    }
    events
}

/// The three-domain mesh of `tests/mesh.rs`, plus two schema versions of `sales-db:orders`
/// and runs that took 90 s, failed, and took 12 min.
async fn mesh_fixture(server: &TestServer) {
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        server.graphql_data(APPLY_DOMAIN, json!({"d": read(file)})).await;
    }
    for file in ["product-orders.yaml", "product-ledger.yaml", "product-campaigns.yaml"] {
        server.graphql_data(APPLY_PRODUCT, json!({"d": read(file)})).await;
    }
    ingest_lineage(server).await;
    let v1 = json!([{"name": "order_id", "type": "bigint"}, {"name": "customer_email", "type": "varchar(255)"},
                    {"name": "amount", "type": "decimal(12,2)"}]);
    let v2 = json!([{"name": "order_id", "type": "bigint"}, {"name": "customer_email", "type": "varchar(255)"},
                    {"name": "amount", "type": "decimal(14,2)"}, {"name": "status", "type": "varchar(20)"}]);
    let events = [
        orders_run(501, "2024-02-01T10:00:00Z", Some(("COMPLETE", "2024-02-01T10:01:30Z")), Some(v1)),
        orders_run(502, "2024-02-02T10:00:00Z", Some(("FAIL", "2024-02-02T10:00:05Z")), None),
        orders_run(503, "2024-03-01T10:00:00Z", Some(("COMPLETE", "2024-03-01T10:12:00Z")), Some(v2)),
    ];
    for event in events.iter().flatten() {
        let (status, body) = server.post_event(event).await;
        assert_eq!(status, 201, "{body}");
    }
}

fn strings(values: &Value, pointer: &str) -> Vec<String> {
    values
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|value| value.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_owned())
        .collect()
}

fn node_set(nodes: &Value) -> BTreeSet<(String, String, String)> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_owned(),
                n["namespace"].as_str().unwrap().to_owned(),
                n["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The dataset and job nodes drawn in a graph, as (kind, namespace, name).
async fn drawn_nodes(browser: &Browser, host: &str) -> BTreeSet<(String, String, String)> {
    let nodes = browser
        .eval(
            "return [...document.querySelectorAll(arguments[0] + ' g.node[data-type=node]')].map(g => ({kind: g.dataset.kind, namespace: g.dataset.namespace, name: g.dataset.name}))",
            json!([host]),
        )
        .await;
    node_set(&nodes)
}

async fn count(browser: &Browser, selector: &str) -> u64 {
    browser.eval("return document.querySelectorAll(arguments[0]).length", json!([selector])).await.as_u64().unwrap()
}

async fn impact_summary(browser: &Browser) -> Value {
    let script = "const s = document.getElementById('impact-summary'); return [Number(s.dataset.datasets), Number(s.dataset.jobs)]";
    browser.eval(script, json!([])).await
}

/// The `impactSummary` the impact view asks, as the tests ask it.
const IMPACT_SUMMARY: &str = "query($s: NodeInput!, $first: Int!, $after: String, $depth: Int, $limit: Int) {
    impactSummary(start: $s, first: $first, after: $after, depth: $depth, limit: $limit) {
      datasetCount jobCount truncated nextCursor depth
      groups { product domain namespace datasetCount jobCount owners { name role source } }
      nodes { kind namespace name distance } watermark { sequence } } }";

/// The owners of the "who must act" table, with the datasets and jobs each must look at.
async fn shown_owners(browser: &Browser) -> Value {
    browser
        .eval(
            "return [...document.querySelectorAll('#impact-owners tr.owner-row')].map(tr => [tr.dataset.owner, Number(tr.cells[1].innerText.replace(/,/g, '')), Number(tr.cells[2].innerText.replace(/,/g, ''))]).sort()",
            json!([]),
        )
        .await
}

/// The same from the summary's groups.
fn summary_owners(groups: &[Value]) -> Value {
    let mut owners: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for group in groups {
        for owner in group["owners"].as_array().unwrap() {
            let entry = owners.entry(owner["name"].as_str().unwrap().to_owned()).or_default();
            entry.0 += group["datasetCount"].as_u64().unwrap();
            entry.1 += group["jobCount"].as_u64().unwrap();
        }
    }
    json!(owners.into_iter().map(|(name, (d, j))| json!([name, d, j])).collect::<Vec<_>>())
}

/// The affected nodes listed on the impact view, in order, as `KIND namespace:name@distance`.
async fn listed_impact_nodes(browser: &Browser) -> Vec<String> {
    serde_json::from_value(
        browser
            .eval(
                "return [...document.querySelectorAll('#impact-nodes li.impact-node')].map(li => `${li.dataset.kind} ${li.dataset.namespace}:${li.dataset.name}@${li.dataset.distance}`)",
                json!([]),
            )
            .await,
    )
    .unwrap()
}

fn summary_nodes(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} {}:{}@{}",
                n["kind"].as_str().unwrap(),
                n["namespace"].as_str().unwrap(),
                n["name"].as_str().unwrap(),
                n["distance"]
            )
        })
        .collect()
}

/// The nodes of a full lineage answer but its start, as `KIND namespace:name@distance`.
fn closure_nodes(nodes: &Value) -> BTreeSet<String> {
    let reached: Vec<Value> = nodes.as_array().unwrap().iter().filter(|n| n["distance"] != 0).cloned().collect();
    summary_nodes(&Value::Array(reached)).into_iter().collect()
}

/// The rows of the impact view's node CSV (`kind,namespace,name,distance`), as above.
fn csv_nodes(csv: &str) -> BTreeSet<String> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), 4, "a plain name per row in these fixtures: {line}");
            format!("{} {}:{}@{}", cells[0], cells[1], cells[2], cells[3])
        })
        .collect()
}

/// The text behind a download link (`data-href`, a blob URL).
async fn fetch_blob(browser: &Browser, selector: &str) -> String {
    browser.find(selector).await;
    let text = browser
        .eval_async(
            "const done = arguments[arguments.length - 1]; fetch(document.querySelector(arguments[0]).dataset.href).then(r => r.text()).then(done)",
            json!([selector]),
        )
        .await;
    text.as_str().unwrap().to_owned()
}

/// Clicks "Export nodes (CSV)" and returns the file it makes (paged through the server).
async fn export_impact_csv(browser: &Browser) -> String {
    browser.eval("const old = document.getElementById('impact-csv'); if (old) old.remove()", json!([])).await;
    browser.click("#impact-export").await;
    browser.wait_for_within("document.getElementById('impact-csv')", "the node CSV", Duration::from_secs(120)).await;
    fetch_blob(browser, "#impact-csv").await
}

/// The node key of the hub in the graph (`data-id`).
const HUB_KEY: &str = "D\u{0}hub-db\u{0}events";

/// What the hub's edges lead to in the drawn graph: the nodes (drawn one by one or counted
/// in a group) and the sizes of its groups.
async fn hub_fan_out(browser: &Browser) -> (u64, Vec<u64>) {
    let targets = browser
        .eval(
            "const hub = arguments[0]; return [...document.querySelectorAll('#lineage-graph g.edge')].filter(e => e.dataset.from === hub)
               .map(e => [...document.querySelectorAll('#lineage-graph g.node')].find(g => g.dataset.id === e.dataset.to))
               .map(g => g.dataset.type === 'group' ? ['group', Number(g.dataset.count)] : g.dataset.type === 'more' ? ['more', Number(g.dataset.remaining)] : ['node', 1])",
            json!([HUB_KEY]),
        )
        .await;
    let targets = targets.as_array().unwrap();
    let shown = targets.iter().map(|t| t[1].as_u64().unwrap()).sum();
    let groups = targets.iter().filter(|t| t[0] == "group").map(|t| t[1].as_u64().unwrap()).collect();
    (shown, groups)
}

async fn watermark_shown(browser: &Browser) -> u64 {
    let shown = browser.wait_for("document.getElementById('watermark').dataset.sequence", "the watermark").await;
    shown.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_pages_show_what_graphql_answers() {
    let temp = tempfile::tempdir().unwrap();
    let server = mesh_server(temp.path()).await;
    mesh_fixture(&server).await;
    let (sequence, _) = server.watermark().await;
    let browser = Browser::start().await;
    let base = server.base_url.clone();
    let shots = screenshots();

    // The printed address opens the explorer: search as you type.
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("document.querySelector('#search-summary[data-state=done]')", "the first search").await;
    assert_eq!(watermark_shown(&browser).await, sequence);
    browser.type_into("#search-text", "orders").await;
    browser
        .wait_for(
            "location.hash.includes('q=orders') && document.querySelector('#search-summary[data-state=done]')",
            "the search for `orders`",
        )
        .await;
    let shown = browser
        .eval(
            "return [...document.querySelectorAll('#search-results li')].map(li => li.dataset.kind + ' ' + (li.dataset.id || li.dataset.namespace + ':' + li.dataset.name))",
            json!([]),
        )
        .await;
    let expected = server
        .graphql_data(
            r#"{ search(text: "orders", first: 50) { results { kind product node { kind namespace name } } } }"#,
            json!({}),
        )
        .await;
    let expected: Vec<String> = expected["search"]["results"]
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
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(shown, json!(expected), "search results shown vs GraphQL");
    browser.screenshot(&shots, "search").await;
    // Domains are found too, a search is a link, and owners filter.
    browser.goto(&format!("{base}/#/search?q=market")).await;
    browser
        .wait_for(
            "document.querySelector('#search-results li[data-kind=DOMAIN][data-id=marketing]')",
            "the marketing domain",
        )
        .await;
    browser.goto(&format!("{base}/#/search?owner=team:order-pipeline")).await;
    browser
        .wait_for(
            "location.hash.includes('owner=') && document.querySelector('#search-summary[data-state=done]')",
            "the search by owner",
        )
        .await;
    let owned = server
        .graphql_data(r#"{ search(owner: "team:order-pipeline") { results { node { namespace name } } } }"#, json!({}))
        .await;
    let owned: Vec<String> = owned["search"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r["node"]["namespace"].as_str().unwrap(), r["node"]["name"].as_str().unwrap()))
        .collect();
    assert!(!owned.is_empty());
    let shown = browser
        .eval("return [...document.querySelectorAll('#search-results li')].map(li => li.dataset.namespace + ':' + li.dataset.name)", json!([]))
        .await;
    assert_eq!(shown, json!(owned), "search by owner");

    // A dataset: schema, history and diff, runs, owners, product and domain, freshness.
    browser.goto(&format!("{base}/#/dataset?ns=sales-db&name=orders")).await;
    browser.find("#current-schema").await;
    let dataset = server
        .graphql_data(
            r#"{ dataset(namespace: "sales-db", name: "orders") {
                 currentSchema { version fields { name } } schemaVersions { version }
                 recentRuns { runId state startedAt endedAt } watermark { sequence } }
               owners(node: {kind: DATASET, namespace: "sales-db", name: "orders"}) { name source } }"#,
            json!({}),
        )
        .await;
    let fields = browser
        .eval("return [...document.querySelectorAll('#current-schema tr.field')].map(tr => tr.dataset.path)", json!([]))
        .await;
    assert_eq!(fields, json!(strings(&dataset["dataset"]["currentSchema"]["fields"], "/name")));
    assert_eq!(
        count(&browser, "#versions tr.schema-version").await,
        dataset["dataset"]["schemaVersions"].as_array().unwrap().len() as u64
    );
    let runs = browser.eval("return [...document.querySelectorAll('#runs tr.run')].map(tr => [tr.dataset.state, tr.querySelector('.duration').innerText])", json!([])).await;
    let recent = dataset["dataset"]["recentRuns"].as_array().unwrap();
    assert_eq!(runs.as_array().unwrap().len(), recent.len());
    for (row, run) in runs.as_array().unwrap().iter().zip(recent) {
        assert_eq!(row[0], run["state"]);
        let ended = !run["startedAt"].is_null() && !run["endedAt"].is_null();
        assert_eq!(row[1] != "—", ended, "{row} for {run}");
        if run["runId"] == run_id(501).as_str() {
            assert_eq!(row[1], "1 min 30 s");
        }
        if run["runId"] == run_id(503).as_str() {
            assert_eq!(row[1], "12 min 0 s");
        }
    }
    let owners = browser.eval("return [...document.querySelectorAll('#owners tr.owner')].map(tr => [...tr.cells].map(td => td.innerText))", json!([])).await;
    let owner_rows: Vec<(String, String)> = owners
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[2].as_str().unwrap().to_owned()))
        .collect();
    let expected_owners: Vec<(String, String)> = dataset["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_owned(), o["source"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(owner_rows, expected_owners);
    let products = server
        .graphql_data(
            "{ products { id domain outputPorts { dataset { namespace name } } } domains { id name } }",
            json!({}),
        )
        .await;
    let product = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["outputPorts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|port| port["dataset"] == json!({"namespace": "sales-db", "name": "orders"}))
        })
        .unwrap();
    assert_eq!(browser.text("#placement dd[data-field=product]").await, product["id"].as_str().unwrap());
    let domain = products["domains"].as_array().unwrap().iter().find(|d| d["id"] == product["domain"]).unwrap();
    assert_eq!(browser.text("#placement dd[data-field=domain]").await, domain["name"].as_str().unwrap());
    assert!(browser.text("#freshness").await.contains("Last completed write"));
    assert_eq!(watermark_shown(&browser).await, dataset["dataset"]["watermark"]["sequence"].as_u64().unwrap());
    // The diff between the two versions, then the same diff from its URL.
    browser.click("#diff-button").await;
    browser.find("#diff-changes tr.change").await;
    let versions = strings(&dataset["dataset"]["schemaVersions"], "/version");
    let diff = server
        .graphql_data(
            "query($from: String!, $to: String!) { schemaDiff(dataset: {namespace: \"sales-db\", name: \"orders\"}, from: $from, to: $to) { verdict changes { path kind } } }",
            json!({"from": versions[0], "to": versions[1]}),
        )
        .await;
    let change_paths = browser.eval("return [...document.querySelectorAll('#diff-changes tr.change')].map(tr => tr.cells[0].innerText + ' ' + tr.cells[1].innerText)", json!([])).await;
    let expected_changes: Vec<String> = diff["schemaDiff"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                if c["path"] == "" { "(dataset)" } else { c["path"].as_str().unwrap() },
                c["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(change_paths, json!(expected_changes));
    assert_eq!(count(&browser, "#diff-table tr[data-state=added]").await, 1, "status was added");
    assert_eq!(count(&browser, "#diff-table tr[data-state=changed]").await, 1, "amount was widened");
    let diff_url = browser.eval("return location.href", json!([])).await.as_str().unwrap().to_owned();
    assert!(diff_url.contains("from=") && diff_url.contains("to="), "{diff_url}");
    browser.screenshot(&shots, "dataset").await;
    browser.goto("about:blank").await;
    browser.goto(&diff_url).await;
    browser.find("#diff-changes tr.change").await;

    // A job page lists what the job reads and writes now.
    browser.goto(&format!("{base}/#/job?ns=mkt-db&name=build_stats")).await;
    browser.find("#node-name").await;
    let job = server
        .graphql_data(
            r#"{ job(namespace: "mkt-db", name: "build_stats") { inputs { name } outputs { name } runs { runId } } }"#,
            json!({}),
        )
        .await;
    let listed = browser.eval("return [...document.querySelectorAll('section.card ul.nodes')].map(ul => [...ul.querySelectorAll('a')].map(a => a.innerText))", json!([])).await;
    assert_eq!(listed, json!([strings(&job["job"]["inputs"], "/name"), strings(&job["job"]["outputs"], "/name")]));
    assert_eq!(count(&browser, "#runs tr.run").await, job["job"]["runs"].as_array().unwrap().len() as u64);

    // The lineage graph: every node and edge of the answer (no fan-out to collapse here).
    for direction in ["DOWNSTREAM", "BOTH"] {
        browser.goto(&format!("{base}/#/lineage?kind=DATASET&ns=sales-db&name=orders&dir={direction}&depth=3")).await;
        browser
            .wait_for("window.tributaryMetrics && window.tributaryMetrics.lineageCompleteMs", "the lineage graph")
            .await;
        let lineage = server
            .graphql_data(
                "query($d: Direction!) { lineage(start: {kind: DATASET, namespace: \"sales-db\", name: \"orders\"}, direction: $d, depth: 3) { nodes { kind namespace name } edges { kind } } }",
                json!({"d": direction}),
            )
            .await;
        assert_eq!(
            drawn_nodes(&browser, "#lineage-graph").await,
            node_set(&lineage["lineage"]["nodes"]),
            "{direction}"
        );
        assert_eq!(
            count(&browser, "#lineage-graph g.edge").await,
            lineage["lineage"]["edges"].as_array().unwrap().len() as u64
        );
        assert_eq!(count(&browser, "#lineage-graph g.node.group").await, 0);
    }
    browser.screenshot(&shots, "lineage").await;
    // Expand the start dataset to its columns and follow one.
    browser.click("#lineage-graph g.node.start").await;
    // Follow a column on the same graph: the datasets it reaches are marked by how.
    browser.click("#panel-columns button.column-trace[data-field=customer_email]").await;
    browser.find("#trace-summary").await;
    let traced = server
        .graphql_data(
            r#"{ columnLineage(dataset: {namespace: "sales-db", name: "orders"}, field: "customer_email", direction: DOWNSTREAM) {
                 columns { column { namespace name } use masked } unverified { dataset { namespace name } } } }"#,
            json!({}),
        )
        .await;
    let mut expected_trace = std::collections::BTreeMap::new();
    let rank = |use_: &str| ["unverified", "indirect", "masked", "direct"].iter().position(|u| *u == use_).unwrap();
    let mut keep = |dataset: &Value, use_: &'static str| {
        let key = format!("{}:{}", dataset["namespace"].as_str().unwrap(), dataset["name"].as_str().unwrap());
        let entry = expected_trace.entry(key).or_insert(use_);
        if rank(use_) > rank(entry) {
            *entry = use_;
        }
    };
    for reached in traced["columnLineage"]["columns"].as_array().unwrap() {
        let use_ = if reached["use"] == "INDIRECT" {
            "indirect"
        } else if reached["masked"] == true {
            "masked"
        } else {
            "direct"
        };
        keep(&reached["column"], use_);
    }
    for consumer in traced["columnLineage"]["unverified"].as_array().unwrap() {
        keep(&consumer["dataset"], "unverified");
    }
    let marked = browser
        .eval(
            "return [...document.querySelectorAll('#lineage-graph g.node[data-type=node]')].flatMap(g => [...g.classList].filter(c => c.startsWith('trace-') && c !== 'trace-start').map(c => [g.dataset.namespace + ':' + g.dataset.name, c.slice(6)]))",
            json!([]),
        )
        .await;
    let marked: Vec<(String, String)> = serde_json::from_value(marked).unwrap();
    let marked: std::collections::BTreeMap<String, String> = marked.into_iter().collect();
    let expected_trace: std::collections::BTreeMap<String, String> =
        expected_trace.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
    assert!(!expected_trace.is_empty());
    assert_eq!(marked, expected_trace, "datasets marked on the graph vs columnLineage");
    browser.screenshot(&shots, "lineage-column").await;
    browser.click("#panel-columns a.column-link[href*='field=customer_email']").await;
    browser.find("#column-graph g.node").await;
    let columns = server
        .graphql_data(
            r#"{ columnLineage(dataset: {namespace: "sales-db", name: "orders"}, field: "customer_email") {
                 columns { use masked } edges { transformations { type masking } } unverified { dataset { name } } } }"#,
            json!({}),
        )
        .await;
    let answer = &columns["columnLineage"];
    assert_eq!(
        count(&browser, "#column-table tr.column-impact").await,
        answer["columns"].as_array().unwrap().len() as u64
    );
    let masked_edges = answer["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let direct: Vec<&Value> =
                e["transformations"].as_array().unwrap().iter().filter(|t| t["type"] == "DIRECT").collect();
            !direct.is_empty() && direct.iter().all(|t| t["masking"] == true)
        })
        .count();
    assert!(masked_edges > 0, "the fixture has a masked column: {answer}");
    assert_eq!(count(&browser, "#column-graph g.edge.masked").await, masked_edges as u64);
    assert_eq!(
        count(&browser, "#column-graph g.edge.direct").await
            + count(&browser, "#column-graph g.edge.indirect").await
            + masked_edges as u64,
        answer["edges"].as_array().unwrap().len() as u64
    );
    assert_eq!(
        count(&browser, "#column-graph g.edge.unverified").await,
        answer["unverified"].as_array().unwrap().len() as u64
    );
    browser.screenshot(&shots, "columns").await;

    // Impact: counts, groups and owners from the summary, narrowed, the nodes listed and
    // exported.
    browser.goto(&format!("{base}/#/impact?kind=DATASET&ns=sales-db&name=orders")).await;
    browser.find("#impact-tree").await;
    let start = json!({"kind": "DATASET", "namespace": "sales-db", "name": "orders"});
    let summary = server.graphql_data(IMPACT_SUMMARY, json!({"s": start, "first": 100})).await["impactSummary"].clone();
    let groups = summary["groups"].as_array().unwrap().clone();
    let totals = |filter: &str| {
        groups
            .iter()
            .filter(|g| {
                filter.is_empty()
                    || ["product", "domain", "namespace"]
                        .iter()
                        .any(|k| g[*k].as_str().is_some_and(|v| v.contains(filter)))
                    || g["owners"].as_array().unwrap().iter().any(|o| o["name"].as_str().unwrap().contains(filter))
            })
            .fold((0, 0), |(d, j), g| (d + g["datasetCount"].as_u64().unwrap(), j + g["jobCount"].as_u64().unwrap()))
    };
    let (datasets, jobs) = totals("");
    assert!(datasets > 0 && jobs > 0);
    assert_eq!((datasets, jobs), (summary["datasetCount"].as_u64().unwrap(), summary["jobCount"].as_u64().unwrap()));
    assert_eq!(impact_summary(&browser).await, json!([datasets, jobs]));
    assert_eq!(count(&browser, "#impact-tree .impact-group").await, groups.len() as u64);
    assert_eq!(shown_owners(&browser).await, summary_owners(&groups));
    // The list is the summary's first page, nearest first; everything fits in it here.
    assert_eq!(listed_impact_nodes(&browser).await, summary_nodes(&summary["nodes"]));
    assert!(summary["nextCursor"].is_null());
    assert!(browser.eval("return document.getElementById('impact-more').hidden", json!([])).await.as_bool().unwrap());
    // The node CSV holds what the full impact answer lists; the groups CSV one row a group.
    let full = server
        .graphql_data(
            "query($s: NodeInput!) { impact(start: $s) { lineage { nodes { kind namespace name distance } } } }",
            json!({"s": start}),
        )
        .await;
    let exported = export_impact_csv(&browser).await;
    assert!(exported.starts_with("kind,namespace,name,distance\r\n"), "{exported}");
    assert_eq!(csv_nodes(&exported), closure_nodes(&full["impact"]["lineage"]["nodes"]));
    let groups_csv = fetch_blob(&browser, "#impact-groups-csv").await;
    assert!(groups_csv.starts_with("product,domain,namespace,owners,datasets,jobs"));
    assert_eq!(groups_csv.lines().count(), 1 + groups.len(), "{groups_csv}");
    browser.screenshot(&shots, "impact").await;
    browser.type_into("#impact-filter", "finance").await;
    let (datasets, jobs) = totals("finance");
    assert!(datasets > 0);
    browser
        .wait_for(
            &format!("document.getElementById('impact-summary').dataset.datasets === '{datasets}'"),
            "the narrowed impact",
        )
        .await;
    assert_eq!(impact_summary(&browser).await, json!([datasets, jobs]));
    assert!(browser.eval("return location.hash", json!([])).await.as_str().unwrap().contains("q=finance"));

    // The change check: start from the current schema, drop a column, see the report.
    browser.goto(&format!("{base}/#/check?ns=sales-db&name=orders")).await;
    browser.click("#check-current").await;
    browser
        .wait_for("document.getElementById('check-schema').value.includes('customer_email')", "the current schema")
        .await;
    let proposed = r#"{"fields": [{"name": "order_id", "type": "bigint"}, {"name": "amount", "type": "decimal(14,2)"}, {"name": "status", "type": "varchar(20)"}]}"#;
    browser.type_into("#check-schema", proposed).await;
    browser.click("#check-run").await;
    browser.find("#check-report").await;
    let check = server
        .graphql_data(
            r#"query($s: String!) { checkChange(dataset: {namespace: "sales-db", name: "orders"}, schema: $s) {
                 verdict changes { path impacts { dataset { namespace name } field path use } } } }"#,
            json!({"s": proposed}),
        )
        .await;
    let report = &check["checkChange"];
    assert_eq!(
        browser.eval("return document.getElementById('check-report').dataset.verdict", json!([])).await,
        report["verdict"]
    );
    assert_eq!(
        browser
            .eval(
                "return [...document.querySelectorAll('#check-changes tr.change')].map(tr => tr.dataset.path)",
                json!([])
            )
            .await,
        json!(strings(&report["changes"], "/path"))
    );
    let impacts: Vec<&Value> =
        report["changes"].as_array().unwrap().iter().flat_map(|c| c["impacts"].as_array().unwrap()).collect();
    assert!(!impacts.is_empty(), "dropping customer_email reaches campaign_stats: {report}");
    assert_eq!(count(&browser, "#check-impacts tr.check-impact").await, impacts.len() as u64);
    let reached: BTreeSet<(String, String)> = impacts
        .iter()
        .map(|i| {
            let dataset =
                format!("{}:{}", i["dataset"]["namespace"].as_str().unwrap(), i["dataset"]["name"].as_str().unwrap());
            (dataset, i["field"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    let drawn: BTreeSet<(String, String)> = serde_json::from_value(
        browser
            .eval("return [...document.querySelectorAll('#check-graph g.node.affected')].map(g => [g.dataset.dataset, g.dataset.field])", json!([]))
            .await,
    )
    .unwrap();
    assert_eq!(drawn, reached, "the affected columns drawn on the path graph");
    let check_url = browser.eval("return location.href", json!([])).await.as_str().unwrap().to_owned();
    assert!(check_url.contains("schema="), "{check_url}");
    browser.screenshot(&shots, "check").await;
    browser.eval("document.getElementById('check-graph').scrollIntoView()", json!([])).await;
    browser.screenshot(&shots, "check-paths").await;
    browser.goto("about:blank").await;
    browser.goto(&check_url).await;
    browser.find("#check-report").await;
    // The same check from a dbt models YAML.
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/check/orders-proposed.yml")).unwrap();
    browser
        .eval(
            "const f = document.getElementById('check-format'); f.value = 'DBT'; f.dispatchEvent(new Event('change'))",
            json!([]),
        )
        .await;
    browser.eval("document.getElementById('check-schema').value = arguments[0]", json!([yaml])).await;
    browser.eval("document.getElementById('check-report').remove()", json!([])).await;
    browser.click("#check-run").await;
    browser.find("#check-report").await;
    let dbt = server
        .graphql_data(
            r#"query($s: String!) { checkChange(dataset: {namespace: "sales-db", name: "orders"}, schema: $s, format: DBT) {
                 verdict changes { path } } }"#,
            json!({"s": yaml}),
        )
        .await;
    assert_eq!(
        browser.eval("return document.getElementById('check-report').dataset.verdict", json!([])).await,
        dbt["checkChange"]["verdict"]
    );
    assert_eq!(
        browser
            .eval(
                "return [...document.querySelectorAll('#check-changes tr.change')].map(tr => tr.dataset.path)",
                json!([])
            )
            .await,
        json!(strings(&dbt["checkChange"]["changes"], "/path"))
    );
    assert!(browser.eval("return location.hash", json!([])).await.as_str().unwrap().contains("format=DBT"));

    // The mesh: domains, products, violations, product lineage.
    browser.goto(&format!("{base}/#/mesh")).await;
    browser.find("#mesh-graph g.node").await;
    let mesh = server
        .graphql_data(
            "{ domains { id } products { id outputPorts { name } } violations { policy } productLineage { from to } }",
            json!({}),
        )
        .await;
    assert_eq!(
        browser
            .eval(
                "return [...document.querySelectorAll('#mesh-domains tr.domain-row')].map(tr => tr.dataset.domain)",
                json!([])
            )
            .await,
        json!(strings(&mesh["domains"], "/id"))
    );
    let product_ids: BTreeSet<String> = strings(&mesh["products"], "/id").into_iter().collect();
    let shown_products: BTreeSet<String> = serde_json::from_value(
        browser
            .eval(
                "return [...document.querySelectorAll('#mesh-products tr.product-row')].map(tr => tr.dataset.product)",
                json!([]),
            )
            .await,
    )
    .unwrap();
    assert_eq!(shown_products, product_ids);
    let violations = mesh["violations"].as_array().unwrap().len() as u64;
    assert!(violations > 0);
    assert_eq!(count(&browser, "#mesh-violations tr.violation").await, violations);
    assert_eq!(count(&browser, "#mesh-graph g.node").await, product_ids.len() as u64);
    assert_eq!(count(&browser, "#mesh-graph g.edge").await, mesh["productLineage"].as_array().unwrap().len() as u64);
    browser.screenshot(&shots, "mesh").await;
    browser.click("#mesh-graph g.node[data-product='sales.orders']").await;
    browser.find("#product-header[data-product='sales.orders']").await;
    browser.find("#product-graph g.node.start").await;
    browser.goto(&format!("{base}/#/domain?id=marketing")).await;
    browser.find("#domain-header[data-domain=marketing]").await;

    // Unknown paths: a real 404, for browsers a page; unknown views inside the explorer too.
    let client = reqwest::Client::new();
    let plain = client.get(format!("{base}/no/such/page")).send().await.unwrap();
    assert_eq!(plain.status(), 404);
    let page = client.get(format!("{base}/no/such/page")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let grpc = client
        .post(format!("{base}/tributary.v1.Nope/Nope"))
        .header("content-type", "application/grpc")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.headers().get("grpc-status").map(|v| v.to_str().unwrap()), Some("12"), "gRPC keeps its own answer");
    let root = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert!(root.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(root.headers().contains_key("content-security-policy"));
    // Assets revalidate with their ETag: a reload costs a 304.
    let script = client.get(format!("{base}/assets/js/main.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    let etag = script.headers()["etag"].clone();
    let again = client.get(format!("{base}/assets/js/main.js")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    browser.goto(&format!("{base}/no/such/page")).await;
    assert!(browser.text("h1").await.contains("Not found"));
    browser.screenshot(&shots, "not-found").await;
    browser.goto(&format!("{base}/#/no-such-view")).await;
    browser
        .wait_for(
            "document.querySelector('main h1') && document.querySelector('main h1').innerText === 'Not found'",
            "the explorer's not-found view",
        )
        .await;

    // GraphiQL works offline (the browser resolves no other host) and runs a query.
    browser.goto(&format!("{base}/graphql")).await;
    browser.find(".graphiql-container .graphiql-execute-button").await;
    browser.click(".graphiql-execute-button").await;
    browser.wait_for("document.querySelector('.graphiql-response') && document.querySelector('.graphiql-response').innerText.includes('sequence')", "the GraphiQL answer").await;
    let foreign = browser.eval("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin))", json!([])).await;
    assert_eq!(foreign, json!([]), "GraphiQL loaded something from elsewhere");
    browser.screenshot(&shots, "graphiql").await;

    // Authentication: the token box, the header on every request, and what a refusal shows.
    browser.goto(&format!("{base}/#/search")).await;
    browser.find("#search-summary[data-state=done]").await;
    browser.click("#token-button").await;
    browser.type_into("#token-input", "secret-token").await;
    browser.click("#token-box button[type=submit]").await;
    browser
        .wait_for("sessionStorage.getItem('tributary.token') === 'secret-token'", "the token in sessionStorage")
        .await;
    browser
        .eval(
            "window.seenAuth = []; const real = window.fetch; window.realFetch = real; window.fetch = (url, options) => { window.seenAuth.push(options.headers.Authorization); return real(url, options); }",
            json!([]),
        )
        .await;
    browser.type_into("#search-text", "ledger").await;
    browser.wait_for("location.hash.includes('q=ledger') && document.querySelector('#search-summary[data-state=done]') && window.seenAuth.length", "a search with the token").await;
    let seen = browser.eval("return window.seenAuth", json!([])).await;
    assert!(seen.as_array().unwrap().iter().all(|v| v == "Bearer secret-token"), "{seen}");
    browser.eval("window.fetch = async () => new Response('{}', {status: 401})", json!([])).await;
    browser.eval("location.hash = '#/mesh'", json!([])).await;
    browser
        .wait_for(
            "!document.getElementById('notice').hidden && !document.getElementById('token-box').hidden",
            "the 401 notice",
        )
        .await;
    assert!(browser.text("#notice").await.contains("401"));
    browser.screenshot(&shots, "auth").await;
    browser
        .eval(
            r#"document.getElementById('notice').hidden = true; window.fetch = async () => new Response(JSON.stringify({errors: [{message: "token expired", extensions: {code: "UNAUTHENTICATED"}}]}), {status: 200, headers: {"content-type": "application/json"}})"#,
            json!([]),
        )
        .await;
    browser.eval("location.hash = '#/search?q=x'", json!([])).await;
    browser.wait_for("!document.getElementById('notice').hidden", "the UNAUTHENTICATED notice").await;
    assert!(browser.text("#notice").await.contains("token expired"));
    browser.eval("window.fetch = window.realFetch", json!([])).await;
    // GraphiQL in the same tab sends the token too.
    browser.goto(&format!("{base}/graphql")).await;
    browser.find(".graphiql-container").await;
    browser
        .wait_for("document.body.innerText.includes('Bearer secret-token')", "the token in GraphiQL's headers")
        .await;

    drop(browser);
    server.shutdown().await;
}

/// `team-N` namespaces (two of them in domain `growth`, one in `ops`), one product.
const HUB_DOMAINS: [&str; 2] = [
    "kind: Domain\nid: growth\nname: Growth\nowners: [{name: growth-leads, role: business}]\nnamespaces: [team-0, team-1]\n",
    "kind: Domain\nid: ops\nname: Operations\nowners: [{name: ops-oncall}]\nnamespaces: [team-2]\n",
];
const HUB_PRODUCT: &str = "kind: DataProduct\nid: growth.funnel\nname: Funnel\ndomain: growth\nowners: [{name: funnel-team}]\nclassification: internal\noutputPorts:\n  - name: main\n    dataset: {namespace: team-0, name: out_0_0}\n    description: funnel\n";

/// A dataset read by `jobs` jobs that write `per_job` datasets each.
async fn hub_fixture(server: &TestServer, jobs: u32, per_job: u32) {
    for domain in HUB_DOMAINS {
        server.graphql_data(APPLY_DOMAIN, json!({"d": domain})).await;
    }
    server.graphql_data(APPLY_PRODUCT, json!({"d": HUB_PRODUCT})).await;
    let events: Vec<Value> = (0..jobs)
        .map(|job| {
            let team = format!("team-{}", job % 5);
            let mut event = run_event(
                "COMPLETE",
                "2024-05-01T00:00:00Z",
                &run_id(10_000 + job),
                &format!("fanout_{job}"),
                &[],
                &[],
            );
            event["job"]["namespace"] = team.clone().into();
            event["inputs"] = json!([{"namespace": "hub-db", "name": "events"}]);
            event["outputs"] =
                (0..per_job).map(|k| json!({"namespace": team, "name": format!("out_{job}_{k}")})).collect();
            event
        })
        .collect();
    let url = server.url("/api/v1/lineage");
    let statuses: Vec<u16> = futures::stream::iter(events)
        .map(|event| {
            let url = url.clone();
            async move { crate::support::post_json(&url, &event).await.0 }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|status| *status == 201), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_with_ten_thousand_downstream_datasets_stays_collapsed() {
    const JOBS: u32 = 200;
    const PER_JOB: u32 = 50;
    let server = start_server().await;
    let ingest_began = Instant::now();
    hub_fixture(&server, JOBS, PER_JOB).await;
    let ingest_time = ingest_began.elapsed();
    let browser = Browser::start().await;
    let shots = screenshots();
    let start = r#"{kind: DATASET, namespace: "hub-db", name: "events"}"#;
    let full = server
        .graphql_data(
            &format!(
                "{{ lineage(start: {start}, depth: 2, limit: 100000) {{ nodes {{ kind namespace name distance }} truncated }} }}"
            ),
            json!({}),
        )
        .await;
    let nodes = full["lineage"]["nodes"].as_array().unwrap();
    let jobs = nodes.iter().filter(|n| n["kind"] == "JOB").count() as u64;
    let datasets = nodes.iter().filter(|n| n["kind"] == "DATASET" && n["distance"] != 0).count() as u64;
    assert_eq!((jobs, datasets), (u64::from(JOBS), u64::from(JOBS * PER_JOB)));

    // A fresh page load of the hub's lineage: performance.now() counts from navigation start.
    let url = format!("{}/#/lineage?kind=DATASET&ns=hub-db&name=events&dir=DOWNSTREAM&depth=2", server.base_url);
    browser.goto(&url).await;
    browser
        .wait_for_within(
            "window.tributaryMetrics && window.tributaryMetrics.lineageCompleteMs",
            "the hub's lineage",
            Duration::from_secs(120),
        )
        .await;
    let metrics = browser.eval("return window.tributaryMetrics", json!([])).await;
    // The hub's fan-out is drawn as counted groups (a group of one is drawn as its node) that
    // account for every job reading it; the graph stays small.
    let (shown, group_sizes) = hub_fan_out(&browser).await;
    assert!(!group_sizes.is_empty());
    assert_eq!(shown, jobs, "groups {group_sizes:?}");
    assert!(count(&browser, "#lineage-graph g.node").await <= 250);
    assert!(browser.text("#lineage-status").await.contains(&format!("{} nodes", fmt_thousands(jobs + datasets))));
    browser.screenshot(&shots, "hub-lineage").await;

    // Expanding the hub's largest group draws a page of its jobs (their outputs collapsed in
    // turn) and a "more" node; that one shows the next page.
    let largest = *group_sizes.iter().max().unwrap();
    let jobs_before = count(&browser, "#lineage-graph g.node[data-kind=JOB]").await;
    browser
        .eval(
            "const hub = arguments[0]; const sizes = [...document.querySelectorAll('#lineage-graph g.edge')].filter(e => e.dataset.from === hub)
               .map(e => [...document.querySelectorAll('#lineage-graph g.node')].find(g => g.dataset.id === e.dataset.to)).filter(g => g && g.dataset.type === 'group');
             sizes.sort((a, b) => Number(b.dataset.count) - Number(a.dataset.count))[0].setAttribute('data-test-target', '1')",
            json!([HUB_KEY]),
        )
        .await;
    browser.click("#lineage-graph g.node[data-test-target]").await;
    browser.find("#lineage-graph g.node.more").await;
    let remaining = browser
        .eval("return Number(document.querySelector('#lineage-graph g.node.more').dataset.remaining)", json!([]))
        .await;
    assert_eq!(remaining.as_u64().unwrap(), largest - 25);
    assert_eq!(count(&browser, "#lineage-graph g.node[data-kind=JOB]").await, jobs_before + 25);
    assert_eq!(hub_fan_out(&browser).await.0, jobs, "still every job, some drawn, some counted");
    browser.click("#lineage-graph g.node.more").await;
    browser
        .wait_for(
            &format!(
                "document.querySelectorAll('#lineage-graph g.node[data-kind=JOB]').length === {}",
                jobs_before + 50
            ),
            "the second page",
        )
        .await;
    assert!(
        browser.eval("return location.hash", json!([])).await.as_str().unwrap().contains("x="),
        "expansions are in the URL"
    );
    browser.screenshot(&shots, "hub-expanded").await;

    // Datasets only: the 10,000 datasets, in counted groups.
    let began = Instant::now();
    browser.click("#lineage-dso").await;
    browser.wait_for("document.querySelectorAll('#lineage-graph g.node[data-kind=JOB]').length === 0 && document.querySelector('#lineage-graph g.node.group')", "the datasets-only graph").await;
    let redraw = began.elapsed();
    let (shown, group_sizes) = hub_fan_out(&browser).await;
    assert_eq!(shown, datasets, "groups {group_sizes:?}");
    let drawn = count(&browser, "#lineage-graph g.node").await;
    assert!(drawn <= 250, "{drawn} nodes drawn");
    browser.screenshot(&shots, "hub-datasets-only").await;
    let ping = Instant::now();
    browser.eval("return 1", json!([])).await;
    let ping = ping.elapsed();

    // The impact view of the hub: counts, groups and owners from the summary, at once.
    let impact_url = format!("{}/#/impact?kind=DATASET&ns=hub-db&name=events&depth=2&limit=20000", server.base_url);
    let (mut counts_ms, mut view_ms) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        browser.goto("about:blank").await;
        browser.goto(&impact_url).await;
        let shown = browser
            .wait_for_within(
                "window.tributaryMetrics && window.tributaryMetrics.impactCountsMs && window.tributaryMetrics",
                "the hub's impact counts",
                Duration::from_secs(120),
            )
            .await;
        let counted = shown["impactCountsMs"].as_f64().unwrap();
        counts_ms.push(counted);
        view_ms.push(counted - shown["impactStartMs"].as_f64().unwrap());
    }
    let hub = json!({"kind": "DATASET", "namespace": "hub-db", "name": "events"});
    let summary = server
        .graphql_data(IMPACT_SUMMARY, json!({"s": hub, "first": 100, "depth": 2, "limit": 20000}))
        .await["impactSummary"]
        .clone();
    assert_eq!((summary["datasetCount"].as_u64(), summary["jobCount"].as_u64()), (Some(datasets), Some(jobs)));
    assert_eq!(impact_summary(&browser).await, json!([datasets, jobs]));
    assert_eq!(count(&browser, "#impact-tree .impact-group").await, summary["groups"].as_array().unwrap().len() as u64);
    assert_eq!(shown_owners(&browser).await, summary_owners(summary["groups"].as_array().unwrap()));
    assert!(browser.eval("return !document.getElementById('impact-truncated')", json!([])).await.as_bool().unwrap());
    browser.screenshot(&shots, "hub-impact").await;
    // The list: 100 nodes, then "load more" asks the next page; the URL keeps how many.
    assert_eq!(listed_impact_nodes(&browser).await, summary_nodes(&summary["nodes"]));
    browser.click("#impact-more").await;
    browser
        .wait_for("document.querySelectorAll('#impact-nodes li.impact-node').length === 200", "the second page")
        .await;
    let two_pages =
        server.graphql_data(IMPACT_SUMMARY, json!({"s": hub, "first": 200, "depth": 2, "limit": 20000})).await;
    assert_eq!(listed_impact_nodes(&browser).await, summary_nodes(&two_pages["impactSummary"]["nodes"]));
    assert!(browser.eval("return location.hash", json!([])).await.as_str().unwrap().contains("shown=200"));
    // A link asking for more than the server's largest page gets it in two requests.
    browser.goto("about:blank").await;
    browser.goto(&format!("{impact_url}&shown=1150")).await;
    browser
        .wait_for_within(
            "document.querySelectorAll('#impact-nodes li.impact-node').length === 1150",
            "1,150 nodes from the link",
            Duration::from_secs(60),
        )
        .await;
    let first_page = server
        .graphql_data(IMPACT_SUMMARY, json!({"s": hub, "first": 1000, "depth": 2, "limit": 20000}))
        .await["impactSummary"]
        .clone();
    let second_page = server
        .graphql_data(
            IMPACT_SUMMARY,
            json!({"s": hub, "first": 150, "after": first_page["nextCursor"], "depth": 2, "limit": 20000}),
        )
        .await;
    let mut expected = summary_nodes(&first_page["nodes"]);
    expected.extend(summary_nodes(&second_page["impactSummary"]["nodes"]));
    assert_eq!(listed_impact_nodes(&browser).await, expected);
    // The node CSV pages through all 10,200 (11 requests of at most 1,000).
    let began = Instant::now();
    let exported = export_impact_csv(&browser).await;
    let export_time = began.elapsed();
    assert_eq!(csv_nodes(&exported), closure_nodes(&full["lineage"]["nodes"]));
    assert_eq!(exported.lines().count() as u64, 1 + datasets + jobs);
    // The server's default node limit cuts the walk; the view says so.
    browser.goto(&format!("{}/#/impact?kind=DATASET&ns=hub-db&name=events&depth=2", server.base_url)).await;
    browser.find("#impact-truncated a").await;

    // Before: the view waited for the full closure (`impact`, every group's members). Both
    // answers fetched and parsed by the page, three times each.
    let full_query = "query($s: NodeInput!) { impact(start: $s, depth: 2, limit: 20000) {
        lineage { truncated depth watermark { sequence events } }
        groups { product domain namespace owners { name role source } datasetCount jobCount datasets { namespace name } jobs { namespace name } } } }";
    let summary_query = "query($s: NodeInput!) { impactSummary(start: $s, depth: 2, limit: 20000, first: 100) {
        datasetCount jobCount truncated depth groups { product domain namespace datasetCount jobCount owners { name role source } }
        nodes { kind namespace name distance } nextCursor watermark { sequence events } } }";
    let (full_ms, full_bytes) = timed_fetch(&browser, full_query, &hub).await;
    let (summary_ms, summary_bytes) = timed_fetch(&browser, summary_query, &hub).await;
    println!(
        "web: impact view of the hub ({datasets} datasets and {jobs} jobs downstream): counts shown {:.0} ms \
         after navigation start (median of {:?}; {:.0} ms after the view started), from impactSummary ({summary_bytes} bytes, fetched and parsed \
         in {summary_ms:.0} ms); before, the view waited for the full closure (impact with every group's \
         members: {full_bytes} bytes, fetched and parsed in {full_ms:.0} ms); node CSV of {} rows paged in {} ms",
        median(&mut counts_ms.clone()),
        counts_ms.iter().map(|ms| ms.round() as u64).collect::<Vec<_>>(),
        median(&mut view_ms),
        datasets + jobs,
        export_time.as_millis(),
    );
    println!(
        "web: hub with {datasets} downstream datasets and {jobs} jobs (ingested in {:.1} s): lineage view \
         first paint {:.0} ms after navigation start (first answer cut at 1,500 nodes), complete {:.0} ms; \
         datasets-only redraw {} ms; {drawn} nodes drawn; script round trip afterwards {} ms",
        ingest_time.as_secs_f64(),
        metrics["lineageFirstPaintMs"].as_f64().unwrap_or(f64::NAN),
        metrics["lineageCompleteMs"].as_f64().unwrap_or(f64::NAN),
        redraw.as_millis(),
        ping.as_millis(),
    );
    drop(browser);
    server.shutdown().await;
}

/// Median ms (of three) for the page to fetch and parse a GraphQL answer, and its size.
async fn timed_fetch(browser: &Browser, query: &str, start: &Value) -> (f64, u64) {
    let script = "const done = arguments[arguments.length - 1]; const began = performance.now();
        fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({query: arguments[0], variables: arguments[1]})})
          .then(r => r.text()).then(text => { const body = JSON.parse(text); done([performance.now() - began, text.length, Boolean(body.errors)]); })";
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let answer = browser.eval_async(script, json!([query, {"s": start}])).await;
        assert_eq!(answer[2], false, "{answer}");
        times.push(answer[0].as_f64().unwrap());
        bytes = answer[1].as_u64().unwrap();
    }
    (median(&mut times), bytes)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn fmt_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
