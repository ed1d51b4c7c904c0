//! `Run`: one run of a job, with the datasets it read and wrote.

pub use crate::scalars::{NodeRef, Watermark};
use crate::types::dataset::time;
use async_graphql::{Json, Object, SimpleObject};
use serde_json::{Map, Value};
use tributary_service::model;

/// A dataset a run read or wrote, with the run-specific facets.
#[derive(SimpleObject)]
pub struct RunDataset {
    pub dataset: NodeRef,
    /// `inputFacets` or `outputFacets` of this run.
    pub facets: Json<Map<String, Value>>,
}

pub struct Run(pub(crate) model::RunRecord, pub(crate) model::Watermark);

pub(crate) fn run_datasets(datasets: &std::collections::BTreeMap<model::DatasetId, model::Facets>) -> Vec<RunDataset> {
    datasets
        .iter()
        .map(|(id, facets)| RunDataset {
            dataset: NodeRef::from(&model::NodeRef::from(id)),
            facets: Json(model::visible_facets(facets)),
        })
        .collect()
}

#[Object]
impl Run {
    async fn run_id(&self) -> String {
        self.0.id.to_string()
    }
    async fn job(&self) -> NodeRef {
        NodeRef::from(&model::NodeRef::from(&self.0.job))
    }
    /// START, RUNNING, COMPLETE, ABORT, FAIL, OTHER, or UNKNOWN when no event said.
    async fn state(&self) -> &'static str {
        self.0.state.as_str()
    }
    async fn started_at(&self) -> Option<String> {
        time(self.0.started_at)
    }
    async fn ended_at(&self) -> Option<String> {
        time(self.0.ended_at)
    }
    async fn facets(&self) -> Json<Map<String, Value>> {
        Json(model::visible_facets(&self.0.facets))
    }
    async fn inputs(&self) -> Vec<NodeRef> {
        self.0.inputs.keys().map(|id| NodeRef::from(&model::NodeRef::from(id))).collect()
    }
    async fn outputs(&self) -> Vec<NodeRef> {
        self.0.outputs.keys().map(|id| NodeRef::from(&model::NodeRef::from(id))).collect()
    }
    async fn input_details(&self) -> Vec<RunDataset> {
        run_datasets(&self.0.inputs)
    }
    async fn output_details(&self) -> Vec<RunDataset> {
        run_datasets(&self.0.outputs)
    }
    /// From the `parent` run facet.
    async fn parent_run_id(&self) -> Option<String> {
        self.0.parent.as_ref().map(|(id, _)| id.to_string())
    }
    async fn parent_job(&self) -> Option<NodeRef> {
        self.0.parent.as_ref().map(|(_, job)| NodeRef::from(&model::NodeRef::from(job)))
    }
    /// Sequences of this run's events, ascending.
    async fn event_sequences(&self) -> Vec<u64> {
        self.0.events.clone()
    }
    async fn watermark(&self) -> Watermark {
        (&self.1).into()
    }
}
