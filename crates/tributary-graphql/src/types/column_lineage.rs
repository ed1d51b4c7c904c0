//! `ColumnLineage`: column-level lineage, its edges, uses and unverified consumers.

use crate::scalars::{NodeKind, NodeRef, Watermark};
use crate::types::plain::{
    Plain, PlainList, optional, plain_list, plain_object, write_bool, write_enum, write_optional_str,
    write_plain_items, write_plain_object, write_str,
};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Enum, InputObject, SimpleObject, Value};
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

// A column hub's answer holds hundreds of thousands of columns, each with its path: its lists
// are `PlainList`s, written as JSON on the read threads over HTTP when the selection allows
// (see `plain`), not resolved a future per field on the runtime.
#[derive(SimpleObject)]
pub struct ColumnLineage {
    pub start: ColumnRef,
    pub columns: PlainList<ColumnImpact>,
    pub edges: PlainList<ColumnEdge>,
    pub unverified: PlainList<UnverifiedConsumer>,
    pub truncated: bool,
    pub depth: u32,
    pub watermark: Watermark,
}

pub(crate) fn column_lineage(start: ColumnRef, view: ColumnLineageView) -> ColumnLineage {
    let answer = view.answer;
    ColumnLineage {
        start,
        columns: PlainList::new(
            answer
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
        ),
        edges: PlainList::new(
            answer
                .edges
                .iter()
                .map(|edge| ColumnEdge {
                    from: column_ref(&edge.from),
                    to: column_ref(&edge.to),
                    transformations: transformations(&edge.transformations),
                    source: edge.source.into(),
                })
                .collect(),
        ),
        unverified: PlainList::new(
            answer
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
        ),
        truncated: answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}

impl Plain for ColumnRef {
    const TYPE_NAME: &'static str = "ColumnRef";

    fn plain_field(&self, name: &str, _selection: &SelectionSet) -> Option<Value> {
        Some(Value::String(self.text(name)?.to_owned()))
    }

    fn write_field(&self, name: &str, _selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        write_str(out, self.text(name)?);
        Some(())
    }
}

impl ColumnRef {
    fn text(&self, field: &str) -> Option<&str> {
        Some(match field {
            "namespace" => &self.namespace,
            "name" => &self.name,
            "field" => &self.field,
            _ => return None,
        })
    }
}

impl Plain for TransformationInfo {
    const TYPE_NAME: &'static str = "Transformation";

    fn plain_field(&self, name: &str, _selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "type" => async_graphql::resolver_utils::enum_value(self.kind),
            "subtype" => optional(&self.subtype),
            "masking" => Value::Boolean(self.masking),
            "description" => optional(&self.description),
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, _selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "type" => write_enum(out, self.kind),
            "subtype" => write_optional_str(out, self.subtype.as_deref()),
            "masking" => write_bool(out, self.masking),
            "description" => write_optional_str(out, self.description.as_deref()),
            _ => return None,
        }
        Some(())
    }
}

impl Plain for ColumnImpact {
    const TYPE_NAME: &'static str = "ColumnImpact";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "column" => plain_object(&self.column, selection)?,
            "distance" => Value::Number(self.distance.into()),
            "use" => async_graphql::resolver_utils::enum_value(self.column_use),
            "masked" => Value::Boolean(self.masked),
            "transformations" => plain_list(&self.transformations, selection)?,
            "source" => async_graphql::resolver_utils::enum_value(self.source),
            "path" => plain_list(&self.path, selection)?,
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "column" => write_plain_object(&self.column, selection, out)?,
            "distance" => serde_json::to_writer(&mut *out, &self.distance).ok()?,
            "use" => write_enum(out, self.column_use),
            "masked" => write_bool(out, self.masked),
            "transformations" => write_plain_items(&self.transformations, selection, out)?,
            "source" => write_enum(out, self.source),
            "path" => write_plain_items(&self.path, selection, out)?,
            _ => return None,
        }
        Some(())
    }
}

impl Plain for ColumnEdge {
    const TYPE_NAME: &'static str = "ColumnEdge";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "from" => plain_object(&self.from, selection)?,
            "to" => plain_object(&self.to, selection)?,
            "transformations" => plain_list(&self.transformations, selection)?,
            "source" => async_graphql::resolver_utils::enum_value(self.source),
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "from" => write_plain_object(&self.from, selection, out)?,
            "to" => write_plain_object(&self.to, selection, out)?,
            "transformations" => write_plain_items(&self.transformations, selection, out)?,
            "source" => write_enum(out, self.source),
            _ => return None,
        }
        Some(())
    }
}

impl Plain for UnverifiedConsumer {
    const TYPE_NAME: &'static str = "UnverifiedConsumer";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "dataset" => plain_object(&self.dataset, selection)?,
            "job" => plain_object(&self.job, selection)?,
            "via" => plain_object(&self.via, selection)?,
            "path" => plain_list(&self.path, selection)?,
            "reason" => Value::String(self.reason.clone()),
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "dataset" => write_plain_object(&self.dataset, selection, out)?,
            "job" => write_plain_object(&self.job, selection, out)?,
            "via" => write_plain_object(&self.via, selection, out)?,
            "path" => write_plain_items(&self.path, selection, out)?,
            "reason" => write_str(out, &self.reason),
            _ => return None,
        }
        Some(())
    }
}
