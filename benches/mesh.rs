//! Tributary's side of the peer comparison in `/work/shared/bench` (gen_mesh.py data, the
//! same impact queries and targets as the SQL/graph peers). Prints one JSON line per figure,
//! in the peers' shape (`{"peer", "scale", "metric", "value", "unit", ...}`), and writes
//! `<root>/results/<peer>-<scale>.json` so that `crosscheck.py` compares the answers.
//!
//! ```sh
//! cargo bench --bench mesh -- --scale 10k              # data from /tmp/lineage-bench/data
//! cargo bench --bench mesh -- --scale 10k --data F.ndjson --targets T.json
//! cargo bench --bench mesh -- --smoke                  # benches/data sample, seconds, for CI
//! ```
//!
//! Peers reported (`peer` field):
//! - `tributary`: the release binary as a separate process. `tributary import` for bulk
//!   load, disk, start-up, RSS, gRPC `GetLineage` latency, ingest over one gRPC stream and
//!   over HTTP with 16 clients into fresh stores.
//! - `tributary-inproc`: `tributary_service::Service` opened in this process on the same
//!   store: index rebuild time and lineage latency without the transport.
//! - `bfs-floor`: a bare BFS over integer adjacency built from the NDJSON (`mesh/floor.rs`).
//!
//! See benches/README.md for what limits each figure.

#[path = "mesh/digest.rs"]
mod digest;
#[path = "mesh/floor.rs"]
mod floor;
#[path = "mesh/server.rs"]
mod server;
#[path = "mesh/summary.rs"]
mod summary;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tributary_grpc::proto;
use tributary_grpc::proto::ingest_client::IngestClient;
use tributary_grpc::proto::lineage_client::LineageClient;

use floor::{Bfs, FloorGraph};
use server::{Memory, ServerProcess, disk_usage};

/// Job hops for the "full closure" query: more than any path in the data (24 at most).
const CLOSURE_DEPTH: u32 = 1000;
/// Node limit for every query: the server's maximum, so no answer is cut.
const NODE_LIMIT: u32 = 1_000_000;
/// Disk a store takes per NDJSON byte, with margin (2.3-2.5x measured at 100k and 1M, 2026-12-01).
const DISK_PER_NDJSON_BYTE: f64 = 3.0;
/// Per-query timeout, as the peers' default.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

struct QuerySpec {
    name: &'static str,
    downstream: bool,
    depth: u32,
}

/// The peers' `QUERIES` (peers/common.py), depth in job hops.
const QUERIES: [QuerySpec; 3] = [
    QuerySpec { name: "down_d5", downstream: true, depth: 5 },
    QuerySpec { name: "down_all", downstream: true, depth: CLOSURE_DEPTH },
    QuerySpec { name: "up_d5", downstream: false, depth: 5 },
];

const STEPS: [&str; 9] = ["floor", "import", "compact", "queries", "startup", "inproc", "summary", "grpc", "http"];

struct Args {
    scale: String,
    data: PathBuf,
    targets: PathBuf,
    root: PathBuf,
    binary: PathBuf,
    reps: usize,
    /// Fresh-store ingest (gRPC stream, HTTP) stops sending after this long...
    ingest_cap: Duration,
    /// ...or after this many events (0 = the whole file).
    ingest_cap_events: u64,
    /// `tributary import` is killed after this long (0 = no limit); queries are then skipped.
    import_budget: Duration,
    http_clients: usize,
    steps: Vec<String>,
    /// Peer name for the server's figures (`tributary`; e.g. `tributary-nodelay` for an A/B
    /// run of another binary given with `--bin`).
    label: String,
    keep: bool,
    /// Empty the OS page cache before each start-up of the `startup` step (needs root).
    cold: bool,
    /// The `compact` step compacts through a running server (`compactStore`) instead of the
    /// offline `tributary compact`, with single events posted meanwhile.
    compact_online: bool,
    smoke: bool,
}

fn usage() -> &'static str {
    "usage: cargo bench --bench mesh -- [--scale 10k] [--data FILE.ndjson --targets FILE.json] [--smoke]
    [--root /tmp/lineage-bench] [--reps 2] [--ingest-cap-s 60] [--ingest-cap-events 0] [--import-budget-s 0]
    [--http-clients 16] [--steps floor,import,compact,queries,startup,inproc,summary,grpc,http] [--keep] [--cold]
    [--compact-online] [--bin PATH] [--label tributary]"
}

fn parse_args() -> anyhow::Result<Args> {
    let mut raw = std::env::args().skip(1).peekable();
    let mut options: BTreeMap<String, String> = BTreeMap::new();
    let mut smoke = false;
    let mut keep = false;
    let mut cold = false;
    let mut compact_online = false;
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            // cargo bench passes `--bench` to harness = false targets.
            "--bench" => {}
            "--smoke" => smoke = true,
            "--keep" => keep = true,
            "--cold" => cold = true,
            "--compact-online" => compact_online = true,
            "-h" | "--help" => {
                eprintln!("{}", usage());
                std::process::exit(0);
            }
            flag if flag.starts_with("--") => {
                let (name, value) = match flag.split_once('=') {
                    Some((name, value)) => (name.to_owned(), value.to_owned()),
                    None => (flag.to_owned(), raw.next().with_context(|| format!("{flag} needs a value"))?),
                };
                options.insert(name, value);
            }
            other => bail!("unexpected argument `{other}`\n{}", usage()),
        }
    }
    let mut take = |name: &str| options.remove(name);
    let scale = take("--scale").unwrap_or_else(|| if smoke { "smoke".into() } else { "10k".into() });
    let root = PathBuf::from(take("--root").unwrap_or_else(|| "/tmp/lineage-bench".into()));
    let data = take("--data").map(PathBuf::from).unwrap_or_else(|| root.join(format!("data/mesh-{scale}.ndjson")));
    let targets =
        take("--targets").map(PathBuf::from).unwrap_or_else(|| root.join(format!("data/targets-{scale}.json")));
    let number = |value: Option<String>, default: f64, name: &str| -> anyhow::Result<f64> {
        value.map_or(Ok(default), |text| text.parse::<f64>().with_context(|| format!("{name}: `{text}`")))
    };
    let reps = number(take("--reps"), 2.0, "--reps")? as usize;
    let ingest_cap = Duration::from_secs_f64(number(take("--ingest-cap-s"), 60.0, "--ingest-cap-s")?);
    let ingest_cap_events = number(take("--ingest-cap-events"), 0.0, "--ingest-cap-events")? as u64;
    let import_budget = Duration::from_secs_f64(number(take("--import-budget-s"), 0.0, "--import-budget-s")?);
    let http_clients = number(take("--http-clients"), 16.0, "--http-clients")? as usize;
    let steps: Vec<String> = take("--steps")
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_else(|| STEPS.iter().map(|s| s.to_string()).collect());
    for step in &steps {
        if !STEPS.contains(&step.as_str()) {
            bail!("unknown step `{step}` (steps: {})", STEPS.join(","));
        }
    }
    let binary = take("--bin").map(PathBuf::from).unwrap_or_else(server::default_binary);
    let label = take("--label").unwrap_or_else(|| "tributary".into());
    if let Some(unknown) = options.keys().next() {
        bail!("unknown option `{unknown}`\n{}", usage());
    }
    Ok(Args {
        scale,
        data,
        targets,
        root,
        binary,
        reps: reps.max(1),
        ingest_cap,
        ingest_cap_events,
        import_budget,
        http_clients: http_clients.max(1),
        steps,
        cold,
        compact_online,
        label,
        keep,
        smoke,
    })
}

// ---------------------------------------------------------------------------------------
// Output

/// One JSON line per figure, keys in the peers' order.
struct Emitter {
    peer: String,
    scale: String,
}

impl Emitter {
    fn new(peer: &str, scale: &str) -> Self {
        Self { peer: peer.to_owned(), scale: scale.to_owned() }
    }

    fn emit(&self, metric: &str, value: Value, unit: &str, extra: Value) {
        let mut line = format!(
            "{{\"peer\": {}, \"scale\": {}, \"metric\": {}, \"value\": {}, \"unit\": {}",
            json!(self.peer),
            json!(self.scale),
            json!(metric),
            value,
            json!(unit)
        );
        if let Value::Object(fields) = extra {
            for (key, value) in fields {
                line.push_str(&format!(", {}: {}", json!(key), value));
            }
        }
        line.push('}');
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

fn log(message: impl AsRef<str>) {
    eprintln!("[mesh {}] {}", chrono_like_now(), message.as_ref());
}

/// `HH:MM:SS` (UTC) without a date-time dependency.
fn chrono_like_now() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", seconds / 3600 % 24, seconds / 60 % 60, seconds % 60)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Latencies in ms keep 0.1 µs: the floor answers small queries in well under a microsecond.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn ms(duration: Duration) -> f64 {
    round3(duration.as_secs_f64() * 1000.0)
}

/// `statistics.median`.
fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 })
}

/// `peers.common.pct`: linear interpolation between closest ranks.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let k = (sorted.len() - 1) as f64 * p / 100.0;
    let f = k.floor() as usize;
    let c = (f + 1).min(sorted.len() - 1);
    Some(sorted[f] + (sorted[c] - sorted[f]) * (k - f as f64))
}

// ---------------------------------------------------------------------------------------
// Targets and the query loop

/// Times (ms) of one hub's impact summaries: asked again, and never asked before.
#[derive(Default)]
struct Times {
    graphql: Vec<f64>,
    grpc: Vec<f64>,
    graphql_walk: Vec<f64>,
    grpc_walk: Vec<f64>,
}

#[derive(Clone)]
struct Target {
    kind: String,
    namespace: String,
    name: String,
}

struct TargetsFile {
    targets: Vec<Target>,
    datasets: u64,
    jobs: u64,
    events: u64,
}

fn load_targets(path: &Path) -> anyhow::Result<TargetsFile> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?;
    let targets = doc["targets"]
        .as_array()
        .context("targets file has no `targets`")?
        .iter()
        .map(|t| Target {
            kind: t["kind"].as_str().unwrap_or("").to_owned(),
            namespace: t["namespace"].as_str().unwrap_or("").to_owned(),
            name: t["name"].as_str().unwrap_or("").to_owned(),
        })
        .collect();
    Ok(TargetsFile {
        targets,
        datasets: doc["datasets"].as_u64().unwrap_or(0),
        jobs: doc["jobs"].as_u64().unwrap_or(0),
        events: doc["events"].as_u64().unwrap_or(0),
    })
}

/// What one call returned. `rows` (the datasets reached, start excluded) is filled only
/// when asked for, on the untimed warm-up call, for the digest.
struct Answer {
    n_rows: usize,
    rows: Option<Vec<(String, String)>>,
    truncated: bool,
    /// Every node and edge of the answer, and its encoded size (gRPC only).
    n_nodes: usize,
    n_edges: usize,
    response_bytes: usize,
    /// Client-side protobuf decode of this answer, ms (gRPC, warm-up call only).
    decode_ms: f64,
}

enum CallError {
    Timeout,
    Failed(anyhow::Error),
}

/// Per (query, target): the checked warm-up answer and the timed repetitions.
#[derive(Clone)]
struct TargetResult {
    kind: String,
    namespace: String,
    name: String,
    n: Option<usize>,
    digest: Option<String>,
    ms: Vec<f64>,
    timeout: bool,
    /// The call failed (e.g. an answer over the server's message limit); no figure.
    error: Option<String>,
}

type QueryResults = BTreeMap<&'static str, Vec<TargetResult>>;

/// The server's own time for the answers of one route, from its `/metrics`: the sum of the
/// seconds to each response's last byte, and their count (`tributary_response_seconds`).
type ServerClock<'a> = &'a mut dyn FnMut() -> anyhow::Result<(f64, f64)>;

