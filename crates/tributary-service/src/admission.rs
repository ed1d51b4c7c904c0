//! Admission of the reads that can cost a core for a while: lineage and column walks, change
//! checks, impact summaries, product and domain lineage, search. At most
//! [`ServiceConfig::max_traversals`](crate::ServiceConfig::max_traversals) of them run at once
//! on the read threads; the others wait their turn as futures (no thread held).
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
//! **Turns go round the callers.** Waiting requests are queued per caller (a token; on a
//! server without tokens every caller is the same one), and a turn given back goes to the
//! first request of the next caller in the rotation, so one token asking for hundreds of hub
//! walks delays another token's question by about one walk per turn, not by all of its own.
//! Within a caller, requests run in arrival order. Past [`MAX_WAITING_PER_RUNNING`] waiting
//! per turn a new request is refused as unavailable (retry later) rather than queued behind
//! minutes of work, and so is a token's request past [`MAX_WAITING_PER_TOKEN_PER_RUNNING`] of
//! its own waiting, so one token cannot fill the queue for the others either.
//!
//! A waiting request that its client gives up on (a closed connection, the request timeout, a
//! gRPC deadline) leaves the queue without running; a turn handed to it meanwhile goes on to
//! the next. Leaf: the queue's mutex is held only to change the queue (never across an await,
//! never while taking another lock), and a turn is taken before any lock the work takes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::oneshot;
use tributary_auth::{Principal, TokenId};

use crate::ServiceError;
use crate::rotation::Rotation;

/// Requests that may wait per turn, before new ones are refused.
pub const MAX_WAITING_PER_RUNNING: usize = 256;

/// Requests one token may have waiting per turn, before its new ones are refused.
pub const MAX_WAITING_PER_TOKEN_PER_RUNNING: usize = 64;

/// The default for [`crate::ServiceConfig::max_traversals`]: the machine's cores.
pub fn default_max_traversals() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Whose queue a request waits in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Caller {
    /// A token's requests.
    Token(TokenId),
    /// Every request of a server without tokens (and of the local operator): one caller.
    Everyone,
}

impl Caller {
    pub(crate) fn of(principal: &Principal) -> Self {
        principal.token_id().map_or(Self::Everyone, |id| Self::Token(id.clone()))
    }
}

pub(crate) struct Admission {
    limit: usize,
    max_waiting: usize,
    max_waiting_per_token: usize,
    queue: Mutex<Queue>,
    /// Requests waiting now (`tributary_traversals_waiting`).
    waiting_gauge: prometheus::IntGauge,
}

#[derive(Default)]
struct Queue {
    /// Turns taken (at most `limit`; while anyone waits, exactly `limit`).
    running: usize,
    next_ticket: u64,
    /// The waiting requests, going round the callers: a ticket and where its turn is sent.
    waiting: Rotation<Caller, (u64, oneshot::Sender<()>)>,
}

impl Queue {
    /// A turn given back: handed to the first request of the next caller in the rotation
    /// (who goes to the back of it if more of theirs wait), else freed.
    fn pass_on(&mut self) {
        while let Some((_, turn)) = self.waiting.pop() {
            // A receiver is dropped only after its ticket left the queue (`Ticket::drop`), so
            // this is sent; if it were not, the turn goes on to the next.
            if turn.send(()).is_ok() {
                return;
            }
        }
        self.running -= 1;
    }

    /// Takes a waiting request out of the queue; false when it is not there (it was handed
    /// a turn).
    fn remove(&mut self, caller: &Caller, ticket: u64) -> bool {
        self.waiting.remove(caller, |(waiting, _)| *waiting == ticket).is_some()
    }
}

/// A turn: given back (to the next waiting caller) when dropped.
pub(crate) struct Turn {
    admission: Arc<Admission>,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.write_str("Turn")
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.admission.give_back();
    }
}

/// A request waiting for its turn. Dropped before its turn came (its client gave up), it
/// leaves the queue; dropped after a turn was handed to it but before it was taken, it gives
/// that turn on.
struct Ticket {
    admission: Arc<Admission>,
    caller: Caller,
    ticket: u64,
    turn: oneshot::Receiver<()>,
    admitted: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.admitted {
            return;
        }
        let mut queue = self.admission.lock();
        if !queue.remove(&self.caller, self.ticket) && self.turn.try_recv().is_ok() {
            queue.pass_on();
        }
        self.admission.waiting_gauge.set(queue.waiting.len() as i64);
    }
}

impl Admission {
    /// `limit` traversals at once (0 counts as 1); `waiting_gauge` is kept at the number of
    /// requests waiting.
    pub(crate) fn new(limit: usize, waiting_gauge: prometheus::IntGauge) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            max_waiting: limit.saturating_mul(MAX_WAITING_PER_RUNNING),
            max_waiting_per_token: limit.saturating_mul(MAX_WAITING_PER_TOKEN_PER_RUNNING),
            queue: Mutex::new(Queue::default()),
            waiting_gauge,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every change to the queue is whole before anything that can panic.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn give_back(&self) {
        let mut queue = self.lock();
        queue.pass_on();
        self.waiting_gauge.set(queue.waiting.len() as i64);
    }

