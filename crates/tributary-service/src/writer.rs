//! The writer thread: applies a group of events into one atomic batch (an event's writes whole
//! or not at all) and commits it; the finishing thread beside it (`Finisher`) flushes it once,
//! updates the lineage index, then acknowledges, while the writer applies the next group.
//!
//! Two lanes feed it, so one client's bulk load cannot starve the others: the interactive
//! lane (one event per request: HTTP ingest, gRPC `IngestEvent`) and the bulk lane (gRPC
//! streams and batches, `tributary import`, which keep many events in flight). Each group
//! takes everything waiting in the interactive lane first, then a few bulk events (a
//! bulk-only group fills up to `max_group`), so a single event waits for at most the group
//! being applied when it arrives plus a short one, not for a bulk client's whole backlog.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};
use tributary_model::{SourcePosition, SourceRejection, Watermark};
use tributary_openlineage::ParsedEvent;
use tributary_store::{EncodedEvent, GroupWrite};

use crate::apply::{Arrival, IndexDelta, StoredAliases, apply_event};
use crate::sql::SqlLineage;
use crate::{IngestOutcome, ServiceError, Shared};

/// The outcome, and the event itself going back to the caller: a parsed event is a large
/// tree of allocations made on the caller's thread, and freeing them there is much cheaper
/// than on the writer (the allocator's per-thread arenas contend on cross-thread frees:
/// measured at about 80 µs per event on the writer, a third of its time).
type Reply = oneshot::Sender<(Result<Applied, ServiceError>, Option<ParsedEvent>)>;

/// What the writer is asked to store. Nearly every request is an event, so it is not boxed
/// (that would add an allocation per event to save space on the rare rejection).
#[allow(clippy::large_enum_variant)]
enum Work {
    Event {
        event: ParsedEvent,
        /// Column lineage derived from the job's SQL, computed by the caller before enqueueing.
        sql: Option<SqlLineage>,
        /// Who sent it, for the audit entry written with it.
        actor: tributary_model::Actor,
        /// The event as stored, encoded by the caller (taken by the writer).
        encoded: Option<EncodedEvent>,
    },
    /// A consumed record that is not an event: recorded, and its partition moves past it.
    Rejected(SourceRejection),
}

struct Request {
    work: Work,
    /// Where a consumed record came from: written in the same batch, applied once.
    source: Option<SourcePosition>,
    reply: Reply,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The event is stored (or was already: `duplicate`).
    Stored(IngestOutcome),
    /// The consumed record was not an event; its rejection is stored.
    Rejected,
    /// The consumed record's offset was applied before (a redelivery); nothing was written.
    AlreadyApplied,
}

/// The acknowledgement of an enqueued event: resolves once the event is durable.
pub struct PendingAck {
    answer: oneshot::Receiver<(Result<Applied, ServiceError>, Option<ParsedEvent>)>,
}

impl PendingAck {
    /// An acknowledgement that another task will give (an event forwarded to a log).
    pub(crate) fn channel() -> (Reply, Self) {
        let (reply, answer) = oneshot::channel();
        (reply, Self { answer })
    }

    /// What became of a consumed record (see [`Applied`]); for events from requests, the
    /// future itself gives the [`IngestOutcome`].
    pub async fn applied(self) -> Result<Applied, ServiceError> {
        match self.answer.await {
            // The event is dropped here, on the caller's thread.
            Ok((result, _event)) => result,
            Err(_) => Err(ServiceError::Internal("the writer stopped before answering".into())),
        }
    }

    /// The outcome and the event itself, for a caller that frees events on a thread of its
    /// choosing: the bulk loader frees each on the thread that parsed it, where the allocator
    /// takes the blocks back without cross-thread traffic.
    pub async fn outcome_and_event(self) -> (Result<IngestOutcome, ServiceError>, Option<ParsedEvent>) {
        request_outcome(self.answer.await)
    }
}

