//! Hostile and careless clients, one regression test each: the documented answer, nothing
//! stored where nothing should be, and `/healthz` still answering within 2 s during and
//! after. Raw requests go over a plain `TcpStream`, so that a body can be announced and
//! never sent, or a header left unfinished.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tributary_server::ServerLimits;

use crate::support::{TestServer, run_event, run_id, start_server, start_server_with_limits};

/// What "promptly" means for `/healthz` and for refusals that need no work.
const PROMPT: Duration = Duration::from_secs(2);

/// `/healthz` answers 200 `ok` within [`PROMPT`].
async fn assert_healthy_promptly(server: &TestServer, when: &str) {
    let started = Instant::now();
    let answer = tokio::time::timeout(PROMPT, async {
        let response = reqwest::get(server.url("/healthz")).await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.json::<Value>().await?))
    })
    .await
    .unwrap_or_else(|_| panic!("/healthz did not answer within {PROMPT:?} {when}"))
    .unwrap_or_else(|error| panic!("/healthz {when}: {error}"));
    assert_eq!(answer.0, 200, "/healthz {when}: {}", answer.1);
    assert_eq!(answer.1["status"], "ok", "/healthz {when}");
    assert!(started.elapsed() < PROMPT);
}

/// Runs `request` while `/healthz` is asked once it has started, then once more after it.
async fn with_health_checks<T>(server: &TestServer, what: &str, request: impl Future<Output = T>) -> T {
    let during = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_healthy_promptly(server, &format!("during {what}")).await;
    };
    let (answer, ()) = tokio::join!(request, during);
    assert_healthy_promptly(server, &format!("after {what}")).await;
    answer
}

/// POSTs `body` (any text) to `/graphql` as JSON; returns the status, the JSON answer and
/// how long it took.
async fn post_graphql_text(server: &TestServer, body: String) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        reqwest::Client::new()
            .post(server.url("/graphql"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send(),
    )
    .await
    .expect("/graphql answers within 30 s")
    .expect("http request");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("a JSON answer");
    (status, answer, started.elapsed())
}

async fn graphql_document(server: &TestServer, document: &str) -> (u16, Value, Duration) {
    post_graphql_text(server, json!({"query": document}).to_string()).await
}

fn error_code(answer: &Value) -> &Value {
    &answer["errors"][0]["extensions"]["code"]
}

/// Sends `request` on a new connection and reads the answer: its head and, when it says
/// how long the body is, the body; else until the server closes. Returns the answer and
/// how long it took from the connect.
async fn raw_exchange(addr: SocketAddr, request: &[u8], patience: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(patience, async {
        let mut buffer = [0u8; 4096];
        while !is_complete(&answer) {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "no whole answer within {patience:?}; so far: {text:?}");
    (text, started.elapsed())
}

fn is_complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head.lines().find_map(|line| {
        let line = line.to_ascii_lowercase();
        line.strip_prefix("content-length:").and_then(|value| value.trim().parse::<usize>().ok())
    });
    length.is_some_and(|length| body.len() >= length)
}

fn status_of(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

/// The JSON body of a raw answer.
fn body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

fn an_event(n: u32) -> Value {
    run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n), "load", &["raw"], &["clean"])
}

