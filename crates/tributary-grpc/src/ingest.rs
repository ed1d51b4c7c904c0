//! `tributary.v1.Ingest`.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tributary_service::{PendingAck, Service, ServiceError, parse_event};

use crate::convert::{event_error, status, watermark};
use crate::proto::{self, IngestAck, IngestBatchSummary, IngestEventRequest, ingest_ack};

/// Events of one stream in flight (enqueued, not yet acknowledged).
const MAX_IN_FLIGHT: usize = 4096;

pub(crate) struct IngestApi {
    service: Service,
}

impl IngestApi {
    pub(crate) fn new(service: Service) -> Self {
        Self { service }
    }
}

fn ack(index: u64, result: Result<tributary_service::IngestOutcome, ServiceError>) -> IngestAck {
    IngestAck {
        index,
        result: Some(match result {
            Ok(outcome) => ingest_ack::Result::Accepted(proto::Accepted {
                sequence: outcome.sequence,
                duplicate: outcome.duplicate,
                forwarded: outcome.forwarded.map(|position| proto::SourcePosition {
                    topic: position.topic,
                    partition: position.partition,
                    offset: position.offset,
                }),
            }),
            Err(error) => ingest_ack::Result::Error(event_error(&error)),
        }),
    }
}

/// An event on its way: rejected already, or waiting for its durable acknowledgement.
enum InFlight {
    Done(Result<tributary_service::IngestOutcome, ServiceError>),
    Pending(PendingAck),
}

/// What the reader of a request stream passes on, in stream order: an event, or the failure
/// that ends the stream (a message that does not decode, a broken connection).
type Item = Result<(u64, InFlight), Status>;

/// Reads a request stream, enqueueing events in order, and sends each event's result,
/// in order, to `acks`. Parsing happens here, on the stream's own task. A failure goes
/// through `acks` too, behind the events read before it, so that it cannot overtake their
/// acknowledgements: those events are enqueued and will be stored, and the client must
/// learn that before the stream ends.
async fn pump(service: Service, mut requests: Streaming<IngestEventRequest>, acks: mpsc::Sender<Item>) {
    let mut index = 0u64;
    while let Some(request) = requests.next().await {
        let request = match request {
            Ok(request) => request,
            Err(failure) => {
                let _ = acks.send(Err(failure)).await;
                return;
            }
        };
        // A caller refused (a token revoked mid-stream) costs no parsing.
        if let Err(error) = service.check_caller() {
            let _ = acks.send(Err(status(error))).await;
            return;
        }
        let in_flight = match parse_event(request.event_json.as_bytes()) {
            Err(error) => InFlight::Done(Err(error.into())),
            Ok(event) => match service.enqueue(event).await {
                Ok(pending) => InFlight::Pending(pending),
                Err(error) => InFlight::Done(Err(error)),
            },
        };
        if acks.send(Ok((index, in_flight))).await.is_err() {
            break;
        }
        index += 1;
    }
}

async fn resolve(in_flight: InFlight) -> Result<tributary_service::IngestOutcome, ServiceError> {
    match in_flight {
        InFlight::Done(result) => result,
        InFlight::Pending(pending) => pending.await,
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<IngestAck, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl proto::ingest_server::Ingest for IngestApi {
    async fn ingest_event(&self, request: Request<IngestEventRequest>) -> Result<Response<IngestAck>, Status> {
        let service = crate::caller(&self.service, &request);
        let outcome = service.ingest(request.into_inner().event_json.as_bytes()).await.map_err(status)?;
        Ok(Response::new(ack(0, Ok(outcome))))
    }

    type IngestStreamStream = AckStream;

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestEventRequest>>,
    ) -> Result<Response<Self::IngestStreamStream>, Status> {
        let service = crate::caller(&self.service, &request);
        let (in_flight_tx, mut in_flight_rx) = mpsc::channel::<Item>(MAX_IN_FLIGHT);
        let (out_tx, out_rx) = mpsc::channel::<Result<IngestAck, Status>>(256);
        tokio::spawn(pump(service.clone(), request.into_inner(), in_flight_tx));
        tokio::spawn(async move {
            while let Some(item) = in_flight_rx.recv().await {
                let answer = match item {
                    Ok((index, in_flight)) => Ok(ack(index, resolve(in_flight).await)),
                    Err(failure) => Err(failure),
                };
                let failed = answer.is_err();
                if out_tx.send(answer).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn ingest_batch(
        &self,
        request: Request<Streaming<IngestEventRequest>>,
    ) -> Result<Response<IngestBatchSummary>, Status> {
        let service = crate::caller(&self.service, &request);
        let (in_flight_tx, mut in_flight_rx) = mpsc::channel::<Item>(MAX_IN_FLIGHT);
        let reader = tokio::spawn(pump(service.clone(), request.into_inner(), in_flight_tx));
        let mut summary = IngestBatchSummary::default();
        while let Some(item) = in_flight_rx.recv().await {
            // The events before a failure were resolved in earlier turns: they are stored,
            // though the failed call cannot report them.
            let (index, in_flight) = item?;
            summary.received += 1;
            match resolve(in_flight).await {
                Ok(outcome) if outcome.duplicate => summary.duplicates += 1,
                Ok(_) => summary.accepted += 1,
                Err(error) => summary.rejected.push(ack(index, Err(error))),
            }
        }
        reader.await.map_err(|error| Status::internal(format!("ingest task failed: {error}")))?;
        summary.watermark = Some(watermark(service.watermark()));
        Ok(Response::new(summary))
    }
}
