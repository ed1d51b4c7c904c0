//! Unit tests of the service's own rooms: rebuild and verify from the event log, the
//! one-lock state under concurrent readers and the writer.

use std::path::Path;

use serde_json::json;
use tributary_model::{DatasetId, JobId};
use tributary_store::{Store, StoreConfig};

use crate::{AnswerShape, ChangeReport, LineageRequest, Service, ServiceConfig, maintenance};

fn event(n: u32, job: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    let datasets =
        |names: &[&str]| names.iter().map(|name| json!({"namespace": "db", "name": name})).collect::<Vec<_>>();
    run_event(n, job, json!(datasets(inputs)), json!(datasets(outputs)))
}

/// A COMPLETE run event of job `etl.{job}` with the given `inputs` and `outputs` lists.
fn run_event(n: u32, job: &str, inputs: serde_json::Value, outputs: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "eventType": "COMPLETE",
        "eventTime": format!("2024-05-01T10:00:{:02}Z", n % 60),
        "producer": "https://example.com/tributary-unit-tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": format!("00000000-0000-4000-8000-{n:012}")},
        "job": {"namespace": "etl", "name": job},
        "inputs": inputs,
        "outputs": outputs,
    }))
    .expect("json")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A store with a small chain raw -> a -> b -> c written through the service, then closed.
fn write_chain(dir: &Path, events: u32) {
    let service =
        Service::open(ServiceConfig { data_dir: Some(dir.to_path_buf()), ..ServiceConfig::default() }).expect("open");
    runtime().block_on(async {
        for n in 0..events {
            let (input, output) = (format!("t{}", n % 7), format!("t{}", n % 7 + 1));
            service.ingest(&event(n, &format!("job{}", n % 5), &[&input], &[&output])).await.expect("ingest");
        }
    });
    service.shared.wait_for_columns().expect("columns");
    service.close();
}

#[test]
fn a_rebuilt_store_agrees_and_verify_finds_a_tampered_record() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    write_chain(&dir, 40);
    let config = StoreConfig::default();

    let clean = maintenance::verify(&dir, &config, |_| {}).expect("verify");
    assert_eq!((clean.events, clean.differences), (40, 0), "{:?}", clean.shown);
    assert!(clean.keys > 40, "derived keys compared: {}", clean.keys);

    // A derived record that no longer matches the log: a job's current edges.
    {
        let store = Store::open(&dir, &config).expect("open store");
        let mut write = store.write();
        write.put_job_io(&JobId::new("etl", "job1"), &[DatasetId::new("db", "elsewhere")], &[]).expect("write");
        store.commit(write).expect("commit");
        store.flush().expect("flush");
    }
    let tampered = maintenance::verify(&dir, &config, |_| {}).expect("verify");
    assert_eq!(tampered.differences, 1, "{:?}", tampered.shown);
    assert!(tampered.shown[0].contains("job1") && tampered.shown[0].contains("differs"), "{:?}", tampered.shown);

    // The rebuild repairs it.
    let rebuilt = maintenance::scratch_dir(&dir, "test-rebuild");
    let report = maintenance::rebuild(&dir, &rebuilt, &config, |_| {}).expect("rebuild");
    assert_eq!(report.events, 40);
    let repaired = maintenance::verify(&rebuilt, &config, |_| {}).expect("verify rebuilt");
    assert_eq!(repaired.differences, 0, "{:?}", repaired.shown);
}

#[test]
fn rebuild_refuses_a_target_that_holds_something() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    write_chain(&dir, 3);
    let target = temp.path().join("busy");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("file"), b"x").expect("write");
    let error = maintenance::rebuild(&dir, &target, &StoreConfig::default(), |_| {}).expect_err("refused");
    assert_eq!(error.field(), "target", "{error}");
}

/// Run `n` of [`run_event`], if stored, shows only events its watermark covers (the
/// optimistic read of stored records).
async fn assert_run_within_its_watermark(service: &Service, n: u32) {
    let run = format!("00000000-0000-4000-8000-{n:012}");
    if let Some((record, watermark)) = service.run(&run).await.expect("run") {
        assert!(
            record.events.iter().all(|sequence| *sequence <= watermark.sequence),
            "run {run} shows events {:?} beyond its watermark {}",
            record.events,
            watermark.sequence
        );
    }
}

/// Readers that take the state lock while the writer publishes and a descriptor is applied:
/// every read answers (no lock-order deadlock) and lookups never show more than their
/// watermark.
#[test]
fn readers_writer_and_applies_share_the_state_without_stalls() {
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = runtime();
    runtime.block_on(async {
        let writer = {
            let service = service.clone();
            tokio::spawn(async move {
                for n in 0..300u32 {
                    let (input, output) = (format!("t{}", n % 11), format!("t{}", n % 11 + 1));
                    service.ingest(&event(n, &format!("job{}", n % 13), &[&input], &[&output])).await.expect("ingest");
                }
            })
        };
        let domain = "id: sales\nname: Sales\nnamespaces: [db]\nowners: [{name: alice}]\n".to_owned();
        service.apply_domain(domain).await.expect("apply domain");
        let mut readers = Vec::new();
        for reader in 0..4u32 {
            let service = service.clone();
            readers.push(tokio::spawn(async move {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                let mut reads = 0u32;
                while reads < 150 {
                    assert!(std::time::Instant::now() < deadline, "reader {reader} stalled");
                    let start = tributary_model::NodeRef::from(&DatasetId::new("db", format!("t{}", reads % 11)));
                    let _ = service
                        .lineage(LineageRequest::new(start, tributary_model::Direction::Downstream).depth(Some(5)))
                        .await;
                    let _ = service.product_lineage().await.expect("product lineage");
                    let _ = service.group_impact(vec![]).await.expect("impact");
                    assert_run_within_its_watermark(&service, (reads * 7 + reader) % 300).await;
                    assert!(service.dataset("db", &format!("t{}", reads % 11)).await.is_ok());
                    reads += 1;
                }
            }));
        }
        tokio::time::timeout(std::time::Duration::from_secs(120), async {
            writer.await.expect("writer task");
            for reader in readers {
                reader.await.expect("reader task");
            }
        })
        .await
        .expect("no stall");
        assert_eq!(service.watermark().sequence, 300);
    });
    service.close();
}

/// A service on a store in a temporary directory (flushed to disk) whose groups hold at most
/// `max_group` events; the directory lives as long as the first value.
fn durable_service_in_groups_of(max_group: usize) -> (tempfile::TempDir, Service) {
    let temp = tempfile::tempdir().expect("tempdir");
    let config = ServiceConfig { data_dir: Some(temp.path().join("store")), max_group, ..ServiceConfig::default() };
    let service = Service::open(config).expect("open");
    (temp, service)
}

/// Stress of the writer's pipeline (the finisher flushes and publishes a group while the writer
/// applies the next): eight clients ingest one event at a time and a bulk client streams
/// batches, in groups of at most two events on a durable store, while readers read runs. Each
/// client reads its own event back after the acknowledgement (published before it is
/// acknowledged), every run read shows only events its watermark covers (the store may hold a
/// group past the watermark), and nothing stalls.
#[test]
fn the_pipelined_writer_publishes_before_acknowledging_under_concurrent_clients() {
    let (_temp, service) = durable_service_in_groups_of(2);
    const CLIENTS: u32 = 8;
    const EACH: u32 = 40;
    const BULK: u32 = 200;
    let runtime = runtime();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let service = service.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..EACH {
                    let n = client * EACH + k;
                    let output = format!("c{client}_{k}");
                    let outcome = service
                        .ingest(&event(n, &format!("job{client}"), &[&format!("t{}", n % 7)], &[&output]))
                        .await
                        .expect("ingest");
                    // Published before acknowledged: no read waits for it.
                    let published = service.watermark().sequence;
                    assert!(
                        published >= outcome.sequence,
                        "client {client}: acknowledged {} at {published}",
                        outcome.sequence
                    );
                    let view = service.dataset("db", &output).await.expect("dataset").expect("own dataset read back");
                    assert!(view.watermark.sequence >= outcome.sequence, "client {client}: {output}");
                    let run = format!("00000000-0000-4000-8000-{n:012}");
                    let (_, watermark) = service.run(&run).await.expect("run").expect("own run read back");
                    assert!(watermark.sequence >= outcome.sequence, "client {client}: run {run}");
                }
            }));
        }
        let bulk = {
            let service = service.clone();
            tokio::spawn(async move {
                for chunk in 0..BULK / 20 {
                    let events = (0..20)
                        .map(|k| {
                            let n = CLIENTS * EACH + chunk * 20 + k;
                            event(n, "bulk", &[&format!("t{}", n % 7)], &[&format!("b{n}")])
                        })
                        .collect();
                    for outcome in service.ingest_batch(events).await.expect("batch") {
                        outcome.expect("bulk event");
                    }
                }
            })
        };
        let mut readers = Vec::new();
        for reader in 0..2u32 {
            let service = service.clone();
            readers.push(tokio::spawn(async move {
                for reads in 0..300u32 {
                    assert_run_within_its_watermark(&service, (reads * 13 + reader) % (CLIENTS * EACH + BULK)).await;
                }
            }));
        }
        tokio::time::timeout(std::time::Duration::from_secs(120), async {
            for task in tasks {
                task.await.expect("client task");
            }
            bulk.await.expect("bulk task");
            for reader in readers {
                reader.await.expect("reader task");
            }
        })
        .await
        .expect("no stall");
        assert_eq!(service.watermark().sequence, u64::from(CLIENTS * EACH + BULK));
    });
    service.close();
}

/// A change report's work in units (`change::in_units`) lets a writer that waits for the state
/// in at the next unit, not at the end of the hold: the writer asks while a unit runs, the
/// hold ends there, the next unit (in a new hold) sees what the writer set; with nobody
/// waiting, one hold does every unit.
#[test]
fn a_waiting_writer_gets_the_state_at_the_next_unit() {
    let service = Service::open(ServiceConfig::default()).expect("open");
    let shared = &*service.shared;
    // The start-up loads write the state too: done first, so the only writer waiting below is
    // the test's (a loader counted as waiting would end the hold before the test's writer asks).
    shared.wait_for_columns().expect("columns");
    wait_for_owners(&service);
    let key = ("units".to_owned(), 0);
    let mut units = 0;
    let holds = crate::change::in_units(shared, |_| {
        units += 1;
        Ok(units == 3)
    })
    .expect("units");
    assert_eq!((holds, units), (1, 3), "nobody waits: one hold");
    std::thread::scope(|scope| {
        let (mut units, mut writer) = (0, None);
        let holds = crate::change::in_units(shared, |state| {
            units += 1;
            if units == 1 {
                writer = Some(scope.spawn(|| {
                    shared.write_state().offsets.insert(key.clone(), 7);
                }));
                while !shared.writer_waiting() {
                    std::thread::yield_now();
                }
                assert!(!state.offsets.contains_key(&key));
                return Ok(false);
            }
            assert_eq!(state.offsets.get(&key), Some(&7), "unit {units}: the writer went first");
            Ok(units == 3)
        })
        .expect("units");
        assert_eq!((holds, units), (2, 3), "the hold ended at the unit the writer waited at");
        writer.expect("writer").join().expect("writer thread");
    });
    assert!(!shared.writer_waiting());
    assert_eq!(shared.metrics.read_yields.get(), 1, "one hold ended for the writer");
}

