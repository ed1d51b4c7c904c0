//! Impact grouping: nodes grouped by product, then domain, then namespace, with the owners
//! to tell.

use std::collections::BTreeMap;

use tributary_model::{DatasetId, JobId, NodeKind, NodeRef};

use super::OwnerView;
use super::ownership::domain_owners;
use crate::{Service, ServiceError, Shared, State};

/// Impacted nodes that share a product (and so a domain), or, outside any product, a
/// domain or a namespace: the "who must be told" list.
#[derive(Clone, Debug, Default)]
pub struct ImpactGroup {
    pub product: Option<String>,
    pub domain: Option<String>,
    /// Set only for nodes outside every domain.
    pub namespace: Option<String>,
    /// Owners to tell, with where each came from.
    pub owners: Vec<OwnerView>,
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
}

impl Service {
    /// Groups nodes (lineage or change-check results) by product, then domain, then
    /// namespace, with the owners of each group.
    pub async fn group_impact(&self, nodes: Vec<NodeRef>) -> Result<Vec<ImpactGroup>, ServiceError> {
        let principal = self.require_read()?;
        self.blocking(move |shared| {
            let state = shared.read_state();
            let visibility = crate::visibility::Visibility::new(&principal, &state, &shared.redaction_key);
            // Redacted nodes the caller was shown are grouped where they belong, and shown
            // redacted again.
            let nodes: Vec<NodeRef> = nodes.iter().map(|node| visibility.reveal(node)).collect();
            let mut groups = shared.group_impact(&state, &nodes)?;
            for group in &mut groups {
                visibility.redact_group(group);
            }
            Ok(groups)
        })
        .await
    }
}

impl Shared {
    pub(crate) fn group_impact(&self, state: &State, nodes: &[NodeRef]) -> Result<Vec<ImpactGroup>, ServiceError> {
        type Key = (Option<String>, Option<String>, Option<String>);
        let mut groups: BTreeMap<Key, ImpactGroup> = BTreeMap::new();
        let mut facet_owner_nodes: BTreeMap<Key, Vec<NodeRef>> = BTreeMap::new();
        {
            let mesh = &state.mesh;
            for node in nodes {
                let key = group_key(state, node);
                let (product, domain, namespace) = key.clone();
                let group = groups.entry(key.clone()).or_insert_with(|| ImpactGroup {
                    product: product.clone(),
                    domain: domain.clone(),
                    namespace,
                    ..ImpactGroup::default()
                });
                match node.kind {
                    NodeKind::Dataset => group.datasets.push(node.clone()),
                    NodeKind::Job => group.jobs.push(node.clone()),
                }
                facet_owner_nodes.entry(key).or_default().push(node.clone());
            }
            for group in groups.values_mut() {
                let mut owners = Vec::new();
                if let Some((product, _)) = group.product.as_ref().and_then(|id| mesh.products.get(id)) {
                    owners.extend(OwnerView::declared(&product.owners, &format!("product {}", product.id)));
                }
                if let Some(domain) = &group.domain {
                    owners.extend(domain_owners(mesh, domain));
                }
                group.owners = owners;
            }
        }
        for (key, members) in facet_owner_nodes {
            let mut facet_owners_found = Vec::new();
            for node in members {
                let ownership = match node.kind {
                    NodeKind::Dataset => {
                        self.store.dataset_facet(&DatasetId::new(&*node.namespace, &*node.name), "ownership")?
                    }
                    NodeKind::Job => self
                        .store
                        .job(&JobId::new(&*node.namespace, &*node.name))?
                        .and_then(|r| r.facets.get("ownership").and_then(|e| e.value.clone())),
                };
                let kind = if node.kind == NodeKind::Dataset { "dataset" } else { "job" };
                facet_owners_found.extend(OwnerView::from_facet(
                    ownership.as_ref(),
                    &format!("ownership facet of {kind} {}:{}", node.namespace, node.name),
                ));
            }
            if let Some(group) = groups.get_mut(&key) {
                group.owners.extend(facet_owners_found);
                group.owners.sort();
                group.owners.dedup_by(|a, b| a.name == b.name && a.source == b.source);
            }
        }
        Ok(groups.into_values().collect())
    }
}

/// Most nodes in one page of an impact summary.
pub const MAX_SUMMARY_PAGE: usize = 1000;

/// One group of an impact summary: how many affected datasets and jobs share a product (and
/// so a domain), or, outside any product, a domain or a namespace, and whom to tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImpactCount {
    pub product: Option<String>,
    pub domain: Option<String>,
    /// Set only for nodes outside every domain.
    pub namespace: Option<String>,
    pub datasets: usize,
    pub jobs: usize,
    /// Owners declared by the product (and its ports) and the domain.
    pub owners: Vec<OwnerView>,
}

/// The impact question as users ask it: how much is downstream, in which products and
/// domains, owned by whom, and the first page of it, without shipping the whole closure.
#[derive(Clone, Debug)]
pub struct ImpactSummary {
    pub datasets: usize,
    pub jobs: usize,
    /// The node limit cut the walk: more lies within the depth than was counted.
    pub truncated: bool,
    /// Largest groups first.
    pub groups: Vec<ImpactCount>,
    /// Affected nodes in walk order (nearest first), from the cursor on.
    pub page: Vec<tributary_graph::LineageNode>,
    /// Pass as `after` for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
    pub depth: u32,
    pub watermark: tributary_model::Watermark,
}

