//! The store compacted while the server runs (`tributary_store::Store::compact_online`): one
//! compaction at a time, on a thread of its own, its progress and outcome kept for operators.
//! Ingest and queries go on meanwhile; each write waits at most one slice of the copy.

use std::sync::Arc;

use tracing::{error, info};
use tributary_auth::Principal;
use tributary_model::{AuditKind, AuditRecord, Timestamp};
use tributary_store::OnlineCompactReport;

use crate::{Service, ServiceError, Shared};

/// The online compaction's state and its thread (`Shared::compaction`).
#[derive(Debug)]
pub(crate) struct Compaction {
    state: CompactionState,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Default for Compaction {
    fn default() -> Self {
        Self { state: CompactionState::Idle, thread: None }
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
    /// runs, and for a server without a data directory.
    pub fn start_compaction(&self) -> Result<CompactionState, ServiceError> {
        let principal = self.allow(Principal::can_admin)?;
        if self.shared.config.data_dir.is_none() {
            return Err(ServiceError::Unavailable(
                "this server keeps its store in memory: there is nothing to compact".into(),
            ));
        }
        let started_at = Timestamp::now();
        let running = CompactionState::Running { started_at, keys_copied: 0 };
        let mut compaction = lock(&self.shared);
        // Checked under the lock `join_compaction` takes after `closing` is set: no compaction
        // starts once `close` has waited for the last one.
        if self.shared.closing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ServiceError::shutting_down());
        }
        if matches!(compaction.state, CompactionState::Running { .. }) {
            return Err(ServiceError::Unavailable(
                "a compaction of the store is already running; `storeCompaction` shows its progress".into(),
            ));
        }
        compaction.state = running.clone();
        let actor = principal.actor();
        info!(actor = %actor.describe(), "online compaction of the store started");
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new().name("tributary-compact".into()).spawn(move || {
            // A server that is closing stops the copy at its next slice (the store stays as
            // it was; the partial copy is removed).
            let outcome = shared.store.compact_online(|keys_copied| {
                lock(&shared).state = CompactionState::Running { started_at, keys_copied };
                !shared.closing.load(std::sync::atomic::Ordering::SeqCst)
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
                    // after it (syncing the directory) leaves the new database current, and
                    // the store's error says so.
                    error!(error = %failure, "online compaction of the store failed");
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

    /// Where the store's online compaction stands (needs `admin`).
    pub fn compaction(&self) -> Result<CompactionState, ServiceError> {
        self.allow(Principal::can_admin)?;
        Ok(lock(&self.shared).state.clone())
    }

    /// Waits for a running compaction to stop (`Shared::closing` is set: it stops at its next
    /// slice, or finishes if it is switching over). Part of [`Service::close`].
    pub(crate) fn join_compaction(&self) {
        let thread = lock(&self.shared).thread.take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            error!("the compaction thread panicked");
        }
    }
}

/// The compaction's state: a leaf lock, held only to read or replace it (never while joining
/// the thread, which takes it).
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Compaction> {
    shared.compaction.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
