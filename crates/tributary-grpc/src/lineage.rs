//! `tributary.v1.Lineage`.

use tonic::{Request, Response, Status};
use tributary_service::model::NodeKind;
use tributary_service::{AnswerShape, LineageRequest, Service, ServiceError};

use crate::convert::{
    direction, json_text, node, node_from_proto, run_summary, schema_version, status, time, watermark,
};
use crate::proto;

/// Default and largest page for listings.
const DEFAULT_PAGE: u32 = 100;

pub(crate) struct LineageApi {
    service: Service,
}

impl LineageApi {
    pub(crate) fn new(service: Service) -> Self {
        Self { service }
    }
}

/// `StreamLineage`'s chunks, converted as the transport polls for them.
type LineageChunks =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<crate::chunk::LineageChunk, Status>> + Send + 'static>>;

/// What a `LineageRequest` asks, as the service's request.
fn lineage_request(request: proto::LineageRequest) -> Result<LineageRequest, ServiceError> {
    let start = node_from_proto(request.start, "start")?;
    let shape = if request.datasets_only {
        AnswerShape::DatasetsOnly
    } else if request.omit_edges {
        AnswerShape::Nodes
    } else {
        AnswerShape::Full
    };
    Ok(LineageRequest::new(start, direction(request.direction)?)
        .depth((request.depth > 0).then_some(request.depth))
        .limit((request.limit > 0).then_some(request.limit as usize))
        .shaped(shape))
}

fn not_found(what: String) -> Status {
    status(ServiceError::NotFound(what))
}

fn page_size(requested: u32) -> usize {
    if requested == 0 { DEFAULT_PAGE as usize } else { requested as usize }
}

/// One page of dataset or job names: the nodes, the next page token, the watermark.
async fn list(
    service: &Service,
    kind: NodeKind,
    request: proto::ListRequest,
) -> Result<(Vec<proto::NodeRef>, String, Option<proto::Watermark>), Status> {
    let given = |text: String| Some(text).filter(|s| !s.is_empty());
    let (namespace, search, token) = (given(request.namespace), given(request.search), given(request.page_token));
    let size = page_size(request.page_size);
    let page = match kind {
        NodeKind::Dataset => service.list_datasets(namespace, search, token, size).await,
        NodeKind::Job => service.list_jobs(namespace, search, token, size).await,
    }
    .map_err(status)?;
    Ok((page.nodes.iter().map(node).collect(), page.next_cursor.unwrap_or_default(), Some(watermark(page.watermark))))
}

