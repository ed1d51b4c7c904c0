//! Tributary's use cases: ingest events and answer questions about them. Knows the store,
//! the lineage index and the OpenLineage parser; knows no transport.
//!
//! Ingest runs through one writer thread: callers parse and validate on their own tasks,
//! hand the parsed event over a channel, and wait for the acknowledgement. The writer
//! applies each event as one atomic store batch, drains whatever else is queued, flushes
//! the store once for the whole group (group commit), then updates the in-memory lineage
//! index and only then acknowledges. So an acknowledged event is durable, and an answer
//! never reflects an event that a crash could still lose.

mod access;
mod admission;
mod apply;
mod change;
mod coalesce;
mod columns;
mod compaction;
mod consistency;
mod error;
mod health;
pub mod maintenance;
mod mesh;
mod metrics;
mod pool;
mod queries;
mod recorder;
mod rotation;
mod snapshot;
mod source;
mod sql;
mod units;
mod visibility;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

pub use compaction::{AutoCompact, CompactionState, FREE_SPACE_RESERVE};
use tributary_graph::LineageIndex;
use tributary_model::{DatasetId, Watermark};
use tributary_store::Store;
pub use tributary_store::{OnlineCompactReport, PrefixStats, StoreConfig};

pub use access::{AuditFilter, AuditPageView, CreatedToken, MAX_AUDIT_PAGE, TokenView, parse_expiry};
pub use admission::{MAX_WAITING_PER_RUNNING, MAX_WAITING_PER_TOKEN_PER_RUNNING, default_max_traversals};
pub use change::{
    ChangeImpact, ChangeReport, CheckedChange, ImpactUse, MARKDOWN_LIMIT, SchemaChangeFilter, SchemaChangeSubscription,
    SchemaFormat, SubscriptionEnd, parse_proposed, parse_verdict,
};
pub use error::{ErrorCode, ServiceError};
pub use health::HealthReport;
pub use mesh::{
    ApplyOutcome, FreshnessStatus, FreshnessView, ImpactCount, ImpactGroup, ImpactSummary, MAX_SUMMARY_PAGE,
    Membership, OwnerView, ProductEdge, ProductView, SearchHit, SearchQuery, ViolationFilter, ViolationView,
};
pub use queries::{
    ColumnLineageView, DatasetView, EventPage, JobView, LineageOutline, LineageRequest, LineageView, NodePage,
    RunSummary, SchemaVersionView,
};
pub use snapshot::IndexOrigin;
pub use source::{Forward, ForwardFuture, SourcedRecord};
pub use tributary_auth::{Principal, Scope};
pub use tributary_change as schema_change;
pub use tributary_graph::{
    AnswerShape, AnswerSink, ColumnAnswer, ColumnEdge, ColumnHit, LineageAnswer, LineageEdge, LineageNode,
    LineageQuestion, NamespacePositions, NodeName, UnverifiedDataset, prefetch,
};
pub use tributary_mesh as governance;
pub use tributary_model as model;
pub use tributary_openlineage::{ParsedEvent, parse_event};
pub use visibility::REDACTED_NAMESPACE_PREFIX;
pub use writer::{Applied, PendingAck};

/// Column lineage from the event's `sql` job facet, if any: derived on the caller's task (off
/// the writer) for ordinary statements, on a blocking thread for long ones.
async fn derive_sql(event: &ParsedEvent) -> Result<Option<sql::SqlLineage>, ServiceError> {
    let Some(job) = sql::SqlJob::of(event) else { return Ok(None) };
    if job.len() <= sql::INLINE_SQL_BYTES {
        return Ok(Some(job.derive()));
    }
    tokio::task::spawn_blocking(move || job.derive())
        .await
        .map(Some)
        .map_err(|error| ServiceError::Internal(format!("sql lineage task failed: {error}")))
}