/// A request's outcome from the writer's answer (`Err`: the writer went away unanswered).
fn request_outcome(
    received: Result<(Result<Applied, ServiceError>, Option<ParsedEvent>), oneshot::error::RecvError>,
) -> (Result<IngestOutcome, ServiceError>, Option<ParsedEvent>) {
    match received {
        Ok((Ok(Applied::Stored(outcome)), event)) => (Ok(outcome), event),
        Ok((Ok(other), event)) => {
            (Err(ServiceError::Internal(format!("unexpected outcome for a request: {other:?}"))), event)
        }
        Ok((Err(error), event)) => (Err(error), event),
        Err(_) => (Err(ServiceError::Internal("the writer stopped before answering".into())), None),
    }
}

impl std::future::Future for PendingAck {
    type Output = Result<IngestOutcome, ServiceError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, context: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        // The event is dropped here, on the caller's thread.
        std::pin::Pin::new(&mut self.answer).poll(context).map(|received| request_outcome(received).0)
    }
}

/// Which queue an event waits in (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    Interactive,
    Bulk,
}

/// Wakes the writer when either lane has something. Its mutex is a leaf.
#[derive(Default)]
struct Doorbell {
    rung: std::sync::Mutex<bool>,
    ring: std::sync::Condvar,
}

impl Doorbell {
    fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        self.ring.notify_one();
    }

    /// Waits until the bell rings or `timeout` passes: whether it rang (since the last wait).
    fn wait(&self, timeout: std::time::Duration) -> bool {
        let guard = self.rung.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut rung, _) = self
            .ring
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *rung)
    }
}

type Senders = (mpsc::Sender<Request>, mpsc::Sender<Request>);

/// Bulk events let into a group that carries single events.
const BULK_BESIDE_SINGLE: usize = 32;

#[derive(Clone)]
pub(crate) struct WriterHandle {
    senders: Arc<std::sync::Mutex<Option<Senders>>>,
    doorbell: Arc<Doorbell>,
}

impl WriterHandle {
    /// Hands the event to the writer in `lane` (waiting while that lane is full) and
    /// returns the acknowledgement to await.
    pub(crate) async fn enqueue(
        &self,
        event: ParsedEvent,
        sql: Option<SqlLineage>,
        actor: tributary_model::Actor,
        encoded: EncodedEvent,
        lane: Lane,
        source: Option<SourcePosition>,
    ) -> Result<PendingAck, ServiceError> {
        self.send(Work::Event { event, sql, actor, encoded: Some(encoded) }, source, lane).await
    }

    /// Queues the rejection of a consumed record (bulk lane, in order with its partition's
    /// events).
    pub(crate) async fn reject(&self, rejection: SourceRejection) -> Result<PendingAck, ServiceError> {
        let source = Some(rejection.position.clone());
        self.send(Work::Rejected(rejection), source, Lane::Bulk).await
    }

    async fn send(&self, work: Work, source: Option<SourcePosition>, lane: Lane) -> Result<PendingAck, ServiceError> {
        let senders = self.senders.lock().ok().and_then(|guard| guard.clone());
        let (interactive, bulk) = senders.ok_or_else(ServiceError::shutting_down)?;
        let sender = match lane {
            Lane::Interactive => interactive,
            Lane::Bulk => bulk,
        };
        let (reply, ack) = PendingAck::channel();
        sender.send(Request { work, source, reply }).await.map_err(|_| ServiceError::shutting_down())?;
        self.doorbell.ring();
        Ok(ack)
    }

    pub(crate) fn close(&self) {
        if let Ok(mut guard) = self.senders.lock() {
            guard.take();
        }
        self.doorbell.ring();
    }
}

pub(crate) fn start(shared: Arc<Shared>) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let capacity = shared.config.max_group.max(1) * 2;
    let (interactive_tx, interactive_rx) = mpsc::channel(capacity);
    let (bulk_tx, bulk_rx) = mpsc::channel(capacity);
    let doorbell = Arc::new(Doorbell::default());
    let ringing = Arc::clone(&doorbell);
    let thread = std::thread::Builder::new()
        .name("tributary-writer".into())
        .spawn(move || run(shared, interactive_rx, bulk_rx, &ringing))
        // Spawning a thread fails only when the OS is out of resources at start-up.
        .expect("spawn the writer thread");
    (WriterHandle { senders: Arc::new(std::sync::Mutex::new(Some((interactive_tx, bulk_tx)))), doorbell }, thread)
}

