//! Impact grouping: nodes grouped by product, then domain, then namespace, with the owners
//! to tell.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tributary_graph::{LineageNode, LineageQuestion, NodeNumber, ReachedNode};
use tributary_model::{DatasetId, JobId, NodeKind, NodeRef};

use super::OwnerView;
use super::owners::{FacetOwners, stored_owners};
use super::ownership::domain_owners;
use crate::queries::walk_start;
use crate::visibility::Visibility;
use crate::{Service, ServiceError, Shared, State, units};
pub(crate) use cache::SummaryCache;
use cache::{SummaryKey, Walked};

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
        self.traversal(move |shared| {
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
        let mut grouping = Grouping::default();
        grouping.add(state, nodes);
        grouping.finish(&self.store)
    }
}

/// Impact groups built a slice of nodes at a time (each slice under its own hold of the state
/// lock, so a hub's tens of thousands of nodes do not hold the writer), then finished with
/// the owners the nodes' `ownership` facets name: from the state's [`super::NodeOwners`],
/// or, while those load after start-up, from the store without the lock.
///
/// Nodes given by number ([`Self::add_numbered`]) are placed by the index's labels (a few
/// array reads, no name hashed or copied), as [`count_groups`] counts them; their group's
/// names are made once per distinct labels. Labels are numbered anew when the mesh changes,
/// so what they stand for is kept for one mesh generation at a time.
#[derive(Default)]
pub(crate) struct Grouping {
    /// The groups in the order they were first found, each with its nodes, whose `ownership`
    /// facets name owners too.
    groups: Vec<(ImpactGroup, Vec<(NodeRef, MemberOwners)>)>,
    /// Position in `groups` by key.
    by_key: HashMap<GroupKey, usize>,
    /// Position in `groups` by the labels that place a node ([`LabelKey`]), valid for the mesh
    /// generation beside it.
    by_labels: (u64, HashMap<LabelKey, usize>),
}

/// A report with more members than this whose owners are not known yet waits for their load
/// ([`Grouping::finish_after_the_load`]): below it, reading their facets is quicker.
const WAIT_FOR_THE_LOAD_ABOVE: usize = if cfg!(test) { 3 } else { 2_000 };
/// The longest such a wait; past it (a load that slow), the facets are read as before.
const WAIT_FOR_THE_LOAD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(120);
/// Members whose owners are taken from the loaded table under one hold of the state lock.
const LOADED_PER_HOLD: usize = 4096;

/// A group member's owners as its `ownership` facet names them.
enum MemberOwners {
    /// From the state's [`super::NodeOwners`] (`None`: it names none).
    Known(Option<FacetOwners>),
    /// Not known yet (loading after start-up): read from the store.
    Stored,
}

type GroupKey = (Option<String>, Option<String>, Option<String>);

/// A node's group as the index's labels give it: its product's label (0: none), the number of
/// the domain it is told in (0: none), and, outside every domain, its namespace's number
/// (else `u32::MAX`).
type LabelKey = (u32, u32, u32);

impl Grouping {
    /// Groups `nodes` as `state` places them (by name); a new group gets its product's and
    /// domain's declared owners.
    pub(crate) fn add(&mut self, state: &State, nodes: &[NodeRef]) {
        for node in nodes {
            let at = self.group(state, group_key(state, node));
            let owners = match state.owners.of(&state.index, node) {
                Some(known) => MemberOwners::Known(known),
                None => MemberOwners::Stored,
            };
            self.push(at, node.clone(), owners);
        }
    }

    /// Groups the index's `nodes` as its labels place them (what [`Self::add`] would do by
    /// name), and returns their names in order.
    pub(crate) fn add_numbered(&mut self, state: &State, nodes: &[NodeNumber]) -> Vec<NodeRef> {
        if self.by_labels.0 != state.mesh.generation {
            self.by_labels = (state.mesh.generation, HashMap::new());
        }
        let mut named = Vec::with_capacity(nodes.len());
        for &number in nodes {
            let labels = label_key(state, number);
            let at = match self.by_labels.1.get(&labels) {
                Some(&at) => at,
                None => {
                    let at = self.group(state, group_key_of_labels(state, labels));
                    self.by_labels.1.insert(labels, at);
                    at
                }
            };
            let node = state.index.node_ref(number);
            let owners = match state.owners.of_number(number) {
                Some(known) => MemberOwners::Known(known),
                None => MemberOwners::Stored,
            };
            self.push(at, node.clone(), owners);
            named.push(node);
        }
        named
    }

