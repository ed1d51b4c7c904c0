//! Whether the service can do its job right now: liveness (writes can be made durable) and
//! readiness (start-up work done), for `/healthz`, `/readyz` and gRPC health.

use std::sync::Mutex;

use tributary_store::StoreError;

/// The writer's last flush outcome. Its mutex is a leaf (never held while taking another).
#[derive(Default)]
pub(crate) struct Health {
    write_failure: Mutex<Option<String>>,
    /// Set when recovery found the store and the published state apart: no more attempts.
    restart_required: std::sync::atomic::AtomicBool,
}

impl Health {
    pub(crate) fn write_failed(&self, failure: &StoreError) {
        *self.write_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(format!("writes cannot be made durable: {failure}"));
    }

    /// Recovery found the store and the published state apart: only a restart helps.
    pub(crate) fn needs_restart(&self, reason: String) {
        self.restart_required.store(true, std::sync::atomic::Ordering::Relaxed);
        *self.write_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
    }

    pub(crate) fn write_succeeded(&self) {
        let mut current = self.write_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.is_some() {
            *current = None;
        }
    }

    pub(crate) fn restart_required(&self) -> bool {
        self.restart_required.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn write_failure(&self) -> Option<String> {
        self.write_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// What `/healthz` and `/readyz` report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// `None` when healthy; else why writes fail (the last flush's error).
    pub unhealthy: Option<String>,
    /// Start-up work still under way (`column lineage loading`), empty when ready.
    pub not_ready: Vec<String>,
    pub watermark: tributary_model::Watermark,
}