#[tonic::async_trait]
impl proto::lineage_server::Lineage for LineageApi {
    async fn get_dataset(
        &self,
        request: Request<proto::GetDatasetRequest>,
    ) -> Result<Response<proto::Dataset>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let view = service
            .dataset(&request.namespace, &request.name)
            .await
            .map_err(status)?
            .ok_or_else(|| not_found(format!("unknown dataset `{}:{}`", request.namespace, request.name)))?;
        Ok(Response::new(proto::Dataset {
            namespace: view.record.id.namespace.clone(),
            name: view.record.id.name.clone(),
            facets_json: json_text(&view.facets),
            current_schema: view.current_schema.as_ref().map(schema_version),
            schema_versions: view.schema_versions.iter().map(schema_version).collect(),
            producers: view.producers.iter().map(node).collect(),
            consumers: view.consumers.iter().map(node).collect(),
            recent_runs: view.recent_runs.iter().map(run_summary).collect(),
            aliases: view.record.aliases.iter().map(|alias| node(&alias.into())).collect(),
            created_at: view.record.first_seen.to_rfc3339(),
            updated_at: view.record.last_seen.to_rfc3339(),
            watermark: Some(watermark(view.watermark)),
        }))
    }

    async fn get_job(&self, request: Request<proto::GetJobRequest>) -> Result<Response<proto::Job>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let view = service
            .job(&request.namespace, &request.name)
            .await
            .map_err(status)?
            .ok_or_else(|| not_found(format!("unknown job `{}:{}`", request.namespace, request.name)))?;
        Ok(Response::new(proto::Job {
            namespace: view.record.id.namespace.clone(),
            name: view.record.id.name.clone(),
            facets_json: json_text(&view.record.visible_facets()),
            inputs: view.inputs.iter().map(node).collect(),
            outputs: view.outputs.iter().map(node).collect(),
            recent_runs: view.recent_runs.iter().map(run_summary).collect(),
            created_at: view.record.first_seen.to_rfc3339(),
            updated_at: view.record.last_seen.to_rfc3339(),
            watermark: Some(watermark(view.watermark)),
            sql_error: view.record.sql_error.clone().unwrap_or_default(),
        }))
    }

    async fn get_run(&self, request: Request<proto::GetRunRequest>) -> Result<Response<proto::Run>, Status> {
        let service = crate::caller(&self.service, &request);
        let run_id = request.into_inner().run_id;
        let (run, mark) =
            service.run(&run_id).await.map_err(status)?.ok_or_else(|| not_found(format!("unknown run `{run_id}`")))?;
        Ok(Response::new(proto::Run {
            run_id: run.id.to_string(),
            job: Some(node(&(&run.job).into())),
            state: run.state.as_str().to_owned(),
            started_at: time(run.started_at),
            ended_at: time(run.ended_at),
            facets_json: json_text(&tributary_service::model::visible_facets(&run.facets)),
            inputs: run.inputs.keys().map(|id| node(&id.into())).collect(),
            outputs: run.outputs.keys().map(|id| node(&id.into())).collect(),
            parent_run_id: run.parent.as_ref().map(|(id, _)| id.to_string()).unwrap_or_default(),
            parent_job: run.parent.as_ref().map(|(_, job)| node(&job.into())),
            event_sequences: run.events.clone(),
            watermark: Some(watermark(mark)),
        }))
    }

    async fn get_lineage(
        &self,
        request: Request<proto::LineageRequest>,
    ) -> Result<Response<crate::chunk::LineageResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let writer = crate::chunk::ResponseWriter::new(crate::chunk::Columns::of(&request));
        let lineage = lineage_request(request).map_err(status)?;
        let (writer, outline) = service.lineage_into(lineage, writer).await.map_err(status)?;
        Ok(Response::new(writer.finish(outline.truncated, &crate::convert::watermark(outline.watermark))))
    }

    type StreamLineageStream = LineageChunks;

    async fn stream_lineage(
        &self,
        request: Request<proto::LineageRequest>,
    ) -> Result<Response<Self::StreamLineageStream>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let columns = crate::chunk::Columns::of(&request);
        let lineage = lineage_request(request).map_err(status)?;
        // The answer is written on a blocking thread and each chunk sent as soon as it is full;
        // an error (unknown start, bad limit) comes before any chunk and answers the call.
        let (sender, mut chunks) = tokio::sync::mpsc::unbounded_channel();
        let writer = crate::chunk::ChunkWriter::new(sender.clone(), columns);
        tokio::spawn(async move {
            match service.lineage_into(lineage, writer).await {
                Ok((writer, outline)) => {
                    writer.finish(outline.truncated, &crate::convert::watermark(outline.watermark))
                }
                // Err only when the call is gone: no one is left to tell.
                Err(error) => drop(sender.send(Err(status(error)))),
            }
        });
        let first = chunks
            .recv()
            .await
            .ok_or_else(|| Status::internal("the lineage answer ended before its first chunk"))??;
        let rest = tokio_stream::wrappers::UnboundedReceiverStream::new(chunks);
        Ok(Response::new(Box::pin(futures::StreamExt::chain(futures::stream::iter([Ok(first)]), rest))))
    }

    async fn get_column_lineage(
        &self,
        request: Request<proto::ColumnLineageRequest>,
    ) -> Result<Response<proto::ColumnLineageResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let dataset = tributary_service::model::DatasetId::new(request.namespace, request.name);
        let direction = direction(request.direction).map_err(status)?;
        let depth = (request.depth > 0).then_some(request.depth);
        let limit = (request.limit > 0).then_some(request.limit as usize);
        let view = service
            .column_lineage(dataset.clone(), request.field.clone(), direction, depth, limit)
            .await
            .map_err(status)?;
        let start = crate::convert::column_ref(&(dataset, request.field));
        Ok(Response::new(crate::convert::column_lineage(start, view)))
    }

    async fn list_datasets(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListDatasetsResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let (datasets, next_page_token, watermark) = list(&service, NodeKind::Dataset, request.into_inner()).await?;
        Ok(Response::new(proto::ListDatasetsResponse { datasets, next_page_token, watermark }))
    }

    async fn list_jobs(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListJobsResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let (jobs, next_page_token, watermark) = list(&service, NodeKind::Job, request.into_inner()).await?;
        Ok(Response::new(proto::ListJobsResponse { jobs, next_page_token, watermark }))
    }

    async fn list_events(
        &self,
        request: Request<proto::ListEventsRequest>,
    ) -> Result<Response<proto::ListEventsResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let page = service.events(request.after_sequence, page_size(request.page_size)).await.map_err(status)?;
        Ok(Response::new(proto::ListEventsResponse {
            events: page
                .events
                .iter()
                .map(|(sequence, event)| proto::StoredEvent { sequence: *sequence, event_json: event.to_string() })
                .collect(),
            next_after_sequence: page.next_after.unwrap_or(0),
            watermark: Some(watermark(page.watermark)),
        }))
    }
}
