//! The impact summary (walk by node number, groups from the index's labels) against the
//! name-based walk and grouping it replaced, kept here as the oracle: same totals, groups,
//! pages and cursors for every start, direction and bound, for a caller who sees everything
//! and for one from whom a restricted product is hidden, while products and domains are
//! applied between ingests.

use std::collections::BTreeMap;

use serde_json::json;
use tributary_model::{DatasetId, Direction, NodeKind, NodeRef};

use super::{ImpactCount, domain_owners, group_key};
use crate::mesh::OwnerView;
use crate::{AnswerShape, LineageNode, LineageRequest, Service, ServiceConfig};

/// (product, domain, namespace), as [`group_key`] gives it.
type GroupKey = (Option<String>, Option<String>, Option<String>);

/// The name-based summary: the lineage walk, each node grouped by [`group_key`].
fn oracle(
    service: &Service,
    start: &NodeRef,
    direction: Direction,
    depth: u32,
    limit: usize,
    first: usize,
    offset: usize,
) -> (usize, usize, bool, Vec<ImpactCount>, Vec<LineageNode>, Option<String>) {
    let principal = service.require_read().expect("read");
    let walk = service.walk(&principal, &nodes_request(start, direction, depth, limit)).expect("walk");
    let reached: Vec<&LineageNode> = walk.nodes.iter().filter(|node| node.distance > 0).collect();
    let state = service.shared.read_state();
    // The page is named as this caller may see it.
    let visibility = crate::visibility::Visibility::new(&principal, &state, &service.shared.redaction_key);
    let mut counts: BTreeMap<GroupKey, (usize, usize)> = BTreeMap::new();
    for node in &reached {
        let slot = counts.entry(group_key(&state, &node.node)).or_default();
        match node.node.kind {
            NodeKind::Dataset => slot.0 += 1,
            NodeKind::Job => slot.1 += 1,
        }
    }
    let mut groups: Vec<ImpactCount> = counts
        .into_iter()
        .map(|((product, domain, namespace), (datasets, jobs))| {
            let mut owners = Vec::new();
            if let Some((descriptor, _)) = product.as_ref().and_then(|id| state.mesh.products.get(id)) {
                owners.extend(OwnerView::declared(&descriptor.owners, &format!("product {}", descriptor.id)));
            }
            if let Some(domain) = &domain {
                owners.extend(domain_owners(&state.mesh, domain));
            }
            ImpactCount { product, domain, namespace, datasets, jobs, owners }
        })
        .collect();
    groups.sort_by_key(|group| std::cmp::Reverse(group.datasets + group.jobs));
    let (datasets, jobs) = groups.iter().fold((0, 0), |(d, j), group| (d + group.datasets, j + group.jobs));
    let page = reached
        .iter()
        .skip(offset)
        .take(first)
        .map(|node| LineageNode { node: visibility.node(&node.node), distance: node.distance })
        .collect();
    let next_cursor = (offset + first < reached.len()).then(|| format!("o{}", offset + first));
    (datasets, jobs, walk.truncated, groups, page, next_cursor)
}

fn event(n: u64, job: (&str, String), inputs: &[DatasetId], outputs: &[DatasetId]) -> Vec<u8> {
    let datasets = |ids: &[DatasetId]| {
        ids.iter().map(|id| json!({"namespace": id.namespace, "name": id.name})).collect::<Vec<_>>()
    };
    serde_json::to_vec(&json!({
        "eventType": "COMPLETE",
        "eventTime": "2024-05-01T10:00:00Z",
        "producer": "https://example.com/tributary-unit-tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": format!("00000000-0000-4000-8000-{n:012}")},
        "job": {"namespace": job.0, "name": job.1},
        "inputs": datasets(inputs),
        "outputs": datasets(outputs),
    }))
    .expect("json")
}

const NAMESPACES: [&str; 5] = ["sales-db", "finance-db", "hr-db", "warehouse", "scratch"];
const JOB_NAMESPACES: [&str; 3] = ["etl-sales", "etl-finance", "adhoc"];

