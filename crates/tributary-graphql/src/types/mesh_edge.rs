//! `MeshEdge`: product-to-product and domain-to-domain lineage.

use crate::scalars::{NodeKind, NodeRef};
use async_graphql::SimpleObject;
use tributary_service::ProductEdge;
use tributary_service::model::DatasetId;

pub(crate) fn dataset_ref(id: &DatasetId) -> NodeRef {
    NodeRef { kind: NodeKind::Dataset, namespace: id.namespace.clone(), name: id.name.clone() }
}

#[derive(SimpleObject)]
pub struct DatasetLink {
    pub from: NodeRef,
    pub to: NodeRef,
}

/// A derived edge between products (or domains) with the dataset pairs that connect them.
#[derive(SimpleObject)]
pub struct MeshEdge {
    pub from: String,
    pub to: String,
    pub via: Vec<DatasetLink>,
}

pub(crate) fn mesh_edges(edges: Vec<ProductEdge>) -> Vec<MeshEdge> {
    edges
        .into_iter()
        .map(|e| MeshEdge {
            from: e.from,
            to: e.to,
            via: e.via.iter().map(|(a, b)| DatasetLink { from: dataset_ref(a), to: dataset_ref(b) }).collect(),
        })
        .collect()
}
