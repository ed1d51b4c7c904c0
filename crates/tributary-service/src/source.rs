//! Events from a partitioned log the server consumes (Kafka topics), and ingest requests
//! forwarded to one. The service knows no Kafka: the consumer (`tributary-kafka`) hands it
//! records with their position, and a [`Forward`] implementation writes to the log.
//!
//! Exactly once: a consumed record's position is written in the same atomic batch as the
//! event (or its rejection), the writer skips a record its partition is already past, and
//! consumption resumes from the stored positions ([`Service::stored_source_offsets`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tributary_model::{Actor, PartitionOffset, SourcePosition, SourceRejection, Timestamp};
use tributary_openlineage::{EventBody, ParsedEvent};

use crate::writer::{Lane, PendingAck};
use crate::{IngestOutcome, Service, ServiceError, derive_sql};

/// Most rejected records one listing returns.
pub const MAX_REJECTION_PAGE: usize = 1_000;

/// One consumed record: where it sits in the log, its key and its value (an event's JSON,
/// or not).
#[derive(Clone, Debug)]
pub struct SourcedRecord {
    pub position: SourcePosition,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// What [`Forward::forward`] returns: the position the log gave the event.
pub type ForwardFuture = Pin<Box<dyn Future<Output = Result<SourcePosition, ServiceError>> + Send>>;

/// Writes ingest requests to the log this server consumes, instead of storing them: every
/// replica then applies them in the log's order. Resolves once the log holds the event
/// durably (acknowledged by every in-sync replica).
pub trait Forward: Send + Sync + 'static {
    /// `key` is the key OpenLineage's Kafka transport gives the event (`message_key`);
    /// `event` its canonical JSON.
    fn forward(&self, key: String, event: Vec<u8>) -> ForwardFuture;
}

/// The key OpenLineage's Kafka transport gives an event, so that one job's events share a
/// partition: `run:<namespace>/<name>` of the parent job (or the job), `job:…`, `dataset:…`.
pub fn message_key(event: &ParsedEvent) -> String {
    match &event.body {
        EventBody::Run(body) => {
            let job = body.parent.as_ref().map_or(&body.job, |(_, parent)| parent);
            format!("run:{}/{}", job.namespace, job.name)
        }
        EventBody::Job(body) => format!("job:{}/{}", body.job.namespace, body.job.name),
        EventBody::Dataset(body) => format!("dataset:{}/{}", body.dataset.id.namespace, body.dataset.id.name),
    }
}

pub(crate) async fn forward(forward: &dyn Forward, event: ParsedEvent) -> Result<IngestOutcome, ServiceError> {
    let key = message_key(&event);
    let position = forward.forward(key, event.canonical.clone()).await?;
    Ok(IngestOutcome { sequence: 0, duplicate: false, forwarded: Some(position) })
}

/// [`forward`] for a stream or a batch: started now, awaited with the others.
pub(crate) fn forward_pending(to: Arc<dyn Forward>, event: ParsedEvent) -> PendingAck {
    let (reply, ack) = PendingAck::channel();
    tokio::spawn(async move {
        let result = forward(to.as_ref(), event).await.map(crate::writer::Applied::Stored);
        let _ = reply.send((result, None));
    });
    ack
}

impl Service {
    /// This service with ingest requests (HTTP, gRPC) forwarded to a log instead of stored:
    /// the server's consumer applies them from there, like every replica's.
    pub fn forwarding_to(&self, forward: Arc<dyn Forward>) -> Service {
        Service { forward: Some(forward), ..self.clone() }
    }

    /// Parses one consumed record and queues it in order with its partition's others (bulk
    /// lane). A record that is not a valid event is queued as a rejection: recorded with the
    /// field and the reason, and its partition goes on. The acknowledgement resolves once the
    /// outcome is durable ([`PendingAck::applied`]). For the server's own consumer only:
    /// needs the local operator (or admin); the log's access control decides who may produce.
    pub async fn enqueue_sourced(&self, record: SourcedRecord) -> Result<PendingAck, ServiceError> {
        self.allow(tributary_auth::Principal::can_admin)?;
        let SourcedRecord { position, key, value } = record;
        let bytes = value.len() as u64;
        let event = match crate::parse_owned(value).await? {
            Ok(event) => event,
            Err(error) => {
                let key = key.map(|key| String::from_utf8_lossy(&key).into_owned());
                let rejection =
                    SourceRejection::new(position, Timestamp::now(), key, error.field, error.message, bytes);
                return self.writer.reject(rejection).await;
            }
        };
        let actor = Actor::source(&position.topic);
        let sql = derive_sql(&event).await?;
        let (event, encoded) = self.encode_event(event).await?;
        self.writer.enqueue(event, sql, actor, encoded, Lane::Bulk, Some(position)).await
    }

    /// Where consumption resumes: every partition's durable offset (the next to read), as
    /// stored. Local operator (or admin) only, like [`Self::enqueue_sourced`].
    pub fn stored_source_offsets(&self) -> Result<Vec<PartitionOffset>, ServiceError> {
        self.allow(tributary_auth::Principal::can_admin)?;
        Ok(self.shared.store.source_offsets()?)
    }

    /// Consumed records that were not events, in topic, partition and offset order, after
    /// `after`; at most `limit` (up to `MAX_REJECTION_PAGE`). Needs `read`.
    pub async fn source_rejections(
        &self,
        topic: Option<String>,
        after: Option<SourcePosition>,
        limit: usize,
    ) -> Result<Vec<SourceRejection>, ServiceError> {
        self.require_read()?;
        if limit == 0 || limit > MAX_REJECTION_PAGE {
            return Err(ServiceError::invalid("first", format!("must be between 1 and {MAX_REJECTION_PAGE}")));
        }
        self.blocking(move |shared| Ok(shared.store.source_rejections(topic.as_deref(), after.as_ref(), limit)?)).await
    }

    /// Records of a partition deleted by the log's retention before this server read them.
    pub fn record_source_lost(&self, topic: &str, partition: i32, records: i64) {
        tracing::error!(topic, partition, records, "records lost to the log's retention");
        self.shared.metrics.source_lost(topic, records);
    }

    /// The consumer's view of a partition: records in the log not yet consumed (`lag`).
    pub fn record_source_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.shared.metrics.source_lag(topic, partition, lag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_openlineage::parse_event;

    #[test]
    fn message_keys_follow_the_openlineage_kafka_transport() {
        let run = br#"{"eventType":"START","eventTime":"2026-01-01T00:00:00Z","producer":"p","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            "run":{"runId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","facets":{"parent":{"_producer":"p","_schemaURL":"https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet","run":{"runId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"},"job":{"namespace":"airflow","name":"dag"}}}},
            "job":{"namespace":"airflow","name":"dag.task"},"inputs":[],"outputs":[]}"#;
        assert_eq!(message_key(&parse_event(run).unwrap()), "run:airflow/dag");
        let job = br#"{"eventTime":"2026-01-01T00:00:00Z","producer":"p","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/JobEvent",
            "job":{"namespace":"dbt","name":"model"},"inputs":[],"outputs":[]}"#;
        assert_eq!(message_key(&parse_event(job).unwrap()), "job:dbt/model");
    }
}
