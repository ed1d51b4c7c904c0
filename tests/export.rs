//! `tributary export`: the NDJSON backup. From a running server (with a token) and from a
//! stopped store it writes the same lines; `import` of them into an empty store answers the
//! same as the original, and so does that store after `compact` and after `reindex`.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{run_event, run_id, start_server_in};

fn tributary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tributary")).args(args).env("TRIBUTARY_LOG", "warn").output().unwrap()
}

const ANSWERS: &str = "{ events(first: 100) { events { sequence event } }
    lineage(start: {kind: DATASET, namespace: \"db\", name: \"raw\"}, depth: 5) { nodes { kind namespace name distance } }
    dataset(namespace: \"db\", name: \"mart\") { facets currentSchema { fields { name type } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_gives_the_same_answers() {
    let temp = tempfile::tempdir().unwrap();
    let (original, restored) = (temp.path().join("original"), temp.path().join("restored"));
    let server = start_server_in(&original).await;
    let mut publish = run_event("COMPLETE", "2024-01-01T01:00:00Z", &run_id(2), "publish", &["clean"], &["mart"]);
    publish["outputs"][0]["facets"] = json!({
        "schema": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                   "fields": [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "decimal(12,2)"}]},
        "custom": {"_producer": "p", "_schemaURL": "https://example.com/custom.json", "nested": {"n": [1, 2, 3]}}});
    let events = [
        run_event("START", "2024-01-01T00:00:00Z", &run_id(1), "load", &["raw"], &[]),
        run_event("COMPLETE", "2024-01-01T00:10:00Z", &run_id(1), "load", &["raw"], &["clean"]),
        publish,
    ];
    for event in &events {
        assert_eq!(server.post_event(event).await.0, 201);
    }
    let before = server.graphql_data(ANSWERS, json!({})).await;
    let create = "mutation { createToken(name: \"backup\", scopes: [\"admin\"]) { token } }";
    let token = server.graphql_data(create, json!({})).await["createToken"]["token"].as_str().unwrap().to_owned();

    // From the running server, with a token.
    let remote_file = temp.path().join("remote.ndjson");
    let remote = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["export", "--server", &server.base_url, "-o"])
        .arg(&remote_file)
        .env("TRIBUTARY_TOKEN", &token)
        .env("TRIBUTARY_LOG", "warn")
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    assert!(String::from_utf8_lossy(&remote.stderr).contains("exported 3 events"));
    let refused = tributary(&["export", "--server", &server.base_url]);
    assert!(!refused.status.success(), "without a token the server refuses");
    server.shutdown().await;

    // From the stopped store: the same lines.
    let local_file = temp.path().join("local.ndjson");
    let local = tributary(&["export", "--data-dir", original.to_str().unwrap(), "-o", local_file.to_str().unwrap()]);
    assert!(local.status.success(), "{}", String::from_utf8_lossy(&local.stderr));
    let (remote_text, local_text) =
        (std::fs::read_to_string(&remote_file).unwrap(), std::fs::read_to_string(&local_file).unwrap());
    assert_eq!(remote_text, local_text);
    assert_eq!(local_text.lines().count(), 3);

    // Import into an empty store: the same answers, sequences included.
    let imported =
        tributary(&["import", "--quiet", "--data-dir", restored.to_str().unwrap(), local_file.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let server = start_server_in(&restored).await;
    let after: Value = server.graphql_data(ANSWERS, json!({})).await;
    assert_eq!(after, before);
    server.shutdown().await;

    // Compacted in place: the same answers; the old store is kept beside it.
    let compacted = tributary(&["compact", "--data-dir", restored.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&compacted.stdout);
    assert!(compacted.status.success(), "{}", String::from_utf8_lossy(&compacted.stderr));
    assert!(said.contains("compacted") && said.contains("the old store is kept in"), "{said}");
    let kept = std::fs::read_dir(temp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("restored.before-compact-"))
        .count();
    assert_eq!(kept, 1);
    let server = start_server_in(&restored).await;
    assert_eq!(server.graphql_data(ANSWERS, json!({})).await, before);
    server.shutdown().await;

    // Reindexed from its event log: every derived record rebuilt, the same answers; verify
    // finds nothing to report, on the reindexed store and on the one it replaced.
    let reindexed = tributary(&["reindex", "--data-dir", restored.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&reindexed.stdout);
    assert!(reindexed.status.success(), "{}", String::from_utf8_lossy(&reindexed.stderr));
    assert!(said.contains("3 events re-applied") && said.contains("the old store is kept in"), "{said}");
    let replaced = std::fs::read_dir(temp.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with("restored.before-reindex-"))
        .expect("the store reindex replaced is kept");
    for dir in [restored.clone(), replaced.path()] {
        let verified = tributary(&["verify", "--data-dir", dir.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&verified.stdout);
        assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
        assert!(said.starts_with("3 events,") && said.contains(" 0 differences"), "{said}");
    }
    let server = start_server_in(&restored).await;
    assert_eq!(server.graphql_data(ANSWERS, json!({})).await, before);
    server.shutdown().await;

    let busy = start_server_in(&restored).await;
    let refused = tributary(&["compact", "--data-dir", restored.to_str().unwrap()]);
    assert!(!refused.status.success(), "a store a server holds is not compacted");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    busy.shutdown().await;
}
