//! Product and domain lineage, derived from dataset lineage and cached per index generation
//! (edges and labels) and mesh generation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use tributary_graph::{LineageIndex, NodeNumber, UpstreamUntil};
use tributary_model::{DatasetId, NodeRef};

use crate::units::{WALK_UNIT, graph_in_units};
use crate::{ServiceError, Shared, State};

/// Most nodes a product-lineage walk visits from one dataset.
const PRODUCT_LINEAGE_BUDGET: usize = 200_000;

/// A derived lineage edge between two products (or domains), with the datasets that link them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProductEdge {
    pub from: String,
    pub to: String,
    /// (upstream dataset of `from`, downstream dataset of `to`) pairs that connect them.
    pub via: Vec<(DatasetId, DatasetId)>,
}

/// Product lineage with the (index generation, mesh generation) it was derived at.
pub(crate) type CachedProductLineage = (LineageKey, Arc<Vec<ProductEdge>>);

/// The state product lineage is derived from: the index's edges and the mesh.
type LineageKey = (tributary_graph::Generation, u64);

impl Shared {
    /// Product lineage as of now, from the cache when neither the graph's edges (the index's
    /// generation: events that only repeat a job's inputs and outputs leave it) nor the mesh
    /// (its generation) moved since it was derived. Otherwise derived in units
    /// ([`graph_in_units`]), so the writer publishes meanwhile; a derivation during which the
    /// index changed answers from a mix of its states (each walk step sees one) and is not
    /// kept. The cache's mutex is a leaf, taken without the state lock.
    pub(crate) fn product_lineage(&self) -> Result<Arc<Vec<ProductEdge>>, ServiceError> {
        if let Some(kept) = self.kept_product_lineage() {
            return Ok(kept);
        }
        self.metrics.product_lineage_cache.with_label_values(&["miss"]).inc();
        let mut derivation: Option<Derivation> = None;
        let mut last_key = None;
        graph_in_units(self, |state| {
            last_key = Some((state.index.generation(), state.mesh.generation));
            Ok(derivation.get_or_insert_with(|| Derivation::new(state)).unit(&state.index))
        })?;
        let Some(derivation) = derivation else { return Ok(Arc::default()) };
        let first_key = derivation.key;
        let edges = Arc::new(derivation.into_edges());
        if Some(first_key) == last_key {
            *self.product_lineage_cache.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((first_key, Arc::clone(&edges)));
        }
        Ok(edges)
    }

    /// The kept product lineage, if neither the graph's edges nor the mesh moved since it
    /// was derived (a cheap look: one hold of the state for two numbers, and the cache's leaf
    /// mutex after it).
    pub(crate) fn kept_product_lineage(&self) -> Option<Arc<Vec<ProductEdge>>> {
        let key = {
            let state = self.read_state();
            (state.index.generation(), state.mesh.generation)
        };
        let cache = self.product_lineage_cache.lock().unwrap_or_else(|e| e.into_inner());
        let (kept_key, edges) = cache.as_ref()?;
        if *kept_key != key {
            return None;
        }
        self.metrics.product_lineage_cache.with_label_values(&["hit"]).inc();
        Some(Arc::clone(edges))
    }

    /// Product lineage derived under one hold of the state (what a derivation in units
    /// answers against an index that does not change meanwhile).
    #[cfg(test)]
    pub(crate) fn product_lineage_in_one_hold(&self) -> Vec<ProductEdge> {
        let state = self.read_state();
        let mut derivation = Derivation::new(&state);
        while !derivation.unit(&state.index) {}
        derivation.into_edges()
    }

    /// Domain lineage: `product_edges` (a product lineage) grouped by the products' domains.
    pub(super) fn domain_lineage(&self, product_edges: &[ProductEdge]) -> Vec<ProductEdge> {
        let state = self.read_state();
        let mesh = &state.mesh;
        let domain_of = |product: &str| mesh.products.get(product).map(|(p, _)| p.domain.clone()).unwrap_or_default();
        let mut edges: BTreeMap<(String, String), BTreeSet<(DatasetId, DatasetId)>> = BTreeMap::new();
        for edge in product_edges.iter() {
            let (from, to) = (domain_of(&edge.from), domain_of(&edge.to));
            if from != to {
                edges.entry((from, to)).or_default().extend(edge.via.iter().cloned());
            }
        }
        edges.into_iter().map(|((from, to), via)| ProductEdge { from, to, via: via.into_iter().collect() }).collect()
    }
}