/// Moves up to `room` waiting requests from `receiver` into `group`; false once the lane is
/// closed and empty.
fn drain(receiver: &mut mpsc::Receiver<Request>, group: &mut Vec<Request>, room: usize) -> bool {
    while group.len() < room {
        match receiver.try_recv() {
            Ok(request) => group.push(request),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

fn run(
    shared: Arc<Shared>,
    mut interactive: mpsc::Receiver<Request>,
    mut bulk: mpsc::Receiver<Request>,
    doorbell: &Doorbell,
) {
    let max_group = shared.config.max_group.max(1);
    let mut group: Vec<Request> = Vec::with_capacity(max_group);
    let mut last_recovery = None;
    // When the writer last had work, and whether it saved a snapshot since (see `snapshot`).
    let mut busy_at = std::time::Instant::now();
    let mut saved_since = false;
    let mut saving = crate::snapshot::Saving::default();
    let mut dictionary = DictionaryTraining::default();
    let mut finisher = Finisher::start(&shared);
    // The group handed to the finisher last asks the next one to wait for its publication.
    let mut wait_for_publication = false;
    loop {
        let interactive_open = drain(&mut interactive, &mut group, max_group);
        // A group that carries single events takes only a few bulk events, so it is
        // acknowledged quickly; a bulk-only group takes a full `max_group`.
        let bulk_room = if group.is_empty() { max_group } else { (group.len() + BULK_BESIDE_SINGLE).min(max_group) };
        let bulk_open = drain(&mut bulk, &mut group, bulk_room);
        if group.is_empty() {
            if !interactive_open && !bulk_open {
                finisher.stop();
                dictionary.finish();
                saving.finish();
                return;
            }
            // The timeout only guards against a missed ring; a ring wakes the writer at once.
            if doorbell.wait(std::time::Duration::from_millis(100)) {
                // Work came (or a lane closed): taken at once, while the finisher may still
                // flush the group handed over last. Waiting for that group here made every
                // event that found the writer between groups wait for a flush before its
                // apply began: with closed-loop clients (each sends its next event once the
                // last is acknowledged) that is most events.
                continue;
            }
            // Idle: the group handed over last is published before anything below looks.
            finisher.wait_until_finished();
            wait_for_publication = false;
            // Idle after a failed flush: keep trying, so health recovers without a write.
            try_recover(&shared, &mut last_recovery);
            // Idle a while: save the index, so that a crash later catches up from here
            // instead of rebuilding. Nothing changes the index meanwhile (this is the writer).
            if !saved_since && busy_at.elapsed() >= crate::snapshot::IDLE_BEFORE_SAVE {
                // Not while a busy save's file is still written: it may be older than the index.
                saved_since = saving.when_idle(&shared);
            }
            continue;
        }
        busy_at = std::time::Instant::now();
        saved_since = false;
        if wait_for_publication || shared.health.write_failure().is_some() {
            finisher.wait_until_finished();
        }
        let committed = apply_group(&shared, std::mem::take(&mut group), &mut last_recovery);
        group = Vec::with_capacity(max_group);
        wait_for_publication = committed.as_ref().is_some_and(|committed| committed.needs_publication(&shared));
        if let Some(committed) = committed {
            finisher.hand_over(&shared, committed);
        }
        // Readers of stored records wait for a store with nothing applied and unpublished:
        // give them one, then the pause they asked for.
        if shared.read_gate.readers_waiting() {
            finisher.wait_until_finished();
        }
        shared.read_gate.let_readers_in();
        dictionary.poll(&shared);
        saving.after_group(&shared, || finisher.wait_until_finished());
    }
}

/// The second half of the pipeline: makes each group the writer committed durable (one
/// flush), publishes it and acknowledges its events, on a thread of its own, while the writer
/// applies and commits the next group. At most one group waits here: the hand-over is a
/// rendezvous, so the writer hands group N+1 over only once group N is finished.
///
/// The store may therefore hold one committed group past the published watermark (it could
/// already, between a group's commit and its flush): readers of stored records wait for a
/// store with nothing unpublished (`consistency`), and the writer gives them one by waiting
/// here before it pauses for them. Whatever must see the store exactly as published waits
/// too: the writer before a group that follows one that stored aliases or changed what graph
/// policies look at (see [`Committed::needs_publication`]), and before recovering from a
/// failed flush, taking a snapshot's image (busy or idle), or stopping.
struct Finisher {
    handing: Option<std::sync::mpsc::SyncSender<Committed>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Groups handed over; the finisher counts the ones it finished in `finished`.
    handed: u64,
    finished: Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
}

impl Finisher {
    fn start(shared: &Arc<Shared>) -> Self {
        let (handing, taking) = std::sync::mpsc::sync_channel::<Committed>(0);
        let finished = Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
        let counting = Arc::clone(&finished);
        let worker = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name("tributary-flush".into())
            .spawn(move || {
                // The thread ends only once the writer drops its sender (`stop`): a panic in one
                // group is caught below.
                while let Ok(committed) = taking.recv() {
                    // A bug in publishing must not leave the store and the index apart with ingest
                    // going on: writes are refused from then on (the group's callers were told the
                    // writer stopped), reads go on, and a restart rebuilds from the store.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(&worker, committed))).is_err() {
                        error!("finishing a group panicked; writes are refused until a restart");
                        worker.health.needs_restart(
                        "finishing a group of events panicked; restart the server (acknowledged events are durable)"
                            .into(),
                    );
                    }
                    let (count, changed) = &*counting;
                    *count.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
                    changed.notify_all();
                }
            })
            // Like the writer's own: spawning fails only when the OS is out of resources at start-up.
            .expect("spawn the flushing thread");
        Self { handing: Some(handing), thread: Some(thread), handed: 0, finished }
    }

    /// Hands a committed group over, waiting while the previous one is finished.
    fn hand_over(&mut self, shared: &Shared, committed: Committed) {
        let sent = match &self.handing {
            Some(handing) => handing.send(committed).map_err(|std::sync::mpsc::SendError(committed)| committed),
            None => Err(committed),
        };
        match sent {
            Ok(()) => self.handed += 1,
            // Only after `stop`, or should the thread have ended against the above: the group
            // is finished here, never dropped.
            Err(committed) => {
                error!("the flushing thread is gone; the writer finishes the group itself");
                self.handing = None;
                finish(shared, committed);
            }
        }
    }

    /// Waits until every group handed over is finished (published and acknowledged), or the
    /// finishing thread is gone.
    fn wait_until_finished(&self) {
        let (count, changed) = &*self.finished;
        let mut finished = count.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *finished < self.handed {
            if self.thread.as_ref().is_none_or(std::thread::JoinHandle::is_finished) {
                return;
            }
            finished = changed
                .wait_timeout(finished, std::time::Duration::from_millis(100))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Finishes what was handed over and ends the thread.
    fn stop(&mut self) {
        self.handing = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the flushing thread panicked");
        }
    }
}

/// The event dictionary's training (store `dictionary`): on a thread of its own, so the
/// writer goes on while zstd learns; at most one at a time, joined before the writer ends.
#[derive(Default)]
struct DictionaryTraining {
    running: Option<std::thread::JoinHandle<()>>,
}

impl DictionaryTraining {
    /// After a group: collects a finished training, starts one when the store is due.
    fn poll(&mut self, shared: &Arc<Shared>) {
        if self.running.as_ref().is_some_and(std::thread::JoinHandle::is_finished) {
            self.finish();
        }
        if self.running.is_some() {
            return;
        }
        match shared.store.event_dictionary_due() {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                warn!(%error, "cannot tell whether an event dictionary is due");
                return;
            }
        }
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new().name("tributary-dict".into()).spawn(move || {
            match shared.store.train_event_dictionary() {
                Ok(Some(trained)) => tracing::info!(
                    id = trained.id,
                    trained_at = trained.trained_at,
                    samples = trained.samples,
                    sample_bytes = trained.sample_bytes,
                    dictionary_bytes = trained.dictionary_bytes,
                    elapsed_ms = trained.elapsed.as_millis() as u64,
                    "event dictionary trained: new events are compressed with it"
                ),
                Ok(None) => {}
                // Events go on with the dictionary they had (or lz4); the next group asks again.
                Err(error) => warn!(%error, "training an event dictionary failed"),
            }
        });
        match spawned {
            Ok(handle) => self.running = Some(handle),
            Err(error) => warn!(%error, "cannot start the event dictionary's training"),
        }
    }

    fn finish(&mut self) {
        if let Some(handle) = self.running.take()
            && handle.join().is_err()
        {
            error!("the event dictionary's training panicked");
        }
    }
}

/// How often a writer whose flush failed tries to reopen the store.
const RECOVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// After a failed flush: reopens the store (sled keeps the IO error until then), checks the
/// disk takes a write, and resumes if the durable store is exactly what was published (the
/// failed group was neither acknowledged nor published). Rate-limited by `last_attempt`.
fn try_recover(shared: &Shared, last_attempt: &mut Option<std::time::Instant>) -> bool {
    if shared.health.write_failure().is_none() {
        return true;
    }
    if shared.health.restart_required() || last_attempt.is_some_and(|at| at.elapsed() < RECOVERY_INTERVAL) {
        return false;
    }
    *last_attempt = Some(std::time::Instant::now());
    let reopened =
        shared.store.reopen().and_then(|()| shared.store.probe_write()).and_then(|()| shared.store.last_sequence());
    match reopened {
        Ok(durable) => {
            let published = shared.read_state().index.watermark().sequence;
            if durable != published {
                // Part of the failed group reached the disk: the index no longer matches it.
                shared.health.needs_restart(format!(
                    "the store holds events up to {durable} but answers were published up to {published}; restart the server"
                ));
                return false;
            }
            shared.health.write_succeeded();
            tracing::info!(sequence = durable, "the store takes writes again; ingest resumes");
            true
        }
        Err(failure) => {
            warn!(error = %failure, "the store still refuses writes");
            false
        }
    }
}

/// A group the writer applied and committed (applied to the store, not yet durable), on its
/// way to the finisher.
struct Committed {
    group: Vec<Request>,
    results: Vec<Result<Applied, ServiceError>>,
    deltas: Vec<IndexDelta>,
    /// The store's last event sequence right after the group's batch (the watermark the group
    /// publishes), or why the batch failed.
    committed: Result<u64, tributary_store::StoreError>,
    apply_started: std::time::Instant,
}

impl Committed {
    /// Whether the next group must wait for this one's publication: the rules look up the
    /// aliases of earlier groups in the published state, and graph policies are evaluated
    /// against the store when a group is published, which must not hold a later group yet.
    fn needs_publication(&self, shared: &Shared) -> bool {
        if self.deltas.iter().any(IndexDelta::stores_aliases) {
            return true;
        }
        self.deltas.iter().any(|delta| delta.graph_policies_dirty) && shared.read_state().mesh.has_graph_policies()
    }
}

/// Applies the events of `group` into one batch and applies that batch to the store (not yet
/// durable: see [`finish`]). `None` when the group was refused whole (the store failed and has
/// not recovered).
fn apply_group(
    shared: &Shared,
    mut group: Vec<Request>,
    last_recovery: &mut Option<std::time::Instant>,
) -> Option<Committed> {
    // After a failed flush the store holds applied batches that may never become durable
    // (sled keeps the IO error until it is reopened): nothing more is applied or published
    // until the store is reopened and takes writes again, so answers stay at the last durable
    // state, and events are refused with the reason meanwhile.
    if !try_recover(shared, last_recovery) {
        let reason = shared.health.write_failure().unwrap_or_default();
        for Request { work, reply, .. } in group.drain(..) {
            let _ = reply.send((Err(ServiceError::Unavailable(reason.clone())), work.into_event()));
        }
        return None;
    }
    let mut results: Vec<Result<Applied, ServiceError>> = Vec::with_capacity(group.len());
    let mut deltas: Vec<IndexDelta> = Vec::with_capacity(group.len());
    // The writes of the whole group, committed as one atomic batch after the last event: a
    // record several events rewrite (a hub dataset, a run's START and COMPLETE) is written once.
    let mut writes = GroupWrite::default();
    let apply_started = std::time::Instant::now();
    for request in group.iter_mut() {
        // A bug in applying one event must not take the writer (and every later event)
        // down with it: a panic becomes that event's internal error. Nothing of the event
        // was added to the group, since its writes are added only at the end of `apply_event`.
        let applied =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply_request(shared, &mut writes, request)))
                .unwrap_or_else(|_| Err(ServiceError::Internal("applying the event panicked".into())));
        let applied = match (applied, &request.source) {
            // A consumed record that cannot be applied is recorded as rejected, so that its
            // partition goes on and the reason can be found.
            (Err(failure), Some(position)) if failure.code() != crate::ErrorCode::Unavailable => {
                error!(error = %failure, %position, "consumed record not applied; recorded as rejected");
                let rejection = SourceRejection::new(
                    position.clone(),
                    tributary_model::Timestamp::now(),
                    None,
                    "",
                    format!("not applied: {failure}"),
                    request.work.event().map_or(0, |event| event.canonical.len() as u64),
                );
                store_rejection(shared, &mut writes, &rejection).map(|()| (Applied::Rejected, None))
            }
            (applied, _) => applied,
        };
        match applied {
            Ok((outcome, delta)) => {
                results.push(Ok(outcome));
                deltas.extend(delta);
            }
            Err(failure) => {
                error!(error = %failure, "event not applied");
                results.push(Err(failure));
            }
        }
    }
    // One atomic batch for the group, then (in `finish`) one flush: every event of the group
    // is stored, or none (and none is acknowledged).
    shared.metrics.apply_seconds.observe(apply_started.elapsed().as_secs_f64());
    let commit_started = std::time::Instant::now();
    // The last sequence is read here, where the store holds exactly this group's batch on top
    // of the earlier ones: by the flush, the next group may be applied too.
    let committed = shared.store.commit_group(writes).and_then(|()| shared.store.last_sequence());
    shared.metrics.commit_seconds.observe(commit_started.elapsed().as_secs_f64());
    Some(Committed { group, results, deltas, committed, apply_started })
}

