//! Durability: restart answers as before, and `kill -9` right after acknowledgements
//! loses nothing acknowledged, also when the index snapshot of an earlier clean close is left
//! behind.

use serde_json::json;
use tributary_grpc::proto::{self, ingest_ack};

use crate::support::{run_event, run_id, spawn_binary, start_server_in};
use tributary_server::IndexOrigin;

const SNAPSHOT: &str = r#"{
  watermark { sequence events }
  lineage(start: {kind: DATASET, namespace: "db", name: "src"}, direction: DOWNSTREAM) { nodes { kind name distance } edges { from { name } to { name } kind } }
  up: lineage(start: {kind: DATASET, namespace: "db", name: "out19"}, direction: UPSTREAM) { nodes { name distance } }
  dataset(namespace: "db", name: "out3") { producers { name } consumers { name } recentRuns { runId state } }
  datasets(first: 1000) { nodes { name } }
  jobs(first: 1000) { nodes { name } }
}"#;

/// Job `n` reads `src` and writes `out{n}`: run `n`, COMPLETE.
fn fan_out(n: u32) -> serde_json::Value {
    run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n), &format!("job{n}"), &["src"], &[&format!("out{n}")])
}

#[tokio::test]
async fn a_restarted_server_answers_exactly_as_before() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    for n in 0..20u32 {
        let input = if n == 0 { "src".to_owned() } else { format!("out{}", n - 1) };
        for kind in ["START", "COMPLETE"] {
            let event = run_event(
                kind,
                "2024-01-01T00:00:00Z",
                &run_id(n),
                &format!("job{n}"),
                &[&input],
                &[&format!("out{n}")],
            );
            assert_eq!(server.post_event(&event).await.0, 201);
        }
    }
    let before = server.graphql_data(SNAPSHOT, json!({})).await;
    assert_eq!(before["lineage"]["nodes"].as_array().unwrap().len(), 41);
    server.shutdown().await;

    let server = start_server_in(temp.path()).await;
    assert_eq!(server.index_origin(), IndexOrigin::Snapshot, "the clean shutdown saved the index");
    let after = server.graphql_data(SNAPSHOT, json!({})).await;
    assert_eq!(after, before);
    server.shutdown().await;
}

/// A clean shutdown saves the index; the next server changes the graph and is killed. The
/// snapshot left behind is older than the store, so the server after it catches it up from
/// the store's records, and answers with every acknowledged change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_clean_restart_catches_the_older_snapshot_up() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    for n in 0..10u32 {
        assert_eq!(server.post_event(&fan_out(n)).await.0, 201);
    }
    server.shutdown().await;
    assert!(temp.path().join("lineage-index.snapshot").exists());

    let mut child = spawn_binary(temp.path());
    let mut client = proto::ingest_client::IngestClient::connect(child.base_url.clone()).await.unwrap();
    // job3 now reads `moved` instead of `src`, and job10 is new.
    let changes = [
        run_event("COMPLETE", "2024-01-02T00:00:00Z", &run_id(100), "job3", &["moved"], &["out3"]),
        run_event("COMPLETE", "2024-01-02T00:00:00Z", &run_id(101), "job10", &["out3"], &["out10"]),
    ];
    for event in changes {
        let ack = client.ingest_event(proto::IngestEventRequest { event_json: event.to_string() }).await.unwrap();
        let Some(ingest_ack::Result::Accepted(accepted)) = ack.into_inner().result else { panic!("not accepted") };
        assert!(accepted.sequence > 10);
    }
    child.child.kill().unwrap();
    child.child.wait().unwrap();

    let server = start_server_in(temp.path()).await;
    assert_eq!(server.index_origin(), IndexOrigin::Snapshot, "two events behind: caught up");
    let query = r#"{
      watermark { sequence }
      moved: dataset(namespace: "db", name: "moved") { consumers { name } }
      out3: dataset(namespace: "db", name: "out3") { consumers { name } }
      src: lineage(start: {kind: DATASET, namespace: "db", name: "src"}, direction: DOWNSTREAM) { nodes { name } }
    }"#;
    let data = server.graphql_data(query, json!({})).await;
    assert_eq!(data["watermark"]["sequence"], 12);
    assert_eq!(data["moved"]["consumers"], json!([{"name": "job3"}]));
    assert_eq!(data["out3"]["consumers"], json!([{"name": "job10"}]));
    let reached: Vec<&str> =
        data["src"]["nodes"].as_array().unwrap().iter().filter_map(|node| node["name"].as_str()).collect();
    assert!(reached.contains(&"job4"), "{reached:?}");
    assert!(!reached.contains(&"job3") && !reached.contains(&"out10"), "src no longer feeds job3: {reached:?}");
    server.shutdown().await;

    // That clean shutdown saved a current index again.
    let server = start_server_in(temp.path()).await;
    assert_eq!(server.index_origin(), IndexOrigin::Snapshot);
    assert_eq!(server.graphql_data(query, json!({})).await, data);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = spawn_binary(temp.path());
    let mut client = proto::ingest_client::IngestClient::connect(child.base_url.clone()).await.unwrap();
    let events: Vec<proto::IngestEventRequest> = (0..3000u32)
        .map(|n| {
            let event = run_event(
                "COMPLETE",
                "2024-01-01T00:00:00Z",
                &run_id(n),
                &format!("job{n}"),
                &[&format!("in{}", n % 13)],
                &[&format!("out{n}")],
            );
            proto::IngestEventRequest { event_json: event.to_string() }
        })
        .collect();
    let mut acks = client.ingest_stream(tokio_stream::iter(events)).await.unwrap().into_inner();
    let mut acknowledged = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        if let Some(ingest_ack::Result::Accepted(ok)) = ack.result {
            acknowledged.push((ack.index, ok.sequence));
        }
        // Kill mid-stream, right after an acknowledgement.
        if acknowledged.len() == 2000 {
            child.child.kill().unwrap();
            break;
        }
    }
    child.child.wait().unwrap();
    assert_eq!(acknowledged.len(), 2000);

    let server = start_server_in(temp.path()).await;
    let (sequence, _) = server.watermark().await;
    assert!(sequence >= 2000, "only {sequence} events survived");
    let max_acked = acknowledged.iter().map(|(_, s)| *s).max().unwrap();
    assert!(sequence >= max_acked);
    // Every acknowledged event is there, by its run.
    for (index, _) in acknowledged.iter().step_by(97) {
        let data = server
            .graphql_data("query($id: String!) { run(runId: $id) { state } }", json!({"id": run_id(*index as u32)}))
            .await;
        assert_eq!(data["run"]["state"], "COMPLETE", "run {index} lost");
    }
    // And the graph agrees with the events: each surviving event's output has its producer.
    let data =
        server.graphql_data(r#"{ dataset(namespace: "db", name: "out1999") { producers { name } } }"#, json!({})).await;
    assert_eq!(data["dataset"]["producers"], json!([{"name": "job1999"}]));
    server.shutdown().await;
}

