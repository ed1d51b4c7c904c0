//! Kafka ingest end to end: a real Kafka-protocol broker (Tansu, in memory, see
//! `support::kafka`), real `tributary serve` processes consuming it, and the official
//! OpenLineage Python client's `KafkaTransport` producing to it (`tests/interop/ol_client_kafka.py`,
//! run from the interop venv).
//!
//! - Two replicas consume one three-partition topic while ~2,000 events, some copies and some
//!   invalid records are produced; one replica is killed with SIGKILL mid-stream and restarted
//!   on its data directory. Both must then answer exactly like a third server that ingested the
//!   same events over HTTP, list every invalid record as rejected, and count each event once.
//! - `--kafka-forward`: HTTP ingest on one replica produces to the topic; both replicas apply it.
//! - A replica killed after catching up resumes from its stored offsets: after the restart it
//!   applies only the new records, none a second time.
//!
//! The first run installs Tansu (`support::kafka`) and the interop venv (`tests/interop.rs`);
//! `tests/interop/README.md` (section Kafka) says how both are cached.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_grpc::proto;
use tributary_grpc::proto::ingest_client::IngestClient;

use crate::interop::{interop_dir, interop_python, script_environment};
use crate::support::kafka::Broker;
use crate::support::{post_json, run_event, start_server};

/// Until a replica has applied everything produced so far.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// A producer script run; producing 2,000 events takes a few seconds.
const PRODUCER_TIMEOUT: Duration = Duration::from_secs(300);

/// `tributary serve` as a child process consuming Kafka, on its own data directory, which
/// outlives kills and restarts.
struct Replica {
    name: &'static str,
    child: Option<Child>,
    base_url: String,
    data_dir: PathBuf,
    args: Vec<OsString>,
    _temp: tempfile::TempDir,
}

