//! Callers who ask for the same derived answer at once share its derivation.
//!
//! A derivation runs in rounds, one at a time. A caller needs a round that *starts after it
//! arrived* (so its answer reflects at least what was published when it asked, as a
//! derivation of its own would): if none is running it runs the next round itself; otherwise
//! it waits for the running round to end and for the round after it, which the first caller
//! to find none running starts, and which every caller who arrived meanwhile shares. So N
//! callers asking during one derivation cause at most one more, not N, and a caller waits for
//! at most two rounds that answer. Waiting holds no turn, no read thread and no lock.
//!
//! A round's runner that goes away (its request cancelled) or fails hands over: waiters are
//! woken and one of them runs the next round with its own request. Errors are not shared: a
//! runner's failure may be its own (its token revoked, its turn refused), not the answer's.
//!
//! Locking: `rounds` is a leaf mutex, never held across an await; the watch channel's own
//! lock is taken only while holding it, so a caller reads "what finished" and "whether one
//! runs" as one state.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::ServiceError;

/// The last round that finished with an answer, and the answer.
type Finished<T> = Option<(u64, T)>;

pub(crate) struct Coalesced<T> {
    rounds: Mutex<Rounds>,
    finished: watch::Sender<Finished<T>>,
}

#[derive(Default)]
struct Rounds {
    /// The number of the last round started.
    started: u64,
    /// Whether that round is still running.
    running: bool,
}

impl<T: Clone> Default for Coalesced<T> {
    fn default() -> Self {
        Coalesced { rounds: Mutex::default(), finished: watch::Sender::new(None) }
    }
}

/// What a caller does next.
enum Next<T> {
    Answer(T),
    Run(u64),
    Wait,
}

impl<T: Clone> Coalesced<T> {
    /// The answer of a round started after this call: `derive` runs it if this caller is the
    /// one to start it (at most once), else another caller's round is awaited.
    pub(crate) async fn share<F, Fut>(&self, derive: F) -> Result<T, ServiceError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let mut finished = self.finished.subscribe();
        let wanted = self.lock().started + 1;
        let mut derive = Some(derive);
        loop {
            let next = {
                let mut rounds = self.lock();
                match &*finished.borrow_and_update() {
                    Some((round, answer)) if *round >= wanted => Next::Answer(answer.clone()),
                    _ if rounds.running => Next::Wait,
                    _ => {
                        rounds.started += 1;
                        rounds.running = true;
                        Next::Run(rounds.started)
                    }
                }
            };
            match next {
                Next::Answer(answer) => return Ok(answer),
                Next::Run(round) => {
                    let mut running = Running { coalesced: self, round: Some(round) };
                    // Claimed once: after running, this caller returns (or is dropped).
                    let Some(derive) = derive.take() else {
                        return Err(ServiceError::Internal("a caller ran two rounds".into()));
                    };
                    let answer = derive().await?;
                    running.finish(answer.clone());
                    return Ok(answer);
                }
                Next::Wait => {
                    // The sender lives in `self`, which outlives this call: `changed` fails
                    // only if it were dropped, and then there is nothing more to wait for.
                    if finished.changed().await.is_err() {
                        return Err(ServiceError::shutting_down());
                    }
                }
            }
        }
    }
}

impl<T> Coalesced<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rounds> {
        // Nothing is left half-done under the lock (two fields set together): a poisoned lock
        // still holds a consistent state.
        self.rounds.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A round being run; ending it (finished, failed or dropped) lets the next one start.
struct Running<'a, T> {
    coalesced: &'a Coalesced<T>,
    /// The round, until it is finished.
    round: Option<u64>,
}

impl<T> Running<'_, T> {
    /// Publishes the round's answer to its waiters.
    fn finish(&mut self, answer: T) {
        if let Some(round) = self.round.take() {
            let mut rounds = self.coalesced.lock();
            rounds.running = false;
            self.coalesced.finished.send_replace(Some((round, answer)));
        }
    }
}

