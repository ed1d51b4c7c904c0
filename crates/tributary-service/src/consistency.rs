//! Answers that read stored records (a dataset, a job, a run, the event log) reflect exactly
//! the watermark they report.
//!
//! The writer applies each event's batch to the store before the group's flush, and readers
//! of the store could see those records before they are durable and before the index and
//! the watermark move. A read is therefore optimistic, like a sequence lock: under the state
//! read lock, note the watermark `W`; read only if the store's last applied sequence equals
//! `W` (nothing applied and unpublished), and keep the answer only if it still equals `W`
//! afterwards. Otherwise wait for the writer to publish and try again. A reader that had to
//! wait asks the writer to pause briefly between groups ([`ReadGate::let_readers_in`]), so
//! readers cannot starve under continuous ingest and the writer is held up by at most
//! [`WRITER_PAUSE`] per group, and only while readers wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tributary_model::Watermark;

use crate::{ServiceError, Shared, State};

/// Longest the writer waits between two groups for readers that asked it to.
const WRITER_PAUSE: Duration = Duration::from_millis(5);
/// Longest a reader waits for one publication before trying again.
const READER_WAIT: Duration = Duration::from_millis(50);
/// Attempts before a reader gives up (the writer is stuck, e.g. a disk that keeps failing).
const MAX_ATTEMPTS: usize = 200;

/// Where readers and the writer meet between groups. Its mutex is a leaf: held only to
/// wait on or signal the condition variables, never while taking another lock.
#[derive(Default)]
pub(crate) struct ReadGate {
    /// Readers that failed an attempt and are trying again.
    waiting: AtomicUsize,
    /// Bumped by the writer at every publication.
    publications: Mutex<u64>,
    published: Condvar,
    readers_done: Condvar,
}

impl ReadGate {
    /// The writer published a group (index and watermark moved).
    pub(crate) fn published(&self) {
        let mut publications = self.publications.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *publications = publications.wrapping_add(1);
        self.published.notify_all();
    }

    /// Whether readers wait for a store with nothing applied and unpublished.
    pub(crate) fn readers_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// The writer, before applying the next group: if readers are waiting for a quiet
    /// moment, give them up to [`WRITER_PAUSE`].
    pub(crate) fn let_readers_in(&self) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let deadline = Instant::now() + WRITER_PAUSE;
        let mut guard = self.publications.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while self.waiting.load(Ordering::Acquire) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            guard = self.readers_done.wait_timeout(guard, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }

    fn publications(&self) -> u64 {
        *self.publications.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait_for_publication_after(&self, seen: u64) {
        let guard = self.publications.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = self
            .published
            .wait_timeout_while(guard, READER_WAIT, |publications| *publications == seen)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }

    fn reader_done(&self) {
        if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = self.publications.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.readers_done.notify_all();
        }
    }
}

impl Shared {
    /// Runs `read` (which may read the store and the state) so that what it returns reflects
    /// exactly the returned watermark: no event beyond it, none up to it missing.
    pub(crate) fn read_consistent<T>(
        &self,
        mut read: impl FnMut(&Shared, &State) -> Result<T, ServiceError>,
    ) -> Result<(T, Watermark), ServiceError> {
        let mut registered = false;
        let outcome = (|| {
            for _ in 0..MAX_ATTEMPTS {
                let seen = self.read_gate.publications();
                {
                    let state = self.read_state();
                    let watermark = state.index.watermark();
                    if self.store.last_sequence()? == watermark.sequence {
                        let value = read(self, &state)?;
                        if self.store.last_sequence()? == watermark.sequence {
                            return Ok((value, watermark));
                        }
                    }
                }
                // The store holds batches a failed flush left behind; they will not be
                // published, so an exact answer from the store is not possible until a restart.
                if let Some(reason) = self.health.write_failure() {
                    return Err(ServiceError::Unavailable(format!(
                        "{reason}; lookups that read stored records are refused until the server is restarted"
                    )));
                }
                if !registered {
                    registered = true;
                    self.read_gate.waiting.fetch_add(1, Ordering::AcqRel);
                }
                self.read_gate.wait_for_publication_after(seen);
            }
            Err(ServiceError::Unavailable("the writer has not published for too long".into()))
        })();
        if registered {
            self.read_gate.reader_done();
        }
        outcome
    }
}
