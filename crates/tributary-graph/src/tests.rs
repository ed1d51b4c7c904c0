use tributary_model::{DatasetId, Direction, JobId, NodeKind, NodeRef};

use crate::LineageIndex;

fn ds(name: &str) -> DatasetId {
    DatasetId::new("db", name)
}

fn job(name: &str) -> JobId {
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
    let answer = index.lineage(&dataset_ref(start), direction, depth, limit).unwrap();
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
fn limit_cuts_and_says_so() {
    let index = pipeline();
    let answer = index.lineage(&dataset_ref("raw"), Direction::Downstream, 10, 3).unwrap();
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
    let error = index.lineage(&dataset_ref("nope"), Direction::Downstream, 3, 10).unwrap_err();
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
