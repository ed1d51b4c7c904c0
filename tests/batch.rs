//! `POST /api/v1/lineage/batch`: a JSON array of events, one result each, durable before
//! the answer; refusals name the event's index and field and stop nothing else.

use std::io::Write;

use serde_json::{Value, json};

use crate::support::{run_event, run_id, start_server};

async fn post_batch(url: &str, body: Vec<u8>, gzip: bool, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json");
    let body = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&body).unwrap();
        request = request.header("content-encoding", "gzip");
        encoder.finish().unwrap()
    } else {
        body
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn a_batch_stores_each_valid_event_and_names_each_refusal() {
    let server = start_server().await;
    let url = server.url("/api/v1/lineage/batch");
    let first = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let second = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "publish", &["clean"], &["mart"]);
    let mut broken = run_event("COMPLETE", "2024-01-01T02:00:00Z", &run_id(3), "report", &["mart"], &["report"]);
    broken["eventTime"] = "yesterday".into();

    let (status, body) = post_batch(&url, json!([first, second]).to_string().into_bytes(), false, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["results"][0]["sequence"], 1);
    assert_eq!(body["results"][1]["sequence"], 2);
    // Durable and published before the answer: the watermark already shows both.
    assert_eq!(server.watermark().await, (2, 2));

    // Again, gzip-compressed, with a broken third event: the first two are duplicates, the
    // third is refused with its index and field; 207 says "some refused".
    let (status, body) = post_batch(&url, json!([first, second, broken]).to_string().into_bytes(), true, None).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["duplicate"], true);
    assert_eq!(body["results"][2]["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(body["results"][2]["error"]["field"], "[2].eventTime", "{body}");
    assert_eq!((body["accepted"].as_u64(), body["refused"].as_u64()), (Some(2), Some(1)));
    assert_eq!(server.watermark().await, (2, 2), "nothing of the refused event is stored");

    // Only refusals: the first refusal's status. Not an array, empty: 400.
    let (status, body) = post_batch(&url, json!([broken]).to_string().into_bytes(), false, None).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_batch(&url, first.to_string().into_bytes(), false, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON array"), "{body}");
    assert_eq!(post_batch(&url, b"[]".to_vec(), false, None).await.0, 400);
    // Too many events: refused before any is parsed.
    let many = format!("[{}]", vec!["{}"; tributary_service::MAX_BATCH_EVENTS + 1].join(","));
    let (status, body) = post_batch(&url, many.into_bytes(), false, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("at most"), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_batch_is_authorized_event_by_event() {
    let server = start_server().await;
    let create = "mutation($n: String!, $s: [String!]!) { createToken(name: $n, scopes: $s) { token } }";
    let admin = server.graphql_data(create, json!({"n": "admin", "s": ["admin"]})).await["createToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = server.url("/graphql");
    let (_, made) = crate::support::post_json_with_token(
        &url,
        &json!({"query": create, "variables": {"n": "etl", "s": ["ingest@jobs=etl;datasets=db"]}}),
        &admin,
    )
    .await;
    let etl = made["data"]["createToken"]["token"].as_str().unwrap().to_owned();
    let inside = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let mut outside = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "leak", &["clean"], &["x"]);
    outside["outputs"][0]["namespace"] = "finance-db".into();
    let batch = json!([inside, outside]).to_string().into_bytes();
    let (status, body) = post_batch(&server.url("/api/v1/lineage/batch"), batch.clone(), false, None).await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, body) = post_batch(&server.url("/api/v1/lineage/batch"), batch, false, Some(&etl)).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["sequence"], 1);
    assert_eq!(body["results"][1]["error"]["code"], "PERMISSION_DENIED", "{body}");
    server.shutdown().await;
}
