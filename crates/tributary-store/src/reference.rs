//! The storage suite: the sled store and a plain in-memory reference model driven by the
//! same generated operation sequences, answering alike. The reference keeps records as
//! ordered maps of what each operation means, not of keys, so a key encoding that lets two
//! things collide (a name that is a prefix of another, a label with odd characters) or a
//! wrong scan order shows up as a difference.
//!
//! Covered: events, run timelines, owner and tag labels, aliases, dataset records and facet
//! values, jobs, runs, column lineage, observations, mesh documents (products and domains,
//! every version), schema changes, API tokens, the audit trail (walked page by page) and the
//! redaction key. The store lives in a directory: sequences flush, close and reopen it on the
//! way (sometimes switching codec, so records written compressed are read by a store that
//! writes raw, and back), and once more at the end, and everything must read back the same.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_model::{
    ALL_COLUMNS, Actor, ActorKind, AuditKind, AuditRecord, ColumnEdgeSpec, DatasetId, DatasetRecord, DocumentRecord,
    EdgeSource, Facets, JobId, JobRecord, NodeKind, NodeRef, Observation, ObservationKey, ObservationSource,
    RECORD_FORMAT, RunId, RunRecord, RunState, SchemaChangeRecord, Timestamp, Transformation, TransformationKind,
    Verdict, Version, Versioned, merge_facets, merge_stamp,
};

use crate::{AuditQuery, DocumentKind, EventWrite, Store, StoreConfig};

/// An audit entry's time and actor (an index into [`actor`]).
type Stamp = (i64, usize);

#[derive(Clone, Debug)]
enum Op {
    Event {
        body: Vec<u8>,
        audit: Option<Stamp>,
    },
    JobRun {
        job: usize,
        start: i64,
        run: u8,
        put: bool,
    },
    Owner {
        owner: usize,
        node: usize,
        put: bool,
    },
    Tag {
        tag: usize,
        node: usize,
        put: bool,
    },
    Alias {
        alias: usize,
        canonical: usize,
    },
    Dataset {
        dataset: usize,
        first: i64,
        span: i64,
        schema: Option<u8>,
        facet: Option<(usize, u8)>,
        alias: Option<usize>,
    },
    Facet {
        dataset: usize,
        key: usize,
        value: Option<u8>,
    },
    Job {
        job: usize,
        seen: i64,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
        current: Option<usize>,
        sql_error: bool,
    },
    Run {
        run: u8,
        job: usize,
        time: i64,
        state: usize,
        read: Option<usize>,
    },
    ColumnLineage {
        output: usize,
        edges: Vec<(usize, usize, usize, usize)>,
    },
    Observation {
        job: usize,
        key: usize,
        input: usize,
        put: bool,
    },
    Document {
        product: bool,
        id: usize,
        step: u64,
        body: u8,
        audit: Option<Stamp>,
    },
    SchemaChange {
        time: i64,
        sequence: u64,
        dataset: usize,
        verdict: usize,
    },
    /// A read in the middle of a sequence: the newest changes, of one verdict or all.
    SchemaChanges {
        limit: usize,
        verdict: Option<usize>,
    },
    Token {
        id: usize,
        revoked: bool,
        durable: bool,
        audit: Option<Stamp>,
    },
    Audit {
        at: i64,
        actor: usize,
        kind: usize,
    },
    /// A read in the middle of a sequence: every page of a query.
    AuditPages(Pages),
    RedactionKey {
        seed: u8,
    },
    /// Flush, close and open again; with `switch_codec`, by dropping the store and opening it
    /// with the other codec, else with [`Store::reopen`].
    Reopen {
        switch_codec: bool,
    },
}

/// An audit query, by pool indices: walked page by page to the end.
#[derive(Clone, Debug)]
struct Pages {
    since: Option<i64>,
    until: Option<i64>,
    /// Bit `i` selects `AuditKind::ALL[i]`; none selects every kind.
    kinds: u8,
    limit: usize,
    budget: usize,
    actor: Option<usize>,
}

