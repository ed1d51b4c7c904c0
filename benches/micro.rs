//! Micro-benchmarks of the three costs behind the mesh figures (criterion):
//!
//! - `parse_event/*`: parse + validate one gen_mesh event (`benches/data/event-*.json`,
//!   the median-size COMPLETE of `gen_mesh.py --datasets 100 --seed 42` and its START).
//! - `ingest/*`: `Service::ingest` into a temporary store, one event awaited at a time
//!   (a flush per event) and 256 in flight (group commit).
//! - `index/*`: `LineageIndex` built synthetically (a layered mesh with a hub), the build
//!   and the three impact queries of the mesh bench.
//!
//! - `sql_derive/*`: column lineage derived from a dbt-style model and a wide aggregate.
//! - `columns/*`: one changed column of the hub traced as the change check does (the same
//!   synthetic mesh with columns): the whole column answer named, and the counted one naming
//!   the nearest 100 or 10,000.
//! - `snapshot/*`: the image a busy writer takes to save the index, and the index snapshot's
//!   two sections written and read back (CPU only, from memory), for the synthetic mesh with 16 columns per dataset, each fed by one column of
//!   the job's first input: 100k always, 1M datasets (~1M jobs, ~15M column edges, ~2 min
//!   to build) with `SNAPSHOT_1M=1`.
//!
//! - `store_keys/*`: sled alone, configured as the store configures it, applying one group
//!   of 256 events' keys as one batch and flushing it (the writer's commit), with the mix of
//!   keys per event that `tributary import` writes for the benchmark's mesh (counted per
//!   prefix over its first 24,508 events: 15.8 keys an event, see `KEY_MIX`), and with the
//!   event log alone (`E`, `H`, `U`: 3 keys an event), each also without the flush (the
//!   batch's CPU alone), and with a dataset's facet values, schema versions, owner entries
//!   and graph key folded into its record (`not_folded_into_dataset`: 10 keys an event, the
//!   layout since store format 5), that mix also in groups of 16 and 5 events (what 16
//!   clients that each wait for their acknowledgement can put in a group). It is the ceiling
//!   the store puts on ingest for a given number of keys per event and events per group,
//!   whatever the code around it does. `STORE_KEYS_CASES` (names, comma-separated) runs some.
//!
//! - `store_replay`: the batches a real ingest applied (dumped by a build with
//!   `experiments/dump-batches.patch`), replayed into sled alone: the store's ceiling for
//!   exactly that ingest's keys and groups. Runs only with `STORE_REPLAY` set.
//!
//! - `mesh_load/*`: `Service::open` of a store holding a mesh shaped like the 1M bench's (48
//!   domains, 4,022 products, 269,474 claimed datasets, an event a product writing them): the
//!   applied mesh's read and the index's labelling at start-up (`MESH_LOAD_PRODUCTS` for
//!   another number of products; `MESH_LOAD_DIR` keeps the store there).
//!
//! Allocations go through mimalloc, as in the server binary (`src/main.rs`); figures before
//! session 41 were taken with the system allocator.
//!
//! `cargo bench --bench micro` (filter: `cargo bench --bench micro -- index/`).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use tributary_graph::{AnswerShape, LineageIndex, LineageQuestion};
use tributary_model::{ColumnEdgeSpec, DatasetId, Direction, EdgeSource, JobId, NodeKind, NodeRef};
use tributary_service::{Service, ServiceConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_event");
    for name in ["start", "complete"] {
        let bytes = data(&format!("event-{name}.json"));
        tributary_openlineage::parse_event(&bytes).expect("the sample event is valid");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| tributary_openlineage::parse_event(black_box(&bytes))));
    }
    group.finish();
}

