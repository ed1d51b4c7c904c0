//! `tributary.v1.Changes`.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};
use tributary_service::SubscriptionEnd;
use tributary_service::model::{DatasetId, SchemaChangeRecord, Timestamp};
use tributary_service::{SchemaChangeFilter, SchemaFormat, Service, ServiceError, parse_verdict};

use crate::convert::{node, status, watermark};
use crate::proto;

/// Default and largest page of recorded changes.
const DEFAULT_CHANGES: u32 = 100;
const MAX_CHANGES: u32 = 1000;

pub(crate) struct ChangesApi {
    service: Service,
}

impl ChangesApi {
    pub(crate) fn new(service: Service) -> Self {
        Self { service }
    }
}

fn filter(request: &proto::ListSchemaChangesRequest) -> Result<SchemaChangeFilter, ServiceError> {
    let dataset = match (request.namespace.is_empty(), request.name.is_empty()) {
        (true, true) => None,
        (false, false) => Some(DatasetId::new(&*request.namespace, &*request.name)),
        _ => return Err(ServiceError::invalid("name", "give both namespace and name, or neither")),
    };
    let since = if request.since.is_empty() {
        None
    } else {
        Some(Timestamp::parse(&request.since).map_err(|e| ServiceError::invalid("since", e.to_string()))?)
    };
    let min_verdict =
        if request.min_verdict.is_empty() {
            None
        } else {
            Some(parse_verdict(&request.min_verdict).ok_or_else(|| {
                ServiceError::invalid("min_verdict", "must be SAFE, PRODUCER-SIDE, RISKY or BREAKING")
            })?)
        };
    Ok(SchemaChangeFilter { dataset, since, min_verdict })
}

pub(crate) fn schema_change(record: &SchemaChangeRecord) -> proto::SchemaChange {
    proto::SchemaChange {
        sequence: record.sequence,
        time: record.time.to_rfc3339(),
        dataset: Some(node(&(&record.dataset).into())),
        from_version: record.from.clone(),
        to_version: record.to.clone(),
        verdict: record.verdict.as_str().to_owned(),
        report_json: record.report.to_string(),
    }
}

/// The report's message, its JSON and markdown written on the service's read threads: a hub's
/// JSON is tens of megabytes, work that must not hold an async worker.
async fn check_response(
    service: &Service,
    report: tributary_service::ChangeReport,
) -> Result<proto::CheckChangeResponse, Status> {
    service.encode_answer(move || encode_check(&report)).await.map_err(status)?
}

fn encode_check(report: &tributary_service::ChangeReport) -> Result<proto::CheckChangeResponse, Status> {
    let report_json =
        report.json_text().map_err(|error| Status::internal(format!("writing the report failed: {error}")))?;
    Ok(proto::CheckChangeResponse {
        verdict: report.verdict.as_str().to_owned(),
        report_json,
        markdown: report.to_markdown(),
        changes: report.changes.len() as u32,
        affected_datasets: report.affected_datasets.len() as u32,
        affected_jobs: report.affected_jobs.len() as u32,
        watermark: Some(watermark(report.watermark.clone())),
    })
}

type ChangeStream = Pin<Box<dyn Stream<Item = Result<proto::SchemaChange, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl proto::changes_server::Changes for ChangesApi {
    async fn check_change(
        &self,
        request: Request<proto::CheckChangeRequest>,
    ) -> Result<Response<proto::CheckChangeResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let format = match proto::SchemaFormat::try_from(request.format) {
            Ok(proto::SchemaFormat::Dbt) => SchemaFormat::Dbt,
            Ok(_) => SchemaFormat::OpenLineage,
            Err(_) => {
                return Err(status(ServiceError::invalid("format", format!("unknown format {}", request.format))));
            }
        };
        let model = (!request.dbt_model.is_empty()).then_some(request.dbt_model);
        let report = service
            .check_change_text(DatasetId::new(request.namespace, request.name), request.schema, format, model)
            .await
            .map_err(status)?;
        Ok(Response::new(check_response(&service, report).await?))
    }

    async fn diff_schema_versions(
        &self,
        request: Request<proto::DiffSchemaVersionsRequest>,
    ) -> Result<Response<proto::CheckChangeResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let report = service
            .diff_schema_versions(
                DatasetId::new(request.namespace, request.name),
                request.from_version,
                request.to_version,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(check_response(&service, report).await?))
    }

    async fn list_schema_changes(
        &self,
        request: Request<proto::ListSchemaChangesRequest>,
    ) -> Result<Response<proto::ListSchemaChangesResponse>, Status> {
        let service = crate::caller(&self.service, &request);
        let request = request.into_inner();
        let filter = filter(&request).map_err(status)?;
        let limit = if request.limit == 0 { DEFAULT_CHANGES } else { request.limit.min(MAX_CHANGES) };
        let records = service.schema_changes(filter, limit as usize).await.map_err(status)?;
        Ok(Response::new(proto::ListSchemaChangesResponse { changes: records.iter().map(schema_change).collect() }))
    }

    type WatchSchemaChangesStream = ChangeStream;

    async fn watch_schema_changes(
        &self,
        request: Request<proto::ListSchemaChangesRequest>,
    ) -> Result<Response<Self::WatchSchemaChangesStream>, Status> {
        let service = crate::caller(&self.service, &request);
        let filter = filter(&request.into_inner()).map_err(status)?;
        let mut receiver = service.subscribe_schema_changes().map_err(status)?;
        let stream = async_stream_from(
            move |sender: tokio::sync::mpsc::Sender<Result<proto::SchemaChange, Status>>| async move {
                loop {
                    match receiver.next().await {
                        Ok(record) => {
                            if filter.accepts(&record) && sender.send(Ok(schema_change(&record))).await.is_err() {
                                return;
                            }
                        }
                        Err(SubscriptionEnd::Lagged(missed)) => {
                            let message = format!(
                                "the subscriber fell {missed} changes behind; list them with ListSchemaChanges"
                            );
                            let _ = sender.send(Err(Status::data_loss(message))).await;
                            return;
                        }
                        Err(SubscriptionEnd::Refused(error)) => {
                            let _ = sender.send(Err(status(error))).await;
                            return;
                        }
                        Err(SubscriptionEnd::Closed) => return,
                    }
                }
            },
        );
        Ok(Response::new(stream))
    }
}

/// A stream fed by a task; the task ends when the client goes away.
fn async_stream_from<F, Fut>(produce: F) -> ChangeStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<proto::SchemaChange, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(sender));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}
