//! The threads heavy reads run on: lineage and column walks, change checks and impact
//! summaries (every `Service::traversal`). There are at most as many as the reads that may run
//! at once (`ServiceConfig::max_traversals`; one is started when a read finds none idle, so an
//! admitted read does not wait for a thread), and on Linux each lowers its own scheduling
//! priority once, when it starts
//! (`ServiceConfig::read_nice`): when the cores are all busy, the writer, ingest's decoding
//! and point reads (at the normal priority, on the runtime's blocking pool) get them first,
//! and the heavy reads get what is left; on an idle machine they run at full speed. Measured
//! on 2 cores: two busy threads at the normal priority beside HTTP ingest cost it 0.55x, at
//! nice 19 0.80-0.97x (`benches/README.md`, session 31).
//!
//! **Jobs go round the callers** (`rotation`): an idle thread takes the first job of the next
//! caller (a token; on a server without tokens every caller is the same one) that has jobs
//! queued, so the pieces of one token's many large answers being written delay another
//! token's walk or answer by about one piece per thread, not by all of them. Within a caller,
//! jobs run in arrival order. How many jobs may queue is bounded by what sends them: walks
//! by their turns (`admission`), an answer's pieces one at a time as its connection asks.
//!
//! The queue's mutex is a leaf: held to queue a job, to take one, or to close the pool, never
//! while a job runs or while taking another lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::ServiceError;
use crate::admission::Caller;
use crate::rotation::Rotation;

type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting for a thread, and whether the pool still takes them.
#[derive(Default)]
struct Jobs {
    queued: Rotation<Caller, Job>,
    closed: bool,
}

