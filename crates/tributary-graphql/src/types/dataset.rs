//! `Dataset`: a dataset with its facets, schema versions, runs, owners and product.

use crate::scalars::refs;
pub use crate::scalars::{NodeRef, Watermark};
use async_graphql::{Json, Object, SimpleObject};
use serde_json::{Map, Value};
use tributary_service::model::{self, Timestamp};
use tributary_service::{DatasetView, RunSummary, SchemaVersionView};

pub(crate) fn time(timestamp: Option<Timestamp>) -> Option<String> {
    timestamp.map(Timestamp::to_rfc3339)
}

#[derive(SimpleObject, Clone)]
pub struct SchemaField {
    pub name: String,
    #[graphql(name = "type")]
    pub data_type: Option<String>,
    pub description: Option<String>,
    /// Nested fields of a struct, in order.
    pub fields: Vec<SchemaField>,
}

pub(crate) fn schema_fields(fields: &[model::SchemaField]) -> Vec<SchemaField> {
    fields
        .iter()
        .map(|field| SchemaField {
            name: field.name.clone(),
            data_type: field.data_type.clone(),
            description: field.description.clone(),
            fields: schema_fields(&field.fields),
        })
        .collect()
}

/// One distinct schema of a dataset. Identical field lists share one version.
#[derive(SimpleObject, Clone)]
pub struct SchemaVersion {
    /// Content hash of the field list.
    pub version: String,
    pub first_seen: String,
    pub last_seen: String,
    pub fields: Vec<SchemaField>,
    /// The `fields` array exactly as the `schema` facet carried it.
    pub raw_fields: Json<Value>,
}

impl From<&SchemaVersionView> for SchemaVersion {
    fn from(view: &SchemaVersionView) -> Self {
        Self {
            version: view.hash.clone(),
            first_seen: view.first_seen.to_rfc3339(),
            last_seen: view.last_seen.to_rfc3339(),
            fields: schema_fields(&view.fields),
            raw_fields: Json(view.raw_fields.clone()),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct RunRef {
    pub run_id: String,
    pub job: NodeRef,
    pub state: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

impl From<&RunSummary> for RunRef {
    fn from(run: &RunSummary) -> Self {
        Self {
            run_id: run.id.to_string(),
            job: NodeRef::from(&model::NodeRef::from(&run.job)),
            state: run.state.as_str().to_owned(),
            started_at: time(run.started_at),
            ended_at: time(run.ended_at),
        }
    }
}

pub struct Dataset(pub(crate) DatasetView);

#[Object]
impl Dataset {
    async fn namespace(&self) -> &str {
        &self.0.record.id.namespace
    }
    async fn name(&self) -> &str {
        &self.0.record.id.name
    }
    /// Current facets, keyed by facet name (standard and custom alike).
    async fn facets(&self) -> Json<Map<String, Value>> {
        Json(self.0.facets.clone())
    }
    /// One facet by name, or null.
    async fn facet(&self, name: String) -> Option<Json<Value>> {
        self.0.facets.get(&name).cloned().map(Json)
    }
    async fn current_schema(&self) -> Option<SchemaVersion> {
        self.0.current_schema.as_ref().map(SchemaVersion::from)
    }
    /// Every distinct schema seen, oldest first.
    async fn schema_versions(&self) -> Vec<SchemaVersion> {
        self.0.schema_versions.iter().map(SchemaVersion::from).collect()
    }
    /// Jobs that currently write this dataset.
    async fn producers(&self) -> Vec<NodeRef> {
        refs(&self.0.producers)
    }
    /// Jobs that currently read this dataset.
    async fn consumers(&self) -> Vec<NodeRef> {
        refs(&self.0.consumers)
    }
    /// Runs that read or wrote this dataset, most recent first.
    async fn recent_runs(&self) -> Vec<RunRef> {
        self.0.recent_runs.iter().map(RunRef::from).collect()
    }
    /// Other names (from the `symlinks` facet) that resolve to this dataset.
    async fn aliases(&self) -> Vec<NodeRef> {
        self.0.record.aliases.iter().map(|id| NodeRef::from(&model::NodeRef::from(id))).collect()
    }
    async fn created_at(&self) -> String {
        self.0.record.first_seen.to_rfc3339()
    }
    async fn updated_at(&self) -> String {
        self.0.record.last_seen.to_rfc3339()
    }
    async fn watermark(&self) -> Watermark {
        (&self.0.watermark).into()
    }
}