/// Small name pools so that operations collide; names that are prefixes of each other and
/// owners with odd characters on purpose.
const NAMES: [&str; 4] = ["a", "ab", "a.b", "b"];
const NAMESPACES: [&str; 3] = ["db", "db:x", "d"];
const OWNERS: [&str; 4] = ["alice", "ali", "team:ops", "Alice"];
const TAGS: [&str; 3] = ["pii", "PII", "pi"];
/// Facet keys: a prefix of another, one differing only in case.
const FACET_KEYS: [&str; 4] = ["schema", "schemas", "Schema", "owner:ship"];
const FIELDS: [&str; 3] = ["id", "id2", ALL_COLUMNS];
const DOCUMENT_IDS: [&str; 4] = ["orders", "orders.v2", "ord", "sales:orders"];
/// Token ids as the server makes them (16 hex digits); two differ only in the last digit.
const TOKEN_IDS: [&str; 4] = ["0123456789abcdef", "0123456789abcde0", "fedcba9876543210", "00000000000000ff"];
const RUN_STATES: [RunState; 4] = [RunState::Start, RunState::Running, RunState::Complete, RunState::Fail];
/// Runs 0..RUNS are written and read (run 0 is the nil uuid).
const RUNS: u8 = 4;
/// Observation keys: [`observation_key`] of 0..OBSERVATION_KEYS.
const OBSERVATION_KEYS: usize = 24;
/// Audit kinds recorded on their own ([`Store::put_audit`]); `EVENT_STORED` entries come
/// with their event, under its sequence.
const LONE_AUDIT_KINDS: [AuditKind; 5] = [
    AuditKind::ApplyRejected,
    AuditKind::DescriptorApplied,
    AuditKind::TokenCreated,
    AuditKind::TokenRevoked,
    AuditKind::StoreCompacted,
];

fn dataset(index: usize) -> DatasetId {
    DatasetId::new(NAMESPACES[index % 3], NAMES[index / 3 % 4])
}

fn job(index: usize) -> JobId {
    JobId::new(NAMESPACES[index % 3], NAMES[index / 3 % 4])
}

fn node(index: usize) -> NodeRef {
    if index.is_multiple_of(2) { NodeRef::from(&dataset(index / 2)) } else { NodeRef::from(&job(index / 2)) }
}

fn run_id(n: u8) -> RunId {
    RunId(uuid::Uuid::from_bytes([n; 16]))
}

/// Settled or not, three times around zero, two runs and two JobEvent hashes (one > 255).
fn observation_key(index: usize) -> ObservationKey {
    let source = match index / 6 % 4 {
        0 => ObservationSource::Run(run_id(1)),
        1 => ObservationSource::Run(run_id(0xf0)),
        2 => ObservationSource::JobEvent(1),
        _ => ObservationSource::JobEvent(0x100),
    };
    ObservationKey { settled: index % 2 == 1, time: Timestamp((index / 2 % 3) as i64 - 1), source }
}

fn actor(index: usize) -> Actor {
    match index % 3 {
        0 => Actor::local(),
        1 => Actor::open(),
        _ => Actor { via: ActorKind::Token, token_id: Some(TOKEN_IDS[0].to_owned()), name: "airflow".to_owned() },
    }
}

fn facet_value(n: u8) -> Value {
    // Some long enough for lz4 to shorten.
    json!({ "n": n, "text": "x".repeat(usize::from(n % 4) * 20) })
}

fn column_edge(&(input, input_field, output_field, variant): &(usize, usize, usize, usize)) -> ColumnEdgeSpec {
    let transformations = match variant % 3 {
        0 => Vec::new(),
        1 => vec![Transformation {
            kind: TransformationKind::Direct,
            subtype: "IDENTITY".into(),
            masking: false,
            description: None,
        }],
        _ => vec![Transformation {
            kind: TransformationKind::Indirect,
            subtype: "JOIN".into(),
            masking: true,
            description: Some("on id".into()),
        }],
    };
    let source = [EdgeSource::Reported, EdgeSource::ReportedKindsFromSql, EdgeSource::DerivedFromSql][variant / 3 % 3];
    ColumnEdgeSpec {
        input: dataset(input),
        input_field: FIELDS[input_field].into(),
        output_field: FIELDS[output_field].into(),
        transformations,
        source,
    }
}

/// The store is generic over the token record; this one stands for the server's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TestToken {
    format: u8,
    id: String,
    revoked: bool,
    /// The operation that wrote it, so that a stale record shows.
    step: usize,
}

impl Versioned for TestToken {
    fn format(&self) -> u8 {
        self.format
    }
}

fn stamp() -> impl Strategy<Value = Option<Stamp>> {
    proptest::option::of((-2..4i64, 0..3usize))
}