/// The sample event with a fresh run id and job name, so every ingest is new work (the
/// same bytes twice would be a duplicate, answered from the hash index).
fn variant(template: &Value, n: u64) -> Vec<u8> {
    let mut event = template.clone();
    event["run"]["runId"] = Value::String(format!("00000000-0000-4000-8000-{n:012}"));
    let job = event["job"]["name"].as_str().unwrap_or("job").to_owned();
    event["job"]["name"] = Value::String(format!("{job}_{n}"));
    serde_json::to_vec(&event).expect("serialises")
}

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let service = Service::open(ServiceConfig::default()).expect("temporary store");
    let complete: Value = serde_json::from_slice(&data("event-complete.json")).expect("json");
    let mut counter = 0u64;
    let mut group = c.benchmark_group("ingest");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("complete_one_at_a_time", |b| {
        b.iter_batched(
            || {
                counter += 1;
                variant(&complete, counter)
            },
            |bytes| runtime.block_on(service.ingest(&bytes)).expect("accepted"),
            BatchSize::SmallInput,
        )
    });
    const IN_FLIGHT: u64 = 256;
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("complete_256_in_flight", |b| {
        b.iter_batched(
            || {
                (0..IN_FLIGHT)
                    .map(|_| {
                        counter += 1;
                        tributary_openlineage::parse_event(&variant(&complete, counter)).expect("valid")
                    })
                    .collect::<Vec<_>>()
            },
            |events| {
                runtime.block_on(async {
                    let mut pending = Vec::with_capacity(events.len());
                    for event in events {
                        pending.push(service.enqueue(event).await.expect("enqueued"));
                    }
                    for ack in pending {
                        ack.await.expect("accepted");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    service.close();
}

/// A deterministic layered mesh shaped like gen_mesh's: `levels` levels of datasets, one
/// job per non-raw dataset reading 1-3 datasets of lower levels (the first one level
/// down), a third of the jobs also reading one hub on level 1.
struct SyntheticMesh {
    jobs: Vec<(JobId, Vec<DatasetId>, Vec<DatasetId>)>,
    hub: DatasetId,
    leaf: DatasetId,
}

fn synthetic_mesh(n_datasets: usize, levels: usize) -> SyntheticMesh {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |bound: usize| -> usize {
        // splitmix64: no rand dependency for a fixed input.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % bound as u64) as usize
    };
    let per_level = n_datasets / levels;
    let dataset = |level: usize, i: usize| DatasetId::new("warehouse", format!("l{level:02}.table_{i}"));
    let hub = dataset(1, 0);
    let mut jobs = Vec::new();
    for level in 1..levels {
        for i in 0..per_level {
            let mut inputs = vec![dataset(level - 1, next(per_level))];
            for _ in 0..next(3) {
                let lower = next(level);
                inputs.push(dataset(lower, next(per_level)));
            }
            if level >= 3 && next(3) == 0 {
                inputs.push(hub.clone());
            }
            inputs.sort();
            inputs.dedup();
            jobs.push((JobId::new("etl", format!("build_l{level:02}_{i}")), inputs, vec![dataset(level, i)]));
        }
    }
    SyntheticMesh { jobs, hub, leaf: dataset(levels - 1, 0) }
}

fn build_index(mesh: &SyntheticMesh) -> LineageIndex {
    let mut index = LineageIndex::default();
    for (job, inputs, outputs) in &mesh.jobs {
        index.set_job_io(job, inputs, outputs);
    }
    index
}

fn index(c: &mut Criterion) {
    for n_datasets in [10_000usize, 100_000] {
        let mesh = synthetic_mesh(n_datasets, 25);
        let index = build_index(&mesh);
        let mut group = c.benchmark_group(format!("index/{}k", n_datasets / 1000));
        group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
        group.throughput(Throughput::Elements(mesh.jobs.len() as u64));
        group.bench_function("build", |b| b.iter(|| build_index(black_box(&mesh))));
        let hub = NodeRef::from(&mesh.hub);
        let leaf = NodeRef::from(&mesh.leaf);
        let queries = [
            ("hub_down_d5", &hub, Direction::Downstream, 5u32, AnswerShape::Full),
            ("hub_down_all", &hub, Direction::Downstream, 1000, AnswerShape::Full),
            // The impact shape the benchmark against the peers asks for.
            ("hub_down_all_datasets", &hub, Direction::Downstream, 1000, AnswerShape::DatasetsOnly),
            ("leaf_up_d5", &leaf, Direction::Upstream, 5, AnswerShape::Full),
        ];
        for (name, start, direction, depth, shape) in queries {
            let answer = index
                .lineage(LineageQuestion::new(start, direction, depth, 1_000_000).shaped(shape))
                .expect("known node");
            let datasets = answer.nodes.iter().filter(|n| n.node.kind == NodeKind::Dataset).count();
            eprintln!(
                "index/{}k/{name}: {} nodes ({datasets} datasets), {} edges",
                n_datasets / 1000,
                answer.nodes.len(),
                answer.edges.len()
            );
            group.throughput(Throughput::Elements(answer.nodes.len() as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    index.lineage(LineageQuestion::new(black_box(start), direction, depth, 1_000_000).shaped(shape))
                })
            });
        }
        // The servers' path: the same answer named by the index's shared strings.
        group.bench_function("hub_down_all_datasets_named", |b| {
            b.iter(|| {
                let question = LineageQuestion::new(black_box(&hub), Direction::Downstream, 1000, 1_000_000);
                index.lineage_named(question.shaped(AnswerShape::DatasetsOnly))
            })
        });
        group.finish();
    }
}

/// Columns per dataset in the snapshot benchmark (the 100k generated mesh has ~16).
const SNAPSHOT_COLUMNS: usize = 16;

fn snapshot(c: &mut Criterion) {
    let mut scales = vec![100_000usize];
    if std::env::var_os("SNAPSHOT_1M").is_some() {
        scales.push(1_000_000);
    }
    for n_datasets in scales {
        let mesh = synthetic_mesh(n_datasets, 25);
        let mut index = build_index(&mesh);
        for (_, inputs, outputs) in &mesh.jobs {
            let edges: Vec<ColumnEdgeSpec> = (0..SNAPSHOT_COLUMNS)
                .map(|column| ColumnEdgeSpec {
                    input: inputs[0].clone(),
                    input_field: format!("c{column}"),
                    output_field: format!("c{column}"),
                    transformations: Vec::new(),
                    source: EdgeSource::Reported,
                })
                .collect();
            index.set_column_lineage(&outputs[0], &edges);
        }
        index.finish_column_load();
        let (mut graph, mut columns) = (Vec::new(), Vec::new());
        index.write_snapshot_graph(&mut graph).expect("write");
        index.write_snapshot_columns(&mut columns).expect("write");
        eprintln!(
            "snapshot/{}: {} datasets, {} jobs, {} column edges; sections {} + {} bytes",
            scale_name(n_datasets),
            index.dataset_count(),
            index.job_count(),
            index.column_edge_count(),
            graph.len(),
            columns.len()
        );
        let mut group = c.benchmark_group(format!("snapshot/{}", scale_name(n_datasets)));
        group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
        // What the writer waits for when it saves while busy (the image, dropped beside).
        group.bench_function("image", |b| b.iter_with_large_drop(|| index.snapshot_image()));
        group.bench_function("write", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(graph.len() + columns.len());
                index.write_snapshot_graph(&mut out).expect("write");
                index.write_snapshot_columns(&mut out).expect("write");
                out
            })
        });
        group.bench_function("read_graph", |b| {
            b.iter(|| LineageIndex::read_snapshot_graph(&mut &graph[..], graph.len()).expect("read"))
        });
        let read = LineageIndex::read_snapshot_graph(&mut &graph[..], graph.len()).expect("read");
        let nodes = read.snapshot_nodes();
        group.bench_function("read_columns", |b| {
            b.iter(|| LineageIndex::read_snapshot_columns(&mut &columns[..], columns.len(), &nodes).expect("read"))
        });
        group.finish();
        change_impact(c, &index, &mesh.hub, n_datasets);
    }
}

/// What the change check traces for one changed column of the hub, at the check's limit of
/// 100,000 columns: the whole column answer named (what it read before session 26), and the
/// counted answer with the nearest 100 (a recorded report) or 10,000 (an on-demand check)
/// named with their paths.
fn change_impact(c: &mut Criterion, index: &LineageIndex, hub: &DatasetId, n_datasets: usize) {
    const LIMIT: usize = 100_000;
    let full = index.column_lineage(hub, "c0", Direction::Downstream, u32::MAX, LIMIT).expect("hub");
    let longest = full.columns.iter().map(|hit| hit.distance).max().unwrap_or(0);
    eprintln!(
        "columns/{}/hub_c0: {} columns (deepest {longest} hops), {} edges, {} unverified, truncated {}",
        scale_name(n_datasets),
        full.columns.len(),
        full.edges.len(),
        full.unverified.len(),
        full.truncated
    );
    let mut group = c.benchmark_group(format!("columns/{}", scale_name(n_datasets)));
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(full.columns.len() as u64));
    group.bench_function("hub_column_lineage_named", |b| {
        b.iter_with_large_drop(|| index.column_lineage(black_box(hub), "c0", Direction::Downstream, u32::MAX, LIMIT))
    });
    for keep in [100usize, 10_000] {
        group.bench_function(format!("hub_column_impact_keep_{keep}"), |b| {
            b.iter_with_large_drop(|| index.column_impact(black_box(hub), "c0", LIMIT, keep, true))
        });
    }
    group.finish();
}