/// Makes a committed group durable (one flush), publishes it (index, aliases, mesh and
/// watermark under the state lock) and acknowledges its events: none before the flush, and
/// none of a group whose flush, or an earlier group's, failed.
fn finish(shared: &Shared, committed: Committed) {
    let Committed { mut group, results, deltas, committed, apply_started } = committed;
    // The group was committed on top of one whose flush failed: it is not made durable nor
    // published, and its events are refused like those that arrive until the store recovers.
    if committed.is_ok()
        && let Some(reason) = shared.health.write_failure()
    {
        for Request { work, reply, .. } in group.drain(..) {
            let _ = reply.send((Err(ServiceError::Unavailable(reason.clone())), work.into_event()));
        }
        return;
    }
    let mut schema_changes = false;
    let flush_started = std::time::Instant::now();
    let flushed = committed.and_then(|sequence| shared.store.flush().map(|()| sequence));
    shared.metrics.flush_seconds.observe(flush_started.elapsed().as_secs_f64());
    shared.metrics.group_events.observe(group.len() as f64);
    for (request, result) in group.iter().zip(&results) {
        let outcome = match result {
            Ok(Applied::Stored(outcome)) if outcome.duplicate => "duplicate",
            Ok(Applied::Stored(_)) if flushed.is_ok() => "stored",
            Ok(Applied::Rejected | Applied::AlreadyApplied) => "",
            _ => "failed",
        };
        if !outcome.is_empty() {
            shared.metrics.events.with_label_values(&[outcome]).inc();
        }
        if let (Some(position), Ok(applied)) = (&request.source, result)
            && flushed.is_ok()
        {
            shared.metrics.source_record(&position.topic, applied);
        }
    }
    // Health was clear when the group was applied (`try_recover`); only a failure changes it.
    if let Err(failure) = &flushed {
        error!(error = %failure, "flush failed; the group is not acknowledged");
        shared.health.write_failed(failure);
    }
    // Published only when durable: the index and watermark reflect exactly the flushed events.
    let mut published = None;
    if let Ok(sequence) = flushed {
        // One lock for the index, the aliases and the mesh: answers see all of a group or
        // none of it, and the writer never waits for a second lock while holding this one.
        let mut state = shared.write_state();
        let state = &mut *state;
        let mut graph_policies_dirty = false;
        for delta in deltas {
            graph_policies_dirty |= delta.graph_policies_dirty;
            schema_changes |= delta.apply(state);
        }
        // Consumed partitions move past every record of the group that was applied, rejected
        // or found applied before.
        for (request, result) in group.iter().zip(&results) {
            if let (Some(position), Ok(_)) = (&request.source, result) {
                let next = state.offsets.entry((position.topic.clone(), position.partition)).or_default();
                *next = (*next).max(position.offset + 1);
            }
        }
        state.index.set_watermark(Watermark { sequence, events: sequence, offsets: state.offsets_list() });
        // Policies over the graph: re-evaluated only when the mesh has some and the group
        // changed what they look at; findings are recorded before the acknowledgements.
        if graph_policies_dirty && state.mesh.has_graph_policies() {
            state.mesh.refresh_violations(&state.index, &shared.store, tributary_model::Timestamp::now());
        }
        published = Some(sequence);
    }
    shared.read_gate.published();
    // Schema changes seen in the wild wait in the store (written in their events' batches):
    // the recorder checks and records them beside the writer, against the published index.
    if let Some(sequence) = published {
        shared.recorder.published(sequence, schema_changes);
    }
    shared.metrics.group_seconds.observe(apply_started.elapsed().as_secs_f64());
    for (Request { work, reply, .. }, result) in group.drain(..).zip(results) {
        let result = match (&flushed, result) {
            (Err(failure), Ok(_)) if failure.is_resource_exhausted() => {
                Err(ServiceError::Unavailable(format!("event not made durable: the store cannot write: {failure}")))
            }
            (Err(failure), Ok(_)) => Err(ServiceError::Internal(format!("event not made durable: {failure}"))),
            (_, result) => result,
        };
        // The caller may have gone away (client disconnected); the event is stored anyway,
        // and the reply (with the event) is dropped here.
        let _ = reply.send((result, work.into_event()));
    }
}