fn pages() -> impl Strategy<Value = Pages> {
    (
        proptest::option::of(-3..5i64),
        proptest::option::of(-3..5i64),
        prop_oneof![Just(0u8), 0..32u8],
        1..4usize,
        prop_oneof![Just(usize::MAX), 1..6usize],
        proptest::option::of(0..3usize),
    )
        .prop_map(|(since, until, kinds, limit, budget, actor)| Pages {
            since,
            until,
            kinds,
            limit,
            budget,
            actor,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let names = || proptest::collection::vec(0..12usize, 0..3);
    prop_oneof![
        (proptest::collection::vec(any::<u8>(), 0..40), stamp()).prop_map(|(body, audit)| Op::Event { body, audit }),
        (0..12usize, 0..5i64, 0..4u8, any::<bool>()).prop_map(|(job, start, run, put)| Op::JobRun {
            job,
            start,
            run,
            put
        }),
        (0..4usize, 0..24usize, any::<bool>()).prop_map(|(owner, node, put)| Op::Owner { owner, node, put }),
        (0..3usize, 0..24usize, any::<bool>()).prop_map(|(tag, node, put)| Op::Tag { tag, node, put }),
        (0..12usize, 0..12usize).prop_map(|(alias, canonical)| Op::Alias { alias, canonical }),
        (
            0..12usize,
            -2..3i64,
            0..3i64,
            proptest::option::of(any::<u8>()),
            proptest::option::of((0..4usize, any::<u8>())),
            proptest::option::of(0..12usize)
        )
            .prop_map(|(dataset, first, span, schema, facet, alias)| Op::Dataset {
                dataset,
                first,
                span,
                schema,
                facet,
                alias
            }),
        (0..12usize, 0..4usize, proptest::option::of(0..8u8)).prop_map(|(dataset, key, value)| Op::Facet {
            dataset,
            key,
            value
        }),
        (0..12usize, -2..3i64, names(), names(), proptest::option::of(0..OBSERVATION_KEYS), any::<bool>()).prop_map(
            |(job, seen, inputs, outputs, current, sql_error)| Op::Job {
                job,
                seen,
                inputs,
                outputs,
                current,
                sql_error
            }
        ),
        (0..RUNS, 0..12usize, -2..3i64, 0..4usize, proptest::option::of(0..12usize))
            .prop_map(|(run, job, time, state, read)| Op::Run { run, job, time, state, read }),
        (0..12usize, proptest::collection::vec((0..12usize, 0..3usize, 0..3usize, 0..9usize), 0..3))
            .prop_map(|(output, edges)| Op::ColumnLineage { output, edges }),
        (0..12usize, 0..OBSERVATION_KEYS, 0..12usize, any::<bool>())
            .prop_map(|(job, key, input, put)| { Op::Observation { job, key, input, put } }),
        (any::<bool>(), 0..4usize, prop_oneof![3 => Just(1u64), 1 => Just(300u64)], any::<u8>(), stamp())
            .prop_map(|(product, id, step, body, audit)| Op::Document { product, id, step, body, audit }),
        (-2..3i64, 0..3u64, 0..12usize, 0..4usize).prop_map(|(time, sequence, dataset, verdict)| Op::SchemaChange {
            time,
            sequence,
            dataset,
            verdict
        }),
        (1..4usize, proptest::option::of(0..4usize)).prop_map(|(limit, verdict)| Op::SchemaChanges { limit, verdict }),
        (0..4usize, any::<bool>(), any::<bool>(), stamp()).prop_map(|(id, revoked, durable, audit)| Op::Token {
            id,
            revoked,
            durable,
            audit
        }),
        (-2..4i64, 0..3usize, 0..4usize).prop_map(|(at, actor, kind)| Op::Audit { at, actor, kind }),
        pages().prop_map(Op::AuditPages),
        any::<u8>().prop_map(|seed| Op::RedactionKey { seed }),
        any::<bool>().prop_map(|switch_codec| Op::Reopen { switch_codec }),
    ]
}

#[derive(Default)]
struct Reference {
    events: Vec<Vec<u8>>,
    job_runs: BTreeMap<JobId, BTreeSet<(i64, u8)>>,
    owners: BTreeMap<String, BTreeSet<NodeRef>>,
    tags: BTreeMap<String, BTreeSet<NodeRef>>,
    aliases: BTreeMap<DatasetId, DatasetId>,
    /// Records: the last one put under each id.
    datasets: BTreeMap<DatasetId, DatasetRecord>,
    facets: BTreeMap<DatasetId, BTreeMap<String, Value>>,
    jobs: BTreeMap<JobId, JobRecord>,
    runs: BTreeMap<RunId, RunRecord>,
    /// Absent when the last put was empty.
    column_lineage: BTreeMap<DatasetId, Vec<ColumnEdgeSpec>>,
    observations: BTreeMap<JobId, BTreeMap<ObservationKey, Observation>>,
    products: Documents,
    domains: Documents,
    /// By time, event and dataset: the same change recorded again replaces it.
    schema_changes: BTreeMap<(Timestamp, u64, DatasetId), SchemaChangeRecord>,
    tokens: BTreeMap<String, TestToken>,
    /// Every audit entry, in the order recorded.
    audit: Vec<AuditRecord>,
    redaction: Option<[u8; 32]>,
}

#[derive(Default)]
struct Documents {
    /// The version put last.
    current: BTreeMap<String, DocumentRecord>,
    /// Every version put, by number.
    versions: BTreeMap<String, BTreeMap<u64, DocumentRecord>>,
}

impl Reference {
    fn documents(&mut self, kind: DocumentKind) -> &mut Documents {
        match kind {
            DocumentKind::Product => &mut self.products,
            DocumentKind::Domain => &mut self.domains,
        }
    }

    /// The job's greatest observation other than `except`.
    fn best_observation(&self, job: &JobId, except: Option<&ObservationKey>) -> Option<Observation> {
        let observations = self.observations.get(job)?;
        observations.iter().rev().find(|(key, _)| Some(*key) != except).map(|(_, observation)| observation.clone())
    }

    /// Newest first: latest time, then latest event (the changes of one event by dataset, last first).
    fn schema_changes(&self, limit: usize, keep: impl Fn(&SchemaChangeRecord) -> bool) -> Vec<SchemaChangeRecord> {
        self.schema_changes.values().rev().filter(|record| keep(record)).take(limit).cloned().collect()
    }

    /// The entries a query selects, newest first (the order within one instant is not compared).
    fn audit(&self, pages: &Pages) -> Vec<AuditRecord> {
        let mut selected: Vec<AuditRecord> = self.audit.iter().filter(|entry| pages.selects(entry)).cloned().collect();
        selected.sort_by_key(|entry| std::cmp::Reverse(entry.at));
        selected
    }
}

impl Pages {
    fn kinds(&self) -> Vec<AuditKind> {
        AuditKind::ALL.into_iter().enumerate().filter(|(bit, _)| self.kinds & (1 << bit) != 0).map(|(_, k)| k).collect()
    }

    fn keeps_actor(&self, entry: &AuditRecord) -> bool {
        self.actor.is_none_or(|index| entry.actor == actor(index))
    }

    fn selects(&self, entry: &AuditRecord) -> bool {
        let kinds = self.kinds();
        self.since.is_none_or(|since| entry.at >= Timestamp(since))
            && self.until.is_none_or(|until| entry.at < Timestamp(until))
            && (kinds.is_empty() || kinds.contains(&entry.kind))
            && self.keeps_actor(entry)
    }
}

/// Every page of the query, concatenated; no page longer than its limit.
fn walk_audit(store: &Store, pages: &Pages) -> Vec<AuditRecord> {
    let mut query = AuditQuery {
        since: pages.since.map(Timestamp),
        until: pages.until.map(Timestamp),
        kinds: pages.kinds(),
        after: None,
        limit: pages.limit,
        scan_budget: pages.budget,
    };
    let mut entries = Vec::new();
    for _ in 0..1000 {
        let page = store.audit(&query, |entry| pages.keeps_actor(entry)).unwrap();
        assert!(page.entries.len() <= pages.limit, "a page of {} entries for {pages:?}", page.entries.len());
        entries.extend(page.entries);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return entries,
        }
    }
    panic!("the audit pages of {pages:?} do not end");
}

/// The same entries newest first; those of one instant may come in any order.
fn assert_same_audit(store: &Store, reference: &Reference, pages: &Pages) {
    let actual = walk_audit(store, pages);
    let expected = reference.audit(pages);
    let instants = |entries: &[AuditRecord]| entries.iter().map(|entry| entry.at).collect::<Vec<_>>();
    assert_eq!(instants(&actual), instants(&expected), "audit times, newest first, for {pages:?}");
    let sorted = |entries: Vec<AuditRecord>| {
        let mut keyed: Vec<(Timestamp, String)> =
            entries.iter().map(|entry| (entry.at, serde_json::to_string(entry).unwrap())).collect();
        keyed.sort();
        keyed
    };
    assert_eq!(sorted(actual), sorted(expected), "audit entries for {pages:?}");
}

/// Labels are listed in key order: datasets before jobs, then namespace NUL name.
fn label_order(nodes: &BTreeSet<NodeRef>) -> Vec<NodeRef> {
    let mut sorted: Vec<NodeRef> = nodes.iter().cloned().collect();
    sorted.sort_by(|a, b| {
        let kind = |n: &NodeRef| if n.kind == NodeKind::Dataset { 0 } else { 1 };
        (kind(a), a.namespace.as_bytes(), a.name.as_bytes()).cmp(&(kind(b), b.namespace.as_bytes(), b.name.as_bytes()))
    });
    sorted
}

fn config(compress: bool) -> StoreConfig {
    StoreConfig { compress, ..StoreConfig::default() }
}

fn commit(store: &Store, fill: impl FnOnce(&mut EventWrite)) {
    let mut write = store.write();
    fill(&mut write);
    store.commit(write).expect("commit");
}

fn check(compress: bool, ops: &[Op]) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut compress = compress;
    let mut store = Store::open(dir.path(), &config(compress)).expect("open");
    let mut reference = Reference::default();
    for (step, op) in ops.iter().enumerate() {
        if let Op::Reopen { switch_codec } = op {
            store.flush().expect("flush");
            if *switch_codec {
                drop(store);
                compress = !compress;
                store = Store::open_waiting(dir.path(), &config(compress), std::time::Duration::from_secs(5))
                    .expect("open again");
            } else {
                store.reopen().expect("reopen");
            }
            continue;
        }
        apply(&store, &mut reference, op, step);
    }
    compare(&store, &reference);
    store.flush().expect("flush");
    store.reopen().expect("reopen");
    compare(&store, &reference);
}