/// Parses an event: on the caller's task, or a large one (over [`INLINE_PARSE_BYTES`]) on a
/// blocking thread, so that one big event does not hold up the async runtime.
async fn parse_owned(bytes: Vec<u8>) -> Result<Result<ParsedEvent, tributary_openlineage::EventError>, ServiceError> {
    if bytes.len() <= INLINE_PARSE_BYTES {
        return Ok(parse_event(&bytes));
    }
    tokio::task::spawn_blocking(move || parse_event(&bytes))
        .await
        .map_err(|error| ServiceError::Internal(format!("parsing task failed: {error}")))
}

/// Most events in one batch request.
pub const MAX_BATCH_EVENTS: usize = 10_000;

/// Events up to this size are parsed on the caller's task (well under a millisecond);
/// larger ones on a blocking thread.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// The default of [`ServiceConfig::read_nice`]: a busy writer gets ~10x the CPU share of a
/// read thread at nice 10 (the kernel's weights), while an idle machine runs reads at full
/// speed.
pub const DEFAULT_READ_NICE: i32 = 10;

/// Where the data lives and how the service behaves.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Store directory; `None` keeps everything in a temporary directory.
    pub data_dir: Option<PathBuf>,
    pub store: StoreConfig,
    /// Most events applied between two flushes.
    pub max_group: usize,
    /// Lineage depth (job hops) when a request gives none.
    pub default_lineage_depth: u32,
    /// Lineage node limit when a request gives none.
    pub default_lineage_limit: usize,
    /// Largest node limit a request may ask for.
    pub max_lineage_limit: usize,
    /// Global policies (from the policy file given to the server).
    pub policies: Vec<tributary_mesh::Policy>,
    /// Every request needs a token even before the first one is created (otherwise the
    /// server runs open until a token exists).
    pub require_auth: bool,
    /// When the server compacts its store by itself; `None` (the default here; `serve` turns
    /// it on) only when an admin asks.
    pub auto_compact: Option<AutoCompact>,
    /// A writer that is busy all the time saves the lineage index snapshot once it is this many
    /// events past the last one (and idle writers after 30 s), so that a crash leaves a snapshot
    /// the next start-up catches up from instead of rebuilding the index; 0: only when idle or
    /// closing. Below the catch-up's bound of 100,000 events.
    pub snapshot_every: u64,
    /// Lineage walks, change checks and impact summaries that run at once; more wait their
    /// turn (see `admission`). The default is the machine's cores.
    pub max_traversals: usize,
    /// How much lower than the process's the read threads' scheduling priority is (a nice
    /// increment, Linux only; 0: the same): ingest and point reads get busy cores first (see
    /// `pool`).
    pub read_nice: i32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            store: StoreConfig::default(),
            // Bounds how long a single event waits behind a bulk load (`benches/fairness.rs`,
            // 2 cores: median 33 ms at 256, 78 ms at 512, 18 ms at 128 but bulk loads 23%
            // slower), while flushes stay amortised.
            max_group: 256,
            default_lineage_depth: 20,
            default_lineage_limit: 10_000,
            max_lineage_limit: 1_000_000,
            policies: Vec::new(),
            require_auth: false,
            auto_compact: None,
            snapshot_every: 50_000,
            max_traversals: admission::default_max_traversals(),
            read_nice: DEFAULT_READ_NICE,
        }
    }
}

/// The outcome of one accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The event's position in ingest order (the first stored copy's, for a duplicate); 0
    /// for an event forwarded to a log, which this server stores once it consumes it.
    pub sequence: u64,
    /// The same event was stored before; nothing changed.
    pub duplicate: bool,
    /// Where the event was written when this server forwards ingest to a log (see
    /// [`Forward`]): durable there, applied here once consumed.
    pub forwarded: Option<tributary_model::SourcePosition>,
}