impl Service {
    /// Counts what a change to `start` reaches (datasets and jobs, grouped by product, then
    /// domain, then namespace, with the declared owners) and returns one page of the nodes.
    /// The walk is the lineage walk (same depth and node limit); counting is linear in the
    /// nodes reached and reads no store record, so the answer stays small and fast however
    /// large the closure. Datasets the caller may not see are counted and shown redacted.
    #[allow(clippy::too_many_arguments)]
    pub async fn impact_summary(
        &self,
        start: NodeRef,
        direction: tributary_model::Direction,
        depth: Option<u32>,
        limit: Option<usize>,
        first: usize,
        after: Option<String>,
    ) -> Result<ImpactSummary, ServiceError> {
        let principal = self.require_read()?;
        if first == 0 || first > MAX_SUMMARY_PAGE {
            return Err(ServiceError::invalid("first", format!("must be between 1 and {MAX_SUMMARY_PAGE}")));
        }
        let offset = match after.as_deref() {
            None | Some("") => 0,
            Some(cursor) => cursor
                .strip_prefix("o")
                .and_then(|digits| digits.parse::<usize>().ok())
                .ok_or_else(|| ServiceError::invalid("after", "not a cursor this server gave out"))?,
        };
        let service = self.clone();
        self.blocking(move |shared| {
            let walk =
                service.walk(&principal, &start, direction, depth, limit, tributary_graph::AnswerShape::Nodes)?;
            let reached: Vec<&tributary_graph::LineageNode> =
                walk.answer.nodes.iter().filter(|node| node.distance > 0).collect();
            let groups = {
                let state = shared.read_state();
                count_groups(&state, &reached)
            };
            let (datasets, jobs) = groups.iter().fold((0, 0), |(d, j), group| (d + group.datasets, j + group.jobs));
            let mut page: Vec<tributary_graph::LineageNode> =
                reached.iter().skip(offset).take(first).map(|node| (*node).clone()).collect();
            for node in &mut page {
                node.node = walk.visibility.node(&node.node);
            }
            let next_cursor = (offset + first < reached.len()).then(|| format!("o{}", offset + first));
            Ok(ImpactSummary {
                datasets,
                jobs,
                truncated: walk.answer.truncated,
                groups,
                page,
                next_cursor,
                depth: walk.depth,
                watermark: walk.watermark,
            })
        })
        .await
    }
}

/// Where a node's impact is told: its product (a job's is that of a dataset it writes), its
/// domain, and, outside every domain, its namespace.
fn group_key(state: &State, node: &NodeRef) -> (Option<String>, Option<String>, Option<String>) {
    let (mesh, index) = (&state.mesh, &state.index);
    let (product, domain) = match node.kind {
        NodeKind::Dataset => {
            let id = DatasetId::new(&*node.namespace, &*node.name);
            (mesh.membership(&id).map(|m| m.product.clone()), mesh.dataset_domain(&id).map(str::to_owned))
        }
        NodeKind::Job => {
            let id = JobId::new(&*node.namespace, &*node.name);
            let outputs: Vec<DatasetId> =
                index.job_outputs(&id).into_iter().map(|n| DatasetId::new(n.namespace, n.name)).collect();
            let product = outputs.iter().find_map(|o| mesh.membership(o).map(|m| m.product.clone()));
            (product, mesh.job_domain(&id, &outputs).map(str::to_owned))
        }
    };
    let namespace = domain.is_none().then(|| node.namespace.clone());
    (product, domain, namespace)
}

/// Counts nodes by (product, domain, namespace), largest groups first, with declared owners.
fn count_groups(state: &State, nodes: &[&tributary_graph::LineageNode]) -> Vec<ImpactCount> {
    type Key = (Option<String>, Option<String>, Option<String>);
    let mesh = &state.mesh;
    let mut counts: BTreeMap<Key, (usize, usize)> = BTreeMap::new();
    for reached in nodes {
        let node = &reached.node;
        let slot = counts.entry(group_key(state, node)).or_default();
        match node.kind {
            NodeKind::Dataset => slot.0 += 1,
            NodeKind::Job => slot.1 += 1,
        }
    }
    let mut groups: Vec<ImpactCount> = counts
        .into_iter()
        .map(|((product, domain, namespace), (datasets, jobs))| {
            let mut owners = Vec::new();
            if let Some((descriptor, _)) = product.as_ref().and_then(|id| mesh.products.get(id)) {
                owners.extend(OwnerView::declared(&descriptor.owners, &format!("product {}", descriptor.id)));
            }
            if let Some(domain) = &domain {
                owners.extend(domain_owners(mesh, domain));
            }
            ImpactCount { product, domain, namespace, datasets, jobs, owners }
        })
        .collect();
    groups.sort_by_key(|group| std::cmp::Reverse(group.datasets + group.jobs));
    groups
}