fn apply(store: &Store, reference: &mut Reference, op: &Op, step: usize) {
    match op {
        Op::Event { body, audit } => {
            let sequence = reference.events.len() as u64 + 1;
            let entry = audit.map(|(at, by)| {
                let mut entry =
                    AuditRecord::new(Timestamp(at), actor(by), AuditKind::EventStored, format!("event {sequence}"));
                entry.sequence = Some(sequence);
                entry
            });
            commit(store, |write| {
                write.put_event(sequence, u128::from(sequence), body);
                if let Some(entry) = &entry {
                    write.put_event_audit(entry, sequence).unwrap();
                }
            });
            reference.events.push(body.clone());
            reference.audit.extend(entry);
        }
        Op::JobRun { job: index, start, run, put } => {
            let id = job(*index);
            if *put {
                commit(store, |write| write.put_job_run(&id, Timestamp(*start), &run_id(*run)));
                reference.job_runs.entry(id).or_default().insert((*start, *run));
            } else {
                commit(store, |write| write.delete_job_run(&id, Timestamp(*start), &run_id(*run)));
                reference.job_runs.entry(id).or_default().remove(&(*start, *run));
            }
        }
        Op::Owner { owner, node: index, put } => {
            let target = node(*index);
            if *put {
                commit(store, |write| write.put_owner(OWNERS[*owner], None, &target));
                reference.owners.entry(OWNERS[*owner].to_owned()).or_default().insert(target);
            } else {
                commit(store, |write| write.delete_owner(OWNERS[*owner], &target));
                reference.owners.entry(OWNERS[*owner].to_owned()).or_default().remove(&target);
            }
        }
        Op::Tag { tag, node: index, put } => {
            let target = node(*index);
            let label = TAGS[*tag].to_lowercase();
            if *put {
                commit(store, |write| write.put_tag(TAGS[*tag], &target));
                reference.tags.entry(label).or_default().insert(target);
            } else {
                commit(store, |write| write.delete_tag(TAGS[*tag], &target));
                reference.tags.entry(label).or_default().remove(&target);
            }
        }
        Op::Alias { alias, canonical } => {
            commit(store, |write| write.put_alias(&dataset(*alias), &dataset(*canonical)));
            reference.aliases.insert(dataset(*alias), dataset(*canonical));
        }
        Op::Dataset { dataset: index, first, span, schema, facet, alias } => {
            let mut record = DatasetRecord::new(dataset(*index), Timestamp(*first));
            record.touch(Timestamp(first + span));
            if let Some(schema) = schema {
                record.current_schema = Some(format!("{schema:016x}"));
                record.schema_last_seen = Some(Timestamp(first + span));
            }
            if let Some((key, hash)) = facet {
                let version = Version { time: Timestamp(*first), hash: u64::from(*hash) };
                merge_stamp(&mut record.facets, FACET_KEYS[*key], Some(u64::from(*hash)), version);
            }
            record.aliases.extend(alias.map(dataset));
            commit(store, |write| write.put_dataset(&record).unwrap());
            reference.datasets.insert(record.id.clone(), record);
        }
        Op::Facet { dataset: index, key, value } => {
            let id = dataset(*index);
            let facets = reference.facets.entry(id.clone()).or_default();
            match value {
                Some(n) => {
                    commit(store, |write| write.put_dataset_facet(&id, FACET_KEYS[*key], &facet_value(*n)).unwrap());
                    facets.insert(FACET_KEYS[*key].to_owned(), facet_value(*n));
                }
                None => {
                    commit(store, |write| write.delete_dataset_facet(&id, FACET_KEYS[*key]));
                    facets.remove(FACET_KEYS[*key]);
                }
            }
        }
        Op::Job { job: index, seen, inputs, outputs, current, sql_error } => {
            let mut record = JobRecord::new(job(*index), Timestamp(*seen));
            record.inputs = inputs.iter().copied().map(dataset).collect();
            record.outputs = outputs.iter().copied().map(dataset).collect();
            record.current = current.map(observation_key);
            if *sql_error {
                record.sql_error = Some("no such column".into());
                let sql = json!({ "sql": { "query": "select nope from t" } });
                merge_facets(&mut record.facets, sql.as_object().unwrap(), Version { time: Timestamp(*seen), hash: 1 });
            }
            commit(store, |write| write.put_job(&record).unwrap());
            reference.jobs.insert(record.id.clone(), record);
        }
        Op::Run { run, job: index, time, state, read } => {
            let version = Version { time: Timestamp(*time), hash: u64::from(*run) };
            let mut record = RunRecord::new(run_id(*run), job(*index), version);
            let later = Version { time: Timestamp(time + 1), hash: 0 };
            record.observe(&job(*index), Some(RUN_STATES[*state]), later, step as u64);
            if let Some(read) = read {
                record.inputs.insert(dataset(*read), Facets::new());
            }
            commit(store, |write| write.put_run(&record).unwrap());
            reference.runs.insert(record.id, record);
        }
        Op::ColumnLineage { output, edges } => {
            let output = dataset(*output);
            let edges: Vec<ColumnEdgeSpec> = edges.iter().map(column_edge).collect();
            commit(store, |write| write.put_column_lineage(&output, &edges).unwrap());
            if edges.is_empty() {
                reference.column_lineage.remove(&output);
            } else {
                reference.column_lineage.insert(output, edges);
            }
        }
        Op::Observation { job: index, key, input, put } => {
            let id = job(*index);
            let key = observation_key(*key);
            let observations = reference.observations.entry(id.clone()).or_default();
            if *put {
                let observation =
                    Observation { format: RECORD_FORMAT, key, inputs: vec![dataset(*input)], outputs: vec![] };
                commit(store, |write| write.put_observation(&id, &observation).unwrap());
                observations.insert(key, observation);
            } else {
                commit(store, |write| write.delete_observation(&id, &key));
                observations.remove(&key);
            }
        }
        Op::Document { product, id, step: increment, body, audit } => {
            let kind = if *product { DocumentKind::Product } else { DocumentKind::Domain };
            let id = DOCUMENT_IDS[*id];
            let documents = reference.documents(kind);
            let version = documents.current.get(id).map_or(0, |current| current.version) + increment;
            let record = DocumentRecord {
                format: RECORD_FORMAT,
                id: id.to_owned(),
                version,
                applied_at: Timestamp(step as i64),
                hash: format!("{body:016x}"),
                body: json!({ "id": id, "body": body }),
            };
            documents.current.insert(id.to_owned(), record.clone());
            documents.versions.entry(id.to_owned()).or_default().insert(version, record.clone());
            match audit {
                Some((at, by)) => {
                    let mut entry = AuditRecord::new(
                        Timestamp(*at),
                        actor(*by),
                        AuditKind::DescriptorApplied,
                        format!("document {id} v{version}"),
                    );
                    entry.version = Some(version);
                    store.put_document_audited(kind, &record, Some(&entry)).unwrap();
                    reference.audit.push(entry);
                }
                None => store.put_document(kind, &record).unwrap(),
            }
        }
        Op::SchemaChange { time, sequence, dataset: index, verdict } => {
            let record = SchemaChangeRecord {
                format: RECORD_FORMAT,
                sequence: *sequence,
                time: Timestamp(*time),
                dataset: dataset(*index),
                from: format!("{step:x}"),
                to: format!("{:x}", step + 1),
                verdict: Verdict::ALL[*verdict],
                report: json!({ "step": step }),
            };
            store.put_schema_change(&record).unwrap();
            reference.schema_changes.insert((record.time, record.sequence, record.dataset.clone()), record);
        }
        Op::SchemaChanges { limit, verdict } => {
            let keep = |record: &SchemaChangeRecord| verdict.is_none_or(|v| record.verdict == Verdict::ALL[v]);
            assert_eq!(
                store.schema_changes(*limit, keep).unwrap(),
                reference.schema_changes(*limit, keep),
                "schema changes, at most {limit}, verdict {verdict:?}"
            );
        }
        Op::Token { id, revoked, durable, audit } => {
            let token = TestToken { format: RECORD_FORMAT, id: TOKEN_IDS[*id].to_owned(), revoked: *revoked, step };
            match audit {
                Some((at, by)) => {
                    let kind = if *revoked { AuditKind::TokenRevoked } else { AuditKind::TokenCreated };
                    let entry =
                        AuditRecord::new(Timestamp(*at), actor(*by), kind, format!("token {} ({step})", token.id));
                    store.put_token_audited(&token.id, &token, &entry).unwrap();
                    reference.audit.push(entry);
                }
                None => store.put_token(&token.id, &token, *durable).unwrap(),
            }
            reference.tokens.insert(token.id.clone(), token);
        }
        Op::Audit { at, actor: by, kind } => {
            let mut entry =
                AuditRecord::new(Timestamp(*at), actor(*by), LONE_AUDIT_KINDS[*kind], format!("step {step}"));
            entry.details = vec![format!("reason {step}")];
            store.put_audit(&entry).unwrap();
            reference.audit.push(entry);
        }
        Op::AuditPages(pages) => assert_same_audit(store, reference, pages),
        Op::RedactionKey { seed } => {
            let expected = *reference.redaction.get_or_insert([*seed; 32]);
            assert_eq!(store.redaction_key(|| [*seed; 32]).unwrap(), expected, "the redaction key");
        }
        Op::Reopen { .. } => unreachable!("handled by check"),
    }
}