fn scale_name(n_datasets: usize) -> String {
    if n_datasets >= 1_000_000 { format!("{}m", n_datasets / 1_000_000) } else { format!("{}k", n_datasets / 1000) }
}

/// Column lineage derived from SQL (`tributary_sql::derive`): a dbt-style model with a join,
/// a filter and a CTE, and a 40-column wide aggregate with CASE and a window.
fn sql(c: &mut Criterion) {
    use tributary_sql::{Relation, derive};
    let inputs = vec![
        Relation::new(
            "pg",
            "analytics.public.orders",
            Some(vec!["order_id".into(), "customer_id".into(), "amount".into(), "status".into()]),
        ),
        Relation::new(
            "pg",
            "analytics.public.payments",
            Some(vec!["payment_id".into(), "order_id".into(), "payment_status".into(), "paid_amount".into()]),
        ),
    ];
    let outputs = vec![Relation::new("pg", "analytics.public.order_payments", None)];
    let model = "with paid as (select order_id, sum(paid_amount) as paid from analytics.public.payments \
                 where payment_status = 'paid' group by order_id) \
                 select o.customer_id, o.amount, p.paid, case when o.status = 'done' then 1 else 0 end as done \
                 from analytics.public.orders o join paid p on p.order_id = o.order_id order by o.customer_id";
    let wide_columns: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "sum(case when o.status = 's{i}' then o.amount else 0 end) over (partition by o.customer_id) as c{i}"
            )
        })
        .collect();
    let wide = format!(
        "select o.customer_id, {} from analytics.public.orders o group by o.customer_id",
        wide_columns.join(", ")
    );
    let mut group = c.benchmark_group("sql_derive");
    for (name, text) in [("dbt_model", model.to_owned()), ("wide_40_columns", wide)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(derive(black_box(&text), Some("postgres"), &inputs, &outputs).expect("derives")))
        });
    }
    group.finish();
}