#[tokio::test]
async fn exponentially_nested_fragment_spreads_are_refused_at_once() {
    let server = start_server().await;
    // F0 spreads F1 twice, F1 spreads F2 twice, …: 2^30 fields once expanded, and quadratic
    // (or worse) work for a validator that expands them.
    let mut document = String::from("query { ...F0 }\n");
    for level in 0..30 {
        let next = level + 1;
        document.push_str(&format!("fragment F{level} on QueryRoot {{ ...F{next} ...F{next} }}\n"));
    }
    document.push_str("fragment F30 on QueryRoot { watermark { sequence } }\n");
    let (status, answer, elapsed) =
        with_health_checks(&server, "a fragment bomb", graphql_document(&server, &document)).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), "QUERY_TOO_LARGE", "{answer}");
    assert!(answer.get("data").is_none_or(Value::is_null), "{answer}");
    assert!(elapsed < PROMPT, "refused after {elapsed:?}");

    // Nested deeper than any honest document, each spread once: refused as well.
    let mut deep = String::from("query { ...D0 }\n");
    for level in 0..60 {
        deep.push_str(&format!("fragment D{level} on QueryRoot {{ ...D{} }}\n", level + 1));
    }
    deep.push_str("fragment D60 on QueryRoot { watermark { sequence } }\n");
    let (_, answer, elapsed) = graphql_document(&server, &deep).await;
    assert_eq!(error_code(&answer), "QUERY_TOO_LARGE", "{answer}");
    assert!(elapsed < PROMPT, "refused after {elapsed:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn thousands_of_aliases_are_refused_and_thirty_two_are_not() {
    let server = start_server().await;
    let aliases: Vec<String> = (0..5000)
        .map(|n| {
            format!(r#"a{n}: lineage(start: {{kind: DATASET, namespace: "db", name: "raw"}}) {{ nodes {{ name }} }}"#)
        })
        .collect();
    let document = format!("{{ {} }}", aliases.join("\n"));
    let (status, answer, elapsed) =
        with_health_checks(&server, "5000 aliases", graphql_document(&server, &document)).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), "QUERY_TOO_LARGE", "{answer}");
    assert!(elapsed < PROMPT, "refused after {elapsed:?}");

    // The limit is 32 top-level fields, aliases included.
    let fields = |count: usize| {
        let fields: Vec<String> = (0..count).map(|n| format!("w{n}: watermark {{ sequence }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let (_, allowed, _) = graphql_document(&server, &fields(32)).await;
    assert!(allowed.get("errors").is_none(), "{allowed}");
    assert_eq!(allowed["data"]["w31"]["sequence"], 0);
    let (_, refused, _) = graphql_document(&server, &fields(33)).await;
    assert_eq!(error_code(&refused), "QUERY_TOO_LARGE", "{refused}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_a_thousand_operations_is_refused_and_sixteen_are_not() {
    let server = start_server().await;
    let batch = |count: usize| json!(vec![json!({"query": "{ watermark { sequence } }"}); count]).to_string();
    let (status, answer, elapsed) =
        with_health_checks(&server, "a batch of 1000", post_graphql_text(&server, batch(1000))).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), "QUERY_TOO_LARGE", "{answer}");
    assert!(elapsed < PROMPT, "refused after {elapsed:?}");

    let (_, allowed, _) = post_graphql_text(&server, batch(16)).await;
    let answers = allowed.as_array().unwrap_or_else(|| panic!("a batch answer is an array: {allowed}"));
    assert_eq!(answers.len(), 16);
    assert!(answers.iter().all(|a| a["data"]["watermark"]["sequence"] == 0), "{allowed}");
    let (_, refused, _) = post_graphql_text(&server, batch(17)).await;
    assert_eq!(error_code(&refused), "QUERY_TOO_LARGE", "{refused}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_request() {
    let server = start_server().await;
    let (status, answer, _) =
        with_health_checks(&server, "a non-JSON body", post_graphql_text(&server, "{ watermark { sequence } }".into()))
            .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&answer), "BAD_REQUEST", "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_300_mb_content_length_is_refused_before_the_body_is_sent() {
    let server = start_server().await;
    for path in ["/graphql", "/api/v1/lineage"] {
        // Headers only: the body is announced and never sent.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n",
            server.addr
        );
        let (answer, elapsed) = with_health_checks(
            &server,
            &format!("a 300 MB Content-Length to {path}"),
            raw_exchange(server.addr, head.as_bytes(), Duration::from_secs(5)),
        )
        .await;
        assert!(status_of(&answer).starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            body_of(&answer)["error"]["message"].as_str().is_some_and(|m| m.contains("larger than")),
            "{path}: {answer}"
        );
        assert!(elapsed < PROMPT, "{path}: answered after {elapsed:?}");
    }
    assert_eq!(server.watermark().await, (0, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn a_write_that_is_not_json_is_refused_and_nothing_is_stored() {
    let server = start_server().await;
    let client = reqwest::Client::new();
    let event = an_event(1).to_string();
    let text_plain = client
        .post(server.url("/api/v1/lineage"))
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(event.clone());
    let response = with_health_checks(&server, "a text/plain event", text_plain.send()).await.unwrap();
    assert_eq!(response.status(), 415);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["field"], "Content-Type", "{answer}");
    // No Content-Type at all, and a text/plain GraphQL mutation (a cross-site form's shape).
    let bare = client.post(server.url("/api/v1/lineage")).body(event.clone()).send().await.unwrap();
    assert_eq!(bare.status(), 415);
    let mutation = json!({"query": "mutation { applyDomain(descriptor: \"kind: Domain\\nid: x\\nname: X\\nnamespaces: [x]\") { id } }"});
    let graphql = client
        .post(server.url("/graphql"))
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body(mutation.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 415);
    assert_eq!(server.watermark().await, (0, 0));
    assert_eq!(server.graphql_data("{ domains { id } }", json!({})).await["domains"], json!([]));
    // The same event as JSON is stored: the refusal was about the type, not the event.
    assert_eq!(server.post_event(&an_event(1)).await.0, 201);
    assert_eq!(server.watermark().await, (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_the_own_origin_is_not() {
    let server = start_server().await;
    let client = reqwest::Client::new();
    let from = |origin: &str, path: &str, body: &Value| {
        client.post(server.url(path)).header(reqwest::header::ORIGIN, origin).json(body).send()
    };
    let evil =
        with_health_checks(&server, "a foreign origin", from("https://evil.example", "/api/v1/lineage", &an_event(1)))
            .await
            .unwrap();
    assert_eq!(evil.status(), 403);
    let answer: Value = evil.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "PERMISSION_DENIED", "{answer}");
    let mutation = json!({"query": "mutation { applyDomain(descriptor: \"kind: Domain\\nid: x\\nname: X\\nnamespaces: [x]\") { id } }"});
    let evil_graphql = from("https://evil.example", "/graphql", &mutation).await.unwrap();
    assert_eq!(evil_graphql.status(), 403);
    // An origin that only starts like ours is another origin.
    let lookalike =
        from(&format!("http://{}.evil.example", server.addr), "/api/v1/lineage", &an_event(1)).await.unwrap();
    assert_eq!(lookalike.status(), 403);
    assert_eq!(server.watermark().await, (0, 0));
    assert_eq!(server.graphql_data("{ domains { id } }", json!({})).await["domains"], json!([]));

    // The server's own origin (what GraphiQL in a browser sends) is served.
    let own = format!("http://{}", server.addr);
    let same = from(&own, "/api/v1/lineage", &an_event(1)).await.unwrap();
    assert_eq!(same.status(), 201);
    let applied = from(&own, "/graphql", &mutation).await.unwrap();
    assert_eq!(applied.status(), 200);
    let applied: Value = applied.json().await.unwrap();
    assert_eq!(applied["data"]["applyDomain"]["id"], "x", "{applied}");
    assert_eq!(server.watermark().await, (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn an_allowed_origin_is_served_with_cors_headers() {
    let limits = ServerLimits { allowed_origins: vec!["https://ui.example".into()], ..ServerLimits::default() };
    let server = start_server_with_limits(limits).await;
    let client = reqwest::Client::new();
    let allowed = client
        .post(server.url("/api/v1/lineage"))
        .header(reqwest::header::ORIGIN, "https://ui.example")
        .json(&an_event(1))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 201);
    assert_eq!(allowed.headers()[reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://ui.example");
    let other = client
        .post(server.url("/api/v1/lineage"))
        .header(reqwest::header::ORIGIN, "https://evil.example")
        .json(&an_event(2))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(server.watermark().await, (1, 1));
    assert_healthy_promptly(&server, "after an allowed origin").await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let server = start_server().await;
    let client = reqwest::Client::new();
    let get = with_health_checks(&server, "GET /nope", client.get(server.url("/nope")).send()).await.unwrap();
    assert_eq!(get.status(), 404);
    let answer: Value = get.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "NOT_FOUND", "{answer}");
    let post = client.post(server.url("/nope")).json(&an_event(1)).send().await.unwrap();
    assert_eq!(post.status(), 404);
    let under_ingest = client.post(server.url("/api/v1/lineage/extra")).json(&an_event(1)).send().await.unwrap();
    assert_eq!(under_ingest.status(), 404);
    assert_eq!(server.watermark().await, (0, 0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_the_server_keeps_answering() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    let limits = ServerLimits { header_read_timeout: HEADER_TIMEOUT, max_connections: 20, ..ServerLimits::default() };
    let server = start_server_with_limits(limits).await;
    let started = Instant::now();
    // 40 connections send half a header and stall; 10 send nothing at all.
    let mut stalled = Vec::new();
    for n in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        if n % 5 != 4 {
            stream
                .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", server.addr).as_bytes())
                .await
                .unwrap();
        }
        stalled.push(stream);
    }

    // Every stalled connection is closed: at once past the connection limit, after the
    // header (or first-byte) timeout within it.
    let closes = stalled.into_iter().enumerate().map(|(n, mut stream)| async move {
        let mut buffer = [0u8; 1024];
        let read = tokio::time::timeout(HEADER_TIMEOUT + Duration::from_secs(4), async {
            loop {
                match stream.read(&mut buffer).await {
                    // A 408 the server may write before closing is fine; then EOF.
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(read.is_ok(), "stalled connection {n} was still open after {:?}", started.elapsed());
        started.elapsed()
    });
    let all_closed = futures::future::join_all(closes);

    // Meanwhile a normal client gets an answer within a few seconds (new connections are
    // refused while the stalled ones hold every slot, so it retries).
    let normal = async {
        loop {
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
            let attempt = tokio::time::timeout(Duration::from_secs(1), client.get(server.url("/healthz")).send()).await;
            if let Ok(Ok(response)) = attempt {
                return (response.status().as_u16(), started.elapsed());
            }
            assert!(started.elapsed() < Duration::from_secs(8), "no answer to a normal request for 8 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (closed_at, (status, answered_at)) = tokio::join!(all_closed, normal);
    assert_eq!(status, 200);
    assert!(
        answered_at < HEADER_TIMEOUT + Duration::from_secs(3),
        "a normal request was answered after {answered_at:?}"
    );
    // 30 over the limit closed at once; the 20 within it held until their timeout.
    let held = closed_at.iter().filter(|closed| **closed >= HEADER_TIMEOUT - Duration::from_millis(100)).count();
    assert_eq!(held, 20, "connections held until the header timeout: {closed_at:?}");
    let first_closed = closed_at.iter().min().copied().unwrap();
    let last_closed = closed_at.into_iter().max().unwrap();
    eprintln!(
        "slowloris: closed from {first_closed:?} to {last_closed:?}, a normal request answered at {answered_at:?}"
    );
    assert!(
        last_closed < HEADER_TIMEOUT + Duration::from_secs(3),
        "the last stalled connection closed after {last_closed:?}"
    );
    assert_healthy_promptly(&server, "after slowloris").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_gets_a_deadline_answer_and_nothing_is_stored() {
    let limits = ServerLimits { request_timeout: Duration::from_secs(1), ..ServerLimits::default() };
    let server = start_server_with_limits(limits).await;
    let event = an_event(1).to_string();
    // The whole header and a third of the body, then nothing.
    let request = format!(
        "POST /api/v1/lineage HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        server.addr,
        event.len(),
        &event[..event.len() / 3]
    );
    let (answer, elapsed) = with_health_checks(
        &server,
        "a stalled body",
        raw_exchange(server.addr, request.as_bytes(), Duration::from_secs(5)),
    )
    .await;
    assert!(status_of(&answer).starts_with("HTTP/1.1 504"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "DEADLINE_EXCEEDED", "{answer}");
    let message = body_of(&answer)["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("send them again") && message.contains("stored once"), "{message}");
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3), "answered after {elapsed:?}");
    assert_eq!(server.watermark().await, (0, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn graphiql_is_still_served_on_get() {
    let server = start_server().await;
    let page = with_health_checks(&server, "GET /graphql", reqwest::get(server.url("/graphql"))).await.unwrap();
    assert_eq!(page.status(), 200);
    let content_type = page.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));
    server.shutdown().await;
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery()`).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  fields(includeDeprecated: true) {
    name
    description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
              }
            }
          }
        }
      }
    }
  }
}
"#;

#[tokio::test]
async fn the_graphiql_introspection_query_fits_the_budget() {
    let server = start_server().await;
    let body = json!({"query": INTROSPECTION, "operationName": "IntrospectionQuery"}).to_string();
    let (status, answer, _) = with_health_checks(&server, "introspection", post_graphql_text(&server, body)).await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer}");
    let schema = &answer["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "QueryRoot");
    assert_eq!(schema["mutationType"]["name"], "MutationRoot");
    let types: Vec<&str> = schema["types"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in ["Lineage", "ChangeCheck", "Product", "Watermark"] {
        assert!(types.contains(&expected), "{expected} missing from {types:?}");
    }
    server.shutdown().await;
}
