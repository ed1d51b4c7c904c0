//! The harness: start the server in-process on port 0 (or as a child process, for crash
//! tests), and small clients for its three front doors.

#![allow(dead_code)]

pub mod kafka;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tributary_grpc::proto::ingest_client::IngestClient;
use tributary_grpc::proto::lineage_client::LineageClient;
use tributary_server::ServiceConfig;

pub struct TestServer {
    /// `http://127.0.0.1:PORT`: HTTP ingest, GraphQL and gRPC.
    pub base_url: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    service: tributary_server::Service,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

/// A server on a fresh data directory.
pub async fn start_server() -> TestServer {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().to_path_buf();
    let mut server = start_server_in(&dir).await;
    server._temp = Some(temp);
    server
}

/// A server on `dir` (kept after shutdown, for restart tests).
pub async fn start_server_in(dir: &Path) -> TestServer {
    start_server_with(dir, ServiceConfig::default()).await
}

/// A server on `dir` with a given configuration (its data directory is set to `dir`).
pub async fn start_server_with(dir: &Path, config: ServiceConfig) -> TestServer {
    let config = ServiceConfig { data_dir: Some(dir.to_path_buf()), ..config };
    // A server stopped a moment ago in this process may still hold the store's lock until
    // its last connection task (a client still open in the test) lets go of the service.
    let mut attempts = 0;
    let service = loop {
        let config = config.clone();
        let opened = tokio::task::spawn_blocking(move || tributary_server::Service::open(config)).await.unwrap();
        match opened {
            Ok(service) => break service,
            Err(error) if attempts < 100 && error.to_string().contains("in use by another process") => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => panic!("service opens: {error}"),
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = service.clone();
    let task = tokio::spawn(async move {
        tributary_server::run(serving, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    TestServer {
        base_url: format!("http://{addr}"),
        addr,
        data_dir: dir.to_path_buf(),
        service,
        stop: Some(stop),
        task: Some(task),
        _temp: None,
    }
}

impl TestServer {
    pub async fn shutdown(mut self) {
        self.stop_and_close().await;
    }

    /// Stops serving and closes the store, keeping the temporary directory alive.
    pub async fn stop_and_close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let service = self.service.clone();
        tokio::task::spawn_blocking(move || service.close()).await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// POSTs one event; returns the status and the JSON body.
    pub async fn post_event(&self, event: &Value) -> (u16, Value) {
        post_json(&self.url("/api/v1/lineage"), event).await
    }

    /// Runs a GraphQL query; returns the whole response (`data` and `errors`).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = post_json(&self.url("/graphql"), &json!({"query": query, "variables": variables})).await;
        assert_eq!(status, 200, "graphql status, body {body}");
        body
    }

    /// Runs a GraphQL query (status 200); returns the response body as the server wrote it, for
    /// byte-for-byte comparisons.
    pub async fn graphql_text(&self, query: String) -> String {
        let response =
            reqwest::Client::new().post(self.url("/graphql")).json(&json!({"query": query})).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// Runs a GraphQL query that must succeed; returns `data`.
    pub async fn graphql_data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "graphql errors: {body}");
        body["data"].clone()
    }

    pub async fn ingest_client(&self) -> IngestClient<tonic::transport::Channel> {
        IngestClient::connect(self.base_url.clone()).await.expect("grpc connect")
    }

    pub async fn lineage_client(&self) -> LineageClient<tonic::transport::Channel> {
        LineageClient::connect(self.base_url.clone()).await.expect("grpc connect")
    }

    /// How the server's lineage index was made when it opened (snapshot or rebuild).
    pub fn index_origin(&self) -> tributary_server::IndexOrigin {
        self.service.index_origin()
    }

    pub async fn watermark(&self) -> (u64, u64) {
        let data = self.graphql_data("{ watermark { sequence events } }", json!({})).await;
        (data["watermark"]["sequence"].as_u64().unwrap(), data["watermark"]["events"].as_u64().unwrap())
    }
}

pub async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).json(body).send().await.expect("http request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// [`post_json`] with `Authorization: Bearer <token>`.
pub async fn post_json_with_token(url: &str, body: &Value, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).bearer_auth(token).json(body).send().await.expect("http request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Example events shipped with the tests (copied from the OpenLineage repository).
pub fn example_events(folder: &str) -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/events").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.file_name().unwrap().to_string_lossy().into_owned(), serde_json::from_str(&text).unwrap())
        })
        .collect()
}

/// Builds a RunEvent. `inputs`/`outputs` are dataset names in namespace `db`.
pub fn run_event(event_type: &str, time: &str, run_id: &str, job: &str, inputs: &[&str], outputs: &[&str]) -> Value {
    let datasets =
        |names: &[&str]| -> Vec<Value> { names.iter().map(|name| json!({"namespace": "db", "name": name})).collect() };
    json!({
        "eventType": event_type,
        "eventTime": time,
        "producer": "https://example.com/tributary-tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "etl", "name": job},
        "inputs": datasets(inputs),
        "outputs": datasets(outputs),
    })
}

/// A deterministic UUID for run number `n`.
pub fn run_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// The `tributary` binary running as a child process (for crash tests).
pub struct ChildServer {
    pub child: Child,
    pub base_url: String,
}

/// A test that fails (panics) while its server runs must not leave the process behind.
impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn spawn_binary(data_dir: &Path) -> ChildServer {
    spawn_binary_with(data_dir, &[])
}

/// [`spawn_binary`] with more `serve` arguments.
pub fn spawn_binary_with(data_dir: &Path, args: &[&str]) -> ChildServer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("TRIBUTARY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tributary");
    let stdout = child.stdout.take().unwrap();
    let mut first_line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut first_line).unwrap();
    let url = first_line
        .trim()
        .strip_prefix("tributary listening on ")
        .unwrap_or_else(|| panic!("unexpected first line `{first_line}`"))
        .to_owned();
    ChildServer { child, base_url: url }
}

