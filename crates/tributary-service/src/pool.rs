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
//! Jobs are handed over on a channel; the receiving end is behind a mutex that is a leaf (held
//! only while an idle thread waits for the next job, never while taking another lock), and so
//! is the sending end's (held to send, or to close the pool).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::ServiceError;

type Job = Box<dyn FnOnce() + Send>;

/// Threads at a lower priority running heavy reads, started as they are needed (as many as
/// jobs were ever in flight at once, up to `max`), kept until the pool closes.
pub(crate) struct ReadPool {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
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
        let (sender, receiver) = mpsc::channel::<Job>();
        Self {
            jobs: Mutex::new(Some(sender)),
            receiver: Arc::new(Mutex::new(receiver)),
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
        let (receiver, nice) = (Arc::clone(&self.receiver), self.nice);
        std::thread::Builder::new()
            .name(format!("tributary-read-{number}"))
            .spawn(move || {
                lower_priority(nice);
                loop {
                    // Held only while idle: the job runs after the guard is dropped.
                    let job = receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        // The pool is closed: every sender is gone.
                        Err(mpsc::RecvError) => return,
                    }
                }
            })
            .map_err(|error| {
                self.spawned.fetch_sub(1, Ordering::SeqCst);
                ServiceError::Internal(format!("starting a read thread: {error}"))
            })?;
        Ok(())
    }

    /// Runs `work` on one of the pool's threads and waits for its answer. A panic in `work`
    /// is an internal error (the thread goes on).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
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
        let sent = match &*self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(ServiceError::Unavailable("the server is closing".to_owned()));
        }
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
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
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
            .run(|| {
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
        let failed = pool.run(|| -> u32 { panic!("a read that panics") }).await;
        assert!(matches!(failed, Err(ServiceError::Internal(_))), "{failed:?}");
        assert_eq!(pool.run(|| 7).await.expect("the same thread answers"), 7);
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
                    pool.run(move || {
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
        assert!(matches!(pool.run(|| ()).await, Err(ServiceError::Unavailable(_))));
        assert_eq!(pool.in_flight.load(Ordering::SeqCst), 0);
    }
}
