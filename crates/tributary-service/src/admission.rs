//! Admission of the reads that can cost a core for a while: lineage and column walks, change
//! checks, impact summaries, product and domain lineage, search. At most
//! [`ServiceConfig::max_traversals`](crate::ServiceConfig::max_traversals) of them run at once
//! on the blocking pool; the others wait their turn in arrival order, as futures (no thread
//! held), and past [`MAX_WAITING_PER_RUNNING`] waiting per running one a new request is refused
//! as unavailable (retry later) rather than queued behind minutes of work.
//!
//! Why: every traversal is bounded (node limits, slices of the state lock), but their number
//! was not. On 2 cores, eight review bots looping a change check of a hub took eight blocking
//! threads beside the writer, and ingest fell to a ninth of what it is without them
//! (`benches/README.md`, session 29). The default, as many as the machine has cores, keeps
//! the threads that compete with ingest (the writer, parsing) for the CPU to that number
//! however many traversals are asked for (measured on 2 cores: 1 or 2 turns gave ingest
//! alike, 2 gave the checks 15-36% more throughput and a lower p99 acknowledgement, 3 and 8
//! less ingest). Point reads (a dataset, a run, tokens, the audit trail) are not admitted
//! here and never wait.
//!
//! A waiting request that its client gives up on (a closed connection, the request timeout, a
//! gRPC deadline) is dropped from the queue without running. Leaf: no lock is held while
//! waiting, and the permit is taken before any lock the work takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServiceError;

/// Requests that may wait per traversal running, before new ones are refused.
pub const MAX_WAITING_PER_RUNNING: usize = 256;

/// The default for [`crate::ServiceConfig::max_traversals`]: the machine's cores.
pub fn default_max_traversals() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

pub(crate) struct Admission {
    running: Arc<Semaphore>,
    limit: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a request as waiting from its creation until it is dropped (admitted, refused or
/// given up by its client).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// `limit` traversals at once (0 counts as 1).
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            running: Arc::new(Semaphore::new(limit)),
            limit,
            waiting: AtomicUsize::new(0),
            max_waiting: limit.saturating_mul(MAX_WAITING_PER_RUNNING),
        }
    }

    /// Waits for a turn; the permit is the turn, given back when dropped. `Unavailable` when
    /// too many requests are waiting already. Reports the wait to `metrics`.
    pub(crate) async fn admit(&self, metrics: &crate::metrics::Metrics) -> Result<OwnedSemaphorePermit, ServiceError> {
        if let Ok(permit) = Arc::clone(&self.running).try_acquire_owned() {
            metrics.traversal_wait_seconds.observe(0.0);
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if before >= self.max_waiting {
            metrics.traversals_refused.inc();
            return Err(ServiceError::Unavailable(format!(
                "the server is busy: {} lineage walks and change checks are running and {before} are waiting; retry later",
                self.limit
            )));
        }
        let asked = Instant::now();
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Unavailable("the server is shutting down".into()))?;
        metrics.traversal_wait_seconds.observe(asked.elapsed().as_secs_f64());
        Ok(permit)
    }

    /// Requests waiting for a turn now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    }

    /// Hundreds of tasks asking at once: never more than the limit run, every admitted one
    /// runs, none is refused while the queue has room, and the queue empties.
    #[test]
    fn never_more_than_the_limit_run_at_once() {
        for limit in [1, 3] {
            let admission = Arc::new(Admission::new(limit));
            let metrics = Arc::new(crate::metrics::Metrics::new().expect("metrics"));
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let tasks = limit * MAX_WAITING_PER_RUNNING;
            runtime().block_on(async {
                let mut handles = Vec::new();
                for _ in 0..tasks {
                    let (admission, metrics, running, most) =
                        (Arc::clone(&admission), Arc::clone(&metrics), Arc::clone(&running), Arc::clone(&most));
                    handles.push(tokio::spawn(async move {
                        let turn = admission.admit(&metrics).await.expect("admitted");
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_micros(200)))
                            .await
                            .expect("work");
                        running.fetch_sub(1, Ordering::SeqCst);
                        drop(turn);
                    }));
                }
                for handle in handles {
                    handle.await.expect("task");
                }
            });
            assert_eq!(most.load(Ordering::SeqCst), limit, "at most {limit} at once, and that many when asked");
            assert_eq!(admission.waiting(), 0);
            assert_eq!(metrics.traversal_wait_seconds.get_sample_count(), tasks as u64);
            assert_eq!(metrics.traversals_refused.get(), 0);
        }
    }

    /// Past the queue's bound a request is refused at once, saying why; a waiting request its
    /// client drops leaves the queue; turns are given in arrival order.
    #[test]
    fn a_full_queue_refuses_and_a_dropped_request_leaves_it() {
        let metrics = crate::metrics::Metrics::new().expect("metrics");
        let admission = Admission::new(1);
        runtime().block_on(async {
            let turn = admission.admit(&metrics).await.expect("the first runs at once");
            let mut waiters: Vec<_> =
                (0..MAX_WAITING_PER_RUNNING).map(|_| Box::pin(admission.admit(&metrics))).collect();
            for waiter in &mut waiters {
                let polled = tokio::time::timeout(Duration::ZERO, waiter.as_mut()).await;
                assert!(polled.is_err(), "a request waits while the turn is taken");
            }
            assert_eq!(admission.waiting(), MAX_WAITING_PER_RUNNING);
            let refused = admission.admit(&metrics).await.expect_err("the queue is full");
            assert_eq!(refused.code(), crate::ErrorCode::Unavailable);
            assert!(refused.to_string().contains("busy") && refused.to_string().contains("retry"), "{refused}");
            assert_eq!(metrics.traversals_refused.get(), 1);
            // A client gives up: its place is freed.
            drop(waiters.pop());
            assert_eq!(admission.waiting(), MAX_WAITING_PER_RUNNING - 1);
            // The turn goes to the first in the queue, and then to the next.
            drop(turn);
            let mut rest = waiters.split_off(1);
            for waiter in &mut rest {
                assert!(tokio::time::timeout(Duration::ZERO, waiter.as_mut()).await.is_err(), "not its turn yet");
            }
            let first = waiters.pop().expect("first").await.expect("the first waiting is admitted");
            assert!(tokio::time::timeout(Duration::ZERO, rest[0].as_mut()).await.is_err(), "one at a time");
            drop(first);
            for waiter in rest {
                let turn = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("in turn");
                drop(turn.expect("admitted"));
            }
        });
        assert_eq!(admission.waiting(), 0);
    }
}
