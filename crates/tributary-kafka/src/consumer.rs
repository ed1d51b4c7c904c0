//! The consumer: a supervisor per topic that finds its partitions (and later-added ones), and
//! a task per partition that fetches records and hands them to the service in order.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};
use tributary_model::SourcePosition;
use tributary_service::{PendingAck, Service, SourcedRecord};

use crate::KafkaConfig;

/// How often a topic's partitions are listed again (new partitions are picked up).
const PARTITION_REFRESH: Duration = Duration::from_secs(30);
/// Longest wait between two attempts after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The running consumer; [`ConsumerHandle::stop`] ends it.
pub struct ConsumerHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl ConsumerHandle {
    /// Stops fetching and waits for every partition task to end (records already handed to
    /// the writer are applied by it; their offsets are stored with them).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts consuming every partition of `config.topics` into `service` (a handle allowed to
/// apply consumed records: the local operator).
pub fn start_consumer(service: Service, client: Arc<Client>, config: KafkaConfig) -> ConsumerHandle {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let config = Arc::new(config);
    for topic in config.topics.clone() {
        tasks.spawn(supervise_topic(service.clone(), Arc::clone(&client), Arc::clone(&config), topic, stopped.clone()));
    }
    ConsumerHandle { stop, tasks }
}

/// Sleeps `duration` unless told to stop first; true when told to stop.
async fn pause(stopped: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    if *stopped.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => *stopped.borrow(),
        _ = stopped.changed() => true,
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

async fn supervise_topic(
    service: Service,
    client: Arc<Client>,
    config: Arc<KafkaConfig>,
    topic: String,
    mut stopped: watch::Receiver<bool>,
) {
    let mut running: BTreeSet<i32> = BTreeSet::new();
    let mut partitions = JoinSet::new();
    let mut waiting_logged = false;
    loop {
        match client.list_topics().await {
            Ok(topics) => match topics.into_iter().find(|listed| listed.name == topic) {
                Some(listed) => {
                    for partition in listed.partitions.difference(&running.clone()) {
                        info!(%topic, partition, "consuming partition");
                        running.insert(*partition);
                        partitions.spawn(consume_partition(
                            service.clone(),
                            Arc::clone(&client),
                            Arc::clone(&config),
                            topic.clone(),
                            *partition,
                            stopped.clone(),
                        ));
                    }
                }
                None if !waiting_logged => {
                    warn!(%topic, "topic not found; waiting for it to be created");
                    waiting_logged = true;
                }
                None => {}
            },
            Err(failure) => warn!(%topic, error = %failure, "cannot list the brokers' topics; retrying"),
        }
        let refresh = if running.is_empty() { Duration::from_secs(2) } else { PARTITION_REFRESH };
        if pause(&mut stopped, refresh).await {
            break;
        }
    }
    while partitions.join_next().await.is_some() {}
}

/// Why a partition's round of fetching ended.
enum RoundEnd {
    Stopped,
    /// Start over from the stored offset after a pause.
    Retry(String),
}

async fn consume_partition(
    service: Service,
    client: Arc<Client>,
    config: Arc<KafkaConfig>,
    topic: String,
    partition: i32,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let end = tokio::select! {
            end = round(&service, &client, &config, &topic, partition) => end,
            _ = stopped.changed() => RoundEnd::Stopped,
        };
        match end {
            RoundEnd::Stopped => return,
            RoundEnd::Retry(reason) => {
                warn!(%topic, partition, %reason, retry_in = ?backoff, "consumption interrupted; resuming from the stored offset");
                if pause(&mut stopped, backoff).await {
                    return;
                }
                backoff = next_backoff(backoff);
            }
        }
    }
}

/// Where a partition resumes: after its stored offset, or at the earliest retained record.
async fn resume_offset(
    service: &Service,
    client: &PartitionClient,
    topic: &str,
    partition: i32,
) -> Result<i64, String> {
    let stored = service
        .stored_source_offsets()
        .map_err(|error| format!("cannot read the stored offsets: {error}"))?
        .into_iter()
        .find(|offset| offset.topic == topic && offset.partition == partition)
        .map(|offset| offset.offset);
    match stored {
        Some(offset) => Ok(offset),
        None => client
            .get_offset(OffsetAt::Earliest)
            .await
            .map_err(|error| format!("cannot read the earliest offset: {error}")),
    }
}

/// One round: from the stored offset, fetch and hand over records until something fails.
async fn round(service: &Service, client: &Client, config: &KafkaConfig, topic: &str, partition: i32) -> RoundEnd {
    let partition_client = match client.partition_client(topic, partition, UnknownTopicHandling::Retry).await {
        Ok(partition_client) => partition_client,
        Err(failure) => return RoundEnd::Retry(format!("cannot reach the partition's leader: {failure}")),
    };
    let mut next = match resume_offset(service, &partition_client, topic, partition).await {
        Ok(offset) => offset,
        Err(reason) => return RoundEnd::Retry(reason),
    };
    let mut in_flight: VecDeque<PendingAck> = VecDeque::new();
    loop {
        let fetched = partition_client.fetch_records(next, 1..config.fetch_max_bytes, config.fetch_max_wait_ms).await;
        let (records, high_watermark) = match fetched {
            Ok(fetched) => fetched,
            Err(ClientError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. }) => {
                match skip_to_retained(service, &partition_client, topic, partition, next).await {
                    Ok(Some(earliest)) => {
                        next = earliest;
                        continue;
                    }
                    Ok(None) => {
                        return RoundEnd::Retry(format!(
                            "offset {next} is past the partition's end: was the topic recreated? Remove this server's offsets for it (docs/kafka.md)"
                        ));
                    }
                    Err(reason) => return RoundEnd::Retry(reason),
                }
            }
            Err(failure) => return RoundEnd::Retry(format!("fetch failed: {failure}")),
        };
        for record in records {
            // A compressed batch can start before the offset asked for.
            if record.offset < next {
                continue;
            }
            let position = SourcePosition { topic: topic.to_owned(), partition, offset: record.offset };
            next = record.offset + 1;
            let value = record.record.value.unwrap_or_default();
            let sourced = SourcedRecord { position, key: record.record.key, value };
            match service.enqueue_sourced(sourced).await {
                Ok(ack) => in_flight.push_back(ack),
                Err(failure) => return RoundEnd::Retry(format!("the server refused a record: {failure}")),
            }
            while in_flight.len() > config.max_in_flight {
                if let Err(reason) = settle(in_flight.pop_front()).await {
                    return RoundEnd::Retry(reason);
                }
            }
        }
        service.record_source_lag(topic, partition, (high_watermark - next).max(0));
        // Caught up: wait for what is in flight, so that a failure shows now, not at the next
        // record.
        if next >= high_watermark {
            while let Some(ack) = in_flight.pop_front() {
                if let Err(reason) = settle(Some(ack)).await {
                    return RoundEnd::Retry(reason);
                }
            }
        }
    }
}