    /// The position of the group `key`, added (with its product's and domain's declared
    /// owners) when new.
    fn group(&mut self, state: &State, key: GroupKey) -> usize {
        if let Some(&at) = self.by_key.get(&key) {
            return at;
        }
        let mesh = &state.mesh;
        let (product, domain, namespace) = key.clone();
        let mut owners = Vec::new();
        if let Some((product, _)) = product.as_ref().and_then(|id| mesh.products.get(id)) {
            owners.extend(OwnerView::declared(&product.owners, &format!("product {}", product.id)));
        }
        if let Some(domain) = &domain {
            owners.extend(domain_owners(mesh, domain));
        }
        self.groups.push((ImpactGroup { product, domain, namespace, owners, ..ImpactGroup::default() }, Vec::new()));
        self.by_key.insert(key, self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn push(&mut self, at: usize, node: NodeRef, owners: MemberOwners) {
        let (group, members) = &mut self.groups[at];
        match node.kind {
            NodeKind::Dataset => group.datasets.push(node.clone()),
            NodeKind::Job => group.jobs.push(node.clone()),
        }
        members.push((node, owners));
    }

    /// [`Self::finish`], for a report that may be large (a change report): when more than
    /// [`WAIT_FOR_THE_LOAD_ABOVE`] members' owners were not known (loading after start-up),
    /// it waits for the load to end (at most [`WAIT_FOR_THE_LOAD_AT_MOST`]) and takes them
    /// from the loaded table, a slice per hold of the state lock, rather than reading each
    /// one's facet from the store. Call it holding no lock (the load takes the state lock).
    pub(crate) fn finish_after_the_load(mut self, shared: &Shared) -> Result<Vec<ImpactGroup>, ServiceError> {
        let unknown: Vec<(usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(at, (_, members))| {
                members
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, owners))| matches!(owners, MemberOwners::Stored))
                    .map(move |(member, _)| (at, member))
            })
            .collect();
        if unknown.len() > WAIT_FOR_THE_LOAD_ABOVE {
            let waited = std::time::Instant::now();
            if shared.owners_load_end.wait(WAIT_FOR_THE_LOAD_AT_MOST) {
                tracing::info!(
                    nodes = unknown.len(),
                    waited_ms = waited.elapsed().as_millis() as u64,
                    "a report waited for the owners' load instead of reading the nodes' facets"
                );
                for slice in unknown.chunks(LOADED_PER_HOLD) {
                    let state = shared.read_state();
                    for &(at, member) in slice {
                        let (node, owners) = &mut self.groups[at].1[member];
                        if let Some(known) = state.owners.of(&state.index, node) {
                            *owners = MemberOwners::Known(known);
                        }
                    }
                }
            }
        }
        self.finish(&shared.store)
    }

    /// The groups in key order, with the owners the members' `ownership` facets name (store
    /// reads only for members whose owners were not known).
    pub(crate) fn finish(self, store: &tributary_store::Store) -> Result<Vec<ImpactGroup>, ServiceError> {
        let mut groups = Vec::with_capacity(self.groups.len());
        for (mut group, members) in self.groups {
            for (node, owners) in members {
                let owners = match owners {
                    MemberOwners::Known(known) => known,
                    MemberOwners::Stored => Some(stored_owners(store, &node)?.into_iter().collect()),
                };
                let Some(owners) = owners.filter(|owners| !owners.is_empty()) else { continue };
                let kind = if node.kind == NodeKind::Dataset { "dataset" } else { "job" };
                let source = format!("ownership facet of {kind} {}:{}", node.namespace, node.name);
                group.owners.extend(owners.iter().map(|(name, role)| OwnerView {
                    name: name.clone(),
                    role: role.clone(),
                    source: source.clone(),
                }));
            }
            group.owners.sort();
            group.owners.dedup_by(|a, b| a.name == b.name && a.source == b.source);
            groups.push(group);
        }
        groups.sort_by(|a, b| (&a.product, &a.domain, &a.namespace).cmp(&(&b.product, &b.domain, &b.namespace)));
        Ok(groups)
    }
}

