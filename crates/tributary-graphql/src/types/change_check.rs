//! `ChangeCheck`: the report of a proposed schema change and what it reaches.

use crate::scalars::{NodeKind, NodeRef, Watermark};
use crate::types::impact::{ImpactGroupOutput, impact_groups};
use crate::types::plain::{
    Plain, PlainList, WrittenJson, optional, plain_list, plain_object, write_bool, write_enum, write_optional_str,
    write_plain_items, write_plain_object, write_str,
};
use async_graphql::parser::types::SelectionSet;
use async_graphql::{Enum, Object, SimpleObject, Value};
use std::sync::Arc;
use tributary_service::ChangeReport;
use tributary_service::model::DatasetId;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFormat {
    /// An OpenLineage `schema` facet (`{"fields": [...]}`) or its fields array, as JSON.
    Openlineage,
    /// A dbt models YAML with a model contract.
    Dbt,
}

#[derive(SimpleObject)]
pub struct ChangeImpact {
    pub dataset: NodeRef,
    /// The reached column; `*` for every column; null when only dataset-level lineage exists.
    pub field: Option<String>,
    pub job: Option<NodeRef>,
    pub distance: u32,
    /// DIRECT, INDIRECT, UNVERIFIED (columns unknown) or DATASET (a dataset-level change).
    #[graphql(name = "use")]
    pub impact_use: String,
    /// Where the column edge that reached it comes from; null for impacts not found through a
    /// column edge (dataset-level, unverified, positional).
    pub source: Option<crate::types::column_lineage::EdgeSource>,
    pub path: Vec<String>,
}

#[derive(SimpleObject)]
pub struct CheckedChange {
    /// Field path (`address.zip`); empty for dataset-level changes.
    pub path: String,
    pub kind: String,
    /// Row of the breaking-change table.
    pub rule: u8,
    pub before: Option<String>,
    pub after: Option<String>,
    pub readers: String,
    pub history: String,
    pub writers: String,
    pub verdict: String,
    pub positional_risk: bool,
    pub summary: String,
    /// What a BREAKING or RISKY change reaches downstream, nearest first: at most 10,000
    /// (100 in a recorded report); `impactCount` says how many there are.
    pub impacts: Vec<ChangeImpact>,
    /// How many impacts the change has (`impacts` may list fewer).
    pub impact_count: u64,
}

#[derive(SimpleObject)]
pub struct UnsupportedCheck {
    pub check: String,
    pub reason: String,
}

pub struct ChangeCheck(Arc<ChangeReport>);

impl ChangeCheck {
    pub(crate) fn new(report: ChangeReport) -> Self {
        Self(Arc::new(report))
    }
}

pub(crate) fn dataset_node(id: &DatasetId) -> NodeRef {
    NodeRef { kind: NodeKind::Dataset, namespace: id.namespace.clone(), name: id.name.clone() }
}

