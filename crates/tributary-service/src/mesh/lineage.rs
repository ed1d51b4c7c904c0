//! Product and domain lineage, derived from dataset lineage and cached per index generation
//! (edges and labels) and mesh generation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tributary_model::DatasetId;

use crate::{Shared, State};

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
pub(crate) type CachedProductLineage = ((tributary_graph::Generation, u64), Arc<Vec<ProductEdge>>);

impl Shared {
    /// Product lineage as of now, from the cache when neither the graph's edges (the index's
    /// generation: events that only repeat a job's inputs and outputs leave it) nor the mesh
    /// (its generation) moved since it was derived. The cache's mutex is a leaf, taken while
    /// the state's read lock is held and holding nothing else.
    pub(crate) fn product_lineage(&self) -> Arc<Vec<ProductEdge>> {
        let state = self.read_state();
        let key = (state.index.generation(), state.mesh.generation);
        {
            let cached = self.product_lineage_cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((cached_key, edges)) = &*cached
                && *cached_key == key
            {
                return Arc::clone(edges);
            }
        }
        let edges = Arc::new(derive_product_lineage(&state));
        drop(state);
        *self.product_lineage_cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some((key, Arc::clone(&edges)));
        edges
    }

    pub(super) fn domain_lineage(&self) -> Vec<ProductEdge> {
        let product_edges = self.product_lineage();
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

fn derive_product_lineage(state: &State) -> Vec<ProductEdge> {
    let (mesh, index) = (&state.mesh, &state.index);
    let mut edges: BTreeMap<(String, String), BTreeSet<(DatasetId, DatasetId)>> = BTreeMap::new();
    for (product, _) in mesh.products.values() {
        for dataset in product.datasets() {
            let found = index.upstream_until(
                dataset,
                |candidate| mesh.membership.get(candidate).is_some_and(|m| m.product != product.id),
                PRODUCT_LINEAGE_BUDGET,
            );
            for upstream in found {
                if let Some(membership) = mesh.membership.get(&upstream) {
                    edges
                        .entry((membership.product.clone(), product.id.clone()))
                        .or_default()
                        .insert((upstream.clone(), dataset.clone()));
                }
            }
        }
    }
    edges.into_iter().map(|((from, to), via)| ProductEdge { from, to, via: via.into_iter().collect() }).collect()
}