/// Keys one event of the benchmark's mesh writes (at its group's commit), per prefix, as
/// counted in `tributary import` of `mesh-100k` (first 24,508 events, 101 groups): the prefix,
/// keys per event, value bytes, and whether the key lands at the end of its keyspace
/// (sequence or time first) rather than anywhere (names, hashes).
const KEY_MIX: [(u8, f64, usize, bool); 16] = [
    (b'E', 1.0, 591, true),
    (b'H', 1.0, 8, false),
    (b'U', 1.0, 114, true),
    (b'D', 1.47, 148, false),
    (b'F', 2.75, 104, false),
    (b'N', 1.04, 0, false),
    (b'S', 1.04, 35, false),
    (b'o', 1.04, 0, false),
    (b'w', 1.77, 1, false),
    (b'L', 0.67, 571, false),
    (b'J', 0.51, 556, false),
    (b'R', 0.51, 383, false),
    (b'r', 0.5, 0, false),
    (b'I', 0.5, 250, false),
    (b'O', 1.0, 276, false),
    (b'M', 0.004, 8, false),
];

/// A dataset's facet values (`F`), schema versions (`S`), owner index entries (`o`) and graph
/// key (`N`), which one compact dataset record would hold instead of keys of their own.
fn not_folded_into_dataset(prefix: u8) -> bool {
    !matches!(prefix, b'F' | b'S' | b'o' | b'N')
}

/// The bytes a `D` record grows by when it holds those (see [`not_folded_into_dataset`]):
/// references to two facet values, a schema version and an owner entry.
const FOLDED_INTO_DATASET_BYTES: usize = 2 * 24 + 40 + 24;

/// How a synthetic key names its dataset or job.
#[derive(Clone, Copy)]
enum KeyNames {
    /// By name, as the store does: `namespace NUL name`, about 50 bytes.
    Names,
    /// By an 8-byte number (what a table of names would give): the same spread, 8 bytes.
    Numbers,
}