impl Work {
    fn event(&self) -> Option<&ParsedEvent> {
        match self {
            Self::Event { event, .. } => Some(event),
            Self::Rejected(_) => None,
        }
    }

    fn into_event(self) -> Option<ParsedEvent> {
        match self {
            Self::Event { event, .. } => Some(event),
            Self::Rejected(_) => None,
        }
    }
}

/// Applies one request: its writes join the group's `writes` whole, or not at all on error.
fn apply_request(
    shared: &Shared,
    writes: &mut GroupWrite,
    request: &mut Request,
) -> Result<(Applied, Option<IndexDelta>), ServiceError> {
    // A redelivered record (its partition's stored offset is past it) is applied once only.
    if let Some(position) = &request.source
        && shared
            .store
            .view(writes)
            .source_offset(&position.topic, position.partition)?
            .is_some_and(|next| position.offset < next)
    {
        return Ok((Applied::AlreadyApplied, None));
    }
    match &mut request.work {
        Work::Event { event, sql, actor, encoded } => {
            let encoded = encoded.take();
            let arrival =
                Arrival { actor: Some(actor), encoded, source: request.source.as_ref(), record_schema_changes: true };
            let (outcome, delta) =
                apply_event(&shared.store, writes, event, sql.as_ref(), arrival, StoredAliases::Published(shared))?;
            Ok((Applied::Stored(outcome), delta))
        }
        Work::Rejected(rejection) => store_rejection(shared, writes, rejection).map(|()| (Applied::Rejected, None)),
    }
}

fn store_rejection(shared: &Shared, writes: &mut GroupWrite, rejection: &SourceRejection) -> Result<(), ServiceError> {
    let mut write = shared.store.write();
    write.put_source_rejection(rejection)?;
    writes.add(write);
    Ok(())
}
