//! Records consumed from Kafka that were not events.

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::kafka::KafkaRejection;
use async_graphql::{Context, Object, Result};
use tributary_service::model::SourcePosition;

/// Rejected records per page when `first` is not given.
const DEFAULT_REJECTION_PAGE: usize = 100;

#[derive(Default)]
pub struct KafkaQuery;

#[Object]
impl KafkaQuery {
    /// Consumed Kafka records that were not valid events, in topic, partition and offset
    /// order (needs `read`). `topic` narrows to one topic; for the next page pass the last
    /// record's `topic`, `partition` and `offset` as `afterTopic`, `afterPartition`,
    /// `afterOffset`. `first` is at most 1000.
    async fn kafka_rejections(
        &self,
        context: &Context<'_>,
        topic: Option<String>,
        after_topic: Option<String>,
        after_partition: Option<i32>,
        after_offset: Option<i64>,
        first: Option<u32>,
    ) -> Result<Vec<KafkaRejection>> {
        let after = match (after_topic, after_partition, after_offset) {
            (Some(topic), Some(partition), Some(offset)) => Some(SourcePosition { topic, partition, offset }),
            (None, None, None) => None,
            _ => {
                return Err(gql_error(tributary_service::ServiceError::invalid(
                    "afterTopic",
                    "give afterTopic, afterPartition and afterOffset together",
                )));
            }
        };
        let limit = first.map_or(DEFAULT_REJECTION_PAGE, |first| first as usize);
        let rejections = service(context).source_rejections(topic, after, limit).await.map_err(gql_error)?;
        Ok(rejections.into_iter().map(KafkaRejection::from).collect())
    }
}