/// The keys of `events` events from `first` on, for the prefixes of [`KEY_MIX`] that `keep`
/// takes, each `D` value `dataset_grown` bytes larger: names spread over their keyspace like
/// dataset and job names do, sequences at its end.
fn synthetic_keys(
    first: u64,
    events: u64,
    keep: impl Fn(u8) -> bool,
    dataset_grown: usize,
    names: KeyNames,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let spread = |n: u64| n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let mut keys = Vec::new();
    for (prefix, per_event, value_bytes, at_end) in KEY_MIX {
        if !keep(prefix) {
            continue;
        }
        let value_bytes = if prefix == b'D' { value_bytes + dataset_grown } else { value_bytes };
        let from = (first as f64 * per_event) as u64;
        let to = ((first + events) as f64 * per_event) as u64;
        for n in from..to {
            let mut key = vec![prefix];
            if at_end {
                key.extend_from_slice(&n.to_be_bytes());
            } else {
                let name = spread(n ^ u64::from(prefix));
                match names {
                    KeyNames::Names => key.extend_from_slice(
                        format!("domain_{}.warehouse\0schema_{}.table_{name:016x}", name % 40, name % 7).as_bytes(),
                    ),
                    KeyNames::Numbers => key.extend_from_slice(&name.to_be_bytes()),
                }
            }
            let value = (0..value_bytes).map(|i| (n as usize + i) as u8).collect();
            keys.push((key, value));
        }
    }
    keys
}

/// A fresh sled in a temporary directory (dropped with it), configured as the store
/// configures it: 256 MiB of cache, high-throughput mode, no timer flushes.
fn sled_as_the_store_configures_it() -> (tempfile::TempDir, sled::Db) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(256 << 20)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .expect("sled opens");
    (dir, db)
}

fn store_keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_keys");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let log_only = |prefix| matches!(prefix, b'E' | b'H' | b'U');
    /// A case: its name, the events of one group (one batch), the prefixes it writes, the
    /// bytes each `D` value grows by, whether each batch is flushed, how keys name datasets
    /// and jobs.
    type Case = (&'static str, u64, fn(u8) -> bool, usize, bool, KeyNames);
    let cases: [Case; 9] = [
        ("event_mix_256", 256, |_| true, 0, true, KeyNames::Names),
        ("event_log_only_256", 256, log_only, 0, true, KeyNames::Names),
        (
            "event_mix_folded_datasets_256",
            256,
            not_folded_into_dataset,
            FOLDED_INTO_DATASET_BYTES,
            true,
            KeyNames::Names,
        ),
        // Groups as closed-loop clients make them: 16 clients that each wait for their
        // acknowledgement put at most 16 events in a group (HTTP: 5.2 on average).
        ("event_mix_folded_datasets_16", 16, not_folded_into_dataset, FOLDED_INTO_DATASET_BYTES, true, KeyNames::Names),
        ("event_mix_folded_datasets_5", 5, not_folded_into_dataset, FOLDED_INTO_DATASET_BYTES, true, KeyNames::Names),
        // The same keys naming datasets and jobs by number: shorter separators in sled's
        // index nodes, which a leaf split rewrites whole.
        ("event_mix_numbered_256", 256, |_| true, 0, true, KeyNames::Numbers),
        (
            "event_mix_folded_numbered_256",
            256,
            not_folded_into_dataset,
            FOLDED_INTO_DATASET_BYTES,
            true,
            KeyNames::Numbers,
        ),
        // The batch alone, without the flush: the CPU part of the commit.
        ("event_mix_256_unflushed", 256, |_| true, 0, false, KeyNames::Names),
        ("event_log_only_256_unflushed", 256, log_only, 0, false, KeyNames::Names),
    ];
    let only = std::env::var("STORE_KEYS_CASES").ok();
    for (name, events, keep, grown, flush, names) in cases {
        if only.as_deref().is_some_and(|only| !only.split(',').any(|case| case == name)) {
            continue;
        }
        group.throughput(Throughput::Elements(events));
        let (_dir, db) = sled_as_the_store_configures_it();
        // A store of 25,600 events' keys first, so every case starts alike.
        const START: u64 = 25_600;
        let mut next = 0u64;
        while next < START {
            let mut batch = sled::Batch::default();
            for (key, value) in synthetic_keys(next, 256, keep, grown, names) {
                batch.insert(key, value);
            }
            db.apply_batch(batch).expect("applied");
            next += 256;
        }
        db.flush().expect("flushed");
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let keys = synthetic_keys(next, events, keep, grown, names);
                    next += events;
                    let mut batch = sled::Batch::default();
                    for (key, value) in keys {
                        batch.insert(key, value);
                    }
                    batch
                },
                |batch| {
                    db.apply_batch(batch).expect("applied");
                    if flush {
                        db.flush().expect("flushed");
                    }
                },
                BatchSize::PerIteration,
            )
        });
        eprintln!("{name}: {} keys after the run", db.len());
    }
    group.finish();
}

