//! Stress: HTTP ingest from several tasks, a gRPC ingest stream, every query kind over
//! GraphQL and gRPC, and mesh applies, all at once against one server for a few seconds.
//! Every request has a deadline (a stall fails the test and names the request), `/healthz`
//! must answer within 2 s throughout, and at the end every acknowledged event is there and
//! no answer ever reflected less than an event acknowledged before the request was sent.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tributary_grpc::proto::{self, ingest_ack};
use tributary_server::ServiceConfig;

use crate::support::start_server_with;

/// How long ingest and queries run together.
const LOAD: Duration = Duration::from_secs(6);
/// Any request taking longer than this is a stall.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// `/healthz` must always answer within this.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);
const HTTP_WRITERS: u64 = 4;
/// The writer number of the gRPC stream's events.
const GRPC_WRITER: u64 = 9;
const QUERY_TASKS: u64 = 3;
/// Events the gRPC stream keeps in flight.
const STREAM_WINDOW: usize = 4;

/// Three domains' namespaces and one outside every domain. The first of each domain is a
/// product port or internal dataset of the mesh files.
const DATASETS: [(&str, &str); 14] = [
    ("sales-db", "orders_raw"),
    ("sales-db", "orders"),
    ("sales-db", "customers"),
    ("sales-db", "returns"),
    ("mkt-db", "campaign_stats"),
    ("mkt-db", "visits"),
    ("mkt-db", "segments"),
    ("fin-db", "ledger"),
    ("fin-db", "revenue"),
    ("fin-db", "costs"),
    ("fin-db", "report"),
    ("ops-db", "metrics"),
    ("ops-db", "alerts"),
    ("ops-db", "slo"),
];

/// Every query kind the query tasks run; each must have run at least once.
const QUERY_KINDS: [&str; 15] = [
    "lineage",
    "impact",
    "search",
    "productLineage",
    "owners",
    "violations",
    "checkChange",
    "columnLineage",
    "dataset",
    "job",
    "run",
    "schemaChanges",
    "grpc GetLineage",
    "grpc StreamLineage",
    "grpc GetColumnLineage",
];

type Node = (String, String);

fn node(namespace: &str, name: &str) -> Node {
    (namespace.to_owned(), name.to_owned())
}

/// xorshift64: deterministic per task, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One generated event and what it touches.
struct Generated {
    event: Value,
    run_id: String,
    job: Node,
    inputs: Vec<Node>,
    output: Node,
    schema: bool,
    columns: bool,
}

fn schema_fields(n: u64) -> Vec<Value> {
    // The schema moves between versions: a widened type, an added and a dropped column.
    let amount = if n.is_multiple_of(3) { "decimal(12,2)" } else { "decimal(10,2)" };
    let mut fields = vec![json!({"name": "id", "type": "bigint"}), json!({"name": "amount", "type": amount})];
    if n % 5 != 4 {
        fields.push(json!({"name": "status", "type": "varchar(20)"}));
    }
    fields.push(json!({"name": "ts", "type": "timestamp"}));
    if n % 4 == 1 {
        fields.push(json!({"name": "note", "type": "string"}));
    }
    fields
}

fn column_lineage(inputs: &[Node]) -> Value {
    let input_field = |input: &Node, field: &str, kind: &str, subtype: &str| {
        json!({"namespace": input.0, "name": input.1, "field": field,
               "transformations": [{"type": kind, "subtype": subtype, "masking": false}]})
    };
    let first = &inputs[0];
    let mut amount = vec![input_field(first, "amount", "DIRECT", "AGGREGATION")];
    if let Some(second) = inputs.get(1) {
        amount.push(input_field(second, "amount", "DIRECT", "AGGREGATION"));
        amount.push(input_field(second, "id", "INDIRECT", "JOIN"));
    }
    json!({
        "_producer": "https://example.com/tributary-stress",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
        "fields": {
            "id": {"inputFields": [input_field(first, "id", "DIRECT", "IDENTITY")]},
            "amount": {"inputFields": amount},
            "ts": {"inputFields": [input_field(first, "ts", "DIRECT", "TRANSFORMATION")]},
        },
        "dataset": [input_field(first, "status", "INDIRECT", "FILTER")],
    })
}

/// Event `n` of writer `writer`: a job reading one or two datasets and writing another,
/// mostly downstream in `DATASETS` order (now and then upstream: cycles happen too).
fn generate(rng: &mut Rng, writer: u64, n: u64) -> Generated {
    let first = rng.below(DATASETS.len() - 1);
    let output_index =
        if rng.chance(10) { rng.below(first + 1) } else { first + 1 + rng.below(DATASETS.len() - first - 1) };
    let mut input_indices = vec![first];
    if rng.chance(40) {
        let second = rng.below(DATASETS.len());
        if second != first && second != output_index {
            input_indices.push(second);
        }
    }
    input_indices.retain(|&index| index != output_index);
    if input_indices.is_empty() {
        input_indices.push((output_index + 1) % DATASETS.len());
    }
    let inputs: Vec<Node> = input_indices.iter().map(|&index| node(DATASETS[index].0, DATASETS[index].1)).collect();
    let output = node(DATASETS[output_index].0, DATASETS[output_index].1);
    let job = node(&output.0, &format!("w{writer}_job{}", n % 5));
    let run_id = format!("{writer:08x}-0000-4000-8000-{n:012x}");
    let schema = rng.chance(50);
    let columns = rng.chance(50);
    let mut facets = serde_json::Map::new();
    if schema {
        facets.insert(
            "schema".into(),
            json!({"_producer": "https://example.com/tributary-stress",
                   "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
                   "fields": schema_fields(n)}),
        );
    }
    if columns {
        facets.insert("columnLineage".into(), column_lineage(&inputs));
    }
    let event = json!({
        "eventType": if rng.chance(85) { "COMPLETE" } else { "FAIL" },
        "eventTime": tributary_server::model::Timestamp::now().to_rfc3339(),
        "producer": "https://example.com/tributary-stress",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": job.0, "name": job.1},
        "inputs": inputs.iter().map(|(namespace, name)| json!({"namespace": namespace, "name": name})).collect::<Vec<_>>(),
        "outputs": [{"namespace": output.0, "name": output.1, "facets": facets}],
    });
    Generated { event, run_id, job, inputs, output, schema, columns }
}

