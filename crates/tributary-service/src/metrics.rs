//! What the service measures, for Prometheus (`/metrics`, served by the server with its own
//! request metrics): the writer's group commits, events by outcome, and, computed when
//! scraped, the store's size and the index's.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::{Service, ServiceError};

pub(crate) struct Metrics {
    registry: Registry,
    /// Events per group commit.
    pub(crate) group_events: Histogram,
    /// Seconds per flush (fsync) of a group.
    pub(crate) flush_seconds: Histogram,
    /// Seconds applying a group's events (reading stored records, the model's rules) before
    /// its batch is committed.
    pub(crate) apply_seconds: Histogram,
    /// Seconds committing a group's batch to the store (with any wait for a slice of an
    /// online compaction), before the flush.
    pub(crate) commit_seconds: Histogram,
    /// Seconds per group from its first event's apply to its acknowledgements (apply, commit,
    /// flush, publication).
    pub(crate) group_seconds: Histogram,
    /// Seconds the writer waited while it encoded an index snapshot (under load or idle).
    pub(crate) snapshot_seconds: Histogram,
    /// Seconds the recorder spent checking one schema change seen in an event (classify,
    /// trace, group, record), after the event's acknowledgement.
    pub(crate) schema_change_seconds: Histogram,
    /// Seen schema changes waiting for the recorder (see `recorder`).
    pub(crate) schema_changes_waiting: IntGauge,
    /// Events applied by the writer, by outcome: `stored`, `duplicate`, `failed`.
    pub(crate) events: IntCounterVec,
    store_bytes: IntGauge,
    datasets: IntGauge,
    jobs: IntGauge,
    watermark: IntGauge,
    /// Sequence of the index snapshot last read or written (0: none): a crash now would
    /// catch up `watermark - this` events at the next start-up.
    snapshot_sequence: IntGauge,
    /// Consumed records by topic and outcome (`applied`, `duplicate`, `rejected`,
    /// `already_applied`).
    source_records: IntCounterVec,
    /// Records in each consumed partition not yet consumed, as the consumer last saw.
    source_lag: IntGaugeVec,
    /// Impact summaries answered from the cache (`hit`) or by a walk (`miss`).
    pub(crate) summary_cache: IntCounterVec,
    /// Product lineage answered from the kept derivation (hit) or derived (miss).
    pub(crate) product_lineage_cache: IntCounterVec,
    /// Seconds a lineage walk or change check waited for its turn (see `admission`).
    pub(crate) traversal_wait_seconds: Histogram,
    /// Lineage walks and change checks refused because too many were waiting.
    pub(crate) traversals_refused: IntCounter,
    /// Lineage walks and change checks waiting for their turn now (see `admission`).
    pub(crate) traversals_waiting: IntGauge,
    /// Holds of the state lock that long reads ended early for a waiting writer (`units`).
    pub(crate) read_yields: IntCounter,
}

/// A histogram of the writer's times: 0.5 ms to about 4 s, doubling.
fn seconds(name: &str, help: &str) -> Result<Histogram, prometheus::Error> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(prometheus::exponential_buckets(0.0005, 2.0, 14)?))
}

