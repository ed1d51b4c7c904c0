//! Fairness under load: how long a single event (HTTP `POST /api/v1/lineage`) takes while
//! another client bulk-loads over a gRPC `IngestStream`, against the same server idle.
//!
//! `cargo bench --bench fairness` (`-- --events N` bulk events, default 60,000; `--probes N`
//! single events, default 200). Prints median, p99 and max latency of the single events, and
//! the bulk stream's rate. The real server on loopback port 0, a temporary store.

use std::time::{Duration, Instant};

use serde_json::json;
use tributary_grpc::proto;
use tributary_server::{Service, ServiceConfig};

fn event(client: &str, n: u64) -> serde_json::Value {
    json!({
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://example.com/tributary-fairness-bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": format!("00000000-0000-4000-{:04x}-{n:012}", client.len())},
        "job": {"namespace": client, "name": format!("job{}", n % 500)},
        "inputs": [{"namespace": "db", "name": format!("t{}", n % 1000)}],
        "outputs": [{"namespace": "db", "name": format!("t{}", n % 1000 + 1)}],
    })
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn summary(label: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label}: {} single events, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

async fn probe(http: &reqwest::Client, url: &str, probes: u64, offset: u64) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(probes as usize);
    for n in 0..probes {
        let started = Instant::now();
        let response = http.post(url).json(&event("probe", offset + n)).send().await.expect("post");
        assert_eq!(response.status().as_u16(), 201, "probe event refused");
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies
}

#[tokio::main]
async fn main() {
    let bulk_events = arg("--events", 60_000);
    let probes = arg("--probes", 200);
    let temp = tempfile::tempdir().expect("tempdir");
    let service =
        Service::open(ServiceConfig { data_dir: Some(temp.path().to_path_buf()), ..ServiceConfig::default() })
            .expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = service.clone();
    let server = tokio::spawn(async move {
        tributary_server::run(serving, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/lineage");

    summary("idle", probe(&http, &url, probes, 0).await);

    let mut client = proto::ingest_client::IngestClient::connect(base.clone()).await.expect("grpc");
    let bulk = tokio::spawn(async move {
        let started = Instant::now();
        let outbound = tokio_stream::iter(
            (0..bulk_events).map(|n| proto::IngestEventRequest { event_json: event("bulk", n).to_string() }),
        );
        let mut acks = client.ingest_stream(outbound).await.expect("stream").into_inner();
        let mut acked = 0u64;
        while let Some(ack) = acks.message().await.expect("ack") {
            assert!(matches!(ack.result, Some(proto::ingest_ack::Result::Accepted(_))), "bulk event refused");
            acked += 1;
        }
        (acked, started.elapsed())
    });
    // Let the stream fill the writer's queue before probing; probe only while it runs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut during = Vec::new();
    let mut n = probes;
    while !bulk.is_finished() && during.len() < probes as usize {
        during.extend(probe(&http, &url, 1, n).await);
        n += 1;
    }
    let (acked, elapsed) = bulk.await.expect("bulk task");
    summary("during a bulk stream", during);
    println!(
        "bulk stream: {acked} events in {:.1} s ({:.0} events/s)",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    let _ = stop.send(());
    let _ = server.await;
    tokio::task::spawn_blocking(move || service.close()).await.expect("close");
}