/// Lineage walks, their read-out and impact summaries run in units (`units::graph_in_units`)
/// and let the writer publish between them, so an answer may mix states. While a writer adds
/// jobs under a hub (additions only), every answer from the hub lies between the one-hold
/// walk taken just before it and the one taken just after: nothing reached before is lost,
/// nothing is made up, each edge once and between answered nodes, the counts in between.
#[test]
fn walks_in_units_beside_the_writer_answer_between_the_states_before_and_after() {
    use std::collections::BTreeSet;
    use tributary_model::{Direction, NodeRef};
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = runtime();
    // A hub feeding 30 jobs of 150 outputs each: a closure of ~4,600 nodes, ~18 units.
    runtime.block_on(async {
        for job in 0..30u32 {
            let outputs: Vec<String> = (0..150).map(|k| format!("out{job}_{k}")).collect();
            let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
            service.ingest(&event(job, &format!("fan{job}"), &["hub"], &outputs)).await.expect("ingest");
        }
    });
    let hub = NodeRef::from(&DatasetId::new("db", "hub"));
    let principal = service.require_read().expect("read");
    let oracle = |direction, shape| -> BTreeSet<NodeRef> {
        let request = LineageRequest::new(hub.clone(), direction).limit(Some(1_000_000)).shaped(shape);
        let walk = service.walk(&principal, &request).expect("one-hold walk");
        assert!(!walk.truncated);
        walk.nodes.into_iter().map(|node| node.node).collect()
    };
    // Each event a new job reading one of the hub's outputs, writing five new datasets.
    let later = |n: u32| {
        let input = format!("out{}_{}", n % 30, n % 150);
        let outputs: Vec<String> = (0..5).map(|k| format!("later{n}_{k}")).collect();
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        event(n, &format!("later{n}"), &[&input], &outputs)
    };
    // 75 walks of ~18 units beside a writer that publishes all the time.
    beside_a_writer(&service, &runtime, later, || {
        std::thread::scope(|scope| {
            let readers: Vec<_> = [
                (Direction::Downstream, AnswerShape::Full),
                (Direction::Both, AnswerShape::Nodes),
                (Direction::Downstream, AnswerShape::DatasetsOnly),
            ]
            .into_iter()
            .map(|(direction, shape)| {
                let (service, oracle, runtime) = (&service, &oracle, &runtime);
                let hub = hub.clone();
                scope.spawn(move || {
                    for round in 0..25 {
                        let before = oracle(direction, shape);
                        let request = LineageRequest::new(hub.clone(), direction).limit(Some(1_000_000)).shaped(shape);
                        let view = service.lineage_blocking(&request).expect("lineage");
                        // The summary counts the same walk (start excluded).
                        let counted = (shape == AnswerShape::Nodes).then(|| {
                            let summary = runtime
                                .block_on(service.impact_summary(
                                    hub.clone(),
                                    direction,
                                    None,
                                    Some(1_000_000),
                                    10,
                                    None,
                                ))
                                .expect("summary");
                            assert_eq!(
                                summary.groups.iter().map(|g| g.datasets + g.jobs).sum::<usize>(),
                                summary.datasets + summary.jobs
                            );
                            summary.datasets + summary.jobs
                        });
                        let after = oracle(direction, shape);
                        let got: BTreeSet<NodeRef> = view.answer.nodes.iter().map(|node| node.node.clone()).collect();
                        let what = format!("round {round} {direction:?} {shape:?}");
                        assert_eq!(got.len(), view.answer.nodes.len(), "{what}: each node once");
                        assert!(got.is_superset(&before), "{what}: lost {:?}", before.difference(&got).next());
                        assert!(got.is_subset(&after), "{what}: made up {:?}", got.difference(&after).next());
                        let edges: BTreeSet<(NodeRef, NodeRef)> =
                            view.answer.edges.iter().map(|edge| (edge.from.clone(), edge.to.clone())).collect();
                        assert_eq!(edges.len(), view.answer.edges.len(), "{what}: each edge once");
                        assert!(edges.iter().all(|(from, to)| got.contains(from) && got.contains(to)), "{what}");
                        if let Some(counted) = counted {
                            assert!((before.len() - 1..after.len()).contains(&counted), "{what}: counted {counted}");
                        }
                    }
                })
            })
            .collect();
            for reader in readers {
                reader.join().expect("reader");
            }
        })
    });
    service.close();
}

/// Runs `read` (which starts and joins its readers) beside a writer that
/// ingests `event(n)` for n = 1000, 1001, ... until `read` returns (or panics), then asserts
/// that the writer published meanwhile and that some long read let go of the state for it
/// (otherwise the test checked nothing of the units).
fn beside_a_writer(
    service: &Service,
    runtime: &tokio::runtime::Runtime,
    event: impl Fn(u32) -> Vec<u8> + Sync,
    read: impl FnOnce(),
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Stops the writer when dropped: also when a reader's assertion fails, so the test fails
    /// instead of waiting for the writer forever.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let writing = AtomicBool::new(true);
    let written = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            runtime.block_on(async {
                let mut n = 1_000u32;
                while writing.load(Ordering::Relaxed) {
                    service.ingest(&event(n)).await.expect("ingest");
                    n += 1;
                }
                n - 1_000
            })
        });
        {
            let _stop = Stop(&writing);
            read();
        }
        writer.join().expect("writer")
    });
    assert!(written > 0, "the writer published while the reads ran");
    assert!(service.shared.metrics.read_yields.get() > 0, "no long read yielded to the writer");
}

/// Product lineage is derived in units beside a writer that keeps linking new upstream
/// datasets to the downstream product: every answer holds every link of the state before it
/// was asked and only links of the state after, the derivation lets go for the writer,
/// callers who ask at once share derivations, and once the writer stops the answer is kept
/// (asked again, the same one).
#[test]
fn product_lineage_in_units_beside_the_writer_answers_between_the_states_before_and_after() {
    use std::collections::BTreeSet;
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = runtime();
    let ports = |prefix: &str, n: u32| -> Vec<serde_json::Value> {
        (0..n).map(|k| json!({"name": format!("{prefix}{k}"), "dataset": {"namespace": "db", "name": format!("{prefix}{k}")}})).collect()
    };
    runtime.block_on(async {
        service
            .apply_domain(json!({"id": "d", "name": "D", "namespaces": ["db"], "owners": [{"name": "o"}]}).to_string())
            .await
            .expect("domain");
        for (id, prefix, n) in [("d.up", "src", 20), ("d.down", "sink", 100)] {
            let product = json!({"kind": "DataProduct", "id": id, "name": id, "domain": "d",
                "owners": [{"name": "o"}], "outputPorts": ports(prefix, n)});
            service.apply_product(product.to_string()).await.expect("product");
        }
        // Ten sources feed 300 datasets of no product; each sink's job reads all of them: a
        // walk of ~320 nodes from each sink, ~130 units in all.
        for feed in 0..10u32 {
            let outputs: Vec<String> = (0..30).map(|k| format!("mid{feed}_{k}")).collect();
            let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
            service
                .ingest(&event(feed, &format!("feed{feed}"), &[&format!("src{feed}")], &outputs))
                .await
                .expect("feed");
        }
        let middles: Vec<String> = (0..10).flat_map(|feed| (0..30).map(move |k| format!("mid{feed}_{k}"))).collect();
        let middles: Vec<&str> = middles.iter().map(String::as_str).collect();
        for sink in 0..100u32 {
            service
                .ingest(&event(100 + sink, &format!("build{sink}"), &middles, &[&format!("sink{sink}")]))
                .await
                .expect("sink");
        }
    });
    type Link = (String, String, DatasetId, DatasetId);
    let links = |edges: &[crate::ProductEdge]| -> BTreeSet<Link> {
        edges
            .iter()
            .flat_map(|edge| {
                edge.via.iter().map(|(up, down)| (edge.from.clone(), edge.to.clone(), up.clone(), down.clone()))
            })
            .collect()
    };
    let oracle = || links(&service.shared.product_lineage_in_one_hold());
    let initial = oracle();
    assert_eq!(initial.len(), 1_000, "each of 10 sources links to each of 100 sinks");
    // Each event links one of the other ten sources straight into a sink, by a new job.
    let later = |n: u32| {
        let (source, sink) = (format!("src{}", 10 + n % 10), format!("sink{}", n % 100));
        event(n, &format!("later{n}"), &[&source], &[&sink])
    };
    beside_a_writer(&service, &runtime, later, || {
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..3)
                .map(|reader| {
                    let (service, oracle, links, runtime) = (&service, &oracle, &links, &runtime);
                    scope.spawn(move || {
                        for round in 0..20 {
                            let before = oracle();
                            let got = links(&runtime.block_on(service.product_lineage()).expect("product lineage"));
                            let after = oracle();
                            let what = format!("reader {reader} round {round}");
                            assert!(got.is_superset(&before), "{what}: lost {:?}", before.difference(&got).next());
                            assert!(got.is_subset(&after), "{what}: made up {:?}", got.difference(&after).next());
                        }
                    })
                })
                .collect();
            for reader in readers {
                reader.join().expect("reader");
            }
        })
    });
    // Callers who ask at once while the graph moves share derivations (`coalesce`): a wave of
    // 16 causes about two (the one under way when they came and the one after it), not 16,
    // and every answer still holds the state before it was asked.
    let derived = || service.shared.metrics.product_lineage_cache.with_label_values(&["miss"]).get();
    let before_waves = derived();
    beside_a_writer(
        &service,
        &runtime,
        |n| later(n + 100_000),
        || {
            for wave in 0..5 {
                let before = oracle();
                let answers: Vec<_> = runtime.block_on(async {
                    let asks: Vec<_> = (0..16)
                        .map(|_| {
                            let service = service.clone();
                            tokio::spawn(async move { service.product_lineage().await })
                        })
                        .collect();
                    let mut answers = Vec::new();
                    for ask in asks {
                        answers.push(ask.await.expect("task").expect("product lineage"));
                    }
                    answers
                });
                let after = oracle();
                for got in answers {
                    let got = links(&got);
                    assert!(got.is_superset(&before), "wave {wave}: lost {:?}", before.difference(&got).next());
                    assert!(got.is_subset(&after), "wave {wave}: made up {:?}", got.difference(&after).next());
                }
            }
        },
    );
    let waves_derived = derived() - before_waves;
    assert!(waves_derived <= 20, "80 callers in 5 waves of 16 caused {waves_derived} derivations");
    let settled = runtime.block_on(service.product_lineage()).expect("product lineage");
    assert_eq!(links(&settled), oracle());
    assert!(links(&settled).len() > initial.len(), "the writer's links are found");
    let again = runtime.block_on(service.product_lineage()).expect("product lineage");
    assert!(std::sync::Arc::ptr_eq(&settled, &again), "kept while nothing changed");
    service.close();
}

/// Walks and checks take turns (`admission`): while every turn is taken, a lineage walk, an
/// impact summary and a change check wait and a point read does not; once the queue is full a
/// walk is refused as unavailable; when the turn is given back the waiting ones answer, right.
#[test]
fn walks_wait_for_a_turn_and_point_reads_do_not() {
    use std::time::Duration;
    use tributary_model::{Direction, NodeRef};
    let service = Service::open(ServiceConfig { max_traversals: 1, ..ServiceConfig::default() }).expect("open");
    let runtime = runtime();
    runtime.block_on(async {
        for n in 0..6u32 {
            let (input, output) = (format!("t{n}"), format!("t{}", n + 1));
            service.ingest(&event(n, &format!("job{n}"), &[&input], &[&output])).await.expect("ingest");
        }
        let start = NodeRef::from(&DatasetId::new("db", "t0"));
        let walk = || service.lineage(LineageRequest::new(start.clone(), Direction::Downstream));
        let unbounded = walk().await.expect("walk").answer.nodes.len();
        assert_eq!(unbounded, 13, "t0..t6 and job0..job5");

        let turn = service
            .shared
            .admission
            .admit(crate::admission::Caller::Everyone, &service.shared.metrics)
            .await
            .expect("the only turn");
        let mut lineage = Box::pin(walk());
        assert!(tokio::time::timeout(Duration::from_millis(200), lineage.as_mut()).await.is_err(), "a walk waits");
        let mut summary = Box::pin(service.impact_summary(start.clone(), Direction::Downstream, None, None, 10, None));
        assert!(tokio::time::timeout(Duration::from_millis(50), summary.as_mut()).await.is_err(), "a summary waits");
        let proposed = tributary_change::Schema::default();
        let mut check = Box::pin(service.check_change(DatasetId::new("db", "t3"), proposed));
        assert!(tokio::time::timeout(Duration::from_millis(50), check.as_mut()).await.is_err(), "a check waits");
        let dataset = tokio::time::timeout(Duration::from_secs(10), service.dataset("db", "t3")).await;
        assert!(dataset.expect("a point read does not wait").expect("dataset").is_some());

        // Fill the queue: the next walk is refused at once, saying so.
        let mut queued = Vec::new();
        while service.shared.admission.waiting() < crate::MAX_WAITING_PER_RUNNING {
            let mut more = Box::pin(walk());
            assert!(tokio::time::timeout(Duration::ZERO, more.as_mut()).await.is_err(), "queued");
            queued.push(more);
        }
        let refused = walk().await.expect_err("the queue is full");
        assert_eq!(refused.code(), crate::ErrorCode::Unavailable, "{refused}");
        assert!(refused.to_string().contains("busy"), "{refused}");

        drop(turn);
        let answered = tokio::time::timeout(Duration::from_secs(30), async {
            assert_eq!(lineage.await.expect("walk").answer.nodes.len(), unbounded);
            assert_eq!(summary.await.expect("summary").datasets, 6);
            // No schema is stored for t3: answered (whatever it says), not refused or lost.
            if let Err(error) = check.await {
                assert_ne!(error.code(), crate::ErrorCode::Unavailable, "{error}");
            }
            for more in queued {
                assert_eq!(more.await.expect("queued walk").answer.nodes.len(), unbounded);
            }
        })
        .await;
        answered.expect("every waiting request answers once the turn is back");
        assert_eq!(service.shared.admission.waiting(), 0);
    });
    service.close();
}