fn compare(store: &Store, reference: &Reference) {
    assert_eq!(store.last_sequence().unwrap(), reference.events.len() as u64);
    for (index, body) in reference.events.iter().enumerate() {
        assert_eq!(store.event(index as u64 + 1).unwrap().as_ref(), Some(body), "event {}", index + 1);
    }
    let after = reference.events.len() as u64 / 2;
    let page = store.events_after(after, 5).unwrap();
    let expected: Vec<u64> = (after + 1..=reference.events.len() as u64).take(5).collect();
    assert_eq!(page.iter().map(|(s, _)| *s).collect::<Vec<_>>(), expected);
    for index in 0..12 {
        let id = job(index);
        // Most recent start first; runs of one start in id order, last first.
        let mut expected: Vec<(i64, u8)> =
            reference.job_runs.get(&id).map(|r| r.iter().copied().collect()).unwrap_or_default();
        expected.reverse();
        let expected: Vec<RunId> = expected.into_iter().take(3).map(|(_, run)| run_id(run)).collect();
        assert_eq!(store.job_runs(&id, 3).unwrap(), expected, "job runs of {id}");
        assert_eq!(
            store.alias(&dataset(index)).unwrap(),
            reference.aliases.get(&dataset(index)).cloned(),
            "alias of {}",
            dataset(index)
        );
    }
    for owner in OWNERS {
        let expected = reference.owners.get(owner).map(label_order).unwrap_or_default();
        assert_eq!(store.nodes_owned_by(owner).unwrap(), expected, "owned by {owner}");
    }
    for tag in TAGS {
        let expected = reference.tags.get(&tag.to_lowercase()).map(label_order).unwrap_or_default();
        assert_eq!(store.nodes_tagged(tag).unwrap(), expected, "tagged {tag}");
    }
    compare_records(store, reference);
    compare_documents(store, reference);
    compare_access(store, reference);
}

