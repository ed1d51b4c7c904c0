//! Lineage and metadata queries: datasets, jobs, runs, lineage, listings, events.

use crate::error::gql_error;
pub use crate::scalars::{Direction, NodeInput, Watermark};
use crate::scalars::{refs, service};
use crate::types::dataset::Dataset;
use crate::types::event::{EventPage, NodePage, StoredEvent};
use crate::types::job::Job;
use crate::types::lineage::{
    Lineage, LineageTable, TableColumns, edge_shape, lineage_from_view, lineage_request, lineage_table, lineage_view,
    lineage_written, written_plan,
};
use crate::types::run::Run;
use async_graphql::{Context, Json, Object, Result};
use tributary_service::AnswerShape;
use tributary_service::model;

/// Default page size of listings.
const DEFAULT_PAGE: usize = 100;

#[derive(Default)]
pub struct QueryCore;

/// The walk a lineage question asks for: datasets only, or with edges when the query selects
/// them.
fn shape(datasets_only: Option<bool>, edges_selected: bool) -> AnswerShape {
    if datasets_only == Some(true) { AnswerShape::DatasetsOnly } else { edge_shape(edges_selected) }
}

fn page_size(first: Option<usize>) -> usize {
    first.unwrap_or(DEFAULT_PAGE)
}

#[Object]
impl QueryCore {
    /// The events the server has ingested so far.
    async fn watermark(&self, context: &Context<'_>) -> Result<Watermark> {
        Ok(service(context).read_watermark().map_err(gql_error)?.into())
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
        let edges = context.look_ahead().field("edges").exists();
        let request = lineage_request(start, direction, depth, limit).shaped(shape(datasets_only, edges));
        if let Some(plan) = written_plan(context) {
            return lineage_written(service(context), request, plan).await;
        }
        let view = lineage_view(service(context), request).await?;
        Ok(lineage_from_view(view))
    }

    /// `lineage`'s answer in columns, for large closures: each namespace once, the nodes as
    /// parallel lists of names, namespace positions, kinds and distances, the edges as node
    /// positions (computed only when an edge list is selected). Same arguments as `lineage`.
    async fn lineage_table(
        &self,
        context: &Context<'_>,
        start: NodeInput,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
        datasets_only: Option<bool>,
    ) -> Result<LineageTable> {
        let selected = context.look_ahead();
        let columns = TableColumns::selected(|field| selected.field(field).exists());
        let request = lineage_request(start, direction, depth, limit).shaped(shape(datasets_only, columns.edges));
        lineage_table(service(context), request, columns).await
    }

    /// Column lineage from one column: DIRECT edges are followed transitively (the value
    /// travels on), INDIRECT ones are reported and end their branch. Datasets connected only
    /// by dataset-level lineage are listed as `unverified`. `depth` counts column hops.
    async fn column_lineage(
        &self,
        context: &Context<'_>,
        dataset: crate::types::column_lineage::DatasetInput,
        field: String,
        #[graphql(default_with = "Direction::Downstream")] direction: Direction,
        depth: Option<u32>,
        limit: Option<u32>,
    ) -> Result<crate::types::column_lineage::ColumnLineage> {
        let id = model::DatasetId::new(dataset.namespace, dataset.name);
        let service = service(context);
        let view = service
            .column_lineage(id.clone(), field.clone(), direction.into(), depth, limit.map(|limit| limit as usize))
            .await
            .map_err(gql_error)?;
        // A hub's answer is hundreds of thousands of columns with their paths: converted on a
        // read thread, not on the runtime that serves ingest.
        let start = crate::types::column_lineage::column_ref(&(id, field));
        service
            .encode_answer(move || crate::types::column_lineage::column_lineage(start, view))
            .await
            .map_err(gql_error)
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
