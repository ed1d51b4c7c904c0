//! `Impact` and its groups: affected nodes by product, domain and owners.

use std::sync::Arc;

use crate::scalars::{NodeRef, Watermark};
use crate::types::lineage::{Lineage, LineageNode};
use crate::types::owner::{Owner, owners, write_owner_field};
use crate::types::plain::{
    Plain, PlainList, optional, plain_list, write_optional_str, write_plain_items, write_plain_list_with,
};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Object, SimpleObject, Value};
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

pub(crate) fn impact_groups(groups: Vec<ImpactGroup>) -> PlainList<ImpactGroupOutput> {
    PlainList::new(
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
            .collect(),
    )
}

// A hub's groups list tens of thousands of nodes: written as a plain list (see `plain`).
impl Plain for ImpactGroupOutput {
    const TYPE_NAME: &'static str = "ImpactGroup";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "product" => optional(&self.product),
            "domain" => optional(&self.domain),
            "namespace" => optional(&self.namespace),
            "owners" => plain_list(&self.owners, selection)?,
            "datasetCount" => Value::Number(self.dataset_count.into()),
            "jobCount" => Value::Number(self.job_count.into()),
            "datasets" => plain_list(&self.datasets, selection)?,
            "jobs" => plain_list(&self.jobs, selection)?,
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "product" => write_optional_str(out, self.product.as_deref()),
            "domain" => write_optional_str(out, self.domain.as_deref()),
            "namespace" => write_optional_str(out, self.namespace.as_deref()),
            "owners" => write_plain_items(&self.owners, selection, out)?,
            "datasetCount" => serde_json::to_writer(&mut *out, &self.dataset_count).ok()?,
            "jobCount" => serde_json::to_writer(&mut *out, &self.job_count).ok()?,
            "datasets" => write_plain_items(&self.datasets, selection, out)?,
            "jobs" => write_plain_items(&self.jobs, selection, out)?,
            _ => return None,
        }
        Some(())
    }
}

#[derive(SimpleObject)]
pub struct Impact {
    pub lineage: Lineage,
    /// The impacted nodes (start excluded) grouped product -> domain -> owners.
    pub groups: PlainList<ImpactGroupOutput>,
}

// At 1M a summary has thousands of groups: they are built as a `PlainList` when the
// selection allows (see `plain`), written from the summary the server keeps (each item is
// the shared groups and an index: nothing of a group is copied per request).
/// One group of an impact summary: counts and whom to tell.
pub struct ImpactCount {
    groups: Arc<Vec<tributary_service::ImpactCount>>,
    index: usize,
}

impl ImpactCount {
    fn group(&self) -> &tributary_service::ImpactCount {
        &self.groups[self.index]
    }
}

/// One group of an impact summary: counts and whom to tell.
#[Object]
impl ImpactCount {
    async fn product(&self) -> Option<&str> {
        self.group().product.as_deref()
    }

    async fn domain(&self) -> Option<&str> {
        self.group().domain.as_deref()
    }

    /// Set only for nodes outside every domain.
    async fn namespace(&self) -> Option<&str> {
        self.group().namespace.as_deref()
    }

    async fn dataset_count(&self) -> usize {
        self.group().datasets
    }

    async fn job_count(&self) -> usize {
        self.group().jobs
    }

    /// Owners declared by the product (and its ports) and the domain.
    async fn owners(&self) -> Vec<Owner> {
        owners(self.group().owners.clone())
    }
}

impl Plain for ImpactCount {
    const TYPE_NAME: &'static str = "ImpactCount";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        let group = self.group();
        Some(match name {
            "product" => optional(&group.product),
            "domain" => optional(&group.domain),
            "namespace" => optional(&group.namespace),
            "datasetCount" => Value::Number(group.datasets.into()),
            "jobCount" => Value::Number(group.jobs.into()),
            "owners" => plain_list(&owners(group.owners.clone()), selection)?,
            _ => return None,
        })
    }

    // Written without building values: at 1M a hub's summary has thousands of groups.
    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        let group = self.group();
        match name {
            "product" => write_optional_str(out, group.product.as_deref()),
            "domain" => write_optional_str(out, group.domain.as_deref()),
            "namespace" => write_optional_str(out, group.namespace.as_deref()),
            "datasetCount" => serde_json::to_writer(&mut *out, &group.datasets).ok()?,
            "jobCount" => serde_json::to_writer(&mut *out, &group.jobs).ok()?,
            "owners" => write_plain_list_with(&group.owners, "Owner", selection, out, |owner, field, _, out| {
                write_owner_field(&owner.name, owner.role.as_deref(), &owner.source, field, out)
            })?,
            _ => return None,
        }
        Some(())
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
                (0..summary.groups.len())
                    .map(|index| ImpactCount { groups: Arc::clone(&summary.groups), index })
                    .collect(),
            ),
            nodes: summary.page.into_iter().map(LineageNode::from).collect(),
            next_cursor: summary.next_cursor,
            depth: summary.depth,
            watermark: summary.watermark.into(),
        }
    }
}