/// An acknowledged event.
struct Acked {
    sequence: u64,
    run_id: String,
    job: Node,
    output: Node,
}

/// What has been acknowledged so far. Recorded after the acknowledgement arrives, so a
/// request sent after reading it must reflect it.
#[derive(Default)]
struct Tracker {
    acked: Vec<Acked>,
    max_sequence: u64,
    /// Highest acknowledged sequence of an event that read or wrote the dataset.
    dataset_floor: HashMap<Node, u64>,
    job_floor: HashMap<Node, u64>,
    with_schema: Vec<Node>,
    with_columns: Vec<Node>,
}

impl Tracker {
    fn record(&mut self, generated: &Generated, sequence: u64) {
        self.max_sequence = self.max_sequence.max(sequence);
        for dataset in generated.inputs.iter().chain([&generated.output]) {
            let floor = self.dataset_floor.entry(dataset.clone()).or_default();
            *floor = (*floor).max(sequence);
        }
        let floor = self.job_floor.entry(generated.job.clone()).or_default();
        *floor = (*floor).max(sequence);
        if generated.schema && !self.with_schema.contains(&generated.output) {
            self.with_schema.push(generated.output.clone());
        }
        if generated.columns && !self.with_columns.contains(&generated.output) {
            self.with_columns.push(generated.output.clone());
        }
        self.acked.push(Acked {
            sequence,
            run_id: generated.run_id.clone(),
            job: generated.job.clone(),
            output: generated.output.clone(),
        });
    }
}

struct Ctx {
    base_url: String,
    http: reqwest::Client,
    tracker: Mutex<Tracker>,
    /// Set by the first task that fails: the others stop early.
    stop: AtomicBool,
    deadline: Instant,
    /// Per query kind: (runs, slowest).
    query_stats: Mutex<HashMap<&'static str, (u64, Duration)>>,
}

impl Ctx {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && Instant::now() < self.deadline
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap()
    }
}

/// Runs `future` under the request deadline; a stall is an error naming the request.
async fn timed<T>(name: &str, future: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(REQUEST_DEADLINE, future)
        .await
        .map_err(|_| format!("STALL: `{name}` got no answer within {REQUEST_DEADLINE:?}"))
}

async fn post(ctx: &Ctx, name: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
    let request = ctx.http.post(ctx.url(path)).json(body).send();
    let (status, text) = timed(name, async {
        let response = request.await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    })
    .await?
    .map_err(|error| format!("`{name}`: {error}"))?;
    let body =
        serde_json::from_str(&text).map_err(|error| format!("`{name}`: answer is not JSON ({error}): {text}"))?;
    Ok((status, body))
}

/// A GraphQL request that must succeed: HTTP 200 and no `errors`; returns `data`.
async fn graphql(ctx: &Ctx, name: &str, query: &str, variables: Value) -> Result<Value, String> {
    let (status, body) = post(ctx, name, "/graphql", &json!({"query": query, "variables": variables})).await?;
    if status != 200 || body.get("errors").is_some() {
        return Err(format!("`{name}` (variables {variables}): status {status}, answer {body}"));
    }
    Ok(body["data"].clone())
}

/// The answer's watermark must cover every event acknowledged before the request was sent.
fn covers(name: &str, watermark: &Value, floor: u64) -> Result<(), String> {
    match watermark["sequence"].as_u64() {
        Some(sequence) if sequence >= floor => Ok(()),
        _ => Err(format!(
            "INCONSISTENT: `{name}` answered with watermark {watermark}, but sequence {floor} was acknowledged before it was sent"
        )),
    }
}

const APPLY_PRODUCT: &str = "mutation($d: String!) { applyProduct(descriptor: $d) { id version changed } }";
const APPLY_DOMAIN: &str = "mutation($d: String!) { applyDomain(descriptor: $d) { id version changed } }";

fn mesh_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mesh").join(name)).unwrap()
}

async fn apply(ctx: &Ctx, mutation: &str, descriptor: String, expected_version: u64) -> Result<(), String> {
    let field = if mutation == APPLY_PRODUCT { "applyProduct" } else { "applyDomain" };
    let name = format!("{field} {}", descriptor.lines().find(|line| line.starts_with("id:")).unwrap_or("?"));
    let data = graphql(ctx, &name, mutation, json!({"d": descriptor})).await?;
    let applied = &data[field];
    if applied["version"] != expected_version || applied["changed"] != true {
        return Err(format!("`{name}`: expected a change to version {expected_version}, got {applied}"));
    }
    Ok(())
}

async fn http_writer(ctx: Arc<Ctx>, writer: u64) -> Result<u64, String> {
    let mut rng = Rng::new(writer + 1);
    let mut n = 0;
    while ctx.running() {
        let generated = generate(&mut rng, writer, n);
        let name = format!("POST /api/v1/lineage (writer {writer}, event {n})");
        let (status, body) = post(&ctx, &name, "/api/v1/lineage", &generated.event).await?;
        let sequence = body["sequence"].as_u64();
        if status != 201 || body["duplicate"] != false || sequence.is_none() {
            return Err(format!("`{name}`: status {status}, answer {body}"));
        }
        ctx.tracker().record(&generated, sequence.unwrap_or_default());
        n += 1;
    }
    Ok(n)
}

