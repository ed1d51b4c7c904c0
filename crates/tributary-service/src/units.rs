//! Long reads of the shared state done in small units, so that the writer publishes between
//! them: a reader takes the state's read lock for at most [`UNITS_PER_HOLD`] units and lets go
//! at the first unit after the writer asks for the lock (`Shared::writer_waiting`), then takes
//! it again once the writer has had it. Used by the change check (a changed column's walk,
//! its count, the naming of what it reaches) and by lineage walks and their read-out. A read
//! done this way may see events published after its first hold; each unit sees one state.

use std::sync::RwLockReadGuard;

use crate::{ServiceError, Shared, State};

/// Units one hold of the state's read lock does at most, unless the writer asks for the lock
/// sooner.
const UNITS_PER_HOLD: usize = 64;

/// Does work under the state's read lock (as `read` takes it) one small unit at a time,
/// [`UNITS_PER_HOLD`] units per hold at most: `unit` does one and says whether everything is
/// done. A hold ends early as soon as the writer waits for the lock
/// ([`Shared::writer_waiting`]), so a publication waits for one unit, not a slice, and the next
/// hold is taken once the writer has the lock. Returns the holds taken. The caller must not
/// hold the state lock.
pub(crate) fn in_units<'s>(
    shared: &'s Shared,
    read: impl Fn(&'s Shared) -> Result<RwLockReadGuard<'s, State>, ServiceError>,
    mut unit: impl FnMut(&State) -> Result<bool, ServiceError>,
) -> Result<usize, ServiceError> {
    let mut holds = 0;
    loop {
        let state = read(shared)?;
        holds += 1;
        let mut yielded = false;
        for _ in 0..UNITS_PER_HOLD {
            if unit(&state)? {
                return Ok(holds);
            }
            if shared.writer_waiting() {
                yielded = true;
                break;
            }
        }
        drop(state);
        if yielded {
            shared.metrics.read_yields.inc();
            // The lock wakes the writer, but a reader asking first could still take it
            // (std's lock clears its writer-waiting mark when it wakes one): wait until the
            // writer has it (the count drops once it does). Readers' holds are bounded, so
            // this is too; yields first, then short sleeps, not a busy core.
            let mut spins = 0u32;
            while shared.writer_waiting() {
                if spins < 64 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                spins += 1;
            }
        }
    }
}

/// [`in_units`] with the state as it is (no wait for the column lineage): for reads of the
/// dataset and job graph.
pub(crate) fn graph_in_units(
    shared: &Shared,
    unit: impl FnMut(&State) -> Result<bool, ServiceError>,
) -> Result<usize, ServiceError> {
    in_units(shared, |shared| Ok(shared.read_state()), unit)
}

/// Queued nodes a lineage walk follows, or nodes and edges it reads out, in one unit (~0.1 ms
/// on the 100k mesh's hub closure).
pub(crate) const WALK_UNIT: usize = 256;

/// Columns a column lineage walk follows in one unit (as a change check's column walk: ~0.1 ms
/// on average on the 100k mesh's hub).
pub(crate) const COLUMN_UNIT: usize = 64;

/// Names a listing or a text search looks at in one unit of its scan of the name index (~1 ms
/// on the 100k mesh).
pub(crate) const NAME_UNIT: usize = 4_096;
