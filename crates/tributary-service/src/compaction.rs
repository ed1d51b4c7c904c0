//! The store compacted while the server runs (`tributary_store::Store::compact_online`): one
//! compaction at a time, on a thread of its own, its progress and outcome kept for operators.
//! Ingest and queries go on meanwhile; each write waits at most one slice of the copy.
//!
//! An admin starts one (`compactStore`), or the server does by itself ([`AutoCompact`]): a
//! thread looks at the store's size every so often and compacts once it has grown by the
//! configured factor since its last compaction (a store never compacted: once it is large
//! enough to be compacted at all), if the file system has room for the copy. Either way the
//! copy stops, leaving the store as it was, when the file system's free space falls below
//! [`FREE_SPACE_RESERVE`]: the copy shares the disk with ingest, which must not be the one to
//! run out of it.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};
use tributary_auth::Principal;
use tributary_model::{Actor, ActorKind, AuditKind, AuditRecord, Timestamp};
use tributary_store::OnlineCompactReport;

use crate::{Service, ServiceError, Shared};

/// Free space a compaction leaves on the store's file system: it does not start with less
/// (an automatic one: with less beside the copy it expects to write), and stops when the copy
/// would take the free space below it.
pub const FREE_SPACE_RESERVE: u64 = 512 << 20;
/// The size a store built by ingest has on disk against its size once compacted, at least
/// (measured: 1.8x after a bulk import, up to 4x under churn; `benches/README.md`): the copy
/// an automatic compaction of a store never compacted expects to write is its size divided by
/// this. The copy stops at [`FREE_SPACE_RESERVE`] should it be larger.
const INGESTED_PER_COMPACTED_BYTE: u64 = 2;
/// When the automatic compaction first looks at the store after start-up: soon, so that a
/// store bulk-loaded by `tributary import` is compacted within minutes of being served, and
/// after the start-up's own work (the column lineage load) at the scales measured.
const FIRST_LOOK: Duration = Duration::from_secs(60);
/// Slices between two looks at the free space during a copy.
const FREE_SPACE_EVERY_SLICES: u64 = 8;

/// When the server compacts its store by itself (`tributary serve --compact-growth`).
#[derive(Clone, Debug, PartialEq)]
pub struct AutoCompact {
    /// Compact once the store's size on disk reaches this multiple of its size after its last
    /// compaction (of the size a compaction would leave, for a store never compacted): 2.0
    /// compacts each time the store has doubled. At least 1.1.
    pub growth: f64,
    /// Stores smaller than this on disk are left alone.
    pub min_bytes: u64,
    /// How often the store's size is looked at.
    pub every: Duration,
}

impl Default for AutoCompact {
    fn default() -> Self {
        Self { growth: 2.0, min_bytes: 1 << 30, every: Duration::from_secs(600) }
    }
}

/// The online compaction's state and its threads (`Shared::compaction`).
#[derive(Debug)]
pub(crate) struct Compaction {
    state: CompactionState,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The thread that starts compactions by itself ([`AutoCompact`]).
    auto: Option<std::thread::JoinHandle<()>>,
}

impl Default for Compaction {
    fn default() -> Self {
        Self { state: CompactionState::Idle, thread: None, auto: None }
    }
}

/// Where the store's online compaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactionState {
    /// None has run since the server started.
    Idle,
    Running {
        started_at: Timestamp,
        keys_copied: u64,
    },
    Finished {
        started_at: Timestamp,
        finished_at: Timestamp,
        report: OnlineCompactReport,
    },
    Failed {
        started_at: Timestamp,
        finished_at: Timestamp,
        error: String,
    },
}

impl Service {
    /// Starts compacting the store while the server goes on (needs `admin`) and answers at
    /// once with the running state; [`Service::compaction`] follows it. Refused while one
    /// runs, for a server without a data directory, and when the store's file system has less
    /// than [`FREE_SPACE_RESERVE`] free.
    pub fn start_compaction(&self) -> Result<CompactionState, ServiceError> {
        let principal = self.allow(Principal::can_admin)?;
        if self.shared.config.data_dir.is_none() {
            return Err(ServiceError::Unavailable(
                "this server keeps its store in memory: there is nothing to compact".into(),
            ));
        }
        let free = self.shared.store.available_space()?.unwrap_or(u64::MAX);
        if free < FREE_SPACE_RESERVE {
            return Err(ServiceError::Unavailable(format!(
                "the store's file system has {free} bytes free; a compaction needs room for its copy and leaves at \
                 least {FREE_SPACE_RESERVE} free for ingest"
            )));
        }
        begin(&self.shared, principal.actor())
    }

    /// Where the store's online compaction stands (needs `admin`).
    pub fn compaction(&self) -> Result<CompactionState, ServiceError> {
        self.allow(Principal::can_admin)?;
        Ok(lock(&self.shared).state.clone())
    }

