//! Durability: restart answers as before, and `kill -9` right after acknowledgements
//! loses nothing acknowledged.

use serde_json::json;
use tributary_grpc::proto::{self, ingest_ack};

use crate::support::{run_event, run_id, spawn_binary, start_server_in};

const SNAPSHOT: &str = r#"{
  watermark { sequence events }
  lineage(start: {kind: DATASET, namespace: "db", name: "src"}, direction: DOWNSTREAM) { nodes { kind name distance } edges { from { name } to { name } kind } }
  up: lineage(start: {kind: DATASET, namespace: "db", name: "out19"}, direction: UPSTREAM) { nodes { name distance } }
  dataset(namespace: "db", name: "out3") { producers { name } consumers { name } recentRuns { runId state } }
  datasets(first: 1000) { nodes { name } }
  jobs(first: 1000) { nodes { name } }
}"#;

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
    let after = server.graphql_data(SNAPSHOT, json!({})).await;
    assert_eq!(after, before);
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