fn compare_records(store: &Store, reference: &Reference) {
    for index in 0..12 {
        let id = dataset(index);
        assert_eq!(store.dataset(&id).unwrap().as_ref(), reference.datasets.get(&id), "dataset {id}");
        let facets = reference.facets.get(&id).cloned().unwrap_or_default();
        // By key, in key order.
        assert_eq!(
            store.dataset_facets(&id).unwrap().into_iter().collect::<Vec<_>>(),
            facets.clone().into_iter().collect::<Vec<_>>(),
            "facets of {id}"
        );
        for key in FACET_KEYS {
            assert_eq!(store.dataset_facet(&id, key).unwrap().as_ref(), facets.get(key), "facet {key} of {id}");
        }
        assert_eq!(
            store.column_lineage(&id).unwrap(),
            reference.column_lineage.get(&id).cloned().unwrap_or_default(),
            "column lineage into {id}"
        );

        let id = job(index);
        assert_eq!(store.job(&id).unwrap().as_ref(), reference.jobs.get(&id), "job {id}");
        assert_eq!(store.best_observation(&id, None).unwrap(), reference.best_observation(&id, None), "best of {id}");
        if reference.observations.get(&id).is_some_and(|observations| !observations.is_empty()) {
            for except in (0..OBSERVATION_KEYS).map(observation_key) {
                assert_eq!(
                    store.best_observation(&id, Some(&except)).unwrap(),
                    reference.best_observation(&id, Some(&except)),
                    "best of {id} except {except:?}"
                );
            }
        }
    }
    // Scans list by namespace, then name.
    let jobs: Vec<JobRecord> = store.scan_jobs().map(Result::unwrap).collect();
    assert_eq!(jobs, reference.jobs.values().cloned().collect::<Vec<_>>(), "every job");
    let lineage: Vec<(DatasetId, Vec<ColumnEdgeSpec>)> = store.scan_column_lineage().map(Result::unwrap).collect();
    let expected: Vec<(DatasetId, Vec<ColumnEdgeSpec>)> =
        reference.column_lineage.iter().map(|(id, edges)| (id.clone(), edges.clone())).collect();
    assert_eq!(lineage, expected, "every column lineage");
    for run in 0..RUNS {
        assert_eq!(store.run(&run_id(run)).unwrap().as_ref(), reference.runs.get(&run_id(run)), "run {run}");
    }
}