/// One derivation of product lineage, done a walk step at a time: from every dataset of every
/// product, upstream through jobs and datasets that belong to no product or to that product,
/// to the nearest datasets of other products. The mesh is read once, at the start (what it
/// was then is the answer's mesh); the index is read at each step. Datasets are looked at by
/// node number, with no name read or hashed, except the members found.
struct Derivation {
    /// The state the derivation started from.
    key: LineageKey,
    /// Product ids, by product number.
    products: Vec<String>,
    /// Every dataset a product claims, with its product's number (the mesh's membership).
    members: Vec<(DatasetId, u32)>,
    /// Each node's member number + 1, by node number (0: no product's dataset).
    member_by_node: Vec<u32>,
    /// Members the index did not hold when last looked for (found once it does).
    unplaced: Vec<u32>,
    /// The index's node count when `unplaced` was last looked for.
    nodes_seen: usize,
    /// The walks' starts: each product's datasets with the product's number, in the mesh's
    /// order.
    starts: Vec<(DatasetId, u32)>,
    /// The next start to walk from.
    next_start: usize,
    /// The start walked now, if a walk is under way.
    walking: Option<u32>,
    walk: UpstreamUntil,
    /// (upstream member, start) links found.
    links: Vec<(u32, u32)>,
}

impl Derivation {
    fn new(state: &State) -> Self {
        let mesh = &state.mesh;
        let products: Vec<String> = mesh.products.keys().cloned().collect();
        let number: HashMap<&str, u32> = products.iter().enumerate().map(|(n, id)| (id.as_str(), n as u32)).collect();
        let mut members: Vec<(DatasetId, u32)> = Vec::with_capacity(mesh.member_count());
        for (dataset, membership) in mesh.memberships() {
            if let Some(&product) = number.get(membership.product.as_str()) {
                members.push((dataset.clone(), product));
            }
        }
        let starts = mesh
            .products
            .values()
            .enumerate()
            .flat_map(|(product, (descriptor, _))| {
                descriptor.datasets().map(move |dataset| (dataset.clone(), product as u32))
            })
            .collect();
        let mut derivation = Derivation {
            key: (state.index.generation(), mesh.generation),
            products,
            unplaced: (0..members.len() as u32).collect(),
            members,
            member_by_node: Vec::new(),
            nodes_seen: usize::MAX,
            starts,
            next_start: 0,
            walking: None,
            walk: UpstreamUntil::default(),
            links: Vec::new(),
        };
        derivation.place_members(&state.index);
        derivation
    }

    /// Places the members the index holds now and did not before (when it has grown).
    fn place_members(&mut self, index: &LineageIndex) {
        let nodes = index.dataset_count() + index.job_count();
        if nodes == self.nodes_seen {
            return;
        }
        self.nodes_seen = nodes;
        self.member_by_node.resize(nodes, 0);
        let (members, member_by_node) = (&self.members, &mut self.member_by_node);
        self.unplaced.retain(|&member| match index.node_number(&NodeRef::from(&members[member as usize].0)) {
            Some(node) => {
                let slot = usize::from(node);
                if slot >= member_by_node.len() {
                    member_by_node.resize(slot + 1, 0);
                }
                member_by_node[slot] = member + 1;
                false
            }
            None => true,
        });
    }

    /// The member a node is, if it is one.
    fn member(&self, node: NodeNumber) -> Option<u32> {
        self.member_by_node.get(usize::from(node)).copied().filter(|&m| m != 0).map(|m| m - 1)
    }

    /// One unit: a walk step of at most [`WALK_UNIT`] queued nodes (a walk begun first if
    /// none is under way). Whether the derivation is done.
    fn unit(&mut self, index: &LineageIndex) -> bool {
        self.place_members(index);
        let start = match self.walking {
            Some(start) => start,
            None => {
                let Some((dataset, _)) = self.starts.get(self.next_start) else { return true };
                let start = self.next_start as u32;
                self.next_start += 1;
                let Some(node) = index.node_number(&NodeRef::from(dataset)) else { return false };
                index.begin_upstream_until(&mut self.walk, node, PRODUCT_LINEAGE_BUDGET);
                self.walking = Some(start);
                start
            }
        };
        let product = self.starts[start as usize].1;
        let mut walk = std::mem::take(&mut self.walk);
        let stop = |node| self.member(node).is_some_and(|m| self.members[m as usize].1 != product);
        let done = index.step_upstream_until(&mut walk, stop, WALK_UNIT);
        if done {
            let found: Vec<u32> = walk.found().iter().filter_map(|&node| self.member(node)).collect();
            self.links.extend(found.into_iter().map(|up| (up, start)));
            self.walking = None;
        }
        self.walk = walk;
        false
    }

    /// The derived edges, by (upstream product, downstream product), each with its sorted
    /// dataset links.
    fn into_edges(self) -> Vec<ProductEdge> {
        let mut edges: BTreeMap<(&str, &str), BTreeSet<(&DatasetId, &DatasetId)>> = BTreeMap::new();
        for (up, start) in self.links {
            let ((up, from), (down, to)) = (&self.members[up as usize], &self.starts[start as usize]);
            edges.entry((&self.products[*from as usize], &self.products[*to as usize])).or_default().insert((up, down));
        }
        edges
            .into_iter()
            .map(|((from, to), via)| ProductEdge {
                from: from.to_owned(),
                to: to.to_owned(),
                via: via.into_iter().map(|(up, down)| (up.clone(), down.clone())).collect(),
            })
            .collect()
    }
}