#[tokio::test]
async fn import_loads_a_file_and_reports_rejected_lines() {
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("events.ndjson");
    let mut lines = Vec::new();
    for n in 0..30u32 {
        lines.push(fan_out(n).to_string());
    }
    lines.insert(5, "{\"not\": \"an event\"}".to_owned());
    lines.insert(9, String::new());
    lines.push(lines[0].clone());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let data_dir = temp.path().join("store");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["import", "--quiet", "--data-dir"])
        .arg(&data_dir)
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("imported 31 events from 32 lines"), "{stdout}");
    assert!(stdout.contains("30 new, 1 duplicates, 1 rejected"), "{stdout}");
    assert!(stdout.contains("rejected line 6: `eventTime`: is required"), "{stdout}");

    // `stats` counts what the import stored: 30 events, 31 datasets, 30 jobs.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["stats", "--json", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let keys = |prefix: &str| {
        stats["prefixes"].as_array().unwrap().iter().find(|p| p["prefix"] == prefix).map(|p| p["keys"].as_u64())
    };
    assert_eq!(keys("E"), Some(Some(30)), "{stats}");
    // A dataset's record, facet values and graph key are its one `D` value.
    assert_eq!(keys("D"), Some(Some(31)), "{stats}");
    assert_eq!(keys("N"), None, "{stats}");
    assert_eq!(keys("F"), None, "{stats}");
    assert_eq!(keys("I"), Some(Some(30)), "{stats}");
    assert!(stats["disk_bytes"].as_u64().unwrap() >= stats["logical_bytes"].as_u64().unwrap(), "{stats}");

    let server = start_server_in(&data_dir).await;
    assert_eq!(server.watermark().await, (30, 30));
    let data = server
        .graphql_data(
            r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "src"}, depth: 1) { nodes { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["lineage"]["nodes"].as_array().unwrap().len(), 61);
    server.shutdown().await;

    // A second import of the same file while nothing runs: everything is a duplicate.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["import", "--quiet", "--data-dir"])
        .arg(&data_dir)
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("0 new, 31 duplicates, 1 rejected"));
}

#[tokio::test]
async fn import_refuses_a_store_in_use() {
    let temp = tempfile::tempdir().unwrap();
    let server = start_server_in(temp.path()).await;
    let file = temp.path().join("empty.ndjson");
    std::fs::write(&file, "").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["import", "--quiet", "--data-dir"])
        .arg(temp.path())
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    server.shutdown().await;
}
