//! `Impact` and its groups: affected nodes by product, domain and owners.

use crate::scalars::{NodeRef, Watermark};
use crate::types::lineage::{Lineage, LineageNode};
use crate::types::owner::{Owner, owners};
use crate::types::plain::{Plain, PlainList, optional, plain_list};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{SimpleObject, Value};
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

// At 1M a summary has thousands of groups: they are built as a `PlainList` when the
// selection allows (see `plain`).
/// One group of an impact summary: counts and whom to tell.
#[derive(SimpleObject)]
pub struct ImpactCount {
    pub product: Option<String>,
    pub domain: Option<String>,
    /// Set only for nodes outside every domain.
    pub namespace: Option<String>,
    pub dataset_count: usize,
    pub job_count: usize,
    /// Owners declared by the product (and its ports) and the domain.
    pub owners: Vec<Owner>,
}

impl Plain for ImpactCount {
    const TYPE_NAME: &'static str = "ImpactCount";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "product" => optional(&self.product),
            "domain" => optional(&self.domain),
            "namespace" => optional(&self.namespace),
            "datasetCount" => Value::Number(self.dataset_count.into()),
            "jobCount" => Value::Number(self.job_count.into()),
            "owners" => plain_list(&self.owners, selection)?,
            _ => return None,
        })
    }
}

/// What a change reaches, counted and grouped, with one page of the nodes: the answer to
/// "how much is downstream, where, whom to tell" without the whole closure.
#[derive(SimpleObject)]
pub struct ImpactSummary {
    pub dataset_count: usize,
    pub job_count: usize,
    /// The node limit cut the walk: more lies within the depth than was counted.
    pub truncated: bool,
    /// Largest groups first.
    pub groups: PlainList<ImpactCount>,
    /// Affected nodes, nearest first, from `after` on.
    pub nodes: Vec<LineageNode>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub depth: u32,
    pub watermark: Watermark,
}

impl From<tributary_service::ImpactSummary> for ImpactSummary {
    fn from(summary: tributary_service::ImpactSummary) -> Self {
        Self {
            dataset_count: summary.datasets,
            job_count: summary.jobs,
            truncated: summary.truncated,
            groups: PlainList::new(
                summary
                    .groups
                    .into_iter()
                    .map(|group| ImpactCount {
                        product: group.product,
                        domain: group.domain,
                        namespace: group.namespace,
                        dataset_count: group.datasets,
                        job_count: group.jobs,
                        owners: owners(group.owners),
                    })
                    .collect(),
            ),
            nodes: summary.page.into_iter().map(LineageNode::from).collect(),
            next_cursor: summary.next_cursor,
            depth: summary.depth,
            watermark: summary.watermark.into(),
        }
    }
}
