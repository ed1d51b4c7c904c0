//! The store compacted while the server runs: HTTP writers and GraphQL readers go on during
//! the copy and none of them sees an error; every acknowledged event is in the compacted
//! store, which agrees with a rebuild from its events (`verify`) and is what the next start
//! opens; the old database's files are gone; gRPC's `Admin` starts and follows it too; only
//! `admin` may start it. The binary also compacts by itself once the store has grown by the
//! factor it is given, and refuses a compaction its file system has no room for. (How much
//! smaller the store gets is measured in the benchmarks.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};
use tributary_grpc::proto;

use crate::support::{TestServer, post_json, run_event, run_id, serve_refused, spawn_binary_with, start_server_in};

const STATE: &str = "{ storeCompaction { stage startedAt finishedAt keysCopied bytesCopied bytesOnDiskBefore bytesOnDiskAfter generation longestHoldMs switchHoldMs error } }";

/// One of `round` events that rewrite the same few datasets (churn the compaction removes),
/// each with a run of its own.
fn churn_event(writer: u32, n: u32) -> Value {
    let table = |i: u32| format!("table_{}", (n + i) % 40);
    let mut event = run_event(
        "COMPLETE",
        &format!("2024-05-01T10:{:02}:{:02}Z", n / 60 % 60, n % 60),
        &run_id(writer * 1_000_000 + n),
        &format!("job_{}", n % 15),
        &[&table(1), &table(2)],
        &[&table(0)],
    );
    event["outputs"][0]["facets"] = json!({"schema": {
        "_producer": "https://example.com/tributary-tests",
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
        "fields": (0..8).map(|c| json!({"name": format!("column_{c}"), "type": "VARCHAR", "description": format!("version {n}")})).collect::<Vec<_>>()
    }});
    event
}

async fn until_settled(server: &TestServer) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let state = server.graphql_data(STATE, json!({})).await["storeCompaction"].clone();
        if state["stage"] != "RUNNING" {
            return state;
        }
        assert!(std::time::Instant::now() < deadline, "the compaction did not finish: {state}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_while_serving_keeps_every_acknowledged_event() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    let idle = server.graphql_data(STATE, json!({})).await;
    assert_eq!(idle["storeCompaction"]["stage"], "IDLE", "{idle}");
    for n in 0..600 {
        let (status, body) = server.post_event(&churn_event(0, n)).await;
        assert_eq!(status, 201, "{body}");
    }
    let url = server.url("/api/v1/lineage");
    let graphql = server.url("/graphql");
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(600));
    let mut tasks = Vec::new();
    for writer in 1..=4u32 {
        let (url, stop, acknowledged) = (url.clone(), Arc::clone(&stop), Arc::clone(&acknowledged));
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = post_json(&url, &churn_event(writer, n)).await;
                assert_eq!(status, 201, "writer {writer}, event {n}: {body}");
                acknowledged.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
            n
        }));
    }
    let reads = {
        let (graphql, stop) = (graphql.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let query = json!({"query": "{ dataset(namespace: \"db\", name: \"table_0\") { name } lineage(start: {kind: DATASET, namespace: \"db\", name: \"table_1\"}, depth: 3) { nodes { name } } events(first: 5) { events { sequence } } }"});
            let mut reads = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = post_json(&graphql, &query).await;
                assert_eq!(status, 200, "{body}");
                assert!(body.get("errors").is_none(), "a read failed during the compaction: {body}");
                assert_eq!(body["data"]["dataset"]["name"], "table_0", "{body}");
                reads += 1;
            }
            reads
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = server.graphql_data("mutation { compactStore { stage startedAt } }", json!({})).await;
    assert!(
        matches!(started["compactStore"]["stage"].as_str(), Some("RUNNING")),
        "the mutation answers with the running state: {started}"
    );
    let done = until_settled(&server).await;
    assert_eq!(done["stage"], "FINISHED", "{done}");
    assert_eq!(done["generation"], "generation-1", "{done}");
    assert!(done["keysCopied"].as_u64().unwrap() > 1000, "{done}");
    let (longest, switch) = (done["longestHoldMs"].as_f64().unwrap(), done["switchHoldMs"].as_f64().unwrap());
    assert!(longest > 0.0 && switch > 0.0 && switch <= longest, "{done}");
    // Writes and reads go on against the compacted store for a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let mut during = 0;
    for task in tasks {
        during += task.await.unwrap();
    }
    assert!(during > 0 && reads.await.unwrap() > 0);
    let acknowledged = acknowledged.load(Ordering::SeqCst);
    assert_eq!(server.watermark().await.0, acknowledged, "every acknowledged event is in the store");

    // gRPC follows the same compaction, and starts the next one.
    let mut admin = proto::admin_client::AdminClient::connect(server.base_url.clone()).await.unwrap();
    let state = admin.get_store_compaction(proto::GetStoreCompactionRequest {}).await.unwrap().into_inner();
    assert_eq!(state.stage(), proto::store_compaction::Stage::Finished);
    assert_eq!(state.generation, "generation-1");
    let second = admin.compact_store(proto::CompactStoreRequest {}).await.unwrap().into_inner();
    assert_eq!(second.stage(), proto::store_compaction::Stage::Running);
    let second = until_settled(&server).await;
    assert_eq!(second["generation"], "generation-2", "{second}");
    assert!(second["bytesOnDiskBefore"].as_u64().unwrap() > 0 && second["bytesOnDiskAfter"].as_u64().unwrap() > 0);

    drop(admin);
    server.shutdown().await;
    assert_eq!(std::fs::read_to_string(temp.path().join("CURRENT")).unwrap().trim(), "generation-2");
    // The old databases go once sled lets go of them: at the switch, or, when a reader still
    // held one then, from the thread that polls for it (every 200 ms, the big file shrunk
    // step by step), which a shutdown does not wait for.
    let gone = || !temp.path().join("generation-1").exists() && !temp.path().join("db").exists();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !gone() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone(), "the old databases are removed");
    // The stopped server's last connection tasks may hold the store a moment longer.
    let mut attempts = 0;
    let report = loop {
        let dir = temp.path().to_path_buf();
        let verified = tokio::task::spawn_blocking(move || {
            tributary_service::maintenance::verify(&dir, &tributary_service::StoreConfig::default(), |_| {})
        })
        .await
        .unwrap();
        match verified {
            Err(error) if attempts < 100 && error.to_string().contains("in use by another process") => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            verified => break verified.unwrap(),
        }
    };
    assert_eq!(report.events, acknowledged);
    assert_eq!(report.differences, 0, "{:?}", report.shown);
    let server = start_server_in(temp.path()).await;
    assert_eq!(server.watermark().await.0, acknowledged);
    let data = server.graphql_data("{ dataset(namespace: \"db\", name: \"table_3\") { name } }", json!({})).await;
    assert_eq!(data["dataset"]["name"], "table_3");
    server.shutdown().await;
}

