//! Disk full: the real binary on a small tmpfs. Writes are refused with 503 `UNAVAILABLE`
//! naming the problem, `/healthz` says why, reads still answer, and after freeing space and
//! restarting (sled keeps a failed flush's error until reopened) every acknowledged event is
//! there and ingest works again.
//!
//! An admin's compaction is refused there too: its copy would take the space ingest needs.
//!
//! Needs `mount -t tmpfs` (root or CAP_SYS_ADMIN on Linux); elsewhere it says why and skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{ChildServer, run_event, run_id, serve_refused, spawn_binary};

/// Small enough to fill in a moment, big enough for sled's first segments.
const TMPFS_SIZE: &str = "24m";
/// Events acknowledged before the disk is filled.
const EVENTS_BEFORE: u32 = 30;
/// Concurrent clients posting once the disk is full (so a refused group can hold several).
const CLIENTS: u32 = 4;
/// Attempts per client before giving up on ever seeing a refusal.
const MAX_ATTEMPTS: u32 = 200;

/// A tmpfs mounted on a temporary directory and the server using it. On drop (also on
/// panic): kill the server first, then unmount, then remove the directory.
struct SmallDisk {
    mount_point: PathBuf,
    server: Option<ChildServer>,
    _temp: tempfile::TempDir,
}

impl SmallDisk {
    /// `Err(reason)` when this machine cannot mount a tmpfs here.
    fn mount() -> Result<Self, String> {
        if !cfg!(target_os = "linux") {
            return Err("tmpfs mounts need Linux".into());
        }
        let temp = tempfile::tempdir().map_err(|error| format!("temp dir: {error}"))?;
        let mount_point = temp.path().join("disk");
        std::fs::create_dir(&mount_point).map_err(|error| format!("mount point: {error}"))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(&mount_point)
            .output()
            .map_err(|error| format!("cannot run `mount`: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "`mount -t tmpfs` failed ({}): {} (needs root or CAP_SYS_ADMIN)",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { mount_point, server: None, _temp: temp })
    }

    fn data_dir(&self) -> PathBuf {
        self.mount_point.join("data")
    }

    fn filler(&self) -> PathBuf {
        self.mount_point.join("filler")
    }

    fn start(&mut self) -> String {
        let server = spawn_binary(&self.data_dir());
        let url = server.base_url.clone();
        self.server = Some(server);
        url
    }

    /// `kill -9` and reap.
    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        self.kill();
        let unmounted = Command::new("umount").arg(&self.mount_point).status().is_ok_and(|status| status.success());
        if !unmounted {
            // Busy (should not happen once the server is dead): detach it at least.
            let _ = Command::new("umount").arg("-l").arg(&self.mount_point).status();
        }
    }
}

/// Writes zeros until the file system refuses (ENOSPC); returns the bytes written.
fn fill_disk(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(error) if error.raw_os_error() == Some(28) => break,
            Err(error) => panic!("filling the disk: {error}"),
        }
    }
    written
}

