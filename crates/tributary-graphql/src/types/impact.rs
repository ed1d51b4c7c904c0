//! `Impact` and its groups: affected nodes by product, domain and owners.

use crate::scalars::NodeRef;
use crate::types::lineage::Lineage;
use crate::types::owner::{Owner, owners};
use async_graphql::SimpleObject;
use tributary_service::ImpactGroup;

/// Impacted nodes of one product (or domain, or namespace outside every domain).
#[derive(SimpleObject)]
#[graphql(name = "ImpactGroup")]
pub struct ImpactGroupOutput {
    pub product: Option<String>,
    pub domain: Option<String>,
    pub namespace: Option<String>,
    pub owners: Vec<Owner>,
    pub dataset_count: usize,
    pub job_count: usize,
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
}

pub(crate) fn impact_groups(groups: Vec<ImpactGroup>) -> Vec<ImpactGroupOutput> {
    groups
        .into_iter()
        .map(|g| ImpactGroupOutput {
            product: g.product,
            domain: g.domain,
            namespace: g.namespace,
            owners: owners(g.owners),
            dataset_count: g.datasets.len(),
            job_count: g.jobs.len(),
            datasets: g.datasets.iter().map(NodeRef::from).collect(),
            jobs: g.jobs.iter().map(NodeRef::from).collect(),
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct Impact {
    pub lineage: Lineage,
    /// The impacted nodes (start excluded) grouped product -> domain -> owners.
    pub groups: Vec<ImpactGroupOutput>,
}