/// A GraphQL request with a bearer token; the JSON answer.
async fn graphql_as(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({"query": query, "variables": variables});
    let response = reqwest::Client::new().post(server.url("/graphql")).bearer_auth(token).json(&body).send().await;
    response.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn only_admin_starts_a_compaction() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    let create =
        "mutation($name: String!, $scopes: [String!]!) { createToken(name: $name, scopes: $scopes) { token } }";
    let admin = server.graphql_data(create, json!({"name": "ops", "scopes": ["admin"]})).await["createToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = graphql_as(&server, &admin, create, json!({"name": "reader", "scopes": ["read"]})).await;
    let reader = created["data"]["createToken"]["token"].as_str().unwrap().to_owned();
    let refused = graphql_as(&server, &reader, "mutation { compactStore { stage } }", json!({})).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let mut grpc = proto::admin_client::AdminClient::connect(server.base_url.clone()).await.unwrap();
    let mut request = tonic::Request::new(proto::CompactStoreRequest {});
    request.metadata_mut().insert("authorization", format!("Bearer {reader}").parse().unwrap());
    assert_eq!(grpc.compact_store(request).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    let state = graphql_as(&server, &admin, STATE, json!({})).await;
    assert_eq!(state["data"]["storeCompaction"]["stage"], "IDLE", "nothing was started: {state}");
    // The admin's compaction is in the audit trail, attributed to the admin, with what it did;
    // the refused attempts left nothing there.
    let started = graphql_as(&server, &admin, "mutation { compactStore { stage } }", json!({})).await;
    assert!(started.get("errors").is_none(), "{started}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = graphql_as(&server, &admin, STATE, json!({})).await;
        match state["data"]["storeCompaction"]["stage"].as_str() {
            Some("FINISHED") => break,
            Some("RUNNING") => assert!(std::time::Instant::now() < deadline, "still running: {state}"),
            _ => panic!("the compaction did not finish: {state}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let trail = graphql_as(
        &server,
        &admin,
        r#"{ auditLog(kinds: ["STORE_COMPACTED"]) { entries { kind actorName subject details } } }"#,
        json!({}),
    )
    .await;
    let entries = trail["data"]["auditLog"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["kind"], "STORE_COMPACTED");
    assert_eq!(entries[0]["actorName"], "ops");
    assert!(entries[0]["subject"].as_str().unwrap().contains("generation-1"), "{trail}");
    assert!(entries[0]["details"][0].as_str().unwrap().starts_with("keys copied: "), "{trail}");
    server.shutdown().await;
}

/// The real binary compacts its store by itself once it has grown past `--compact-growth`
/// (checked every second here, any size): the compaction is in the audit trail, attributed to
/// the server's configuration; `CURRENT` names the new generation; every acknowledged event is
/// there, also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_compacts_its_store_by_itself_once_it_has_grown() {
    let temp = tempfile::tempdir().unwrap();
    let args = ["--compact-growth", "1.5", "--compact-min-mb", "0", "--compact-check-secs", "1"];
    let mut child = spawn_binary_with(temp.path(), &args);
    let ingest = format!("{}/api/v1/lineage", child.base_url);
    let graphql = format!("{}/graphql", child.base_url);
    let mut acknowledged = 0u32;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let entries = loop {
        // Churn while waiting: the store keeps growing, and writes go on during any copy.
        for _ in 0..20 {
            let (status, body) = post_json(&ingest, &churn_event(0, acknowledged)).await;
            assert_eq!(status, 201, "event {acknowledged}: {body}");
            acknowledged += 1;
        }
        let query = json!({"query": r#"{ auditLog(kinds: ["STORE_COMPACTED"]) { entries { actorKind actorName subject details } } }"#});
        let (status, trail) = post_json(&graphql, &query).await;
        assert_eq!(status, 200, "{trail}");
        let entries = trail["data"]["auditLog"]["entries"].as_array().cloned().unwrap_or_default();
        if !entries.is_empty() {
            break entries;
        }
        assert!(std::time::Instant::now() < deadline, "no automatic compaction after {acknowledged} events: {trail}");
    };
    let first = entries.last().unwrap();
    assert_eq!(first["actorKind"], "LOCAL", "{first}");
    assert_eq!(first["actorName"], "automatic compaction (--compact-growth 1.5)", "{first}");
    assert!(first["subject"].as_str().unwrap().starts_with("store compacted into `generation-"), "{first}");
    let current = std::fs::read_to_string(temp.path().join("CURRENT")).unwrap();
    assert!(current.trim().starts_with("generation-"), "{current}");
    child.child.kill().unwrap();
    child.child.wait().unwrap();
    let server = start_server_in(temp.path()).await;
    let (sequence, _) = server.watermark().await;
    assert!(sequence >= u64::from(acknowledged), "{sequence} events after the restart, {acknowledged} acknowledged");
    for n in (0..acknowledged).step_by(37) {
        let data =
            server.graphql_data("query($id: String!) { run(runId: $id) { state } }", json!({"id": run_id(n)})).await;
        assert_eq!(data["run"]["state"], "COMPLETE", "run {n} lost");
    }
    server.shutdown().await;
}

/// `--compact-growth` below 1.1 (a store copied again right after each compaction) is refused
/// at start, naming the flag.
#[test]
fn a_growth_factor_below_one_point_one_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let stderr = serve_refused("127.0.0.1:0", temp.path(), &["--compact-growth", "0.5"]);
    assert!(stderr.contains("--compact-growth 0.5: give a factor of at least 1.1, or 0 to turn it off"), "{stderr}");
}

/// The newest modification time of sled's recovery snapshot files (`snap.*`) in `dir`.
fn sled_snapshot_written(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("snap."))
        .filter_map(|entry| entry.metadata().and_then(|metadata| metadata.modified()).ok())
        .max()
}

/// A clean stop (SIGTERM) brings sled's recovery snapshot up to date, which sled does only
/// when it opens a database: the next start then does not read the log this run wrote (at 1M
/// after a compaction, 167 s from a cold page cache). The snapshot file is written after the
/// run's last write, and the store opens again with every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_settles_the_store_for_the_next_start() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = spawn_binary_with(temp.path(), &[]);
    // None for a new store: sled has nothing to snapshot when it creates one.
    let opened = sled_snapshot_written(temp.path());
    let ingest = format!("{}/api/v1/lineage", child.base_url);
    for n in 0..50 {
        let (status, body) = post_json(&ingest, &churn_event(0, n)).await;
        assert_eq!(status, 201, "event {n}: {body}");
    }
    // Past the file system's timestamp granularity, after the last write.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before_stop = std::time::SystemTime::now();
    assert!(opened.is_none_or(|opened| opened < before_stop));
    let killed = std::process::Command::new("kill").args(["-TERM", &child.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the server did not stop within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let settled = sled_snapshot_written(temp.path()).expect("a snapshot");
    assert!(settled >= before_stop, "sled's snapshot is from {settled:?}, before the stop at {before_stop:?}");
    let server = start_server_in(temp.path()).await;
    assert_eq!(server.watermark().await.0, 50);
    server.shutdown().await;
}
