//! `Job`: a job with its current inputs and outputs and its runs.

use crate::error::gql_error;
pub use crate::scalars::{NodeRef, Watermark};
use crate::scalars::{refs, service};
use crate::types::dataset::RunRef;
use async_graphql::{Context, Json, Object, Result};
use serde_json::{Map, Value};
use tributary_service::JobView;

pub struct Job(pub(crate) JobView);

#[Object]
impl Job {
    async fn namespace(&self) -> &str {
        &self.0.record.id.namespace
    }
    async fn name(&self) -> &str {
        &self.0.record.id.name
    }
    async fn facets(&self) -> Json<Map<String, Value>> {
        Json(self.0.record.visible_facets())
    }
    /// Current inputs: those of the job's latest completed run (or JobEvent).
    async fn inputs(&self) -> Vec<NodeRef> {
        refs(&self.0.inputs)
    }
    /// Current outputs, as `inputs`.
    async fn outputs(&self) -> Vec<NodeRef> {
        refs(&self.0.outputs)
    }
    /// Most recent runs first.
    async fn runs(&self, context: &Context<'_>, #[graphql(default = 10)] first: usize) -> Result<Vec<RunRef>> {
        let id = &self.0.record.id;
        let runs = service(context).job_runs(&id.namespace, &id.name, first).await.map_err(gql_error)?;
        Ok(runs.iter().map(RunRef::from).collect())
    }
    async fn created_at(&self) -> String {
        self.0.record.first_seen.to_rfc3339()
    }
    async fn updated_at(&self) -> String {
        self.0.record.last_seen.to_rfc3339()
    }
    /// Why the SQL of the job's `sql` facet could not be turned into column lineage (the
    /// parser's message); null when it could, or when the job sends no SQL.
    async fn sql_error(&self) -> Option<&str> {
        self.0.record.sql_error.as_deref()
    }
    async fn watermark(&self) -> Watermark {
        (&self.0.watermark).into()
    }
}