fn dataset(n: u64) -> DatasetId {
    DatasetId::new(NAMESPACES[(n % 5) as usize], format!("t{n}"))
}

fn product(id: &str, domain: &str, classification: &str, ports: &[u64], internal: &[u64]) -> String {
    let port = |n: &u64| {
        let id = dataset(*n);
        format!("  - name: p{n}\n    dataset: {{namespace: {}, name: {}}}\n", id.namespace, id.name)
    };
    let internal_dataset = |n: &u64| {
        let id = dataset(*n);
        format!("  - {{namespace: {}, name: {}}}\n", id.namespace, id.name)
    };
    format!(
        "kind: DataProduct\nid: {id}\nname: {id}\ndomain: {domain}\nowners: [{{name: team-{id}}}]\nclassification: {classification}\n\
         outputPorts:\n{}internalDatasets:\n{}",
        ports.iter().map(port).collect::<String>(),
        internal.iter().map(internal_dataset).collect::<String>(),
    )
}

/// Ingests `jobs` pseudo-random jobs (reading 1-3 and writing 1-3 of 80 datasets, a few of
/// them hubs) from event number `from`.
async fn ingest(service: &Service, from: u64, jobs: u64) {
    ingest_runs(service, from, jobs, 0).await;
}

/// [`ingest`] with run ids moved by `run_offset`: the same jobs with the same inputs and
/// outputs again, as new runs.
async fn ingest_runs(service: &Service, from: u64, jobs: u64, run_offset: u64) {
    let mut state = 0x5eed_u64 ^ from;
    let mut next = |below: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    for n in from..from + jobs {
        let mut pick = |count: u64| -> Vec<DatasetId> {
            (0..count).map(|_| dataset(if next(5) == 0 { next(4) } else { next(80) })).collect()
        };
        let (n_inputs, n_outputs) = (1 + (n * 7 + 3) % 3, 1 + (n * 5 + 1) % 3);
        let inputs = pick(n_inputs);
        let outputs = pick(n_outputs);
        let job = (JOB_NAMESPACES[(n % 3) as usize], format!("j{}", n % 50));
        service.ingest(&event(n + run_offset, job, &inputs, &outputs)).await.expect("ingest");
    }
}

fn every_start() -> Vec<NodeRef> {
    (0..90)
        .map(|n| NodeRef::from(&dataset(n)))
        .chain((0..12).map(|n| NodeRef {
            kind: NodeKind::Job,
            namespace: JOB_NAMESPACES[(n % 3) as usize].into(),
            name: format!("j{n}"),
        }))
        .collect()
}

async fn check(service: &Service, who: &str) {
    let compared = check_starts(service, who, &every_start()).await;
    assert!(compared > 500, "{who}: only {compared} summaries compared");
}