/// The SQL merge keeps reported edges, fills kinds only where none were reported, adds the
/// derived ones, and merging again changes nothing (what lets ingest skip the rewrite).
#[test]
fn sql_merge_keeps_reported_edges_and_is_idempotent() {
    use tributary_model::{ColumnEdgeSpec, EdgeSource, Transformation, TransformationKind};
    let edge =
        |input_field: &str, output_field: &str, kind: TransformationKind, subtype: &str, source| ColumnEdgeSpec {
            input: DatasetId::new("db", "orders"),
            input_field: input_field.into(),
            output_field: output_field.into(),
            transformations: vec![Transformation { kind, subtype: subtype.into(), masking: false, description: None }],
            source,
        };
    let reported = vec![
        edge("amount", "amount", TransformationKind::Direct, "", EdgeSource::Reported),
        edge("id", "id", TransformationKind::Direct, "TRANSFORMATION", EdgeSource::Reported),
    ];
    let derived = vec![
        edge("amount", "amount", TransformationKind::Direct, "IDENTITY", EdgeSource::DerivedFromSql),
        edge("id", "id", TransformationKind::Direct, "IDENTITY", EdgeSource::DerivedFromSql),
        edge("order_id", "*", TransformationKind::Indirect, "JOIN", EdgeSource::DerivedFromSql),
    ];
    let merged = crate::sql::merge(reported, &derived);
    let summary: Vec<(String, String, String, EdgeSource)> = merged
        .iter()
        .map(|e| (e.input_field.clone(), e.output_field.clone(), e.transformations[0].subtype.clone(), e.source))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("amount".into(), "amount".into(), "IDENTITY".into(), EdgeSource::ReportedKindsFromSql),
            ("id".into(), "id".into(), "TRANSFORMATION".into(), EdgeSource::Reported),
            ("order_id".into(), "*".into(), "JOIN".into(), EdgeSource::DerivedFromSql),
        ]
    );
    assert_eq!(crate::sql::merge(merged.clone(), &derived), merged);
}

/// Consumed records: applied once each, whatever is redelivered; a record that is not an
/// event is recorded and its partition goes on; offsets are published with the index and
/// survive a reopen; a refused caller cannot feed records in.
#[test]
fn consumed_records_apply_exactly_once_and_offsets_survive_a_reopen() {
    use crate::{Applied, SourcedRecord};
    use tributary_model::{PartitionOffset, SourcePosition};
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let config = ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() };
    let record = |partition: i32, offset: i64, value: Vec<u8>| SourcedRecord {
        position: SourcePosition { topic: "lineage".into(), partition, offset },
        key: Some(b"run:etl/job".to_vec()),
        value,
    };
    let service = Service::open(config.clone()).expect("open");
    let operator = service.as_local_operator();
    let outcomes = runtime().block_on(async {
        let mut acks = Vec::new();
        for (partition, offset, value) in [
            (0, 0, event(1, "a", &["raw"], &["t1"])),
            (0, 1, b"not json".to_vec()),
            (1, 0, event(2, "b", &["t1"], &["t2"])),
            // The same event again, in another partition: a duplicate, its offset still moves.
            (1, 1, event(2, "b", &["t1"], &["t2"])),
            // A redelivery of an applied record: skipped.
            (0, 0, event(1, "a", &["raw"], &["t1"])),
            (0, 2, br#"{"eventType":"COMPLETE"}"#.to_vec()),
        ] {
            acks.push(operator.enqueue_sourced(record(partition, offset, value)).await.expect("enqueue"));
        }
        let mut outcomes = Vec::new();
        for ack in acks {
            outcomes.push(ack.applied().await.expect("applied"));
        }
        outcomes
    });
    assert!(matches!(&outcomes[0], Applied::Stored(outcome) if !outcome.duplicate));
    assert_eq!(outcomes[1], Applied::Rejected);
    assert!(matches!(&outcomes[2], Applied::Stored(outcome) if !outcome.duplicate));
    assert!(matches!(&outcomes[3], Applied::Stored(outcome) if outcome.duplicate));
    assert_eq!(outcomes[4], Applied::AlreadyApplied);
    assert_eq!(outcomes[5], Applied::Rejected);
    let expected = vec![
        PartitionOffset { topic: "lineage".into(), partition: 0, offset: 3 },
        PartitionOffset { topic: "lineage".into(), partition: 1, offset: 2 },
    ];
    let watermark = service.watermark();
    assert_eq!((watermark.sequence, &watermark.offsets), (2, &expected));
    let rejections = runtime().block_on(service.source_rejections(None, None, 10)).expect("rejections");
    let rejected: Vec<_> = rejections.iter().map(|r| (r.position.offset, r.field.as_str())).collect();
    assert_eq!(rejected.len(), 2, "{rejections:?}");
    assert_eq!(rejected[0].0, 1);
    assert!(rejections[0].reason.contains("JSON") || rejections[0].reason.contains("json"), "{rejections:?}");
    assert_eq!(rejections[1].position.offset, 2);
    assert!(!rejections[1].field.is_empty(), "names the field: {rejections:?}");
    service.close();
    drop((operator, service));

    // Reopened: the same offsets, and a redelivery of everything applies nothing new.
    let service = Service::open(config).expect("reopen");
    assert_eq!(service.watermark().offsets, expected);
    assert_eq!(service.as_local_operator().stored_source_offsets().expect("stored"), expected);
    let again = runtime().block_on(async {
        let ack = service
            .as_local_operator()
            .enqueue_sourced(record(1, 0, event(2, "b", &["t1"], &["t2"])))
            .await
            .expect("enqueue");
        ack.applied().await.expect("applied")
    });
    assert_eq!(again, Applied::AlreadyApplied);
    assert_eq!(service.watermark().sequence, 2);
    service.close();
}

mod snapshot {
    use std::path::Path;

    use tributary_model::{Direction, NodeKind, NodeRef};

    use super::{event, runtime};
    use crate::{IndexOrigin, Service, ServiceConfig};

    /// Opens the store once the last handle's sled threads have let go of its lock.
    fn open(dir: &Path) -> Service {
        open_with(dir, ServiceConfig::default())
    }

