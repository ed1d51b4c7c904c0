//! The impact summaries last computed, kept while neither the edges and labels of the lineage
//! index ([`tributary_graph::Generation`]) nor the mesh (its generation) moved: a review bot or
//! a dashboard asking about the same hubs again gets the walk and the counts without walking.
//! Events that repeat what the index holds (the runs of jobs whose inputs and outputs did not
//! change) leave both generations alone, so in a mesh whose shape changes rarely the entries
//! outlive most ingest.
//!
//! Only what every caller shares is kept: the nodes reached (numbers and distances), whether
//! the node limit cut the walk, and the groups. Pages are named and redacted for each caller
//! from the kept nodes. The mutex is a leaf lock: it is taken while the state's read lock is
//! held (so the generations cannot move meanwhile) and nothing is taken while it is held; the
//! walk of a miss runs outside it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tributary_graph::{Generation, ReachedNode};
use tributary_model::{Direction, NodeRef};

use super::ImpactCount;

/// At most this many summaries are kept.
const MAX_ENTRIES: usize = 256;
/// At most this many reached nodes in all (8 bytes each): about 32 MiB with the groups. A
/// larger walk is answered but not kept.
const MAX_NODES: usize = 4_000_000;

/// What a summary depends on besides the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SummaryKey {
    pub(crate) index: Generation,
    pub(crate) mesh: u64,
    pub(crate) start: NodeRef,
    pub(crate) direction: Direction,
    pub(crate) depth: u32,
    pub(crate) limit: usize,
}

/// A walk and its counts, shared by every caller.
#[derive(Debug)]
pub(crate) struct Walked {
    /// Reached nodes without the start, in walk order.
    pub(crate) reached: Vec<ReachedNode>,
    pub(crate) truncated: bool,
    pub(crate) groups: Vec<ImpactCount>,
}

#[derive(Default)]
pub(crate) struct SummaryCache {
    /// Least recently used first.
    entries: Mutex<VecDeque<(SummaryKey, Arc<Walked>)>>,
}

impl SummaryCache {
    pub(crate) fn get(&self, key: &SummaryKey) -> Option<Arc<Walked>> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = entries.iter().position(|(kept, _)| kept == key)?;
        let entry = entries.remove(at)?;
        let walked = Arc::clone(&entry.1);
        entries.push_back(entry);
        Some(walked)
    }

    /// Keeps `walked` for `key`. Entries of other generations go first: the generations only
    /// move forward, so they cannot be asked for again.
    pub(crate) fn insert(&self, key: SummaryKey, walked: Arc<Walked>) {
        if walked.reached.len() > MAX_NODES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|(kept, _)| kept.index == key.index && kept.mesh == key.mesh && kept != &key);
        entries.push_back((key, walked));
        let mut nodes: usize = entries.iter().map(|(_, walked)| walked.reached.len()).sum();
        while entries.len() > MAX_ENTRIES || nodes > MAX_NODES {
            let Some((_, evicted)) = entries.pop_front() else { break };
            nodes -= evicted.reached.len();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}