#[Object]
impl ChangeCheck {
    async fn dataset(&self) -> NodeRef {
        dataset_node(&self.0.dataset)
    }
    /// Hash of the schema version compared against.
    async fn baseline(&self) -> &str {
        &self.0.baseline
    }
    /// The worst verdict: SAFE, PRODUCER-SIDE, RISKY or BREAKING.
    async fn verdict(&self) -> &'static str {
        self.0.verdict.as_str()
    }
    async fn changes(&self) -> PlainList<CheckedChange> {
        PlainList::new(
            self.0
                .changes
                .iter()
                .map(|checked| {
                    let c = &checked.change;
                    CheckedChange {
                        path: c.path.clone(),
                        kind: c.kind.as_str().to_owned(),
                        rule: c.rule,
                        before: c.before.clone(),
                        after: c.after.clone(),
                        readers: c.readers.as_str().to_owned(),
                        history: c.history.as_str().to_owned(),
                        writers: c.writers.as_str().to_owned(),
                        verdict: c.verdict.as_str().to_owned(),
                        positional_risk: c.positional_risk,
                        summary: c.summary.clone(),
                        impact_count: checked.impact_count as u64,
                        impacts: checked
                            .impacts
                            .iter()
                            .map(|i| ChangeImpact {
                                dataset: dataset_node(&i.dataset),
                                field: i.field.clone(),
                                job: i.job.as_ref().map(|j| NodeRef {
                                    kind: NodeKind::Job,
                                    namespace: j.namespace.clone(),
                                    name: j.name.clone(),
                                }),
                                distance: i.distance,
                                impact_use: i.impact_use.as_str().to_owned(),
                                source: i.source.map(Into::into),
                                path: i.path.clone(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        )
    }
    /// Checks the schemas could not support (no nullability, no keys…).
    async fn unsupported(&self) -> Vec<UnsupportedCheck> {
        self.0
            .unsupported
            .iter()
            .map(|u| UnsupportedCheck { check: u.check.clone(), reason: u.reason.clone() })
            .collect()
    }
    async fn affected_datasets(&self) -> PlainList<NodeRef> {
        PlainList::new(self.0.affected_datasets.iter().map(NodeRef::from).collect())
    }
    async fn affected_jobs(&self) -> PlainList<NodeRef> {
        PlainList::new(self.0.affected_jobs.iter().map(NodeRef::from).collect())
    }
    /// Affected nodes grouped product -> domain -> owners.
    async fn groups(&self) -> PlainList<ImpactGroupOutput> {
        impact_groups(self.0.groups.clone())
    }
    /// The report as markdown, ready to post on a pull request: within 65,536 characters, the
    /// nearest 20 impacts of each change and 50 groups at most, the rest counted.
    async fn markdown(&self) -> String {
        self.0.to_markdown()
    }
    /// The report as JSON (what `tributary check --output json` prints).
    async fn json(&self) -> WrittenJson<ChangeReport> {
        WrittenJson::new(Arc::clone(&self.0), ChangeReport::to_json, ChangeReport::write_json)
    }
    /// The events the check reflects: all up to here (a hub's check reads the index in
    /// slices, so events stored meanwhile may show in its later parts).
    async fn watermark(&self) -> Watermark {
        (&self.0.watermark).into()
    }
}

// A hub's check lists up to 10,000 impacts a change: the changes are written as a plain list
// (see `plain`), their impacts with them.
impl Plain for CheckedChange {
    const TYPE_NAME: &'static str = "CheckedChange";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "path" => Value::String(self.path.clone()),
            "kind" => Value::String(self.kind.clone()),
            "rule" => Value::Number(self.rule.into()),
            "before" => optional(&self.before),
            "after" => optional(&self.after),
            "readers" => Value::String(self.readers.clone()),
            "history" => Value::String(self.history.clone()),
            "writers" => Value::String(self.writers.clone()),
            "verdict" => Value::String(self.verdict.clone()),
            "positionalRisk" => Value::Boolean(self.positional_risk),
            "summary" => Value::String(self.summary.clone()),
            "impacts" => plain_list(&self.impacts, selection)?,
            "impactCount" => Value::Number(self.impact_count.into()),
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "path" => write_str(out, &self.path),
            "kind" => write_str(out, &self.kind),
            "rule" => serde_json::to_writer(&mut *out, &self.rule).ok()?,
            "before" => write_optional_str(out, self.before.as_deref()),
            "after" => write_optional_str(out, self.after.as_deref()),
            "readers" => write_str(out, &self.readers),
            "history" => write_str(out, &self.history),
            "writers" => write_str(out, &self.writers),
            "verdict" => write_str(out, &self.verdict),
            "positionalRisk" => write_bool(out, self.positional_risk),
            "summary" => write_str(out, &self.summary),
            "impacts" => write_plain_items(&self.impacts, selection, out)?,
            "impactCount" => serde_json::to_writer(&mut *out, &self.impact_count).ok()?,
            _ => return None,
        }
        Some(())
    }
}

impl Plain for ChangeImpact {
    const TYPE_NAME: &'static str = "ChangeImpact";

    fn plain_field(&self, name: &str, selection: &SelectionSet) -> Option<Value> {
        Some(match name {
            "dataset" => plain_object(&self.dataset, selection)?,
            "field" => optional(&self.field),
            "job" => match &self.job {
                Some(job) => plain_object(job, selection)?,
                None => Value::Null,
            },
            "distance" => Value::Number(self.distance.into()),
            "use" => Value::String(self.impact_use.clone()),
            "source" => self.source.map_or(Value::Null, async_graphql::resolver_utils::enum_value),
            "path" => Value::List(self.path.iter().cloned().map(Value::String).collect()),
            _ => return None,
        })
    }

    fn write_field(&self, name: &str, selection: &SelectionSet, out: &mut Vec<u8>) -> Option<()> {
        match name {
            "dataset" => write_plain_object(&self.dataset, selection, out)?,
            "field" => write_optional_str(out, self.field.as_deref()),
            "job" => match &self.job {
                Some(job) => write_plain_object(job, selection, out)?,
                None => out.extend_from_slice(b"null"),
            },
            "distance" => serde_json::to_writer(&mut *out, &self.distance).ok()?,
            "use" => write_str(out, &self.impact_use),
            "source" => match self.source {
                Some(source) => write_enum(out, source),
                None => out.extend_from_slice(b"null"),
            },
            "path" => {
                out.push(b'[');
                for (index, step) in self.path.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write_str(out, step);
                }
                out.push(b']');
            }
            _ => return None,
        }
        Some(())
    }
}
