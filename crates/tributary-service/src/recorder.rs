//! Schema changes seen in ingest, recorded beside the writer.
//!
//! When an event changes a dataset's current schema, the writer queues the change in the
//! event's own atomic batch (a `W` key, [`SeenSchemaChange`]) and, once it has published the
//! group, tells the recorder how far the index is ([`Recorder::published`]). The recorder's
//! thread checks each queued change against the index (classify, trace the consumers, group
//! them: `change`), records the report and removes the queued change in one atomic batch,
//! flushes, and only then hands the record to subscribers. So acknowledgements never wait for
//! a change check (a hub's took the writer over a second), and a change whose event was
//! acknowledged is recorded even when the server stops first: the queue is read again at the
//! next start.
//!
//! A change whose check fails is tried again after a pause (1 s, doubling to 60 s); one that
//! failed [`PARK_AFTER`] times, not for want of the column lineage or a writable store, is
//! passed over until the next start, so a corrupt record cannot hold up every later change.
//!
//! A queued change is checked only once the index holds its event (its sequence is at most
//! the published one). [`Recorder::wait_recorded`] lets a reader of the recorded changes wait
//! until every change of the events it can see is recorded.
//!
//! Locks: `signal` is a leaf (held only to read or set it, or to wait on `wake`); the check
//! takes the state's read lock like any query, holding nothing else.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tributary_model::SeenSchemaChange;

use crate::{ServiceError, Shared};

/// Queued changes read from the store at a time.
const PASS: usize = 1_000;
/// The longest a failed pass waits before the next try (it starts at 1 s and doubles).
const MAX_RETRY: Duration = Duration::from_secs(60);
/// A change whose check failed this many times (other than for want of the column lineage
/// or a store refusing writes) is passed over until the next start, so it does not hold up
/// the changes queued after it; it stays queued.
const PARK_AFTER: u32 = 3;

pub(crate) struct Recorder {
    signal: Mutex<Signal>,
    wake: Condvar,
    /// Every change seen in events up to this sequence is recorded, or was dropped as not
    /// recordable (its versions gone, over the differ's limits), or is parked until the next
    /// start after [`PARK_AFTER`] failures.
    recorded: tokio::sync::watch::Sender<u64>,
    /// Tests hold the recorder to leave changes queued, as a stop before recording would.
    #[cfg(test)]
    pub(crate) held: std::sync::atomic::AtomicBool,
    /// Tests make the check of this dataset's changes fail, as a corrupt record would.
    #[cfg(test)]
    pub(crate) failing: Mutex<Option<tributary_model::DatasetId>>,
}

struct Signal {
    /// The sequence of the last group the writer published.
    published: u64,
    /// A published group queued a change (or the queue was not read since start-up).
    queued: bool,
    /// The last pass left changes of events not published yet: read again at the next
    /// publication.
    leftover: bool,
    closing: bool,
}

impl Recorder {
    /// A recorder for an index published up to `published`; its first pass reads whatever
    /// an earlier run left queued.
    pub(crate) fn new(published: u64) -> Self {
        Self {
            signal: Mutex::new(Signal { published, queued: true, leftover: false, closing: false }),
            wake: Condvar::new(),
            recorded: tokio::sync::watch::channel(0).0,
            #[cfg(test)]
            held: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            failing: Mutex::new(None),
        }
    }

    /// The writer published the index up to `sequence`; `queued`: a change waits.
    pub(crate) fn published(&self, sequence: u64, queued: bool) {
        let mut signal = self.lock();
        signal.published = signal.published.max(sequence);
        signal.queued |= queued || std::mem::take(&mut signal.leftover);
        drop(signal);
        self.wake.notify_one();
    }

