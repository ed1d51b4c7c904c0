//! GraphQL types and resolvers. Wire types stay here; they convert from service views.

use async_graphql::{Context, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use tributary_service::model::{self, Timestamp};
use tributary_service::{AnswerShape, DatasetView, JobView, RunSummary, SchemaVersionView, Service};

use crate::error::gql_error;
pub use crate::scalars::{Direction, EdgeKind, NodeInput, NodeKind, NodeRef, Watermark};
use crate::scalars::{refs, service};

/// Default page size of listings.
const DEFAULT_PAGE: usize = 100;

fn time(timestamp: Option<Timestamp>) -> Option<String> {
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

fn schema_fields(fields: &[model::SchemaField]) -> Vec<SchemaField> {
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

pub struct Dataset(DatasetView);

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
        self.0.watermark.into()
    }
}

pub struct Job(JobView);

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
        self.0.watermark.into()
    }
}

/// A dataset a run read or wrote, with the run-specific facets.
#[derive(SimpleObject)]
pub struct RunDataset {
    pub dataset: NodeRef,
    /// `inputFacets` or `outputFacets` of this run.
    pub facets: Json<Map<String, Value>>,
}

pub struct Run(model::RunRecord, model::Watermark);

fn run_datasets(datasets: &std::collections::BTreeMap<model::DatasetId, model::Facets>) -> Vec<RunDataset> {
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
        self.1.into()
    }
}

#[derive(SimpleObject)]
pub struct LineageNode {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
    /// Job hops from the start: a job reading the start and what it writes are at 1.
    pub distance: u32,
}

#[derive(SimpleObject)]
pub struct LineageEdge {
    pub from: NodeRef,
    pub to: NodeRef,
    pub kind: EdgeKind,
}

#[derive(SimpleObject)]
pub struct Lineage {
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    /// The depth (job hops) the answer was computed to.
    pub depth: u32,
    pub watermark: Watermark,
}

#[derive(SimpleObject)]
pub struct NodePage {
    pub nodes: Vec<NodeRef>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub watermark: Watermark,
}

#[derive(SimpleObject)]
pub struct StoredEvent {
    /// Position in ingest order.
    pub sequence: u64,
    /// The event as received (JSON-equal; keys sorted).
    pub event: Json<Value>,
}

#[derive(SimpleObject)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `after` for the next page; null when no more events exist now.
    pub next_after: Option<u64>,
    pub watermark: Watermark,
}

#[derive(Default)]
pub struct QueryCore;

fn page_size(first: Option<usize>) -> usize {
    first.unwrap_or(DEFAULT_PAGE)
}

#[Object]
impl QueryCore {
    /// The events the server has ingested so far.
    async fn watermark(&self, context: &Context<'_>) -> Watermark {
        service(context).watermark().into()
    }

    /// A dataset by name, or by one of its symlink aliases; null when unknown.
    async fn dataset(&self, context: &Context<'_>, namespace: String, name: String) -> Result<Option<Dataset>> {
        let view = service(context).dataset(&namespace, &name).await.map_err(gql_error)?;
        Ok(view.map(Dataset))
    }

    /// A job by name; null when unknown.
    async fn job(&self, context: &Context<'_>, namespace: String, name: String) -> Result<Option<Job>> {
        let view = service(context).job(&namespace, &name).await.map_err(gql_error)?;
        Ok(view.map(Job))
    }

    /// A run by its UUID; null when unknown.
    async fn run(&self, context: &Context<'_>, run_id: String) -> Result<Option<Run>> {
        let found = service(context).run(&run_id).await.map_err(gql_error)?;
        Ok(found.map(|(run, watermark)| Run(run, watermark)))
    }

    /// Lineage from a dataset or job. `depth` counts job hops (server default when
    /// omitted); `limit` caps the nodes returned, and a cut answer says `truncated`.
    /// `datasetsOnly` returns dataset nodes only (the impact question): jobs are still
    /// followed as hops and count towards `limit`, and no edges are returned.
    async fn lineage(
        &self,
        context: &Context<'_>,
        start: NodeInput,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
        datasets_only: Option<bool>,
    ) -> Result<Lineage> {
        let shape = if datasets_only == Some(true) {
            AnswerShape::DatasetsOnly
        } else {
            edge_shape(context.look_ahead().field("edges").exists())
        };
        let view = lineage_view(service(context), start.into(), direction, depth, limit, shape).await?;
        Ok(lineage_from_view(view))
    }