    fn open_with(dir: &Path, config: ServiceConfig) -> Service {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match Service::open(ServiceConfig { data_dir: Some(dir.to_path_buf()), ..config.clone() }) {
                Err(crate::ServiceError::Store(tributary_store::StoreError::Locked { .. }))
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other.expect("open"),
            }
        }
    }

    /// `event` with column lineage: `input.id` feeds `output.id`.
    fn column_event(n: u32, job: &str, input: &str, output: &str) -> Vec<u8> {
        let mut event: serde_json::Value = serde_json::from_slice(&event(n, job, &[input], &[output])).expect("json");
        event["outputs"][0]["facets"] = serde_json::json!({"columnLineage": {
            "_producer": "https://example.com/tributary-unit-tests",
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
            "fields": {"id": {"inputFields": [{"namespace": "db", "name": input, "field": "id"}]}}
        }});
        serde_json::to_vec(&event).expect("json")
    }

    /// Like `write_chain`, with column lineage: `t{n}.id` feeds `t{n+1}.id`.
    fn write_chain(dir: &Path, events: u32) {
        let service = open(dir);
        runtime().block_on(async {
            for n in 0..events {
                let (input, output) = (format!("t{}", n % 7), format!("t{}", n % 7 + 1));
                service.ingest(&column_event(n, &format!("job{}", n % 5), &input, &output)).await.expect("ingest");
            }
        });
        service.shared.wait_for_columns().expect("columns");
        close(service);
    }

    fn snapshot_file(dir: &Path) -> std::path::PathBuf {
        crate::snapshot::path(dir)
    }

    /// Closes the service and lets go of the store.
    fn close(service: Service) {
        service.close();
    }

    /// Closes the service once its nodes' owners are loaded, so that the snapshot the close
    /// writes keeps them (a close during the load writes it without them), whatever the
    /// scheduler did: for tests comparing the files' bytes.
    fn close_once_owners_loaded(service: Service) {
        super::wait_for_owners(&service);
        close(service);
    }

    /// Opens the store in `dir`, checks how its index was made and that it answers
    /// `expected`, and closes it once its owners are known (so the snapshot it leaves is the
    /// same whatever the scheduler did: tests compare files written this way).
    fn assert_reopens(dir: &Path, origin: IndexOrigin, expected: &[String], what: &str) {
        let service = open(dir);
        assert_eq!(service.index_origin(), origin, "{what}");
        assert_eq!(answers(&service), expected, "{what}");
        close_once_owners_loaded(service);
    }

    /// Counts, the watermark and every dataset's lineage both ways, in a canonical order
    /// (once the column lineage is loaded: a close before that writes no snapshot).
    fn answers(service: &Service) -> Vec<String> {
        service.shared.wait_for_columns().expect("columns");
        let state = service.shared.read_state();
        let index = &state.index;
        let mut out = vec![format!(
            "datasets={} jobs={} edges={} watermark={}",
            index.dataset_count(),
            index.job_count(),
            index.edge_count(),
            index.watermark().sequence
        )];
        for n in 0..10 {
            let start = NodeRef { kind: NodeKind::Dataset, namespace: "db".into(), name: format!("t{n}") };
            for direction in [Direction::Downstream, Direction::Upstream] {
                let Ok(answer) = index.lineage(tributary_graph::LineageQuestion::new(&start, direction, 50, 10_000))
                else {
                    out.push(format!("t{n} {direction:?} unknown"));
                    continue;
                };
                let mut nodes: Vec<String> = answer.nodes.iter().map(|node| format!("{node:?}")).collect();
                nodes.sort();
                out.push(format!("t{n} {direction:?} {nodes:?} edges={}", answer.edges.len()));
                let dataset = tributary_model::DatasetId::new("db", format!("t{n}"));
                if let Ok(columns) = index.column_lineage(&dataset, "id", direction, 50, 10_000) {
                    let mut hits: Vec<String> = columns
                        .columns
                        .iter()
                        .map(|hit| format!("{}.{}@{}", hit.dataset.name, hit.field, hit.distance))
                        .collect();
                    hits.sort();
                    out.push(format!("t{n}.id {direction:?} {hits:?} edges={}", columns.edges.len()));
                }
            }
        }
        out.push(format!("column_edges={}", index.column_edge_count()));
        out
    }

    #[test]
    fn a_clean_close_saves_the_index_and_the_next_open_reads_it() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        write_chain(&dir, 40);
        assert!(snapshot_file(&dir).exists(), "close writes the snapshot");

        let from_snapshot = open(&dir);
        assert_eq!(from_snapshot.index_origin(), IndexOrigin::Snapshot);
        let seen = answers(&from_snapshot);
        assert!(seen[0].contains("watermark=40"), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("column_edges=7"), "{seen:?}");
        let families = from_snapshot.metric_families().expect("metrics");
        let snapshot_sequence = families
            .iter()
            .find(|family| family.name() == "tributary_index_snapshot_sequence")
            .map(|family| family.get_metric()[0].get_gauge().get_value());
        assert_eq!(snapshot_sequence, Some(40.0));
        close(from_snapshot);

        std::fs::remove_file(snapshot_file(&dir)).expect("remove");
        assert_reopens(&dir, IndexOrigin::Rebuilt, &seen, "");
    }

    /// `compact` copies every key and value (the same stats per prefix, a clean verify) into a
    /// new directory with the index snapshot, which the next open reads; it refuses a target
    /// that holds something.
    #[test]
    fn a_compacted_store_holds_the_same_keys_and_opens_from_its_snapshot() {
        let temp = tempfile::tempdir().expect("tempdir");
        let (dir, target) = (temp.path().join("store"), temp.path().join("compacted"));
        write_chain(&dir, 40);
        let service = open(&dir);
        assert_eq!(service.index_origin(), IndexOrigin::Snapshot);
        let seen = answers(&service);
        close(service);
        let config = tributary_store::StoreConfig::default();
        let stats = |dir: &Path| {
            let store =
                tributary_store::Store::open_waiting(dir, &config, std::time::Duration::from_secs(5)).expect("open");
            (store.stats().expect("stats"), store.compacted_size().expect("compacted size"))
        };
        let (before, never) = stats(&dir);
        assert_eq!(never, None);
        let report = crate::maintenance::compact(&dir, &target, &config).expect("compact");
        assert_eq!(report.keys, before.iter().map(|prefix| prefix.keys).sum::<u64>());
        assert_eq!(report.bytes, before.iter().map(|prefix| prefix.key_bytes + prefix.value_bytes).sum::<u64>());
        // The same keys and values, and one more meta key: the size the copy was compacted to.
        let (after, compacted) = stats(&target);
        assert_eq!(compacted, Some(report.after));
        let meta = |stats: &[tributary_store::PrefixStats]| {
            stats.iter().find(|prefix| prefix.prefix == b'M').map(|prefix| prefix.keys).unwrap_or(0)
        };
        assert_eq!(meta(&after), meta(&before) + 1);
        let others = |stats: Vec<tributary_store::PrefixStats>| {
            stats.into_iter().filter(|prefix| prefix.prefix != b'M').collect::<Vec<_>>()
        };
        assert_eq!(others(after), others(before));
        assert!(snapshot_file(&target).exists());
        assert_reopens(&target, IndexOrigin::Snapshot, &seen, "compacted");
        let verified = crate::maintenance::verify(&target, &config, |_| {}).expect("verify");
        assert_eq!((verified.events, verified.differences), (40, 0), "{:?}", verified.shown);
        let refused = crate::maintenance::compact(&dir, &target, &config).expect_err("target holds a store");
        assert_eq!(refused.field(), "target", "{refused}");
    }

    /// As after a crash: the snapshot of the last clean close is older than the store.
    /// A few events behind, it is caught up from the store's records; too far, rebuilt.
    #[test]
    fn a_snapshot_older_than_the_store_is_caught_up_or_rebuilt() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        write_chain(&dir, 10);
        let old = temp.path().join("old.snapshot");
        std::fs::copy(snapshot_file(&dir), &old).expect("copy");

        // Events after it: a job's inputs change, a new job and datasets, an output's column
        // lineage is replaced by none.
        let service = open(&dir);
        runtime().block_on(async {
            service.ingest(&event(100, "job1", &["elsewhere"], &["t9"])).await.expect("ingest");
            service.ingest(&event(101, "fresh", &["t2"], &["brand_new"])).await.expect("ingest");
            service.ingest(&event(102, "job3", &["t3"], &["t4"])).await.expect("ingest");
            service.ingest(&column_event(103, "job4", "t0", "t5")).await.expect("ingest");
        });
        let current = answers(&service);
        close(service);
        let rebuilt = {
            let saved = temp.path().join("current.snapshot");
            std::fs::rename(snapshot_file(&dir), &saved).expect("move");
            let service = open(&dir);
            assert_eq!(service.index_origin(), IndexOrigin::Rebuilt);
            let seen = answers(&service);
            close(service);
            seen
        };
        assert_eq!(rebuilt, current, "the live index and a rebuild agree");

        // Four events behind: caught up.
        std::fs::copy(&old, snapshot_file(&dir)).expect("restore");
        assert_reopens(&dir, IndexOrigin::Snapshot, &current, "");
        assert_reopens(&dir, IndexOrigin::Snapshot, &current, "the clean close wrote a current one");

        // More than the catch-up allows (5 in tests): rebuilt.
        let service = open(&dir);
        runtime().block_on(async {
            for n in 0..2 {
                service.ingest(&event(200 + n, "late", &["t1"], &[&format!("late{n}")])).await.expect("ingest");
            }
        });
        let current = answers(&service);
        close(service);
        std::fs::copy(&old, snapshot_file(&dir)).expect("restore");
        assert_reopens(&dir, IndexOrigin::Rebuilt, &current, "");
    }

    /// The sequence a snapshot file says it was written at.
    fn written_at(dir: &Path) -> Option<u64> {
        let bytes = std::fs::read(snapshot_file(dir)).ok()?;
        Some(u64::from_le_bytes(bytes.get(12..20)?.try_into().ok()?))
    }

    /// An idle writer saves the index (so that a crash later catches up from there), once per
    /// busy period, without a close.
    #[test]
    fn an_idle_writer_saves_the_index() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        let service = open(&dir);
        runtime().block_on(async {
            for n in 0..3 {
                service
                    .ingest(&column_event(n, "job", &format!("t{n}"), &format!("t{}", n + 1)))
                    .await
                    .expect("ingest");
            }
        });
        let wait_for = |sequence: u64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while written_at(&dir) != Some(sequence) {
                assert!(std::time::Instant::now() < deadline, "no snapshot at {sequence}: {:?}", written_at(&dir));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        };
        wait_for(3);
        let expected = answers(&service);
        runtime().block_on(async {
            service.ingest(&column_event(3, "job", "t3", "t4")).await.expect("ingest");
        });
        wait_for(4);
        // As after a crash at this point: the file of the idle save is current.
        let copy = temp.path().join("idle.snapshot");
        std::fs::copy(snapshot_file(&dir), &copy).expect("copy");
        let current = answers(&service);
        assert_ne!(current, expected);
        close(service);
        std::fs::copy(&copy, snapshot_file(&dir)).expect("restore");
        assert_reopens(&dir, IndexOrigin::Snapshot, &current, "");
    }

    /// A fresh store served with a busy save every `snapshot_every` events, its column lineage
    /// loaded (busy saves wait for it).
    fn busy_service(snapshot_every: u64) -> (tempfile::TempDir, std::path::PathBuf, Service) {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        let service = open_with(&dir, ServiceConfig { snapshot_every, ..ServiceConfig::default() });
        service.shared.wait_for_columns().expect("columns");
        (temp, dir, service)
    }

    /// The sequence a snapshot file's header records (after its magic and format).
    fn snapshot_sequence(bytes: &[u8]) -> Option<u64> {
        bytes.get(12..20).map(|sequence| u64::from_le_bytes(sequence.try_into().expect("8 bytes")))
    }

    /// A writer that is never idle saves the index every `snapshot_every` events (its file
    /// written beside it), so that a crash then catches up from there; the file it left is
    /// used like an idle save's.
    #[test]
    fn a_busy_writer_saves_the_index_every_so_many_events() {
        let (_temp, dir, service) = busy_service(4);
        runtime().block_on(async {
            for n in 0..30 {
                let (input, output) = (format!("t{}", n % 5), format!("t{}", n % 5 + 1));
                service.ingest(&column_event(n, &format!("job{}", n % 3), &input, &output)).await.expect("ingest");
            }
        });
        // Read before an idle save could come (300 ms in tests), once: a later save may
        // replace the file meanwhile.
        let busy_save = std::fs::read(snapshot_file(&dir)).expect("a snapshot written while busy");
        let saves = service
            .metric_families()
            .expect("metrics")
            .iter()
            .find(|family| family.name() == "tributary_writer_snapshot_seconds")
            .map(|family| family.get_metric()[0].get_histogram().get_sample_count());
        assert!(saves.is_some_and(|saves| saves >= 1), "saves while busy: {saves:?}");
        let sequence = snapshot_sequence(&busy_save).expect("a sequence");
        assert!((4..=30).contains(&sequence), "{sequence}");
        // As after a crash now: the file the busy writer left.
        let current = answers(&service);
        close(service);
        std::fs::write(snapshot_file(&dir), &busy_save).expect("restore");
        let origin = match 30 - sequence <= crate::snapshot::MAX_CATCH_UP {
            true => IndexOrigin::Snapshot,
            false => IndexOrigin::Rebuilt,
        };
        assert_reopens(&dir, origin, &current, "the busy writer's snapshot");
    }

    /// Stress: eight clients ingest at once (so groups form) while readers read the index and
    /// the busy writer saves every few events, its files written beside while it goes on. Every
    /// file seen meanwhile (read whole, as a crash would leave it) opens to the final answers:
    /// caught up when close enough, rebuilt otherwise; none is half written or inconsistent.
    /// (The files of the busy period are too far behind the end to be caught up with the
    /// tests' bound of 5 events; those of the last events are caught up.)
    #[test]
    fn busy_saves_under_concurrent_ingest_and_readers_open_to_the_same_answers() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (_temp, dir, service) = busy_service(2);
        let done = AtomicBool::new(false);
        let files: Vec<(u64, Vec<u8>)> = std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        assert!(!answers(&service).is_empty());
                    }
                });
            }
            let watcher = scope.spawn(|| {
                let mut files: Vec<(u64, Vec<u8>)> = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    if let Ok(bytes) = std::fs::read(snapshot_file(&dir))
                        && let Some(sequence) = snapshot_sequence(&bytes)
                        && files.iter().all(|(seen, _)| *seen != sequence)
                    {
                        files.push((sequence, bytes));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                files
            });
            let late = runtime().block_on(async {
                let clients: Vec<_> = (0..8u32)
                    .map(|client| {
                        let service = service.clone();
                        tokio::spawn(async move {
                            for k in 0..8u32 {
                                let n = client * 8 + k;
                                let (input, output) = (format!("t{}", n % 6), format!("t{}", n % 6 + 1));
                                let event = column_event(n, &format!("job{}", n % 4), &input, &output);
                                service.ingest(&event).await.expect("ingest");
                            }
                        })
                    })
                    .collect();
                for client in clients {
                    client.await.expect("client");
                }
                // Then one client, waiting after each event for a snapshot of it (the busy
                // writer's, or the idle writer's after 300 ms): the last files are close enough
                // to the end to be caught up, whatever the machine's speed.
                let mut late = Vec::new();
                for n in 64..68u32 {
                    let event = column_event(n, "job9", &format!("t{}", n % 6), &format!("t{}", n % 6 + 1));
                    let sequence = service.ingest(&event).await.expect("ingest").sequence;
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    loop {
                        if let Ok(bytes) = std::fs::read(snapshot_file(&dir))
                            && snapshot_sequence(&bytes) == Some(sequence)
                        {
                            late.push((sequence, bytes));
                            break;
                        }
                        assert!(std::time::Instant::now() < deadline, "no snapshot at {sequence}");
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
                late
            });
            done.store(true, Ordering::Relaxed);
            let mut files = watcher.join().expect("watcher");
            for (sequence, bytes) in late {
                if files.iter().all(|(seen, _)| *seen != sequence) {
                    files.push((sequence, bytes));
                }
            }
            files
        });
        assert!(files.len() >= 2, "busy saves seen: {:?}", files.iter().map(|(s, _)| s).collect::<Vec<_>>());
        let current = answers(&service);
        assert!(current[0].contains("watermark=68"), "{current:?}");
        close(service);
        let mut caught_up = 0;
        for (sequence, bytes) in files {
            std::fs::write(snapshot_file(&dir), &bytes).expect("restore");
            let origin = match 68 - sequence <= crate::snapshot::MAX_CATCH_UP {
                true => IndexOrigin::Snapshot,
                false => IndexOrigin::Rebuilt,
            };
            caught_up += usize::from(origin == IndexOrigin::Snapshot && sequence < 68);
            assert_reopens(&dir, origin, &current, &format!("the snapshot written at {sequence}"));
        }
        assert!(caught_up >= 1, "no busy save close enough to the end to be caught up");
    }

    /// A close whose index is at the snapshot's sequence writes no new file, unless that file
    /// was taken while the owners were loading and they have loaded since: then it writes one
    /// that keeps them, and the next start-up has them from it.
    #[test]
    fn a_snapshot_without_the_owners_is_written_again_once_they_are_loaded() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        write_chain(&dir, 6);
        let service = open(&dir);
        super::wait_for_owners(&service);
        service.shared.wait_for_columns().expect("columns");
        let sequence = service.shared.read_state().index.watermark().sequence;
        let at = |owners| Some(crate::snapshot::SnapshotFile { sequence, owners });
        *service.shared.snapshot_at.lock().expect("lock") = at(true);
        assert!(crate::snapshot::capture(&service.shared, &dir).expect("capture").is_none(), "current: not again");
        // The file on disk says it keeps no owners (as one taken during their load).
        *service.shared.snapshot_at.lock().expect("lock") = at(false);
        assert!(
            crate::snapshot::capture(&service.shared, &dir).expect("capture").is_some(),
            "written without the owners: again"
        );
        close(service);
        let service = open(&dir);
        assert_eq!(service.index_origin(), IndexOrigin::Snapshot);
        assert!(service.shared.read_state().owners.read_from_snapshot(), "the close's file keeps the owners");
        close(service);
    }

    #[test]
    fn a_damaged_or_foreign_snapshot_is_not_used() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("store");
        let other = temp.path().join("other");
        write_chain(&dir, 12);
        // Another store with the same number of events: only the identity tells them apart.
        write_chain(&other, 12);
        let expected = {
            let service = open(&dir);
            let seen = answers(&service);
            close_once_owners_loaded(service);
            seen
        };

        std::fs::copy(snapshot_file(&other), snapshot_file(&dir)).expect("copy");
        assert_reopens(&dir, IndexOrigin::Rebuilt, &expected, "another store's snapshot");

        let file = snapshot_file(&dir);
        let clean = std::fs::read(&file).expect("read");
        // The header, then the dataset graph section (length, bytes, checksum), the owners
        // section, then columns.
        let identity_len = u32::from_le_bytes(clean[20..24].try_into().expect("4")) as usize;
        let graph_at = 24 + identity_len;
        let graph_len = u64::from_le_bytes(clean[graph_at..graph_at + 8].try_into().expect("8")) as usize;
        let owners_at = graph_at + 8 + graph_len + 8;
        let owners_len = u64::from_le_bytes(clean[owners_at..owners_at + 8].try_into().expect("8")) as usize;
        let columns_at = owners_at + 8 + owners_len + 8;
        assert!(columns_at < clean.len(), "a column section follows");
        for at in [
            0,
            9,
            graph_at + 3,
            graph_at + 8 + graph_len / 2,
            owners_at + 3,
            owners_at + 8 + owners_len / 2,
            columns_at + 3,
            (columns_at + clean.len()) / 2,
            clean.len() - 1,
        ] {
            let mut damaged = clean.clone();
            damaged[at] ^= 0x01;
            std::fs::write(&file, &damaged).expect("write");
            let service = open(&dir);
            // A damaged header or dataset graph: rebuilt. A damaged owners section: the
            // dataset graph is used, the owners load from the store (and, when the damage is
            // in the section's length, the columns too: they are read from where it says they
            // start). A damaged column section: the graph is used, the columns come from the
            // store.
            let expected_origin = if at < owners_at { IndexOrigin::Rebuilt } else { IndexOrigin::Snapshot };
            assert_eq!(service.index_origin(), expected_origin, "byte {at} flipped");
            if (owners_at..columns_at).contains(&at) {
                // (None once the loader found the columns damaged too and removed the file.)
                let taken = service.shared.snapshot_at.lock().expect("lock").is_some_and(|file| file.owners);
                assert!(!taken, "byte {at} flipped: the snapshot's owners are not taken");
            }
            assert_eq!(answers(&service), expected, "byte {at} flipped");
            close_once_owners_loaded(service);
            // Either way the close wrote a whole snapshot again, the owners loaded from the
            // store included.
            assert_eq!(std::fs::read(&file).expect("read"), clean, "byte {at} flipped");
        }
        // A sequence that reads 4 events behind (12 -> 8) would be caught up, from the wrong
        // place: the first section's checksum covers the header.
        let mut earlier = clean.clone();
        earlier[12] ^= 0x04;
        assert_eq!(u64::from_le_bytes(earlier[12..20].try_into().expect("8")), 8);
        std::fs::write(&file, &earlier).expect("write");
        assert_reopens(&dir, IndexOrigin::Rebuilt, &expected, "sequence damaged");
        std::fs::write(&file, &clean[..clean.len() / 3]).expect("write");
        let service = open(&dir);
        assert_eq!(service.index_origin(), IndexOrigin::Rebuilt, "cut short");
        close(service);

        // A decoded length that is not the frame's, with a checksum that vouches for it (as a
        // writer bug would leave it): refused, not read short or long.
        let header = &clean[..graph_at];
        for (delta, what) in [(1i64, "one more"), (-1, "one less"), (1 << 40, "huge")] {
            let mut wrong = clean.clone();
            let decoded_at = graph_at + 8;
            let decoded = u64::from_le_bytes(wrong[decoded_at..decoded_at + 8].try_into().expect("8"));
            let decoded = decoded.checked_add_signed(delta).expect("in range");
            wrong[decoded_at..decoded_at + 8].copy_from_slice(&decoded.to_le_bytes());
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(header);
            hasher.update(&wrong[decoded_at..graph_at + 8 + graph_len]);
            let checksum_at = graph_at + 8 + graph_len;
            wrong[checksum_at..checksum_at + 8].copy_from_slice(&hasher.digest().to_le_bytes());
            std::fs::write(&file, &wrong).expect("write");
            assert_reopens(&dir, IndexOrigin::Rebuilt, &expected, what);
        }
    }
}