    /// Stops the recorder after the change it is recording; what is still queued is
    /// recorded at the next start.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_all();
    }

    fn closing(&self) -> bool {
        self.lock().closing
    }

    /// Waits until every change seen in events up to `sequence` is recorded, at most
    /// `patience`; if they are not by then, how far they are (every change seen in events up
    /// to that sequence is recorded).
    pub(crate) async fn wait_recorded(&self, sequence: u64, patience: Duration) -> Result<(), u64> {
        let mut recorded = self.recorded.subscribe();
        match tokio::time::timeout(patience, recorded.wait_for(|at| *at >= sequence)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(*self.recorded.borrow()),
        }
    }

    /// Waits for work: the published sequence and whether the queue must be read, or `None`
    /// when the server closes.
    fn next_pass(&self) -> Option<(u64, bool)> {
        let recorded = *self.recorded.borrow();
        let signal = self.lock();
        let mut signal = self
            .wake
            .wait_while(signal, |s| !s.closing && !s.queued && s.published <= recorded)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if signal.closing {
            return None;
        }
        Some((signal.published, std::mem::take(&mut signal.queued)))
    }

    /// Waits `pause` or until the server closes; whether it closes.
    fn pause(&self, pause: Duration) -> bool {
        let signal = self.lock();
        let (signal, _) = self
            .wake
            .wait_timeout_while(signal, pause, |s| !s.closing)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        signal.closing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts the recorder's thread.
pub(crate) fn start(shared: &Arc<Shared>) -> Result<std::thread::JoinHandle<()>, ServiceError> {
    let worker = Arc::clone(shared);
    std::thread::Builder::new()
        .name("tributary-changes".into())
        .spawn(move || run(&worker))
        .map_err(|error| ServiceError::Internal(format!("cannot start the schema change recorder: {error}")))
}

fn run(shared: &Shared) {
    let recorder = &shared.recorder;
    let mut retry = Duration::from_secs(1);
    let mut failures = Failures::default();
    while let Some((published, queued)) = recorder.next_pass() {
        if queued {
            match record_queued(shared, published, &mut failures) {
                Ok(Pass::Done { leftover }) => {
                    recorder.lock().leftover |= leftover;
                    retry = Duration::from_secs(1);
                }
                Ok(Pass::Closing) => return,
                Err(failure) => {
                    // Left queued: tried again after a pause (the store may be refusing
                    // writes, or the column lineage still loading after start-up: expected,
                    // so said at info).
                    if failure.code() == crate::ErrorCode::Unavailable {
                        tracing::info!(reason = %failure, retry_s = retry.as_secs(), "schema changes wait to be recorded");
                    } else {
                        tracing::error!(error = %failure, retry_s = retry.as_secs(), "recording schema changes failed");
                    }
                    recorder.published(published, true);
                    if recorder.pause(retry) {
                        return;
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                    continue;
                }
            }
        }
        recorder.recorded.send_replace(published);
    }
}

enum Pass {
    /// `leftover`: changes of events after `published` wait (their group is not published).
    Done {
        leftover: bool,
    },
    Closing,
}

/// How often each queued change's check failed in this run (by event sequence and dataset).
type Failures = std::collections::HashMap<(u64, tributary_model::DatasetId), u32>;

/// Records every queued change of events up to `published`, in event order, passing over the
/// ones parked after [`PARK_AFTER`] failures.
fn record_queued(shared: &Shared, published: u64, failures: &mut Failures) -> Result<Pass, ServiceError> {
    #[cfg(test)]
    if shared.recorder.held.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(Pass::Done { leftover: true });
    }
    loop {
        let queued = shared.store.seen_schema_changes(PASS)?;
        let read = queued.len();
        let ready: Vec<SeenSchemaChange> = queued.into_iter().take_while(|seen| seen.sequence <= published).collect();
        shared.metrics.schema_changes_waiting.set(read as i64);
        let leftover = ready.len() < read;
        let finished = ready.len() < PASS;
        let mut recorded = 0;
        for seen in ready {
            if shared.recorder.closing() {
                return Ok(Pass::Closing);
            }
            let key = (seen.sequence, seen.dataset.clone());
            if failures.get(&key).is_some_and(|&failed| failed >= PARK_AFTER) {
                continue;
            }
            if let Err(failure) = record_one(shared, seen) {
                if failure.code() != crate::ErrorCode::Unavailable {
                    let failed = failures.entry(key.clone()).or_default();
                    *failed += 1;
                    if *failed >= PARK_AFTER {
                        tracing::error!(sequence = key.0, dataset = %key.1, error = %failure,
                            "a schema change failed {PARK_AFTER} times: left queued until the next start");
                        continue;
                    }
                }
                return Err(failure);
            }
            recorded += 1;
            shared.metrics.schema_changes_waiting.set((read - recorded) as i64);
        }
        // A full page of parked changes would be read again and again.
        if finished || recorded == 0 {
            return Ok(Pass::Done { leftover });
        }
    }
}

fn record_one(shared: &Shared, seen: SeenSchemaChange) -> Result<(), ServiceError> {
    #[cfg(test)]
    if shared.recorder.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref() == Some(&seen.dataset) {
        return Err(ServiceError::Internal(format!("injected failure for {}", seen.dataset)));
    }
    shared.record_seen_schema_change(seen)
}