/// One `IngestStream` for the whole load, `STREAM_WINDOW` events in flight.
async fn grpc_writer(ctx: Arc<Ctx>) -> Result<u64, String> {
    let mut rng = Rng::new(GRPC_WRITER + 1);
    let mut client = timed("gRPC connect", proto::ingest_client::IngestClient::connect(ctx.base_url.clone()))
        .await?
        .map_err(|error| format!("gRPC connect: {error}"))?;
    let (sender, receiver) = mpsc::channel::<proto::IngestEventRequest>(STREAM_WINDOW * 2);
    let mut pending: VecDeque<Generated> = VecDeque::new();
    // The first event goes in before the call, whether or not the server answers the
    // headers before reading a message.
    let first = generate(&mut rng, GRPC_WRITER, 0);
    sender.send(proto::IngestEventRequest { event_json: first.event.to_string() }).await.map_err(|e| e.to_string())?;
    pending.push_back(first);
    let mut sent = 1u64;
    let mut acks = timed("gRPC IngestStream open", client.ingest_stream(ReceiverStream::new(receiver)))
        .await?
        .map_err(|status| format!("gRPC IngestStream open: {status}"))?
        .into_inner();
    let mut acked = 0u64;
    loop {
        if ctx.running() && pending.len() < STREAM_WINDOW {
            let generated = generate(&mut rng, GRPC_WRITER, sent);
            let request = proto::IngestEventRequest { event_json: generated.event.to_string() };
            timed(&format!("gRPC IngestStream send {sent}"), sender.send(request))
                .await?
                .map_err(|_| format!("gRPC IngestStream: the stream closed before event {sent}"))?;
            pending.push_back(generated);
            sent += 1;
            continue;
        }
        let Some(generated) = pending.pop_front() else { break };
        let name = format!("gRPC IngestStream ack {acked}");
        let ack = timed(&name, acks.message())
            .await?
            .map_err(|status| format!("`{name}`: {status}"))?
            .ok_or_else(|| format!("`{name}`: the stream ended early"))?;
        match ack.result {
            Some(ingest_ack::Result::Accepted(accepted)) if ack.index == acked && !accepted.duplicate => {
                ctx.tracker().record(&generated, accepted.sequence);
            }
            other => return Err(format!("`{name}`: index {} result {other:?}", ack.index)),
        }
        acked += 1;
    }
    drop(sender);
    let end = timed("gRPC IngestStream end", acks.message()).await?;
    if !matches!(end, Ok(None)) {
        return Err(format!("gRPC IngestStream: expected the end after the last ack, got {end:?}"));
    }
    Ok(acked)
}

/// `/healthz` every 100 ms; each must answer 200 `ok` within 2 s. Returns the slowest (ms).
async fn health_watch(ctx: Arc<Ctx>) -> Result<u64, String> {
    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    let mut polls = 0u64;
    while ctx.running() {
        let started = Instant::now();
        let answer = tokio::time::timeout(HEALTH_DEADLINE, async {
            let response = client.get(ctx.url("/healthz")).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.json::<Value>().await?))
        })
        .await
        .map_err(|_| format!("STALL: GET /healthz (poll {polls}) got no answer within {HEALTH_DEADLINE:?}"))?
        .map_err(|error| format!("GET /healthz (poll {polls}): {error}"))?;
        if answer.0 != 200 || answer.1["status"] != "ok" {
            return Err(format!("GET /healthz (poll {polls}): status {}, answer {}", answer.0, answer.1));
        }
        slowest = slowest.max(started.elapsed());
        polls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Unless another task failed and stopped the load early, the load lasts many polls.
    if polls < 10 && !ctx.stop.load(Ordering::SeqCst) {
        return Err(format!("GET /healthz polled only {polls} times"));
    }
    Ok(slowest.as_millis() as u64)
}

/// Halfway through the load: a new product and a changed domain.
async fn mesh_changes(ctx: Arc<Ctx>) -> Result<u64, String> {
    let halfway = ctx.deadline - LOAD / 2;
    while ctx.running() && Instant::now() < halfway {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if ctx.stop.load(Ordering::SeqCst) {
        // Another task failed: that failure is the one to report.
        return Ok(0);
    }
    if !ctx.running() {
        return Err("the load ended before the mesh changed".into());
    }
    apply(&ctx, APPLY_PRODUCT, mesh_file("product-ledger.yaml"), 1).await?;
    let finance = mesh_file("domain-finance.yaml").replace(
        "owners: [{name: cfo-office, role: business}]",
        "owners: [{name: cfo-office, role: business}, {name: controller, role: technical}]",
    );
    apply(&ctx, APPLY_DOMAIN, finance, 2).await?;
    Ok(2)
}

const LINEAGE: &str = r#"query($ns: String!, $name: String!, $direction: Direction!) {
  lineage(start: {kind: DATASET, namespace: $ns, name: $name}, direction: $direction, depth: 6, limit: 500) {
    nodes { kind namespace name distance } edges { from { name } to { name } kind } truncated watermark { sequence }
  }
}"#;
/// The nodes alone: written while the answer is read out (objects, or `lineageTable`'s lists).
const LINEAGE_NODES: &str = r#"query($ns: String!, $name: String!, $direction: Direction!) {
  lineage(start: {kind: DATASET, namespace: $ns, name: $name}, direction: $direction, depth: 6, limit: 500) {
    nodes { kind namespace name distance } truncated watermark { sequence }
  }
}"#;
const LINEAGE_TABLE: &str = r#"query($ns: String!, $name: String!, $direction: Direction!) {
  lineageTable(start: {kind: DATASET, namespace: $ns, name: $name}, direction: $direction, depth: 6, limit: 500) {
    namespaces nodeNamespaces nodeNames nodeKinds nodeDistances truncated watermark { sequence }
  }
}"#;
const IMPACT: &str = r#"query($ns: String!, $name: String!) {
  impact(start: {kind: DATASET, namespace: $ns, name: $name}, depth: 6) {
    lineage { nodes { name distance } watermark { sequence } }
    groups { product domain namespace datasetCount jobCount owners { name source } }
  }
}"#;
const SEARCH: &str = r#"query($text: String, $owner: String, $domain: String) {
  search(text: $text, owner: $owner, domain: $domain, first: 50) { results { kind product node { namespace name } } nextCursor }
}"#;
const PRODUCT_LINEAGE: &str = "{ productLineage { from to via { from { name } to { name } } } domainLineage { from to } products { id version upstreamProducts downstreamProducts } }";
const OWNERS: &str = r#"query($ns: String!, $name: String!) {
  owners(node: {kind: DATASET, namespace: $ns, name: $name}) { name role source }
  ownedBy(owner: "alice@example.com") { datasets { name } products domains }
}"#;
const VIOLATIONS: &str =
    "{ violations { policy kind blocking subject reason path since } freshness { product port status } }";
