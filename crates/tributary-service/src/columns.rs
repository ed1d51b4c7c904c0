//! Loading the column lineage into the index after start-up: from the index snapshot's
//! column section when start-up read its dataset graph (installed whole, see `snapshot`),
//! else from the store's records as follows.
//!
//! The dataset graph (ids and job edges) is rebuilt before the server listens; the column
//! lineage, most of the stored graph, is read afterwards on a thread of its own, in chunks
//! decoded outside the index lock and applied under it. Events ingested meanwhile set their
//! column lineage directly; the index remembers those outputs and the loader leaves them
//! alone, so the result is the same as a full rebuild. Answers that need columns wait until
//! the load is done.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use tributary_model::{ColumnEdgeSpec, DatasetId};

use crate::{ServiceError, Shared};

/// Outputs decoded before taking the index lock once.
const CHUNK: usize = 4096;
/// Longest a request waits for the column lineage before it is told to retry.
const WAIT: Duration = Duration::from_secs(600);

/// Where the column lineage load stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ColumnState {
    Loading,
    Ready,
    Failed(String),
}

/// Loads the column lineage into the index, from the index snapshot's column section if
/// start-up read the rest of it, else (or if that section is unusable) from every stored
/// column lineage record; then marks it ready (or failed).
pub(crate) fn load(shared: &Shared, snapshot: Option<crate::snapshot::PendingColumns>) {
    let started = Instant::now();
    // The column graph read from the snapshot, installed below under the same lock as the
    // end of the load; or the load from the store's records, done in chunks.
    let mut from_snapshot = None;
    let outcome = match snapshot.map(crate::snapshot::PendingColumns::read) {
        Some(Ok(columns)) => {
            from_snapshot = Some(columns);
            Ok(true)
        }
        Some(Err(why)) => {
            warn!("{why}; loading the column lineage from the store instead");
            load_chunks(shared)
        }
        None => load_chunks(shared),
    };
    let state = match outcome {
        Ok(true) => {
            let mut state = shared.write_state();
            let state = &mut *state;
            if let Some((columns, newer)) = from_snapshot {
                state.index.install_columns(columns, &newer);
            }
            state.index.finish_column_load();
            if state.mesh.has_graph_policies() {
                state.mesh.refresh_violations(&state.index, &shared.store, tributary_model::Timestamp::now());
            }
            info!(
                column_edges = state.index.column_edge_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "column lineage loaded"
            );
            ColumnState::Ready
        }
        Ok(false) => ColumnState::Failed("the service is closing".into()),
        Err(failure) => {
            error!(error = %failure, "loading the column lineage failed; column answers are unavailable");
            ColumnState::Failed(failure.to_string())
        }
    };
    let mut current = shared.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *current = state;
    shared.column_ready.notify_all();
}

/// Every stored column lineage, a chunk per lock; false when the service closed before the
/// load finished.
fn load_chunks(shared: &Shared) -> Result<bool, ServiceError> {
    let mut chunk: Vec<(DatasetId, Vec<ColumnEdgeSpec>)> = Vec::with_capacity(CHUNK);
    let mut entries = shared.store.scan_column_lineage();
    loop {
        if shared.closing.load(Ordering::Relaxed) {
            return Ok(false);
        }
        for entry in entries.by_ref().take(CHUNK) {
            chunk.push(entry?);
        }
        if chunk.is_empty() {
            return Ok(true);
        }
        let mut state = shared.write_state();
        for (output, edges) in chunk.drain(..) {
            state.index.load_column_lineage(&output, &edges);
        }
    }
}

impl Shared {
    /// The index once its column lineage is complete: waits for the load after start-up.
    pub(crate) fn read_state_with_columns(&self) -> Result<std::sync::RwLockReadGuard<'_, crate::State>, ServiceError> {
        self.wait_for_columns()?;
        Ok(self.read_state())
    }

    /// Waits (blocking, bounded) until the column lineage load is done.
    pub(crate) fn wait_for_columns(&self) -> Result<(), ServiceError> {
        let mut state = self.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let deadline = Instant::now() + WAIT;
        loop {
            match &*state {
                ColumnState::Ready => break,
                ColumnState::Failed(reason) => {
                    return Err(ServiceError::Internal(format!("the column lineage is not available: {reason}")));
                }
                ColumnState::Loading => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ServiceError::Unavailable("the column lineage is still loading".into()));
                    }
                    state =
                        self.column_ready.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
                }
            }
        }
        Ok(())
    }
}