    /// Waits for `caller`'s turn; the turn is given back when dropped. `Unavailable` when too
    /// many requests are waiting already, over all or of this token. Reports the wait to
    /// `metrics`.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        caller: Caller,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Turn, ServiceError> {
        let mut ticket = {
            let mut queue = self.lock();
            if queue.running < self.limit {
                debug_assert_eq!(queue.waiting.len(), 0, "nobody waits while a turn is free");
                queue.running += 1;
                metrics.traversal_wait_seconds.observe(0.0);
                return Ok(Turn { admission: Arc::clone(self) });
            }
            let busy = |why: String| {
                metrics.traversals_refused.inc();
                Err(ServiceError::Unavailable(format!(
                    "the server is busy: {} lineage walks and change checks are running and {why}; retry later",
                    self.limit
                )))
            };
            if queue.waiting.len() >= self.max_waiting {
                return busy(format!("{} are waiting", queue.waiting.len()));
            }
            let theirs = queue.waiting.len_of(&caller);
            if matches!(caller, Caller::Token(_)) && theirs >= self.max_waiting_per_token {
                return busy(format!("{theirs} of this token's are waiting"));
            }
            let (sender, turn) = oneshot::channel();
            let number = queue.next_ticket;
            queue.next_ticket += 1;
            queue.waiting.push(caller.clone(), (number, sender));
            self.waiting_gauge.set(queue.waiting.len() as i64);
            Ticket { admission: Arc::clone(self), caller, ticket: number, turn, admitted: false }
        };
        let asked = Instant::now();
        (&mut ticket.turn).await.map_err(|_| ServiceError::Unavailable("the server is shutting down".into()))?;
        ticket.admitted = true;
        metrics.traversal_wait_seconds.observe(asked.elapsed().as_secs_f64());
        Ok(Turn { admission: Arc::clone(self) })
    }

    /// Requests waiting for a turn now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
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
            let metrics = Arc::new(crate::metrics::Metrics::new().expect("metrics"));
            let admission = Arc::new(Admission::new(limit, metrics.traversals_waiting.clone()));
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let tasks = limit * MAX_WAITING_PER_RUNNING;
            runtime().block_on(async {
                let mut handles = Vec::new();
                for _ in 0..tasks {
                    let (admission, metrics, running, most) =
                        (Arc::clone(&admission), Arc::clone(&metrics), Arc::clone(&running), Arc::clone(&most));
                    handles.push(tokio::spawn(async move {
                        let turn = admission.admit(Caller::Everyone, &metrics).await.expect("admitted");
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
        let admission = Arc::new(Admission::new(1, metrics.traversals_waiting.clone()));
        runtime().block_on(async {
            let turn = admission.admit(Caller::Everyone, &metrics).await.expect("the first runs at once");
            let mut waiters: Vec<_> =
                (0..MAX_WAITING_PER_RUNNING).map(|_| Box::pin(admission.admit(Caller::Everyone, &metrics))).collect();
            for waiter in &mut waiters {
                let polled = tokio::time::timeout(Duration::ZERO, waiter.as_mut()).await;
                assert!(polled.is_err(), "a request waits while the turn is taken");
            }
            assert_eq!(admission.waiting(), MAX_WAITING_PER_RUNNING);
            assert_eq!(metrics.traversals_waiting.get(), MAX_WAITING_PER_RUNNING as i64);
            let refused = admission.admit(Caller::Everyone, &metrics).await.expect_err("the queue is full");
            assert_eq!(refused.code(), crate::ErrorCode::Unavailable);
            assert!(refused.to_string().contains("busy") && refused.to_string().contains("retry"), "{refused}");
            assert_eq!(metrics.traversals_refused.get(), 1);
            // A client gives up: its place is freed.
            drop(waiters.pop());
            assert_eq!(admission.waiting(), MAX_WAITING_PER_RUNNING - 1);
            assert_eq!(metrics.traversals_waiting.get(), (MAX_WAITING_PER_RUNNING - 1) as i64);
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

    fn token(n: u8) -> Caller {
        Caller::Token(TokenId::parse(&format!("{n:016x}")).expect("token id"))
    }

    /// Whether `waiter` has its turn now (polled once); the turn is kept in `turns`.
    async fn admitted_now<F: std::future::Future<Output = Result<Turn, ServiceError>>>(
        waiter: &mut std::pin::Pin<Box<F>>,
        turns: &mut Vec<Turn>,
    ) -> bool {
        match tokio::time::timeout(Duration::ZERO, waiter.as_mut()).await {
            Ok(turn) => {
                turns.push(turn.expect("admitted"));
                true
            }
            Err(_) => false,
        }
    }

    /// Turns go round the callers: a token that queued many requests first gets every other
    /// turn, not all of them before a later token's; within a token they run in arrival
    /// order. A request given up after its turn was handed to it gives that turn on.
    #[test]
    fn turns_go_round_the_callers_in_arrival_order_within_each() {
        let metrics = crate::metrics::Metrics::new().expect("metrics");
        let admission = Arc::new(Admission::new(1, metrics.traversals_waiting.clone()));
        runtime().block_on(async {
            let mut turns = Vec::new();
            turns.push(admission.admit(token(1), &metrics).await.expect("the first runs at once"));
            let mut flood: Vec<_> = (0..6).map(|_| Box::pin(admission.admit(token(1), &metrics))).collect();
            let mut others: Vec<_> = (0..2).map(|_| Box::pin(admission.admit(token(2), &metrics))).collect();
            let mut third = Box::pin(admission.admit(Caller::Everyone, &metrics));
            for waiter in flood.iter_mut().chain(others.iter_mut()) {
                assert!(!admitted_now(waiter, &mut turns).await, "waits while the turn is taken");
            }
            assert!(!admitted_now(&mut third, &mut turns).await);
            assert_eq!(admission.waiting(), 9);
            // Each turn given back goes to the next caller in the rotation: 1, 2, everyone, 1, 2, 1, ...
            let mut order = Vec::new();
            let mut flood_next = 0;
            let mut others_next = 0;
            let mut third_done = false;
            while order.len() < 9 {
                drop(turns.pop().expect("one turn is taken"));
                let before = turns.len();
                if flood_next < flood.len() && admitted_now(&mut flood[flood_next], &mut turns).await {
                    order.push((1, flood_next));
                    flood_next += 1;
                }
                if others_next < others.len() && admitted_now(&mut others[others_next], &mut turns).await {
                    order.push((2, others_next));
                    others_next += 1;
                }
                if !third_done && admitted_now(&mut third, &mut turns).await {
                    order.push((3, 0));
                    third_done = true;
                }
                assert_eq!(turns.len(), before + 1, "exactly one waiting request got the turn: {order:?}");
                // The later ones of a caller never overtake its earlier ones.
                for waiter in flood.iter_mut().skip(flood_next).chain(others.iter_mut().skip(others_next)) {
                    assert!(!admitted_now(waiter, &mut turns).await, "in arrival order: {order:?}");
                }
            }
            assert_eq!(order, [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (1, 2), (1, 3), (1, 4), (1, 5)]);
            assert_eq!(admission.waiting(), 0);

            // Handed a turn and given up before taking it: the turn goes on to the next.
            let mut handed = Box::pin(admission.admit(token(1), &metrics));
            let mut next = Box::pin(admission.admit(token(2), &metrics));
            assert!(!admitted_now(&mut handed, &mut turns).await && !admitted_now(&mut next, &mut turns).await);
            drop(turns.pop());
            drop(handed);
            assert!(admitted_now(&mut next, &mut turns).await, "the dropped request's turn went on");
            drop(turns.pop());
            assert_eq!(admission.waiting(), 0);
            assert_eq!(metrics.traversals_waiting.get(), 0);
            // Every turn is back: the next request runs at once.
            drop(admission.admit(token(3), &metrics).await.expect("free"));
        });
    }

    /// One token cannot fill the queue: past its own bound its requests are refused, naming
    /// it, while other callers still queue.
    #[test]
    fn one_token_cannot_fill_the_queue_for_the_others() {
        let metrics = crate::metrics::Metrics::new().expect("metrics");
        let admission = Arc::new(Admission::new(1, metrics.traversals_waiting.clone()));
        runtime().block_on(async {
            let mut turns = vec![admission.admit(token(1), &metrics).await.expect("runs")];
            let mut waiting: Vec<_> =
                (0..MAX_WAITING_PER_TOKEN_PER_RUNNING).map(|_| Box::pin(admission.admit(token(1), &metrics))).collect();
            for waiter in &mut waiting {
                assert!(!admitted_now(waiter, &mut turns).await);
            }
            let refused = admission.admit(token(1), &metrics).await.expect_err("its own bound");
            assert_eq!(refused.code(), crate::ErrorCode::Unavailable);
            assert!(refused.to_string().contains("of this token's are waiting"), "{refused}");
            let mut other = Box::pin(admission.admit(token(2), &metrics));
            assert!(!admitted_now(&mut other, &mut turns).await, "another token still queues");
            assert_eq!(admission.waiting(), MAX_WAITING_PER_TOKEN_PER_RUNNING + 1);
            drop(turns.pop());
            assert!(admitted_now(&mut waiting[0], &mut turns).await);
            drop(turns.pop());
            assert!(admitted_now(&mut other, &mut turns).await, "the other token's turn came second");
        });
    }
}