const CHECK: &str = r#"query($ns: String!, $name: String!, $schema: String!) {
  checkChange(dataset: {namespace: $ns, name: $name}, schema: $schema, format: OPENLINEAGE) {
    verdict changes { path kind verdict impacts { dataset { name } field use } } groups { namespace datasetCount } watermark { sequence }
  }
}"#;
const COLUMNS: &str = r#"query($ns: String!, $name: String!, $field: String!, $direction: Direction!) {
  columnLineage(dataset: {namespace: $ns, name: $name}, field: $field, direction: $direction) {
    start { name field } columns { column { name field } distance use } unverified { dataset { name } } truncated watermark { sequence }
  }
}"#;
const DATASET: &str = r#"query($ns: String!, $name: String!) {
  dataset(namespace: $ns, name: $name) {
    name producers { name } consumers { name } currentSchema { version } schemaVersions { version } recentRuns { runId } watermark { sequence }
  }
}"#;
const JOB: &str = r#"query($ns: String!, $name: String!) {
  job(namespace: $ns, name: $name) { name inputs { name } outputs { name } runs(first: 3) { runId state } watermark { sequence } }
}"#;
const RUN: &str = r#"query($id: String!) {
  run(runId: $id) { runId state job { namespace name } outputs { namespace name } eventSequences watermark { sequence } }
}"#;
const SCHEMA_CHANGES: &str =
    "{ schemaChanges(first: 10) { sequence dataset { namespace name } fromVersion toVersion verdict } }";

/// A known dataset (one with an acknowledged event), the highest acknowledged sequence
/// that touched it, and the highest acknowledged overall.
fn pick_dataset(ctx: &Ctx, rng: &mut Rng, among: fn(&Tracker) -> Vec<Node>) -> Option<(Node, u64, u64)> {
    let tracker = ctx.tracker();
    let candidates = among(&tracker);
    if candidates.is_empty() {
        return None;
    }
    let dataset = candidates[rng.below(candidates.len())].clone();
    let floor = tracker.dataset_floor.get(&dataset).copied().unwrap_or_default();
    Some((dataset, floor, tracker.max_sequence))
}

fn any_dataset(tracker: &Tracker) -> Vec<Node> {
    tracker.dataset_floor.keys().cloned().collect()
}

fn with_schema(tracker: &Tracker) -> Vec<Node> {
    tracker.with_schema.clone()
}

fn with_columns(tracker: &Tracker) -> Vec<Node> {
    tracker.with_columns.clone()
}

fn direction(rng: &mut Rng) -> &'static str {
    ["DOWNSTREAM", "UPSTREAM", "BOTH"][rng.below(3)]
}

fn proto_node(dataset: &Node) -> proto::NodeRef {
    proto::NodeRef { kind: proto::NodeKind::Dataset as i32, namespace: dataset.0.clone(), name: dataset.1.clone() }
}

/// The nodes of an answer's node table (none without one), or why the table is not one.
fn table_nodes(what: &str, table: Option<&proto::LineageNodeTable>) -> Result<Vec<proto::LineageNode>, String> {
    let Some(table) = table else { return Ok(Vec::new()) };
    table.to_nodes().ok_or_else(|| format!("`{what}`: a node table whose columns disagree: {table:?}"))
}

/// Lineage both ways from `dataset`, with or without edges and jobs, nodes and edges as
/// messages or in columns, at random.
fn grpc_lineage_request(rng: &mut Rng, dataset: &Node, depth: u32, limit: u32) -> proto::LineageRequest {
    proto::LineageRequest {
        start: Some(proto_node(dataset)),
        direction: proto::Direction::Both as i32,
        depth,
        limit,
        omit_edges: rng.chance(50),
        datasets_only: rng.chance(30),
        node_table: rng.chance(30),
        edge_table: rng.chance(30),
    }
}

fn grpc_covers(name: &str, watermark: Option<&proto::Watermark>, floor: u64) -> Result<(), String> {
    covers(name, &json!({"sequence": watermark.map(|w| w.sequence)}), floor)
}