impl<T> Drop for Running<'_, T> {
    /// A runner that failed or was cancelled: its waiters are woken, and one of them starts
    /// the next round.
    fn drop(&mut self) {
        if self.round.take().is_some() {
            let mut rounds = self.coalesced.lock();
            rounds.running = false;
            self.coalesced.finished.send_modify(|_| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    struct OnDrop<F: FnMut()>(F);

    impl<F: FnMut()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }

    /// A derivation that counts itself and gives its number, after `hold`.
    async fn counted(runs: &AtomicU64, hold: Duration) -> Result<u64, ServiceError> {
        let number = runs.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(hold).await;
        Ok(number)
    }

    /// A caller of `coalesced`, spawned, whose derivation (if it runs one) is [`counted`].
    fn caller(
        coalesced: &Arc<Coalesced<u64>>,
        runs: &Arc<AtomicU64>,
        hold: Duration,
    ) -> tokio::task::JoinHandle<Result<u64, ServiceError>> {
        let (coalesced, runs) = (Arc::clone(coalesced), Arc::clone(runs));
        tokio::spawn(async move { coalesced.share(|| counted(&runs, hold)).await })
    }

    #[tokio::test]
    async fn callers_during_a_round_share_the_next_one() {
        let coalesced = Arc::new(Coalesced::<u64>::default());
        let runs = Arc::new(AtomicU64::new(0));
        // The first caller starts round 1 and holds it.
        let first = caller(&coalesced, &runs, Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Twenty callers arrive while it runs: they need a round started after them.
        let later: Vec<_> = (0..20).map(|_| caller(&coalesced, &runs, Duration::from_millis(50))).collect();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        for caller in later {
            assert_eq!(caller.await.unwrap().unwrap(), 2, "every later caller gets the one round after the first");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // Nothing running now: the next caller runs a round of its own.
        assert_eq!(coalesced.share(|| counted(&runs, Duration::ZERO)).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_cancelled_runner_hands_over_to_a_waiter() {
        let coalesced = Arc::new(Coalesced::<u64>::default());
        let runs = Arc::new(AtomicU64::new(0));
        let runner = caller(&coalesced, &runs, Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let waiter = caller(&coalesced, &runs, Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(30)).await;
        runner.abort();
        let answer = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the waiter went on");
        assert_eq!(answer.unwrap().unwrap(), 2, "the waiter ran the next round");
    }

    #[tokio::test]
    async fn a_failed_round_is_not_shared_a_waiter_runs_its_own() {
        let coalesced = Arc::new(Coalesced::<u64>::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        let runner = {
            let (coalesced, gate) = (Arc::clone(&coalesced), Arc::clone(&gate));
            tokio::spawn(async move {
                coalesced
                    .share(|| async move {
                        gate.notified().await;
                        Err::<u64, _>(ServiceError::Unavailable("this caller's turn was refused".into()))
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        let waiter = {
            let coalesced = Arc::clone(&coalesced);
            tokio::spawn(async move { coalesced.share(|| async { Ok(5) }).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        gate.notify_one();
        let error = runner.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("turn was refused"), "{error}");
        let answer = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the waiter went on");
        assert_eq!(answer.unwrap().unwrap(), 5, "the waiter ran its own round, not given the runner's error");
    }

    /// Many callers in waves, some cancelled: every caller that is not cancelled gets an
    /// answer from a round that started after it arrived, and rounds never overlap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stress_rounds_never_overlap_and_answers_are_fresh() {
        let coalesced = Arc::new(Coalesced::<u64>::default());
        let started = Arc::new(AtomicU64::new(0));
        let at_once = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for caller in 0..400u64 {
            let (coalesced, started, at_once) = (Arc::clone(&coalesced), Arc::clone(&started), Arc::clone(&at_once));
            // The rounds started before this caller arrived: its answer must be a later one.
            let before = started.load(Ordering::SeqCst);
            let task = tokio::spawn(async move {
                coalesced
                    .share(|| async move {
                        assert_eq!(at_once.fetch_add(1, Ordering::SeqCst), 0, "two rounds ran at once");
                        // Counted out when the round ends, finished or cancelled.
                        let _running = OnDrop(move || {
                            at_once.fetch_sub(1, Ordering::SeqCst);
                        });
                        let number = started.fetch_add(1, Ordering::SeqCst) + 1;
                        tokio::time::sleep(Duration::from_micros(300)).await;
                        Ok(number)
                    })
                    .await
            });
            if caller % 7 == 3 {
                tokio::time::sleep(Duration::from_micros(100)).await;
                task.abort();
                continue;
            }
            callers.push((before, task));
            if caller % 10 == 0 {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
        let total = callers.len() as u64;
        for (before, task) in callers {
            let round = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("a caller was left waiting")
                .unwrap()
                .unwrap();
            assert!(round > before, "answered from round {round}, started before the caller came ({before})");
        }
        assert!(started.load(Ordering::SeqCst) < total, "callers shared rounds");
    }
}