    /// Waits for a running compaction to stop (`Shared::closing` is set: it stops at its next
    /// slice, or finishes if it is switching over). Part of [`Service::close`].
    pub(crate) fn join_compaction(&self) {
        // The automatic starter first (woken from its wait), so that a compaction it started
        // has its thread recorded before that is joined.
        let auto = {
            let mut compaction = lock(&self.shared);
            self.shared.compaction_wake.notify_all();
            compaction.auto.take()
        };
        if let Some(auto) = auto
            && auto.join().is_err()
        {
            error!("the automatic compaction thread panicked");
        }
        let thread = lock(&self.shared).thread.take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            error!("the compaction thread panicked");
        }
    }
}

/// Starts a compaction for `actor` on a thread of its own: the running state, or why not.
fn begin(shared: &Arc<Shared>, actor: Actor) -> Result<CompactionState, ServiceError> {
    let started_at = Timestamp::now();
    let running = CompactionState::Running { started_at, keys_copied: 0 };
    let mut compaction = lock(shared);
    // Checked under the lock `join_compaction` takes after `closing` is set: no compaction
    // starts once `close` has waited for the last one.
    if shared.closing.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ServiceError::shutting_down());
    }
    if matches!(compaction.state, CompactionState::Running { .. }) {
        return Err(ServiceError::Unavailable(
            "a compaction of the store is already running; `storeCompaction` shows its progress".into(),
        ));
    }
    compaction.state = running.clone();
    info!(actor = %actor.describe(), "online compaction of the store started");
    let worker = Arc::clone(shared);
    let spawned = std::thread::Builder::new().name("tributary-compact".into()).spawn(move || {
        let shared = worker;
        let mut slices = 0u64;
        let outcome = shared.store.compact_online(|keys_copied| {
            lock(&shared).state = CompactionState::Running { started_at, keys_copied };
            slices += 1;
            continue_copy(&shared, slices)
        });
        let finished_at = Timestamp::now();
        // Attributed to whoever started it, with what it did or why it failed.
        let (state, subject, details) = match outcome {
            Ok(report) => {
                info!(
                    keys = report.keys,
                    before = report.before,
                    after = report.after,
                    generation = %report.generation,
                    "online compaction of the store finished"
                );
                let subject = format!("store compacted into `{}`", report.generation);
                let details = vec![
                    format!("keys copied: {}", report.keys),
                    format!("bytes on disk: {} before, {} after", report.before, report.after),
                ];
                (CompactionState::Finished { started_at, finished_at, report }, subject, details)
            }
            Err(failure) => {
                // Almost always before the switch (the store is then unchanged); a failure
                // after it (syncing the directory) leaves the new database current, and the
                // store's error says so.
                if shared.closing.load(std::sync::atomic::Ordering::SeqCst) {
                    // Stopped by the shutdown itself: expected, and said in the audit entry.
                    info!(reason = %failure, "online compaction of the store stopped by the shutdown");
                } else {
                    error!(error = %failure, "online compaction of the store failed");
                }
                let error = failure.to_string();
                let failed = CompactionState::Failed { started_at, finished_at, error: error.clone() };
                (failed, "store compaction failed".to_owned(), vec![error])
            }
        };
        let mut audit = AuditRecord::new(finished_at, actor, AuditKind::StoreCompacted, subject);
        audit.details = details;
        // A store that no longer takes writes (why the entry could not be written) is
        // reported by the writer's health; the compaction's own state says what happened.
        if let Err(failure) = shared.store.put_audit(&audit) {
            error!(error = %failure, "the online compaction's audit entry was not recorded");
        }
        lock(&shared).state = state;
    });
    match spawned {
        Ok(thread) => {
            // A finished compaction's thread has ended: replacing its handle detaches nothing.
            compaction.thread = Some(thread);
            Ok(running)
        }
        Err(failure) => {
            let error = format!("cannot start the compaction's thread: {failure}");
            compaction.state =
                CompactionState::Failed { started_at, finished_at: Timestamp::now(), error: error.clone() };
            Err(ServiceError::Internal(error))
        }
    }
}

