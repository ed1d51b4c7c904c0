//! `ColumnLineage`: column-level lineage, its edges, uses and unverified consumers.

use crate::scalars::{NodeKind, NodeRef, Watermark};
use async_graphql::{Enum, InputObject, SimpleObject};
use tributary_service::ColumnLineageView;
use tributary_service::model::{self, DatasetId, TransformationKind};

#[derive(InputObject)]
pub struct DatasetInput {
    pub namespace: String,
    pub name: String,
}

/// A column of a dataset; `field` is `*` for "every column" (dataset-wide influence).
#[derive(SimpleObject, Clone)]
pub struct ColumnRef {
    pub namespace: String,
    pub name: String,
    pub field: String,
}

pub(crate) fn column_ref((dataset, field): &(DatasetId, String)) -> ColumnRef {
    ColumnRef { namespace: dataset.namespace.clone(), name: dataset.name.clone(), field: field.clone() }
}

/// DIRECT carries the value (IDENTITY, TRANSFORMATION, AGGREGATION); INDIRECT influences it
/// (JOIN, FILTER, GROUP_BY, SORT, WINDOW, CONDITIONAL).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUse {
    Direct,
    Indirect,
}

/// Where a column edge comes from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum EdgeSource {
    /// The producer's `columnLineage` facet, as sent.
    Reported,
    /// Reported without transformations; their kinds were derived from the job's SQL.
    ReportedKindsFromSql,
    /// Not reported: derived from the job's `sql` facet.
    DerivedFromSql,
}

impl From<model::EdgeSource> for EdgeSource {
    fn from(source: model::EdgeSource) -> Self {
        match source {
            model::EdgeSource::Reported => Self::Reported,
            model::EdgeSource::ReportedKindsFromSql => Self::ReportedKindsFromSql,
            model::EdgeSource::DerivedFromSql => Self::DerivedFromSql,
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Transformation")]
pub struct TransformationInfo {
    #[graphql(name = "type")]
    pub kind: ColumnUse,
    /// As the producer sent it, upper-cased; null when it gave none.
    pub subtype: Option<String>,
    pub masking: bool,
    pub description: Option<String>,
}

pub(crate) fn transformations(list: &[model::Transformation]) -> Vec<TransformationInfo> {
    list.iter()
        .map(|t| TransformationInfo {
            kind: match t.kind {
                TransformationKind::Direct => ColumnUse::Direct,
                TransformationKind::Indirect => ColumnUse::Indirect,
            },
            subtype: (!t.subtype.is_empty()).then(|| t.subtype.clone()),
            masking: t.masking,
            description: t.description.clone(),
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct ColumnImpact {
    pub column: ColumnRef,
    /// Column hops from the start.
    pub distance: u32,
    /// How the edge that reached this column uses the previous one; INDIRECT ends the branch.
    #[graphql(name = "use")]
    pub column_use: ColumnUse,
    /// Every DIRECT transformation on that edge masks the value.
    pub masked: bool,
    pub transformations: Vec<TransformationInfo>,
    /// Where the edge that reached this column comes from.
    pub source: EdgeSource,
    /// From the start column to this one.
    pub path: Vec<ColumnRef>,
}

#[derive(SimpleObject)]
pub struct ColumnEdge {
    pub from: ColumnRef,
    pub to: ColumnRef,
    pub transformations: Vec<TransformationInfo>,
    pub source: EdgeSource,
}

/// A dataset connected only by dataset-level lineage: its columns are unknown, not unaffected.
#[derive(SimpleObject)]
pub struct UnverifiedConsumer {
    pub dataset: NodeRef,
    pub job: NodeRef,
    /// The traversed column whose dataset the job connects to `dataset`.
    pub via: ColumnRef,
    pub path: Vec<ColumnRef>,
    pub reason: String,
}

#[derive(SimpleObject)]
pub struct ColumnLineage {
    pub start: ColumnRef,
    pub columns: Vec<ColumnImpact>,
    pub edges: Vec<ColumnEdge>,
    pub unverified: Vec<UnverifiedConsumer>,
    pub truncated: bool,
    pub depth: u32,
    pub watermark: Watermark,
}

pub(crate) fn column_lineage(start: ColumnRef, view: ColumnLineageView) -> ColumnLineage {
    let answer = view.answer;
    ColumnLineage {
        start,
        columns: answer
            .columns
            .iter()
            .map(|hit| ColumnImpact {
                column: column_ref(&(hit.dataset.clone(), hit.field.clone())),
                distance: hit.distance,
                column_use: if hit.direct { ColumnUse::Direct } else { ColumnUse::Indirect },
                masked: hit.masked,
                transformations: transformations(&hit.transformations),
                source: hit.source.into(),
                path: hit.path.iter().map(column_ref).collect(),
            })
            .collect(),
        edges: answer
            .edges
            .iter()
            .map(|edge| ColumnEdge {
                from: column_ref(&edge.from),
                to: column_ref(&edge.to),
                transformations: transformations(&edge.transformations),
                source: edge.source.into(),
            })
            .collect(),
        unverified: answer
            .unverified
            .iter()
            .map(|u| UnverifiedConsumer {
                dataset: NodeRef {
                    kind: NodeKind::Dataset,
                    namespace: u.dataset.namespace.clone(),
                    name: u.dataset.name.clone(),
                },
                job: NodeRef { kind: NodeKind::Job, namespace: u.job.namespace.clone(), name: u.job.name.clone() },
                via: column_ref(&u.via),
                path: u.path.iter().map(column_ref).collect(),
                reason: format!(
                    "job `{}` connects `{}` and `{}` without column lineage: its columns are unknown",
                    u.job, u.via.0, u.dataset
                ),
            })
            .collect(),
        truncated: answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}