/// Everything in memory that the writer changes and readers look at, behind one lock
/// ([`Shared::state`]). One lock, not one per part, so that no reader can hold one part
/// while waiting for another that the writer holds (the lock-order deadlock of earlier
/// builds: writer held the index and wanted the mesh, a mesh query the reverse).
/// Alias name -> canonical dataset. hashbrown's map with its default hasher (foldhash, seeded
/// per map): the writer looks up every dataset an event names and every column lineage input.
pub(crate) type AliasMap = hashbrown::HashMap<DatasetId, DatasetId>;

pub(crate) struct State {
    /// The lineage graph; its watermark is the last flushed sequence it reflects.
    pub(crate) index: LineageIndex,
    /// Alias name -> canonical dataset, mirrored from the store for lookups.
    pub(crate) aliases: AliasMap,
    /// Applied domains and products, policies and their open violations.
    pub(crate) mesh: mesh::MeshState,
    /// Consumed log partitions: the next offset of each, as published with the index.
    pub(crate) offsets: std::collections::BTreeMap<(String, i32), i64>,
    /// Each node's owners as its `ownership` facet names them, by the index's node numbers
    /// (loaded after start-up; see `mesh::owners`).
    pub(crate) owners: mesh::NodeOwners,
}

impl State {
    /// [`Self::offsets`] as a watermark lists them.
    pub(crate) fn offsets_list(&self) -> Vec<tributary_model::PartitionOffset> {
        self.offsets
            .iter()
            .map(|((topic, partition), offset)| tributary_model::PartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect()
    }
}

/// Locking discipline (see ARCHITECTURE.md, invariants):
/// - `state` is the only lock over shared in-memory state. Nobody takes another lock while
///   holding it, except leaf locks that are never held while taking anything
///   (`LineageIndex`'s listing cache and frozen adjacency copy, sled's internal locks).
///   Whoever takes it for writing says so first in `writers_waiting` (an atomic, not a
///   lock): long readers that work in small units (a change check) end their hold at the
///   next unit when it is set, so a publication waits for a unit, not a slice.
/// - `apply` serialises descriptor applies (read the mesh, evaluate, store, install). It is
///   taken before `state`, never while holding it; the writer never takes it.
/// - `column_state` is a leaf: held only to read or set the load state and to wait on
///   `column_ready`, never while taking `state`.
/// - `tokens` (see `access`) is a leaf: held only to look up, insert or update a token
///   record, never while taking another lock.
/// - `compaction` (see `compaction`) is a leaf: held only to read or replace the online
///   compaction's state. The store's own compaction lock is inside the store (taken around
///   each sled write, with only the store's handle lock inside it).
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) state: RwLock<State>,
    /// Threads waiting to take `state` for writing (see [`Shared::write_state`]).
    writers_waiting: std::sync::atomic::AtomicUsize,
    pub(crate) apply: Mutex<()>,
    /// Schema changes seen in ingested events, to subscribers.
    pub(crate) schema_changes: tokio::sync::broadcast::Sender<Arc<tributary_model::SchemaChangeRecord>>,
    /// Records the schema changes the writer queued (see `recorder`).
    pub(crate) recorder: recorder::Recorder,
    pub(crate) config: ServiceConfig,
    /// The column lineage load after start-up (see `columns`).
    pub(crate) column_state: Mutex<columns::ColumnState>,
    pub(crate) column_ready: std::sync::Condvar,
    /// Where readers of stored records wait for the writer to publish (see `consistency`).
    pub(crate) read_gate: consistency::ReadGate,
    /// Whether the last flush worked (for `/healthz`).
    pub(crate) health: health::Health,
    /// The last product lineage derived, keyed by (index generation, mesh generation).
    pub(crate) product_lineage_cache: Mutex<Option<mesh::CachedProductLineage>>,
    /// The end of the nodes' owners' load after start-up (`mesh::owners`).
    pub(crate) owners_load_end: mesh::OwnersLoadEnd,
    /// Tests make this many owners' loads fail, as a store read error would.
    #[cfg(test)]
    pub(crate) owners_loads_to_fail: std::sync::atomic::AtomicU32,
    /// Product lineage derivations, shared by the callers who ask during one (`coalesce`).
    pub(crate) product_lineage_rounds: coalesce::Coalesced<Arc<Vec<mesh::ProductEdge>>>,
    /// Recent impact summaries, kept while the index's edges and labels and the mesh stay
    /// (see `mesh/impact/cache.rs`); a leaf lock.
    pub(crate) summary_cache: mesh::SummaryCache,
    /// Writer and store measurements (see `metrics`).
    pub(crate) metrics: metrics::Metrics,
    /// This store's key for redacted dataset ids (see `visibility`).
    pub(crate) redaction_key: tributary_auth::RedactionKey,
    /// API tokens (see `access`); a leaf lock.
    pub(crate) tokens: access::Tokens,
    /// How the lineage index was made at start-up.
    pub(crate) index_origin: IndexOrigin,
    /// The snapshot file last read or written (it need not be written again while the index
    /// is at its sequence and nothing is to be added to it); a leaf lock.
    pub(crate) snapshot_at: Mutex<Option<snapshot::SnapshotFile>>,
    /// Set by [`Service::close`]: background work stops early.
    pub(crate) closing: std::sync::atomic::AtomicBool,
    /// The store's online compaction (see `compaction`); a leaf lock.
    pub(crate) compaction: Mutex<compaction::Compaction>,
    /// Wakes the automatic compaction's thread from its wait (when the server closes).
    pub(crate) compaction_wake: std::sync::Condvar,
    /// Turns for lineage walks and change checks (see `admission`); taken before any lock.
    pub(crate) admission: Arc<admission::Admission>,
    /// The threads heavy reads run on (see `pool`).
    pub(crate) reads: pool::ReadPool,
}