/// The writer trains the event dictionary beside itself once the store holds enough events
/// and goes on meanwhile; the events after it use it, all read back, and a rebuild agrees
/// with the store (events compare by content, whatever each store's dictionaries).
#[test]
fn the_writer_trains_an_event_dictionary_and_a_rebuild_agrees() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (dir, target) = (temp.path().join("store"), temp.path().join("rebuilt"));
    let first = u32::try_from(tributary_store::dictionary::FIRST_TRAINING_AT).expect("small");
    let service =
        Service::open(ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() }).expect("open");
    let chain =
        |n: u32| event(n, &format!("job{}", n % 50), &[&format!("t{}", n % 70)], &[&format!("t{}", n % 70 + 1)]);
    runtime().block_on(async {
        let mut pending = Vec::new();
        for n in 0..first + 50 {
            let parsed = crate::parse_event(&chain(n)).expect("valid");
            pending.push(service.enqueue(parsed).await.expect("enqueue"));
        }
        for ack in pending {
            ack.await.expect("stored");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while service.shared.store.event_dictionaries().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no dictionary was trained");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for n in first + 50..first + 80 {
            service.ingest(&chain(n)).await.expect("ingest");
        }
    });
    service.close();
    drop(service);
    let config = StoreConfig::default();
    {
        let store = Store::open_waiting(&dir, &config, std::time::Duration::from_secs(5)).expect("open store");
        assert_eq!(store.event_dictionaries(), vec![1]);
        let events = store.events_after(0, usize::MAX).expect("events");
        assert_eq!(events.len(), (first + 80) as usize);
        for (sequence, json) in &events {
            let parsed = crate::parse_event(json).expect("a stored event parses");
            let expected = crate::parse_event(&chain(u32::try_from(*sequence).expect("small") - 1)).expect("valid");
            assert_eq!(parsed.canonical, expected.canonical, "event {sequence}");
        }
    }
    let report = maintenance::rebuild(&dir, &target, &config, |_| {}).expect("rebuild");
    assert_eq!(report.events, u64::from(first + 80));
    assert_eq!(Store::open(&target, &config).expect("open rebuilt").event_dictionaries(), vec![1]);
    let verified = maintenance::verify(&dir, &config, |_| {}).expect("verify");
    assert_eq!(verified.differences, 0, "{:?}", verified.shown);
}