fn compare_documents(store: &Store, reference: &Reference) {
    for (kind, documents) in [(DocumentKind::Product, &reference.products), (DocumentKind::Domain, &reference.domains)]
    {
        for id in DOCUMENT_IDS {
            assert_eq!(store.document(kind, id).unwrap().as_ref(), documents.current.get(id), "{kind:?} {id}");
            // Oldest first.
            let versions: Vec<DocumentRecord> =
                documents.versions.get(id).map(|versions| versions.values().cloned().collect()).unwrap_or_default();
            assert_eq!(store.document_versions(kind, id).unwrap(), versions, "versions of {kind:?} {id}");
        }
        // By id.
        let current: Vec<DocumentRecord> = documents.current.values().cloned().collect();
        assert_eq!(store.scan_documents(kind).unwrap(), current, "every {kind:?}");
    }
    assert_eq!(store.schema_changes(usize::MAX, |_| true).unwrap(), reference.schema_changes(usize::MAX, |_| true));
    let breaking = |record: &SchemaChangeRecord| record.verdict == Verdict::Breaking;
    assert_eq!(store.schema_changes(2, breaking).unwrap(), reference.schema_changes(2, breaking));
}

fn compare_access(store: &Store, reference: &Reference) {
    // By id.
    let tokens: Vec<TestToken> = reference.tokens.values().cloned().collect();
    assert_eq!(store.tokens::<TestToken>().unwrap(), tokens, "tokens");
    assert_eq!(store.has_tokens().unwrap(), !tokens.is_empty());
    for pages in [
        Pages { since: None, until: None, kinds: 0, limit: 3, budget: usize::MAX, actor: None },
        Pages { since: None, until: None, kinds: 0, limit: 1, budget: 1, actor: None },
        Pages { since: Some(0), until: Some(2), kinds: 0b10001, limit: 2, budget: 3, actor: Some(2) },
    ] {
        assert_same_audit(store, reference, &pages);
    }
    if let Some(key) = reference.redaction {
        assert_eq!(store.redaction_key(|| [0xee; 32]).unwrap(), key, "the redaction key");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sled_and_the_reference_answer_alike(compress in any::<bool>(), ops in proptest::collection::vec(op(), 0..80)) {
        check(compress, &ops);
    }
}
