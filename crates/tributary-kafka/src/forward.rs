//! Forwarding ingest to a topic: the record goes to the partition Kafka's default partitioner
//! picks for its key (murmur2, as the Java client), so one job's events stay in one
//! partition whichever client wrote them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rskafka::chrono::Utc;
use rskafka::client::Client;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use tributary_model::SourcePosition;
use tributary_service::{Forward, ForwardFuture, ServiceError};

/// Produces forwarded events to one topic.
#[derive(Clone)]
pub struct Forwarder(Arc<Inner>);

struct Inner {
    client: Arc<Client>,
    topic: String,
    partitions: i32,
    /// Partition clients made so far; a leaf lock held only to look up or insert.
    clients: Mutex<HashMap<i32, Arc<PartitionClient>>>,
}

impl Forwarder {
    /// Looks the topic up (it must exist) for its partition count.
    pub async fn new(client: Arc<Client>, topic: String) -> Result<Self, crate::KafkaError> {
        let topics = client.list_topics().await?;
        let listed = topics
            .into_iter()
            .find(|listed| listed.name == topic)
            .ok_or_else(|| crate::KafkaError::Config(format!("topic `{topic}` does not exist; create it first")))?;
        let partitions = i32::try_from(listed.partitions.len())
            .ok()
            .filter(|count| *count > 0)
            .ok_or_else(|| crate::KafkaError::Config(format!("topic `{topic}` has no partition")))?;
        Ok(Self(Arc::new(Inner { client, topic, partitions, clients: Mutex::new(HashMap::new()) })))
    }
}

impl Inner {
    async fn partition_client(&self, partition: i32) -> Result<Arc<PartitionClient>, ServiceError> {
        let known = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&partition).cloned();
        if let Some(known) = known {
            return Ok(known);
        }
        let made =
            self.client.partition_client(self.topic.clone(), partition, UnknownTopicHandling::Retry).await.map_err(
                |error| ServiceError::Unavailable(format!("kafka: cannot reach partition {partition}: {error}")),
            )?;
        let made = Arc::new(made);
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(partition, Arc::clone(&made));
        Ok(made)
    }
}

impl Forward for Forwarder {
    fn forward(&self, key: String, event: Vec<u8>) -> ForwardFuture {
        let this = Arc::clone(&self.0);
        Box::pin(async move {
            let partition = partition_for_key(key.as_bytes(), this.partitions);
            let client = this.partition_client(partition).await?;
            let record = Record {
                key: Some(key.into_bytes()),
                value: Some(event),
                headers: Default::default(),
                timestamp: Utc::now(),
            };
            let offsets = client.produce(vec![record], Compression::NoCompression).await.map_err(|error| {
                ServiceError::Unavailable(format!("kafka: the event was not written to `{}`: {error}", this.topic))
            })?;
            let offset = offsets
                .first()
                .copied()
                .ok_or_else(|| ServiceError::Internal("kafka: the broker gave no offset".into()))?;
            Ok(SourcePosition { topic: this.topic.clone(), partition, offset })
        })
    }
}

/// Kafka's default partitioner for a keyed record: `murmur2(key) & 0x7fffffff % partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_java_client() {
        // From Apache Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 5] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key) as i32, expected, "{}", String::from_utf8_lossy(key));
        }
        assert_eq!(partition_for_key(b"21", 3), ((-973932308i32 as u32 & 0x7fff_ffff) % 3) as i32);
    }
}