/// Runs `tributary serve --listen LISTEN --data-dir DIR ARGS` expecting it to refuse to start:
/// it must exit unsuccessfully within 30 s. Returns its standard error.
pub fn serve_refused(listen: &str, data_dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("TRIBUTARY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tributary");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("`tributary serve {args:?}` was still running after 30 s; it should have refused to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "`tributary serve {args:?}` started: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A server on a fresh data directory with the given front-door limits (short timeouts, a
/// small connection limit, allowed origins).
pub async fn start_server_with_limits(limits: tributary_server::ServerLimits) -> TestServer {
    start_server_with_config_and_limits(ServiceConfig::default(), limits).await
}

/// A server on a fresh data directory with a given configuration and front-door limits.
pub async fn start_server_with_config_and_limits(
    config: ServiceConfig,
    limits: tributary_server::ServerLimits,
) -> TestServer {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().to_path_buf();
    let config = ServiceConfig { data_dir: Some(dir.clone()), ..config };
    let service = tokio::task::spawn_blocking(move || tributary_server::Service::open(config))
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("service opens: {error}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = service.clone();
    let task = tokio::spawn(async move {
        tributary_server::run_with_limits(
            serving,
            listener,
            async {
                let _ = stopped.await;
            },
            limits,
        )
        .await
        .expect("server runs");
    });
    TestServer {
        base_url: format!("http://{addr}"),
        addr,
        data_dir: dir,
        service,
        stop: Some(stop),
        task: Some(task),
        _temp: Some(temp),
    }
}

/// A file of the TLS test certificates (`tests/data/tls/make-certs.sh` makes them).
pub fn tls_test_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls").join(name)
}

/// The test server certificate (a chain: server, then intermediate) with its key.
pub fn test_tls_config() -> tributary_server::TlsConfig {
    tributary_server::TlsConfig::from_pem_files(&tls_test_file("server-chain.pem"), &tls_test_file("server-key.pem"))
        .expect("the test certificate loads")
}

/// An HTTPS client that trusts the test CA only (one connection per request).
pub fn https_client() -> reqwest::Client {
    let ca = std::fs::read(tls_test_file("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A server on a fresh data directory speaking TLS only, with the test certificate;
/// `base_url` is `https://127.0.0.1:PORT`.
pub async fn start_tls_server_with_limits(limits: tributary_server::ServerLimits) -> TestServer {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().to_path_buf();
    let config = ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() };
    let service = tokio::task::spawn_blocking(move || tributary_server::Service::open(config))
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("service opens: {error}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = service.clone();
    let tls = test_tls_config();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        tributary_server::run_with_tls(serving, listener, shutdown, limits, tls).await.expect("server runs");
    });
    TestServer {
        base_url: format!("https://{addr}"),
        addr,
        data_dir: dir,
        service,
        stop: Some(stop),
        task: Some(task),
        _temp: Some(temp),
    }
}

/// Downstream of `db:raw`, 5 job hops, server-default limit.
pub fn downstream_of_raw(omit_edges: bool, datasets_only: bool) -> tributary_grpc::proto::LineageRequest {
    tributary_grpc::proto::LineageRequest {
        start: Some(tributary_grpc::proto::NodeRef {
            kind: tributary_grpc::proto::NodeKind::Dataset as i32,
            namespace: "db".into(),
            name: "raw".into(),
        }),
        direction: tributary_grpc::proto::Direction::Downstream as i32,
        depth: 5,
        limit: 0,
        omit_edges,
        datasets_only,
        node_table: false,
        edge_table: false,
    }
}

/// A `lineageTable` answer (namespaces, node lists, and edge lists when selected) as
/// `lineage` gives it: the node objects `{kind, namespace, name, distance}` and the edge
/// objects `{from, to, kind}` with their ends' `{kind, namespace, name}`.
pub fn lineage_from_table(table: &Value) -> (Vec<Value>, Vec<Value>) {
    let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
    let namespaces = list(&table["namespaces"]);
    let nodes: Vec<Value> = (0..list(&table["nodeNames"]).len())
        .map(|at| {
            let namespace = table["nodeNamespaces"][at].as_u64().unwrap() as usize;
            serde_json::json!({"kind": table["nodeKinds"][at], "namespace": namespaces[namespace],
                   "name": table["nodeNames"][at], "distance": table["nodeDistances"][at]})
        })
        .collect();
    let node = |at: &Value| {
        let node = &nodes[at.as_u64().unwrap() as usize];
        serde_json::json!({"kind": node["kind"], "namespace": node["namespace"], "name": node["name"]})
    };
    assert_eq!(list(&table["edgeFrom"]).len(), list(&table["edgeTo"]).len(), "{table}");
    let edges: Vec<Value> = (0..list(&table["edgeFrom"]).len())
        .map(|at| serde_json::json!({"from": node(&table["edgeFrom"][at]), "to": node(&table["edgeTo"][at]), "kind": table["edgeKinds"][at]}))
        .collect();
    (nodes, edges)
}