/// Warm-up plus `reps` timed calls of every query on every target (peers.common.run_queries),
/// emitting the same p50/p99 lines; with a `server_clock`, also the server's own time per call
/// (`<query>_server_p50_ms`).
fn run_queries(
    emitter: &Emitter,
    targets: &[Target],
    reps: usize,
    mut server_clock: Option<ServerClock<'_>>,
    mut call: impl FnMut(&QuerySpec, &Target, bool) -> Result<Answer, CallError>,
) -> anyhow::Result<(QueryResults, Vec<String>)> {
    let mut all = QueryResults::new();
    let mut all_failed: Vec<String> = Vec::new();
    for query in &QUERIES {
        let mut latencies: Vec<f64> = Vec::new();
        let mut by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        // The server's mean time to the last byte per target, over the timed calls.
        let mut server_ms: Vec<f64> = Vec::new();
        let mut server_by_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut records = Vec::new();
        let (mut timeouts, mut truncated) = (0usize, 0usize);
        let mut failed: Vec<String> = Vec::new();
        let (mut max_nodes, mut max_edges, mut max_bytes) = (0usize, 0usize, 0usize);
        let mut max_decode_ms = 0f64;
        for target in targets {
            let mut record = TargetResult {
                kind: target.kind.clone(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                n: None,
                digest: None,
                ms: Vec::new(),
                timeout: false,
                error: None,
            };
            match call(query, target, true) {
                Ok(answer) => {
                    record.n = Some(answer.n_rows);
                    record.digest = answer.rows.as_deref().map(digest::rows_digest);
                    truncated += usize::from(answer.truncated);
                    max_nodes = max_nodes.max(answer.n_nodes);
                    max_edges = max_edges.max(answer.n_edges);
                    max_bytes = max_bytes.max(answer.response_bytes);
                    max_decode_ms = max_decode_ms.max(answer.decode_ms);
                }
                Err(CallError::Timeout) => {
                    timeouts += 1;
                    record.timeout = true;
                    record.ms.push(QUERY_TIMEOUT.as_secs_f64() * 1000.0);
                    latencies.push(QUERY_TIMEOUT.as_secs_f64() * 1000.0);
                    records.push(record);
                    continue;
                }
                Err(CallError::Failed(error)) => {
                    let message = format!("{} on {}:{}: {error:#}", query.name, target.namespace, target.name);
                    log(format!("query failed: {message}"));
                    failed.push(message.clone());
                    record.error = Some(message);
                    records.push(record);
                    continue;
                }
            }
            let clock_before = server_clock.as_mut().map(|clock| clock()).transpose()?;
            for _ in 0..reps {
                let started = Instant::now();
                match call(query, target, false) {
                    Ok(_) => record.ms.push(started.elapsed().as_secs_f64() * 1000.0),
                    Err(CallError::Timeout) => {
                        timeouts += 1;
                        record.ms.push(QUERY_TIMEOUT.as_secs_f64() * 1000.0);
                        break;
                    }
                    Err(CallError::Failed(error)) => {
                        failed.push(format!("{} on {}:{}: {error:#}", query.name, target.namespace, target.name));
                        break;
                    }
                }
            }
            if let (Some((sum_before, count_before)), Some(clock)) = (clock_before, server_clock.as_mut()) {
                let (sum_after, count_after) = clock()?;
                let calls = count_after - count_before;
                // Only when every timed call was counted (none failed, nothing else asked).
                if calls > 0.0 && calls as usize == record.ms.len() {
                    let mean = (sum_after - sum_before) / calls * 1000.0;
                    server_ms.push(mean);
                    server_by_kind.entry(record.kind.clone()).or_default().push(mean);
                }
            }
            latencies.extend(&record.ms);
            by_kind.entry(record.kind.clone()).or_default().extend(&record.ms);
            records.push(record);
        }
        if !server_ms.is_empty() {
            let p50_by_kind: BTreeMap<&String, f64> =
                server_by_kind.iter().filter_map(|(kind, values)| median(values).map(|m| (kind, round4(m)))).collect();
            emitter.emit(
                &format!("{}_server_p50_ms", query.name),
                json!(median(&server_ms).map(round4)),
                "ms",
                json!({"p50_by_kind": p50_by_kind, "targets": server_ms.len(),
                       "what": "the server's mean time per call to the answer's last byte (its /metrics \
                                tributary_response_seconds), median over targets"}),
            );
        }
        let sizes: Vec<usize> = records.iter().filter_map(|r| r.n).collect();
        let p50_by_kind: BTreeMap<&String, f64> =
            by_kind.iter().filter_map(|(kind, values)| median(values).map(|m| (kind, round4(m)))).collect();
        let mut common = json!({"samples": latencies.len(), "targets": targets.len(), "timeouts": timeouts});
        if timeouts > 0 {
            common["lower_bound"] = json!(true);
            common["timeout_s"] = json!(QUERY_TIMEOUT.as_secs());
        }
        if !failed.is_empty() {
            common["errors"] = json!(failed.len());
            common["first_error"] = json!(failed[0]);
            all_failed.extend(failed);
        }
        let mut p50_extra = json!({"p50_by_kind": p50_by_kind});
        let mut p99_extra = json!({
            "max_result_rows": sizes.iter().max(),
            "mean_result_rows": if sizes.is_empty() { Value::Null } else {
                json!((sizes.iter().sum::<usize>() as f64 / sizes.len() as f64 * 10.0).round() / 10.0)
            },
        });
        for extra in [&mut p50_extra, &mut p99_extra] {
            extra.as_object_mut().expect("object").extend(common.as_object().expect("object").clone());
        }
        if max_nodes > 0 {
            p99_extra["max_answer_nodes"] = json!(max_nodes);
            p99_extra["max_answer_edges"] = json!(max_edges);
        }
        if max_bytes > 0 {
            p99_extra["max_response_bytes"] = json!(max_bytes);
            p99_extra["max_client_decode_ms"] = json!(round4(max_decode_ms));
        }
        if truncated > 0 {
            p99_extra["truncated_answers"] = json!(truncated);
        }
        emitter.emit(&format!("{}_p50_ms", query.name), json!(median(&latencies).map(round4)), "ms", p50_extra);
        emitter.emit(
            &format!("{}_p99_ms", query.name),
            json!(percentile(&latencies, 99.0).map(round4)),
            "ms",
            p99_extra,
        );
        all.insert(query.name, records);
    }
    // Result sizes by target kind, as crosscheck.py prints them.
    let mut by_kind: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (query, records) in &all {
        for record in records {
            if let Some(n) = record.n {
                by_kind.entry(format!("{query}/{}", record.kind)).or_default().push(n);
            }
        }
    }
    let summary: BTreeMap<String, Value> = by_kind
        .into_iter()
        .map(|(key, mut sizes)| {
            sizes.sort_unstable();
            let mid = sizes.len() / 2;
            let median =
                if sizes.len() % 2 == 1 { sizes[mid] as f64 } else { (sizes[mid - 1] + sizes[mid]) as f64 / 2.0 };
            (key, json!({"min": sizes[0], "median": median, "max": sizes[sizes.len() - 1]}))
        })
        .collect();
    emitter.emit("result_rows_by_kind", json!(summary), "rows", json!({}));
    Ok((all, all_failed))
}

/// `<root>/results/<peer>-<scale>.json`, the layout crosscheck.py reads.
fn save_results(root: &Path, peer: &str, scale: &str, versions: &Value, results: &QueryResults) -> anyhow::Result<()> {
    let dir = root.join("results");
    std::fs::create_dir_all(&dir)?;
    let queries: serde_json::Map<String, Value> = results
        .iter()
        .map(|(query, records)| {
            let rows: Vec<Value> = records
                .iter()
                .map(|r| {
                    let mut row = json!({"kind": r.kind, "namespace": r.namespace, "name": r.name, "n": r.n,
                        "digest": r.digest, "ms": r.ms.iter().map(|x| round4(*x)).collect::<Vec<_>>()});
                    if r.timeout {
                        row["timeout"] = json!(true);
                    }
                    if let Some(error) = &r.error {
                        // crosscheck.py skips results flagged as timed out; a failed call has no result either.
                        row["timeout"] = json!(true);
                        row["error"] = json!(error);
                    }
                    row
                })
                .collect();
            (query.to_string(), Value::Array(rows))
        })
        .collect();
    let path = dir.join(format!("{peer}-{scale}.json"));
    let doc = json!({"peer": peer, "scale": scale, "versions": versions, "queries": queries});
    std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
    log(format!("results written to {}", path.display()));
    Ok(())
}

/// (query, target) pairs where two result sets differ in size or digest.
fn mismatches(a: &QueryResults, b: &QueryResults) -> Vec<String> {
    let mut found = Vec::new();
    for (query, records) in a {
        let Some(other) = b.get(query) else { continue };
        for (x, y) in records.iter().zip(other) {
            if x.timeout || y.timeout || x.error.is_some() || y.error.is_some() {
                continue;
            }
            if x.n != y.n || x.digest != y.digest {
                found.push(format!("{query} {}:{} ({:?} vs {:?} rows)", x.namespace, x.name, x.n, y.n));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// gRPC queries

fn lineage_request(query: &QuerySpec, target: &Target) -> proto::LineageRequest {
    proto::LineageRequest {
        start: Some(proto::NodeRef {
            kind: proto::NodeKind::Dataset as i32,
            namespace: target.namespace.clone(),
            name: target.name.clone(),
        }),
        direction: if query.downstream { proto::Direction::Downstream } else { proto::Direction::Upstream } as i32,
        depth: query.depth,
        limit: NODE_LIMIT,
        // The peers return dataset rows only; jobs and edges would be extra work they do not do.
        omit_edges: true,
        datasets_only: true,
        node_table: *NODE_TABLE.get_or_init(|| std::env::var("LINEAGE_NODES").as_deref() == Ok("table")),
        edge_table: false,
    }
}

/// Whether lineage answers are asked with their nodes in columns (`LineageRequest.node_table`,
/// `LINEAGE_NODES=table`) instead of a `LineageNode` message each (the default). A build that
/// has no such field ignores it and answers with messages; both are read.
static NODE_TABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// A GraphQL lineage answer as the bench's client read it.
struct GraphqlAnswer {
    /// Datasets in it, the start excluded.
    datasets: usize,
    /// The response body's length.
    body_bytes: usize,
    /// Time to decode the body into the client's types, after the last byte arrived.
    decode_ms: f64,
}

/// One hub's medians in the GraphQL comparison: GraphQL `lineage`, gRPC and `lineageTable`
/// end to end, and the server's own time for `lineage`, `lineageTable` and gRPC (ms).
struct HubMedians {
    rows: usize,
    graphql: f64,
    grpc: f64,
    table: f64,
    graphql_server: f64,
    table_server: f64,
    grpc_server: f64,
}

/// One GraphQL `lineage` call shaped like [`lineage_request`].
async fn graphql_lineage(
    http: &reqwest::Client,
    base_url: &str,
    query: &QuerySpec,
    target: &Target,
) -> anyhow::Result<GraphqlAnswer> {
    const LINEAGE: &str = "query($s: NodeInput!, $d: Int!, $l: Int!) { lineage(start: $s, direction: DOWNSTREAM, depth: $d, limit: $l, datasetsOnly: true) { nodes { kind namespace name distance } } }";
    // Decoded into types, as a typed GraphQL client (graphql_client, cynic) does and as the
    // gRPC client decodes into prost's types: a JSON DOM of the answer would weigh more than
    // the server's side of the call.
    #[derive(serde::Deserialize)]
    struct Data {
        lineage: Lineage,
    }
    #[derive(serde::Deserialize)]
    struct Lineage {
        nodes: Vec<Node>,
    }
    #[derive(serde::Deserialize)]
    struct Node {
        kind: String,
        #[allow(dead_code)]
        namespace: String,
        #[allow(dead_code)]
        name: String,
        distance: u32,
    }
    let (data, body_bytes, decode_ms) = graphql_call::<Data>(http, base_url, LINEAGE, query, target).await?;
    let datasets = data.lineage.nodes.iter().filter(|node| node.kind == "DATASET" && node.distance > 0).count();
    Ok(GraphqlAnswer { datasets, body_bytes, decode_ms })
}

/// The same question as [`graphql_lineage`] asked with `lineageTable` (the answer in columns),
/// decoded into the client's types the same way.
async fn graphql_lineage_table(
    http: &reqwest::Client,
    base_url: &str,
    query: &QuerySpec,
    target: &Target,
) -> anyhow::Result<GraphqlAnswer> {
    const TABLE: &str = "query($s: NodeInput!, $d: Int!, $l: Int!) { lineageTable(start: $s, direction: DOWNSTREAM, depth: $d, limit: $l, datasetsOnly: true) { namespaces nodeNamespaces nodeNames nodeDistances } }";
    // `datasetsOnly`: every node is a dataset, so the client asks for no kinds (nor edges).
    let (data, body_bytes, decode_ms) = graphql_call::<TableData>(http, base_url, TABLE, query, target).await?;
    let table = data.table;
    if table.node_names.len() != table.node_distances.len() || table.node_names.len() != table.node_namespaces.len() {
        anyhow::bail!("lineageTable's node lists differ in length");
    }
    let datasets = table.node_distances.iter().filter(|distance| **distance > 0).count();
    Ok(GraphqlAnswer { datasets, body_bytes, decode_ms })
}

/// A `lineageTable` answer in the client's types: the lists a query does not select are
/// empty.
#[derive(serde::Deserialize)]
struct TableData {
    #[serde(rename = "lineageTable")]
    table: Table,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Table {
    namespaces: Vec<String>,
    node_namespaces: Vec<u32>,
    node_names: Vec<String>,
    #[serde(default)]
    node_kinds: Vec<String>,
    node_distances: Vec<u32>,
    #[serde(default)]
    edge_from: Vec<u32>,
    #[serde(default)]
    edge_to: Vec<u32>,
    #[serde(default)]
    edge_kinds: Vec<String>,
}

/// One GraphQL lineage call from a hub: the answer's `data` in the client's types, the
/// body's bytes, and the decode's time after the last byte arrived.
async fn graphql_call<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base_url: &str,
    document: &str,
    query: &QuerySpec,
    target: &Target,
) -> anyhow::Result<(T, usize, f64)> {
    #[derive(serde::Deserialize)]
    struct Answer<T> {
        data: Option<T>,
        #[serde(default)]
        errors: Vec<Value>,
    }
    let body = http
        .post(format!("{base_url}/graphql"))
        .json(&json!({"query": document, "variables": {
            "s": {"kind": "DATASET", "namespace": target.namespace, "name": target.name},
            "d": query.depth, "l": NODE_LIMIT}}))
        .send()
        .await?
        .bytes()
        .await?;
    let started = Instant::now();
    let answer: Answer<T> = serde_json::from_slice(&body).context("lineage answer")?;
    let decode_ms = ms(started.elapsed());
    let Some(data) = answer.data.filter(|_| answer.errors.is_empty()) else {
        anyhow::bail!("lineage failed: {:?}", answer.errors);
    };
    Ok((data, body.len(), decode_ms))
}

/// The server's own time to a response's last byte (the client's decoding left out), from
/// the door and route's clock read `before` the call. The server counts a response when its
/// last byte is handed over, which may come just after the client has read it: asked again
/// until it is counted.
fn server_ms(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    metrics_url: &str,
    (door, route): (&str, &str),
    before: (f64, f64),
) -> anyhow::Result<f64> {
    for _ in 0..100 {
        let after = runtime.block_on(server_clock(http, metrics_url, door, route))?;
        if after.1 == before.1 + 1.0 {
            return Ok(ms(Duration::from_secs_f64(after.0 - before.0)));
        }
        anyhow::ensure!(after.1 == before.1, "another {door} call was counted during one");
        std::thread::sleep(Duration::from_millis(2));
    }
    anyhow::bail!("the server did not count the {door} call")
}

/// The forms of a lineage answer with edges over GraphQL.
#[derive(Clone, Copy, Debug)]
enum EdgesForm {
    /// `lineageTable` with every node list and the edge lists.
    Table,
    /// `lineage` with node and edge objects.
    Objects,
}

/// A GraphQL lineage answer with edges: its nodes and edges counted, its body's length.
struct EdgesAnswer {
    counts: (usize, usize),
    body_bytes: usize,
}

/// One GraphQL call for the full answer from a hub, jobs and edges included, in `form`,
/// decoded into the client's types.
async fn graphql_edges(
    http: &reqwest::Client,
    base_url: &str,
    form: EdgesForm,
    query: &QuerySpec,
    target: &Target,
) -> anyhow::Result<EdgesAnswer> {
    const TABLE: &str = "query($s: NodeInput!, $d: Int!, $l: Int!) { lineageTable(start: $s, direction: DOWNSTREAM, depth: $d, limit: $l) { namespaces nodeNamespaces nodeNames nodeKinds nodeDistances edgeFrom edgeTo edgeKinds } }";
    const OBJECTS: &str = "query($s: NodeInput!, $d: Int!, $l: Int!) { lineage(start: $s, direction: DOWNSTREAM, depth: $d, limit: $l) { nodes { kind namespace name distance } edges { from { kind namespace name } to { kind namespace name } kind } } }";
    #[derive(serde::Deserialize)]
    struct ObjectsData {
        lineage: Objects,
    }
    #[derive(serde::Deserialize)]
    struct Objects {
        nodes: Vec<Node>,
        edges: Vec<Edge>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Node {
        kind: String,
        namespace: String,
        name: String,
        distance: u32,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct End {
        kind: String,
        namespace: String,
        name: String,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Edge {
        from: End,
        to: End,
        kind: String,
    }
    match form {
        EdgesForm::Table => {
            let (data, body_bytes, _) = graphql_call::<TableData>(http, base_url, TABLE, query, target).await?;
            let table = data.table;
            let nodes = table.node_names.len();
            anyhow::ensure!(
                [table.node_namespaces.len(), table.node_kinds.len(), table.node_distances.len()] == [nodes; 3]
                    && [table.edge_to.len(), table.edge_kinds.len()] == [table.edge_from.len(); 2]
                    && table.edge_from.iter().chain(&table.edge_to).all(|&at| (at as usize) < nodes),
                "lineageTable's lists disagree in length or point past the nodes"
            );
            Ok(EdgesAnswer { counts: (nodes, table.edge_from.len()), body_bytes })
        }
        EdgesForm::Objects => {
            let (data, body_bytes, _) = graphql_call::<ObjectsData>(http, base_url, OBJECTS, query, target).await?;
            Ok(EdgesAnswer { counts: (data.lineage.nodes.len(), data.lineage.edges.len()), body_bytes })
        }
    }
}

/// `tributary_response_seconds`' sum and count for one door and route, from `/metrics`.
async fn server_clock(http: &reqwest::Client, url: &str, door: &str, route: &str) -> anyhow::Result<(f64, f64)> {
    let text = http.get(url).send().await?.error_for_status()?.text().await?;
    let labels = format!("{{door=\"{door}\",route=\"{route}\"}} ");
    let value = |name: &str| {
        let series = format!("tributary_response_seconds_{name}{labels}");
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str())?.trim().parse::<f64>().ok())
            .with_context(|| format!("no `{series}` in the server's /metrics"))
    };
    Ok((value("sum")?, value("count")?))
}

async fn lineage_client(url: &str, wait: Duration) -> anyhow::Result<LineageClient<tonic::transport::Channel>> {
    let started = Instant::now();
    loop {
        match LineageClient::connect(url.to_owned()).await {
            Ok(client) => return Ok(client.max_decoding_message_size(usize::MAX)),
            Err(error) if started.elapsed() > wait => return Err(error).context("connecting to the server"),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Whether lineage is asked with `StreamLineage` (chunks decoded as they arrive, as a client
/// fetching a large closure would): unless `LINEAGE_RPC=unary`, and until a server (a build
/// before it) answers UNIMPLEMENTED, then `GetLineage`.
static STREAM_LINEAGE: std::sync::OnceLock<std::sync::atomic::AtomicBool> = std::sync::OnceLock::new();

/// A lineage answer as received: its node messages, edges and outline in `response`, and the
/// node tables of its chunks (or of the one response) when it was asked for in columns.
struct Fetched {
    response: proto::LineageResponse,
    tables: Vec<proto::LineageNodeTable>,
    /// The edge tables of its chunks (or of the one response), when asked for in columns.
    edge_tables: Vec<proto::LineageEdgeTable>,
}

impl Fetched {
    /// Every node as (kind, namespace, name, distance), messages first, then the tables'.
    fn nodes(&self) -> impl Iterator<Item = (i32, &str, &str, u32)> {
        let messages = self.response.nodes.iter().filter_map(|node| {
            let name = node.node.as_ref()?;
            Some((name.kind, name.namespace.as_str(), name.name.as_str(), node.distance))
        });
        let tables = self.tables.iter().flat_map(|table| {
            (0..table.names.len()).map(move |at| {
                let namespace = table.namespace.get(at).and_then(|&at| table.namespaces.get(at as usize));
                let kind = table.kinds.get(at).copied().unwrap_or_default();
                let distance = table.distances.get(at).copied().unwrap_or_default();
                (kind, namespace.map_or("", String::as_str), table.names[at].as_str(), distance)
            })
        });
        messages.chain(tables)
    }

    /// The answer's nodes and edges, counted; an error when an edge table's columns disagree
    /// or point past the nodes.
    fn counts(&self) -> anyhow::Result<(usize, usize)> {
        let nodes = self.nodes().count();
        let mut edges = self.response.edges.len();
        for table in &self.edge_tables {
            let ends = table.from.iter().chain(&table.to);
            anyhow::ensure!(
                table.to.len() == table.from.len()
                    && table.kinds.len() == table.from.len()
                    && ends.into_iter().all(|&at| (at as usize) < nodes),
                "an edge table whose columns disagree or point past the {nodes} nodes"
            );
            edges += table.from.len();
        }
        Ok((nodes, edges))
    }
}

async fn lineage_call(
    client: &mut LineageClient<tonic::transport::Channel>,
    request: proto::LineageRequest,
) -> Result<Fetched, tonic::Status> {
    use std::sync::atomic::Ordering::Relaxed;
    let stream = STREAM_LINEAGE
        .get_or_init(|| std::sync::atomic::AtomicBool::new(std::env::var("LINEAGE_RPC").as_deref() != Ok("unary")));
    if stream.load(Relaxed) {
        match client.stream_lineage(request.clone()).await {
            Ok(response) => {
                let mut chunks = response.into_inner();
                let mut whole = Fetched {
                    response: proto::LineageResponse::default(),
                    tables: Vec::new(),
                    edge_tables: Vec::new(),
                };
                while let Some(chunk) = chunks.message().await? {
                    whole.response.nodes.extend(chunk.nodes);
                    whole.response.edges.extend(chunk.edges);
                    whole.tables.extend(chunk.node_table);
                    whole.edge_tables.extend(chunk.edge_table);
                    if chunk.last {
                        whole.response.truncated = chunk.truncated;
                        whole.response.watermark = chunk.watermark;
                    }
                }
                return Ok(whole);
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => stream.store(false, Relaxed),
            Err(status) => return Err(status),
        }
    }
    let mut response = client.get_lineage(request).await?.into_inner();
    let tables = response.node_table.take().into_iter().collect();
    let edge_tables = response.edge_table.take().into_iter().collect();
    Ok(Fetched { response, tables, edge_tables })
}

async fn grpc_lineage(
    client: &mut LineageClient<tonic::transport::Channel>,
    query: &QuerySpec,
    target: &Target,
    want_rows: bool,
) -> Result<Answer, CallError> {
    let call = lineage_call(client, lineage_request(query, target));
    let response = match tokio::time::timeout(QUERY_TIMEOUT, call).await {
        Err(_) => return Err(CallError::Timeout),
        Ok(Err(status)) => return Err(CallError::Failed(anyhow::anyhow!("GetLineage: {status}"))),
        Ok(Ok(response)) => response,
    };
    // The peers' rows: datasets only, the start (distance 0) excluded.
    let rows: Vec<(&str, &str)> = response
        .nodes()
        .filter(|&(kind, _, _, distance)| distance > 0 && kind == proto::NodeKind::Dataset as i32)
        .map(|(_, namespace, name, _)| (namespace, name))
        .collect();
    // On the untimed warm-up call: how much of a call is this client decoding the answer.
    let (response_bytes, decode_ms) = if want_rows {
        let encoded = prost::Message::encode_to_vec(&proto::LineageResponse {
            node_table: response.tables.first().cloned(),
            ..response.response.clone()
        });
        let started = Instant::now();
        let decoded = <proto::LineageResponse as prost::Message>::decode(&encoded[..]);
        let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
        drop(decoded);
        // The other chunks' tables, decoded alike.
        let (mut bytes, mut ms) = (encoded.len(), decode_ms);
        for table in response.tables.iter().skip(1) {
            let encoded = prost::Message::encode_to_vec(table);
            let started = Instant::now();
            drop(<proto::LineageNodeTable as prost::Message>::decode(&encoded[..]));
            ms += started.elapsed().as_secs_f64() * 1000.0;
            bytes += encoded.len();
        }
        (bytes, ms)
    } else {
        (0, 0.0)
    };
    Ok(Answer {
        n_rows: rows.len(),
        rows: want_rows.then(|| rows.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()),
        truncated: response.response.truncated,
        n_nodes: response.response.nodes.len() + response.tables.iter().map(|table| table.names.len()).sum::<usize>(),
        n_edges: response.response.edges.len(),
        response_bytes,
        decode_ms,
    })
}

// ---------------------------------------------------------------------------------------
// Ingest into a fresh store

#[derive(Default, Debug)]
struct IngestTally {
    sent: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    first_rejection: Option<String>,
    seconds: f64,
    capped_by: Option<&'static str>,
}

/// Reads lines on a thread and hands them over until the file ends, `max_events` lines
/// were sent or `deadline` passed. Returns what stopped it.
fn spawn_line_reader(
    path: PathBuf,
    max_events: u64,
    deadline: Instant,
    lines: tokio::sync::mpsc::Sender<String>,
) -> std::thread::JoinHandle<anyhow::Result<(u64, Option<&'static str>)>> {
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut sent = 0u64;
        let mut line = String::new();
        loop {
            if max_events > 0 && sent >= max_events {
                return Ok((sent, Some("events")));
            }
            if Instant::now() >= deadline {
                return Ok((sent, Some("time")));
            }
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok((sent, None));
            }
            let text = line.trim_end();
            if text.is_empty() {
                continue;
            }
            if lines.blocking_send(text.to_owned()).is_err() {
                return Ok((sent, Some("receiver gone")));
            }
            sent += 1;
        }
    })
}

/// One `IngestStream`; every event acknowledged (durably) before the clock stops.
async fn ingest_grpc_stream(url: &str, data: &Path, cap: Duration, max_events: u64) -> anyhow::Result<IngestTally> {
    let mut client = IngestClient::connect(url.to_owned()).await?;
    let (line_tx, line_rx) = tokio::sync::mpsc::channel::<String>(1024);
    let started = Instant::now();
    let reader = spawn_line_reader(data.to_path_buf(), max_events, started + cap, line_tx);
    let outbound = futures::stream::unfold(line_rx, |mut line_rx| async move {
        line_rx.recv().await.map(|event_json| (proto::IngestEventRequest { event_json }, line_rx))
    });
    let mut acks = client.ingest_stream(outbound).await?.into_inner();
    let mut tally = IngestTally::default();
    while let Some(ack) = acks.message().await? {
        match ack.result {
            Some(proto::ingest_ack::Result::Accepted(accepted)) if accepted.duplicate => tally.duplicates += 1,
            Some(proto::ingest_ack::Result::Accepted(_)) => tally.accepted += 1,
            Some(proto::ingest_ack::Result::Error(error)) => {
                tally.rejected += 1;
                tally.first_rejection.get_or_insert(format!("event {}: {} {}", ack.index, error.field, error.message));
            }
            None => tally.rejected += 1,
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    let (sent, capped_by) = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    tally.sent = sent;
    tally.capped_by = capped_by;
    Ok(tally)
}

/// `clients` concurrent HTTP/1.1 clients, each with its own connection, one event per POST
/// (the OpenLineage Python client's request shape).
async fn ingest_http(
    url: &str,
    data: &Path,
    clients: usize,
    cap: Duration,
    max_events: u64,
) -> anyhow::Result<IngestTally> {
    let (line_tx, line_rx) = tokio::sync::mpsc::channel::<String>(1024);
    let line_rx = Arc::new(tokio::sync::Mutex::new(line_rx));
    let endpoint = format!("{url}/api/v1/lineage");
    let started = Instant::now();
    let reader = spawn_line_reader(data.to_path_buf(), max_events, started + cap, line_tx);
    let mut workers = Vec::new();
    for _ in 0..clients {
        let line_rx = Arc::clone(&line_rx);
        let endpoint = endpoint.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
            let mut tally = IngestTally::default();
            loop {
                let next = line_rx.lock().await.recv().await;
                let Some(body) = next else { break };
                let response = client
                    .post(&endpoint)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                if status.as_u16() == 201 || status.as_u16() == 200 {
                    if text.contains("\"duplicate\":true") {
                        tally.duplicates += 1;
                    } else {
                        tally.accepted += 1;
                    }
                } else {
                    tally.rejected += 1;
                    tally.first_rejection.get_or_insert(format!("{status}: {text}"));
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut tally = IngestTally::default();
    for worker in workers {
        let part = worker.await??;
        tally.accepted += part.accepted;
        tally.duplicates += part.duplicates;
        tally.rejected += part.rejected;
        if tally.first_rejection.is_none() {
            tally.first_rejection = part.first_rejection;
        }
    }
    tally.seconds = started.elapsed().as_secs_f64();
    let (sent, capped_by) = reader.join().map_err(|_| anyhow::anyhow!("reader thread panicked"))??;
    tally.sent = sent;
    tally.capped_by = capped_by;
    Ok(tally)
}

// ---------------------------------------------------------------------------------------
// The run

/// Counts every figure per dataset+job uses.
#[derive(Clone, Copy)]
struct Shape {
    datasets: u64,
    jobs: u64,
    events: u64,
    ndjson_bytes: u64,
}

impl Shape {
    fn nodes(&self) -> u64 {
        (self.datasets + self.jobs).max(1)
    }
}

struct Bench {
    args: Args,
    runtime: tokio::runtime::Runtime,
    tributary: Emitter,
    failures: Vec<String>,
}

fn main() -> ExitCode {
    digest::self_check();
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut bench = Bench { tributary: Emitter::new(&args.label, &args.scale), args, runtime, failures: Vec::new() };
    // Smoke data lives in a temporary directory that must outlive the run.
    let _smoke_dir = match bench.prepare_smoke() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: preparing the smoke data: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match bench.run() {
        Ok(()) if bench.failures.is_empty() => ExitCode::SUCCESS,
        Ok(()) => {
            for failure in &bench.failures {
                eprintln!("FAILED: {failure}");
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

impl Bench {
    fn step(&self, name: &str) -> bool {
        self.args.steps.iter().any(|s| s == name)
    }

    /// `--smoke`: unpack the committed sample (gen_mesh.py --datasets 100 --seed 42) into a
    /// temporary root, one repetition.
    fn prepare_smoke(&mut self) -> anyhow::Result<Option<tempfile::TempDir>> {
        if !self.args.smoke {
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data");
        let data = dir.path().join("data/mesh-smoke.ndjson");
        std::fs::create_dir_all(data.parent().expect("has a parent"))?;
        let compressed = std::fs::File::open(here.join("mesh-smoke.ndjson.gz"))?;
        let mut decoder = flate2::read::GzDecoder::new(compressed);
        std::io::copy(&mut decoder, &mut std::fs::File::create(&data)?)?;
        self.args.data = data;
        self.args.targets = here.join("targets-smoke.json");
        self.args.root = dir.path().to_path_buf();
        self.args.reps = 1;
        Ok(Some(dir))
    }

    fn run(&mut self) -> anyhow::Result<()> {
        let args = &self.args;
        let targets_file = load_targets(&args.targets)?;
        let targets = targets_file.targets.clone();
        let ndjson_bytes = std::fs::metadata(&args.data).with_context(|| format!("{}", args.data.display()))?.len();
        let versions = self.versions();
        self.tributary.emit(
            "versions",
            versions.clone(),
            "info",
            json!({"datasets": targets_file.datasets, "jobs": targets_file.jobs, "events": targets_file.events,
                   "ndjson_bytes": ndjson_bytes, "data": args.data, "reps": args.reps}),
        );
        let db_root = args.root.join("db");
        std::fs::create_dir_all(&db_root)?;
        let store = db_root.join(format!("{}-{}", args.label, args.scale));

        // Floor: adjacency straight from the NDJSON; also the dataset/job counts.
        let mut shape = Shape {
            datasets: targets_file.datasets,
            jobs: targets_file.jobs,
            events: targets_file.events,
            ndjson_bytes,
        };
        // Whether the floor step ran: its graph is read again for its queries at the end.
        let mut floor_ran = false;
        if self.step("floor") {
            log("floor: reading the NDJSON into integer adjacency");
            let started = Instant::now();
            let graph = FloorGraph::from_ndjson(&args.data)?;
            let floor = Emitter::new("bfs-floor", &args.scale);
            floor.emit(
                "build_s",
                json!(round3(started.elapsed().as_secs_f64())),
                "s",
                json!({"datasets_seen": graph.n_datasets(), "jobs": graph.n_jobs, "io_edges": graph.n_io_edges,
                       "events": graph.n_events, "what": "stream-parse NDJSON (serde, facets skipped) + CSR build"}),
            );
            shape.datasets = graph.n_datasets() as u64;
            shape.jobs = graph.n_jobs as u64;
            shape.events = graph.n_events;
            // Not kept through Tributary's steps: this process is their gRPC and GraphQL
            // client, and with the 1M graph held (and the heap its parse grew) every later
            // query measured 2.5-3x slower (benches/README, session 9). Read again for the
            // floor's own queries at the end.
            drop(graph);
            floor_ran = true;
        }

        let empty_rss = self.empty_server_rss()?;

        // Bulk import, disk.
        // A store compacted online keeps its database in a generation directory named by `CURRENT`.
        let mut store_complete =
            store.join("db").exists() || store.join("conf").exists() || store.join("CURRENT").exists();
        if self.step("import") && self.enough_disk("import", &db_root, shape.ndjson_bytes as f64 * DISK_PER_NDJSON_BYTE)
        {
            store_complete = self.import(&store, shape)?;
        }

        // `tributary compact` of the imported store: the later steps run on the compacted one.
        if self.step("compact") && store_complete {
            if self.args.compact_online {
                self.compact_online(&store, shape)?;
            } else {
                self.compact(&store, shape)?;
            }
        }

        // Start-up, RSS and gRPC queries on the imported store.
        let mut tributary_results = None;
        if self.step("queries") {
            if store_complete {
                tributary_results = Some(self.grpc_queries(&store, &targets, shape, empty_rss, &versions)?);
            } else {
                log("queries skipped: no complete store (run the import step)");
            }
        }

        if self.step("startup") {
            if store_complete {
                self.startup(&store, &targets)?;
            } else {
                log("startup skipped: no complete store (run the import step)");
            }
        }

        let mut inproc_results = None;
        if self.step("inproc") && store_complete {
            inproc_results = Some(self.inproc_queries(&store, &targets, &versions)?);
        }

        if self.step("summary") {
            if store_complete {
                self.summary_queries(&store, &targets)?;
            } else {
                log("summary skipped: no complete store (run the import step)");
            }
        }

        if floor_ran {
            log("floor: reading the NDJSON again for the BFS queries");
            let graph = FloorGraph::from_ndjson(&self.args.data)?;
            let floor_results = floor_queries(&graph, &targets, self.args.reps, &self.args.scale)?;
            save_results(&self.args.root, "bfs-floor", &self.args.scale, &json!({"floor": "mesh.rs"}), &floor_results)?;
            let inproc_label = format!("{}-inproc", self.args.label);
            for (peer, results) in
                [(self.args.label.as_str(), &tributary_results), (inproc_label.as_str(), &inproc_results)]
            {
                let Some(results) = results else { continue };
                let found = mismatches(results, &floor_results);
                Emitter::new(peer, &self.args.scale).emit(
                    "crosscheck_vs_floor_mismatches",
                    json!(found.len()),
                    "count",
                    json!({"compared": results.values().map(Vec::len).sum::<usize>(), "first": found.first()}),
                );
                if !found.is_empty() {
                    self.failures.push(format!("{peer} answers differ from the BFS floor: {}", found.join("; ")));
                }
            }
        }

        if self.step("grpc") {
            self.fresh_ingest("grpc", shape, empty_rss)?;
        }
        if self.step("http") {
            self.fresh_ingest("http", shape, empty_rss)?;
        }
        if !self.args.keep {
            let _ = std::fs::remove_dir_all(&store);
        }
        Ok(())
    }

    fn versions(&self) -> Value {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let git = |args: &[&str]| -> String {
            std::process::Command::new("git")
                .args(args)
                .current_dir(repo)
                .output()
                .ok()
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        let dirty = !git(&["status", "--porcelain", "--", "crates", "src", "Cargo.lock"]).is_empty();
        // A copy without .git (a snapshot) names its commit in BENCH_COMMIT.
        let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| git(&["rev-parse", "--short", "HEAD"]));
        let lineage_nodes = if std::env::var("LINEAGE_NODES").as_deref() == Ok("table") { "table" } else { "messages" };
        json!({"tributary": commit, "dirty": dirty, "lineage_nodes": lineage_nodes,
               "binary": self.args.binary, "cores": std::thread::available_parallelism().map_or(0, |n| n.get())})
    }

    /// Whether the file system holding `dir` has room for `needed` bytes; if not, says so
    /// in a `status` line (a 1M import writes ~100 GB at today's write amplification).
    fn enough_disk(&self, step: &str, dir: &Path, needed: f64) -> bool {
        let free =
            std::process::Command::new("df").args(["--output=avail", "-B1"]).arg(dir).output().ok().and_then(|out| {
                String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse::<f64>().ok())
            });
        match free {
            Some(free) if free < needed => {
                log(format!("{step} skipped: needs ~{:.1} GB of disk, {:.1} GB free", needed / 1e9, free / 1e9));
                self.tributary.emit(
                    "status",
                    json!(format!("{step}_skipped_disk")),
                    "info",
                    json!({"needed_bytes": needed as u64, "free_bytes": free as u64}),
                );
                false
            }
            _ => true,
        }
    }

    /// RSS of a server on an empty store, to tell the index's memory from the process's.
    fn empty_server_rss(&self) -> anyhow::Result<Memory> {
        let dir = tempfile::tempdir()?;
        let server = ServerProcess::spawn(&self.args.binary, dir.path())?;
        let url = server.base_url.clone();
        self.runtime.block_on(async {
            let mut client = lineage_client(&url, Duration::from_secs(30)).await?;
            // One (failing: unknown node) call so the serving path is paged in, as it is
            // when the other RSS figures are taken.
            let _ = client
                .get_lineage(lineage_request(
                    &QUERIES[0],
                    &Target { kind: String::new(), namespace: "ns".into(), name: "none".into() },
                ))
                .await;
            anyhow::Ok(())
        })?;
        let memory = server.memory();
        server.stop(Duration::from_secs(30));
        self.tributary.emit("server_rss_empty_bytes", json!(memory.rss), "bytes", json!({"peak_bytes": memory.peak}));
        Ok(memory)
    }

    /// `tributary import` into a fresh store; returns whether the whole file went in.
    fn import(&mut self, store: &Path, shape: Shape) -> anyhow::Result<bool> {
        let args = &self.args;
        let _ = std::fs::remove_dir_all(store);
        log(format!("import: {} -> {}", args.data.display(), store.display()));
        let started = Instant::now();
        let mut child = std::process::Command::new(&args.binary)
            .args(["import", "--quiet", "--data-dir"])
            .arg(store)
            .arg(&args.data)
            .env("TRIBUTARY_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut peak_rss = 0u64;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            peak_rss = peak_rss.max(Memory::of(child.id()).peak);
            if !args.import_budget.is_zero() && started.elapsed() > args.import_budget {
                let _ = child.kill();
                let _ = child.wait();
                self.tributary.emit(
                    "ingest_incomplete",
                    json!(Value::Null),
                    "events",
                    json!({"seconds": round3(started.elapsed().as_secs_f64()), "budget_s": args.import_budget.as_secs_f64(),
                           "via": "tributary import"}),
                );
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let seconds = started.elapsed().as_secs_f64();
        let mut summary = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut summary)?;
        }
        // "imported N events from L lines in X.Ys (R events/s): A new, D duplicates, J rejected"
        let words: Vec<&str> = summary.split_whitespace().collect();
        let imported: u64 = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
        let reported_rate: f64 = words.get(8).and_then(|w| w.trim_start_matches('(').parse().ok()).unwrap_or(0.0);
        if !status.success() || imported != shape.events {
            self.failures.push(format!("import: {status}, {imported} of {} events: {}", shape.events, summary.trim()));
        }
        self.tributary.emit(
            "ingest_s",
            json!(round3(seconds)),
            "s",
            json!({"events": imported, "via": "tributary import (wall: open + parse + apply + flush + close)"}),
        );
        self.tributary.emit(
            "ingest_events_per_s",
            json!((imported as f64 / seconds * 10.0).round() / 10.0),
            "events/s",
            json!({"events": imported, "via": "tributary import", "import_reported_events_per_s": reported_rate,
                   "import_peak_rss_bytes": peak_rss}),
        );
        let usage = disk_usage(store);
        self.tributary.emit(
            "disk_bytes",
            json!(usage.apparent),
            "bytes",
            json!({"allocated_bytes": usage.allocated, "files": usage.files,
                   "bytes_per_dataset": usage.apparent / shape.datasets.max(1),
                   "bytes_per_dataset_and_job": usage.apparent / shape.nodes(),
                   "bytes_per_event": usage.apparent / shape.events.max(1),
                   "vs_ndjson": round3(usage.apparent as f64 / shape.ndjson_bytes.max(1) as f64),
                   "allocated_vs_ndjson": round3(usage.allocated as f64 / shape.ndjson_bytes.max(1) as f64),
                   "ndjson_bytes": shape.ndjson_bytes}),
        );
        Ok(status.success())
    }

    /// `tributary compact` on the imported store (the old store it keeps is removed): its
    /// time and the disk after it. A binary without the command is skipped, not failed.
    fn compact(&mut self, store: &Path, shape: Shape) -> anyhow::Result<()> {
        log(format!("compact: {}", store.display()));
        let started = Instant::now();
        let output = std::process::Command::new(&self.args.binary)
            .args(["compact", "--data-dir"])
            .arg(store)
            .env("TRIBUTARY_LOG", "warn")
            .output()?;
        let seconds = started.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("unrecognized subcommand") {
                log("compact skipped: this binary has no `compact` command");
            } else {
                self.failures.push(format!("compact: {}: {}", output.status, stderr.trim()));
            }
            return Ok(());
        }
        // "... the old store is kept in `PATH`: remove it ..."
        if let Some(kept) = said.split("kept in `").nth(1).and_then(|rest| rest.split('`').next()) {
            std::fs::remove_dir_all(kept).with_context(|| format!("removing `{kept}`"))?;
        }
        self.tributary.emit("compact_s", json!(round3(seconds)), "s", json!({"via": "tributary compact"}));
        self.emit_disk_after_compact(store, shape, "tributary compact");
        Ok(())
    }

    /// `compactStore` on a server running on the imported store, followed until it finishes,
    /// with one single event posted every 50 ms meanwhile (in a namespace of their own, so no
    /// target's lineage changes): the compaction's time, the store's size after it, and how
    /// long those events waited for their acknowledgement while the copy ran.
    fn compact_online(&mut self, store: &Path, shape: Shape) -> anyhow::Result<()> {
        log(format!("compact (online, compactStore): {}", store.display()));
        let server = ServerProcess::spawn(&self.args.binary, store)?;
        let url = server.base_url.clone();
        let before = disk_usage(store);
        let outcome = self.runtime.block_on(async {
            let http = reqwest::Client::new();
            let graphql = |query: &'static str| {
                let http = http.clone();
                let url = format!("{url}/graphql");
                async move {
                    let answer: Value = http.post(url).json(&json!({"query": query})).send().await?.json().await?;
                    anyhow::ensure!(answer.get("errors").is_none(), "GraphQL errors: {answer}");
                    Ok::<Value, anyhow::Error>(answer["data"].clone())
                }
            };
            // One small event in a namespace of its own, timed to its acknowledgement.
            let probe = |n: u64| {
                let http = http.clone();
                let url = format!("{url}/api/v1/lineage");
                async move {
                    let event = json!({
                        "eventType": "COMPLETE",
                        "eventTime": "2024-06-01T00:00:00Z",
                        "producer": "https://github.com/tributary/benches/mesh",
                        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                        "run": {"runId": format!("00000000-0000-4000-9000-{n:012}")},
                        "job": {"namespace": "bench-probe", "name": "probe"},
                        "inputs": [{"namespace": "bench-probe", "name": "probe_in"}],
                        "outputs": [{"namespace": "bench-probe", "name": "probe_out"}],
                    });
                    let sent = Instant::now();
                    let response = http.post(url).json(&event).send().await?;
                    anyhow::ensure!(response.status().as_u16() == 201, "probe event refused: {}", response.status());
                    Ok::<_, anyhow::Error>((sent, ms(sent.elapsed())))
                }
            };
            // 5 s of probes before the compaction: the server's first writes after it started,
            // told apart from the compaction's effect.
            let mut n = 0u64;
            let mut before = Vec::new();
            let warm = Instant::now();
            while warm.elapsed() < Duration::from_secs(5) {
                before.push(probe(n).await?.1);
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let started = Instant::now();
            graphql("mutation { compactStore { stage } }").await?;
            let mut latencies = Vec::new();
            let mut slow = Vec::new();
            // Probes go on for 5 s after the compaction ended (the old files are removed then).
            let mut ended: Option<(Value, Instant)> = None;
            let state = loop {
                if let Some((state, at)) = &ended {
                    if at.elapsed() >= Duration::from_secs(5) {
                        break state.clone();
                    }
                } else {
                    let state = graphql(
                        "{ storeCompaction { stage keysCopied bytesCopied bytesOnDiskBefore bytesOnDiskAfter longestHoldMs switchHoldMs error } }",
                    )
                    .await?["storeCompaction"]
                        .clone();
                    if state["stage"] != "RUNNING" {
                        ended = Some((state, Instant::now()));
                    }
                }
                let (sent, waited) = probe(n).await?;
                n += 1;
                latencies.push(waited);
                if waited > 200.0 {
                    // When a slow one was sent, from the start of the compaction.
                    slow.push(json!({"at_s": round3(ms(sent - started) / 1000.0), "ms": round3(waited)}));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            // Whether a long wait was a flush: the writer's flush times, from /metrics.
            let metrics = http.get(format!("{url}/metrics")).send().await?.text().await?;
            let flush_buckets: Vec<String> = metrics
                .lines()
                .filter(|line| {
                    ["flush", "apply", "commit", "group"]
                        .iter()
                        .any(|part| line.starts_with(&format!("tributary_writer_{part}_seconds_bucket")))
                })
                .map(str::to_owned)
                .collect();
            let seconds = ended.as_ref().map_or(0.0, |(_, at)| (*at - started).as_secs_f64());
            Ok::<_, anyhow::Error>((state, seconds, before, latencies, slow, flush_buckets))
        });
        // Graceful, like an operator's restart: the old database's files are gone by then.
        server.stop(Duration::from_secs(120));
        let (state, seconds, before_probes, latencies, slow, flush_buckets) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.failures.push(format!("compact (online): {error:#}"));
                return Ok(());
            }
        };
        if state["stage"] != "FINISHED" {
            self.failures.push(format!("compact (online): {state}"));
            return Ok(());
        }
        self.tributary.emit(
            "compact_s",
            json!(round3(seconds)),
            "s",
            json!({"via": "compactStore (online)", "keys": state["keysCopied"], "bytes": state["bytesCopied"],
                   "longest_hold_ms": state["longestHoldMs"], "switch_hold_ms": state["switchHoldMs"],
                   "store_bytes_before": state["bytesOnDiskBefore"], "store_bytes_after": state["bytesOnDiskAfter"],
                   "dir_bytes_before": before.apparent}),
        );
        self.tributary.emit(
            "compact_online_event_ack_ms",
            json!({"p50": median(&latencies).map(round3), "p99": percentile(&latencies, 99.0).map(round3),
                   "max": latencies.iter().copied().reduce(f64::max).map(round3)}),
            "ms",
            json!({"events": latencies.len(), "one_every_ms": 50, "until": "5 s after the compaction ended",
                   "before_compaction": {"events": before_probes.len(), "p50": median(&before_probes).map(round3),
                                         "max": before_probes.iter().copied().reduce(f64::max).map(round3)},
                   "slow": slow, "compaction_s": round3(seconds), "writer_seconds_buckets": flush_buckets}),
        );
        self.emit_disk_after_compact(store, shape, "compactStore (online)");
        Ok(())
    }

    /// The store's size on disk after a compaction (`via`: which one).
    fn emit_disk_after_compact(&mut self, store: &Path, shape: Shape, via: &str) {
        let usage = disk_usage(store);
        self.tributary.emit(
            "disk_after_compact_bytes",
            json!(usage.apparent),
            "bytes",
            json!({"via": via, "allocated_bytes": usage.allocated,
                   "vs_ndjson": round3(usage.apparent as f64 / shape.ndjson_bytes.max(1) as f64),
                   "allocated_vs_ndjson": round3(usage.allocated as f64 / shape.ndjson_bytes.max(1) as f64),
                   "ndjson_bytes": shape.ndjson_bytes}),
        );
    }

    /// Start-up on the existing store, RSS, then the peers' queries over gRPC.
    fn grpc_queries(
        &mut self,
        store: &Path,
        targets: &[Target],
        shape: Shape,
        empty: Memory,
        versions: &Value,
    ) -> anyhow::Result<QueryResults> {
        log("queries: start-up on the imported store, then gRPC GetLineage");
        let server = ServerProcess::spawn(&self.args.binary, store)?;
        let url = server.base_url.clone();
        let first = targets.first().context("no targets")?.clone();
        let mut client = self.runtime.block_on(async {
            let mut client = lineage_client(&url, Duration::from_secs(600)).await?;
            let probe = QuerySpec { name: "probe", downstream: true, depth: 1 };
            client.get_lineage(lineage_request(&probe, &first)).await.context("first lineage answer")?;
            anyhow::Ok(client)
        })?;
        let first_answer = server.spawned_at.elapsed();
        self.tributary.emit(
            "startup_first_answer_ms",
            json!(ms(first_answer)),
            "ms",
            json!({"listening_ms": ms(server.listening_after), "events": shape.events,
                   "what": "spawn `tributary serve` on the imported store -> first GetLineage answer"}),
        );
        let after_open = server.memory();
        self.emit_rss("server_rss_after_open_bytes", after_open, empty, shape);
        // The server loads the column lineage in the background after it answers; a column
        // query waits for that load. Waiting here keeps the loader off the cores while the
        // dataset queries below are timed, and times when column answers are available.
        self.runtime.block_on(async {
            // The answer itself (often "unknown column") does not matter, only when it comes.
            let _ = client.get_column_lineage(column_probe(&first)).await;
        });
        let columns_ready = server.spawned_at.elapsed();
        self.tributary.emit(
            "startup_columns_ready_ms",
            json!(ms(columns_ready)),
            "ms",
            json!({"what": "spawn `tributary serve` -> first GetColumnLineage answer (waits for the background column load)"}),
        );
        let after_columns = server.memory();
        self.emit_rss("server_rss_after_columns_bytes", after_columns, empty, shape);

        let runtime = &self.runtime;
        let scraper = reqwest::Client::new();
        let metrics_url = format!("{url}/metrics");
        let mut clock = || runtime.block_on(server_clock(&scraper, &metrics_url, "grpc", "tributary.v1.Lineage"));
        let (results, failed) =
            run_queries(&self.tributary, targets, self.args.reps, Some(&mut clock), |query, target, want_rows| {
                runtime.block_on(grpc_lineage(&mut client, query, target, want_rows))
            })?;
        self.failures.extend(failed);
        let after_queries = server.memory();
        self.emit_rss("server_rss_after_queries_bytes", after_queries, empty, shape);
        self.graphql_hub_queries(&url, &mut client, targets)?;
        self.graphql_hub_edges(&url, &mut client, targets)?;
        drop(client);
        let stop = server.stop(Duration::from_secs(120));
        self.tributary.emit("shutdown_ms", json!(ms(stop)), "ms", json!({"what": "SIGTERM -> exit"}));
        save_results(&self.args.root, &self.args.label, &self.args.scale, versions, &results)?;
        Ok(results)
    }

    /// The large answers over GraphQL against gRPC: every hub's `down_d5` and `down_all`
    /// (datasets only, no edges, as the gRPC queries ask), 1 warm-up and `reps` calls each,
    /// alternating the transports call by call; the GraphQL answer must hold as many datasets
    /// as the gRPC one. Issue #13's goal: GraphQL within 1.5x of gRPC on large answers.
    fn graphql_hub_queries(
        &mut self,
        url: &str,
        client: &mut LineageClient<tonic::transport::Channel>,
        targets: &[Target],
    ) -> anyhow::Result<()> {
        log("queries: hub closures over GraphQL against gRPC");
        let http = reqwest::Client::new();
        let reps = self.args.reps.max(3);
        let metrics_url = format!("{url}/metrics");
        let server_ms = |runtime: &tokio::runtime::Runtime, door: &str, route: &str, before: (f64, f64)| {
            server_ms(runtime, &http, &metrics_url, (door, route), before)
        };
        for query in QUERIES.iter().filter(|query| query.downstream) {
            let mut medians: Vec<HubMedians> = Vec::new();
            for target in targets.iter().filter(|target| target.kind == "hub") {
                let grpc_rows = match self.runtime.block_on(grpc_lineage(client, query, target, false)) {
                    Ok(answer) => answer.n_rows,
                    Err(_) => continue,
                };
                let first = self.runtime.block_on(graphql_lineage(&http, url, query, target))?;
                let graphql_rows = first.datasets;
                if graphql_rows != grpc_rows {
                    self.failures.push(format!(
                        "{} on {} over GraphQL: {graphql_rows} datasets, over gRPC {grpc_rows}",
                        query.name, target.name
                    ));
                    continue;
                }
                // `lineageTable` (builds before it have none: then not measured).
                let first_table = match self.runtime.block_on(graphql_lineage_table(&http, url, query, target)) {
                    Ok(table) if table.datasets == grpc_rows => Some(table),
                    Ok(table) => {
                        self.failures.push(format!(
                            "{} on {} over GraphQL lineageTable: {} datasets, over gRPC {grpc_rows}",
                            query.name, target.name, table.datasets
                        ));
                        None
                    }
                    Err(error) => {
                        log(format!("queries: no lineageTable ({error:#}); measured without it"));
                        None
                    }
                };
                let (mut graphql_ms, mut grpc_ms, mut decode_ms) = (Vec::new(), Vec::new(), Vec::new());
                let (mut table_ms, mut table_decode_ms) = (Vec::new(), Vec::new());
                let (mut table_server_ms, mut grpc_server_ms) = (Vec::new(), Vec::new());
                let mut graphql_server_ms = Vec::new();
                for _ in 0..reps {
                    let before = self.runtime.block_on(server_clock(&http, &metrics_url, "http", "/graphql"))?;
                    let started = Instant::now();
                    let answer = self.runtime.block_on(graphql_lineage(&http, url, query, target))?;
                    graphql_ms.push(ms(started.elapsed()));
                    decode_ms.push(answer.decode_ms);
                    graphql_server_ms.push(server_ms(&self.runtime, "http", "/graphql", before)?);
                    if first_table.is_some() {
                        let before = self.runtime.block_on(server_clock(&http, &metrics_url, "http", "/graphql"))?;
                        let started = Instant::now();
                        let answer = self.runtime.block_on(graphql_lineage_table(&http, url, query, target))?;
                        table_ms.push(ms(started.elapsed()));
                        table_decode_ms.push(answer.decode_ms);
                        table_server_ms.push(server_ms(&self.runtime, "http", "/graphql", before)?);
                    }
                    let grpc_route = "tributary.v1.Lineage";
                    let before = self.runtime.block_on(server_clock(&http, &metrics_url, "grpc", grpc_route))?;
                    let started = Instant::now();
                    self.runtime.block_on(grpc_lineage(client, query, target, false)).map_err(|error| match error {
                        CallError::Timeout => anyhow::anyhow!("{} on {}: timed out", query.name, target.name),
                        CallError::Failed(error) => error.context(format!("{} on {}", query.name, target.name)),
                    })?;
                    grpc_ms.push(ms(started.elapsed()));
                    grpc_server_ms.push(server_ms(&self.runtime, "grpc", grpc_route, before)?);
                }
                let (graphql, grpc) = (median(&graphql_ms).unwrap_or(f64::NAN), median(&grpc_ms).unwrap_or(f64::NAN));
                let table = median(&table_ms).unwrap_or(f64::NAN);
                let table_server = median(&table_server_ms).unwrap_or(f64::NAN);
                let grpc_server = median(&grpc_server_ms).unwrap_or(f64::NAN);
                let graphql_server = median(&graphql_server_ms).unwrap_or(f64::NAN);
                medians.push(HubMedians {
                    rows: grpc_rows,
                    graphql,
                    grpc,
                    table,
                    graphql_server,
                    table_server,
                    grpc_server,
                });
                self.tributary.emit(
                    "graphql_hub_ms",
                    json!(round3(graphql)),
                    "ms",
                    json!({"query": query.name, "target": target.name, "rows": grpc_rows, "graphql_ms": graphql_ms,
                           "grpc_ms": grpc_ms, "grpc_median_ms": round3(grpc), "graphql_over_grpc": round3(graphql / grpc),
                           "graphql_body_bytes": first.body_bytes,
                           "graphql_client_decode_ms": median(&decode_ms).map(round3),
                           "graphql_table_ms": table_ms, "graphql_table_median_ms": median(&table_ms).map(round3),
                           "graphql_table_over_grpc": median(&table_ms).map(|table| round3(table / grpc)),
                           "graphql_table_body_bytes": first_table.as_ref().map(|table| table.body_bytes),
                           "graphql_table_client_decode_ms": median(&table_decode_ms).map(round3),
                           "graphql_server_ms": graphql_server_ms,
                           "graphql_server_over_grpc_server": round3(graphql_server / grpc_server),
                           "graphql_table_server_ms": table_server_ms, "grpc_server_ms": grpc_server_ms,
                           "graphql_table_server_over_grpc_server": round3(table_server / grpc_server)}),
                );
            }
            medians.sort_by_key(|hub| std::cmp::Reverse(hub.rows));
            let over_hubs = |pick: fn(&HubMedians) -> f64| {
                median(&medians.iter().map(pick).filter(|ms| !ms.is_nan()).collect::<Vec<_>>())
            };
            let (graphql, grpc, table) = (over_hubs(|m| m.graphql), over_hubs(|m| m.grpc), over_hubs(|m| m.table));
            let (table_server, grpc_server) = (over_hubs(|m| m.table_server), over_hubs(|m| m.grpc_server));
            let graphql_server = over_hubs(|m| m.graphql_server);
            self.tributary.emit(
                &format!("graphql_{}_hub_median_ms", query.name),
                json!(graphql.map(round3)),
                "ms",
                json!({"grpc_median_ms": grpc.map(round3), "graphql_over_grpc": graphql.zip(grpc).map(|(a, b)| round3(a / b)),
                       "hubs": medians.len(), "largest_rows": medians.first().map(|m| m.rows),
                       "largest_graphql_ms": medians.first().map(|m| round3(m.graphql)),
                       "largest_grpc_ms": medians.first().map(|m| round3(m.grpc)),
                       "graphql_table_median_ms": table.map(round3),
                       "graphql_table_over_grpc": table.zip(grpc).map(|(a, b)| round3(a / b)),
                       "largest_graphql_table_ms": medians.first().map(|m| m.table).filter(|ms| !ms.is_nan()).map(round3),
                       "graphql_server_median_ms": graphql_server.map(round3),
                       "graphql_server_over_grpc_server": graphql_server.zip(grpc_server).map(|(a, b)| round3(a / b)),
                       "graphql_table_server_median_ms": table_server.map(round3),
                       "grpc_server_median_ms": grpc_server.map(round3),
                       "graphql_table_server_over_grpc_server": table_server.zip(grpc_server).map(|(a, b)| round3(a / b)),
                       "what": "lineage from each hub, datasets only, no edges: GraphQL `lineage` (and `lineageTable`, the answer in columns) against gRPC GetLineage, median per hub then over hubs"}),
            );
        }
        Ok(())
    }

    /// Every hub's full downstream closure with its jobs and edges, the answer a lineage
    /// explorer draws: GraphQL `lineageTable` (every node list and the edge lists) and
    /// `lineage` (node and edge objects) against gRPC with nodes and edges in columns
    /// (`node_table`, `edge_table`); 1 warm-up and `reps` calls each, alternating, with the
    /// server's own time of each. Every answer must hold as many nodes and edges as gRPC's.
    fn graphql_hub_edges(
        &mut self,
        url: &str,
        client: &mut LineageClient<tonic::transport::Channel>,
        targets: &[Target],
    ) -> anyhow::Result<()> {
        log("queries: hub closures with edges over GraphQL against gRPC");
        let http = reqwest::Client::new();
        let reps = self.args.reps.max(3);
        let metrics_url = format!("{url}/metrics");
        let query = QUERIES.iter().find(|query| query.name == "down_all").context("down_all")?;
        let mut medians: Vec<(usize, [f64; 6])> = Vec::new();
        for target in targets.iter().filter(|target| target.kind == "hub") {
            let request = proto::LineageRequest {
                omit_edges: false,
                datasets_only: false,
                node_table: true,
                edge_table: true,
                ..lineage_request(query, target)
            };
            let grpc = match self.runtime.block_on(lineage_call(client, request.clone())) {
                Ok(grpc) => grpc,
                Err(error) => {
                    self.failures.push(format!("{} with edges on {} over gRPC: {error:#}", query.name, target.name));
                    continue;
                }
            };
            let grpc_counts = grpc.counts()?;
            let table = self.runtime.block_on(graphql_edges(&http, url, EdgesForm::Table, query, target))?;
            let objects = self.runtime.block_on(graphql_edges(&http, url, EdgesForm::Objects, query, target))?;
            if table.counts != grpc_counts || objects.counts != grpc_counts {
                self.failures.push(format!(
                    "{} with edges on {}: GraphQL lineageTable {:?} and lineage {:?} (nodes, edges), gRPC {grpc_counts:?}",
                    query.name, target.name, table.counts, objects.counts
                ));
                continue;
            }
            // Per form: end to end and the server's time, ms.
            let mut times: [Vec<f64>; 6] = Default::default();
            for _ in 0..reps {
                for (at, form) in [EdgesForm::Table, EdgesForm::Objects].into_iter().enumerate() {
                    let before = self.runtime.block_on(server_clock(&http, &metrics_url, "http", "/graphql"))?;
                    let started = Instant::now();
                    self.runtime.block_on(graphql_edges(&http, url, form, query, target))?;
                    times[2 * at].push(ms(started.elapsed()));
                    times[2 * at + 1].push(server_ms(
                        &self.runtime,
                        &http,
                        &metrics_url,
                        ("http", "/graphql"),
                        before,
                    )?);
                }
                let route = "tributary.v1.Lineage";
                let before = self.runtime.block_on(server_clock(&http, &metrics_url, "grpc", route))?;
                let started = Instant::now();
                self.runtime.block_on(lineage_call(client, request.clone()))?;
                times[4].push(ms(started.elapsed()));
                times[5].push(server_ms(&self.runtime, &http, &metrics_url, ("grpc", route), before)?);
            }
            let hub = times.each_ref().map(|times| median(times).unwrap_or(f64::NAN));
            self.tributary.emit(
                "graphql_edges_hub_ms",
                json!(round3(hub[0])),
                "ms",
                json!({"query": query.name, "target": target.name, "nodes": grpc_counts.0, "edges": grpc_counts.1,
                       "graphql_table_ms": times[0], "graphql_table_server_ms": times[1],
                       "graphql_objects_ms": times[2], "graphql_objects_server_ms": times[3],
                       "grpc_ms": times[4], "grpc_server_ms": times[5],
                       "graphql_table_body_bytes": table.body_bytes, "graphql_objects_body_bytes": objects.body_bytes,
                       "graphql_table_over_grpc": round3(hub[0] / hub[4]),
                       "graphql_table_server_over_grpc_server": round3(hub[1] / hub[5])}),
            );
            medians.push((grpc_counts.0 + grpc_counts.1, hub));
        }
        medians.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        let over_hubs = |at: usize| median(&medians.iter().map(|(_, hub)| hub[at]).collect::<Vec<_>>());
        let [table, table_server, objects, objects_server, grpc, grpc_server] = [0, 1, 2, 3, 4, 5].map(over_hubs);
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| round3(a / b));
        self.tributary.emit(
            "graphql_edges_hub_median_ms",
            json!(table.map(round3)),
            "ms",
            json!({"hubs": medians.len(), "largest_nodes_and_edges": medians.first().map(|(size, _)| size),
                   "graphql_table_server_median_ms": table_server.map(round3),
                   "graphql_objects_median_ms": objects.map(round3),
                   "graphql_objects_server_median_ms": objects_server.map(round3),
                   "grpc_median_ms": grpc.map(round3), "grpc_server_median_ms": grpc_server.map(round3),
                   "graphql_table_over_grpc": ratio(table, grpc),
                   "graphql_table_server_over_grpc_server": ratio(table_server, grpc_server),
                   "graphql_objects_over_grpc": ratio(objects, grpc),
                   "what": "full downstream closure from each hub with jobs and edges: GraphQL lineageTable and lineage objects against gRPC with node and edge tables, median per hub then over hubs"}),
        );
        Ok(())
    }

    /// Start-up with and without the index snapshot the server writes when it closes (the
    /// import wrote one): until the first lineage answer and until column answers come, each
    /// after emptying the page cache with `--cold`. Without the snapshot the server rebuilds
    /// the index from the store's records, as every start-up did before the snapshot.
    fn startup(&mut self, store: &Path, targets: &[Target]) -> anyhow::Result<()> {
        let first = targets.first().context("no targets")?.clone();
        let snapshot = store.join("lineage-index.snapshot");
        for variant in ["snapshot", "rebuild"] {
            if variant == "rebuild" && snapshot.exists() {
                // The server removes nothing it did not read; the close below writes a new one.
                std::fs::remove_file(&snapshot).with_context(|| format!("removing {}", snapshot.display()))?;
            }
            let had_snapshot = snapshot.exists();
            let cache = if self.args.cold { drop_page_cache() } else { "as left by the previous step" };
            log(format!("startup: {variant} (snapshot file present: {had_snapshot}; page cache: {cache})"));
            let server = ServerProcess::spawn(&self.args.binary, store)?;
            let url = server.base_url.clone();
            let (first_answer, columns_ready) = self.runtime.block_on(async {
                let mut client = lineage_client(&url, Duration::from_secs(600)).await?;
                let probe = QuerySpec { name: "probe", downstream: true, depth: 1 };
                client.get_lineage(lineage_request(&probe, &first)).await.context("first lineage answer")?;
                let first_answer = server.spawned_at.elapsed();
                // Only when the answer comes matters (often "unknown column").
                let _ = client.get_column_lineage(column_probe(&first)).await;
                anyhow::Ok((first_answer, server.spawned_at.elapsed()))
            })?;
            let detail = json!({"listening_ms": ms(server.listening_after), "snapshot_file": had_snapshot,
                                "page_cache": cache});
            self.tributary.emit(
                &format!("startup_{variant}_first_answer_ms"),
                json!(ms(first_answer)),
                "ms",
                detail.clone(),
            );
            self.tributary.emit(&format!("startup_{variant}_columns_ready_ms"), json!(ms(columns_ready)), "ms", detail);
            let stop = server.stop(Duration::from_secs(300));
            self.tributary.emit(
                &format!("startup_{variant}_shutdown_ms"),
                json!(ms(stop)),
                "ms",
                json!({"what": "SIGTERM -> exit (writes the snapshot when the index changed or none was read)"}),
            );
        }
        Ok(())
    }

    /// The impact summary from every hub (see `mesh/summary.rs`), over GraphQL and gRPC,
    /// alternating, 1 warm-up and at least 5 timed calls each, asked again and never asked
    /// before.
    fn summary_queries(&mut self, store: &Path, targets: &[Target]) -> anyhow::Result<()> {
        log("summary: derive a mesh from the data, apply it, impact summaries from every hub");
        let mesh = summary::derive_mesh(&self.args.data)?;
        let server = ServerProcess::spawn(&self.args.binary, store)?;
        let url = server.base_url.clone();
        let reps = self.args.reps.max(5);
        let hubs: Vec<Target> = targets.iter().filter(|t| t.kind == "hub").cloned().collect();
        let (apply_ms, mut rows) = self.runtime.block_on(async {
            let mut lineage = lineage_client(&url, Duration::from_secs(600)).await?;
            // Wait for the background column load, as the gRPC queries do, so that it does not
            // share the cores with the timed calls.
            let _ = lineage
                .get_column_lineage(proto::ColumnLineageRequest {
                    namespace: hubs.first().map(|t| t.namespace.clone()).unwrap_or_default(),
                    name: hubs.first().map(|t| t.name.clone()).unwrap_or_default(),
                    field: "id".into(),
                    direction: proto::Direction::Downstream as i32,
                    depth: 1,
                    limit: 1,
                })
                .await;
            let http = reqwest::Client::new();
            let started = Instant::now();
            summary::apply(&http, &url, &mesh).await?;
            let apply_ms = ms(started.elapsed());
            let mut client = proto::mesh_client::MeshClient::connect(url.clone()).await?;
            let mut rows = Vec::new();
            for target in &hubs {
                let (ns, name) = (&target.namespace, &target.name);
                let (said, answer) = summary::graphql_answer(&http, &url, ns, name, summary::LIMIT).await?;
                let said_grpc = summary::grpc(&mut client, ns, name, summary::LIMIT).await?;
                let mut times = Times::default();
                let mut walk_limit = summary::LIMIT;
                for _ in 0..reps {
                    let started = Instant::now();
                    summary::graphql(&http, &url, ns, name, summary::LIMIT).await?;
                    times.graphql.push(ms(started.elapsed()));
                    let started = Instant::now();
                    summary::grpc(&mut client, ns, name, summary::LIMIT).await?;
                    times.grpc.push(ms(started.elapsed()));
                    // A limit never asked before: the server walks.
                    walk_limit -= 1;
                    let started = Instant::now();
                    let walked = summary::graphql(&http, &url, ns, name, walk_limit).await?;
                    times.graphql_walk.push(ms(started.elapsed()));
                    walk_limit -= 1;
                    let started = Instant::now();
                    let walked_grpc = summary::grpc(&mut client, ns, name, walk_limit).await?;
                    times.grpc_walk.push(ms(started.elapsed()));
                    if walked != said || walked_grpc != said {
                        bail!("summary from {name}: walking calls answered {walked:?} / {walked_grpc:?}, not {said:?}");
                    }
                }
                rows.push((target.clone(), said, said_grpc, times, answer));
            }
            anyhow::Ok((apply_ms, rows))
        })?;
        self.tributary.emit(
            "summary_mesh_apply_ms",
            json!(round3(apply_ms)),
            "ms",
            json!({"domains": mesh.domains.len(), "products": mesh.products.len(), "ports": mesh.n_ports,
                   "internal_datasets": mesh.n_internal, "what": "apply the derived descriptors over GraphQL (unchanged on a second run)"}),
        );
        // (nodes, GraphQL, gRPC, GraphQL walking, gRPC walking) medians per hub.
        type Medians = (u64, f64, f64, f64, f64);
        let mut medians: Vec<Medians> = Vec::new();
        let mut answers = Vec::new();
        for (target, said, said_grpc, times, answer) in &mut rows {
            if said != said_grpc {
                self.failures
                    .push(format!("summary from {}: GraphQL {said:?} and gRPC {said_grpc:?} differ", target.name));
            }
            let mid = |values: &[f64]| median(values).unwrap_or(f64::NAN);
            let hub = (
                said.datasets + said.jobs,
                mid(&times.graphql),
                mid(&times.grpc),
                mid(&times.graphql_walk),
                mid(&times.grpc_walk),
            );
            medians.push(hub);
            answers.push(summary::HubTimes {
                namespace: target.namespace.clone(),
                name: target.name.clone(),
                answer: answer.take(),
                graphql_ms: round3(hub.1),
                grpc_ms: round3(hub.2),
                graphql_walk_ms: round3(hub.3),
                grpc_walk_ms: round3(hub.4),
            });
            self.tributary.emit(
                "summary_hub_ms",
                json!(round3(hub.1)),
                "ms",
                json!({"target": target.name, "graphql_ms": times.graphql, "grpc_ms": times.grpc, "grpc_median_ms": round3(hub.2),
                       "graphql_walk_ms": times.graphql_walk, "grpc_walk_ms": times.grpc_walk,
                       "graphql_walk_median_ms": round3(hub.3), "grpc_walk_median_ms": round3(hub.4),
                       "datasets": said.datasets, "jobs": said.jobs, "groups": said.groups,
                       "digest_graphql": format!("{:016x}", said.digest), "digest_grpc": format!("{:016x}", said_grpc.digest),
                       "page": summary::PAGE}),
            );
        }
        let answers_path =
            summary::write_answers(&self.args.root, &self.args.label, &self.args.scale, &mesh, &answers)?;
        log(format!("summary: mesh and answers written to {}", answers_path.display()));
        medians.sort_by_key(|&(size, ..)| std::cmp::Reverse(size));
        let all = |pick: fn(&Medians) -> f64| median(&medians.iter().map(pick).collect::<Vec<_>>());
        type Pick = (&'static str, &'static str, fn(&Medians) -> f64);
        let picks: [Pick; 4] = [
            ("graphql", "asked again (the server's kept summary)", |m| m.1),
            ("grpc", "asked again (the server's kept summary)", |m| m.2),
            ("graphql_walk", "never asked before (the server walks)", |m| m.3),
            ("grpc_walk", "never asked before (the server walks)", |m| m.4),
        ];
        for (transport, calls, pick) in picks {
            self.tributary.emit(
                &format!("summary_{transport}_hub_median_ms"),
                json!(all(pick).map(round3)),
                "ms",
                json!({"hubs": medians.len(), "largest_ms": medians.first().map(|m| round3(pick(m))),
                       "second_ms": medians.get(1).map(|m| round3(pick(m))),
                       "largest_nodes": medians.first().map(|m| m.0), "calls": calls,
                       "what": "impact summary (totals, groups, owners, first page of 50), full depth, median per hub then over hubs"}),
            );
        }
        server.stop(Duration::from_secs(120));
        Ok(())
    }

    fn emit_rss(&self, metric: &str, memory: Memory, empty: Memory, shape: Shape) {
        self.tributary.emit(
            metric,
            json!(memory.rss),
            "bytes",
            json!({"peak_bytes": memory.peak, "empty_server_bytes": empty.rss,
                   "per_dataset_and_job_bytes": memory.rss / shape.nodes(),
                   "per_dataset_and_job_above_empty_bytes": memory.rss.saturating_sub(empty.rss) / shape.nodes(),
                   "datasets": shape.datasets, "jobs": shape.jobs}),
        );
    }

    /// `Service::open` in this process on the same store, then `Service::lineage` directly.
    fn inproc_queries(&mut self, store: &Path, targets: &[Target], versions: &Value) -> anyhow::Result<QueryResults> {
        use tributary_model::{Direction, NodeKind, NodeRef};
        use tributary_service::{Service, ServiceConfig};
        log("inproc: Service::open + Service::lineage in this process");
        let emitter = Emitter::new(&format!("{}-inproc", self.args.label), &self.args.scale);
        let started = Instant::now();
        let config = ServiceConfig { data_dir: Some(store.to_path_buf()), ..ServiceConfig::default() };
        let service = Service::open(config)?;
        emitter.emit(
            "open_ms",
            json!(ms(started.elapsed())),
            "ms",
            json!({"what": "Service::open: sled open + dataset graph rebuild from the N/I/A keys"}),
        );
        // The column lineage loads in the background after open; timed to the end here so
        // the queries below do not share the cores with it.
        service.wait_for_column_lineage()?;
        emitter.emit(
            "columns_ready_ms",
            json!(ms(started.elapsed())),
            "ms",
            json!({"what": "Service::open until the column lineage (L) is loaded in the background"}),
        );
        let (results, failed) = run_queries(&emitter, targets, self.args.reps, None, |query, target, want_rows| {
            let start =
                NodeRef { kind: NodeKind::Dataset, namespace: target.namespace.clone(), name: target.name.clone() };
            let direction = if query.downstream { Direction::Downstream } else { Direction::Upstream };
            let view = service
                .lineage_blocking(
                    &tributary_service::LineageRequest::new(start, direction)
                        .depth(Some(query.depth))
                        .limit(Some(NODE_LIMIT as usize))
                        .shaped(tributary_service::AnswerShape::DatasetsOnly),
                )
                .map_err(|error| CallError::Failed(error.into()))?;
            let rows: Vec<(&str, &str)> = view
                .answer
                .nodes
                .iter()
                .filter(|n| n.distance > 0 && n.node.kind == NodeKind::Dataset)
                .map(|n| (n.node.namespace.as_str(), n.node.name.as_str()))
                .collect();
            Ok(Answer {
                n_rows: rows.len(),
                rows: want_rows.then(|| rows.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()),
                truncated: view.answer.truncated,
                n_nodes: view.answer.nodes.len(),
                n_edges: view.answer.edges.len(),
                response_bytes: 0,
                decode_ms: 0.0,
            })
        })?;
        self.failures.extend(failed);
        service.close();
        save_results(&self.args.root, &format!("{}-inproc", self.args.label), &self.args.scale, versions, &results)?;
        Ok(results)
    }

    /// A server on a fresh store, fed over one gRPC stream or over HTTP by many clients.
    fn fresh_ingest(&mut self, how: &str, shape: Shape, empty: Memory) -> anyhow::Result<()> {
        let dir = self.args.root.join("db").join(format!("{}-{}-{how}", self.args.label, self.args.scale));
        let _ = std::fs::remove_dir_all(&dir);
        // At most what the cap lets through, at a generous 5,000 events/s.
        let mut share = (5000.0 * self.args.ingest_cap.as_secs_f64() / shape.events.max(1) as f64).min(1.0);
        if self.args.ingest_cap_events > 0 {
            share = share.min(self.args.ingest_cap_events as f64 / shape.events.max(1) as f64);
        }
        if !self.enough_disk(how, &self.args.root.join("db"), shape.ndjson_bytes as f64 * DISK_PER_NDJSON_BYTE * share)
        {
            return Ok(());
        }
        log(format!(
            "{how} ingest into a fresh store (cap {:?} / {} events)",
            self.args.ingest_cap, self.args.ingest_cap_events
        ));
        let server = ServerProcess::spawn(&self.args.binary, &dir)?;
        let url = server.base_url.clone();
        let (cap, max_events) = (self.args.ingest_cap, self.args.ingest_cap_events);
        let tally = self.runtime.block_on(async {
            match how {
                "grpc" => ingest_grpc_stream(&url, &self.args.data, cap, max_events).await,
                _ => ingest_http(&url, &self.args.data, self.args.http_clients, cap, max_events).await,
            }
        })?;
        let memory = server.memory();
        let stop = server.stop(Duration::from_secs(120));
        let usage = disk_usage(&dir);
        let acked = tally.accepted + tally.duplicates;
        let (metric, via) = match how {
            "grpc" => {
                ("ingest_grpc_stream_events_per_s", "one gRPC IngestStream, every event acked durably".to_owned())
            }
            _ => (
                "ingest_http_events_per_s",
                format!("{} HTTP/1.1 clients, one event per POST, 201 = durable", self.args.http_clients),
            ),
        };
        let fraction = acked as f64 / shape.events.max(1) as f64;
        self.tributary.emit(
            metric,
            json!((acked as f64 / tally.seconds * 10.0).round() / 10.0),
            "events/s",
            json!({"events": acked, "sent": tally.sent, "rejected": tally.rejected, "seconds": round3(tally.seconds),
                   "capped_by": tally.capped_by, "cap_s": cap.as_secs_f64(), "file_events": shape.events,
                   "file_fraction": round3(fraction), "via": via, "server_rss_bytes": memory.rss,
                   "server_peak_rss_bytes": memory.peak, "disk_bytes": usage.apparent, "shutdown_ms": ms(stop),
                   "empty_server_rss_bytes": empty.rss}),
        );
        if tally.rejected > 0 || acked != tally.sent {
            self.failures.push(format!(
                "{how} ingest: {acked} acknowledged of {} sent, {} rejected (first: {:?})",
                tally.sent, tally.rejected, tally.first_rejection
            ));
        }
        if self.args.smoke && tally.sent != shape.events {
            self.failures.push(format!("{how} ingest sent {} of {} events", tally.sent, shape.events));
        }
        if !self.args.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }
}

/// The floor's queries: BFS, then the rows as (namespace, name) references.
fn floor_queries(graph: &FloorGraph, targets: &[Target], reps: usize, scale: &str) -> anyhow::Result<QueryResults> {
    log("floor: BFS queries");
    let emitter = Emitter::new("bfs-floor", scale);
    let mut bfs = Bfs::new(graph);
    let mut found = Vec::new();
    let (results, _) = run_queries(&emitter, targets, reps, None, |query, target, want_rows| {
        let Some(start) = graph.dataset(&target.namespace, &target.name) else {
            return Ok(Answer {
                n_rows: 0,
                rows: Some(Vec::new()),
                truncated: false,
                n_nodes: 0,
                n_edges: 0,
                response_bytes: 0,
                decode_ms: 0.0,
            });
        };
        bfs.run(graph, start, query.downstream, query.depth, &mut found);
        let rows: Vec<(&str, &str)> = found
            .iter()
            .map(|&d| {
                let (namespace, name) = &graph.dataset_names[d as usize];
                (&**namespace, &**name)
            })
            .collect();
        Ok(Answer {
            n_rows: rows.len(),
            rows: want_rows.then(|| rows.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()),
            truncated: false,
            n_nodes: 0,
            n_edges: 0,
            response_bytes: 0,
            decode_ms: 0.0,
        })
    })?;
    Ok(results)
}

/// A one-column lineage request from the target: it waits for the column lineage load.
fn column_probe(target: &Target) -> tributary_grpc::proto::ColumnLineageRequest {
    tributary_grpc::proto::ColumnLineageRequest {
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        field: "id".into(),
        direction: tributary_grpc::proto::Direction::Downstream as i32,
        depth: 1,
        limit: 1,
    }
}

/// Writes dirty pages out and empties the OS page cache (root only): a start-up then reads
/// the store from disk. Says what happened.
fn drop_page_cache() -> &'static str {
    let synced = std::process::Command::new("sync").status().is_ok_and(|status| status.success());
    match std::fs::write("/proc/sys/vm/drop_caches", "3\n") {
        Ok(()) if synced => "dropped",
        Ok(()) => "dropped (sync failed)",
        Err(_) => "not dropped (needs root)",
    }
}
