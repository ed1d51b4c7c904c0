//! `KafkaRejection`: a consumed Kafka record that was not an event.

use async_graphql::SimpleObject;
use tributary_service::model::SourceRejection;

/// A record consumed from Kafka that is not a valid OpenLineage event: skipped (its
/// partition went on) and kept here, without its value, so that it can be found and resent.
#[derive(SimpleObject)]
pub struct KafkaRejection {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record's key, as text.
    pub key: Option<String>,
    /// Field path of the problem (empty for the whole record).
    pub field: String,
    pub reason: String,
    /// Size of the record's value in bytes.
    pub bytes: u64,
    /// When it was consumed (RFC 3339).
    pub at: String,
}

impl From<SourceRejection> for KafkaRejection {
    fn from(rejection: SourceRejection) -> Self {
        Self {
            topic: rejection.position.topic,
            partition: rejection.position.partition,
            offset: rejection.position.offset,
            key: rejection.key,
            field: rejection.field,
            reason: rejection.reason,
            bytes: rejection.bytes,
            at: rejection.at.to_rfc3339(),
        }
    }
}
