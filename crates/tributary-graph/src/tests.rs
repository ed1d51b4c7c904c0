use std::collections::{HashMap, HashSet};

use tributary_model::{DatasetId, Direction, EdgeKind, JobId, NodeKind, NodeRef};

use crate::{AnswerSink, LineageIndex, LineageQuestion};

pub(crate) fn ds(name: &str) -> DatasetId {
    DatasetId::new("db", name)
}

pub(crate) fn job(name: &str) -> JobId {
    JobId::new("etl", name)
}

fn dataset_ref(name: &str) -> NodeRef {
    NodeRef { kind: NodeKind::Dataset, namespace: "db".into(), name: name.into() }
}

/// raw -> clean (job a) -> mart (job b) -> report (job c); raw -> audit (job d)
fn pipeline() -> LineageIndex {
    let mut index = LineageIndex::default();
    index.set_job_io(&job("a"), &[ds("raw")], &[ds("clean")]);
    index.set_job_io(&job("b"), &[ds("clean")], &[ds("mart")]);
    index.set_job_io(&job("c"), &[ds("mart")], &[ds("report")]);
    index.set_job_io(&job("d"), &[ds("raw")], &[ds("audit")]);
    index
}

fn render(index: &LineageIndex, start: &str, direction: Direction, depth: u32, limit: usize) -> String {
    let answer = index.lineage(LineageQuestion::new(&dataset_ref(start), direction, depth, limit)).unwrap();
    let mut nodes: Vec<String> = answer
        .nodes
        .iter()
        .map(|n| format!("{}{}@{}", if n.node.kind == NodeKind::Job { "job:" } else { "" }, n.node.name, n.distance))
        .collect();
    nodes.sort();
    format!("{} edges={} truncated={}", nodes.join(" "), answer.edges.len(), answer.truncated)
}

#[test]
fn downstream_upstream_and_both() {
    let index = pipeline();
    assert_eq!(
        render(&index, "raw", Direction::Downstream, 10, 100),
        "audit@1 clean@1 job:a@1 job:b@2 job:c@3 job:d@1 mart@2 raw@0 report@3 edges=8 truncated=false"
    );
    assert_eq!(
        render(&index, "raw", Direction::Downstream, 1, 100),
        "audit@1 clean@1 job:a@1 job:d@1 raw@0 edges=4 truncated=false"
    );
    assert_eq!(
        render(&index, "mart", Direction::Upstream, 10, 100),
        "clean@1 job:a@2 job:b@1 mart@0 raw@2 edges=4 truncated=false"
    );
    assert_eq!(
        render(&index, "clean", Direction::Both, 1, 100),
        "clean@0 job:a@1 job:b@1 mart@1 raw@1 edges=4 truncated=false"
    );
}

#[test]
fn datasets_only_follows_jobs_without_returning_them_and_counts_them_for_the_limit() {
    use crate::AnswerShape::DatasetsOnly;
    let index = pipeline();
    let names = |answer: crate::LineageAnswer| -> Vec<String> {
        let mut names: Vec<String> = answer.nodes.iter().map(|n| format!("{}@{}", n.node.name, n.distance)).collect();
        names.sort();
        names
    };
    let answer = index
        .lineage(LineageQuestion::new(&dataset_ref("raw"), Direction::Downstream, 10, 100).shaped(DatasetsOnly))
        .unwrap();
    assert!(answer.edges.is_empty() && !answer.truncated);
    assert_eq!(names(answer), ["audit@1", "clean@1", "mart@2", "raw@0", "report@3"]);
    let both = index
        .lineage(LineageQuestion::new(&dataset_ref("clean"), Direction::Both, 1, 100).shaped(DatasetsOnly))
        .unwrap();
    assert_eq!(names(both), ["clean@0", "mart@1", "raw@1"]);
    // raw, job a, clean, job d: the fourth visited node fills the limit of 4.
    let cut = index
        .lineage(LineageQuestion::new(&dataset_ref("raw"), Direction::Downstream, 10, 4).shaped(DatasetsOnly))
        .unwrap();
    assert!(cut.truncated);
    assert!(cut.nodes.len() < 4 && cut.nodes.iter().all(|n| n.node.kind == NodeKind::Dataset));
}

#[test]
fn limit_cuts_and_says_so() {
    let index = pipeline();
    let answer = index.lineage(LineageQuestion::new(&dataset_ref("raw"), Direction::Downstream, 10, 3)).unwrap();
    assert_eq!(answer.nodes.len(), 3);
    assert!(answer.truncated);
    for edge in &answer.edges {
        assert!(answer.nodes.iter().any(|n| n.node == edge.from));
        assert!(answer.nodes.iter().any(|n| n.node == edge.to));
    }
}

#[test]
fn changing_a_jobs_inputs_drops_the_old_edge() {
    let mut index = pipeline();
    index.set_job_io(&job("b"), &[ds("audit")], &[ds("mart")]);
    assert_eq!(render(&index, "clean", Direction::Downstream, 10, 100), "clean@0 edges=0 truncated=false");
    assert_eq!(index.consumers(&ds("audit")), vec![NodeRef::from(&job("b"))]);
    // Setting the same inputs again changes nothing.
    let edges = index.edge_count();
    index.set_job_io(&job("b"), &[ds("audit"), ds("audit")], &[ds("mart")]);
    assert_eq!(index.edge_count(), edges);
}

#[test]
fn unknown_start_is_an_error() {
    let index = pipeline();
    let error = index.lineage(LineageQuestion::new(&dataset_ref("nope"), Direction::Downstream, 3, 10)).unwrap_err();
    assert_eq!(error.to_string(), "unknown dataset `db:nope`");
}

#[test]
fn cycles_terminate() {
    let mut index = LineageIndex::default();
    index.set_job_io(&job("x"), &[ds("a")], &[ds("b")]);
    index.set_job_io(&job("y"), &[ds("b")], &[ds("a")]);
    assert_eq!(render(&index, "a", Direction::Downstream, 100, 100), "a@0 b@1 job:x@1 job:y@2 edges=4 truncated=false");
}

#[test]
fn listing_pages_in_order() {
    let index = pipeline();
    let (first, more) = index.list_datasets(None, None, None, 2);
    assert_eq!(first, vec![ds("audit"), ds("clean")]);
    assert!(more);
    let (rest, more) = index.list_datasets(None, None, first.last(), 10);
    assert_eq!(rest, vec![ds("mart"), ds("raw"), ds("report")]);
    assert!(!more);
    let (found, _) = index.list_datasets(Some("db"), Some("AR"), None, 10);
    assert_eq!(found, vec![ds("mart")]);
}

#[test]
fn listings_interleaved_with_additions_stay_in_order() {
    let mut index = LineageIndex::default();
    let mut expected: Vec<DatasetId> = Vec::new();
    let mut state = 7u64;
    for n in 0..300u64 {
        // A fixed pseudo-random order over namespaces and names.
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let id = DatasetId::new(format!("ns{}", (state >> 60) % 5), format!("t{:04}", (state >> 33) % 10_000 + n));
        index.ensure_dataset(&id);
        expected.push(id);
        if n % 17 == 0 || n == 299 {
            expected.sort();
            expected.dedup();
            assert_eq!(index.list_datasets(None, None, None, 1_000).0, expected, "after {} additions", n + 1);
        }
    }
}

/// A pseudo-random graph of datasets in three namespaces and jobs reading 1-3 and writing
/// 1-3 of them, with cycles and hubs.
fn random_graph(seed: u64, n_jobs: u64) -> LineageIndex {
    let mut index = LineageIndex::default();
    let mut state = seed;
    let mut next = |below: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    let dataset = |next: &mut dyn FnMut(u64) -> u64| {
        let n = if next(4) == 0 { next(3) } else { next(60) };
        DatasetId::new(format!("ns{}", n % 3), format!("d{n}"))
    };
    for j in 0..n_jobs {
        let inputs: Vec<DatasetId> = (0..1 + next(3)).map(|_| dataset(&mut next)).collect();
        let outputs: Vec<DatasetId> = (0..1 + next(3)).map(|_| dataset(&mut next)).collect();
        index.set_job_io(&JobId::new(format!("jobs{}", j % 2), format!("j{j}")), &inputs, &outputs);
    }
    index
}

