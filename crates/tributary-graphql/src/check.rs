//! The change check for review bots.

use async_graphql::{Context, Enum, Json, Object, Result, SimpleObject};
use serde_json::Value;
use tributary_service::model::DatasetId;
use tributary_service::{ChangeReport, SchemaFormat as ServiceFormat};

use crate::columns::DatasetInput;
use crate::error::gql_error;
use crate::mesh::{ImpactGroupOutput, impact_groups};
use crate::scalars::{NodeKind, NodeRef, Watermark, service};

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
    pub source: Option<crate::columns::EdgeSource>,
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
    /// What a BREAKING or RISKY change reaches downstream.
    pub impacts: Vec<ChangeImpact>,
}

#[derive(SimpleObject)]
pub struct UnsupportedCheck {
    pub check: String,
    pub reason: String,
}

pub struct ChangeCheck(ChangeReport);

fn dataset_node(id: &DatasetId) -> NodeRef {
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
    async fn changes(&self) -> Vec<CheckedChange> {
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
            .collect()
    }
    /// Checks the schemas could not support (no nullability, no keys…).
    async fn unsupported(&self) -> Vec<UnsupportedCheck> {
        self.0
            .unsupported
            .iter()
            .map(|u| UnsupportedCheck { check: u.check.clone(), reason: u.reason.clone() })
            .collect()
    }
    async fn affected_datasets(&self) -> Vec<NodeRef> {
        self.0.affected_datasets.iter().map(NodeRef::from).collect()
    }
    async fn affected_jobs(&self) -> Vec<NodeRef> {
        self.0.affected_jobs.iter().map(NodeRef::from).collect()
    }
    /// Affected nodes grouped product -> domain -> owners.
    async fn groups(&self) -> Vec<ImpactGroupOutput> {
        impact_groups(self.0.groups.clone())
    }
    /// The report as markdown, ready to post on a pull request.
    async fn markdown(&self) -> String {
        self.0.to_markdown()
    }
    /// The report as JSON (what `tributary check --format json` prints).
    async fn json(&self) -> Json<Value> {
        Json(self.0.to_json())
    }
    async fn watermark(&self) -> Watermark {
        self.0.watermark.into()
    }
}

#[derive(Default)]
pub struct CheckQuery;

#[Object]
impl CheckQuery {
    /// If `dataset`'s schema changed to `schema`, what breaks downstream, where, owned by whom?
    async fn check_change(
        &self,
        context: &Context<'_>,
        dataset: DatasetInput,
        schema: String,
        #[graphql(default_with = "SchemaFormat::Openlineage")] format: SchemaFormat,
        dbt_model: Option<String>,
    ) -> Result<ChangeCheck> {
        let format = match format {
            SchemaFormat::Openlineage => ServiceFormat::OpenLineage,
            SchemaFormat::Dbt => ServiceFormat::Dbt,
        };
        let report = service(context)
            .check_change_text(DatasetId::new(dataset.namespace, dataset.name), schema, format, dbt_model)
            .await
            .map_err(gql_error)?;
        Ok(ChangeCheck(report))
    }
}

/// A schema change seen in ingested events.
#[derive(SimpleObject)]
pub struct SchemaChange {
    /// The event that carried the new schema.
    pub sequence: u64,
    pub time: String,
    pub dataset: NodeRef,
    pub from_version: String,
    pub to_version: String,
    pub verdict: String,
    /// The change report at that moment (as `checkChange { json }`).
    pub report: Json<Value>,
}

#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// Diffs two stored schema versions of a dataset (`schemaVersions { version }`; a unique
    /// prefix of 8 or more characters will do), classified, with what the changes reach now.
    async fn schema_diff(
        &self,
        context: &Context<'_>,
        dataset: DatasetInput,
        from: String,
        to: String,
    ) -> Result<ChangeCheck> {
        let report = service(context)
            .diff_schema_versions(DatasetId::new(dataset.namespace, dataset.name), from, to)
            .await
            .map_err(gql_error)?;
        Ok(ChangeCheck(report))
    }

    /// Schema changes seen in ingested events, newest first.
    async fn schema_changes(
        &self,
        context: &Context<'_>,
        dataset: Option<DatasetInput>,
        since: Option<String>,
        min_verdict: Option<String>,
        #[graphql(default = 100)] first: usize,
    ) -> Result<Vec<SchemaChange>> {
        use tributary_service::{SchemaChangeFilter, ServiceError, parse_verdict};
        let since = since
            .map(|text| {
                tributary_service::model::Timestamp::parse(&text)
                    .map_err(|e| ServiceError::invalid("since", e.to_string()))
            })
            .transpose()
            .map_err(gql_error)?;
        let min_verdict = min_verdict
            .map(|text| {
                parse_verdict(&text).ok_or_else(|| {
                    ServiceError::invalid("minVerdict", "must be SAFE, PRODUCER-SIDE, RISKY or BREAKING")
                })
            })
            .transpose()
            .map_err(gql_error)?;
        if first == 0 || first > 1000 {
            return Err(gql_error(ServiceError::invalid("first", "must be between 1 and 1000")));
        }
        let filter =
            SchemaChangeFilter { dataset: dataset.map(|d| DatasetId::new(d.namespace, d.name)), since, min_verdict };
        let records = service(context).schema_changes(filter, first).await.map_err(gql_error)?;
        Ok(records
            .into_iter()
            .map(|r| SchemaChange {
                sequence: r.sequence,
                time: r.time.to_rfc3339(),
                dataset: dataset_node(&r.dataset),
                from_version: r.from,
                to_version: r.to,
                verdict: r.verdict.as_str().to_owned(),
                report: Json(r.report),
            })
            .collect())
    }
}