/// Where the index's labels place a node ([`LabelKey`]): a product's dataset in its product's
/// group and domain; a job writing one in that product's group, told in its namespace's
/// domain if that has one, else the product's; other nodes in their namespace's domain, or
/// outside every domain in their namespace. The same as [`group_key`] by name (the tests
/// compare them), as [`count_groups`] counts.
fn label_key(state: &State, node: NodeNumber) -> LabelKey {
    let (index, labels) = (&state.index, &state.mesh.group_labels);
    let product = index.label(node);
    let namespace_domain = index.namespace_label(node);
    if product != 0 {
        let own_domain = labels.product(product).1;
        let domain = if index.is_job(node) && namespace_domain != 0 { namespace_domain } else { own_domain };
        (product, domain, u32::MAX)
    } else if namespace_domain != 0 {
        (0, namespace_domain, u32::MAX)
    } else {
        (0, 0, index.namespace_number(node))
    }
}

/// The names of the group [`label_key`] gave, as [`group_key`] names it.
fn group_key_of_labels(state: &State, (product, domain, namespace): LabelKey) -> GroupKey {
    let (index, labels) = (&state.index, &state.mesh.group_labels);
    (
        (product != 0).then(|| labels.product(product).0.clone()),
        (domain != 0).then(|| labels.domain(domain).to_owned()),
        (namespace != u32::MAX).then(|| index.namespace_name(namespace).to_owned()),
    )
}

/// Where a node's impact is told: its product (a job's is that of a dataset it writes), its
/// domain, and, outside every domain, its namespace.
fn group_key(state: &State, node: &NodeRef) -> GroupKey {
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
    /// Largest groups first; shared with the server's cache of recent summaries.
    pub groups: std::sync::Arc<Vec<ImpactCount>>,
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
    /// The walk is the lineage walk (same depth and node limit) over node numbers: counting
    /// reads the index's dense labels (see `State::relabel`), no name and no store record,
    /// and only the page's nodes are named, so the answer stays small and fast however large
    /// the closure. Datasets the caller may not see are counted and shown redacted. The walk
    /// takes the state's read lock a few hundred nodes at a time (`units::graph_in_units`),
    /// the counts one hold; a walk during which the index or the mesh changed is not cached.
    /// The watermark is that of the start: later units may see events after it.
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
        let (depth, limit) = self.walk_bounds(depth, limit)?;
        self.traversal(move |shared| {
            // The start, the caller's view and a cached walk in one hold.
            let (key, visibility, watermark, found) = {
                let state = shared.read_state();
                let visibility = Visibility::new(&principal, &state, &shared.redaction_key);
                let start = walk_start(&principal, &state, &visibility, &start)?;
                let key = SummaryKey {
                    index: state.index.generation(),
                    mesh: state.mesh.generation,
                    start,
                    direction,
                    depth,
                    limit,
                };
                let found = match shared.summary_cache.get(&key) {
                    Some(walked) => Ok(walked),
                    None => {
                        let question = LineageQuestion::new(&key.start, direction, depth, limit)
                            .shaped(tributary_graph::AnswerShape::Nodes);
                        Err(state.index.begin_lineage(question)?)
                    }
                };
                (key, visibility, state.index.watermark(), found)
            };
            let walked = match found {
                Ok(walked) => {
                    shared.metrics.summary_cache.with_label_values(&["hit"]).inc();
                    walked
                }
                Err(mut walk) => {
                    shared.metrics.summary_cache.with_label_values(&["miss"]).inc();
                    // The walk a few hundred nodes a hold; the counts in one (their labels
                    // agree), kept for others only if nothing changed meanwhile.
                    units::graph_in_units(shared, |state| Ok(state.index.step_lineage(&mut walk, units::WALK_UNIT)))?;
                    let state = shared.read_state();
                    let reach = state.index.finish_reach(walk);
                    let reached: Vec<ReachedNode> = reach.nodes.into_iter().filter(|node| node.distance > 0).collect();
                    let groups = count_groups(&state, &reached);
                    let walked = Arc::new(Walked { reached, truncated: reach.truncated, groups: Arc::new(groups) });
                    if state.index.generation() == key.index && state.mesh.generation == key.mesh {
                        shared.summary_cache.insert(key, Arc::clone(&walked));
                    }
                    walked
                }
            };
            let (reached, groups) = (&walked.reached, Arc::clone(&walked.groups));
            let (datasets, jobs) = groups.iter().fold((0, 0), |(d, j), group| (d + group.datasets, j + group.jobs));
            // Node numbers name the same node in every state: the page agrees with the walk.
            let state = shared.read_state();
            let page = reached
                .iter()
                .skip(offset)
                .take(first)
                .map(|reached| LineageNode {
                    node: visibility.node(&state.index.node_ref(reached.node)),
                    distance: reached.distance,
                })
                .collect();
            drop(state);
            let next_cursor = (offset.saturating_add(first) < reached.len()).then(|| format!("o{}", offset + first));
            Ok(ImpactSummary {
                datasets,
                jobs,
                truncated: walked.truncated,
                groups,
                page,
                next_cursor,
                depth,
                watermark,
            })
        })
        .await
    }
}