#[test]
fn reach_is_the_nodes_answer_by_number() {
    for seed in 1..6 {
        let index = random_graph(seed, 40);
        let starts: Vec<NodeRef> = index
            .list_datasets(None, None, None, 1000)
            .0
            .iter()
            .map(NodeRef::from)
            .chain(index.list_jobs(None, None, None, 1000).0.iter().map(NodeRef::from))
            .collect();
        for start in &starts {
            for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
                for (depth, limit) in [(0, 100), (1, 100), (3, 7), (20, 1), (20, 25), (1000, 1_000_000)] {
                    let answer = index.lineage(LineageQuestion::new(start, direction, depth, limit)).unwrap();
                    let reach = index.reach(start, direction, depth, limit).unwrap();
                    let named = named_reach(&index, &reach);
                    assert_eq!(named, answer.nodes, "{start:?} {direction:?} depth {depth} limit {limit}");
                    assert_eq!(reach.truncated, answer.truncated);
                    for reached in &reach.nodes {
                        assert_eq!(index.is_job(reached.node), index.node_ref(reached.node).kind == NodeKind::Job);
                    }
                }
            }
        }
    }
}

/// A walk by node number, named like a lineage answer.
fn named_reach(index: &LineageIndex, reach: &crate::Reach) -> Vec<crate::LineageNode> {
    reach
        .nodes
        .iter()
        .map(|reached| crate::LineageNode { node: index.node_ref(reached.node), distance: reached.distance })
        .collect()
}

#[test]
fn walks_agree_with_the_live_graph_while_the_frozen_copy_ages() {
    let mut index = random_graph(11, 120);
    let mut state = 99u64;
    let mut next = |below: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    for round in 0..12 {
        let starts: Vec<NodeRef> = index.list_datasets(None, None, None, 1000).0.iter().map(NodeRef::from).collect();
        for start in starts.iter().step_by(3) {
            for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
                for (depth, limit) in [(1000, 1_000_000), (2, 1_000_000), (1000, 9)] {
                    // Every answer reads the frozen copy where it is current; the oracle reads
                    // the live graph only (edges with the kinds it holds).
                    let question = LineageQuestion::new(start, direction, depth, limit);
                    let live = index.lineage_live(question);
                    assert_eq!(index.lineage(question).unwrap(), live, "round {round}: {start:?} {direction:?}");
                    let nodes = index
                        .lineage(LineageQuestion::new(start, direction, depth, limit).shaped(crate::AnswerShape::Nodes))
                        .unwrap();
                    let reach = index.reach(start, direction, depth, limit).unwrap();
                    assert_eq!(nodes.nodes, live.nodes, "round {round}: {start:?} {direction:?} {depth} {limit}");
                    assert_eq!(nodes.truncated, live.truncated);
                    let named = named_reach(&index, &reach);
                    assert_eq!(named, live.nodes);
                    assert_eq!(reach.truncated, live.truncated);
                    // Named by the index's shared strings: the same answer, every shape.
                    for shape in [crate::AnswerShape::Full, crate::AnswerShape::Nodes, crate::AnswerShape::DatasetsOnly]
                    {
                        let question = LineageQuestion::new(start, direction, depth, limit).shaped(shape);
                        let owned = index.lineage(question).unwrap();
                        let shared = index.lineage_named(question).unwrap();
                        assert_eq!(shared.to_refs(), owned, "{start:?} {direction:?} {depth} {limit} {shape:?}");
                        // Read out into a sink: the same nodes and edges, in the same order.
                        let mut sink = crate::LineageAnswer::<NodeRef>::default();
                        let truncated = index.lineage_into(question, &mut sink).unwrap();
                        assert_eq!((sink.nodes, sink.edges), (owned.nodes, owned.edges));
                        assert_eq!(truncated, owned.truncated);
                    }
                }
            }
        }
        // Change some jobs' inputs and outputs, add jobs and datasets.
        for _ in 0..(5 + round * 4) {
            let job = JobId::new(format!("jobs{}", next(2)), format!("j{}", next(160)));
            let pick = |n: u64| DatasetId::new(format!("ns{}", n % 3), format!("d{n}"));
            let inputs: Vec<DatasetId> = (0..1 + next(3)).map(|_| pick(next(70))).collect();
            let outputs: Vec<DatasetId> = (0..1 + next(3)).map(|_| pick(next(70))).collect();
            index.set_job_io(&job, &inputs, &outputs);
        }
    }
}

/// Every start of `index` (datasets and jobs).
fn every_start(index: &LineageIndex) -> Vec<NodeRef> {
    index
        .list_datasets(None, None, None, 1000)
        .0
        .iter()
        .map(NodeRef::from)
        .chain(index.list_jobs(None, None, None, 1000).0.iter().map(NodeRef::from))
        .collect()
}

/// A lineage answer walked and read out `budget` nodes at a time, as a caller letting go of
/// the index between steps does it.
fn in_steps(index: &LineageIndex, question: LineageQuestion<'_>, budget: usize) -> crate::LineageAnswer {
    let mut walk = index.begin_lineage(question).unwrap();
    let mut answer = crate::LineageAnswer::<NodeRef>::default();
    let mut steps = 0;
    while !index.read_out_lineage(&mut walk, &mut answer, budget) {
        steps += 1;
        assert!(steps < 100_000, "a walk in steps ends");
    }
    answer.truncated = walk.truncated();
    answer
}

/// An edge's ends and their positions, as a sink receives them.
type PlacedEdge = (crate::NodeName, crate::NodeName, Option<(u32, u32)>);

/// Nodes and edges as a sink that refers to nodes by position receives them.
#[derive(Default)]
struct Positional {
    nodes: Vec<crate::NodeName>,
    edges: Vec<PlacedEdge>,
}

impl AnswerSink for Positional {
    fn node(&mut self, node: &crate::NodeName, _distance: u32) {
        self.nodes.push(node.clone());
    }

    fn edge(&mut self, _from: &crate::NodeName, _to: &crate::NodeName, _kind: EdgeKind) {
        panic!("the read-out hands edges with their positions");
    }

    fn edge_at(&mut self, from: &crate::NodeName, to: &crate::NodeName, _kind: EdgeKind, at: Option<(u32, u32)>) {
        self.edges.push((from.clone(), to.clone(), at));
    }
}

/// Edges by position alone, as a sink that says `by_position` receives them.
#[derive(Default)]
struct ByPosition(Vec<(u32, u32, EdgeKind)>);

impl AnswerSink for ByPosition {
    fn node(&mut self, _node: &crate::NodeName, _distance: u32) {}

    fn edge(&mut self, from: &crate::NodeName, to: &crate::NodeName, _kind: EdgeKind) {
        panic!("an edge by name: {from:?} -> {to:?}");
    }

    fn by_position(&self) -> bool {
        true
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: EdgeKind) {
        self.0.push((from, to, kind));
    }
}

#[test]
fn an_edges_positions_are_its_ends_among_the_answers_nodes() {
    let index = random_graph(11, 80);
    let mut dense_and_sorted = (false, false);
    for start in &every_start(&index) {
        for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
            for (depth, limit) in [(1, 100), (2, 7), (1000, 1_000_000)] {
                let question = LineageQuestion::new(start, direction, depth, limit).shaped(crate::AnswerShape::Full);
                let mut walk = index.begin_lineage(question).unwrap();
                let mut sink = Positional::default();
                while !index.read_out_lineage(&mut walk, &mut sink, 3) {}
                let answer = walk.answer.as_ref().unwrap();
                match answer.positions {
                    crate::reach::Positions::Dense(_) => dense_and_sorted.0 = true,
                    crate::reach::Positions::Sorted(_) => dense_and_sorted.1 = true,
                    crate::reach::Positions::None => assert!(sink.edges.is_empty()),
                }
                for (from, to, at) in &sink.edges {
                    let (from_at, to_at) = at.unwrap_or_else(|| panic!("{start:?} {direction:?}: an end not found"));
                    assert_eq!(&sink.nodes[from_at as usize], from, "{start:?} {direction:?} {depth} {limit}");
                    assert_eq!(&sink.nodes[to_at as usize], to, "{start:?} {direction:?} {depth} {limit}");
                }
                // By position alone: the same positions, the kinds of the named edges.
                let named = index.lineage(question).unwrap();
                // Each edge once, though both walks of `Both` may pass it.
                let distinct: HashSet<(&NodeRef, &NodeRef)> =
                    named.edges.iter().map(|edge| (&edge.from, &edge.to)).collect();
                assert_eq!(distinct.len(), named.edges.len(), "{start:?} {direction:?} {depth} {limit}: an edge twice");
                let mut walk = index.begin_lineage(question).unwrap();
                let mut by_position = ByPosition::default();
                while !index.read_out_lineage(&mut walk, &mut by_position, 3) {}
                let expected: Vec<(u32, u32, EdgeKind)> = sink
                    .edges
                    .iter()
                    .zip(&named.edges)
                    .map(|((_, _, at), edge)| (at.unwrap().0, at.unwrap().1, edge.kind))
                    .collect();
                assert_eq!(by_position.0, expected, "{start:?} {direction:?} {depth} {limit}");
            }
        }
    }
    assert_eq!(dense_and_sorted, (true, true), "both ways of finding positions are exercised");
}