/// Schema versions are stored as references to their fields in the event that first showed
/// them, and keep that form when a later schema supersedes them (their last-seen time moves);
/// the history reads the fields as sent, and a rebuild agrees.
#[test]
fn schema_versions_point_into_the_event_log_and_survive_being_superseded() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let with_schema = |n: u32, columns: &[&str]| {
        let mut event: serde_json::Value =
            serde_json::from_slice(&event(n, "load", &["raw"], &["orders"])).expect("json");
        let fields: Vec<serde_json::Value> =
            columns.iter().map(|name| json!({"name": name, "type": "BIGINT"})).collect();
        event["outputs"][0]["facets"] = json!({"schema": {
            "_producer": "https://example.com/tributary-unit-tests",
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
            "fields": fields}});
        serde_json::to_vec(&event).expect("json")
    };
    let service =
        Service::open(ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() }).expect("open");
    runtime().block_on(async {
        for (n, columns) in [(1, &["id", "amount"][..]), (2, &["id", "amount"][..]), (3, &["id", "total"][..])] {
            service.ingest(&with_schema(n, columns)).await.expect("ingest");
        }
    });
    service.close();
    drop(service);
    let config = StoreConfig::default();
    {
        let store = Store::open_waiting(&dir, &config, std::time::Duration::from_secs(5)).expect("open store");
        let orders = DatasetId::new("db", "orders");
        let versions = store.schema_versions(&orders).expect("versions");
        let names = |index: usize| {
            versions[index]
                .fields
                .as_array()
                .expect("fields")
                .iter()
                .map(|field| field["name"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(versions.len(), 2);
        assert_eq!((names(0), names(1)), (vec![json!("id"), json!("amount")], vec![json!("id"), json!("total")]));
        assert_eq!((versions[0].first_sequence, versions[1].first_sequence), (1, 3));
        assert!(versions[0].last_seen > versions[0].first_seen, "superseded: seen again at event 2");
        for version in &versions {
            let span = store.schema_version_span(&orders, &version.hash).expect("span").expect("by reference");
            let event = store.event(version.first_sequence).expect("event").expect("stored");
            let fields: serde_json::Value = serde_json::from_slice(&event[span]).expect("fields");
            assert_eq!(fields, version.fields);
        }
    }
    let verified = maintenance::verify(&dir, &config, |_| {}).expect("verify");
    assert_eq!((verified.events, verified.differences), (3, 0), "{:?}", verified.shown);
}

/// A store error is said once, also where callers print the chain of causes (`tributary stats`
/// on a store of a newer format used to repeat it).
#[test]
fn a_store_error_is_said_once_through_the_chain_of_causes() {
    let error = crate::ServiceError::from(tributary_store::StoreError::UnsupportedFormat { found: 9 });
    let mut chain = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(next) = cause {
        chain.push_str(&format!(": {next}"));
        cause = next.source();
    }
    assert_eq!(chain.matches("store format 9").count(), 1, "{chain}");
}

/// The writer looks aliases up in the published state (earlier groups) and in its group's
/// pending writes (earlier events of the same group); a rebuild looks them up in the store.
/// Both must resolve the same names: an alias named as a job's input, as a column lineage
/// input and as an output, in the group that declares it and in later ones.
#[test]
fn aliases_resolve_alike_in_the_declaring_group_later_groups_and_a_rebuild() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let run = run_event;
    let symlinked = |n: u32| {
        json!([{"namespace": "s3://lake", "name": format!("/raw/t{n}"), "facets": {"symlinks": {
            "_producer": "p",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json",
            "identifiers": [{"namespace": "hive", "name": format!("raw.t{n}"), "type": "TABLE"}]
        }}}])
    };
    // Reads `raw.t{n}` by its alias, as an input and in its column lineage.
    let reader = |n: u32, job: &str| {
        run(
            n + 100,
            job,
            json!([{"namespace": "hive", "name": format!("raw.t{n}")}]),
            json!([{"namespace": "db", "name": format!("{job}_out"), "facets": {"columnLineage": {
                "_producer": "p",
                "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                "fields": {"id": {"inputFields": [{"namespace": "hive", "name": format!("raw.t{n}"), "field": "id"}]}}
            }}}]),
        )
    };
    let service =
        Service::open(ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() }).expect("open");
    // The declaration and a reader in one group: the writer is held at the publication of a
    // first group (this thread holds the state's write lock) while both are queued, then
    // drains them together.
    let runtime = runtime();
    let first_event = run(0, "first", json!([]), json!([]));
    let batch_events = vec![run(1, "spark", json!([]), symlinked(1)), reader(1, "same_group")];
    let held = service.shared.write_state();
    let first = runtime.spawn({
        let service = service.clone();
        async move { service.ingest_owned(first_event).await }
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let batch = runtime.spawn({
        let service = service.clone();
        async move { service.ingest_batch(batch_events).await }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(held);
    runtime.block_on(async {
        first.await.expect("first task").expect("first event");
        for outcome in batch.await.expect("batch task").expect("batch") {
            outcome.expect("event");
        }
        // A later group, and a writer naming the alias as its output.
        service.ingest(&reader(1, "later_group")).await.expect("later reader");
        service
            .ingest(&run(3, "hive_writer", json!([]), json!([{"namespace": "hive", "name": "raw.t1"}])))
            .await
            .expect("alias as output");
    });
    service.shared.wait_for_columns().expect("columns");
    {
        let state = service.shared.read_state();
        let canonical = DatasetId::new("s3://lake", "/raw/t1");
        let nodes = |direction| -> Vec<String> {
            let start = tributary_model::NodeRef::from(&canonical);
            let answer = state.index.lineage(tributary_graph::LineageQuestion::new(&start, direction, 5, 1_000));
            answer.expect("lineage").nodes.iter().map(|node| format!("{node:?}")).collect()
        };
        let names = nodes(tributary_model::Direction::Downstream);
        for expected in ["same_group", "later_group", "same_group_out", "later_group_out"] {
            assert!(names.iter().any(|name| name.contains(expected)), "{expected} missing from {names:?}");
        }
        assert!(!names.iter().any(|name| name.contains("raw.t1")), "the alias is a node of its own: {names:?}");
        let producers = nodes(tributary_model::Direction::Upstream);
        assert!(producers.iter().any(|name| name.contains("hive_writer")), "{producers:?}");
        for job in ["same_group", "later_group"] {
            let columns = state
                .index
                .column_lineage(
                    &DatasetId::new("db", format!("{job}_out")),
                    "id",
                    tributary_model::Direction::Upstream,
                    5,
                    100,
                )
                .expect("column lineage");
            let sources: Vec<String> =
                columns.columns.iter().map(|hit| format!("{}.{}", hit.dataset.name, hit.field)).collect();
            assert_eq!(sources, vec!["/raw/t1.id".to_owned()], "{job}");
        }
    }
    service.close();
    drop(service);
    // The rebuild (aliases read from the store) derives the same records; sled's threads let
    // go of the store's lock shortly after the close.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let report = loop {
        match maintenance::verify(&dir, &StoreConfig::default(), |_| {}) {
            Err(crate::ServiceError::Store(tributary_store::StoreError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("verify"),
        }
    };
    assert_eq!((report.events, report.differences), (5, 0), "{:?}", report.shown);
}

/// The writer applies a group while the one before it is flushed and published on the
/// finishing thread. An event that names an alias the group just before it declared must
/// still resolve it: the writer waits for that group's publication (the rules look earlier
/// groups' aliases up in the published state). One event a group, in flight together.
#[test]
fn an_alias_declared_by_the_group_before_resolves_while_that_group_is_flushed() {
    let (_temp, service) = durable_service_in_groups_of(1);
    const PAIRS: u32 = 40;
    let mut events = Vec::new();
    for n in 0..PAIRS {
        events.push(run_event(
            2 * n,
            &format!("declare{n}"),
            json!([]),
            json!([{"namespace": "s3://lake", "name": format!("/raw/t{n}"), "facets": {"symlinks": {
                "_producer": "p",
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json",
                "identifiers": [{"namespace": "hive", "name": format!("raw.t{n}"), "type": "TABLE"}]
            }}}]),
        ));
        events.push(run_event(
            2 * n + 1,
            &format!("reader{n}"),
            json!([{"namespace": "hive", "name": format!("raw.t{n}")}]),
            json!([{"namespace": "db", "name": format!("out{n}")}]),
        ));
    }
    let runtime = runtime();
    runtime.block_on(async {
        for outcome in service.ingest_batch(events).await.expect("batch") {
            outcome.expect("event");
        }
    });
    let state = service.shared.read_state();
    let mut unresolved = Vec::new();
    for n in 0..PAIRS {
        let alias = tributary_model::NodeRef::from(&DatasetId::new("hive", format!("raw.t{n}")));
        if state.index.node_number(&alias).is_some() {
            unresolved.push(n);
        }
        let canonical = tributary_model::NodeRef::from(&DatasetId::new("s3://lake", format!("/raw/t{n}")));
        let answer = state
            .index
            .lineage(tributary_graph::LineageQuestion::new(&canonical, tributary_model::Direction::Downstream, 2, 100))
            .expect("lineage");
        let names: Vec<String> = answer.nodes.iter().map(|node| format!("{node:?}")).collect();
        assert!(names.iter().any(|name| name.contains(&format!("reader{n}"))), "pair {n}: {names:?}");
    }
    assert!(unresolved.is_empty(), "aliases taken for datasets of their own in pairs {unresolved:?}");
    drop(state);
    service.close();
}

/// When the automatic compaction calls for a compaction: a store never compacted once it
/// reaches the minimum size, a compacted one once it has grown by the factor since.
#[test]
fn a_compaction_is_due_at_the_minimum_size_then_by_growth_since_the_last() {
    use crate::compaction::{Due, due};
    let temp = tempfile::tempdir().expect("temp dir");
    write_chain(temp.path(), 200);
    let service =
        Service::open(ServiceConfig { data_dir: Some(temp.path().to_path_buf()), ..ServiceConfig::default() })
            .expect("open");
    let store = &service.shared.store;
    let size = store.size_on_disk().expect("size");
    let every = std::time::Duration::from_secs(600);
    let policy = |growth: f64, min_bytes: u64| crate::AutoCompact { growth, min_bytes, every };
    let is_due = |verdict: Due| matches!(verdict, Due::Yes { .. } | Due::NoRoom { .. });
    // Never compacted: due at the minimum size whatever the growth, not below it.
    assert_eq!(due(&service.shared, &policy(2.0, size + 1)).expect("due"), Due::No);
    let verdict = due(&service.shared, &policy(1000.0, size)).expect("due");
    assert!(is_due(verdict), "a store never compacted at the minimum size");
    // Recorded as compacted to half its size now: due at a growth of 2, not of 10 (the store
    // does not grow fivefold by recording that size).
    store.record_compacted_size(size / 2).expect("record");
    assert!(is_due(due(&service.shared, &policy(2.0, 0)).expect("due")), "grown twofold");
    assert_eq!(due(&service.shared, &policy(10.0, 0)).expect("due"), Due::No);
    service.close();
}

/// The check of dropping `db.orders.order_id` when `copies` datasets copy it (one job each),
/// the copies named `copy_NN` followed by `padding` bytes of `x`.
fn check_of_copied_column(copies: u32, padding: usize) -> ChangeReport {
    let temp = tempfile::tempdir().expect("tempdir");
    let service =
        Service::open(ServiceConfig { data_dir: Some(temp.path().join("store")), ..ServiceConfig::default() })
            .expect("open");
    let facet = |url: &str, body: serde_json::Value| {
        let mut facet = json!({"_producer": "p", "_schemaURL": url});
        facet.as_object_mut().expect("object").extend(body.as_object().expect("object").clone());
        facet
    };
    let schema = facet(
        "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
        json!({"fields": [{"name": "order_id", "type": "bigint"}, {"name": "amount", "type": "decimal(10,2)"}]}),
    );
    let report = runtime().block_on(async {
        let load = run_event(0, "load", json!([]), json!([{"namespace": "db", "name": "orders", "facets": {"schema": schema}}]));
        service.ingest(&load).await.expect("ingest");
        for copy in 1..=copies {
            let lineage = facet(
                "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                json!({"fields": {"order_id": {"inputFields": [{"namespace": "db", "name": "orders", "field": "order_id",
                    "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]}}}),
            );
            let name = format!("copy_{copy:02}{}", "x".repeat(padding));
            let event = run_event(
                copy,
                &name,
                json!([{"namespace": "db", "name": "orders"}]),
                json!([{"namespace": "db", "name": name, "facets": {"columnLineage": lineage}}]),
            );
            service.ingest(&event).await.expect("ingest");
        }
        let proposed = r#"{"fields": [{"name": "amount", "type": "decimal(10,2)"}]}"#.to_owned();
        service
            .check_change_text(DatasetId::new("db", "orders"), proposed, crate::SchemaFormat::OpenLineage, None)
            .await
            .expect("check")
    });
    service.close();
    report
}

/// An on-demand change check lists the nearest `ANSWER_LIST_LIMIT` impacts of a change (40
/// in unit tests) and counts them all, in the JSON and the markdown too.
#[test]
fn an_on_demand_check_lists_the_nearest_impacts_and_counts_them_all() {
    const COPIES: u32 = 45;
    let report = check_of_copied_column(COPIES, 0);
    let dropped = &report.changes[0];
    assert_eq!(dropped.change.path, "order_id");
    assert_eq!((dropped.impacts.len(), dropped.impact_count), (40, COPIES as usize));
    let listed: Vec<&str> = dropped.impacts.iter().map(|impact| impact.dataset.name.as_str()).collect();
    let expected: Vec<String> = (1..=40).map(|copy| format!("copy_{copy:02}")).collect();
    assert_eq!(listed, expected);
    assert_eq!(report.affected_datasets.len(), COPIES as usize);
    let json = report.to_json();
    assert_eq!(json["changes"][0]["impactCount"], COPIES);
    assert_eq!(json["listsComplete"], false);
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("- … and 25 more, farther away (the nearest 20 are listed; the JSON report lists 40)"),
        "{markdown}"
    );
    assert_eq!(markdown.lines().filter(|line| line.starts_with("- DIRECT `db:copy_")).count(), 20);
}

/// The report's JSON built as values key by key, as `to_json_listing` made it before it was
/// written from the report: the oracle of the written JSON.
fn reference_json(report: &ChangeReport, limit: usize) -> serde_json::Value {
    use serde_json::Value;
    use tributary_model::{NodeKind, NodeRef};
    let node_json = |node: &NodeRef| json!({"kind": if node.kind == NodeKind::Dataset { "DATASET" } else { "JOB" }, "namespace": node.namespace, "name": node.name});
    let mut complete = report.affected_datasets.len() <= limit
        && report.affected_jobs.len() <= limit
        && report.groups.iter().all(|group| group.owners.len() <= limit);
    let mut listed = |nodes: &[NodeRef]| {
        complete &= nodes.len() <= limit;
        nodes.iter().take(limit).map(node_json).collect::<Vec<_>>()
    };
    let changes = report
        .changes
        .iter()
        .map(|checked| {
            let mut change = serde_json::to_value(&checked.change).unwrap_or(Value::Null);
            change["impacts"] = Value::Array(
                checked
                    .impacts
                    .iter()
                    .take(limit)
                    .map(|impact| {
                        json!({
                            "dataset": {"namespace": impact.dataset.namespace, "name": impact.dataset.name},
                            "field": impact.field,
                            "job": impact.job.as_ref().map(|j| json!({"namespace": j.namespace, "name": j.name})),
                            "distance": impact.distance,
                            "use": impact.impact_use.as_str(),
                            "source": impact.source.map(tributary_model::EdgeSource::as_str),
                            "path": impact.path,
                        })
                    })
                    .collect(),
            );
            change["impactCount"] = checked.impact_count.into();
            change
        })
        .collect::<Vec<_>>();
    let complete_impacts = report.changes.iter().all(|c| c.impacts.len() == c.impact_count && c.impact_count <= limit);
    let groups = report
        .groups
        .iter()
        .map(|group| {
            json!({
                "product": group.product,
                "domain": group.domain,
                "namespace": group.namespace,
                "ownerCount": group.owners.len(),
                "owners": group.owners.iter().take(limit).map(|o| json!({"name": o.name, "role": o.role, "source": o.source})).collect::<Vec<_>>(),
                "datasetCount": group.datasets.len(),
                "datasets": listed(&group.datasets),
                "jobCount": group.jobs.len(),
                "jobs": listed(&group.jobs),
            })
        })
        .collect::<Vec<_>>();
    json!({
        "dataset": {"namespace": report.dataset.namespace, "name": report.dataset.name},
        "baseline": report.baseline,
        "verdict": report.verdict.as_str(),
        "changes": changes,
        "unsupported": serde_json::to_value(&report.unsupported).unwrap_or(Value::Null),
        "affectedDatasetCount": report.affected_datasets.len(),
        "affectedDatasets": report.affected_datasets.iter().take(limit).map(node_json).collect::<Vec<_>>(),
        "affectedJobCount": report.affected_jobs.len(),
        "affectedJobs": report.affected_jobs.iter().take(limit).map(node_json).collect::<Vec<_>>(),
        "groups": groups,
        "listsComplete": complete && complete_impacts,
        "watermark": {"sequence": report.watermark.sequence, "events": report.watermark.events},
    })
}

/// The report's JSON written from the report is the value built key by key, and its text
/// that value's serialisation byte for byte, for every list limit and for reports with
/// owners, roles, missing jobs, fields and sources, and names that need escaping.
#[test]
fn a_reports_json_is_written_as_its_value_serialises() {
    use crate::mesh::{ImpactGroup, OwnerView};
    let mut report = check_of_copied_column(12, 0);
    let mut other = report.clone();
    // Shapes the copied column does not give: no job, no field, no source, escaped names,
    // groups with owners (with and without a role), a second change.
    other.dataset.name = "orders \"quoted\"\n ü".to_owned();
    for (index, impact) in other.changes[0].impacts.iter_mut().enumerate() {
        if index % 2 == 0 {
            impact.job = None;
            impact.source = None;
        }
        if index % 3 == 0 {
            impact.field = None;
            impact.path.clear();
        }
    }
    other.changes.push(other.changes[0].clone());
    other.changes[1].impact_count += 7;
    let nodes = other.affected_datasets.clone();
    other.groups = vec![
        ImpactGroup {
            product: Some("sales.orders".to_owned()),
            domain: Some("sales".to_owned()),
            namespace: None,
            owners: vec![
                OwnerView {
                    name: "team:sales".to_owned(),
                    role: Some("owner".to_owned()),
                    source: "domain sales".to_owned(),
                },
                OwnerView { name: "ana\t".to_owned(), role: None, source: "product sales.orders".to_owned() },
            ],
            datasets: nodes[..5].to_vec(),
            jobs: other.affected_jobs[..3].to_vec(),
        },
        ImpactGroup {
            product: None,
            domain: None,
            namespace: Some("db".to_owned()),
            owners: vec![],
            datasets: nodes[5..].to_vec(),
            jobs: vec![],
        },
    ];
    // Lists that are whole but for the impacts: `listsComplete` is the impacts' to say.
    let mut impacts_only = report.clone();
    impacts_only.affected_datasets.truncate(1);
    impacts_only.affected_jobs.truncate(1);
    impacts_only.groups.clear();
    report.unsupported.clear();
    for report in [&report, &other, &impacts_only] {
        for limit in [0, 1, 2, 4, 5, 11, 12, 100, usize::MAX] {
            assert_eq!(report.to_json_listing(limit), reference_json(report, limit), "limit {limit}");
        }
        let mut written = Vec::new();
        report.write_json(&mut written).expect("written");
        let reference = serde_json::to_string(&reference_json(report, usize::MAX)).expect("serialised");
        assert_eq!(String::from_utf8(written).expect("utf-8"), reference);
        assert_eq!(report.json_text().expect("written"), reference);
    }
}

/// The markdown fits a pull request comment however long the names it lists: impacts of
/// ~8 KB a line (a 2,000-byte name three times) are listed while they fit, the rest counted.
#[test]
fn the_markdown_of_a_check_fits_a_pull_request_comment() {
    const COPIES: u32 = 30;
    let report = check_of_copied_column(COPIES, 2_000);
    let markdown = report.to_markdown();
    assert!(markdown.len() <= crate::MARKDOWN_LIMIT, "{} bytes", markdown.len());
    let listed = markdown.lines().filter(|line| line.starts_with("- DIRECT `db:copy_")).count();
    assert!((1..20).contains(&listed), "{listed} impacts listed");
    let note = format!(
        "- … and {} more, farther away (the nearest {listed} are listed; the JSON report lists 30)",
        COPIES as usize - listed
    );
    assert!(markdown.contains(&note), "{note} not in the markdown");
    // The report goes on after the cut: who must be told, and the footer.
    assert!(markdown.contains("### Who must be told"));
    assert!(markdown.trim_end().ends_with("._"), "{}", &markdown[markdown.len() - 200..]);
}

/// Run `n` of job `etl.load_{dataset}` writing `db.{dataset}` with a `schema` facet of
/// `columns`, at 10:00 plus `n` seconds (later runs are newer).
fn schema_event(n: u32, dataset: &str, columns: &[&str]) -> Vec<u8> {
    let fields: Vec<serde_json::Value> = columns.iter().map(|name| json!({"name": name, "type": "BIGINT"})).collect();
    let mut event: serde_json::Value = serde_json::from_slice(&run_event(
        n,
        &format!("load_{dataset}"),
        json!([]),
        json!([{"namespace": "db", "name": dataset, "facets": {"schema": {
            "_producer": "https://example.com/tributary-unit-tests",
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
            "fields": fields}}}]),
    ))
    .expect("json");
    event["eventTime"] = json!(format!("2024-05-01T{:02}:{:02}:{:02}Z", 10 + n / 3600, n / 60 % 60, n % 60));
    serde_json::to_vec(&event).expect("json")
}

/// A schema change whose event was acknowledged but which the server stopped before recording
/// waits in the store, and is recorded at the next start (nothing else brings it back: the
/// event is stored and its schema is current).
#[test]
fn a_schema_change_left_queued_is_recorded_at_the_next_start() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let config = || ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() };
    let service = Service::open(config()).expect("open");
    service.shared.recorder.held.store(true, std::sync::atomic::Ordering::SeqCst);
    runtime().block_on(async {
        service.ingest(&schema_event(1, "orders", &["id", "amount"])).await.expect("ingest");
        service.ingest(&schema_event(2, "orders", &["id", "total"])).await.expect("ingest");
    });
    let queued = service.shared.store.seen_schema_changes(10).expect("queued");
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!((queued[0].sequence, queued[0].dataset.name.as_str()), (2, "orders"));
    assert!(service.shared.store.schema_changes(10, |_| true).expect("recorded").is_empty());
    service.close();
    drop(service);

    let service = Service::open(config()).expect("reopen");
    let recorded =
        runtime().block_on(service.schema_changes(crate::SchemaChangeFilter::default(), 10)).expect("schema changes");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!((recorded[0].sequence, recorded[0].dataset.name.as_str()), (2, "orders"));
    assert_eq!(recorded[0].verdict, tributary_model::Verdict::Breaking, "column `amount` was dropped");
    assert!(service.shared.store.seen_schema_changes(10).expect("queued").is_empty());
    service.close();
}

/// Writers change schemas concurrently while readers list the recorded changes: every change
/// is recorded once, and a writer that asks after its acknowledgement finds its own change
/// (the answer waits for the recorder to catch up with what the server reflects).
#[test]
fn every_schema_change_is_recorded_once_and_read_after_its_acknowledgement() {
    const WRITERS: u32 = 4;
    const EVENTS: u32 = 24;
    let temp = tempfile::tempdir().expect("tempdir");
    let service = std::sync::Arc::new(
        Service::open(ServiceConfig { data_dir: Some(temp.path().join("store")), ..ServiceConfig::default() })
            .expect("open"),
    );
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    runtime().block_on(async {
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (service, done) = (service.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let listed =
                        service.schema_changes(crate::SchemaChangeFilter::default(), 10_000).await.expect("list");
                    assert!(listed.len() >= seen, "a recorded change disappeared: {} then {}", seen, listed.len());
                    seen = listed.len();
                }
            }));
        }
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let service = service.clone();
            writers.push(tokio::spawn(async move {
                let dataset = format!("d{writer}");
                for n in 0..EVENTS {
                    let columns: &[&str] = if n % 2 == 0 { &["id", "amount"] } else { &["id", "total"] };
                    let stored =
                        service.ingest(&schema_event(writer * 100 + n, &dataset, columns)).await.expect("ingest");
                    if n == 0 {
                        continue;
                    }
                    let filter = crate::SchemaChangeFilter {
                        dataset: Some(DatasetId::new("db", &dataset)),
                        ..crate::SchemaChangeFilter::default()
                    };
                    let mine = service.schema_changes(filter, 100).await.expect("list");
                    assert!(
                        mine.iter().any(|change| change.sequence == stored.sequence),
                        "{dataset} event {n} (sequence {}): its change is not listed",
                        stored.sequence
                    );
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        for reader in readers {
            reader.await.expect("reader");
        }
        let all = service.schema_changes(crate::SchemaChangeFilter::default(), 10_000).await.expect("list");
        assert_eq!(all.len(), (WRITERS * (EVENTS - 1)) as usize);
        let sequences: std::collections::BTreeSet<u64> = all.iter().map(|change| change.sequence).collect();
        assert_eq!(sequences.len(), all.len(), "each change recorded once");
    });
    assert!(service.shared.store.seen_schema_changes(10).expect("queued").is_empty());
    service.close();
}

/// A queued change whose check keeps failing (as with a corrupt record) is passed over after
/// three tries, so the changes queued after it are recorded; it stays queued for the next start.
#[test]
fn a_change_that_keeps_failing_does_not_hold_up_the_next() {
    let temp = tempfile::tempdir().expect("tempdir");
    let service =
        Service::open(ServiceConfig { data_dir: Some(temp.path().join("store")), ..ServiceConfig::default() })
            .expect("open");
    *service.shared.recorder.failing.lock().expect("lock") = Some(DatasetId::new("db", "bad"));
    let (recorded, good) = runtime().block_on(async {
        service.ingest(&schema_event(1, "bad", &["id", "amount"])).await.expect("ingest");
        service.ingest(&schema_event(2, "bad", &["id", "total"])).await.expect("ingest");
        service.ingest(&schema_event(3, "good", &["id", "amount"])).await.expect("ingest");
        let good = service.ingest(&schema_event(4, "good", &["id", "total"])).await.expect("ingest");
        let started = std::time::Instant::now();
        let mut refused = 0;
        loop {
            // While the bad change is retried, the good one waits behind it: a reader is told
            // the list is incomplete, not given it.
            match service.schema_changes(crate::SchemaChangeFilter::default(), 10).await {
                Ok(recorded) if !recorded.is_empty() => {
                    assert!(refused > 0, "the list was not refused while the changes were still checked");
                    break (recorded, good);
                }
                Ok(_) => panic!("an incomplete (empty) list was answered while the changes were still checked"),
                Err(error) => {
                    assert_eq!(error.code(), crate::ErrorCode::Unavailable, "{error}");
                    let said = error.to_string();
                    assert!(said.contains("of the 4 stored"), "{said}");
                    assert!(said.contains("retry"), "{said}");
                    refused += 1;
                }
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "the good change was never recorded");
        }
    });
    let recorded: Vec<(u64, &str)> =
        recorded.iter().map(|change| (change.sequence, change.dataset.name.as_str())).collect();
    assert_eq!(recorded, [(good.sequence, "good")], "only the good dataset's change is recorded");
    let queued = service.shared.store.seen_schema_changes(10).expect("queued");
    assert_eq!(queued.iter().map(|seen| seen.dataset.name.as_str()).collect::<Vec<_>>(), ["bad"]);
    service.close();
}

/// An event of job `etl.{job}` (at minute `n`) writing `db.{dataset}`, whose and the job's
/// `ownership` facets are `dataset_owners` and `job_owners` (`None`: no facet; an empty list:
/// the facet deleted).
fn ownership_event(
    n: u32,
    job: &str,
    dataset: &str,
    dataset_owners: Option<&[(&str, &str)]>,
    job_owners: Option<&[(&str, &str)]>,
) -> Vec<u8> {
    let facet = |owners: &[(&str, &str)]| {
        if owners.is_empty() {
            return json!({"_deleted": true});
        }
        json!({
            "_producer": "https://example.com/tributary-unit-tests",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/OwnershipDatasetFacet.json",
            "owners": owners.iter().map(|(name, role)| json!({"name": name, "type": role})).collect::<Vec<_>>(),
        })
    };
    let mut output = json!({"namespace": "db", "name": dataset});
    if let Some(owners) = dataset_owners {
        output["facets"] = json!({"ownership": facet(owners)});
    }
    let mut event: serde_json::Value =
        serde_json::from_slice(&run_event(n, job, json!([{"namespace": "db", "name": "source"}]), json!([output])))
            .expect("json");
    if let Some(owners) = job_owners.filter(|owners| !owners.is_empty()) {
        event["job"]["facets"] = json!({"ownership": facet(owners)});
    }
    event["eventTime"] = json!(format!("2024-05-01T{:02}:{:02}:00Z", 10 + n / 60, n % 60));
    serde_json::to_vec(&event).expect("json")
}

/// Waits (at most 30 s) until the nodes' owners are known: loaded after start-up, or read
/// with the index snapshot.
fn wait_for_owners(service: &Service) {
    let started = std::time::Instant::now();
    while !service.shared.read_state().owners.ready() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the owners never loaded");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The owners the state keeps for every node the store lists, or that the index holds, equal
/// what the node's stored `ownership` facet names.
fn assert_owners_agree_with_the_store(service: &Service, what: &str) {
    let shared = &service.shared;
    let state = shared.read_state();
    assert!(state.owners.ready(), "{what}: owners loaded");
    let mut nodes: std::collections::BTreeSet<_> =
        shared.store.owners_by_node().expect("owned nodes").into_keys().collect();
    for name in ["source", "d0", "d1", "d2", "d3", "d4"] {
        nodes.insert(tributary_model::NodeRef::from(&DatasetId::new("db", name)));
    }
    for job in ["j0", "j1", "j2"] {
        nodes.insert(tributary_model::NodeRef::from(&JobId::new("etl", job)));
    }
    for node in &nodes {
        let stored = crate::mesh::stored_owners(&shared.store, node).expect("stored owners");
        let kept = state.owners.of(&state.index, node).expect("ready");
        let kept: Vec<(String, Option<String>)> = kept.map(|list| list.to_vec()).unwrap_or_default();
        assert_eq!(kept, stored.into_iter().collect::<Vec<_>>(), "{what}: owners of {node:?}");
    }
}

/// A failed owners' load is tried again until it succeeds: meanwhile the table is not used
/// (callers read the store), and afterwards it holds every stored owner.
#[test]
fn a_failed_owners_load_is_tried_again() {
    let temp = tempfile::tempdir().expect("tempdir");
    let config = ServiceConfig { data_dir: Some(temp.path().join("store")), ..ServiceConfig::default() };
    let service = Service::open(config).expect("open");
    let teams: [&[(&str, &str)]; 2] = [&[("team:a", "MAINTAINER")], &[("team:b", "OWNER")]];
    runtime().block_on(async {
        for i in 0..6u32 {
            let (job, dataset) = (format!("j{i}"), format!("d{i}"));
            let owners = teams[i as usize % 2];
            service.ingest(&ownership_event(i, &job, &dataset, Some(owners), Some(owners))).await.expect("ingest");
        }
    });
    let shared = &service.shared;
    wait_for_owners(&service);
    // As at start-up, with a store that refuses the first three attempts.
    shared.write_state().owners = crate::mesh::NodeOwners::loading();
    shared.owners_load_end.begin();
    shared.owners_loads_to_fail.store(3, std::sync::atomic::Ordering::SeqCst);
    crate::mesh::load_owners(shared);
    assert_eq!(shared.owners_loads_to_fail.load(std::sync::atomic::Ordering::SeqCst), 0, "three attempts failed");
    assert_owners_agree_with_the_store(&service, "after three failed attempts");
    service.close();
}

/// A large report grouped while the nodes' owners load after start-up waits for the load and
/// takes them from it (rather than reading every node's facet from the store), giving the
/// groups it gives when they are known; a small one does not wait.
#[test]
fn a_large_report_waits_for_the_owners_load() {
    use std::time::Duration;
    use tributary_model::NodeRef;
    let temp = tempfile::tempdir().expect("tempdir");
    let config = ServiceConfig { data_dir: Some(temp.path().join("store")), ..ServiceConfig::default() };
    let service = Service::open(config).expect("open");
    let teams: [&[(&str, &str)]; 2] = [&[("team:a", "MAINTAINER")], &[("team:b", "OWNER"), ("alice", "STEWARD")]];
    runtime().block_on(async {
        for i in 0..8u32 {
            let (job, dataset) = (format!("j{i}"), format!("d{i}"));
            let (dataset_owners, job_owners) = (teams[i as usize % 2], teams[(i as usize + 1) % 2]);
            service
                .ingest(&ownership_event(i, &job, &dataset, Some(dataset_owners), Some(job_owners)))
                .await
                .expect("ingest");
        }
    });
    let shared = &service.shared;
    wait_for_owners(&service);
    let numbers: Vec<tributary_graph::NodeNumber> = {
        let state = shared.read_state();
        (0..8)
            .flat_map(|i| {
                [
                    NodeRef::from(&DatasetId::new("db", format!("d{i}"))),
                    NodeRef::from(&JobId::new("etl", format!("j{i}"))),
                ]
            })
            .map(|node| state.index.node_number(&node).expect("in the index"))
            .collect()
    };
    let grouped = |numbers: &[tributary_graph::NodeNumber]| {
        let mut grouping = crate::mesh::Grouping::default();
        grouping.add_numbered(&shared.read_state(), numbers);
        grouping
    };
    let known = format!("{:#?}", grouped(&numbers).finish(&shared.store).expect("known"));
    let small_known = format!("{:#?}", grouped(&numbers[..3]).finish(&shared.store).expect("known"));
    assert!(known.contains("alice") && known.contains("team:a"), "{known}");

    // As at start-up: the owners are loading.
    shared.write_state().owners = crate::mesh::NodeOwners::loading();
    shared.owners_load_end.begin();
    let asked = std::time::Instant::now();
    let small = grouped(&numbers[..3]).finish_after_the_load(shared).expect("a small report does not wait");
    // Waiting would last until the load's end, at most 120 s: none is coming here.
    assert!(asked.elapsed() < Duration::from_secs(60), "a small report waited for the load");
    assert_eq!(format!("{small:#?}"), small_known, "read from the store");
    let large = grouped(&numbers);
    std::thread::scope(|scope| {
        let report = scope.spawn(move || large.finish_after_the_load(shared));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!report.is_finished(), "a large report waits for the load");
        crate::mesh::load_owners(shared);
        let groups = report.join().expect("report").expect("groups");
        assert_eq!(format!("{groups:#?}"), known, "the loaded owners, as when they were known");
    });
    service.close();
}

/// The owners kept in memory for impact groups follow every change of a dataset's or job's
/// `ownership` facet (replaced, deleted, an older event arriving late, a role changed) and a
/// restart from the index snapshot with events arriving right after it (while the owners may still be loading:
/// whether they are is up to the scheduler; `the_load_leaves_what_the_writer_set_meanwhile`
/// holds the rule itself); and an impact group names them as the stored facets do.
#[test]
fn kept_owners_follow_every_ownership_facet_and_a_restart() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("store");
    let config = || ServiceConfig { data_dir: Some(dir.clone()), ..ServiceConfig::default() };
    let teams: [&[(&str, &str)]; 4] =
        [&[("team:a", "MAINTAINER")], &[("team:b", "MAINTAINER"), ("alice", "STEWARD")], &[], &[("team:a", "OWNER")]];
    // Minutes out of order: some events are older than what the store already holds.
    let minutes = [5u32, 9, 2, 14, 7, 11, 3, 20, 16, 1, 18, 12, 6, 25, 8, 22, 4, 30, 10, 27];
    let service = Service::open(config()).expect("open");
    runtime().block_on(async {
        for (i, &minute) in minutes.iter().enumerate() {
            let (dataset, job) = (format!("d{}", i % 5), format!("j{}", i % 3));
            let dataset_owners = (i % 4 != 3).then_some(teams[i % 4]);
            let job_owners = (i % 2 == 0).then_some(teams[(i / 2) % 4]);
            service.ingest(&ownership_event(minute, &job, &dataset, dataset_owners, job_owners)).await.expect("ingest");
        }
    });
    wait_for_owners(&service);
    assert_owners_agree_with_the_store(&service, "after ingest");
    let groups = runtime()
        .block_on(service.group_impact(vec![
            tributary_model::NodeRef::from(&DatasetId::new("db", "d0")),
            tributary_model::NodeRef::from(&DatasetId::new("db", "d1")),
            tributary_model::NodeRef::from(&JobId::new("etl", "j0")),
        ]))
        .expect("groups");
    let mut from_groups: Vec<(String, Option<String>, String)> = groups
        .iter()
        .flat_map(|group| {
            group.owners.iter().map(|owner| (owner.name.clone(), owner.role.clone(), owner.source.clone()))
        })
        .collect();
    from_groups.sort();
    let mut from_store = Vec::new();
    for (kind, node) in [
        ("dataset", tributary_model::NodeRef::from(&DatasetId::new("db", "d0"))),
        ("dataset", tributary_model::NodeRef::from(&DatasetId::new("db", "d1"))),
        ("job", tributary_model::NodeRef::from(&JobId::new("etl", "j0"))),
    ] {
        for (name, role) in crate::mesh::stored_owners(&service.shared.store, &node).expect("stored") {
            from_store.push((name, role, format!("ownership facet of {kind} {}:{}", node.namespace, node.name)));
        }
    }
    from_store.sort();
    assert!(!from_store.is_empty(), "the events leave some owners");
    assert_eq!(from_groups, from_store, "impact groups name the stored facets' owners");
    service.close();
    drop(service);

    // Reopened from the snapshot of the clean close: the owners come with it, ready when the
    // service opens (no load runs); then events change them.
    let service = Service::open(config()).expect("reopen");
    assert_eq!(service.index_origin(), crate::IndexOrigin::Snapshot);
    {
        let state = service.shared.read_state();
        assert!(state.owners.ready() && state.owners.read_from_snapshot(), "owners read from the snapshot");
    }
    assert_owners_agree_with_the_store(&service, "after a restart from the snapshot");
    runtime().block_on(async {
        for i in 0..10u32 {
            let (dataset, job) = (format!("d{}", i % 5), format!("j{}", i % 3));
            let owners = teams[(i as usize + 1) % 4];
            service.ingest(&ownership_event(40 + i, &job, &dataset, Some(owners), Some(owners))).await.expect("ingest");
        }
    });
    assert_owners_agree_with_the_store(&service, "after a restart from the snapshot and ingest");
    service.close();
    drop(service);
    let behind = std::fs::read(crate::snapshot::path(&dir)).expect("the close's snapshot");

    // Three events change owners after that snapshot; it is put back (as after a crash), so
    // the next start-up catches the index up, and the owners with it: the nodes the three
    // events name are read again from the store (the snapshot's are those before them).
    let service = Service::open(config()).expect("reopen");
    runtime().block_on(async {
        for i in 0..3u32 {
            let (dataset, job) = (format!("d{i}"), format!("j{i}"));
            let owners = teams[(i as usize + 3) % 4];
            service.ingest(&ownership_event(60 + i, &job, &dataset, Some(owners), Some(owners))).await.expect("ingest");
        }
    });
    service.close();
    drop(service);
    std::fs::write(crate::snapshot::path(&dir), &behind).expect("put the older snapshot back");
    let service = Service::open(config()).expect("reopen");
    assert_eq!(service.index_origin(), crate::IndexOrigin::Snapshot, "caught up");
    assert!(service.shared.read_state().owners.read_from_snapshot(), "the owners caught up with the snapshot");
    assert_owners_agree_with_the_store(&service, "after a restart from a snapshot behind the store");
    service.close();
    drop(service);

    // Reopened without a snapshot, with nothing ingested during the load: the owners come
    // from the owner index alone, its roles too (d2's owner changed only its role above,
    // MAINTAINER after OWNER).
    std::fs::remove_file(crate::snapshot::path(&dir)).expect("remove the snapshot");
    let service = Service::open(config()).expect("reopen");
    assert_eq!(service.index_origin(), crate::IndexOrigin::Rebuilt);
    wait_for_owners(&service);
    assert!(!service.shared.read_state().owners.read_from_snapshot());
    assert_owners_agree_with_the_store(&service, "after a restart, loaded from the owner index");
    service.close();
}

/// Nodes grouped by number through the index's labels land in the groups their names give
/// (`Grouping::add`), with the same owners, in the same order: products in and outside their
/// domain's namespaces, a job writing two products' datasets, a product's job in another
/// domain's namespace, nodes of a domain outside any product and of no domain; and across a
/// change of the mesh between two slices (the labels are numbered anew).
#[test]
fn nodes_grouped_by_labels_land_where_their_names_place_them() {
    use tributary_model::NodeRef;
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = runtime();
    let dataset = |namespace: &str, name: &str| json!({"namespace": namespace, "name": name});
    let mut n = 0;
    let mut job = |namespace: &str, name: &str, outputs: serde_json::Value| {
        n += 1;
        let mut event: serde_json::Value =
            serde_json::from_slice(&run_event(n, name, json!([dataset("sales-db", "raw")]), outputs)).expect("json");
        event["job"]["namespace"] = json!(namespace);
        serde_json::to_vec(&event).expect("json")
    };
    let events = [
        job("etl-sales", "load_orders", json!([dataset("sales-db", "orders"), dataset("sales-db", "order_items")])),
        job("finance-etl", "post", json!([dataset("sales-db", "orders"), dataset("finance-db", "ledger")])),
        job("etl-sales", "copy_ledger", json!([dataset("finance-db", "ledger"), dataset("sales-db", "ledger_copy")])),
        job("scratch", "adhoc", json!([dataset("scratch", "tmp")])),
        job("finance-db", "in_domain_namespace", json!([dataset("scratch", "x")])),
        job("exports", "export", json!([dataset("shared-db", "orders_export")])),
    ];
    let owned =
        ownership_event(99, "owned", "owned_table", Some(&[("team:db", "MAINTAINER")]), Some(&[("team:etl", "")]));
    let mut groupings = Vec::new();
    runtime.block_on(async {
        for event in events.iter().chain([&owned]) {
            service.ingest(event).await.expect("ingest");
        }
        for (id, namespaces, owner) in
            [("sales", ["sales-db", "etl-sales"], "alice"), ("finance", ["finance-db", "finance-db"], "bob")]
        {
            let domain = json!({"id": id, "name": id, "namespaces": namespaces, "owners": [{"name": owner}]});
            service.apply_domain(domain.to_string()).await.expect("domain");
        }
        for (id, domain, ports) in [
            ("sales.orders", "sales", vec![("sales-db", "orders"), ("shared-db", "orders_export")]),
            ("finance.ledger", "finance", vec![("finance-db", "ledger"), ("sales-db", "ledger_copy")]),
        ] {
            let ports: Vec<_> =
                ports.iter().map(|(ns, name)| json!({"name": name, "dataset": dataset(ns, name)})).collect();
            let product = json!({"kind": "DataProduct", "id": id, "name": id, "domain": domain,
                "owners": [{"name": format!("{id}-owner")}], "outputPorts": ports});
            service.apply_product(product.to_string()).await.expect("product");
        }
        service.column_lineage_loaded().await.expect("loaded");
        let shared = &service.shared;
        let nodes: Vec<NodeRef> = {
            let state = shared.read_state();
            let (mut nodes, _) = state.index.list_datasets(None, None, None, 1_000);
            let nodes: Vec<NodeRef> = nodes.drain(..).map(|id| NodeRef::from(&id)).collect();
            let (jobs, _) = state.index.list_jobs(None, None, None, 1_000);
            nodes.into_iter().chain(jobs.iter().map(NodeRef::from)).collect()
        };
        assert_eq!(nodes.len(), 10 + 7, "datasets and jobs");
        let numbers: Vec<_> = {
            let state = shared.read_state();
            nodes.iter().map(|node| state.index.node_number(node).expect("in the index")).collect()
        };
        let (first, second) = (nodes.len() / 2, nodes.len() - nodes.len() / 2);
        let (mut by_name, mut by_number) = (crate::mesh::Grouping::default(), crate::mesh::Grouping::default());
        let mut named = Vec::new();
        for (slice, range) in [(0, 0..first), (1, first..first + second)] {
            if slice == 1 {
                // The mesh changes between the slices: scratch becomes a domain's namespace.
                let domain =
                    json!({"id": "ops", "name": "ops", "namespaces": ["scratch"], "owners": [{"name": "carol"}]});
                service.apply_domain(domain.to_string()).await.expect("domain");
            }
            let state = shared.read_state();
            assert!(state.owners.ready(), "owners loaded");
            by_name.add(&state, &nodes[range.clone()]);
            named.extend(by_number.add_numbered(&state, &state.index.in_name_order(&numbers[range])));
        }
        assert_eq!(named, nodes, "named in order");
        groupings.push(by_name.finish(&shared.store).expect("by name"));
        groupings.push(by_number.finish(&shared.store).expect("by number"));
    });
    let [by_name, by_number] = [&groupings[0], &groupings[1]].map(|groups| format!("{groups:#?}"));
    assert_eq!(by_number, by_name);
    for expected in ["finance.ledger", "\"ops\"", "orders_export", "team:db", "team:etl", "carol"] {
        assert!(by_name.contains(expected), "{expected} in {by_name}");
    }
    // The groups a job of one product in another domain's namespace makes: its own.
    assert!(
        groupings[0].iter().any(|group| group.product.as_deref() == Some("finance.ledger")
            && group.domain.as_deref() == Some("sales")
            && group.jobs.iter().any(|job| job.name == "copy_ledger")),
        "{by_name}"
    );
    service.close();
}