/// The compaction's state: a leaf lock, held only to read or replace it (never while joining
/// the thread, which takes it).
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Compaction> {
    shared.compaction.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the copy goes on after its `slices`-th slice: not once the server is closing (the
/// store stays as it was; the partial copy is removed), nor when the file system's free space
/// has fallen below [`FREE_SPACE_RESERVE`].
fn continue_copy(shared: &Shared, slices: u64) -> std::ops::ControlFlow<String> {
    if shared.closing.load(std::sync::atomic::Ordering::SeqCst) {
        return std::ops::ControlFlow::Break("the server is closing".into());
    }
    if slices.is_multiple_of(FREE_SPACE_EVERY_SLICES) {
        match shared.store.available_space() {
            Ok(Some(free)) if free < FREE_SPACE_RESERVE => {
                return std::ops::ControlFlow::Break(format!(
                    "the store's file system has {free} bytes left, under the {FREE_SPACE_RESERVE} kept free for ingest"
                ));
            }
            Ok(_) => {}
            Err(failure) => return std::ops::ControlFlow::Break(failure.to_string()),
        }
    }
    std::ops::ControlFlow::Continue(())
}

/// Starts the thread that compacts the store by itself under `policy` (a server with a data
/// directory only); its handle is kept for [`Service::join_compaction`].
pub(crate) fn start_auto(shared: &Arc<Shared>, policy: AutoCompact) -> Result<(), ServiceError> {
    if shared.config.data_dir.is_none() {
        return Ok(());
    }
    info!(
        growth = policy.growth,
        min_bytes = policy.min_bytes,
        every_s = policy.every.as_secs_f64(),
        "the store is compacted automatically as it grows"
    );
    let worker = Arc::clone(shared);
    let thread = std::thread::Builder::new()
        .name("tributary-autocompact".into())
        .spawn(move || auto_loop(&worker, &policy))
        .map_err(|error| ServiceError::Internal(format!("cannot start the automatic compaction's thread: {error}")))?;
    lock(shared).auto = Some(thread);
    Ok(())
}

/// Looks at the store [`FIRST_LOOK`] after start-up (or after `policy.every` when that is
/// sooner), then every `policy.every`, and starts a compaction when one is due, until the
/// server closes.
fn auto_loop(shared: &Arc<Shared>, policy: &AutoCompact) {
    let mut wait = policy.every.min(FIRST_LOOK);
    loop {
        {
            let compaction = lock(shared);
            let closing = || shared.closing.load(std::sync::atomic::Ordering::SeqCst);
            let (_compaction, _) = shared
                .compaction_wake
                .wait_timeout_while(compaction, wait, |_| !closing())
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if closing() {
                return;
            }
        }
        wait = policy.every;
        match due(shared, policy) {
            Ok(Due::No) => {}
            Ok(Due::Yes { size, baseline, free }) => {
                info!(size, baseline, free, growth = policy.growth, "the store has grown: compacting it");
                let actor = Actor {
                    via: ActorKind::Local,
                    token_id: None,
                    name: format!("automatic compaction (--compact-growth {})", policy.growth),
                };
                match begin(shared, actor) {
                    Ok(_) => {}
                    // Closing, or an admin's compaction runs: the next look decides again.
                    Err(ServiceError::Unavailable(reason)) => info!(%reason, "automatic compaction not started"),
                    Err(failure) => warn!(error = %failure, "automatic compaction not started"),
                }
            }
            Ok(Due::NoRoom { size, baseline, free }) => warn!(
                size,
                baseline,
                free,
                "the store has grown past its compaction threshold, but its file system has no room for the copy"
            ),
            Err(failure) => warn!(error = %failure, "cannot tell whether the store needs compacting"),
        }
    }
}

/// Whether an automatic compaction is due (sizes in bytes on disk).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    No,
    Yes {
        size: u64,
        baseline: u64,
        free: u64,
    },
    /// Due, but the copy would take the free space below [`FREE_SPACE_RESERVE`].
    NoRoom {
        size: u64,
        baseline: u64,
        free: u64,
    },
}

/// A store with a recorded compaction is due once its size on disk reaches `policy.growth`
/// times the recorded size. A store never compacted (`tributary import`'s, or one from before
/// sizes were recorded) is due once it reaches `policy.min_bytes`: sled's file of a store
/// built by ingest is always a multiple of its compacted size, and estimating that size
/// would read every key, as much reading as the copy itself (minutes at 1M, with single
/// events waiting on the disk meanwhile: measured, `benches/README.md`, session 21).
pub(crate) fn due(shared: &Shared, policy: &AutoCompact) -> Result<Due, ServiceError> {
    let store = &shared.store;
    if matches!(lock(shared).state, CompactionState::Running { .. }) {
        return Ok(Due::No);
    }
    let size = store.size_on_disk()?;
    if size < policy.min_bytes {
        return Ok(Due::No);
    }
    // What the last compaction left, or, for a store never compacted, the copy's expected size.
    let baseline = match store.compacted_size()? {
        Some(recorded) if (size as f64) < recorded.max(1) as f64 * policy.growth => return Ok(Due::No),
        Some(recorded) => recorded,
        None => size / INGESTED_PER_COMPACTED_BYTE,
    };
    let free = store.available_space()?.unwrap_or(u64::MAX);
    // The copy takes about what the last compaction left (more since: the live data grew,
    // which the size on disk beyond the baseline bounds).
    let copy = baseline.min(size);
    if free < copy.saturating_add(FREE_SPACE_RESERVE) {
        return Ok(Due::NoRoom { size, baseline, free });
    }
    Ok(Due::Yes { size, baseline, free })
}