fn event(n: u32) -> Value {
    run_event("COMPLETE", "2024-01-01T00:00:00Z", &run_id(n), &format!("job{n}"), &["src"], &[&format!("out{n}")])
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.unwrap_or_else(|error| panic!("POST {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn graphql(client: &reqwest::Client, base: &str, query: &str, variables: Value) -> Value {
    let (status, body) =
        post(client, &format!("{base}/graphql"), &json!({"query": query, "variables": variables})).await;
    assert_eq!(status, 200, "graphql status, body {body}");
    assert!(body.get("errors").is_none(), "graphql errors: {body}");
    body["data"].clone()
}

/// A refusal for lack of space: 503, `UNAVAILABLE`, and a message that says so.
fn assert_disk_full_refusal(status: u16, body: &Value) {
    assert_eq!(status, 503, "a write on a full disk must be 503, got {status}: {body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(message.contains("no space"), "the message must name the problem: {body}");
}

/// Every stored event (paged), as sequence → run id.
async fn stored_runs(client: &reqwest::Client, base: &str) -> std::collections::BTreeMap<u64, String> {
    let mut runs = std::collections::BTreeMap::new();
    let mut after = 0u64;
    loop {
        let data = graphql(
            client,
            base,
            "query($after: Int) { events(after: $after, first: 1000) { events { sequence event } nextAfter } }",
            json!({"after": after}),
        )
        .await;
        for stored in data["events"]["events"].as_array().unwrap() {
            let sequence = stored["sequence"].as_u64().unwrap();
            runs.insert(sequence, stored["event"]["run"]["runId"].as_str().unwrap_or_default().to_owned());
        }
        match data["events"]["nextAfter"].as_u64() {
            Some(next) => after = next,
            None => return runs,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_and_loses_nothing_acknowledged() {
    let mut disk = match SmallDisk::mount() {
        Ok(disk) => disk,
        Err(reason) => {
            eprintln!("SKIPPED disk_full: cannot mount a small tmpfs: {reason}");
            return;
        }
    };
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(60), scenario(&mut disk))
        .await
        .expect("the disk-full scenario finishes within 60 s (the server may hang)");
    eprintln!("disk_full: done in {:.1} s", started.elapsed().as_secs_f64());
}

async fn scenario(disk: &mut SmallDisk) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let base = disk.start();
    let ingest = format!("{base}/api/v1/lineage");

    // (run number, sequence) of every event the server acknowledged.
    let mut acknowledged: Vec<(u32, u64)> = Vec::new();
    for n in 0..EVENTS_BEFORE {
        let (status, body) = post(&client, &ingest, &event(n)).await;
        assert_eq!(status, 201, "{body}");
        acknowledged.push((n, body["sequence"].as_u64().unwrap()));
    }

    // A compaction needs room for its copy and leaves some for ingest: on this small disk an
    // admin's is refused, saying so, and nothing starts.
    let (status, refused) =
        post(&client, &format!("{base}/graphql"), &json!({"query": "mutation { compactStore { stage } }"})).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("bytes free; a compaction needs room for its copy"), "{refused}");
    let state = graphql(&client, &base, "{ storeCompaction { stage } }", json!({})).await;
    assert_eq!(state["storeCompaction"]["stage"], "IDLE", "{state}");

    let filled = fill_disk(&disk.filler());
    eprintln!("disk_full: filler took {filled} bytes");

    // Concurrent clients post until each is refused; every answer is 201 or the refusal.
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let ingest = ingest.clone();
        clients.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for attempt in 0..MAX_ATTEMPTS {
                let n = 10_000 * (c + 1) + attempt;
                let (status, body) = post(&client, &ingest, &event(n)).await;
                if status == 201 {
                    accepted.push((n, body["sequence"].as_u64().unwrap()));
                    continue;
                }
                return (accepted, Some((status, body)));
            }
            (accepted, None)
        }));
    }
    for task in clients {
        let (accepted, refusal) = task.await.unwrap();
        acknowledged.extend(accepted);
        let (status, body) = refusal.unwrap_or_else(|| panic!("{MAX_ATTEMPTS} posts accepted on a full disk"));
        assert_disk_full_refusal(status, &body);
    }
    // The store stays refused until reopened: further writes get the same answer.
    for n in 50_000..50_005 {
        let (status, body) = post(&client, &ingest, &event(n)).await;
        assert_disk_full_refusal(status, &body);
    }

    let (status, health) = get(&client, &format!("{base}/healthz")).await;
    assert_eq!(status, 503, "/healthz while writes fail: {health}");
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert!(
        health["reason"].as_str().unwrap_or_default().to_ascii_lowercase().contains("no space"),
        "/healthz gives the reason: {health}"
    );

    // Reads still answer, promptly.
    let asked = Instant::now();
    let data = graphql(&client, &base, "{ watermark { sequence } }", json!({})).await;
    assert!(asked.elapsed() < Duration::from_secs(2), "a read took {:?} on a full disk", asked.elapsed());
    let max_acknowledged = acknowledged.iter().map(|(_, sequence)| *sequence).max().unwrap();
    // Answers stay at the last durable state: nothing refused is published.
    assert_eq!(data["watermark"]["sequence"].as_u64().unwrap(), max_acknowledged, "{data}");

    // Recovery: free the space. The writer reopens the store by itself (sled keeps a failed
    // flush's error until then) and resumes once the disk takes a write and the durable store
    // is exactly what was published; if part of the refused group reached the disk it says a
    // restart is needed instead.
    std::fs::remove_file(disk.filler()).unwrap();
    let waited = Instant::now();
    let recovered = loop {
        let (status, health) = get(&client, &format!("{base}/healthz")).await;
        if status == 200 {
            break true;
        }
        let reason = health["reason"].as_str().unwrap_or_default().to_owned();
        if reason.contains("restart the server") {
            eprintln!("disk_full: recovery needs a restart: {reason}");
            break false;
        }
        assert!(waited.elapsed() < Duration::from_secs(15), "/healthz still unhealthy after freeing space: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if recovered {
        eprintln!("disk_full: recovered in place after {:?}", waited.elapsed());
        for n in 50_000..50_010 {
            let (status, body) = post(&client, &ingest, &event(n)).await;
            assert_eq!(status, 201, "ingest after recovering in place: {body}");
            let sequence = body["sequence"].as_u64().unwrap();
            assert!(sequence > max_acknowledged, "{body}");
            acknowledged.push((n, sequence));
        }
    }
    // Either way, everything acknowledged survives a kill -9 and a restart.
    disk.kill();
    let base = disk.start();
    let ingest = format!("{base}/api/v1/lineage");
    let max_acknowledged = acknowledged.iter().map(|(_, sequence)| *sequence).max().unwrap();

    let stored = stored_runs(&client, &base).await;
    let lost: Vec<String> = acknowledged
        .iter()
        .filter(|(n, sequence)| stored.get(sequence) != Some(&run_id(*n)))
        .map(|(n, sequence)| format!("run {n} (sequence {sequence}): stored {:?}", stored.get(sequence)))
        .collect();
    assert!(lost.is_empty(), "{} of {} acknowledged events lost: {lost:?}", lost.len(), acknowledged.len());
    eprintln!(
        "disk_full: {} acknowledged ({} after the filler), {} stored after restart",
        acknowledged.len(),
        acknowledged.len() - EVENTS_BEFORE as usize,
        stored.len()
    );

    let (status, health) = get(&client, &format!("{base}/healthz")).await;
    assert_eq!(status, 200, "/healthz after the restart: {health}");
    assert_eq!(health["status"], "ok", "{health}");
    for n in 60_000..60_010 {
        let (status, body) = post(&client, &ingest, &event(n)).await;
        assert_eq!(status, 201, "ingest after the restart: {body}");
        assert!(body["sequence"].as_u64().unwrap() > max_acknowledged, "{body}");
    }

    // A server started on a full disk cannot open its store (sled writes when it opens): it
    // exits at once saying so, instead of serving a store it could not keep.
    disk.kill();
    fill_disk(&disk.filler());
    let stderr = serve_refused("127.0.0.1:0", &disk.data_dir(), &[]);
    assert!(stderr.contains("opening the store") && stderr.contains("No space left on device"), "{stderr}");
}
