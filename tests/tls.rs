//! TLS on the server's one port (`--tls-cert`, `--tls-key`): HTTPS ingest and GraphQL over
//! HTTP/1.1, gRPC over h2 (both by ALPN), plain HTTP refused with a 400, stalled handshakes
//! bounded by the first-byte timeout, and the command line's checks of the files.
//! The certificates are in `tests/data/tls/` (`make-certs.sh` makes them).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tributary_grpc::proto::{self, ingest_ack};
use tributary_server::ServerLimits;

use crate::support::{https_client, run_event, run_id, start_tls_server_with_limits, tls_test_file};

async fn https_post(url: &str, body: &Value) -> (u16, reqwest::Version, Value) {
    let response = https_client().post(url).json(body).send().await.expect("https request");
    let status = response.status().as_u16();
    let version = response.version();
    (status, version, response.json().await.unwrap())
}

async fn grpc_tls_channel(base_url: &str) -> tonic::transport::Channel {
    let ca = std::fs::read(tls_test_file("ca.pem")).unwrap();
    Endpoint::from_shared(base_url.to_owned())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
        .unwrap()
        .connect()
        .await
        .expect("gRPC connects over TLS")
}

#[tokio::test]
async fn https_ingest_and_graphql_over_http1_and_grpc_over_h2_share_the_port() {
    let server = start_tls_server_with_limits(ServerLimits::default()).await;
    assert!(server.base_url.starts_with("https://"), "{}", server.base_url);

    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let (status, version, body) = https_post(&server.url("/api/v1/lineage"), &event).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(version, reqwest::Version::HTTP_11, "this reqwest offers http/1.1 only");

    // tonic refuses a TLS connection on which the server did not select h2 by ALPN.
    let channel = grpc_tls_channel(&server.base_url).await;
    let mut ingest = proto::ingest_client::IngestClient::new(channel.clone());
    let second = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "publish", &["clean"], &["mart"]);
    let ack = ingest.ingest_event(proto::IngestEventRequest { event_json: second.to_string() }).await.unwrap();
    assert_eq!(
        ack.into_inner().result,
        Some(ingest_ack::Result::Accepted(proto::Accepted { sequence: 2, duplicate: false, forwarded: None }))
    );
    let mut lineage = proto::lineage_client::LineageClient::new(channel);
    let dataset = lineage
        .get_dataset(proto::GetDatasetRequest { namespace: "db".into(), name: "mart".into() })
        .await
        .expect("a query over the same TLS channel");
    assert_eq!(dataset.into_inner().name, "mart");

    let (status, _, body) =
        https_post(&server.url("/graphql"), &json!({"query": "{ watermark { sequence events } }"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["watermark"], json!({"sequence": 2, "events": 2}), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_a_400_and_the_server_keeps_serving() {
    let server = start_tls_server_with_limits(ServerLimits::default()).await;
    let plain_url = format!("http://{}/healthz", server.addr);

    let plain = reqwest::Client::new().get(&plain_url).send().await.expect("the refusal is an HTTP answer");
    assert_eq!(plain.status(), 400);
    let text = plain.text().await.unwrap();
    assert!(text.contains("HTTPS only"), "{text}");

    // A plain POST with a body: the answer must not be lost to a reset.
    let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
    let plain_post = reqwest::Client::new().post(format!("http://{}/api/v1/lineage", server.addr)).json(&event);
    assert_eq!(plain_post.send().await.expect("an answer").status(), 400);

    // A cleartext gRPC client (HTTP/2 prior knowledge) fails at once rather than hanging.
    let cleartext_grpc = tokio::time::timeout(Duration::from_secs(10), async {
        let mut client = proto::ingest_client::IngestClient::connect(format!("http://{}", server.addr)).await?;
        let request = proto::IngestEventRequest { event_json: event.to_string() };
        client.ingest_event(request).await.map_err(Box::<dyn std::error::Error + Send + Sync>::from)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await;
    assert!(matches!(cleartext_grpc, Ok(Err(_))), "cleartext gRPC on the TLS port: {cleartext_grpc:?}");

    // Bytes that are neither TLS nor HTTP get the same answer, then the connection closes.
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    garbage.write_all(b"\x00\x01hello\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), garbage.read_to_end(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&answer));

    let healthz = https_client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    let (_, _, body) = https_post(&server.url("/graphql"), &json!({"query": "{ watermark { events } }"})).await;
    assert_eq!(body["data"]["watermark"]["events"], 0, "nothing sent in cleartext was ingested: {body}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_blocks_nobody_and_gives_its_slot_back_after_the_first_byte_timeout() {
    const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);
    let limits =
        ServerLimits { header_read_timeout: FIRST_BYTE_TIMEOUT, max_connections: 3, ..ServerLimits::default() };
    let server = start_tls_server_with_limits(limits).await;
    let started = Instant::now();
    // One connection starts a TLS record and stalls mid-handshake; one sends nothing.
    let mut mid_handshake = TcpStream::connect(server.addr).await.unwrap();
    mid_handshake.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let silent = TcpStream::connect(server.addr).await.unwrap();
    let closed_at = |mut stream: TcpStream| async move {
        let mut buffer = [0u8; 256];
        let closed = tokio::time::timeout(FIRST_BYTE_TIMEOUT + Duration::from_secs(5), async {
            while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
        })
        .await;
        assert!(closed.is_ok(), "a stalled connection was still open after {:?}", started.elapsed());
        started.elapsed()
    };
    let closes = futures::future::join(closed_at(mid_handshake), closed_at(silent));

    // Meanwhile the third slot serves a full HTTPS request: the handshakes run on their
    // connections' tasks, not on the accept loop.
    let answered = async {
        let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
        let (status, _, body) = https_post(&server.url("/api/v1/lineage"), &event).await;
        assert_eq!(status, 201, "{body}");
        started.elapsed()
    };
    let ((mid_handshake_closed, silent_closed), answered_at) = tokio::join!(closes, answered);
    eprintln!(
        "tls slots: answered at {answered_at:?}, stalled closed at {mid_handshake_closed:?} and {silent_closed:?}"
    );
    assert!(answered_at < mid_handshake_closed, "the request waited for the stalled handshake");
    assert!(mid_handshake_closed >= FIRST_BYTE_TIMEOUT - Duration::from_millis(100), "{mid_handshake_closed:?}");

    // Both slots are free again: three connections at once get answers. (The server lets a
    // slot go just after closing the socket, so the first try may still find one taken.)
    let healthz =
        || async { https_client().get(server.url("/healthz")).send().await.map(|response| response.status()) };
    let freed = Instant::now();
    loop {
        let (first, second, third) = tokio::join!(healthz(), healthz(), healthz());
        let statuses = [first, second, third];
        if statuses.iter().all(|status| status.as_ref().is_ok_and(|status| status.as_u16() == 200)) {
            break;
        }
        assert!(freed.elapsed() < Duration::from_secs(2), "the stalled connections' slots stayed taken: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

fn tributary_serve(args: &[&std::ffi::OsStr]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .arg("serve")
        .args(args)
        .env_remove("TRIBUTARY_TLS_CERT")
        .env_remove("TRIBUTARY_TLS_KEY")
        .env("TRIBUTARY_LOG", "warn")
        .stdin(Stdio::null());
    command
}

#[test]
fn serve_refuses_a_certificate_without_its_key_and_names_the_missing_flag() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let cert = tls_test_file("server-chain.pem");
    let key = tls_test_file("server-key.pem");

    let only_cert =
        tributary_serve(&["--data-dir".as_ref(), data_dir.as_os_str(), "--tls-cert".as_ref(), cert.as_os_str()])
            .output()
            .unwrap();
    let stderr = String::from_utf8_lossy(&only_cert.stderr);
    assert!(!only_cert.status.success());
    assert!(stderr.contains("--tls-key"), "{stderr}");

    // The same from the environment.
    let only_key = tributary_serve(&["--data-dir".as_ref(), data_dir.as_os_str()])
        .env("TRIBUTARY_TLS_KEY", &key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&only_key.stderr);
    assert!(!only_key.status.success());
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    assert!(!data_dir.exists(), "no store was opened");
}

#[test]
fn serve_names_a_certificate_file_it_cannot_read_before_opening_the_store() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let missing = temp.path().join("missing-cert.pem");
    let key = tls_test_file("server-key.pem");
    let output = tributary_serve(&[
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--tls-cert".as_ref(),
        missing.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("reading the TLS certificate file `{}`", missing.display())), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!data_dir.exists(), "no store was opened");
}

#[tokio::test]
async fn serve_with_tls_flags_prints_an_https_address_that_answers() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut child =
        tributary_serve(&["--listen".as_ref(), "127.0.0.1:0".as_ref(), "--data-dir".as_ref(), data_dir.as_os_str()])
            .env("TRIBUTARY_TLS_CERT", tls_test_file("server-chain.pem"))
            .env("TRIBUTARY_TLS_KEY", tls_test_file("server-key.pem"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tributary");
    let stdout = child.stdout.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let url = first_line.trim().strip_prefix("tributary listening on ").map(str::to_owned);
    let answer = match &url {
        Some(url) if url.starts_with("https://127.0.0.1:") => {
            let event = run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &["clean"]);
            Some(https_post(&format!("{url}/api/v1/lineage"), &event).await)
        }
        _ => None,
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(url.as_deref().is_some_and(|url| url.starts_with("https://")), "first line `{first_line}`");
    let (status, _, body) = answer.expect("an https address");
    assert_eq!(status, 201, "{body}");
}

/// The CLI's client commands speak gRPC over TLS to an `https://` server, trusting `--ca-cert`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_clients_reach_an_https_server_with_its_ca() {
    let server = start_tls_server_with_limits(ServerLimits::default()).await;
    let domain = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(domain.path(), "kind: Domain\nid: sales\nname: Sales\nowners: [{name: head-of-sales}]\n").unwrap();
    let apply = |ca: Option<PathBuf>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
        command.args(["domain", "apply", "-f"]).arg(domain.path()).args(["--server", &server.base_url]);
        if let Some(ca) = ca {
            command.arg("--ca-cert").arg(ca);
        }
        command.env("TRIBUTARY_LOG", "warn").output().unwrap()
    };
    let untrusted = apply(None);
    assert!(!untrusted.status.success(), "a certificate from an unknown CA must be refused");
    let trusted = apply(Some(tls_test_file("ca.pem")));
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    assert!(String::from_utf8_lossy(&trusted.stdout).contains("domain `sales` applied as version 1"));
    server.shutdown().await;
}
