//! `/metrics`: Prometheus text with the writer's, the store's and the requests' figures;
//! labels from fixed sets; a read token once the server requires tokens.

use serde_json::json;
use tributary_grpc::proto;

use crate::support::{downstream_of_raw, run_event, run_id, start_server};

/// The value of the sample line that starts with `series` (name and labels, exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_requests_and_sizes_with_bounded_labels() {
    let server = start_server().await;
    let first = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let second = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "publish", &["clean"], &["mart"]);
    for event in [&first, &second, &first] {
        assert_eq!(server.post_event(event).await.0, 201);
    }
    let mut lineage = proto::lineage_client::LineageClient::connect(server.base_url.clone()).await.unwrap();
    lineage.get_dataset(proto::GetDatasetRequest { namespace: "db".into(), name: "mart".into() }).await.unwrap();
    for path in ["/no/such/path", "/another-unknown-path"] {
        assert_eq!(reqwest::get(server.url(path)).await.unwrap().status().as_u16(), 404);
    }

    let (status, kind, text) = scrape(&server.url("/metrics"), None).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert_eq!(sample(&text, "tributary_writer_events_total{outcome=\"stored\"}"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "tributary_writer_events_total{outcome=\"duplicate\"}"), Some(1.0));
    assert_eq!(sample(&text, "tributary_index_datasets"), Some(3.0));
    assert_eq!(sample(&text, "tributary_index_jobs"), Some(2.0));
    assert_eq!(sample(&text, "tributary_watermark_sequence"), Some(2.0));
    // A fresh store, not idle for long: no index snapshot yet.
    assert_eq!(sample(&text, "tributary_index_snapshot_sequence"), Some(0.0));
    assert!(sample(&text, "tributary_store_bytes").is_some_and(|bytes| bytes > 0.0));
    assert!(sample(&text, "tributary_writer_group_events_count").is_some_and(|groups| groups >= 1.0));
    let flushes = sample(&text, "tributary_writer_flush_seconds_count").unwrap_or(0.0);
    assert!(flushes >= 1.0, "{text}");
    // The writer's other timings count the same groups as its flushes.
    for part in ["apply", "commit", "group"] {
        assert_eq!(sample(&text, &format!("tributary_writer_{part}_seconds_count")), Some(flushes), "{part}: {text}");
    }
    assert_eq!(
        sample(&text, "tributary_requests_total{door=\"http\",route=\"/api/v1/lineage\",status=\"2xx\"}"),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "tributary_requests_total{door=\"grpc\",route=\"tributary.v1.Lineage\",status=\"2xx\"}"),
        Some(1.0)
    );
    // Unknown paths share one label: a client cannot grow the label set.
    assert_eq!(sample(&text, "tributary_requests_total{door=\"http\",route=\"other\",status=\"4xx\"}"), Some(2.0));
    assert!(!text.contains("no/such/path"), "paths never become labels");

    // Once tokens exist, scraping needs one (read is enough).
    let create = "mutation($n: String!, $s: [String!]!) { createToken(name: $n, scopes: $s) { token } }";
    let made = server.graphql_data(create, json!({"n": "prometheus", "s": ["read"]})).await;
    let token = made["createToken"]["token"].as_str().unwrap();
    assert_eq!(scrape(&server.url("/metrics"), None).await.0, 401);
    let (status, _, text) = scrape(&server.url("/metrics"), Some(token)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("tributary_writer_events_total"));
    server.shutdown().await;
}

/// `response_seconds` times an answer to its last byte, `request_seconds` to its head: a
/// stream held open is counted once it ends (here: the client hangs up), with its whole life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_seconds_time_answers_to_their_last_byte() {
    let server = start_server().await;
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    assert_eq!(server.post_event(&event).await.0, 201);
    let mut lineage = proto::lineage_client::LineageClient::connect(server.base_url.clone()).await.unwrap();
    let request = downstream_of_raw(false, false);
    let mut chunks = lineage.stream_lineage(request).await.unwrap().into_inner();
    let mut datasets = 0;
    while let Some(chunk) = chunks.message().await.unwrap() {
        datasets += chunk.nodes.len();
    }
    assert!(datasets >= 2, "the stream named raw's downstream");

    let mut changes = proto::changes_client::ChangesClient::connect(server.base_url.clone()).await.unwrap();
    let held = std::time::Duration::from_millis(400);
    let watch = changes.watch_schema_changes(proto::ListSchemaChangesRequest::default()).await.unwrap().into_inner();
    tokio::time::sleep(held).await;
    drop(watch);

    let series = |metric: &str, route: &str| format!("tributary_{metric}{{door=\"grpc\",route=\"{route}\"}}");
    // The server learns of the hang-up asynchronously: wait for the count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let (status, _, text) = scrape(&server.url("/metrics"), None).await;
        assert_eq!(status, 200, "{text}");
        if sample(&text, &series("response_seconds_count", "tributary.v1.Changes")) == Some(1.0) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "the watch's end was never counted:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let watched = sample(&text, &series("response_seconds_sum", "tributary.v1.Changes")).unwrap();
    let head = sample(&text, &series("request_seconds_sum", "tributary.v1.Changes")).unwrap();
    assert!(watched >= held.as_secs_f64(), "the watch lived {watched} s, held {held:?}");
    assert!(head < held.as_secs_f64(), "its head came at once ({head} s)");
    // The finished stream and the connect are counted once each, never before their head.
    assert_eq!(sample(&text, &series("response_seconds_count", "tributary.v1.Lineage")), Some(1.0), "{text}");
    let streamed = sample(&text, &series("response_seconds_sum", "tributary.v1.Lineage")).unwrap();
    let streamed_head = sample(&text, &series("request_seconds_sum", "tributary.v1.Lineage")).unwrap();
    assert!(streamed >= streamed_head, "last byte {streamed} s before the head {streamed_head} s");
    assert_eq!(
        sample(&text, "tributary_response_seconds_count{door=\"http\",route=\"/api/v1/lineage\"}"),
        Some(1.0),
        "{text}"
    );
    server.shutdown().await;
}