/// What the index's labels stand for: a dataset's label is its product (a job's, that of the
/// first dataset of a product it writes), a namespace's label its domain. Numbered from 1 (0 is
/// none) each time the mesh changes, together with the index's labels, under the state's write
/// lock.
#[derive(Default)]
pub(crate) struct GroupLabels {
    /// By product label - 1: the product's id and its domain's number.
    products: Vec<(String, u32)>,
    /// By domain number - 1.
    domains: Vec<String>,
    /// Product id -> label, domain -> number: an apply of one product numbers a new product
    /// or domain at the end, so the labels of the others stay.
    product_labels: HashMap<String, u32>,
    domain_numbers: HashMap<String, u32>,
}

impl GroupLabels {
    fn domain_number(&mut self, domain: &str) -> u32 {
        if let Some(&number) = self.domain_numbers.get(domain) {
            return number;
        }
        self.domains.push(domain.to_owned());
        let number = self.domains.len() as u32;
        self.domain_numbers.insert(domain.to_owned(), number);
        number
    }

    /// The label of `product` in `domain`, numbered at the end when it has none.
    fn product_label(&mut self, product: &str, domain: &str) -> u32 {
        let domain = self.domain_number(domain);
        if let Some(&label) = self.product_labels.get(product) {
            self.products[label as usize - 1].1 = domain;
            return label;
        }
        self.products.push((product.to_owned(), domain));
        let label = self.products.len() as u32;
        self.product_labels.insert(product.to_owned(), label);
        label
    }

    fn product(&self, label: u32) -> &(String, u32) {
        &self.products[label as usize - 1]
    }

    fn domain(&self, number: u32) -> &str {
        &self.domains[number as usize - 1]
    }
}

impl State {
    /// Labels the index's datasets with their products and namespaces with their domains
    /// (numbers in [`GroupLabels`]); after every change of the mesh's membership or domains.
    /// Linear in the members, the namespaces and the jobs' outputs.
    pub(crate) fn relabel(&mut self) {
        let mesh = &self.mesh;
        let mut labels = GroupLabels::default();
        for (product, _) in mesh.products.values() {
            labels.product_label(&product.id, &product.domain);
        }
        let namespaces: HashMap<String, u32> = mesh
            .namespace_domain
            .iter()
            .map(|(namespace, domain)| (namespace.clone(), labels.domain_number(domain)))
            .collect();
        let datasets = mesh.memberships().filter_map(|(id, membership)| {
            labels.product_labels.get(membership.product.as_str()).map(|&label| (id, label))
        });
        self.index.set_labels(datasets, namespaces);
        self.mesh.group_labels = labels;
    }