/// Waits for one record's outcome. Any failure (the store cannot write, the server stops)
/// ends the round: the records after it may not be applied, and the next round starts from
/// the stored offset, which the applied ones moved.
async fn settle(ack: Option<PendingAck>) -> Result<(), String> {
    match ack {
        Some(ack) => ack.applied().await.map(drop).map_err(|failure| format!("a record was not applied: {failure}")),
        None => Ok(()),
    }
}

/// The records from `next` were deleted by the topic's retention before this server read them:
/// logs it loudly, counts them, and goes on at the earliest retained record. `None` when
/// `next` is past the end instead.
async fn skip_to_retained(
    service: &Service,
    client: &PartitionClient,
    topic: &str,
    partition: i32,
    next: i64,
) -> Result<Option<i64>, String> {
    let earliest = client
        .get_offset(OffsetAt::Earliest)
        .await
        .map_err(|error| format!("cannot read the earliest offset: {error}"))?;
    if next >= earliest {
        let latest = client
            .get_offset(OffsetAt::Latest)
            .await
            .map_err(|error| format!("cannot read the latest offset: {error}"))?;
        if next > latest {
            error!(%topic, partition, next, latest, "the stored offset is past the partition's end");
            return Ok(None);
        }
        return Err(format!("offset {next} out of range although within {earliest}..={latest}"));
    }
    error!(
        %topic,
        partition,
        from = next,
        to = earliest,
        "records deleted by the topic's retention before they were consumed: they are missing from this server"
    );
    service.record_source_lost(topic, partition, earliest - next);
    Ok(Some(earliest))
}