impl Replica {
    fn start(name: &'static str, broker: &Broker, topics: &[&str], extra_args: &[&str]) -> Replica {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut args: Vec<OsString> = vec!["--kafka-brokers".into(), broker.bootstrap.clone().into()];
        for topic in topics {
            args.push("--kafka-topic".into());
            args.push((*topic).into());
        }
        args.extend(extra_args.iter().map(OsString::from));
        let mut replica = Replica {
            name,
            child: None,
            base_url: String::new(),
            data_dir: temp.path().to_path_buf(),
            args,
            _temp: temp,
        };
        replica.spawn();
        replica
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "replica {} is already running", self.name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.args)
            .env("TRIBUTARY_LOG", "warn")
            .env_remove("TRIBUTARY_KAFKA_BROKERS")
            .env_remove("TRIBUTARY_KAFKA_TOPICS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tributary");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).unwrap();
        let url = first_line.trim().strip_prefix("tributary listening on ").map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let status = child.wait();
            panic!("replica {}: unexpected first line `{first_line}` (exit: {status:?})", self.name);
        };
        // Whatever the server prints later must not fill a pipe nobody reads.
        thread::spawn(move || {
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        self.base_url = url;
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no final flush.
    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap_or_else(|| panic!("replica {} is not running", self.name));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    async fn graphql_data(&self, query: &str, variables: Value) -> Value {
        graphql_data(&self.base_url, query, variables).await
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn graphql_data(base_url: &str, query: &str, variables: Value) -> Value {
    let (status, body) =
        post_json(&format!("{base_url}/graphql"), &json!({"query": query, "variables": variables})).await;
    assert_eq!(status, 200, "graphql status at {base_url}, body {body}");
    assert!(body.get("errors").is_none(), "graphql errors at {base_url}: {body}\nquery: {query}");
    body["data"].clone()
}

const WATERMARK: &str = "{ watermark { sequence events offsets { topic partition offset } } }";

/// A server's watermark: distinct events stored, and the next offset to consume per
/// (topic, partition).
async fn watermark(base_url: &str) -> (u64, BTreeMap<(String, i64), i64>) {
    let data = graphql_data(base_url, WATERMARK, json!({})).await;
    let watermark = &data["watermark"];
    let offsets = watermark["offsets"]
        .as_array()
        .unwrap_or_else(|| panic!("watermark without offsets: {watermark}"))
        .iter()
        .map(|entry| {
            (
                (entry["topic"].as_str().unwrap().to_owned(), entry["partition"].as_i64().unwrap()),
                entry["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    (watermark["events"].as_u64().unwrap(), offsets)
}

/// Waits until `replica` has consumed every partition of `topic` up to `end_offsets`.
async fn wait_caught_up(replica: &Replica, topic: &str, end_offsets: &[i64]) {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let (_, offsets) = watermark(&replica.base_url).await;
        let behind: Vec<String> = end_offsets
            .iter()
            .enumerate()
            .filter_map(|(partition, &end)| {
                let at = offsets.get(&(topic.to_owned(), partition as i64)).copied().unwrap_or(0);
                (at < end).then(|| format!("partition {partition} at {at} of {end}"))
            })
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica {} did not catch up on {topic} within {CATCH_UP_TIMEOUT:?}: {}",
            replica.name,
            behind.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One record the producer wrote, as `ol_client_kafka.py --records-out` lists it.
#[derive(Clone, Debug)]
struct Record {
    kind: String,
    partition: i64,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
    reason: Option<String>,
}

/// What one producer run wrote: its summary line and every record.
#[derive(Debug)]
struct Produced {
    events: u64,
    duplicates: u64,
    invalid: u64,
    end_offsets: Vec<i64>,
    records: Vec<Record>,
}

/// Producer options: `ol_client_kafka.py` flags.
#[derive(Clone, Debug, Default)]
struct ProduceArgs {
    runs: u32,
    first_run: u32,
    invalid_every: u32,
    duplicate_every: u32,
    pause_every: u32,
    pause_ms: u32,
}

/// `ol_client_kafka.py` running in the background.
struct ProducerRun {
    child: Child,
    records_file: PathBuf,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
    started: Instant,
    _dir: tempfile::TempDir,
}

async fn start_producer(broker: &Broker, topic: &str, namespace: &str, args: ProduceArgs) -> ProducerRun {
    let python = tokio::task::spawn_blocking(interop_python).await.expect("preparing the interop venv panicked");
    let python = python.unwrap_or_else(|message| panic!("interop venv: {message}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let records_file = dir.path().join("records.jsonl");
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("ol_client_kafka.py"))
        .args(["--bootstrap", &broker.bootstrap, "--topic", topic, "--namespace", namespace])
        .args(["--runs", &args.runs.to_string(), "--first-run", &args.first_run.to_string()])
        .args(["--invalid-every", &args.invalid_every.to_string()])
        .args(["--duplicate-every", &args.duplicate_every.to_string()])
        .args(["--pause-every", &args.pause_every.to_string(), "--pause-ms", &args.pause_ms.to_string()])
        .arg("--records-out")
        .arg(&records_file)
        // The OpenLineage client reads openlineage.yml and git metadata from its working
        // directory: an empty one keeps the events independent of where the tests run.
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    script_environment(&mut command);
    let mut child = command.spawn().expect("start ol_client_kafka.py");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    ProducerRun { child, records_file, stdout, stderr, started: Instant::now(), _dir: dir }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl ProducerRun {
    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn finish(self) -> Produced {
        tokio::task::spawn_blocking(move || self.finish_blocking()).await.unwrap()
    }

    fn finish_blocking(mut self) -> Produced {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > PRODUCER_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "ol_client_kafka.py did not finish within {PRODUCER_TIMEOUT:?}\n{}",
                    self.stderr.join().unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(50));
        };
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        assert!(
            status.success(),
            "ol_client_kafka.py failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
        eprint!("{stderr}");
        let summary: Value = stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("ol_client_kafka.py printed no summary\n{stdout}\n{stderr}"));
        let text = std::fs::read_to_string(&self.records_file).unwrap();
        let records = text
            .lines()
            .map(|line| {
                let record: Value = serde_json::from_str(line).unwrap();
                Record {
                    kind: record["kind"].as_str().unwrap().to_owned(),
                    partition: record["partition"].as_i64().unwrap(),
                    offset: record["offset"].as_i64().unwrap(),
                    key: record["key"].as_str().map(str::to_owned),
                    value: record["value"].as_str().map(str::to_owned),
                    reason: record["reason"].as_str().map(str::to_owned),
                }
            })
            .collect();
        Produced {
            events: summary["events"].as_u64().unwrap(),
            duplicates: summary["duplicates"].as_u64().unwrap(),
            invalid: summary["invalid"].as_u64().unwrap(),
            end_offsets: summary["end_offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|offset| offset.as_i64().unwrap())
                .collect(),
            records,
        }
    }
}

async fn produce(broker: &Broker, topic: &str, namespace: &str, args: ProduceArgs) -> Produced {
    start_producer(broker, topic, namespace, args).await.finish().await
}

/// Everything a server answers about one namespace's pipeline that must not depend on the order
/// it applied the events in, keyed by question.
async fn snapshot(base_url: &str, namespace: &str) -> BTreeMap<String, Value> {
    let dataset_namespace = format!("{namespace}-db");
    let mut answers = BTreeMap::new();
    let datasets = list_nodes(base_url, "datasets", &dataset_namespace).await;
    let jobs = list_nodes(base_url, "jobs", namespace).await;
    answers.insert("datasets".into(), json!(datasets));
    answers.insert("jobs".into(), json!(jobs));
    for name in &datasets {
        let start = json!({"kind": "DATASET", "namespace": dataset_namespace, "name": name});
        answers.insert(format!("lineage BOTH {name}"), lineage(base_url, &start).await);
        let data = graphql_data(base_url, DATASET, json!({"namespace": dataset_namespace, "name": name})).await;
        answers.insert(format!("dataset {name}"), sorted_lists(data["dataset"].clone()));
    }
    for name in &jobs {
        let start = json!({"kind": "JOB", "namespace": namespace, "name": name});
        answers.insert(format!("lineage BOTH job {name}"), lineage(base_url, &start).await);
    }
    // Column lineage from every source column downstream, and into the last tables upstream.
    let sources: Vec<&String> = datasets.iter().filter(|name| name.starts_with("source_")).collect();
    let tables: Vec<&String> = datasets.iter().filter(|name| name.starts_with("table_")).collect();
    for (name, direction) in sources
        .iter()
        .take(3)
        .map(|name| (name, "DOWNSTREAM"))
        .chain(tables.iter().rev().take(3).map(|name| (name, "UPSTREAM")))
    {
        for field in ["id", "amount"] {
            let variables =
                json!({"namespace": dataset_namespace, "name": name, "field": field, "direction": direction});
            let data = graphql_data(base_url, COLUMN_LINEAGE, variables).await;
            answers.insert(
                format!("columnLineage {direction} {name}.{field}"),
                sorted_lists(data["columnLineage"].clone()),
            );
        }
    }
    answers.insert("events".into(), json!(event_multiset(base_url).await));
    answers
}

const DATASET: &str = r#"query($namespace: String!, $name: String!) {
  dataset(namespace: $namespace, name: $name) {
    namespace name facets
    currentSchema { version fields { name type } }
    schemaVersions { version fields { name type } }
    producers { kind namespace name }
    consumers { kind namespace name }
    recentRuns { runId job { namespace name } state startedAt endedAt }
    aliases { kind namespace name }
  }
}"#;

const LINEAGE: &str = r#"query($start: NodeInput!) {
  lineage(start: $start, direction: BOTH, depth: 50, limit: 10000) {
    nodes { kind namespace name distance }
    edges { from { kind namespace name } to { kind namespace name } kind }
    truncated depth
  }
}"#;

const COLUMN_LINEAGE: &str = r#"query($namespace: String!, $name: String!, $field: String!, $direction: Direction!) {
  columnLineage(dataset: {namespace: $namespace, name: $name}, field: $field, direction: $direction, depth: 50) {
    start { namespace name field }
    columns { column { namespace name field } distance use masked transformations { type subtype masking } path { name field } }
    edges { from { namespace name field } to { namespace name field } transformations { type subtype masking } source }
    unverified { dataset { name } job { name } via { name field } path { name field } reason }
    truncated depth
  }
}"#;

async fn lineage(base_url: &str, start: &Value) -> Value {
    let data = graphql_data(base_url, LINEAGE, json!({"start": start})).await;
    sorted_lists(data["lineage"].clone())
}

/// Names of every dataset or job (`field`) in `namespace`, through all pages.
async fn list_nodes(base_url: &str, field: &str, namespace: &str) -> Vec<String> {
    let query = format!(
        "query($namespace: String!, $after: String) {{ {field}(namespace: $namespace, first: 100, after: $after) \
         {{ nodes {{ name }} nextCursor }} }}"
    );
    let mut names = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = graphql_data(base_url, &query, json!({"namespace": namespace, "after": after})).await;
        let page = &data[field];
        names.extend(page["nodes"].as_array().unwrap().iter().map(|node| node["name"].as_str().unwrap().to_owned()));
        if page["nextCursor"].is_null() {
            return names;
        }
        after = page["nextCursor"].clone();
    }
}

/// Every stored event (JSON text, keys sorted), with how often it is stored.
async fn event_multiset(base_url: &str) -> BTreeMap<String, u32> {
    let mut events = BTreeMap::new();
    let mut after = 0;
    loop {
        let data = graphql_data(
            base_url,
            "query($after: Int) { events(after: $after, first: 500) { events { sequence event } nextAfter } }",
            json!({"after": after}),
        )
        .await;
        let page = &data["events"];
        for stored in page["events"].as_array().unwrap() {
            *events.entry(stored["event"].to_string()).or_insert(0) += 1;
        }
        match page["nextAfter"].as_i64() {
            Some(next) if !page["events"].as_array().unwrap().is_empty() => after = next,
            _ => return events,
        }
    }
}

/// `value` with every array sorted (by its elements' JSON text), recursively: the order of list
/// answers may follow ingest order, which replicas do not share. A `path` is a sequence and
/// stays as it is.
fn sorted_lists(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if key == "path" { value } else { sorted_lists(value) };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(sorted_lists).collect();
            items.sort_by_key(|item| item.to_string());
            Value::Array(items)
        }
        other => other,
    }
}

/// Fails with the first few questions two servers answer differently, and how.
fn assert_same_answers(
    left_name: &str,
    left: &BTreeMap<String, Value>,
    right_name: &str,
    right: &BTreeMap<String, Value>,
) {
    let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    let differing: Vec<&String> = keys.into_iter().filter(|key| left.get(*key) != right.get(*key)).collect();
    let shown: Vec<String> = differing
        .iter()
        .take(5)
        .map(|key| {
            let mut lines = Vec::new();
            json_differences(
                key,
                left.get(*key).unwrap_or(&Value::Null),
                right.get(*key).unwrap_or(&Value::Null),
                &mut lines,
            );
            lines.truncate(20);
            format!("{key}:\n{}", lines.join("\n"))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "{left_name} (<) and {right_name} (>) answer {} of {} questions differently:\n{}",
        differing.len(),
        left.len().max(right.len()),
        shown.join("\n")
    );
}

/// Where two answers differ: the path of each differing object member, and for lists (sorted
/// by [`sorted_lists`]) the items only one side has.
fn json_differences(path: &str, left: &Value, right: &Value, lines: &mut Vec<String>) {
    match (left, right) {
        _ if left == right => {}
        (Value::Object(left_map), Value::Object(right_map)) => {
            let keys: BTreeSet<&String> = left_map.keys().chain(right_map.keys()).collect();
            for key in keys {
                let null = Value::Null;
                json_differences(
                    &format!("{path}.{key}"),
                    left_map.get(key).unwrap_or(&null),
                    right_map.get(key).unwrap_or(&null),
                    lines,
                );
            }
        }
        (Value::Array(left_items), Value::Array(right_items)) => {
            for item in left_items.iter().filter(|item| !right_items.contains(item)) {
                lines.push(format!("  {path} < {item}"));
            }
            for item in right_items.iter().filter(|item| !left_items.contains(item)) {
                lines.push(format!("  {path} > {item}"));
            }
        }
        _ => lines.push(format!("  {path}: < {left}\n  {path}: > {right}")),
    }
}

const REJECTIONS: &str = r#"query($topic: String) {
  kafkaRejections(topic: $topic, first: 1000) { topic partition offset key field reason at }
}"#;

/// A replica's rejections of `topic`: (partition, offset) -> (reason, field, key).
async fn rejections(replica: &Replica, topic: &str) -> BTreeMap<(i64, i64), (String, String, Value)> {
    let data = replica.graphql_data(REJECTIONS, json!({"topic": topic})).await;
    let mut listed = BTreeMap::new();
    for rejection in data["kafkaRejections"].as_array().unwrap() {
        assert_eq!(rejection["topic"], topic, "{rejection}");
        let reason = rejection["reason"].as_str().unwrap().to_owned();
        assert!(!reason.trim().is_empty(), "a rejection without a reason: {rejection}");
        assert!(rejection["at"].as_str().is_some_and(|at| !at.is_empty()), "a rejection without `at`: {rejection}");
        let key = (rejection["partition"].as_i64().unwrap(), rejection["offset"].as_i64().unwrap());
        let field = rejection["field"].as_str().unwrap().to_owned();
        let previous = listed.insert(key, (reason, field, rejection["key"].clone()));
        assert!(previous.is_none(), "record {key:?} rejected twice: {data}");
    }
    listed
}

/// The invalid records of `produced`, as (partition, offset) -> (the kind of invalid value, key).
fn invalid_records(produced: &[&Produced]) -> BTreeMap<(i64, i64), (String, Option<String>)> {
    produced
        .iter()
        .flat_map(|produced| produced.records.iter())
        .filter(|record| record.kind == "invalid")
        .map(|record| ((record.partition, record.offset), (record.reason.clone().unwrap(), record.key.clone())))
        .collect()
}

/// Each rejection carries the key of the invalid record at its offset; prints one reason per
/// kind of invalid value.
fn assert_rejection_keys(
    rejected: &BTreeMap<(i64, i64), (String, String, Value)>,
    expected: &BTreeMap<(i64, i64), (String, Option<String>)>,
) {
    let mut shown = BTreeSet::new();
    for (position, (kind, key)) in expected {
        let (reason, field, rejected_key) = &rejected[position];
        assert_eq!(rejected_key.as_str(), key.as_deref(), "key of the rejection at {position:?} ({kind})");
        if shown.insert(kind.clone()) {
            eprintln!("rejected {kind} at {position:?}: field `{field}`, reason `{reason}`");
        }
    }
}

/// The server's Prometheus text: the value of each sample whose name starts with `prefix`,
/// keyed by the sample's name and labels as printed.
async fn metrics(base_url: &str, prefix: &str) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{base_url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| {
            let (sample, value) = line.rsplit_once(' ')?;
            Some((sample.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// `tributary_kafka_records_total` for `topic` and `outcome` (0 when absent).
fn records_total(metrics: &BTreeMap<String, f64>, topic: &str, outcome: &str) -> f64 {
    metrics
        .iter()
        .filter(|(sample, _)| {
            sample.starts_with("tributary_kafka_records_total{")
                && sample.contains(&format!("topic=\"{topic}\""))
                && sample.contains(&format!("outcome=\"{outcome}\""))
        })
        .map(|(_, value)| value)
        .sum()
}

/// Waits until `tributary_kafka_consumer_lag` is 0 for every partition of `topic`.
async fn wait_no_lag(replica: &Replica, topic: &str, n_partitions: usize) {
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let lags: Vec<(String, f64)> = metrics(&replica.base_url, "tributary_kafka_consumer_lag")
            .await
            .into_iter()
            .filter(|(sample, _)| sample.contains(&format!("topic=\"{topic}\"")))
            .collect();
        if lags.len() == n_partitions && lags.iter().all(|(_, lag)| *lag == 0.0) {
            return;
        }
        assert!(Instant::now() < deadline, "replica {}: consumer lag on {topic} stays {lags:?}", replica.name);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_a_kill_mid_stream_answer_like_http_ingest() {
    let broker = Broker::start().await;
    let topic = unique("lineage");
    let namespace = unique("kafka");
    broker.create_topic(&topic, 3);
    let replica_a = Replica::start("A", &broker, &[&topic], &[]);
    let mut replica_b = Replica::start("B", &broker, &[&topic], &[]);

    let args = ProduceArgs {
        runs: 1000,
        invalid_every: 50,
        duplicate_every: 100,
        pause_every: 100,
        pause_ms: 50,
        ..ProduceArgs::default()
    };
    let mut producer = start_producer(&broker, &topic, &namespace, args).await;
    // SIGKILL B once it has applied a few hundred events, while the producer is still going.
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    let killed_at = loop {
        let (events, _) = watermark(&replica_b.base_url).await;
        if events >= 400 || !producer.is_running() {
            replica_b.kill9();
            break events;
        }
        assert!(Instant::now() < deadline, "replica B applied only {events} events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let producer_was_running = producer.is_running();
    eprintln!("replica B killed after {killed_at} events (producer still running: {producer_was_running})");
    replica_b.spawn();
    let produced = producer.finish().await;
    assert_eq!(produced.events, 2000);
    assert!(producer_was_running, "the producer finished before B was killed: the kill was not mid-stream");

    wait_caught_up(&replica_a, &topic, &produced.end_offsets).await;
    wait_caught_up(&replica_b, &topic, &produced.end_offsets).await;

    // The reference: the same records over HTTP, in partition order.
    let reference = start_server().await;
    for record in produced.records.iter().filter(|record| record.kind != "invalid") {
        let event: Value = serde_json::from_str(record.value.as_deref().unwrap()).unwrap();
        let (status, body) = reference.post_event(&event).await;
        assert!(status == 200 || status == 201, "HTTP ingest answered {status}: {body}");
    }

    for replica in [&replica_a, &replica_b] {
        let (events, offsets) = watermark(&replica.base_url).await;
        assert_eq!(events, produced.events, "replica {} stores each distinct event once", replica.name);
        let expected: BTreeMap<(String, i64), i64> = produced
            .end_offsets
            .iter()
            .enumerate()
            .map(|(partition, &end)| ((topic.clone(), partition as i64), end))
            .collect();
        assert_eq!(offsets, expected, "replica {} offsets", replica.name);
    }
    let reference_answers = snapshot(&reference.base_url, &namespace).await;
    // The comparison is only as good as what it compares: the whole generated pipeline.
    assert_eq!(reference_answers["jobs"].as_array().unwrap().len(), 24, "{:?}", reference_answers["jobs"]);
    assert!(reference_answers["datasets"].as_array().unwrap().len() > 30, "{:?}", reference_answers["datasets"]);
    let column_answers: Vec<&Value> =
        reference_answers.iter().filter(|(key, _)| key.starts_with("columnLineage")).map(|(_, value)| value).collect();
    assert_eq!(column_answers.len(), 12);
    // A source no job happens to read has no columns downstream; most have some.
    let non_empty = column_answers.iter().filter(|answer| !answer["columns"].as_array().unwrap().is_empty()).count();
    assert!(non_empty >= 6, "{column_answers:?}");
    eprintln!("comparing {} answers per server", reference_answers.len());
    assert_eq!(reference.watermark().await.1, produced.events);
    let events_stored = reference_answers["events"].as_object().unwrap();
    assert_eq!(events_stored.len() as u64, produced.events);
    assert!(events_stored.values().all(|count| count == 1));
    let answers_a = snapshot(&replica_a.base_url, &namespace).await;
    let answers_b = snapshot(&replica_b.base_url, &namespace).await;
    assert_same_answers("replica A", &answers_a, "HTTP reference", &reference_answers);
    assert_same_answers("replica B", &answers_b, "HTTP reference", &reference_answers);

    // Every invalid record is listed, once, at its offset, and both replicas agree on why.
    let expected_rejections = invalid_records(&[&produced]);
    assert_eq!(expected_rejections.len() as u64, produced.invalid);
    let rejected_a = rejections(&replica_a, &topic).await;
    let rejected_b = rejections(&replica_b, &topic).await;
    assert_eq!(
        rejected_a.keys().collect::<Vec<_>>(),
        expected_rejections.keys().collect::<Vec<_>>(),
        "replica A rejections (kinds by offset: {expected_rejections:?})"
    );
    assert_eq!(rejected_a, rejected_b, "the replicas' rejections");
    assert_rejection_keys(&rejected_a, &expected_rejections);

    // A, never killed, saw every record exactly once.
    wait_no_lag(&replica_a, &topic, 3).await;
    let counts = metrics(&replica_a.base_url, "tributary_kafka_records_total").await;
    assert_eq!(records_total(&counts, &topic, "applied"), produced.events as f64, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "duplicate"), produced.duplicates as f64, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "rejected"), produced.invalid as f64, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "already_applied"), 0.0, "{counts:?}");
    // B's second process started from B's stored offsets: it read nothing B had applied.
    let counts = metrics(&replica_b.base_url, "tributary_kafka_records_total").await;
    assert_eq!(records_total(&counts, &topic, "already_applied"), 0.0, "{counts:?}");
    reference.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_http_ingest_reaches_both_replicas_through_the_topic() {
    let broker = Broker::start().await;
    let topic = unique("forward");
    broker.create_topic(&topic, 3);
    let replica_a = Replica::start("A", &broker, &[&topic], &["--kafka-forward"]);
    let replica_b = Replica::start("B", &broker, &[&topic], &[]);

    let job = unique("forwarded");
    let event =
        run_event("COMPLETE", "2026-01-01T00:00:00Z", &crate::support::run_id(1), &job, &["fwd_in"], &["fwd_out"]);
    let (status, answer) = post_json(&format!("{}/api/v1/lineage", replica_a.base_url), &event).await;
    assert!(status == 200 || status == 201 || status == 202, "forwarded POST answered {status}: {answer}");
    assert_eq!(answer["topic"], topic.as_str(), "{answer}");
    let partition = answer["partition"].as_i64().unwrap_or_else(|| panic!("no partition in {answer}"));
    let offset = answer["offset"].as_i64().unwrap_or_else(|| panic!("no offset in {answer}"));
    assert!((0..3).contains(&partition), "{answer}");

    // An invalid event is refused before anything is produced.
    let (status, invalid_answer) =
        post_json(&format!("{}/api/v1/lineage", replica_a.base_url), &json!({"eventType": "START"})).await;
    assert_eq!(status, 400, "{invalid_answer}");

    let mut end_offsets = vec![0; 3];
    end_offsets[partition as usize] = offset + 1;
    for replica in [&replica_a, &replica_b] {
        wait_caught_up(replica, &topic, &end_offsets).await;
        let (events, offsets) = watermark(&replica.base_url).await;
        assert_eq!(events, 1, "replica {}", replica.name);
        assert!(offsets[&(topic.clone(), partition)] > offset, "replica {}: {offsets:?}", replica.name);
        let data = replica
            .graphql_data(
                "query($name: String!) { job(namespace: \"etl\", name: $name) { name } \
                 lineage(start: {kind: JOB, namespace: \"etl\", name: $name}, direction: BOTH) { nodes { name } } }",
                json!({"name": job}),
            )
            .await;
        assert_eq!(data["job"]["name"], job.as_str(), "replica {}: {data}", replica.name);
        let names: BTreeSet<&str> =
            data["lineage"]["nodes"].as_array().unwrap().iter().map(|node| node["name"].as_str().unwrap()).collect();
        assert_eq!(names, BTreeSet::from([job.as_str(), "fwd_in", "fwd_out"]), "replica {}", replica.name);
    }
    // Nothing but the one record reached the topic: the invalid POST produced nothing.
    let (_, offsets) = watermark(&replica_b.base_url).await;
    let total: i64 = offsets.iter().filter(|((name, _), _)| *name == topic).map(|(_, offset)| offset).sum();
    assert_eq!(total, 1, "{offsets:?}");

    // gRPC ingest is forwarded too, and answers with the position instead of a sequence.
    let grpc_job = unique("forwarded-grpc");
    let grpc_event = run_event(
        "COMPLETE",
        "2026-01-01T00:01:00Z",
        &crate::support::run_id(2),
        &grpc_job,
        &["fwd_out"],
        &["fwd_grpc"],
    );
    let mut ingest = IngestClient::connect(replica_a.base_url.clone()).await.expect("grpc connect");
    let ack = ingest
        .ingest_event(proto::IngestEventRequest { event_json: grpc_event.to_string() })
        .await
        .expect("gRPC IngestEvent")
        .into_inner();
    let Some(proto::ingest_ack::Result::Accepted(accepted)) = ack.result else { panic!("gRPC ingest: {ack:?}") };
    let position = accepted.forwarded.clone().unwrap_or_else(|| panic!("gRPC ingest was not forwarded: {accepted:?}"));
    assert_eq!(position.topic, topic);
    assert_eq!(accepted.sequence, 0, "{accepted:?}");
    end_offsets[position.partition as usize] = end_offsets[position.partition as usize].max(position.offset + 1);
    for replica in [&replica_a, &replica_b] {
        wait_caught_up(replica, &topic, &end_offsets).await;
        assert_eq!(watermark(&replica.base_url).await.0, 2, "replica {}", replica.name);
    }

    // The same event again is produced again and applied as a duplicate.
    let (status, again) = post_json(&format!("{}/api/v1/lineage", replica_a.base_url), &event).await;
    assert!(status < 300, "{again}");
    let partition = again["partition"].as_i64().unwrap() as usize;
    end_offsets[partition] = end_offsets[partition].max(again["offset"].as_i64().unwrap() + 1);
    for replica in [&replica_a, &replica_b] {
        wait_caught_up(replica, &topic, &end_offsets).await;
        assert_eq!(watermark(&replica.base_url).await.0, 2, "replica {}", replica.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_after_catching_up_resumes_from_its_stored_offsets() {
    let broker = Broker::start().await;
    let topic = unique("resume");
    let namespace = unique("resume");
    broker.create_topic(&topic, 3);
    let mut replica = Replica::start("R", &broker, &[&topic], &[]);

    let first = ProduceArgs { runs: 150, invalid_every: 40, ..ProduceArgs::default() };
    let first = produce(&broker, &topic, &namespace, first).await;
    wait_caught_up(&replica, &topic, &first.end_offsets).await;
    assert_eq!(watermark(&replica.base_url).await.0, first.events);
    replica.kill9();

    let second = ProduceArgs { runs: 150, first_run: 150, invalid_every: 40, ..ProduceArgs::default() };
    let second = produce(&broker, &topic, &namespace, second).await;
    replica.spawn();
    wait_caught_up(&replica, &topic, &second.end_offsets).await;
    let (events, offsets) = watermark(&replica.base_url).await;
    assert_eq!(events, first.events + second.events, "each event stored once");
    for (partition, &end) in second.end_offsets.iter().enumerate() {
        assert_eq!(offsets[&(topic.clone(), partition as i64)], end, "partition {partition}");
    }
    let stored = event_multiset(&replica.base_url).await;
    assert_eq!(stored.len() as u64, first.events + second.events);

    // The restarted process read only what was produced while it was down: nothing it had
    // stored before came back as a duplicate.
    wait_no_lag(&replica, &topic, 3).await;
    let counts = metrics(&replica.base_url, "tributary_kafka_records_total").await;
    assert_eq!(records_total(&counts, &topic, "applied"), second.events as f64, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "duplicate"), 0.0, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "rejected"), second.invalid as f64, "{counts:?}");
    assert_eq!(records_total(&counts, &topic, "already_applied"), 0.0, "{counts:?}");
    let rejected = rejections(&replica, &topic).await;
    let expected = invalid_records(&[&first, &second]);
    assert_eq!(rejected.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    assert_rejection_keys(&rejected, &expected);
}

/// The harness on its own: Tansu starts, takes a three-partition topic, and the producer's
/// records read back with a confluent-kafka consumer at dense offsets. When this fails, the
/// scenarios above cannot tell the server's faults from the broker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_round_trip_with_the_openlineage_kafka_transport() {
    let broker = Broker::start().await;
    let topic = unique("smoke");
    broker.create_topic(&topic, 3);
    let python =
        tokio::task::spawn_blocking(interop_python).await.unwrap().unwrap_or_else(|message| panic!("{message}"));
    let dir = tempfile::tempdir().unwrap();
    let records_file = dir.path().join("records.jsonl");
    let mut command = Command::new(python);
    command
        .arg(interop_dir().join("ol_client_kafka.py"))
        .args(["--bootstrap", &broker.bootstrap, "--topic", &topic, "--namespace", "smoke"])
        .args(["--runs", "30", "--invalid-every", "10", "--duplicate-every", "20", "--consume-check"])
        .arg("--records-out")
        .arg(&records_file)
        .current_dir(dir.path());
    script_environment(&mut command);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\n{stdout}\n{stderr}\n{}", output.status, broker.log_tail());
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["events"], 60);
    assert_eq!(summary["duplicates"], 3);
    assert_eq!(summary["invalid"], 6);
    let end_offsets: i64 =
        summary["end_offsets"].as_array().unwrap().iter().map(|offset| offset.as_i64().unwrap()).sum();
    assert_eq!(end_offsets, 69);
    let records = std::fs::read_to_string(&records_file).unwrap();
    let partitions: BTreeSet<i64> = records
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]), "records reach every partition");
}