    /// [`Self::relabel`] after one product was applied: labels the product (a new one at the
    /// end) and relabels only `affected`, the datasets its old or new descriptor lists, with
    /// the jobs writing them. Linear in those datasets and their writers, not in the mesh.
    pub(crate) fn relabel_product(&mut self, product: &str, affected: &HashSet<DatasetId>) {
        let Some((descriptor, _)) = self.mesh.products.get(product) else { return };
        let domain = descriptor.domain.clone();
        self.mesh.group_labels.product_label(product, &domain);
        let labels = &self.mesh.group_labels;
        let changes: Vec<(DatasetId, u32)> = affected
            .iter()
            .map(|dataset| {
                let label = self
                    .mesh
                    .membership(dataset)
                    .and_then(|membership| labels.product_labels.get(membership.product.as_str()).copied())
                    .unwrap_or(0);
                (dataset.clone(), label)
            })
            .collect();
        self.index.relabel_datasets(changes);
    }
}

/// Counts nodes by (product, domain, namespace), largest groups first (ties in key order),
/// with declared owners. Groups follow [`group_key`], read from the index's labels: a dataset
/// of a product is in the product's group (with the product's domain), a job writing one too
/// unless its namespace belongs to another domain; other nodes are in their domain's group, or
/// outside every domain in their namespace's. The common groups are counted in vectors by
/// number; only a job of a product whose namespace is another domain's needs a hash table.
fn count_groups(state: &State, nodes: &[ReachedNode]) -> Vec<ImpactCount> {
    let (mesh, index, labels) = (&state.mesh, &state.index, &state.mesh.group_labels);
    // Index 0 of each is unused (label and numbers 0 mean none).
    let product_domain: Vec<u32> =
        std::iter::once(0).chain(labels.products.iter().map(|(_, domain)| *domain)).collect();
    let mut by_product = vec![[0usize; 2]; product_domain.len()];
    let mut by_domain = vec![[0usize; 2]; labels.domains.len() + 1];
    let mut by_namespace = vec![[0usize; 2]; index.namespace_count()];
    // Rare: a product's job in the namespace of another domain.
    let mut mixed: HashMap<(u32, u32), [usize; 2]> = HashMap::new();
    for reached in nodes {
        let node = reached.node;
        let product = index.label(node);
        let is_job = index.is_job(node);
        let kind = usize::from(is_job);
        let own_domain = product_domain[product as usize];
        if product != 0 {
            // A product's dataset is told in its product's domain; a job in its namespace's
            // domain if it has one.
            let domain = match index.namespace_label(node) {
                domain if is_job && domain != 0 => domain,
                _ => own_domain,
            };
            if domain == own_domain {
                by_product[product as usize][kind] += 1;
            } else {
                mixed.entry((product, domain)).or_default()[kind] += 1;
            }
        } else {
            match index.namespace_label(node) {
                0 => by_namespace[index.namespace_number(node) as usize][kind] += 1,
                domain => by_domain[domain as usize][kind] += 1,
            }
        }
    }
    let product_groups = by_product.iter().enumerate().map(|(label, counts)| {
        let label = label as u32;
        ((label, product_domain[label as usize]), *counts)
    });
    let domain_groups = by_domain.iter().enumerate().map(|(domain, counts)| ((0, domain as u32), *counts));
    let keyed = product_groups
        .chain(mixed)
        .chain(domain_groups)
        .filter(|((product, domain), counts)| (*product != 0 || *domain != 0) && counts[0] + counts[1] > 0)
        .map(|((product, domain), counts)| {
            let product = (product != 0).then(|| labels.product(product).0.clone());
            ((product, Some(labels.domain(domain).to_owned()), None), counts)
        });
    let namespace_groups = by_namespace
        .iter()
        .enumerate()
        .filter(|(_, counts)| counts[0] + counts[1] > 0)
        .map(|(number, counts)| ((None, None, Some(index.namespace_name(number as u32).to_owned())), *counts));
    let mut groups: Vec<ImpactCount> = keyed
        .chain(namespace_groups)
        .map(|((product, domain, namespace), [datasets, jobs])| {
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
    groups.sort_by(|a, b| (&a.product, &a.domain, &a.namespace).cmp(&(&b.product, &b.domain, &b.namespace)));
    groups.sort_by_key(|group| std::cmp::Reverse(group.datasets + group.jobs));
    groups
}

mod cache;
#[cfg(test)]
mod tests;