/// Replays, into a fresh sled configured as the store configures it (256 MiB cache,
/// high-throughput mode, no timer flushes), the batches a real ingest applied, one after the
/// other, each flushed as the writer flushes a group: sled's own time for exactly the keys and
/// groups of that ingest, with nothing else running. The batches come from a build with
/// `experiments/dump-batches.patch` (`TRIB_EXP_DUMP_BATCHES=FILE tributary import ...`, or a
/// server under the mesh bench's `grpc` or `http` step). `STORE_REPLAY`: dump files,
/// comma-separated (unset: nothing runs); `STORE_REPLAY_MERGE=N` applies N consecutive groups
/// as one batch (what larger groups would cost); `STORE_REPLAY_FLUSH=0` leaves out the flushes.
/// One pass per file, not a criterion measurement: a replay changes the store it times.
fn store_replay(_: &mut Criterion) {
    let Some(files) = std::env::var_os("STORE_REPLAY") else { return };
    let merge: usize = std::env::var("STORE_REPLAY_MERGE").ok().and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let flush = std::env::var("STORE_REPLAY_FLUSH").map_or(true, |flush| flush != "0");
    for file in files.to_string_lossy().split(',') {
        let mut input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).expect("a dump file"));
        let (_dir, db) = sled_as_the_store_configures_it();
        let (mut events, mut groups, mut batches, mut keys, mut bytes) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let (mut applying, mut flushing) = (Duration::ZERO, Duration::ZERO);
        loop {
            let mut writes = Vec::new();
            let mut taken = 0;
            while taken < merge {
                match read_dumped_batch(&mut input) {
                    Some(batch) => writes.extend(batch),
                    None => break,
                }
                taken += 1;
            }
            if taken == 0 {
                break;
            }
            groups += taken as u64;
            batches += 1;
            keys += writes.len() as u64;
            events += writes.iter().filter(|(key, value)| key.first() == Some(&b'E') && value.is_some()).count() as u64;
            bytes +=
                writes.iter().map(|(key, value)| (key.len() + value.as_ref().map_or(0, Vec::len)) as u64).sum::<u64>();
            let started = std::time::Instant::now();
            let mut batch = sled::Batch::default();
            for (key, value) in writes {
                match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                }
            }
            db.apply_batch(batch).expect("applied");
            let applied = std::time::Instant::now();
            applying += applied - started;
            if flush {
                db.flush().expect("flushed");
                flushing += applied.elapsed();
            }
            if taken < merge {
                break;
            }
        }
        let total = (applying + flushing).as_secs_f64();
        eprintln!(
            "store_replay {file}: {events} events, {groups} groups as {batches} batches (merge {merge}), {keys} keys, \
             {bytes} bytes; batches {:.2} s, flushes {:.2} s: {:.0} events/s, {:.2} us a key",
            applying.as_secs_f64(),
            flushing.as_secs_f64(),
            events as f64 / total,
            applying.as_secs_f64() * 1e6 / keys.max(1) as f64,
        );
    }
}

/// One write of a dumped batch: a key and its value, `None` for a removal.
type DumpedWrite = (Vec<u8>, Option<Vec<u8>>);

/// The next batch of a dump (`experiments/dump-batches.patch`): a count, then each write as
/// its key and its value (length `u32::MAX`: a removal), lengths as little-endian `u32`.
fn read_dumped_batch(input: &mut impl std::io::Read) -> Option<Vec<DumpedWrite>> {
    let mut word = [0u8; 4];
    let mut read_u32 = |input: &mut dyn std::io::Read| -> Option<u32> {
        input.read_exact(&mut word).ok()?;
        Some(u32::from_le_bytes(word))
    };
    let count = read_u32(input)?;
    let mut writes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let mut key = vec![0; read_u32(input).expect("a key's length") as usize];
        input.read_exact(&mut key).expect("a key");
        let value = match read_u32(input).expect("a value's length") {
            u32::MAX => None,
            length => {
                let mut value = vec![0; length as usize];
                input.read_exact(&mut value).expect("a value");
                Some(value)
            }
        };
        writes.push((key, value));
    }
    Some(writes)
}