/// Runs query kind `kind` once; false when nothing it needs is known yet.
async fn query_once(
    ctx: &Ctx,
    rng: &mut Rng,
    lineage_client: &mut proto::lineage_client::LineageClient<tonic::transport::Channel>,
    kind: &str,
) -> Result<bool, String> {
    let name = |what: &str| format!("{kind} {what}");
    match kind {
        "lineage" => {
            let Some((dataset, _, max)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let direction = direction(rng);
            // With edges (collected), nodes alone (written during the read-out), in columns.
            let (query, field) =
                [(LINEAGE, "lineage"), (LINEAGE_NODES, "lineage"), (LINEAGE_TABLE, "lineageTable")][rng.below(3)];
            let what = name(&format!("{field} {}:{} {direction}", dataset.0, dataset.1));
            let data =
                graphql(ctx, &what, query, json!({"ns": dataset.0, "name": dataset.1, "direction": direction})).await?;
            covers(&what, &data[field]["watermark"], max)?;
            let answer = &data[field];
            let start = if field == "lineageTable" {
                let count = answer["nodeNames"].as_array().map_or(0, Vec::len);
                let lists = ["nodeNamespaces", "nodeKinds", "nodeDistances"];
                lists.iter().all(|list| answer[list].as_array().map_or(0, Vec::len) == count)
                    && answer["nodeNames"][0] == dataset.1.as_str()
                    && answer["nodeDistances"][0] == 0
            } else {
                answer["nodes"]
                    .as_array()
                    .is_some_and(|nodes| nodes.iter().any(|n| n["name"] == dataset.1.as_str() && n["distance"] == 0))
            };
            if !start {
                return Err(format!("`{what}`: the start is not among the nodes: {data}"));
            }
        }
        "impact" => {
            let Some((dataset, _, max)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            let data = graphql(ctx, &what, IMPACT, json!({"ns": dataset.0, "name": dataset.1})).await?;
            covers(&what, &data["impact"]["lineage"]["watermark"], max)?;
            if !data["impact"]["groups"].is_array() {
                return Err(format!("`{what}`: no groups: {data}"));
            }
        }
        "search" => {
            let variables = match rng.below(3) {
                0 => json!({"text": "orders"}),
                1 => json!({"owner": "alice@example.com"}),
                _ => json!({"domain": "sales"}),
            };
            let what = name(&variables.to_string());
            let data = graphql(ctx, &what, SEARCH, variables).await?;
            // sales.orders was applied before the load: every one of these filters finds it.
            let found = data["search"]["results"]
                .as_array()
                .is_some_and(|results| results.iter().any(|r| r["product"] == "sales.orders"));
            if !found {
                return Err(format!("`{what}`: product sales.orders not found: {data}"));
            }
        }
        "productLineage" => {
            let data = graphql(ctx, kind, PRODUCT_LINEAGE, json!({})).await?;
            let products = data["products"].as_array().map_or(0, Vec::len);
            if !data["productLineage"].is_array() || products < 2 {
                return Err(format!("`{kind}`: {data}"));
            }
            // One request sees one product lineage, however many fields ask for it: each
            // product's neighbours are the edges of `productLineage` in the same answer, even
            // while the load changes the graph between the fields.
            let edges = data["productLineage"].as_array().into_iter().flatten();
            let pairs: Vec<(&str, &str)> =
                edges.map(|e| (e["from"].as_str().unwrap_or(""), e["to"].as_str().unwrap_or(""))).collect();
            for product in data["products"].as_array().into_iter().flatten() {
                let id = product["id"].as_str().unwrap_or("");
                let listed = |field: &str| -> Vec<&str> {
                    product[field].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
                };
                let upstream: Vec<&str> = pairs.iter().filter(|(_, to)| *to == id).map(|(from, _)| *from).collect();
                let downstream: Vec<&str> = pairs.iter().filter(|(from, _)| *from == id).map(|(_, to)| *to).collect();
                if listed("upstreamProducts") != upstream || listed("downstreamProducts") != downstream {
                    return Err(format!("`{kind}`: product {id}'s neighbours disagree with productLineage: {data}"));
                }
            }
        }
        "owners" => {
            let Some((dataset, _, _)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            let data = graphql(ctx, &what, OWNERS, json!({"ns": dataset.0, "name": dataset.1})).await?;
            // The domains were applied before the load.
            let domain_owner = match dataset.0.as_str() {
                "sales-db" => Some("head-of-sales"),
                "mkt-db" => Some("cmo-office"),
                "fin-db" => Some("cfo-office"),
                _ => None,
            };
            if let Some(owner) = domain_owner {
                let found = data["owners"].as_array().is_some_and(|owners| owners.iter().any(|o| o["name"] == owner));
                if !found {
                    return Err(format!("`{what}`: the domain owner {owner} is missing: {data}"));
                }
            }
        }
        "violations" => {
            let data = graphql(ctx, kind, VIOLATIONS, json!({})).await?;
            if !data["violations"].is_array() || !data["freshness"].is_array() {
                return Err(format!("`{kind}`: {data}"));
            }
        }
        "checkChange" => {
            let Some((dataset, floor, _)) = pick_dataset(ctx, rng, with_schema) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            let proposed =
                json!([{"name": "id", "type": "bigint"}, {"name": "amount", "type": "decimal(8,2)"}]).to_string();
            let data =
                graphql(ctx, &what, CHECK, json!({"ns": dataset.0, "name": dataset.1, "schema": proposed})).await?;
            covers(&what, &data["checkChange"]["watermark"], floor)?;
            let verdict = data["checkChange"]["verdict"].as_str().unwrap_or("");
            if !["SAFE", "PRODUCER-SIDE", "RISKY", "BREAKING"].contains(&verdict) {
                return Err(format!("`{what}`: verdict {verdict:?}: {data}"));
            }
        }
        "columnLineage" => {
            let Some((dataset, floor, _)) = pick_dataset(ctx, rng, with_columns) else { return Ok(false) };
            let direction = if rng.chance(50) { "DOWNSTREAM" } else { "UPSTREAM" };
            let field = ["id", "amount", "ts"][rng.below(3)];
            let what = name(&format!("{}:{}.{field} {direction}", dataset.0, dataset.1));
            let variables = json!({"ns": dataset.0, "name": dataset.1, "field": field, "direction": direction});
            let data = graphql(ctx, &what, COLUMNS, variables).await?;
            covers(&what, &data["columnLineage"]["watermark"], floor)?;
        }
        "dataset" => {
            let Some((dataset, floor, _)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            let data = graphql(ctx, &what, DATASET, json!({"ns": dataset.0, "name": dataset.1})).await?;
            if data["dataset"].is_null() {
                return Err(format!("INCONSISTENT: `{what}` is null, but sequence {floor} touched it"));
            }
            covers(&what, &data["dataset"]["watermark"], floor)?;
        }
        "job" => {
            let (job, floor) = {
                let tracker = ctx.tracker();
                let jobs: Vec<(&Node, &u64)> = tracker.job_floor.iter().collect();
                if jobs.is_empty() {
                    return Ok(false);
                }
                let (job, floor) = jobs[rng.below(jobs.len())];
                (job.clone(), *floor)
            };
            let what = name(&format!("{}:{}", job.0, job.1));
            let data = graphql(ctx, &what, JOB, json!({"ns": job.0, "name": job.1})).await?;
            if data["job"].is_null() {
                return Err(format!("INCONSISTENT: `{what}` is null, but sequence {floor} was its event"));
            }
            covers(&what, &data["job"]["watermark"], floor)?;
        }
        "run" => {
            let (run_id, sequence) = {
                let tracker = ctx.tracker();
                if tracker.acked.is_empty() {
                    return Ok(false);
                }
                let acked = &tracker.acked[rng.below(tracker.acked.len())];
                (acked.run_id.clone(), acked.sequence)
            };
            let what = name(&run_id);
            let data = graphql(ctx, &what, RUN, json!({"id": run_id})).await?;
            let has_event = data["run"]["eventSequences"]
                .as_array()
                .is_some_and(|sequences| sequences.iter().any(|s| s.as_u64() == Some(sequence)));
            if !has_event {
                return Err(format!("INCONSISTENT: `{what}` lacks its acknowledged event {sequence}: {data}"));
            }
            covers(&what, &data["run"]["watermark"], sequence)?;
        }
        "schemaChanges" => {
            let data = graphql(ctx, kind, SCHEMA_CHANGES, json!({})).await?;
            if !data["schemaChanges"].is_array() {
                return Err(format!("`{kind}`: {data}"));
            }
        }
        "grpc GetLineage" => {
            let Some((dataset, _, max)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            let request = grpc_lineage_request(rng, &dataset, 6, 500);
            let answer = timed(&what, lineage_client.get_lineage(request))
                .await?
                .map_err(|status| format!("`{what}`: {status}"))?
                .into_inner();
            grpc_covers(&what, answer.watermark.as_ref(), max)?;
            let mut all = answer.nodes.clone();
            all.extend(table_nodes(&what, answer.node_table.as_ref())?);
            let start = all.iter().any(|n| n.distance == 0 && n.node.as_ref().is_some_and(|n| n.name == dataset.1));
            if !start {
                return Err(format!("`{what}`: the start is not among the nodes: {answer:?}"));
            }
        }
        "grpc StreamLineage" => {
            let Some((dataset, _, max)) = pick_dataset(ctx, rng, any_dataset) else { return Ok(false) };
            let what = name(&format!("{}:{}", dataset.0, dataset.1));
            // The server's default depth and node limit.
            let request = grpc_lineage_request(rng, &dataset, 0, 0);
            let mut chunks = timed(&what, lineage_client.stream_lineage(request))
                .await?
                .map_err(|status| format!("`{what}`: {status}"))?
                .into_inner();
            // Some callers hang up after the first chunk: the server stops writing for them.
            let hang_up = rng.chance(20);
            let (mut nodes, mut edges, mut last) = (Vec::new(), Vec::new(), None);
            // Every node in its order (edge tables point into it) and the chunks' edge tables.
            let (mut listed, mut edge_tables) = (Vec::new(), Vec::new());
            while let Some(chunk) =
                timed(&what, chunks.message()).await?.map_err(|status| format!("`{what}`: {status}"))?
            {
                if last.is_some() {
                    return Err(format!("`{what}`: a chunk after the last one"));
                }
                if chunk.last != chunk.watermark.is_some() {
                    return Err(format!("`{what}`: a watermark on a chunk that is not the last, or none on the last"));
                }
                let in_table = table_nodes(&what, chunk.node_table.as_ref())?;
                let chunk_nodes: Vec<proto::LineageNode> = chunk.nodes.into_iter().chain(in_table).collect();
                nodes.extend(chunk_nodes.iter().filter_map(|n| n.node.clone().map(|node| (node, n.distance))));
                listed.extend(chunk_nodes);
                edges.extend(chunk.edges);
                edge_tables.extend(chunk.edge_table);
                if chunk.last {
                    last = chunk.watermark;
                }
                if hang_up {
                    return Ok(true);
                }
            }
            let Some(watermark) = last else {
                return Err(format!("`{what}`: the stream ended without its last chunk"));
            };
            grpc_covers(&what, Some(&watermark), max)?;
            for table in &edge_tables {
                let named = table.to_edges(&listed);
                edges.extend(named.ok_or_else(|| format!("`{what}`: an edge table that points past the nodes"))?);
            }
            if !nodes.iter().any(|(node, distance)| *distance == 0 && node.name == dataset.1) {
                return Err(format!("`{what}`: the start is not among the nodes: {nodes:?}"));
            }
            let known: std::collections::HashSet<(i32, &str, &str)> =
                nodes.iter().map(|(node, _)| (node.kind, node.namespace.as_str(), node.name.as_str())).collect();
            for edge in &edges {
                for end in [&edge.from, &edge.to] {
                    let end = end.as_ref().ok_or_else(|| format!("`{what}`: an edge without an end"))?;
                    if !known.contains(&(end.kind, end.namespace.as_str(), end.name.as_str())) {
                        return Err(format!("`{what}`: an edge's end {end:?} is not among the nodes"));
                    }
                }
            }
        }
        "grpc GetColumnLineage" => {
            let Some((dataset, floor, _)) = pick_dataset(ctx, rng, with_columns) else { return Ok(false) };
            let what = name(&format!("{}:{}.amount", dataset.0, dataset.1));
            let request = proto::ColumnLineageRequest {
                namespace: dataset.0.clone(),
                name: dataset.1.clone(),
                field: "amount".into(),
                direction: proto::Direction::Upstream as i32,
                depth: 0,
                limit: 0,
            };
            let answer = timed(&what, lineage_client.get_column_lineage(request))
                .await?
                .map_err(|status| format!("`{what}`: {status}"))?
                .into_inner();
            grpc_covers(&what, answer.watermark.as_ref(), floor)?;
        }
        other => return Err(format!("unknown query kind {other}")),
    }
    Ok(true)
}

async fn query_loop(ctx: Arc<Ctx>, task: u64) -> Result<u64, String> {
    let mut rng = Rng::new(100 + task);
    let mut lineage_client = timed("gRPC connect", proto::lineage_client::LineageClient::connect(ctx.base_url.clone()))
        .await?
        .map_err(|error| format!("gRPC connect: {error}"))?;
    let mut ran = 0;
    let mut turn = task as usize;
    while ctx.running() {
        let kind = QUERY_KINDS[turn % QUERY_KINDS.len()];
        turn += 1;
        let started = Instant::now();
        if query_once(&ctx, &mut rng, &mut lineage_client, kind).await? {
            let elapsed = started.elapsed();
            let mut stats = ctx.query_stats.lock().unwrap();
            let entry = stats.entry(kind).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(elapsed);
            ran += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(ran)
}

type TaskHandle = tokio::task::JoinHandle<(String, Result<u64, String>)>;

fn spawn_task(
    ctx: &Arc<Ctx>,
    name: String,
    task: impl Future<Output = Result<u64, String>> + Send + 'static,
) -> TaskHandle {
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        let result = task.await;
        if result.is_err() {
            ctx.stop.store(true, Ordering::SeqCst);
        }
        (name, result)
    })
}

/// Looks up every acknowledged run, job and dataset after the load, 30 aliases per request.
async fn verify_everything_acknowledged_is_there(ctx: &Ctx) -> Result<(), String> {
    let (runs, jobs, datasets) = {
        let tracker = ctx.tracker();
        let runs: Vec<(String, u64, Node, Node)> =
            tracker.acked.iter().map(|a| (a.run_id.clone(), a.sequence, a.job.clone(), a.output.clone())).collect();
        let jobs: Vec<Node> = tracker.job_floor.keys().cloned().collect();
        let datasets: Vec<Node> = tracker.dataset_floor.keys().cloned().collect();
        (runs, jobs, datasets)
    };
    for chunk in runs.chunks(30) {
        let fields: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (run_id, ..))| {
                format!(r#"r{i}: run(runId: "{run_id}") {{ eventSequences job {{ namespace name }} outputs {{ namespace name }} }}"#)
            })
            .collect();
        let data = graphql(ctx, "final run lookups", &format!("{{ {} }}", fields.join(" ")), json!({})).await?;
        for (i, (run_id, sequence, job, output)) in chunk.iter().enumerate() {
            let run = &data[format!("r{i}")];
            let has_event =
                run["eventSequences"].as_array().is_some_and(|s| s.iter().any(|s| s.as_u64() == Some(*sequence)));
            let job_matches = run["job"] == json!({"namespace": job.0, "name": job.1});
            let has_output = run["outputs"]
                .as_array()
                .is_some_and(|outputs| outputs.contains(&json!({"namespace": output.0, "name": output.1})));
            if !(has_event && job_matches && has_output) {
                return Err(format!(
                    "LOST: acknowledged event {sequence} (run {run_id}, job {job:?}, output {output:?}) reads back as {run}"
                ));
            }
        }
    }
    for (kind, nodes) in [("job", &jobs), ("dataset", &datasets)] {
        for chunk in nodes.chunks(30) {
            let fields: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, (namespace, name))| {
                    format!(r#"n{i}: {kind}(namespace: "{namespace}", name: "{name}") {{ name }}"#)
                })
                .collect();
            let data = graphql(ctx, "final lookups", &format!("{{ {} }}", fields.join(" ")), json!({})).await?;
            for (i, (namespace, name)) in chunk.iter().enumerate() {
                if data[format!("n{i}")]["name"] != name.as_str() {
                    return Err(format!("LOST: {kind} {namespace}:{name} of an acknowledged event is missing"));
                }
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_queries_and_mesh_changes_at_once_never_stall_and_lose_nothing() {
    let test_started = Instant::now();
    let temp = tempfile::tempdir().unwrap();
    let policies = tributary_server::governance::parse_policy_file(&mesh_file("policies.yaml")).unwrap();
    let server = start_server_with(temp.path(), ServiceConfig { policies, ..ServiceConfig::default() }).await;
    let mut ctx = Ctx {
        base_url: server.base_url.clone(),
        http: reqwest::Client::new(),
        tracker: Mutex::new(Tracker::default()),
        stop: AtomicBool::new(false),
        deadline: Instant::now(),
        query_stats: Mutex::new(HashMap::new()),
    };
    // The mesh before the load: three domains, two products.
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        apply(&ctx, APPLY_DOMAIN, mesh_file(file), 1).await.unwrap();
    }
    for file in ["product-orders.yaml", "product-campaigns.yaml"] {
        apply(&ctx, APPLY_PRODUCT, mesh_file(file), 1).await.unwrap();
    }

    ctx.deadline = Instant::now() + LOAD;
    let ctx = Arc::new(ctx);
    let mut tasks: Vec<TaskHandle> = Vec::new();
    for writer in 0..HTTP_WRITERS {
        tasks.push(spawn_task(&ctx, format!("http writer {writer}"), http_writer(Arc::clone(&ctx), writer)));
    }
    tasks.push(spawn_task(&ctx, "grpc stream".into(), grpc_writer(Arc::clone(&ctx))));
    for task in 0..QUERY_TASKS {
        tasks.push(spawn_task(&ctx, format!("queries {task}"), query_loop(Arc::clone(&ctx), task)));
    }
    tasks.push(spawn_task(&ctx, "healthz".into(), health_watch(Arc::clone(&ctx))));
    tasks.push(spawn_task(&ctx, "mesh".into(), mesh_changes(Arc::clone(&ctx))));

    let mut failures = Vec::new();
    let mut results = HashMap::new();
    // Every request inside has its own deadline; this only bounds the whole.
    let joined = tokio::time::timeout(LOAD + REQUEST_DEADLINE * 3, futures::future::join_all(tasks))
        .await
        .expect("the tasks finish (each request has a deadline)");
    for joined in joined {
        match joined {
            Ok((name, Ok(count))) => {
                results.insert(name, count);
            }
            Ok((name, Err(error))) => failures.push(format!("{name}: {error}")),
            Err(panic) => failures.push(format!("a task panicked: {panic}")),
        }
    }
    assert!(failures.is_empty(), "failures under load:\n{}", failures.join("\n"));

    let stats = ctx.query_stats.lock().unwrap().clone();
    let mut summary: Vec<String> =
        stats.iter().map(|(kind, (runs, slowest))| format!("{kind}: {runs} runs, slowest {slowest:?}")).collect();
    summary.sort();
    eprintln!("stress: tasks {results:?}\nstress: queries\n  {}", summary.join("\n  "));
    for kind in QUERY_KINDS {
        assert!(stats.get(kind).is_some_and(|(runs, _)| *runs > 0), "query kind `{kind}` never ran: {stats:?}");
    }
    for writer in 0..HTTP_WRITERS {
        assert!(results[&format!("http writer {writer}")] > 10, "writer {writer} barely wrote: {results:?}");
    }
    assert!(results["grpc stream"] > 10, "the gRPC stream barely wrote: {results:?}");

    // Every acknowledged event is there: sequences dense from 1, none acknowledged twice,
    // the watermark at the last one, each run, job and dataset readable.
    let mut sequences: Vec<u64> = ctx.tracker().acked.iter().map(|a| a.sequence).collect();
    sequences.sort_unstable();
    let acknowledged = sequences.len() as u64;
    assert!(sequences.iter().copied().eq(1..=acknowledged), "acknowledged sequences are not 1..={acknowledged}");
    let (sequence, events) = server.watermark().await;
    assert_eq!((sequence, events), (acknowledged, acknowledged), "watermark after {acknowledged} acknowledged events");
    verify_everything_acknowledged_is_there(&ctx).await.unwrap();

    // The load did what it was for: schema changes seen, column lineage built, product
    // lineage derived, policies evaluated.
    let column_dataset = ctx.tracker().with_columns[0].clone();
    let exercised = graphql(
        &ctx,
        "final exercised",
        r#"query($ns: String!, $name: String!) {
          schemaChanges(first: 5) { sequence }
          productLineage { from to }
          violations { policy }
          columnLineage(dataset: {namespace: $ns, name: $name}, field: "id", direction: UPSTREAM) { columns { distance } }
        }"#,
        json!({"ns": column_dataset.0, "name": column_dataset.1}),
    )
    .await
    .unwrap();
    for field in ["schemaChanges", "productLineage", "violations"] {
        assert!(
            exercised[field].as_array().is_some_and(|list| !list.is_empty()),
            "no {field} after the load: {exercised}"
        );
    }
    let columns = &exercised["columnLineage"]["columns"];
    assert!(
        columns.as_array().is_some_and(|list| !list.is_empty()),
        "no column lineage upstream of {column_dataset:?}.id"
    );

    // The mesh change made during the load stuck.
    let mesh =
        graphql(&ctx, "final mesh", "{ products { id } domains { id owners { name } } }", json!({})).await.unwrap();
    let mut products: Vec<&str> =
        mesh["products"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    products.sort_unstable();
    assert_eq!(products, ["finance.ledger", "marketing.campaigns", "sales.orders"]);
    let finance = mesh["domains"].as_array().unwrap().iter().find(|d| d["id"] == "finance").unwrap();
    assert_eq!(finance["owners"], json!([{"name": "cfo-office"}, {"name": "controller"}]));

    eprintln!(
        "stress: {acknowledged} events acknowledged, healthz slowest {} ms, whole test {:?}",
        results["healthz"],
        test_started.elapsed()
    );
    drop(ctx);
    server.shutdown().await;
}
