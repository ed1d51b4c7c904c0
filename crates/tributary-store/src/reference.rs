//! The storage suite: the sled store and a plain in-memory reference model driven by the
//! same generated operation sequences, answering alike. The reference keeps records as
//! ordered maps of what each operation means, not of keys, so a key encoding that lets two
//! things collide (a name that is a prefix of another, a label with odd characters) or a
//! wrong scan order shows up as a difference.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tributary_model::{DatasetId, JobId, NodeKind, NodeRef, RunId, Timestamp};

use crate::{Store, StoreConfig};

#[derive(Clone, Debug)]
enum Op {
    Event { body: Vec<u8> },
    JobRun { job: usize, start: i64, run: u8, put: bool },
    Owner { owner: usize, node: usize, put: bool },
    Tag { tag: usize, node: usize, put: bool },
    Alias { alias: usize, canonical: usize },
}

/// Small name pools so that operations collide; names that are prefixes of each other and
/// owners with odd characters on purpose.
const NAMES: [&str; 4] = ["a", "ab", "a.b", "b"];
const NAMESPACES: [&str; 3] = ["db", "db:x", "d"];
const OWNERS: [&str; 4] = ["alice", "ali", "team:ops", "Alice"];
const TAGS: [&str; 3] = ["pii", "PII", "pi"];

fn dataset(index: usize) -> DatasetId {
    DatasetId::new(NAMESPACES[index % 3], NAMES[index / 3 % 4])
}

fn job(index: usize) -> JobId {
    JobId::new(NAMESPACES[index % 3], NAMES[index / 3 % 4])
}

fn node(index: usize) -> NodeRef {
    if index.is_multiple_of(2) { NodeRef::from(&dataset(index / 2)) } else { NodeRef::from(&job(index / 2)) }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|body| Op::Event { body }),
        (0..12usize, 0..5i64, 0..4u8, any::<bool>()).prop_map(|(job, start, run, put)| Op::JobRun {
            job,
            start,
            run,
            put
        }),
        (0..4usize, 0..24usize, any::<bool>()).prop_map(|(owner, node, put)| Op::Owner { owner, node, put }),
        (0..3usize, 0..24usize, any::<bool>()).prop_map(|(tag, node, put)| Op::Tag { tag, node, put }),
        (0..12usize, 0..12usize).prop_map(|(alias, canonical)| Op::Alias { alias, canonical }),
    ]
}

#[derive(Default)]
struct Reference {
    events: Vec<Vec<u8>>,
    job_runs: BTreeMap<JobId, BTreeSet<(i64, u8)>>,
    owners: BTreeMap<String, BTreeSet<NodeRef>>,
    tags: BTreeMap<String, BTreeSet<NodeRef>>,
    aliases: BTreeMap<DatasetId, DatasetId>,
}

fn run_id(n: u8) -> RunId {
    RunId(uuid::Uuid::from_bytes([n; 16]))
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

fn check(ops: &[Op]) {
    let store = Store::open_temporary(&StoreConfig::default()).expect("open");
    let mut reference = Reference::default();
    for op in ops {
        let mut write = store.write();
        match op {
            Op::Event { body } => {
                let sequence = reference.events.len() as u64 + 1;
                write.put_event(sequence, u128::from(sequence), body);
                reference.events.push(body.clone());
            }
            Op::JobRun { job: index, start, run, put } => {
                let id = job(*index);
                if *put {
                    write.put_job_run(&id, Timestamp(*start), &run_id(*run));
                    reference.job_runs.entry(id).or_default().insert((*start, *run));
                } else {
                    write.delete_job_run(&id, Timestamp(*start), &run_id(*run));
                    reference.job_runs.entry(id).or_default().remove(&(*start, *run));
                }
            }
            Op::Owner { owner, node: index, put } => {
                let target = node(*index);
                if *put {
                    write.put_owner(OWNERS[*owner], &target);
                    reference.owners.entry(OWNERS[*owner].to_owned()).or_default().insert(target);
                } else {
                    write.delete_owner(OWNERS[*owner], &target);
                    reference.owners.entry(OWNERS[*owner].to_owned()).or_default().remove(&target);
                }
            }
            Op::Tag { tag, node: index, put } => {
                let target = node(*index);
                let label = TAGS[*tag].to_lowercase();
                if *put {
                    write.put_tag(TAGS[*tag], &target);
                    reference.tags.entry(label).or_default().insert(target);
                } else {
                    write.delete_tag(TAGS[*tag], &target);
                    reference.tags.entry(label).or_default().remove(&target);
                }
            }
            Op::Alias { alias, canonical } => {
                write.put_alias(&dataset(*alias), &dataset(*canonical));
                reference.aliases.insert(dataset(*alias), dataset(*canonical));
            }
        }
        store.commit(write).expect("commit");
    }

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
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sled_and_the_reference_answer_alike(ops in proptest::collection::vec(op(), 0..60)) {
        check(&ops);
    }
}
