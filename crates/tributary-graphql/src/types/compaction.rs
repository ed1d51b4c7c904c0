//! `StoreCompaction`: the store's online compaction (admin).

use async_graphql::{Enum, SimpleObject};
use tributary_service::CompactionState;

/// Where an online compaction of the store stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum CompactionStage {
    /// None has run since the server started.
    Idle,
    /// Copying; `keysCopied` grows.
    Running,
    /// The compacted store is the store now.
    Finished,
    /// The store is unchanged (unless `error` says the compacted database is current: a
    /// failure after the switch); `error` says why.
    Failed,
}

/// The store's online compaction: started by `compactStore`, followed here.
#[derive(SimpleObject)]
pub struct StoreCompaction {
    pub stage: CompactionStage,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Keys copied so far (running) or in all (finished); writes made meanwhile are mirrored
    /// and not counted.
    pub keys_copied: Option<u64>,
    /// Bytes of keys and values copied (finished).
    pub bytes_copied: Option<u64>,
    /// The store's files on disk before and after (finished).
    pub bytes_on_disk_before: Option<u64>,
    pub bytes_on_disk_after: Option<u64>,
    /// The directory inside the data directory that holds the store now (finished).
    pub generation: Option<String>,
    /// The longest the copy held writes back, in milliseconds: one slice, or the switch at
    /// the end (finished).
    pub longest_hold_ms: Option<f64>,
    /// How long the switch at the end held writes back, in milliseconds (finished).
    pub switch_hold_ms: Option<f64>,
    /// Why it failed (failed).
    pub error: Option<String>,
}

impl From<CompactionState> for StoreCompaction {
    fn from(state: CompactionState) -> Self {
        let empty = |stage| Self {
            stage,
            started_at: None,
            finished_at: None,
            keys_copied: None,
            bytes_copied: None,
            bytes_on_disk_before: None,
            bytes_on_disk_after: None,
            generation: None,
            longest_hold_ms: None,
            switch_hold_ms: None,
            error: None,
        };
        match state {
            CompactionState::Idle => empty(CompactionStage::Idle),
            CompactionState::Running { started_at, keys_copied } => Self {
                started_at: Some(started_at.to_rfc3339()),
                keys_copied: Some(keys_copied),
                ..empty(CompactionStage::Running)
            },
            CompactionState::Finished { started_at, finished_at, report } => Self {
                started_at: Some(started_at.to_rfc3339()),
                finished_at: Some(finished_at.to_rfc3339()),
                keys_copied: Some(report.keys),
                bytes_copied: Some(report.bytes),
                bytes_on_disk_before: Some(report.before),
                bytes_on_disk_after: Some(report.after),
                generation: Some(report.generation),
                longest_hold_ms: Some(report.longest_hold.as_secs_f64() * 1000.0),
                switch_hold_ms: Some(report.switch_hold.as_secs_f64() * 1000.0),
                ..empty(CompactionStage::Finished)
            },
            CompactionState::Failed { started_at, finished_at, error } => Self {
                started_at: Some(started_at.to_rfc3339()),
                finished_at: Some(finished_at.to_rfc3339()),
                error: Some(error),
                ..empty(CompactionStage::Failed)
            },
        }
    }
}