/// A handle on the running service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
    writer: writer::WriterHandle,
    writer_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Where ingest requests go instead of the writer, when this server forwards them to a log
    /// it consumes (see [`Forward`]).
    forward: Option<Arc<dyn Forward>>,
    /// Loads the column lineage (unless graph policies made start-up load it), then the
    /// nodes' owners.
    loader_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    recorder_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Who this handle acts for (see `access`): unidentified from [`Service::open`], a
    /// principal after [`Service::authenticate`].
    caller: access::Caller,
}

impl Service {
    /// Opens the store, rebuilds the lineage index from it and starts the writer.
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(config: ServiceConfig) -> Result<Self, ServiceError> {
        let store = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|error| {
                    ServiceError::Internal(format!("cannot create data directory `{}`: {error}", dir.display()))
                })?;
                Store::open(dir, &config.store)?
            }
            None => Store::open_temporary(&config.store)?,
        };
        let fresh_key = tributary_auth::RedactionKey::generate()?.to_bytes();
        let redaction_key = tributary_auth::RedactionKey::from_bytes(store.redaction_key(|| fresh_key)?);
        // sled's first write after opening a store with a long log stalls (see
        // `Store::stabilize_recovered_log`): made here, on another core, while the index loads.
        // The applied mesh (its descriptors and the datasets they claim) does not depend on the
        // index either: read beside it too (4,022 products claiming 270,000 datasets took ~2 s
        // before session 41 made their structures lighter: benches/README.md).
        let (loaded, stabilized, mesh) = std::thread::scope(|scope| {
            let load_mesh = || mesh::MeshState::load(&store, config.policies.clone());
            let mesh_loading =
                std::thread::Builder::new().name("tributary-mesh-load".into()).spawn_scoped(scope, load_mesh);
            let stabilizing = config.data_dir.is_some().then(|| {
                std::thread::Builder::new().name("tributary-stabilize".into()).spawn_scoped(scope, || {
                    let started = std::time::Instant::now();
                    let outcome = store.stabilize_recovered_log();
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(elapsed_ms, "the store's recovered log accounted for (its first write)");
                    outcome
                })
            });
            let snapshot = config.data_dir.as_deref().and_then(|dir| snapshot::load(dir, &store, &redaction_key));
            let loaded = match snapshot {
                Some((index, owners, columns)) => {
                    apply::load_aliases(&store).map(|aliases| (index, aliases, owners, Some(columns)))
                }
                None => apply::rebuild_index(&store).map(|(index, aliases)| (index, aliases, None, None)),
            };
            let stabilized = match stabilizing {
                None => Ok(()),
                Some(Err(spawn)) => Err(format!("cannot start its thread: {spawn}")),
                Some(Ok(thread)) => match thread.join() {
                    Ok(outcome) => outcome.map_err(|failure| failure.to_string()),
                    Err(_) => Err("its thread panicked".to_owned()),
                },
            };
            let mesh = match mesh_loading {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|_| Err(ServiceError::Internal("loading the applied mesh panicked".into()))),
                // No thread to spare: read it here.
                Err(_) => load_mesh(),
            };
            (loaded, stabilized, mesh)
        });
        if let Err(failure) = stabilized {
            // The store may not take writes (a full disk): the server still answers reads,
            // and the writer's first group meets the failed write (sled keeps its error) and
            // recovers as from any failed flush (reopen, probe, then writes again).
            tracing::warn!(error = %failure, "the store's first write after opening failed");
        }
        let (index, aliases, owners, pending_columns) = loaded?;
        let index_origin = if pending_columns.is_some() { IndexOrigin::Snapshot } else { IndexOrigin::Rebuilt };
        let snapshot_at = pending_columns
            .as_ref()
            .map(|columns| snapshot::SnapshotFile { sequence: columns.written(), owners: owners.is_some() });
        let offsets: std::collections::BTreeMap<(String, i32), i64> = store
            .source_offsets()?
            .into_iter()
            .map(|offset| ((offset.topic, offset.partition), offset.offset))
            .collect();
        let mesh = mesh?;
        let graph_policies = mesh.has_graph_policies();
        let tokens = access::Tokens::load(&store, config.require_auth)?;
        let owners = owners.unwrap_or_else(mesh::NodeOwners::loading);
        let mut state = State { index, aliases, mesh, offsets, owners };
        let watermark = Watermark { offsets: state.offsets_list(), ..state.index.watermark() };
        state.index.set_watermark(watermark);
        state.relabel();
        let published = state.index.watermark().sequence;
        let metrics = metrics::Metrics::new()
            .map_err(|error| ServiceError::Internal(format!("cannot set up the metrics: {error}")))?;
        let admission = Arc::new(admission::Admission::new(config.max_traversals, metrics.traversals_waiting.clone()));
        let reads = pool::ReadPool::new(config.max_traversals, config.read_nice);
        let shared = Arc::new(Shared {
            store,
            state: RwLock::new(state),
            writers_waiting: std::sync::atomic::AtomicUsize::new(0),
            apply: Mutex::new(()),
            schema_changes: tokio::sync::broadcast::channel(change::SCHEMA_CHANGE_BACKLOG).0,
            recorder: recorder::Recorder::new(published),
            config,
            column_state: Mutex::new(columns::ColumnState::Loading),
            index_origin,
            snapshot_at: Mutex::new(snapshot_at),
            column_ready: std::sync::Condvar::new(),
            read_gate: consistency::ReadGate::default(),
            health: health::Health::default(),
            product_lineage_cache: Mutex::new(None),
            owners_load_end: mesh::OwnersLoadEnd::default(),
            #[cfg(test)]
            owners_loads_to_fail: std::sync::atomic::AtomicU32::new(0),
            product_lineage_rounds: coalesce::Coalesced::default(),
            summary_cache: mesh::SummaryCache::default(),
            tokens,
            redaction_key,
            metrics,
            closing: std::sync::atomic::AtomicBool::new(false),
            compaction: Mutex::new(compaction::Compaction::default()),
            compaction_wake: std::sync::Condvar::new(),
            admission,
            reads,
        });
        // Graph policies look at column lineage (PII reach) and their findings must be right
        // from the first event on: with some, the column lineage loads before serving. The
        // nodes' owners load afterwards, on the loader thread (see `mesh::owners`).
        let mut pending_columns = pending_columns;
        if graph_policies {
            columns::load(&shared, pending_columns.take());
        }
        let loader = Arc::clone(&shared);
        let loader_thread = std::thread::Builder::new()
            .name("tributary-loader".into())
            .spawn(move || {
                if !graph_policies {
                    columns::load(&loader, pending_columns);
                }
                mesh::load_owners(&loader);
            })
            .map_err(|error| ServiceError::Internal(format!("cannot start the loader thread: {error}")))?;
        let recorder_thread = recorder::start(&shared)?;
        let (writer, thread) = writer::start(Arc::clone(&shared));
        if let Some(policy) = shared.config.auto_compact.clone()
            && let Err(failure) = compaction::start_auto(&shared, policy)
        {
            // The server runs on; an admin can still compact it.
            tracing::error!(error = %failure, "the store will not be compacted automatically");
        }
        Ok(Self {
            shared,
            writer,
            writer_thread: Arc::new(Mutex::new(Some(thread))),
            forward: None,
            loader_thread: Arc::new(Mutex::new(Some(loader_thread))),
            recorder_thread: Arc::new(Mutex::new(Some(recorder_thread))),
            caller: access::Caller::Unidentified,
        })
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.shared.config
    }

    /// Parses, validates and durably stores one event.
    pub async fn ingest(&self, bytes: &[u8]) -> Result<IngestOutcome, ServiceError> {
        // An unknown caller costs no parsing.
        self.check_caller()?;
        if bytes.len() > INLINE_PARSE_BYTES {
            return self.ingest_owned(bytes.to_vec()).await;
        }
        let event = parse_event(bytes)?;
        self.submit(event).await
    }

    /// [`Self::ingest`] for a body the caller owns: a large one is parsed and validated on a
    /// blocking thread, so one big event does not hold up the async runtime.
    pub async fn ingest_owned(&self, bytes: Vec<u8>) -> Result<IngestOutcome, ServiceError> {
        self.check_caller()?;
        let event = parse_owned(bytes).await??;
        self.submit(event).await
    }

    /// Stores a batch of events (`POST /api/v1/lineage/batch`): each is parsed, authorized
    /// and queued in order; the answer comes once every accepted event is durable, one result
    /// per event in the batch's order. An event refused (invalid, outside the caller's grant)
    /// does not stop the others. At most [`MAX_BATCH_EVENTS`] events.
    pub async fn ingest_batch(
        &self,
        events: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<IngestOutcome, ServiceError>>, ServiceError> {
        if events.len() > MAX_BATCH_EVENTS {
            return Err(ServiceError::invalid(
                "",
                format!("a batch holds {} events; at most {MAX_BATCH_EVENTS} are allowed", events.len()),
            ));
        }
        // The caller must be known before anything is parsed (a refused batch costs nothing).
        self.check_caller()?;
        let mut pending = Vec::with_capacity(events.len());
        for bytes in events {
            let parsed = parse_owned(bytes).await?;
            pending.push(match parsed {
                Ok(event) => self.enqueue(event).await,
                Err(error) => Err(error.into()),
            });
        }
        let mut results = Vec::with_capacity(pending.len());
        for item in pending {
            results.push(match item {
                Ok(ack) => ack.await,
                Err(error) => Err(error),
            });
        }
        Ok(results)
    }

    /// Stores an already parsed event; resolves once it is durable. Goes ahead of bulk
    /// loads (see [`Self::enqueue`]).
    pub async fn submit(&self, event: ParsedEvent) -> Result<IngestOutcome, ServiceError> {
        let actor = self.authorize_ingest(&event)?.actor();
        if let Some(forward) = &self.forward {
            return source::forward(forward.as_ref(), event).await;
        }
        let sql = derive_sql(&event).await?;
        let (event, encoded) = self.encode_event(event).await?;
        self.writer.enqueue(event, sql, actor, encoded, writer::Lane::Interactive, None).await?.await
    }

    /// Queues an already parsed event in order and returns its acknowledgement to await
    /// later, so that a stream can keep many events in flight (group commit batches them).
    /// Such bulk events yield to single events at every group.
    pub async fn enqueue(&self, event: ParsedEvent) -> Result<PendingAck, ServiceError> {
        let actor = self.authorize_ingest(&event)?.actor();
        if let Some(forward) = &self.forward {
            return Ok(source::forward_pending(Arc::clone(forward), event));
        }
        let sql = derive_sql(&event).await?;
        let (event, encoded) = self.encode_event(event).await?;
        self.writer.enqueue(event, sql, actor, encoded, writer::Lane::Bulk, None).await
    }

    /// The event's stored form, made here (in parallel with other callers) rather than on the
    /// writer thread; a large event on a blocking thread, like its parse.
    async fn encode_event(
        &self,
        event: ParsedEvent,
    ) -> Result<(ParsedEvent, tributary_store::EncodedEvent), ServiceError> {
        // The datasets' column lineage records too: the writer stores them as they are unless
        // an alias changes an input.
        let encode = |store: &tributary_store::Store, event: &ParsedEvent| {
            let lineage = event.body.datasets().into_iter().map(|dataset| dataset.column_lineage.as_deref());
            store.encode_event(&event.canonical).with_column_lineage(lineage)
        };
        if event.canonical.len() <= INLINE_PARSE_BYTES {
            let encoded = encode(&self.shared.store, &event);
            return Ok((event, encoded));
        }
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let encoded = encode(&shared.store, &event);
            (event, encoded)
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("encoding task failed: {error}")))
    }

    /// Stops accepting events, waits for the writer to drain and flush. Other clones of
    /// this handle get `Unavailable` afterwards.
    pub fn close(&self) {
        self.shared.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.reads.close();
        self.join_compaction();
        let loader = self.loader_thread.lock().ok().and_then(|mut guard| guard.take());
        if let Some(loader) = loader {
            let _ = loader.join();
        }
        // The change being recorded is finished; the queued ones wait for the next start.
        self.shared.recorder.close();
        let recorder = self.recorder_thread.lock().ok().and_then(|mut guard| guard.take());
        if let Some(recorder) = recorder
            && recorder.join().is_err()
        {
            tracing::error!("the schema change recorder panicked");
        }
        self.writer.close();
        let thread = self.writer_thread.lock().ok().and_then(|mut guard| guard.take());
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the writer thread panicked; the index snapshot is not written");
                return;
            }
            // Only the call that stopped the writer saves the index.
            if let Some(dir) = &self.shared.config.data_dir
                && let Err(why) = snapshot::save(&self.shared, dir)
            {
                tracing::info!("lineage index snapshot not written: {why}; the next start-up catches up or rebuilds");
            }
        }
    }

    /// How the lineage index was made when the service opened.
    pub fn index_origin(&self) -> IndexOrigin {
        self.shared.index_origin
    }

    pub fn watermark(&self) -> Watermark {
        self.shared.read_state().index.watermark()
    }

    /// [`Self::watermark`] as a query: needs `read` like every other answer.
    pub fn read_watermark(&self) -> Result<Watermark, ServiceError> {
        self.require_read()?;
        Ok(self.watermark())
    }

    /// Liveness and readiness: whether writes are being made durable, what start-up work is
    /// still under way. Cheap: no store access.
    pub fn health(&self) -> HealthReport {
        let mut not_ready = Vec::new();
        match &*self.shared.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            columns::ColumnState::Ready => {}
            columns::ColumnState::Loading => not_ready.push("column lineage loading".to_owned()),
            columns::ColumnState::Failed(reason) => not_ready.push(format!("column lineage failed to load: {reason}")),
        }
        not_ready.extend(
            self.shared
                .read_state()
                .mesh
                .unreadable
                .iter()
                .map(|what| format!("stored mesh document unreadable: {what}")),
        );
        let unhealthy = self.shared.health.write_failure();
        HealthReport { unhealthy, not_ready, watermark: self.watermark() }
    }

    /// Waits until the column lineage is loaded after start-up (column answers wait for it
    /// on their own; this is for callers that want to know, such as benchmarks).
    pub fn wait_for_column_lineage(&self) -> Result<(), ServiceError> {
        self.shared.wait_for_columns()
    }

    /// [`Self::wait_for_column_lineage`] for async callers: returns at once when loaded, else
    /// waits on a blocking thread, so request tasks never block the runtime.
    pub async fn column_lineage_loaded(&self) -> Result<(), ServiceError> {
        if *self.shared.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
            == columns::ColumnState::Ready
        {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.wait_for_columns())
            .await
            .map_err(|error| ServiceError::Internal(format!("waiting for the column lineage failed: {error}")))?
    }

    /// Runs `work` on a blocking thread: every use case that reads the store or walks the
    /// graph goes through here, so the async runtime never does.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || work(&shared))
            .await
            .map_err(|error| ServiceError::Internal(format!("blocking task failed: {error}")))?
    }

    /// Runs the reads that can keep a core busy for a while (lineage and column walks, change
    /// checks, impact summaries) on the read threads (`pool`, at a lower priority): waits for
    /// a turn first (see `admission`), and holds it until `work` returns.
    pub(crate) async fn traversal<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let caller = admission::Caller::of(&*self.principal()?);
        let turn = self.shared.admission.admit(caller.clone(), &self.shared.metrics).await?;
        let shared = Arc::clone(&self.shared);
        self.shared
            .reads
            .run(caller, move || {
                let answer = work(&shared);
                drop(turn);
                answer
            })
            .await?
    }

    /// Runs the CPU-heavy part of sending a large answer (writing a long list of it in a
    /// transport's encoding) on the read threads, at their lower priority, like the walk that
    /// made it (see `pool`, queued with the caller's other jobs); not admitted (the answer's
    /// walk was).
    pub async fn encode_answer<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.shared.reads.run(self.queue_key(), work).await
    }

    /// [`Self::traversal`] for work that needs the column lineage: waits for its load after
    /// start-up first, before taking a turn (so no turn is held while it loads).
    pub(crate) async fn column_traversal<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        self.column_lineage_loaded().await?;
        self.traversal(work).await
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, ServiceError> {
        Ok(self.shared.store.size_on_disk()?)
    }

    /// Keys and bytes per store key prefix (a full scan).
    pub fn store_stats(&self) -> Result<Vec<tributary_store::PrefixStats>, ServiceError> {
        Ok(self.shared.store.stats()?)
    }
}

impl Shared {
    /// The shared state for reading. Hold it for one answer and take no other lock meanwhile.
    pub(crate) fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock would leave the state half-updated; the writer
        // never panics while holding it (it only calls infallible index methods), so a
        // poisoned lock still holds a consistent state.
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shared state for writing; readers working in units see that it is asked for
    /// ([`Self::writer_waiting`]) while this waits.
    pub(crate) fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        use std::sync::atomic::Ordering;
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        state
    }

    /// Whether someone waits to take the state for writing: a reader holding it for a slice
    /// of work lets go at its next unit and takes the lock again once the writer has it.
    pub(crate) fn writer_waiting(&self) -> bool {
        self.writers_waiting.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Serialises descriptor applies; taken before [`Self::write_state`], never after.
    pub(crate) fn apply_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.apply.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests;