/// Compares the summary with the oracle for every start, direction and bound; returns how
/// many were compared.
async fn check_starts(service: &Service, who: &str, starts: &[NodeRef]) -> usize {
    let mut compared = 0;
    for start in starts {
        for direction in [Direction::Downstream, Direction::Upstream, Direction::Both] {
            for (depth, limit, first, offset) in
                [(20, 10_000, 1000, 0), (2, 10_000, 5, 3), (20, 17, 4, 8), (1, 5, 1, 0)]
            {
                let after = (offset > 0).then(|| format!("o{offset}"));
                let summary =
                    service.impact_summary(start.clone(), direction, Some(depth), Some(limit), first, after).await;
                let Ok(summary) = summary else {
                    // Unknown starts (datasets never ingested) fail both ways.
                    let principal = service.require_read().expect("read");
                    assert!(service.walk(&principal, &nodes_request(start, direction, depth, limit)).is_err());
                    continue;
                };
                let expected = oracle(service, start, direction, depth, limit, first, offset);
                let got = (
                    summary.datasets,
                    summary.jobs,
                    summary.truncated,
                    summary.groups.to_vec(),
                    summary.page,
                    summary.next_cursor,
                );
                assert_eq!(
                    got, expected,
                    "{who}: {start:?} {direction:?} depth {depth} limit {limit} first {first} offset {offset}"
                );
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn the_summary_by_number_equals_the_summary_by_name() {
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        for (domain, namespaces) in [("sales", "[sales-db, etl-sales]"), ("finance", "[finance-db]"), ("hr", "[hr-db]")]
        {
            let descriptor =
                format!("id: {domain}\nname: {domain}\nnamespaces: {namespaces}\nowners: [{{name: head-{domain}}}]\n");
            service.apply_domain(descriptor).await.expect("apply domain");
        }
        // Products before any event names their datasets, and after.
        service
            .apply_product(product("sales.orders", "sales", "internal", &[3, 8, 13], &[18, 23, 85]))
            .await
            .expect("apply");
        ingest(&service, 0, 60).await;
        service
            .apply_product(product("finance.ledger", "finance", "restricted", &[1, 4, 9], &[14, 19]))
            .await
            .expect("apply");
        service.apply_product(product("hr.people", "hr", "internal", &[2, 0], &[7, 12])).await.expect("apply");
        ingest(&service, 60, 60).await;
        // A domain claiming a namespace moves what is in it.
        service
            .apply_domain("id: ops\nname: ops\nnamespaces: [scratch, adhoc]\nowners: [{name: ops-lead}]\n".to_owned())
            .await
            .expect("apply domain");
        ingest(&service, 120, 20).await;
        check(&service, "open server").await;

        let admin = service.create_token("admin".into(), vec!["admin".into()], None).await.expect("token").token;
        let admin = service.authenticate(Some(&format!("Bearer {admin}"))).expect("admin");
        let reader = admin.create_token("reader".into(), vec!["read".into()], None).await.expect("token").token;
        check(&admin, "admin").await;
        let reader = service.authenticate(Some(&format!("Bearer {reader}"))).expect("reader");
        check(&reader, "reader").await;
        // The reader sees the restricted product's datasets redacted, still counted.
        let hub = NodeRef::from(&dataset(0));
        let summary = reader.impact_summary(hub, Direction::Downstream, None, None, 1000, None).await.expect("summary");
        assert!(
            summary.groups.iter().any(|group| group.product.as_deref() == Some("finance.ledger") && group.datasets > 0)
        );
        assert!(summary.page.iter().any(|node| node.node.namespace.starts_with(crate::REDACTED_NAMESPACE_PREFIX)));
    });
    service.close();
}

/// Summaries are kept while the index's edges and labels and the mesh stay, and never
/// outlive a change of any of them: after each kind of change every kept start is compared
/// with the oracle again, and runs that only repeat jobs' inputs and outputs leave the kept
/// summaries in use.
#[test]
fn kept_summaries_follow_every_change_of_edges_labels_and_the_mesh() {
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let counted = |outcome: &str| service.shared.metrics.summary_cache.with_label_values(&[outcome]).get();
    let generation = || service.shared.read_state().index.generation();
    // Few enough (x 3 directions x 4 bounds) for the cache to keep all of them.
    let starts: Vec<NodeRef> = every_start().into_iter().step_by(7).collect();
    runtime.block_on(async {
        service
            .apply_domain("id: sales\nname: sales\nnamespaces: [sales-db, etl-sales]\nowners: [{name: head}]\n".into())
            .await
            .expect("apply domain");
        ingest(&service, 0, 40).await;
        let compared = check_starts(&service, "first", &starts).await;
        assert!(compared > 20, "only {compared} compared");
        assert_eq!(counted("hit"), 0);

        // The same question again: from the cache, equal to the oracle.
        check_starts(&service, "again", &starts).await;
        assert_eq!(counted("hit"), compared as u64);

        // New runs of the same jobs with the same inputs and outputs change nothing a walk
        // reads: the kept summaries stay in use.
        let before = generation();
        ingest_runs(&service, 0, 40, 1_000).await;
        assert_eq!(generation(), before, "repeated runs moved the generation");
        check_starts(&service, "after repeated runs", &starts).await;
        assert_eq!(counted("hit"), 2 * compared as u64);

        // New edges, a product (labels), a domain (the mesh): each is seen at once.
        let misses = counted("miss");
        ingest(&service, 40, 30).await;
        assert_ne!(generation(), before);
        check_starts(&service, "after new edges", &starts).await;
        assert!(counted("miss") >= misses + compared as u64, "kept summaries outlived new edges");
        service
            .apply_product(product("sales.orders", "sales", "internal", &[3, 8, 13], &[18, 23, 85]))
            .await
            .expect("apply");
        check_starts(&service, "after a product", &starts).await;
        service
            .apply_domain("id: ops\nname: ops\nnamespaces: [scratch, adhoc]\nowners: [{name: ops-lead}]\n".into())
            .await
            .expect("apply domain");
        check_starts(&service, "after a domain", &starts).await;
        // A job that stops writing a dataset (its outputs change) is seen too.
        ingest(&service, 0, 1).await;
        let n = 0;
        let job = (JOB_NAMESPACES[(n % 3) as usize], format!("j{}", n % 50));
        service.ingest(&event(5_000, job, &[dataset(1)], &[dataset(2)])).await.expect("ingest");
        check_starts(&service, "after changed outputs", &starts).await;
    });
    assert!(service.shared.summary_cache.len() <= 256);
    service.close();
}

/// An apply updates membership and labels for the product's datasets only. After every apply
/// of a random sequence (new products, re-applies that move datasets between products or
/// between ports and internal datasets, products moving domain, restricted or not, applies
/// refused for a port another product holds) the membership and the restricted datasets equal
/// a rebuild from every descriptor, and summaries equal the name-based oracle.
#[test]
fn incremental_applies_equal_a_rebuild_from_every_descriptor() {
    let service = Service::open(ServiceConfig::default()).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let starts: Vec<NodeRef> = every_start().into_iter().step_by(11).collect();
    let mut state = 0x0a11_u64;
    let mut next = |below: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    runtime.block_on(async {
        for domain in ["sales", "finance", "hr"] {
            let descriptor =
                format!("id: {domain}\nname: {domain}\nnamespaces: [{domain}-db]\nowners: [{{name: head}}]\n");
            service.apply_domain(descriptor).await.expect("apply domain");
        }
        ingest(&service, 0, 60).await;
        let (mut applied, mut refused) = (0, 0);
        for round in 0..60u64 {
            let id = format!("p{}", next(7));
            let domain = ["sales", "finance", "hr"][next(3) as usize];
            let pick = |count: u64, next: &mut dyn FnMut(u64) -> u64| -> Vec<u64> {
                let mut picked: Vec<u64> = (0..count).map(|_| next(30)).collect();
                picked.sort_unstable();
                picked.dedup();
                picked
            };
            let ports = pick(1 + next(3), &mut next);
            let internal = pick(next(4), &mut next);
            let classification = if next(3) == 0 { "restricted" } else { "internal" };
            match service.apply_product(product(&id, domain, classification, &ports, &internal)).await {
                Ok(_) => applied += 1,
                Err(_) => refused += 1,
            }
            {
                let state = service.shared.read_state();
                let mut rebuilt =
                    super::super::MeshState { products: state.mesh.products.clone(), ..Default::default() };
                rebuilt.rebuild_membership();
                let memberships = crate::mesh::tests::memberships;
                assert_eq!(memberships(&state.mesh), memberships(&rebuilt), "round {round}: membership");
                assert_eq!(*state.mesh.restricted, *rebuilt.restricted, "round {round}: restricted");
            }
            if round % 6 == 5 {
                check_starts(&service, &format!("round {round}"), &starts).await;
            }
        }
        assert!(applied > 20 && refused > 0, "{applied} applied, {refused} refused");
    });
    service.close();
}

/// The walk the oracle compares a summary with: nodes without edges, every node returned.
fn nodes_request(start: &NodeRef, direction: Direction, depth: u32, limit: usize) -> LineageRequest {
    LineageRequest::new(start.clone(), direction).depth(Some(depth)).limit(Some(limit)).shaped(AnswerShape::Nodes)
}