/// The queue the pool's threads share with the callers.
#[derive(Default)]
struct Queue {
    jobs: Mutex<Jobs>,
    /// Signalled when a job is queued or the pool closes.
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        // Every change to the queue is whole before anything that can panic.
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next job, going round the callers, waiting while there is none; `None` once the
    /// pool is closed and its queue is empty.
    fn next(&self) -> Option<Job> {
        let mut jobs = self.lock();
        loop {
            if let Some(job) = jobs.queued.pop() {
                return Some(job);
            }
            if jobs.closed {
                return None;
            }
            jobs = self.ready.wait(jobs).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// Threads at a lower priority running heavy reads, started as they are needed (as many as
/// jobs were ever in flight at once, up to `max`), kept until the pool closes.
pub(crate) struct ReadPool {
    queue: Arc<Queue>,
    /// Jobs sent and not finished.
    in_flight: Arc<AtomicUsize>,
    spawned: AtomicUsize,
    max: usize,
    nice: i32,
}

impl ReadPool {
    /// A pool of at most `max` threads (at least 1) named `tributary-read-N`, each lowering its
    /// priority by `nice` (0: as the process) when it starts.
    pub(crate) fn new(max: usize, nice: i32) -> Self {
        Self {
            queue: Arc::new(Queue::default()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            spawned: AtomicUsize::new(0),
            max: max.max(1),
            nice,
        }
    }

    /// Starts threads until there are as many as `wanted` jobs in flight (at most `max`): with
    /// reads admitted `max` at a time, every admitted read has a thread.
    fn grow(&self, wanted: usize) -> Result<(), ServiceError> {
        let wanted = wanted.min(self.max);
        while let Ok(number) = self
            .spawned
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |spawned| (spawned < wanted).then_some(spawned + 1))
        {
            self.spawn(number)?;
        }
        Ok(())
    }

    fn spawn(&self, number: usize) -> Result<(), ServiceError> {
        let (queue, nice) = (Arc::clone(&self.queue), self.nice);
        std::thread::Builder::new()
            .name(format!("tributary-read-{number}"))
            .spawn(move || {
                lower_priority(nice);
                // The queue's lock is held only while taking a job: the job runs after.
                while let Some(job) = queue.next() {
                    job();
                }
            })
            .map_err(|error| {
                self.spawned.fetch_sub(1, Ordering::SeqCst);
                ServiceError::Internal(format!("starting a read thread: {error}"))
            })?;
        Ok(())
    }

    /// Runs `work` for `caller` on one of the pool's threads, after the jobs queued before
    /// it by the callers ahead of it in the rotation and its own earlier ones, and waits for
    /// its answer. A panic in `work` is an internal error (the thread goes on).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        caller: Caller,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let in_flight = Arc::clone(&self.in_flight);
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            // The caller may have gone (a cancelled request): nobody to tell.
            let _ = answer.send(outcome);
        });
        let wanted = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(error) = self.grow(wanted) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(error);
        }
        {
            let mut jobs = self.queue.lock();
            if jobs.closed {
                drop(jobs);
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Err(ServiceError::Unavailable("the server is closing".to_owned()));
            }
            jobs.queued.push(caller, job);
        }
        self.queue.ready.notify_one();
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_panic)) => {
                Err(ServiceError::Internal("a read failed (it panicked; see the server log)".to_owned()))
            }
            Err(_) => Err(ServiceError::Internal("a read thread stopped".to_owned())),
        }
    }

    /// Lets the threads end once the jobs sent before are done.
    pub(crate) fn close(&self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// Lowers the calling thread's scheduling priority by `nice` (Linux: `setpriority` on the
/// thread's id; a thread's nice value is its own there). Elsewhere, and when refused, the
/// thread keeps the process's priority (logged).
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = rustix::thread::gettid();
        let lowered = getpriority_process(Some(tid))
            .and_then(|current| setpriority_process(Some(tid), current.saturating_add(nice).min(19)));
        if let Err(error) = lowered {
            tracing::warn!(%error, nice, "a read thread keeps the normal priority: lowering it was refused");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::debug!(nice, "read threads keep the normal priority on this system");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_named_threads_at_the_lower_priority() {
        let pool = ReadPool::new(2, 5);
        let (name, nice) = pool
            .run(Caller::Everyone, || {
                let name = std::thread::current().name().map(str::to_owned);
                #[cfg(target_os = "linux")]
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
                #[cfg(not(target_os = "linux"))]
                let nice: Option<i32> = None;
                (name, nice)
            })
            .await
            .expect("run");
        assert!(name.is_some_and(|name| name.starts_with("tributary-read-")));
        #[cfg(target_os = "linux")]
        {
            let ours = rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("our priority");
            assert_eq!(nice, Some((ours + 5).min(19)), "5 below the process's");
        }
        #[cfg(not(target_os = "linux"))]
        assert_eq!(nice, None);
    }

    #[tokio::test]
    async fn a_panic_is_an_internal_error_and_the_thread_goes_on() {
        let pool = ReadPool::new(1, 0);
        let failed = pool.run(Caller::Everyone, || -> u32 { panic!("a read that panics") }).await;
        assert!(matches!(failed, Err(ServiceError::Internal(_))), "{failed:?}");
        assert_eq!(pool.run(Caller::Everyone, || 7).await.expect("the same thread answers"), 7);
        assert_eq!(pool.spawned.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_the_threads_wait_and_all_answer_then_a_closed_pool_refuses() {
        let pool = Arc::new(ReadPool::new(2, 0));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..12)
            .map(|n| {
                let (pool, running, most) = (Arc::clone(&pool), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    pool.run(Caller::Everyone, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        running.fetch_sub(1, Ordering::SeqCst);
                        n * 2
                    })
                    .await
                })
            })
            .collect();
        for (n, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.await.expect("task").expect("run"), n * 2);
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "at most 2 threads");
        assert!(pool.spawned.load(Ordering::SeqCst) <= 2);
        pool.close();
        assert!(matches!(pool.run(Caller::Everyone, || ()).await, Err(ServiceError::Unavailable(_))));
        assert_eq!(pool.in_flight.load(Ordering::SeqCst), 0);
    }

    fn token(n: u8) -> Caller {
        Caller::Token(tributary_auth::TokenId::parse(&format!("{n:016x}")).expect("token id"))
    }

    /// Four callers each sending 150 jobs at once, to one thread and to two: every job
    /// answers, no more run at once than there are threads, nothing is left in flight, and on
    /// one thread each caller's jobs run in the order it sent them (on two, the next of a
    /// caller's may start before the one taken just before it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_at_once_each_run_in_sending_order() {
        for threads in [1, 2] {
            many_callers_at_once(threads).await;
        }
    }

    async fn many_callers_at_once(threads: usize) {
        const JOBS: usize = 150;
        let pool = Arc::new(ReadPool::new(threads, 0));
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let senders: Vec<_> = (0..4u8)
            .map(|sender| {
                let (pool, ran, running, most) =
                    (Arc::clone(&pool), Arc::clone(&ran), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    let caller = if sender == 0 { Caller::Everyone } else { token(sender) };
                    let mut jobs = Vec::with_capacity(JOBS);
                    for sent in 0..JOBS {
                        let (ran, running, most) = (Arc::clone(&ran), Arc::clone(&running), Arc::clone(&most));
                        let mut job = Box::pin(pool.run(caller.clone(), move || {
                            most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                            ran.lock().expect("ran").push((sender, sent));
                            std::thread::sleep(std::time::Duration::from_micros(50));
                            running.fetch_sub(1, Ordering::SeqCst);
                            sent
                        }));
                        // Polled once here, so it is queued before the next one is sent.
                        let done = tokio::time::timeout(std::time::Duration::ZERO, job.as_mut()).await.ok();
                        jobs.push((done, job));
                    }
                    for (sent, (done, job)) in jobs.into_iter().enumerate() {
                        let answer = match done {
                            Some(answer) => answer,
                            None => job.await,
                        };
                        assert_eq!(answer.expect("run"), sent);
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.expect("every job of the sender answered");
        }
        let ran = ran.lock().expect("ran").clone();
        assert_eq!(ran.len(), 4 * JOBS);
        for sender in 0..4u8 {
            let mut theirs: Vec<usize> = ran.iter().filter(|(who, _)| *who == sender).map(|(_, sent)| *sent).collect();
            if threads > 1 {
                theirs.sort_unstable();
            }
            assert_eq!(theirs, (0..JOBS).collect::<Vec<_>>(), "caller {sender}'s jobs, each once, in the order sent");
        }
        assert!(most.load(Ordering::SeqCst) <= threads, "at most {threads} at once");
        assert_eq!(pool.in_flight.load(Ordering::SeqCst), 0);
        assert!(pool.queue.lock().queued.len() == 0);
    }

    /// An idle thread takes the next caller's first job: a token with many jobs queued first
    /// gets every other thread's turn, not all of them before a later token's job; each
    /// token's jobs run in the order they were sent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_go_round_the_callers_in_sending_order_within_each() {
        let pool = Arc::new(ReadPool::new(1, 0));
        let ran = Arc::new(Mutex::new(Vec::new()));
        // The one thread is busy until the gate opens, so every job below queues.
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let busy = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run(token(1), move || {
                    started.send(()).expect("the test waits");
                    gate.recv().expect("the gate opens")
                })
                .await
            })
        };
        running.await.expect("the busy job started");
        let mut jobs = Vec::new();
        for (sent, (caller, label)) in
            [(1, "1a"), (1, "1b"), (1, "1c"), (1, "1d"), (2, "2a"), (2, "2b"), (0, "everyone"), (1, "1e")]
                .into_iter()
                .enumerate()
        {
            let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
            let caller = if caller == 0 { Caller::Everyone } else { token(caller) };
            let pool_seen = Arc::clone(&pool);
            jobs.push(tokio::spawn(
                async move { pool.run(caller, move || ran.lock().expect("ran").push(label)).await },
            ));
            // Sent in this order: each is queued before the next is sent.
            while pool_seen.queue.lock().queued.len() <= sent {
                tokio::task::yield_now().await;
            }
        }
        open.send(()).expect("the busy job waits");
        busy.await.expect("task").expect("run");
        for job in jobs {
            job.await.expect("task").expect("run");
        }
        let ran = ran.lock().expect("ran").clone();
        assert_eq!(ran, ["1a", "2a", "everyone", "1b", "2b", "1c", "1d", "1e"]);
    }
}