    /// Column lineage from one column: DIRECT edges are followed transitively (the value
    /// travels on), INDIRECT ones are reported and end their branch. Datasets connected only
    /// by dataset-level lineage are listed as `unverified`. `depth` counts column hops.
    async fn column_lineage(
        &self,
        context: &Context<'_>,
        dataset: crate::columns::DatasetInput,
        field: String,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
    ) -> Result<crate::columns::ColumnLineage> {
        let id = model::DatasetId::new(dataset.namespace, dataset.name);
        let view = service(context)
            .column_lineage(id.clone(), field.clone(), direction.into(), depth, limit.map(|limit| limit as usize))
            .await
            .map_err(gql_error)?;
        Ok(crate::columns::column_lineage(crate::columns::column_ref(&(id, field)), view))
    }

    /// Datasets by exact namespace and case-insensitive name substring, in name order.
    async fn datasets(
        &self,
        context: &Context<'_>,
        namespace: Option<String>,
        search: Option<String>,
        first: Option<usize>,
        after: Option<String>,
    ) -> Result<NodePage> {
        let page =
            service(context).list_datasets(namespace, search, after, page_size(first)).await.map_err(gql_error)?;
        Ok(NodePage { nodes: refs(&page.nodes), next_cursor: page.next_cursor, watermark: page.watermark.into() })
    }

    /// Jobs, as `datasets`.
    async fn jobs(
        &self,
        context: &Context<'_>,
        namespace: Option<String>,
        search: Option<String>,
        first: Option<usize>,
        after: Option<String>,
    ) -> Result<NodePage> {
        let page = service(context).list_jobs(namespace, search, after, page_size(first)).await.map_err(gql_error)?;
        Ok(NodePage { nodes: refs(&page.nodes), next_cursor: page.next_cursor, watermark: page.watermark.into() })
    }

    /// Stored events in ingest order, after sequence `after`.
    async fn events(&self, context: &Context<'_>, after: Option<u64>, first: Option<usize>) -> Result<EventPage> {
        let page = service(context).events(after.unwrap_or(0), page_size(first)).await.map_err(gql_error)?;
        Ok(EventPage {
            events: page
                .events
                .into_iter()
                .map(|(sequence, event)| StoredEvent { sequence, event: Json(event) })
                .collect(),
            next_after: page.next_after,
            watermark: page.watermark.into(),
        })
    }
}

/// Runs a lineage query in the given shape.
pub(crate) async fn lineage_view(
    service: &Service,
    start: model::NodeRef,
    direction: Direction,
    depth: Option<u32>,
    limit: Option<u32>,
    shape: AnswerShape,
) -> Result<tributary_service::LineageView> {
    let limit = limit.map(|limit| limit as usize);
    service.lineage_shaped(start, direction.into(), depth, limit, shape).await.map_err(gql_error)
}

/// Edges are built only when the caller's query selects them.
pub(crate) fn edge_shape(edges_selected: bool) -> AnswerShape {
    if edges_selected { AnswerShape::Full } else { AnswerShape::Nodes }
}

pub(crate) fn lineage_from_view(view: tributary_service::LineageView) -> Lineage {
    // The answer is consumed: names move into the output instead of being copied.
    let owned = |node: model::NodeRef| NodeRef { kind: node.kind.into(), namespace: node.namespace, name: node.name };
    Lineage {
        nodes: view
            .answer
            .nodes
            .into_iter()
            .map(|node| LineageNode {
                kind: node.node.kind.into(),
                namespace: node.node.namespace,
                name: node.node.name,
                distance: node.distance,
            })
            .collect(),
        edges: view
            .answer
            .edges
            .into_iter()
            .map(|edge| LineageEdge {
                from: owned(edge.from),
                to: owned(edge.to),
                kind: match edge.kind {
                    model::EdgeKind::Reads => EdgeKind::Reads,
                    model::EdgeKind::Writes => EdgeKind::Writes,
                },
            })
            .collect(),
        truncated: view.answer.truncated,
        depth: view.depth,
        watermark: view.watermark.into(),
    }
}