/// Start-up of a store holding a mesh shaped like the 1M bench's (`benches/probes/
/// apply_mesh.py` on the 1M data: 48 domains, 4,022 products, 269,998 claimed datasets):
/// here 48 domains and 4,022 products of 25 output ports and 42 internal datasets each
/// (269,474 datasets, every fifth product restricted), and one event a product whose job
/// writes them all (so they are in the graph, as in a real store). The time of
/// `Service::open` (the close after it is not timed): the index and the applied mesh read
/// side by side, then the index labelled with the products. `MESH_LOAD_PRODUCTS` changes the
/// number of products.
fn mesh_load(c: &mut Criterion) {
    const DOMAINS: usize = 48;
    const PORTS: usize = 25;
    const INTERNAL: usize = 42;
    let products: usize = std::env::var("MESH_LOAD_PRODUCTS").ok().and_then(|n| n.parse().ok()).unwrap_or(4_022);
    let dir = tempfile::tempdir().expect("temporary directory");
    // `MESH_LOAD_DIR`: the store is built there and kept (to start a server on it).
    let data_dir = std::env::var_os("MESH_LOAD_DIR").map_or_else(|| dir.path().to_path_buf(), Into::into);
    let config = ServiceConfig { data_dir: Some(data_dir), ..ServiceConfig::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let service = Service::open(config.clone()).expect("store opens");
    let started = std::time::Instant::now();
    runtime.block_on(async {
        for d in 0..DOMAINS {
            let domain = serde_json::json!({
                "kind": "Domain", "id": format!("logistics{d}"), "name": format!("logistics{d}"),
                "owners": [{"name": format!("head-of-logistics{d}")}],
                "namespaces": [format!("postgres://logistics{d}-oltp.acme.internal:5432")],
            });
            service.apply_domain(domain.to_string()).await.expect("domain applies");
        }
        for p in 0..products {
            let d = p % DOMAINS;
            let namespace = format!("postgres://logistics{d}-oltp.acme.internal:5432");
            let dataset = |layer: &str, n: usize| {
                serde_json::json!({"namespace": namespace, "name": format!("logistics{d}_{layer}.public.invoices_{p}_{n}")})
            };
            let id = format!("logistics{d}.p{p}");
            let product = serde_json::json!({
                "kind": "DataProduct", "id": id, "name": id, "domain": format!("logistics{d}"),
                "owners": [{"name": format!("team-{id}")}],
                "classification": if p % 5 == 4 { "restricted" } else { "internal" },
                "outputPorts": (0..PORTS).map(|n| serde_json::json!({"name": format!("port{n}"), "dataset": dataset("products", n)})).collect::<Vec<_>>(),
                "internalDatasets": (0..INTERNAL).map(|n| dataset("marts", n)).collect::<Vec<_>>(),
            });
            service.apply_product(product.to_string()).await.expect("product applies");
            let outputs: Vec<serde_json::Value> =
                (0..PORTS).map(|n| dataset("products", n)).chain((0..INTERNAL).map(|n| dataset("marts", n))).collect();
            let event = serde_json::json!({
                "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z",
                "run": {"runId": format!("00000000-0000-4000-8000-{p:012}")},
                "job": {"namespace": format!("logistics{d}-airflow"), "name": format!("build_p{p}")},
                "inputs": [], "outputs": outputs,
                "producer": "https://github.com/example/tributary/benches/micro.rs",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            });
            service.ingest(event.to_string().as_bytes()).await.expect("event accepted");
        }
    });
    service.close();
    drop(service);
    eprintln!(
        "mesh_load: {DOMAINS} domains and {products} products applied, an event each, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut group = c.benchmark_group("mesh_load");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function(format!("open_{products}_products"), |b| {
        b.iter_custom(|iterations| {
            let mut opening = Duration::ZERO;
            for _ in 0..iterations {
                let started = std::time::Instant::now();
                let service = Service::open(config.clone()).expect("store opens");
                opening += started.elapsed();
                service.close();
            }
            opening
        })
    });
    group.finish();
}

criterion_group!(benches, parse, ingest, index, sql, snapshot, store_keys, store_replay, mesh_load);
criterion_main!(benches);