impl Metrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("tributary".into()), None)?;
        let group_events = Histogram::with_opts(
            HistogramOpts::new("writer_group_events", "Events applied per group commit (one flush each)")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
        )?;
        let flush_seconds = seconds("writer_flush_seconds", "Seconds per flush (fsync) of a group of events")?;
        let apply_seconds = seconds(
            "writer_apply_seconds",
            "Seconds applying a group's events (stored records read, rules) before its commit",
        )?;
        let commit_seconds = seconds(
            "writer_commit_seconds",
            "Seconds committing a group's batch to the store before its flush (waits for an online compaction's slice included)",
        )?;
        let group_seconds = seconds(
            "writer_group_seconds",
            "Seconds per group from applying its first event to acknowledging it (apply, commit, flush, publication)",
        )?;
        let snapshot_seconds = seconds(
            "writer_snapshot_seconds",
            "Seconds the writer waited while it encoded a lineage index snapshot (its file is written beside)",
        )?;
        let schema_change_seconds = seconds(
            "schema_change_record_seconds",
            "Seconds checking and recording one schema change seen in an event (beside the writer, after the acknowledgement)",
        )?;
        let schema_changes_waiting = IntGauge::new(
            "schema_changes_waiting",
            "Schema changes seen in acknowledged events and not recorded yet (counted up to 1,000)",
        )?;
        let events = IntCounterVec::new(
            Opts::new("writer_events_total", "Events the writer applied, by outcome (stored, duplicate, failed)"),
            &["outcome"],
        )?;
        let store_bytes = IntGauge::new("store_bytes", "Bytes the store occupies on disk")?;
        let datasets = IntGauge::new("index_datasets", "Datasets in the lineage index")?;
        let jobs = IntGauge::new("index_jobs", "Jobs in the lineage index")?;
        let watermark = IntGauge::new("watermark_sequence", "Sequence of the last event answers reflect")?;
        let snapshot_sequence = IntGauge::new(
            "index_snapshot_sequence",
            "Sequence of the lineage index snapshot last read or written (0: none); start-up after a crash catches up from it",
        )?;
        let source_records = IntCounterVec::new(
            Opts::new(
                "kafka_records_total",
                "Records consumed from Kafka, by topic and outcome (applied, duplicate, rejected, already_applied, lost_to_retention)",
            ),
            &["topic", "outcome"],
        )?;
        let source_lag = IntGaugeVec::new(
            Opts::new("kafka_consumer_lag", "Records in a consumed Kafka partition not consumed yet"),
            &["topic", "partition"],
        )?;
        let summary_cache = IntCounterVec::new(
            Opts::new(
                "impact_summary_cache_total",
                "Impact summaries answered from the cache of recent walks (hit) or by a walk (miss)",
            ),
            &["outcome"],
        )?;
        let product_lineage_cache = IntCounterVec::new(
            Opts::new(
                "product_lineage_cache_total",
                "Product lineage asked for (once per request however many fields need it), answered from the kept derivation (hit) or derived (miss)",
            ),
            &["outcome"],
        )?;
        let traversal_wait_seconds = seconds(
            "traversal_wait_seconds",
            "Seconds a lineage walk, change check or impact summary waited for its turn (at most --max-traversals run at once)",
        )?;
        let traversals_refused = IntCounter::new(
            "traversals_refused_total",
            "Lineage walks, change checks and impact summaries refused as unavailable because too many were waiting",
        )?;
        let traversals_waiting = IntGauge::new(
            "traversals_waiting",
            "Lineage walks, change checks and impact summaries waiting for their turn now (turns go round the callers)",
        )?;
        let read_yields = IntCounter::new(
            "read_yields_total",
            "Times a long read (lineage walk, column walk, impact summary, change report) let go of the state lock for a waiting writer",
        )?;
        for collector in [
            Box::new(source_records.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(read_yields.clone()),
            Box::new(traversal_wait_seconds.clone()),
            Box::new(traversals_refused.clone()),
            Box::new(traversals_waiting.clone()),
            Box::new(summary_cache.clone()),
            Box::new(product_lineage_cache.clone()),
            Box::new(source_lag.clone()),
            Box::new(group_events.clone()),
            Box::new(flush_seconds.clone()),
            Box::new(apply_seconds.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(group_seconds.clone()),
            Box::new(snapshot_seconds.clone()),
            Box::new(schema_change_seconds.clone()),
            Box::new(schema_changes_waiting.clone()),
            Box::new(events.clone()),
            Box::new(store_bytes.clone()),
            Box::new(datasets.clone()),
            Box::new(jobs.clone()),
            Box::new(watermark.clone()),
            Box::new(snapshot_sequence.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Self {
            registry,
            group_events,
            flush_seconds,
            apply_seconds,
            commit_seconds,
            group_seconds,
            schema_change_seconds,
            schema_changes_waiting,
            snapshot_seconds,
            events,
            store_bytes,
            datasets,
            jobs,
            watermark,
            snapshot_sequence,
            source_records,
            source_lag,
            summary_cache,
            product_lineage_cache,
            traversal_wait_seconds,
            traversals_refused,
            traversals_waiting,
            read_yields,
        })
    }

    /// Counts one consumed record that became durable.
    pub(crate) fn source_record(&self, topic: &str, applied: &crate::Applied) {
        let outcome = match applied {
            crate::Applied::Stored(outcome) if outcome.duplicate => "duplicate",
            crate::Applied::Stored(_) => "applied",
            crate::Applied::Rejected => "rejected",
            crate::Applied::AlreadyApplied => "already_applied",
        };
        self.source_records.with_label_values(&[topic, outcome]).inc();
    }

    pub(crate) fn source_lost(&self, topic: &str, records: i64) {
        self.source_records.with_label_values(&[topic, "lost_to_retention"]).inc_by(records.max(0) as u64);
    }

    pub(crate) fn source_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.source_lag.with_label_values(&[topic, &partition.to_string()]).set(lag);
    }
}

impl Service {
    /// The service's metric families, the scrape-time ones (store size, index sizes,
    /// watermark, index snapshot) refreshed now. Needs `read`. Reads the store's size on disk: call from a
    /// blocking thread.
    pub fn metric_families(&self) -> Result<Vec<prometheus::proto::MetricFamily>, ServiceError> {
        self.require_read()?;
        let metrics = &self.shared.metrics;
        let (datasets, jobs, watermark) = {
            let state = self.shared.read_state();
            (state.index.dataset_count(), state.index.job_count(), state.index.watermark())
        };
        metrics.datasets.set(i64::try_from(datasets).unwrap_or(i64::MAX));
        metrics.jobs.set(i64::try_from(jobs).unwrap_or(i64::MAX));
        metrics.watermark.set(i64::try_from(watermark.sequence).unwrap_or(i64::MAX));
        let snapshot = *self.shared.snapshot_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        metrics.snapshot_sequence.set(i64::try_from(snapshot.map_or(0, |file| file.sequence)).unwrap_or(i64::MAX));
        metrics.store_bytes.set(i64::try_from(self.shared.store.size_on_disk()?).unwrap_or(i64::MAX));
        Ok(metrics.registry.gather())
    }
}