#[test]
fn a_walk_in_steps_answers_as_one_walk() {
    for seed in [2, 7] {
        let index = random_graph(seed, 60);
        for start in &every_start(&index) {
            for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
                for (depth, limit) in [(0, 100), (2, 100), (1000, 9), (1000, 1_000_000)] {
                    for shape in [crate::AnswerShape::Full, crate::AnswerShape::Nodes, crate::AnswerShape::DatasetsOnly]
                    {
                        let question = LineageQuestion::new(start, direction, depth, limit).shaped(shape);
                        let whole = index.lineage(question).unwrap();
                        for budget in [1, 2, 5, 64] {
                            assert_eq!(
                                in_steps(&index, question, budget),
                                whole,
                                "{start:?} {direction:?} depth {depth} limit {limit} {shape:?} budget {budget}"
                            );
                        }
                        if shape == crate::AnswerShape::Nodes {
                            // The numbers of a walk stepped by hand are the reach.
                            let mut walk = index.begin_lineage(question).unwrap();
                            index.step_lineage(&mut walk, 3);
                            let reach = index.finish_reach(walk);
                            assert_eq!(named_reach(&index, &reach), whole.nodes);
                            assert_eq!(reach.truncated, whole.truncated);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_walk_that_outlives_additions_answers_between_the_index_before_and_after() {
    for seed in [3, 5, 9] {
        let mut index = random_graph(seed, 60);
        let starts: Vec<NodeRef> = index.list_datasets(None, None, None, 1000).0.iter().map(NodeRef::from).collect();
        for (round, start) in starts.iter().enumerate().step_by(4) {
            for direction in [Direction::Downstream, Direction::Both] {
                let question = LineageQuestion::new(start, direction, 1000, 1_000_000);
                let before = index.lineage(question).unwrap();
                let mut walk = index.begin_lineage(question).unwrap();
                let mut answer = crate::LineageAnswer::<NodeRef>::default();
                let mut step = 0;
                loop {
                    if index.read_out_lineage(&mut walk, &mut answer, 2) {
                        break;
                    }
                    // Between steps the writer adds jobs from datasets the walk may or may not
                    // have passed to new datasets (numbered past the walk's first bitmap).
                    step += 1;
                    if step > 24 {
                        continue;
                    }
                    let job = JobId::new("later", format!("s{seed}-r{round}-{direction:?}-{step}"));
                    let input = DatasetId::new(format!("ns{}", step % 3), format!("d{}", step % 60));
                    let outputs: Vec<DatasetId> = (0..70)
                        .map(|k| DatasetId::new("new", format!("s{seed}-r{round}-{direction:?}-{step}-{k}")))
                        .collect();
                    index.set_job_io(&job, &[input], &outputs);
                }
                let after = index.lineage(question).unwrap();
                assert!(!before.truncated && !after.truncated && !walk.truncated(), "the sets are whole");
                let set = |answer: &crate::LineageAnswer| -> std::collections::BTreeSet<NodeRef> {
                    answer.nodes.iter().map(|node| node.node.clone()).collect()
                };
                let (got, before, after) = (set(&answer), set(&before), set(&after));
                assert!(
                    got.is_superset(&before),
                    "{start:?} {direction:?}: every node reached before is reached, not {:?}",
                    before.difference(&got).collect::<Vec<_>>()
                );
                assert!(got.is_subset(&after), "{start:?} {direction:?}: nothing the index does not reach after");
                let kept: std::collections::HashSet<(NodeRef, NodeRef)> =
                    answer.edges.iter().map(|edge| (edge.from.clone(), edge.to.clone())).collect();
                assert_eq!(kept.len(), answer.edges.len(), "each edge once");
                for edge in &answer.edges {
                    assert!(got.contains(&edge.from) && got.contains(&edge.to), "edges join answered nodes");
                }
            }
        }
    }
}

#[test]
fn labels_follow_names_outputs_and_later_nodes() {
    let mut index = random_graph(3, 40);
    let labels = |index: &LineageIndex| -> Vec<(String, u32, u32)> {
        let mut all: Vec<(String, u32, u32)> = index
            .list_datasets(None, None, None, 1000)
            .0
            .iter()
            .map(NodeRef::from)
            .chain(index.list_jobs(None, None, None, 1000).0.iter().map(NodeRef::from))
            .map(|node| {
                let reach = index.reach(&node, Direction::Downstream, 0, 1).unwrap();
                let number = reach.nodes[0].node;
                let namespace = index.namespace_name(index.namespace_number(number));
                assert_eq!(namespace, node.namespace);
                (format!("{}:{}", node.namespace, node.name), index.label(number), index.namespace_label(number))
            })
            .collect();
        all.sort();
        all
    };
    // What the labels must be: a dataset's own, a job's from its first labelled output in
    // name order, a namespace's own.
    let expected = |index: &LineageIndex, datasets: &HashMap<DatasetId, u32>, namespaces: &HashMap<String, u32>| {
        let mut all: Vec<(String, u32, u32)> = Vec::new();
        for id in index.list_datasets(None, None, None, 1000).0 {
            let label = datasets.get(&id).copied().unwrap_or(0);
            all.push((
                format!("{}:{}", id.namespace, id.name),
                label,
                namespaces.get(&id.namespace).copied().unwrap_or(0),
            ));
        }
        for id in index.list_jobs(None, None, None, 1000).0 {
            let label = index
                .job_outputs(&id)
                .iter()
                .find_map(|output| datasets.get(&DatasetId::new(&*output.namespace, &*output.name)).copied())
                .unwrap_or(0);
            all.push((
                format!("{}:{}", id.namespace, id.name),
                label,
                namespaces.get(&id.namespace).copied().unwrap_or(0),
            ));
        }
        all.sort();
        all
    };
    assert!(labels(&index).iter().all(|(_, label, namespace)| (*label, *namespace) == (0, 0)));
    let datasets: HashMap<DatasetId, u32> = (0..60)
        .filter(|n| n % 4 != 0)
        .map(|n| (DatasetId::new(format!("ns{}", n % 3), format!("d{n}")), 1 + n % 5))
        // A dataset no event named yet gets its label when it is added.
        .chain([(DatasetId::new("ns9", "later"), 7)])
        .collect();
    let namespaces: HashMap<String, u32> =
        [("ns1".to_owned(), 3), ("jobs0".to_owned(), 4), ("ns9".to_owned(), 5)].into();
    index.set_labels(datasets.iter().map(|(id, &label)| (id, label)), namespaces.clone());
    assert_eq!(labels(&index), expected(&index, &datasets, &namespaces));
    // New jobs, changed outputs and new datasets and namespaces keep them.
    index.set_job_io(&JobId::new("jobs0", "j3"), &[ds("x")], &[DatasetId::new("ns9", "later"), ds("y")]);
    index.set_job_io(
        &JobId::new("jobs5", "new"),
        &[ds("x")],
        &[DatasetId::new("ns2", "d2"), DatasetId::new("ns1", "d1")],
    );
    assert_eq!(labels(&index), expected(&index, &datasets, &namespaces));
    // Some relabelled: with a node, without one yet (labelled, or labelled and then not),
    // and with a node that had none; the nodes added later take what was said last.
    let mut datasets = datasets;
    let (soon, dropped) = (DatasetId::new("ns9", "soon"), DatasetId::new("ns9", "dropped"));
    let changes = [(DatasetId::new("ns2", "d2"), 2), (soon.clone(), 6), (dropped.clone(), 4), (ds("y"), 3)];
    index.relabel_datasets(changes.clone());
    index.relabel_datasets([(dropped.clone(), 0)]);
    for (id, label) in changes {
        datasets.insert(id, label);
    }
    datasets.remove(&dropped);
    index.set_job_io(&JobId::new("jobs0", "j9"), &[ds("x")], &[dropped, soon]);
    assert_eq!(labels(&index), expected(&index, &datasets, &namespaces));
    // Labels replaced.
    let (datasets, namespaces) = (HashMap::new(), HashMap::from([("db".to_owned(), 1)]));
    index.set_labels(datasets.iter().map(|(id, &label)| (id, label)), namespaces.clone());
    assert_eq!(labels(&index), expected(&index, &datasets, &namespaces));
}

#[test]
fn nodes_added_after_a_listing_are_found_and_listed_in_order() {
    let mut index = pipeline();
    assert_eq!(index.list_datasets(None, None, None, 100).0.len(), 5);
    // Same names in another namespace, and a job named like a dataset: all distinct nodes.
    index.ensure_dataset(&DatasetId::new("aa", "raw"));
    index.ensure_dataset(&ds("b_new"));
    index.ensure_job(&JobId::new("db", "raw"));
    assert_eq!(index.ensure_dataset(&ds("raw")), index.ensure_dataset(&ds("raw")), "found, not added again");
    assert_eq!((index.dataset_count(), index.job_count()), (7, 5));
    let (all, more) = index.list_datasets(None, None, None, 100);
    assert!(!more);
    let names: Vec<String> = all.iter().map(|id| format!("{}:{}", id.namespace, id.name)).collect();
    assert_eq!(names, ["aa:raw", "db:audit", "db:b_new", "db:clean", "db:mart", "db:raw", "db:report"]);
    let (jobs, _) = index.list_jobs(None, Some("RAW"), None, 10);
    assert_eq!(jobs, vec![JobId::new("db", "raw")]);
    let mut io: Vec<String> =
        index.jobs_with_io().map(|(job, _, _)| format!("{}:{}", job.namespace, job.name)).collect();
    io.sort();
    assert_eq!(io, ["db:raw", "etl:a", "etl:b", "etl:c", "etl:d"]);
}

mod columns {
    use tributary_model::{ALL_COLUMNS, ColumnEdgeSpec, DatasetId, Direction, Transformation, TransformationKind};

    use super::{ds, job};
    use crate::LineageIndex;

    fn edge(
        input: &str,
        input_field: &str,
        output_field: &str,
        kind: TransformationKind,
        masking: bool,
    ) -> ColumnEdgeSpec {
        ColumnEdgeSpec {
            input: ds(input),
            input_field: input_field.into(),
            output_field: output_field.into(),
            transformations: vec![Transformation { kind, subtype: String::new(), masking, description: None }],
            source: Default::default(),
        }
    }

    /// raw.id -> clean.id (direct) -> mart.customer_id (direct, masked); raw.country -> clean.id (indirect filter);
    /// clean -> report via job r without column lineage.
    fn index() -> LineageIndex {
        let mut index = LineageIndex::default();
        index.set_job_io(&job("a"), &[ds("raw")], &[ds("clean")]);
        index.set_job_io(&job("b"), &[ds("clean")], &[ds("mart")]);
        index.set_job_io(&job("r"), &[ds("clean")], &[ds("report")]);
        index.set_column_lineage(
            &ds("clean"),
            &[
                edge("raw", "id", "id", TransformationKind::Direct, false),
                edge("raw", "country", ALL_COLUMNS, TransformationKind::Indirect, false),
            ],
        );
        index.set_column_lineage(&ds("mart"), &[edge("clean", "id", "customer_id", TransformationKind::Direct, true)]);
        index
    }

    fn render(answer: &crate::ColumnAnswer) -> Vec<String> {
        let mut lines: Vec<String> = answer
            .columns
            .iter()
            .map(|hit| {
                let path: Vec<String> = hit.path.iter().map(|(d, f)| format!("{}.{f}", d.name)).collect();
                format!(
                    "{}.{}@{} direct={} masked={} path={}",
                    hit.dataset.name,
                    hit.field,
                    hit.distance,
                    hit.direct,
                    hit.masked,
                    path.join(">")
                )
            })
            .collect();
        for unverified in &answer.unverified {
            lines.push(format!(
                "unverified {} via job {} from {}.{}",
                unverified.dataset.name, unverified.job.name, unverified.via.0.name, unverified.via.1
            ));
        }
        lines
    }

    #[test]
    fn downstream_follows_direct_edges_and_flags_dataset_level_consumers() {
        let index = index();
        let answer = index.column_lineage(&ds("raw"), "id", Direction::Downstream, 10, 100).unwrap();
        assert_eq!(
            render(&answer),
            vec![
                "clean.id@1 direct=true masked=false path=raw.id>clean.id",
                "mart.customer_id@2 direct=true masked=true path=raw.id>clean.id>mart.customer_id",
                "unverified report via job r from clean.id",
            ]
        );
        let indirect = index.column_lineage(&ds("raw"), "country", Direction::Downstream, 10, 100).unwrap();
        assert_eq!(render(&indirect), vec!["clean.*@1 direct=false masked=false path=raw.country>clean.*"]);
    }

    /// dbt-ol sends column lineage with DIRECT-style entries and no transformations, nothing
    /// about join or filter keys: a column it does not mention is not proven unused, so the
    /// consumer stays UNVERIFIED. Lineage that carries INDIRECT information proves it.
    #[test]
    fn lineage_without_indirect_information_cannot_prove_a_column_unused() {
        let mut index = LineageIndex::default();
        index.set_job_io(&job("m"), &[ds("orders")], &[ds("summary")]);
        let bare = ColumnEdgeSpec {
            input: ds("orders"),
            input_field: "amount".into(),
            output_field: "total".into(),
            transformations: Vec::new(),
            source: Default::default(),
        };
        index.set_column_lineage(&ds("summary"), std::slice::from_ref(&bare));
        let key = index.column_lineage(&ds("orders"), "order_id", Direction::Downstream, 10, 100).unwrap();
        assert_eq!(render(&key), vec!["unverified summary via job m from orders.order_id"]);
        // The mentioned column is a known hit, not also unverified.
        let amount = index.column_lineage(&ds("orders"), "amount", Direction::Downstream, 10, 100).unwrap();
        assert_eq!(render(&amount), vec!["summary.total@1 direct=true masked=false path=orders.amount>summary.total"]);

        // With a dataset-wide INDIRECT entry the lineage is complete: order_id is unused.
        index.set_column_lineage(
            &ds("summary"),
            &[bare, edge("orders", "status", ALL_COLUMNS, TransformationKind::Indirect, false)],
        );
        let proven = index.column_lineage(&ds("orders"), "order_id", Direction::Downstream, 10, 100).unwrap();
        assert!(render(&proven).is_empty(), "{:?}", render(&proven));
    }

    /// `a` feeds `left` and `right`, both read by job `j` into `out` with DIRECT-only lineage.
    /// `out.total` is reached from both; which comes first must not depend on the order the
    /// lineage was ingested in: the same `path`, and no `unverified` from either.
    #[test]
    fn column_answers_do_not_depend_on_ingest_order() {
        let build = |reversed: bool| {
            let mut index = LineageIndex::default();
            let mut feeders = vec!["left", "right"];
            if reversed {
                feeders.reverse();
            }
            for feeder in &feeders {
                index.set_job_io(&job(&format!("to_{feeder}")), &[ds("a")], &[ds(feeder)]);
                let spec = [edge("a", "x", "x", TransformationKind::Direct, false)];
                index.set_column_lineage(&ds(feeder), &spec);
            }
            let inputs: Vec<DatasetId> = feeders.iter().map(|feeder| ds(feeder)).collect();
            index.set_job_io(&job("j"), &inputs, &[ds("out")]);
            let spec: Vec<ColumnEdgeSpec> =
                feeders.iter().map(|feeder| edge(feeder, "x", "total", TransformationKind::Direct, false)).collect();
            index.set_column_lineage(&ds("out"), &spec);
            index
        };
        for direction in [Direction::Downstream, Direction::Upstream] {
            let (start, field) = if direction == Direction::Downstream { ("a", "x") } else { ("out", "total") };
            let answers: Vec<Vec<String>> = [false, true]
                .into_iter()
                .map(|reversed| {
                    let answer = build(reversed).column_lineage(&ds(start), field, direction, 10, 100).unwrap();
                    let mut lines = render(&answer);
                    lines.sort();
                    lines
                })
                .collect();
            assert_eq!(answers[0], answers[1], "{direction:?}");
            assert!(!answers[0].iter().any(|line| line.starts_with("unverified")), "{direction:?}: {:?}", answers[0]);
        }
    }

    #[test]
    fn upstream_and_replacement() {
        let mut index = index();
        let up = index.column_lineage(&ds("mart"), "customer_id", Direction::Upstream, 10, 100).unwrap();
        assert_eq!(
            render(&up),
            vec![
                "clean.id@1 direct=true masked=true path=mart.customer_id>clean.id",
                "raw.id@2 direct=true masked=false path=mart.customer_id>clean.id>raw.id",
            ]
        );
        // New column lineage for `clean` replaces the old one.
        index.set_column_lineage(&ds("clean"), &[edge("raw", "name", "id", TransformationKind::Direct, false)]);
        let answer = index.column_lineage(&ds("raw"), "id", Direction::Downstream, 10, 100).unwrap();
        assert!(answer.columns.is_empty());
        assert_eq!(index.column_edge_count(), 2);
        let unknown = index.column_lineage(&DatasetId::new("db", "nope"), "x", Direction::Downstream, 1, 1);
        assert!(unknown.is_err());
    }

    #[test]
    fn a_background_load_never_overwrites_lineage_set_meanwhile() {
        let mut index = LineageIndex::default();
        index.set_job_io(&job("a"), &[ds("raw")], &[ds("clean")]);
        index.begin_column_load();
        assert!(!index.columns_ready());
        // The writer sets new column lineage while the loader is still reading the store...
        index.set_column_lineage(&ds("clean"), &[edge("raw", "id", "new_id", TransformationKind::Direct, false)]);
        // ...so the loader's older stored copy for that output is skipped, others are applied.
        assert!(
            !index.load_column_lineage(&ds("clean"), &[edge("raw", "id", "old_id", TransformationKind::Direct, false)])
        );
        assert!(
            index.load_column_lineage(&ds("mart"), &[edge("clean", "new_id", "id", TransformationKind::Direct, false)])
        );
        index.finish_column_load();
        assert!(index.columns_ready());
        let answer = index.column_lineage(&ds("raw"), "id", Direction::Downstream, 10, 100).unwrap();
        let reached: Vec<String> =
            answer.columns.iter().map(|hit| format!("{}.{}", hit.dataset.name, hit.field)).collect();
        assert_eq!(reached, vec!["clean.new_id".to_owned(), "mart.id".to_owned()]);
        // Once loaded, a load call is an ordinary replacement again.
        assert!(index.load_column_lineage(&ds("clean"), &[]));
    }
}

mod snapshot {
    use tributary_model::{
        ColumnEdgeSpec, DatasetId, Direction, EdgeSource, JobId, NodeKind, NodeRef, Transformation, TransformationKind,
    };

    use super::random_graph;
    use crate::LineageIndex;
    use crate::LineageQuestion;

    /// `random_graph` with column lineage into every output, some of it replaced later (so
    /// fields lose edges and transformation lists repeat).
    fn graph_with_columns(seed: u64) -> LineageIndex {
        let mut index = random_graph(seed, 40);
        let jobs: Vec<(JobId, Vec<DatasetId>, Vec<DatasetId>)> = index.jobs_with_io().collect();
        for round in 0..2u64 {
            for (j, (_, inputs, outputs)) in jobs.iter().enumerate() {
                let j = j as u64 + round;
                for output in outputs {
                    let spec: Vec<ColumnEdgeSpec> = inputs
                        .iter()
                        .enumerate()
                        .map(|(i, input)| ColumnEdgeSpec {
                            input: input.clone(),
                            input_field: format!("c{}", (j + i as u64) % 4),
                            output_field: if (j + i as u64).is_multiple_of(7) {
                                "*".into()
                            } else {
                                format!("c{}", j % 3)
                            },
                            transformations: vec![Transformation {
                                kind: if j.is_multiple_of(3) {
                                    TransformationKind::Indirect
                                } else {
                                    TransformationKind::Direct
                                },
                                subtype: if j.is_multiple_of(2) { "IDENTITY".into() } else { String::new() },
                                masking: j.is_multiple_of(5),
                                description: j.is_multiple_of(4).then(|| format!("step {}", j % 8)),
                            }],
                            source: if j.is_multiple_of(6) { EdgeSource::DerivedFromSql } else { EdgeSource::Reported },
                        })
                        .collect();
                    index.set_column_lineage(output, &spec);
                }
            }
        }
        index
    }

    /// The two sections, each behind its length (as the service frames them).
    fn snapshot_bytes(index: &LineageIndex) -> Vec<u8> {
        let (mut graph, mut columns) = (Vec::new(), Vec::new());
        index.write_snapshot_graph(&mut graph).unwrap();
        index.write_snapshot_columns(&mut columns).unwrap();
        framed(&graph, &columns)
    }

    /// The two sections as `snapshot_bytes` frames them.
    fn framed(graph: &[u8], columns: &[u8]) -> Vec<u8> {
        let mut bytes = (graph.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(graph);
        bytes.extend_from_slice(columns);
        bytes
    }

    fn read(bytes: &[u8]) -> Result<LineageIndex, crate::SnapshotError> {
        let (length, rest) = bytes.split_at_checked(8).ok_or(crate::snapshot::damaged("no length"))?;
        let graph_len = (u64::from_le_bytes(length.try_into().unwrap()) as usize).min(rest.len());
        let (graph, columns) = rest.split_at(graph_len);
        let mut index = LineageIndex::read_snapshot_graph(&mut &graph[..], graph.len())?;
        assert!(!index.columns_ready(), "columns load after the graph");
        let loaded = LineageIndex::read_snapshot_columns(&mut &columns[..], columns.len(), &index.snapshot_nodes())?;
        index.install_columns(loaded, &[]);
        index.finish_column_load();
        Ok(index)
    }

    /// Every answer of the index, each in a canonical order.
    fn every_answer(index: &LineageIndex) -> Vec<String> {
        let mut out = vec![format!(
            "datasets={} jobs={} edges={} column_edges={}",
            index.dataset_count(),
            index.job_count(),
            index.edge_count(),
            index.column_edge_count()
        )];
        let (datasets, _) = index.list_datasets(None, None, None, usize::MAX);
        let (jobs, _) = index.list_jobs(None, None, None, usize::MAX);
        out.push(format!("{datasets:?} {jobs:?}"));
        let starts = datasets
            .iter()
            .map(|d| NodeRef { kind: NodeKind::Dataset, namespace: d.namespace.clone(), name: d.name.clone() })
            .chain(jobs.iter().map(|j| NodeRef {
                kind: NodeKind::Job,
                namespace: j.namespace.clone(),
                name: j.name.clone(),
            }));
        for start in starts {
            for direction in [Direction::Downstream, Direction::Upstream] {
                let answer = index.lineage(LineageQuestion::new(&start, direction, 100, usize::MAX)).unwrap();
                let mut nodes: Vec<String> = answer.nodes.iter().map(|n| format!("{:?}", n)).collect();
                let mut edges: Vec<String> = answer.edges.iter().map(|e| format!("{:?}", e)).collect();
                nodes.sort();
                edges.sort();
                out.push(format!("{start:?} {direction:?} {nodes:?} {edges:?} {}", answer.truncated));
            }
        }
        for dataset in &datasets {
            for field in ["c0", "c1", "c2", "c3", "*", "absent"] {
                for direction in [Direction::Downstream, Direction::Upstream] {
                    let Ok(answer) = index.column_lineage(dataset, field, direction, 100, usize::MAX) else {
                        out.push(format!("{dataset:?}.{field} {direction:?} unknown"));
                        continue;
                    };
                    let mut parts: Vec<String> = answer.columns.iter().map(|c| format!("{c:?}")).collect();
                    parts.extend(answer.edges.iter().map(|e| format!("{e:?}")));
                    parts.extend(answer.unverified.iter().map(|u| format!("{u:?}")));
                    parts.sort();
                    out.push(format!("{dataset:?}.{field} {direction:?} {parts:?} {}", answer.truncated));
                }
            }
        }
        out
    }

    #[test]
    fn an_index_read_back_answers_like_the_one_written() {
        for seed in 1..5 {
            let index = graph_with_columns(seed);
            let bytes = snapshot_bytes(&index);
            let read = read(&bytes).unwrap();
            assert!(read.columns_ready());
            assert_eq!(every_answer(&read), every_answer(&index), "seed {seed}");
            // Written again, the copy gives the same bytes: nothing is lost or added.
            assert_eq!(snapshot_bytes(&read), bytes, "seed {seed}");
            // And it goes on taking changes like the original.
            let (mut read, mut index) = (read, index);
            for target in [&mut read, &mut index] {
                target.set_job_io(
                    &JobId::new("later", "j"),
                    &[DatasetId::new("ns0", "d1")],
                    &[DatasetId::new("new", "x")],
                );
            }
            assert_eq!(every_answer(&read), every_answer(&index), "seed {seed} after a change");
        }
    }

    /// An image taken from the index writes what the index held when it was taken, however the
    /// index changes afterwards (edges and nodes added and removed, column rows changed,
    /// refrozen): the service writes it without the lock. Two indexes built alike stand for
    /// the index then and now.
    #[test]
    fn an_image_writes_the_index_as_it_was_when_taken() {
        for seed in 1..5 {
            let (mut now, mut then) = (graph_with_columns(seed), graph_with_columns(seed));
            // Some rows changed since the last freeze, so the image holds changed rows too.
            let jobs: Vec<(JobId, Vec<DatasetId>, Vec<DatasetId>)> = now.jobs_with_io().collect();
            let (input, output) = (jobs[0].1[0].clone(), jobs[1].2[0].clone());
            let edge = |field: &str| ColumnEdgeSpec {
                input: input.clone(),
                input_field: "c0".into(),
                output_field: field.into(),
                transformations: Vec::new(),
                source: EdgeSource::Reported,
            };
            for index in [&mut now, &mut then] {
                index.set_column_lineage(&output, &[edge("c9")]);
            }
            assert_eq!(snapshot_bytes(&now), snapshot_bytes(&then));
            let image = now.snapshot_image();
            for (n, (job, inputs, outputs)) in jobs.iter().enumerate() {
                // Every job rewired, every output's columns replaced: enough to refreeze.
                now.set_job_io(job, &inputs[..inputs.len() / 2], &[DatasetId::new("later", format!("x{n}"))]);
                for output in outputs {
                    now.set_column_lineage(output, &[edge(&format!("n{n}"))]);
                }
            }
            let (mut graph, mut columns) = (Vec::new(), Vec::new());
            image.write_graph(&mut graph).unwrap();
            image.write_columns(&mut columns).unwrap();
            let bytes = framed(&graph, &columns);
            assert_ne!(snapshot_bytes(&now), bytes, "seed {seed}: the changes changed the index");
            assert_eq!(bytes, snapshot_bytes(&then), "seed {seed}");
        }
    }

    /// Column lineage set by the writer between reading the graph and installing the columns
    /// (an output of the snapshot, and one that is new) wins over the snapshot's, as it wins
    /// over the store's records in a load from the store; lineage stored after the snapshot
    /// (read by the catch-up after a crash) wins over the snapshot's but not over the writer's.
    #[test]
    fn columns_set_while_the_snapshot_loads_are_kept() {
        let written = graph_with_columns(3);
        let bytes = snapshot_bytes(&written);
        let (length, rest) = bytes.split_at(8);
        let (graph, columns) = rest.split_at(u64::from_le_bytes(length.try_into().unwrap()) as usize);
        let mut loading = LineageIndex::read_snapshot_graph(&mut &graph[..], graph.len()).unwrap();
        let nodes = loading.snapshot_nodes();
        let (_, _, outputs) = written.jobs_with_io().next().unwrap();
        let changed = outputs[0].clone();
        let spec = |input: &str| {
            vec![ColumnEdgeSpec {
                input: DatasetId::new("ns0", input),
                input_field: "c0".into(),
                output_field: "moved".into(),
                transformations: Vec::new(),
                source: EdgeSource::Reported,
            }]
        };
        // Stored after the snapshot: a new lineage for another output of it (kept), none for
        // a third (its lineage removed), and one for the output the writer changes (lost to it).
        let others: std::collections::BTreeSet<DatasetId> = written
            .jobs_with_io()
            .flat_map(|(_, _, outputs)| outputs)
            .filter(|output| output != &changed && !written.column_specs_into(output).is_empty())
            .collect();
        let mut others = others.into_iter();
        let (renewed, emptied) = (others.next().unwrap(), others.next().unwrap());
        let newer = vec![(renewed.clone(), spec("d0")), (emptied.clone(), Vec::new()), (changed.clone(), spec("d2"))];
        let mut expected = graph_with_columns(3);
        expected.set_column_lineage(&renewed, &spec("d0"));
        expected.set_column_lineage(&emptied, &[]);
        for index in [&mut loading, &mut expected] {
            index.set_column_lineage(&changed, &spec("d1"));
            index.set_column_lineage(&DatasetId::new("new", "out"), &spec("d2"));
        }
        let loaded = LineageIndex::read_snapshot_columns(&mut &columns[..], columns.len(), &nodes).unwrap();
        loading.install_columns(loaded, &newer);
        loading.finish_column_load();
        assert!(loading.columns_ready());
        assert_eq!(every_answer(&loading), every_answer(&expected));
        let moved = loading.column_lineage(&changed, "moved", Direction::Upstream, 5, 100).unwrap();
        assert_eq!(moved.columns.len(), 1, "{moved:?}");
        assert_eq!(loading.column_specs_into(&renewed), spec("d0"));
        assert!(loading.column_specs_into(&emptied).is_empty());
        assert_eq!(loading.column_specs_into(&changed), spec("d1"));
    }

    /// Column lineage walked a few columns a step (as a caller letting go of the index between
    /// steps does it) answers exactly as in one go: every dataset, column, direction and bound.
    #[test]
    fn column_lineage_in_steps_answers_as_in_one_go() {
        for seed in [4, 8] {
            let index = graph_with_columns(seed);
            let (datasets, _) = index.list_datasets(None, None, None, usize::MAX);
            for dataset in &datasets {
                for field in ["c0", "c1", "c3", "*", "absent"] {
                    for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
                        for (depth, limit) in [(100, usize::MAX), (2, usize::MAX), (100, 3)] {
                            let whole = index.column_lineage(dataset, field, direction, depth, limit);
                            for budget in [1, 2, 7] {
                                let stepped = index.begin_column_lineage(dataset, field, direction, depth, limit).map(
                                    |mut walk| {
                                        while !index.step_column_lineage(&mut walk, budget) {}
                                        index.name_column_lineage(walk)
                                    },
                                );
                                assert_eq!(
                                    format!("{stepped:?}"),
                                    format!("{whole:?}"),
                                    "{dataset:?}.{field} {direction:?} {depth} {limit} budget {budget}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn damaged_bytes_are_an_error_never_a_panic() {
        let bytes = snapshot_bytes(&graph_with_columns(7));
        for end in 0..bytes.len() {
            assert!(read(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read(&longer).is_err());
        // Flipped bytes: any outcome but a panic (the service's checksum catches these).
        for at in (0..bytes.len()).step_by(3) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            let _ = read(&flipped);
        }
    }
}

/// The generation names what walks and label counts read: it moves with an edge or a label,
/// not with a job's inputs and outputs set again unchanged or a node nothing reaches, and two
/// indexes never share one.
#[test]
fn the_generation_moves_with_edges_and_labels_only() {
    let mut index = LineageIndex::default();
    assert_ne!(index.generation(), LineageIndex::default().generation());
    let (a, b, c) = (DatasetId::new("db", "a"), DatasetId::new("db", "b"), DatasetId::new("db", "c"));
    let job = JobId::new("jobs", "j");
    index.set_job_io(&job, std::slice::from_ref(&a), std::slice::from_ref(&b));
    let first = index.generation();
    index.set_job_io(&job, std::slice::from_ref(&a), std::slice::from_ref(&b));
    index.ensure_dataset(&c);
    assert_eq!(index.generation(), first);
    index.set_job_io(&job, std::slice::from_ref(&a), &[b.clone(), c.clone()]);
    let second = index.generation();
    assert_ne!(second, first);
    index.set_labels([(&c, 1)], HashMap::new());
    let third = index.generation();
    assert_ne!(third, second);
    // The job's label follows its outputs: dropping the labelled one moves it.
    index.set_job_io(&job, std::slice::from_ref(&a), std::slice::from_ref(&b));
    assert_ne!(index.generation(), third);
}

/// The change check's `column_impact` against the full `column_lineage` answer as the
/// oracle, on pseudo-random column graphs with INDIRECT edges, cycles, hubs and jobs
/// without column lineage: same counts, same reached datasets and jobs, and its nearest
/// `keep` columns and unverified datasets are the first `keep` of the full answer sorted.
#[test]
fn column_impact_is_the_column_answer_counted_and_cut() {
    use tributary_model::{ColumnEdgeSpec, Transformation, TransformationKind};
    // (cases whose columns were cut to `keep`, cases whose unverified datasets were, truncated
    // traversals, covered inputs)
    let mut seen = (0, 0, 0, 0);
    for seed in 1..=12u64 {
        let mut index = LineageIndex::default();
        let mut state = seed;
        let mut next = |below: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % below
        };
        let dataset = |n: u64| DatasetId::new(format!("ns{}", n % 3), format!("d{n}"));
        for j in 0..60 {
            let inputs: Vec<DatasetId> = (0..1 + next(3))
                .map(|_| {
                    let hub = next(4) == 0;
                    dataset(next(if hub { 3 } else { 40 }))
                })
                .collect();
            let outputs: Vec<DatasetId> = (0..1 + next(2)).map(|_| dataset(next(40))).collect();
            index.set_job_io(&JobId::new(format!("jobs{}", j % 2), format!("j{j}")), &inputs, &outputs);
            if next(4) == 0 {
                continue; // no column lineage: its outputs are unverified
            }
            for output in &outputs {
                let edges: Vec<ColumnEdgeSpec> = (0..1 + next(6))
                    .map(|_| ColumnEdgeSpec {
                        input: inputs[next(inputs.len() as u64) as usize].clone(),
                        // Now and then `*`: a dataset-wide input or output.
                        input_field: if next(10) == 0 { "*".to_owned() } else { format!("c{}", next(4)) },
                        output_field: if next(10) == 0 { "*".to_owned() } else { format!("c{}", next(4)) },
                        transformations: vec![Transformation {
                            kind: if next(3) == 0 { TransformationKind::Indirect } else { TransformationKind::Direct },
                            subtype: String::new(),
                            masking: false,
                            description: None,
                        }],
                        source: Default::default(),
                    })
                    .collect();
                index.set_column_lineage(output, &edges);
            }
        }
        // The inputs an output's column lineage covers, learned in one pass per output, are
        // those the pairwise check covers.
        let nodes: Vec<_> = (0..40).filter_map(|n| index.dataset_index(&dataset(n))).collect();
        for &output in &nodes {
            let covered = index.completely_covered_inputs(output);
            for &input in &nodes {
                assert_eq!(
                    covered.binary_search(&input).is_ok(),
                    index.column_lineage_is_complete_between(input, output),
                    "seed {seed}: {input:?} into {output:?}"
                );
            }
            seen.3 += covered.len();
        }
        let job_between = |input: &DatasetId, output: &DatasetId| {
            let producers = index.producers(output);
            index
                .consumers(input)
                .into_iter()
                .find(|job| producers.contains(job))
                .map(|job| JobId::new(job.namespace, job.name))
        };
        for start in 0..6 {
            let start = dataset(start);
            for (limit, keep, indirect) in
                [(10_000, 1_000, true), (10_000, 3, true), (10_000, 0, false), (7, 2, true), (10_000, 5, false)]
            {
                let Ok(full) = index.column_lineage(&start, "c0", Direction::Downstream, u32::MAX, limit) else {
                    continue;
                };
                let impact = index.column_impact(&start, "c0", limit, keep, indirect).unwrap();
                let context = format!("seed {seed}, {start}, limit {limit}, keep {keep}, indirect {indirect}");
                // Walked a few columns per step (as the change check does, letting go of the
                // index between steps), the answer is the same.
                for budget in [1, 3] {
                    let mut walk = index.begin_column_impact(&start, "c0", limit, keep, indirect).unwrap();
                    let mut steps = 1;
                    while !index.step_column_impact(&mut walk, budget) {
                        steps += 1;
                    }
                    let direct_hit = impact.columns.iter().any(|column| column.direct);
                    assert!(budget > 1 || !direct_hit || steps > 1, "{context}: walked in steps");
                    // Settled without the index, then its jobs found a few steps per call.
                    let mut settled = walk.settle();
                    while !index.connect_column_impact(&mut settled, budget) {}
                    assert_eq!(index.name_column_impact(settled), impact, "{context}: in steps of {budget}");
                }
                let counted: Vec<&crate::ColumnHit> =
                    full.columns.iter().filter(|hit| indirect || hit.direct).collect();
                assert_eq!(impact.column_count, counted.len(), "{context}");
                assert_eq!(impact.unverified_count, full.unverified.len(), "{context}");
                assert_eq!(impact.truncated, full.truncated, "{context}");
                let mut datasets: Vec<DatasetId> = counted.iter().map(|hit| hit.dataset.clone()).collect();
                datasets.extend(full.unverified.iter().map(|unverified| unverified.dataset.clone()));
                datasets.sort();
                datasets.dedup();
                let named: Vec<tributary_model::NodeRef> =
                    impact.nodes.iter().map(|&node| index.node_ref(node)).collect();
                let named_of = |kind: tributary_model::NodeKind| {
                    let mut of_kind: Vec<(String, String)> = named
                        .iter()
                        .filter(|node| node.kind == kind)
                        .map(|node| (node.namespace.clone(), node.name.clone()))
                        .collect();
                    of_kind.sort();
                    of_kind
                };
                assert_eq!(
                    named_of(tributary_model::NodeKind::Dataset),
                    datasets.iter().map(|d| (d.namespace.clone(), d.name.clone())).collect::<Vec<_>>(),
                    "{context}"
                );
                let mut jobs: Vec<JobId> = counted
                    .iter()
                    .filter_map(|hit| job_between(&hit.path[hit.path.len() - 2].0, &hit.dataset))
                    .collect();
                jobs.extend(full.unverified.iter().map(|unverified| unverified.job.clone()));
                jobs.sort();
                jobs.dedup();
                assert_eq!(
                    named_of(tributary_model::NodeKind::Job),
                    jobs.iter().map(|j| (j.namespace.clone(), j.name.clone())).collect::<Vec<_>>(),
                    "{context}"
                );
                let mut nearest = counted.clone();
                nearest.sort_by(|a, b| (a.distance, &a.dataset, &a.field).cmp(&(b.distance, &b.dataset, &b.field)));
                nearest.truncate(keep);
                let expected: Vec<crate::ImpactedColumn> = nearest
                    .into_iter()
                    .map(|hit| crate::ImpactedColumn {
                        dataset: hit.dataset.clone(),
                        field: hit.field.clone(),
                        distance: hit.distance,
                        direct: hit.direct,
                        source: hit.source,
                        job: job_between(&hit.path[hit.path.len() - 2].0, &hit.dataset),
                        path: hit.path.clone(),
                    })
                    .collect();
                assert_eq!(impact.columns, expected, "{context}");
                let mut unverified = full.unverified.clone();
                unverified.sort_by(|a, b| (a.path.len(), &a.dataset).cmp(&(b.path.len(), &b.dataset)));
                unverified.truncate(keep);
                assert_eq!(impact.unverified, unverified, "{context}");
                seen.0 += usize::from(impact.column_count > keep && keep > 0);
                seen.1 += usize::from(impact.unverified_count > keep && keep > 0);
                seen.2 += usize::from(impact.truncated);
            }
        }
    }
    assert!(seen.0 > 10 && seen.1 > 10 && seen.2 > 5 && seen.3 > 20, "the graphs exercise too little: {seen:?}");
}

/// Product lineage's walk as it was written before it went in steps: upstream from `start`,
/// finding (and not passing) the datasets `stop` picks, ending with what it found once it has
/// seen more than `max_nodes` nodes.
fn upstream_until_reference(
    index: &LineageIndex,
    start: &DatasetId,
    stop: impl Fn(&DatasetId) -> bool,
    max_nodes: usize,
) -> Vec<DatasetId> {
    let Some(start) = index.node_number(&NodeRef::from(start)) else { return Vec::new() };
    let mut visited = HashSet::from([start]);
    let mut queue = std::collections::VecDeque::from([start]);
    let mut found = Vec::new();
    while let Some(current) = queue.pop_front() {
        // In the graph's own order of edges, as the walk follows them (the public
        // neighbour lists are sorted).
        let current = petgraph::stable_graph::NodeIndex::new(usize::from(current));
        for next in index.graph.neighbors_directed(current, petgraph::Direction::Incoming) {
            let number = crate::NodeNumber::from(next);
            if !visited.insert(number) {
                continue;
            }
            if visited.len() > max_nodes {
                return found;
            }
            if index.node_kind(number) == NodeKind::Dataset {
                let id = dataset_of(index, number);
                if stop(&id) {
                    found.push(id);
                    continue;
                }
            }
            queue.push_back(number);
        }
    }
    found
}

#[test]
fn upstream_walks_in_steps_find_what_one_walk_finds() {
    for seed in [4, 8, 13] {
        let index = random_graph(seed, 70);
        let datasets = index.list_datasets(None, None, None, 1000).0;
        // One walk state for every walk, as a product lineage derivation uses it; starting
        // near the stamps' end checks that they wrap.
        let mut walk = crate::UpstreamUntil::default();
        walk.stamp = u32::MAX - 3;
        let (mut found_some, mut cut_some) = (false, false);
        for start in &datasets {
            for (modulus, max_nodes) in [(2, 1_000_000), (3, 1_000_000), (3, 4), (2, 9), (1000, 1_000_000), (4, 1)] {
                let stop = |id: &DatasetId| id.name.len() % modulus == start.name.len() % 2;
                let expected = upstream_until_reference(&index, start, stop, max_nodes);
                found_some |= !expected.is_empty();
                cut_some |= expected != upstream_until_reference(&index, start, stop, 1_000_000);
                let number = index.node_number(&NodeRef::from(start)).unwrap();
                for budget in [1, 3, usize::MAX] {
                    index.begin_upstream_until(&mut walk, number, max_nodes);
                    let mut steps = 0;
                    while !index.step_upstream_until(&mut walk, |node| stop(&dataset_of(&index, node)), budget) {
                        steps += 1;
                        assert!(steps < 100_000, "a walk in steps ends");
                    }
                    let found: Vec<DatasetId> = walk.found().iter().map(|&node| dataset_of(&index, node)).collect();
                    assert_eq!(found, expected, "from {start:?}, stop mod {modulus}, max {max_nodes}, budget {budget}");
                }
            }
        }
        assert!(found_some && cut_some, "seed {seed}: some walks find datasets, and some are cut by the node limit");
    }
}

fn dataset_of(index: &LineageIndex, node: crate::NodeNumber) -> DatasetId {
    let node = index.node_ref(node);
    DatasetId::new(&*node.namespace, &*node.name)
}

#[test]
fn a_name_scan_in_slices_finds_what_one_listing_finds() {
    let index = random_graph(6, 80);
    for kind in [NodeKind::Dataset, NodeKind::Job] {
        for namespace in [None, Some("ns1"), Some("jobs0"), Some("none")] {
            for search in ["", "d1", "j", "s0", "5", "nothing"] {
                let list = |after: Option<&NodeRef>, limit| -> (Vec<NodeRef>, bool) {
                    match kind {
                        NodeKind::Dataset => {
                            let after = after.map(|node| DatasetId::new(&*node.namespace, &*node.name));
                            let (ids, more) = index.list_datasets(namespace, Some(search), after.as_ref(), limit);
                            (ids.iter().map(NodeRef::from).collect(), more)
                        }
                        NodeKind::Job => {
                            let after = after.map(|node| JobId::new(&*node.namespace, &*node.name));
                            let (ids, more) = index.list_jobs(namespace, Some(search), after.as_ref(), limit);
                            (ids.iter().map(NodeRef::from).collect(), more)
                        }
                    }
                };
                // The reference: every node of the kind, filtered here.
                let (every, _) = match kind {
                    NodeKind::Dataset => {
                        let (ids, more) = index.list_datasets(None, None, None, 10_000);
                        (ids.iter().map(NodeRef::from).collect::<Vec<_>>(), more)
                    }
                    NodeKind::Job => {
                        let (ids, more) = index.list_jobs(None, None, None, 10_000);
                        (ids.iter().map(NodeRef::from).collect::<Vec<_>>(), more)
                    }
                };
                let whole: Vec<NodeRef> = every
                    .into_iter()
                    .filter(|node| namespace.is_none_or(|wanted| wanted == node.namespace))
                    .filter(|node| node.name.to_lowercase().contains(search))
                    .collect();
                assert_eq!(list(None, 10_000).0, whole, "{kind:?} {namespace:?} {search:?}");
                // Paged listings, two at a time, give the same.
                let (mut paged, mut after) = (Vec::new(), None::<NodeRef>);
                loop {
                    let (page, more) = list(after.as_ref(), 2);
                    paged.extend(page);
                    after = paged.last().cloned();
                    if !more {
                        break;
                    }
                }
                assert_eq!(paged, whole, "{kind:?} {namespace:?} {search:?} in pages of 2");
                let filter = crate::NameFilter { kind, namespace, search };
                for (scan, matches) in [(1, usize::MAX), (2, 1), (7, 3), (10_000, usize::MAX)] {
                    let (mut found, mut after, mut slices) = (Vec::new(), None, 0);
                    loop {
                        let (slice, resume) = index.scan_names(&filter, after.as_ref(), scan, matches);
                        found.extend(slice);
                        slices += 1;
                        assert!(slices < 10_000, "a scan ends");
                        match resume {
                            Some(resume) => after = Some(resume),
                            None => break,
                        }
                    }
                    assert_eq!(found, whole, "{kind:?} {namespace:?} {search:?} in slices of {scan}, {matches}");
                    if scan == 1 && namespace.is_none() {
                        assert!(slices > 10, "{kind:?}: many slices");
                    }
                }
            }
        }
    }
}

/// Nodes by number come back without repeats in `NodeRef` order, for sets small enough to
/// sort and large enough to read off the ordered names, with nodes added after the last
/// ordering (pending in the name table) among them.
#[test]
fn nodes_in_name_order_are_their_refs_sorted_and_deduplicated() {
    for seed in 1..6u64 {
        let mut index = random_graph(seed, 40);
        // Orders the names once, then adds nodes that wait to be ordered.
        let _ = index.list_datasets(None, None, None, 10);
        let _ = index.list_jobs(None, None, None, 10);
        index.set_job_io(&JobId::new("aaa", format!("late{seed}")), &[ds("d1")], &[DatasetId::new("a", "late")]);
        let total = index.is_job.len();
        let mut state = seed;
        let mut next = |below: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % below
        };
        for size in [0, 1, 2, 5, total / 8, total / 8 + 1, total / 2, total, 3 * total] {
            let nodes: Vec<crate::NodeNumber> = (0..size)
                .map(|_| crate::NodeNumber::from(petgraph::stable_graph::NodeIndex::new(next(total as u64) as usize)))
                .collect();
            let mut expected: Vec<NodeRef> = nodes.iter().map(|&node| index.node_ref(node)).collect();
            expected.sort();
            expected.dedup();
            let ordered: Vec<NodeRef> =
                index.in_name_order(&nodes).into_iter().map(|node| index.node_ref(node)).collect();
            assert_eq!(ordered, expected, "seed {seed}, {size} of {total} nodes");
        }
    }
}
