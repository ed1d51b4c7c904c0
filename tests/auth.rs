//! Authentication and authorization end to end: tokens made over GraphQL, gRPC and the CLI,
//! each front door refusing what a token's grant does not cover (and storing nothing of
//! it), domain-scoped applies, revocation taking effect on the next call, the audit trail
//! after all of it, and a non-loopback bind without authentication refusing to start.

use serde_json::{Value, json};
use tonic::metadata::MetadataValue;
use tributary_grpc::proto;

use crate::mesh::{APPLY_DOMAIN, APPLY_PRODUCT, read};
use crate::support::{TestServer, run_event, run_id, serve_refused, start_server};

const CREATE_TOKEN: &str = "mutation($name: String!, $scopes: [String!]!) {
    createToken(name: $name, scopes: $scopes) { token details { id name scopes createdBy } } }";

/// POSTs JSON with an optional bearer token; status, `WWW-Authenticate` and the JSON body.
async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("http request");
    let status = response.status().as_u16();
    let challenge =
        response.headers().get("www-authenticate").map(|value| value.to_str().unwrap_or_default().to_owned());
    let text = response.text().await.unwrap();
    (status, challenge, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn graphql(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let (status, _, body) =
        post(&server.url("/graphql"), token, &json!({"query": query, "variables": variables})).await;
    (status, body)
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn create_token(server: &TestServer, admin: Option<&str>, name: &str, scopes: &[&str]) -> (String, String) {
    let (status, body) = graphql(server, admin, CREATE_TOKEN, json!({"name": name, "scopes": scopes})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "createToken {name}: {body}");
    let created = &body["data"]["createToken"];
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trb_"), "{token}");
    assert_eq!(created["details"]["name"], name);
    (token, created["details"]["id"].as_str().unwrap().to_owned())
}

fn sales_event(n: u32, output_namespace: &str) -> Value {
    let mut event = run_event("COMPLETE", "2024-05-01T10:00:00Z", &run_id(n), "load_orders", &[], &[]);
    event["job"]["namespace"] = "airflow-sales".into();
    event["inputs"] = json!([{"namespace": "payments-db", "name": "charges"}]);
    event["outputs"] = json!([{"namespace": output_namespace, "name": format!("orders_{n}")}]);
    event
}

fn grpc_request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn dataset_exists(server: &TestServer, admin: &str, namespace: &str, name: &str) -> bool {
    let (_, body) = graphql(
        server,
        Some(admin),
        "query($ns: String!, $n: String!) { dataset(namespace: $ns, name: $n) { name } }",
        json!({"ns": namespace, "n": name}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    !body["data"]["dataset"].is_null()
}

#[tokio::test]
async fn tokens_scope_every_front_door_and_the_audit_trail_names_every_writer() {
    let server = start_server().await;

    // Open on loopback until the first token exists: no header needed, a header ignored.
    let (status, _, _) = post(&server.url("/api/v1/lineage"), None, &sales_event(1, "sales-db")).await;
    assert_eq!(status, 201);
    let (token_status, _, _) =
        post(&server.url("/api/v1/lineage"), Some("anything"), &sales_event(2, "sales-db")).await;
    assert_eq!(token_status, 201, "a server without tokens ignores a client's token");

    // The first admin token, made by the open server's anonymous caller: from now on every
    // request needs a token.
    let (admin, admin_id) = create_token(&server, None, "platform-admin", &["admin"]).await;
    let (status, challenge, body) = post(&server.url("/api/v1/lineage"), None, &sales_event(3, "sales-db")).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.is_some_and(|value| value.starts_with("Bearer")), "401 names the scheme");
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    let (status, _, body) =
        post(&server.url("/api/v1/lineage"), Some("trb_0123456789abcdef_00"), &sales_event(3, "sales-db")).await;
    assert_eq!(status, 401, "a malformed token: {body}");
    let forged = format!("trb_{admin_id}_{}", "0".repeat(64));
    let (status, _, body) = post(&server.url("/api/v1/lineage"), Some(&forged), &sales_event(3, "sales-db")).await;
    assert_eq!(status, 401, "a known id with the wrong secret: {body}");
    assert!(!body.to_string().contains(&admin[20..]), "errors never echo a secret");

    let (ingest, ingest_id) =
        create_token(&server, Some(&admin), "airflow-sales", &["ingest@jobs=airflow-sales;datasets=sales-db"]).await;
    let (reader, _) = create_token(&server, Some(&admin), "analyst", &["read"]).await;
    let (sales_domain, _) = create_token(&server, Some(&admin), "sales-ci", &["domain:sales", "read"]).await;

    // HTTP ingest: within the grant (inputs may be anywhere) accepted; an output outside it
    // refused with 403 naming the missing scope, and nothing stored.
    let (status, _, body) = post(&server.url("/api/v1/lineage"), Some(&ingest), &sales_event(4, "sales-db")).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = post(&server.url("/api/v1/lineage"), Some(&ingest), &sales_event(5, "finance-db")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "PERMISSION_DENIED");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("missing scope `ingest@jobs=airflow-sales;datasets=finance-db`"), "{message}");
    assert!(!dataset_exists(&server, &admin, "finance-db", "orders_5").await, "a refused event stores nothing");
    // A job namespace outside the grant; an alias declared into another namespace.
    let mut other_job = sales_event(6, "sales-db");
    other_job["job"]["namespace"] = "airflow-finance".into();
    assert_eq!(post(&server.url("/api/v1/lineage"), Some(&ingest), &other_job).await.0, 403);
    let mut alias = sales_event(7, "sales-db");
    alias["outputs"][0]["facets"] = json!({"symlinks": {"_producer": "p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json",
        "identifiers": [{"namespace": "finance-db", "name": "ledger", "type": "TABLE"}]}});
    assert_eq!(
        post(&server.url("/api/v1/lineage"), Some(&ingest), &alias).await.0,
        403,
        "an alias writes its namespace"
    );
    // A read token cannot write at all.
    assert_eq!(post(&server.url("/api/v1/lineage"), Some(&reader), &sales_event(8, "sales-db")).await.0, 403);
    assert!(!dataset_exists(&server, &admin, "sales-db", "orders_8").await);

    // gRPC: the same decisions from the `authorization` metadata.
    let mut grpc = proto::ingest_client::IngestClient::connect(server.base_url.clone()).await.unwrap();
    let event_json = |n: u32, namespace: &str| sales_event(n, namespace).to_string();
    let no_token = grpc
        .ingest_event(grpc_request(proto::IngestEventRequest { event_json: event_json(9, "sales-db") }, None))
        .await
        .unwrap_err();
    assert_eq!(no_token.code(), tonic::Code::Unauthenticated, "{no_token:?}");
    let outside = grpc
        .ingest_event(grpc_request(proto::IngestEventRequest { event_json: event_json(10, "hr-db") }, Some(&ingest)))
        .await
        .unwrap_err();
    assert_eq!(outside.code(), tonic::Code::PermissionDenied, "{outside:?}");
    assert!(outside.message().contains("datasets=hr-db"), "{}", outside.message());
    grpc.ingest_event(grpc_request(
        proto::IngestEventRequest { event_json: event_json(11, "sales-db") },
        Some(&ingest),
    ))
    .await
    .expect("within the grant over gRPC");
    let mut lineage = proto::lineage_client::LineageClient::connect(server.base_url.clone()).await.unwrap();
    let anonymous_read = lineage
        .get_dataset(grpc_request(
            proto::GetDatasetRequest { namespace: "sales-db".into(), name: "orders_4".into() },
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(anonymous_read.code(), tonic::Code::Unauthenticated);
    lineage
        .get_dataset(grpc_request(
            proto::GetDatasetRequest { namespace: "sales-db".into(), name: "orders_4".into() },
            Some(&reader),
        ))
        .await
        .expect("a read token reads over gRPC");

    // GraphQL: read with `read`; without a token UNAUTHENTICATED; admin work FORBIDDEN.
    let (_, body) = graphql(&server, None, "{ watermark { sequence } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "even the watermark needs a token: {body}");
    let (_, body) = graphql(&server, None, "{ datasets { nodes { name } } }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let (_, body) = graphql(&server, Some(&reader), "{ datasets { nodes { name } } }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body) = graphql(&server, Some(&reader), CREATE_TOKEN, json!({"name": "x", "scopes": ["admin"]})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("missing scope `admin`"), "{body}");
    let (status, body) = graphql(&server, Some("trb_garbage"), "{ datasets { nodes { name } } }", json!({})).await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"), "{body}");

    // Domains and products: a domain token applies its own, not another domain's.
    for domain in ["domain-sales.yaml", "domain-finance.yaml"] {
        let (_, body) = graphql(&server, Some(&admin), APPLY_DOMAIN, json!({"d": read(domain)})).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let (_, body) =
        graphql(&server, Some(&sales_domain), APPLY_PRODUCT, json!({"d": read("product-orders.yaml")})).await;
    assert!(body.get("errors").is_none(), "own domain's product: {body}");
    let (_, body) =
        graphql(&server, Some(&sales_domain), APPLY_PRODUCT, json!({"d": read("product-ledger.yaml")})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("domain:finance"), "{body}");
    let moved = read("product-orders.yaml").replace("domain: sales", "domain: finance");
    let (_, body) = graphql(&server, Some(&sales_domain), APPLY_PRODUCT, json!({"d": moved})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "moving a product out of the grant: {body}");
    let (_, body) =
        graphql(&server, Some(&sales_domain), APPLY_DOMAIN, json!({"d": read("domain-finance.yaml")})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let mut mesh = proto::mesh_client::MeshClient::connect(server.base_url.clone()).await.unwrap();
    let refused = mesh
        .apply_product(grpc_request(proto::ApplyRequest { descriptor: read("product-ledger.yaml") }, Some(&ingest)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let (_, body) = graphql(&server, Some(&reader), "{ product(id: \"finance.ledger\") { id } }", json!({})).await;
    assert!(body["data"]["product"].is_null(), "refused applies stored nothing: {body}");

    // Revocation takes effect on the next call, on every front door.
    let mut admin_grpc = proto::admin_client::AdminClient::connect(server.base_url.clone()).await.unwrap();
    let revoked = admin_grpc
        .revoke_token(grpc_request(proto::RevokeTokenRequest { id: ingest_id.clone() }, Some(&admin)))
        .await
        .unwrap()
        .into_inner();
    assert!(!revoked.revoked_at.is_empty());
    let (status, _, body) = post(&server.url("/api/v1/lineage"), Some(&ingest), &sales_event(12, "sales-db")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"), "{body}");
    let after_revoke = grpc
        .ingest_event(grpc_request(proto::IngestEventRequest { event_json: event_json(13, "sales-db") }, Some(&ingest)))
        .await
        .unwrap_err();
    assert_eq!(after_revoke.code(), tonic::Code::Unauthenticated);
    let listed = admin_grpc.list_tokens(grpc_request(proto::ListTokensRequest {}, Some(&admin))).await.unwrap();
    let listed = listed.into_inner().tokens;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().any(|token| token.id == ingest_id && !token.revoked_at.is_empty()));
    assert!(listed.iter().all(|token| !format!("{token:?}").contains("trb_")), "no secret is ever listed");

    // The audit trail: every write attributed, refusals with their reasons, filterable.
    let audit = |actor: &str, kinds: &[&str]| json!({"actor": actor, "kinds": kinds});
    let query = "query($actor: String, $kinds: [String!], $first: Int, $after: String) {
        auditLog(actor: $actor, kinds: $kinds, first: $first, after: $after) {
          entries { actorKind tokenId actorName kind subject sequence version details } nextCursor } }";
    let (_, body) = graphql(&server, Some(&admin), query, audit(&ingest_id, &["EVENT_STORED"])).await;
    let entries = body["data"]["auditLog"]["entries"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entries.len(), 2, "the ingest token stored two events: {body}");
    assert!(entries.iter().all(|entry| entry["actorKind"] == "TOKEN" && entry["actorName"] == "airflow-sales"));
    assert!(entries.iter().all(|entry| entry["sequence"].as_u64().is_some()));
    let (_, body) = graphql(&server, Some(&admin), query, json!({"actor": "anonymous"})).await;
    let anonymous = body["data"]["auditLog"]["entries"].as_array().unwrap();
    assert!(anonymous.iter().any(|e| e["kind"] == "TOKEN_CREATED" && e["actorKind"] == "OPEN"), "{body}");
    assert_eq!(anonymous.iter().filter(|e| e["kind"] == "EVENT_STORED").count(), 2, "{body}");
    let (_, body) = graphql(&server, Some(&admin), query, json!({"kinds": ["APPLY_REJECTED"]})).await;
    let rejected = body["data"]["auditLog"]["entries"].as_array().unwrap();
    assert_eq!(rejected.len(), 4, "four refused applies: {body}");
    assert!(rejected.iter().all(|e| e["details"][0].as_str().unwrap().contains("missing scope")), "{body}");
    let (_, body) = graphql(&server, Some(&admin), query, json!({"kinds": ["DESCRIPTOR_APPLIED"]})).await;
    let applied = body["data"]["auditLog"]["entries"].as_array().unwrap();
    assert!(applied.iter().any(|e| e["subject"] == "product sales.orders" && e["actorName"] == "sales-ci"), "{body}");
    let (_, body) = graphql(&server, Some(&admin), query, json!({"kinds": ["TOKEN_REVOKED"]})).await;
    assert_eq!(body["data"]["auditLog"]["entries"][0]["actorName"], "platform-admin", "{body}");
    // Paging: one entry a page walks the whole trail, newest first, without repeats.
    let (_, body) = graphql(&server, Some(&admin), query, json!({"first": 1000})).await;
    let everything = body["data"]["auditLog"]["entries"].as_array().unwrap().len();
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let (_, body) = graphql(&server, Some(&admin), query, json!({"first": 3, "after": after})).await;
        let page = &body["data"]["auditLog"];
        seen += page["entries"].as_array().unwrap_or_else(|| panic!("{body}")).len();
        match page["nextCursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, everything);
    // Only admins read the trail.
    let (_, body) = graphql(&server, Some(&reader), query, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let denied =
        admin_grpc.list_audit(grpc_request(proto::ListAuditRequest::default(), Some(&sales_domain))).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let over_grpc = admin_grpc
        .list_audit(grpc_request(
            proto::ListAuditRequest { kinds: vec!["TOKEN_CREATED".into()], ..Default::default() },
            Some(&admin),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(over_grpc.entries.len(), 4);
    let bad_kind = admin_grpc
        .list_audit(grpc_request(
            proto::ListAuditRequest { kinds: vec!["NOPE".into()], ..Default::default() },
            Some(&admin),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_kind.code(), tonic::Code::InvalidArgument);

    // Probes stay open.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    server.shutdown().await;
}

// The CLI runs as a child process while the server serves: a runtime of its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_and_the_cli_manages_them() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("store");
    // Bootstrap on a store no server holds, as docs/auth.md says.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["token", "create", "--name", "bootstrap-admin", "--scope", "admin", "--data-dir"])
        .arg(&dir)
        .env("TRIBUTARY_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let admin = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(admin.starts_with("trb_"), "{admin}");

    let server = crate::support::start_server_in(&dir).await;
    let (status, _, _) = post(&server.url("/api/v1/lineage"), None, &sales_event(1, "sales-db")).await;
    assert_eq!(status, 401, "a store with tokens requires one from the start");
    let cli = |args: &[&str], token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(args)
            .args(["--server", &server.base_url])
            .env("TRIBUTARY_TOKEN", token)
            .env("TRIBUTARY_LOG", "warn")
            .output()
            .unwrap()
    };
    let made = cli(&["token", "create", "--name", "dbt-ci", "--scope", "ingest@jobs=dbt*"], &admin);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let dbt = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let listed = cli(&["token", "list"], &admin);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("bootstrap-admin") && listed.contains("dbt-ci"), "{listed}");
    assert!(!listed.contains("trb_"), "no secrets listed: {listed}");
    let refused = cli(&["token", "list"], &dbt);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("admin"), "{}", String::from_utf8_lossy(&refused.stderr));
    let bad_scope = cli(&["token", "create", "--name", "x", "--scope", "superuser"], &admin);
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope `superuser`"));
    let mut event = sales_event(2, "warehouse");
    event["job"]["namespace"] = "dbt-prod".into();
    assert_eq!(post(&server.url("/api/v1/lineage"), Some(&dbt), &event).await.0, 201);
    let id = dbt.split('_').nth(1).unwrap().to_owned();
    let revoked = cli(&["token", "revoke", &id], &admin);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    event["run"]["runId"] = run_id(3).into();
    assert_eq!(post(&server.url("/api/v1/lineage"), Some(&dbt), &event).await.0, 401);
    server.shutdown().await;

    // After a restart: the tokens, the revocation and the audit trail are still there.
    let server = crate::support::start_server_in(&dir).await;
    assert_eq!(post(&server.url("/api/v1/lineage"), Some(&dbt), &event).await.0, 401);
    let (_, body) = graphql(
        &server,
        Some(&admin),
        "{ auditLog(kinds: [\"EVENT_STORED\", \"TOKEN_REVOKED\"]) { entries { kind actorName actorKind } } }",
        json!({}),
    )
    .await;
    let entries = body["data"]["auditLog"]["entries"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entries.len(), 2, "{body}");
    assert_eq!(entries[0]["kind"], "TOKEN_REVOKED");
    assert_eq!(entries[1]["actorName"], "dbt-ci");
    let (_, body) =
        graphql(&server, Some(&admin), "{ auditLog(kinds: [\"TOKEN_CREATED\"]) { entries { actorKind } } }", json!({}))
            .await;
    assert_eq!(body["data"]["auditLog"]["entries"][1]["actorKind"], "LOCAL", "the bootstrap was local: {body}");
    server.shutdown().await;
}

#[test]
fn a_non_loopback_bind_without_authentication_refuses_to_start() {
    let temp = tempfile::tempdir().unwrap();
    let stderr = serve_refused("0.0.0.0:0", temp.path(), &[]);
    assert!(stderr.contains("refusing to serve 0.0.0.0:0 without authentication"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

/// A restricted product: its datasets appear redacted (same count, same groups) to readers
/// without its domain, and whole to its domain's readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_products_are_redacted_for_outsiders_and_whole_for_their_domain() {
    let server = start_server().await;
    // Open while setting up: the mesh and the lineage, then tokens.
    for file in ["domain-sales.yaml", "domain-marketing.yaml", "domain-finance.yaml"] {
        let (_, body) = graphql(&server, None, APPLY_DOMAIN, json!({"d": read(file)})).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let restricted = read("product-ledger.yaml").replace("classification: confidential", "classification: restricted");
    for descriptor in [read("product-orders.yaml"), restricted] {
        let (_, body) = graphql(&server, None, APPLY_PRODUCT, json!({"d": descriptor})).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    crate::mesh::ingest_lineage(&server).await;
    // No domain takes over another's namespace or datasets.
    let rogue = "kind: Domain\nid: rogue\nname: Rogue\nowners: [{name: mallory}]\nnamespaces: [fin-db]\n";
    let (_, body) = graphql(&server, None, APPLY_DOMAIN, json!({"d": rogue})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "namespaces[0]", "{body}");
    let grab = read("product-orders.yaml")
        .replace("  - {namespace: sales-db, name: orders_raw}", "  - {namespace: fin-db, name: ledger}");
    let (_, body) = graphql(&server, None, APPLY_PRODUCT, json!({"d": grab})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("belongs to product `finance.ledger`"), "{body}");
    let (admin, _) = create_token(&server, None, "admin", &["admin"]).await;
    let (outsider, _) = create_token(&server, Some(&admin), "sales-reader", &["read", "domain:sales"]).await;
    let (insider, _) = create_token(&server, Some(&admin), "finance-reader", &["read", "domain:finance"]).await;

    let lineage = "{ impact(start: {kind: DATASET, namespace: \"sales-db\", name: \"orders\"}) {
        lineage { nodes { kind namespace name distance } edges { from { namespace name } to { namespace name } } }
        groups { product domain datasetCount datasets { namespace name } owners { name source } } } }";
    let (_, whole) = graphql(&server, Some(&insider), lineage, json!({})).await;
    let (_, redacted) = graphql(&server, Some(&outsider), lineage, json!({})).await;
    assert!(whole.get("errors").is_none() && redacted.get("errors").is_none(), "{whole} {redacted}");
    let names = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["data"]["impact"]["lineage"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| format!("{}:{}", node["namespace"].as_str().unwrap(), node["name"].as_str().unwrap()))
            .collect();
        names.sort();
        names
    };
    let (whole_names, redacted_names) = (names(&whole), names(&redacted));
    assert!(whole_names.contains(&"fin-db:ledger".to_owned()), "{whole_names:?}");
    assert_eq!(whole_names.len(), redacted_names.len(), "counts stay honest");
    assert!(!redacted.to_string().contains(r#""name":"ledger""#), "the outsider never sees the name: {redacted}");
    let shown = redacted_names.iter().find(|name| name.starts_with("redacted:finance:")).expect("a redacted node");
    assert!(shown.starts_with("redacted:finance:finance.ledger#"), "{shown}");
    let group = |body: &Value| -> Value {
        body["data"]["impact"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["product"] == "finance.ledger")
            .cloned()
            .unwrap()
    };
    assert_eq!(group(&redacted)["datasetCount"], group(&whole)["datasetCount"], "groups stay honest");
    assert_eq!(group(&redacted)["owners"], group(&whole)["owners"].clone(), "who must act is still told");
    // The redacted id is stable: the same in a second answer.
    let (_, again) = graphql(&server, Some(&outsider), lineage, json!({})).await;
    assert_eq!(names(&again), redacted_names);
    // Over gRPC, unary and streamed, the same redaction (each path names nodes its own way).
    let mut client = server.lineage_client().await;
    for (token, hidden) in [(&outsider, true), (&insider, false)] {
        let ask = || {
            grpc_request(
                proto::LineageRequest {
                    start: Some(proto::NodeRef {
                        kind: proto::NodeKind::Dataset as i32,
                        namespace: "sales-db".into(),
                        name: "orders".into(),
                    }),
                    direction: proto::Direction::Downstream as i32,
                    ..Default::default()
                },
                Some(token.as_str()),
            )
        };
        let whole = client.get_lineage(ask()).await.unwrap().into_inner();
        let mut chunks = client.stream_lineage(ask()).await.unwrap().into_inner();
        let mut streamed = proto::LineageResponse::default();
        while let Some(chunk) = chunks.message().await.unwrap() {
            streamed.nodes.extend(chunk.nodes);
            streamed.edges.extend(chunk.edges);
            streamed.truncated = chunk.truncated;
            streamed.watermark = chunk.watermark;
        }
        assert_eq!(streamed, whole);
        // Nodes in columns: the same nodes, redacted alike.
        let mut in_columns = ask();
        in_columns.get_mut().node_table = true;
        let table = client.get_lineage(in_columns).await.unwrap().into_inner();
        assert_eq!(table.node_table.as_ref().and_then(proto::LineageNodeTable::to_nodes), Some(whole.nodes.clone()));
        let mut shown: Vec<String> = whole
            .nodes
            .iter()
            .filter_map(|node| node.node.as_ref())
            .filter(|node| node.kind == proto::NodeKind::Dataset as i32)
            .map(|node| format!("{}:{}", node.namespace, node.name))
            .collect();
        shown.sort();
        let redacted_node = redacted_names.iter().find(|name| name.starts_with("redacted:finance:")).unwrap();
        if hidden {
            assert!(shown.contains(redacted_node), "the same redaction as GraphQL's: {shown:?}");
            assert!(!shown.contains(&"fin-db:ledger".to_owned()), "{shown:?}");
            let edge_names = whole.edges.iter().flat_map(|edge| [&edge.from, &edge.to]).flatten();
            assert!(edge_names.clone().all(|node| node.name != "ledger"), "{whole:?}");
            assert!(edge_names.clone().any(|node| node.namespace == "redacted:finance"), "{whole:?}");
        } else {
            assert!(shown.contains(&"fin-db:ledger".to_owned()) && !shown.contains(redacted_node), "{shown:?}");
        }
    }

    // `lineageTable` with edges: the same redacted answer as `lineage`, for either token (a
    // redacted name is made for each mention, and edges still find their ends).
    let start = r#"start: {kind: DATASET, namespace: "sales-db", name: "orders"}"#;
    let objects = format!(
        "{{ lineage({start}) {{ nodes {{ kind namespace name distance }} edges {{ from {{ kind namespace name }} to {{ kind namespace name }} kind }} }} }}"
    );
    let columns = format!(
        "{{ lineageTable({start}) {{ namespaces nodeNamespaces nodeNames nodeKinds nodeDistances edgeFrom edgeTo edgeKinds }} }}"
    );
    for token in [&outsider, &insider] {
        let (_, lineage) = graphql(&server, Some(token), &objects, json!({})).await;
        let (_, table) = graphql(&server, Some(token), &columns, json!({})).await;
        assert!(lineage.get("errors").is_none() && table.get("errors").is_none(), "{lineage} {table}");
        let (nodes, edges) = crate::support::lineage_from_table(&table["data"]["lineageTable"]);
        assert_eq!(Value::from(nodes), lineage["data"]["lineage"]["nodes"]);
        assert_eq!(Value::from(edges.clone()), lineage["data"]["lineage"]["edges"]);
        let redacted = edges.iter().any(|edge| edge["to"]["namespace"] == "redacted:finance");
        assert_eq!(redacted, token == &outsider, "{edges:?}");
    }

    // Asking for it by name is refused, naming the scope; the insider gets it.
    let dataset = "{ dataset(namespace: \"fin-db\", name: \"ledger\") { name facets } }";
    let (_, body) = graphql(&server, Some(&outsider), dataset, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("domain:finance"), "{body}");
    let (_, body) = graphql(&server, Some(&insider), dataset, json!({})).await;
    assert_eq!(body["data"]["dataset"]["name"], "ledger", "{body}");
    let columns = "{ columnLineage(dataset: {namespace: \"fin-db\", name: \"ledger\"}, field: \"revenue\", direction: UPSTREAM) { truncated } }";
    let (_, body) = graphql(&server, Some(&outsider), columns, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    // Column lineage from a visible column reaches the hidden one redacted.
    let from_orders = "{ columnLineage(dataset: {namespace: \"sales-db\", name: \"orders\"}, field: \"amount\") {
        columns { column { namespace name field } path { namespace name field } } } }";
    let (_, body) = graphql(&server, Some(&outsider), from_orders, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(!body.to_string().contains(r#""name":"ledger""#), "{body}");
    assert!(body.to_string().contains("redacted:finance"), "{body}");
    // Search, listings, events and product descriptors leave it out or redact it.
    let (_, body) = graphql(
        &server,
        Some(&outsider),
        "{ search(text: \"ledger\", kinds: [DATASET]) { results { kind } } }",
        json!({}),
    )
    .await;
    let hits = body["data"]["search"]["results"].as_array().map_or(usize::MAX, Vec::len);
    assert_eq!(hits, 0, "{body}");
    let (_, body) =
        graphql(&server, Some(&outsider), "{ datasets(namespace: \"fin-db\") { nodes { name } } }", json!({})).await;
    assert_eq!(body["data"]["datasets"]["nodes"], json!([]), "{body}");
    let (_, body) =
        graphql(&server, Some(&outsider), "{ events(first: 100) { events { sequence } } }", json!({})).await;
    let (_, all) = graphql(&server, Some(&insider), "{ events(first: 100) { events { sequence } } }", json!({})).await;
    let count = |body: &Value| body["data"]["events"]["events"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&body) + 1, count(&all), "the ledger's event is left out: {body} {all}");
    let (_, body) =
        graphql(&server, Some(&outsider), "{ products { id outputPorts { dataset { namespace name } } } }", json!({}))
            .await;
    assert!(!body.to_string().contains("fin-db"), "{body}");
    let (_, body) =
        graphql(&server, Some(&insider), "{ products { id outputPorts { dataset { namespace name } } } }", json!({}))
            .await;
    assert!(body.to_string().contains(r#""name":"ledger""#), "{body}");
    server.shutdown().await;
}

/// Turns for walks go round the callers: while one token has dozens of lineage walks waiting
/// for the only turn, another token's walk is answered after a few of them, not after all
/// (arrival order would put it behind every one). And one token cannot fill the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tokens_flood_of_walks_does_not_queue_another_tokens_walk_behind_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let temp = tempfile::tempdir().expect("temp dir");
    let config = tributary_server::ServiceConfig { max_traversals: 1, ..Default::default() };
    let server = crate::support::start_server_with(temp.path(), config).await;
    // A wide fan, so that each walk's answer takes a while to make.
    let outputs: Vec<String> = (0..1_500).map(|n| format!("fan_{n:04}")).collect();
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let (status, body) =
        server.post_event(&run_event("COMPLETE", "2024-05-01T10:00:00Z", &run_id(1), "fan", &["raw"], &outputs)).await;
    assert_eq!(status, 201, "{body}");
    let (admin, _) = create_token(&server, None, "platform-admin", &["admin"]).await;
    let (flooder, _) = create_token(&server, Some(&admin), "flooding-bot", &["read"]).await;
    let (analyst, _) = create_token(&server, Some(&admin), "analyst", &["read"]).await;
    let walk = json!({"query": r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "raw"}) { nodes { kind namespace name distance } } }"#});
    let waiting = || async {
        let request = reqwest::Client::new().get(server.url("/metrics")).bearer_auth(&admin);
        let text = request.send().await.unwrap().text().await.unwrap();
        let line = text.lines().find(|line| line.starts_with("tributary_traversals_waiting ")).expect("the gauge");
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as usize
    };

    let flood = 60;
    let done = Arc::new(AtomicUsize::new(0));
    let mut walks = Vec::new();
    for _ in 0..flood {
        let (url, token, body, done) = (server.url("/graphql"), flooder.clone(), walk.clone(), Arc::clone(&done));
        walks.push(tokio::spawn(async move {
            let (status, _, answer) = post(&url, Some(&token), &body).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["data"]["lineage"]["nodes"].as_array().map(Vec::len), Some(1 + 1 + 1_500), "{answer}");
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while waiting().await < flood / 2 {
        assert!(std::time::Instant::now() < deadline, "the flood never queued ({} done)", done.load(Ordering::SeqCst));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let done_when_asked = done.load(Ordering::SeqCst);
    let small = json!({"query": r#"{ lineage(start: {kind: DATASET, namespace: "db", name: "fan_0000"}, direction: UPSTREAM) { nodes { name } } }"#});
    let (status, _, answer) = post(&server.url("/graphql"), Some(&analyst), &small).await;
    let done_when_answered = done.load(Ordering::SeqCst);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["lineage"]["nodes"].as_array().map(Vec::len), Some(3), "{answer}");
    // The walk running when it asked and the flood's next turn, and the answers of walks
    // whose turn had ended being written and read meanwhile (a turn covers the walk, not the
    // writing; 2-8 here). In arrival order it would wait for the 30 or more queued before it.
    assert!(
        done_when_answered <= done_when_asked + 12,
        "the analyst's walk waited for {} of the flood's",
        done_when_answered - done_when_asked
    );
    for walk in walks {
        walk.await.expect("every walk of the flood is answered too");
    }

    // Past 64 waiting per turn of its own, a token's walks are refused as unavailable (sent
    // in bursts until one is: how many queue at once depends on the machine); another token's
    // walk asked meanwhile is queued and answered.
    let mut refused = None;
    for _ in 0..8 {
        let burst: Vec<_> = (0..4 * tributary_server::MAX_WAITING_PER_TOKEN_PER_RUNNING)
            .map(|_| {
                let (url, token, body) = (server.url("/graphql"), flooder.clone(), walk.clone());
                tokio::spawn(async move { post(&url, Some(&token), &body).await })
            })
            .collect();
        while waiting().await < tributary_server::MAX_WAITING_PER_TOKEN_PER_RUNNING / 2
            && !burst.iter().all(|walk| walk.is_finished())
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (status, _, answer) = post(&server.url("/graphql"), Some(&analyst), &walk).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.get("errors").is_none(), "the analyst is not refused: {answer}");
        for walk in burst {
            let (status, _, answer) = walk.await.expect("answered");
            assert_eq!(status, 200, "{answer}");
            if answer["errors"].is_array() {
                refused = Some(answer);
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("a burst past the token's bound is refused");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("of this token's"), "{refused}");
    server.shutdown().await;
}
