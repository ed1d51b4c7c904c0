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
/// At most this much weight in all: a reached node weighs 1 (8 bytes), a group
/// [`GROUP_WEIGHT`] (its names and owners, about 200 bytes), so about 32 MiB. A heavier
/// summary is answered but not kept.
const MAX_WEIGHT: usize = 4_000_000;
const GROUP_WEIGHT: usize = 25;

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
    /// Shared with every answer made from it (never copied per request).
    pub(crate) groups: Arc<Vec<ImpactCount>>,
}

impl Walked {
    fn weight(&self) -> usize {
        self.reached.len() + GROUP_WEIGHT * self.groups.len()
    }
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
        if walked.weight() > MAX_WEIGHT {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|(kept, _)| kept.index == key.index && kept.mesh == key.mesh && kept != &key);
        entries.push_back((key, walked));
        let mut weight: usize = entries.iter().map(|(_, walked)| walked.weight()).sum();
        while entries.len() > MAX_ENTRIES || weight > MAX_WEIGHT {
            let Some((_, evicted)) = entries.pop_front() else { break };
            weight -= evicted.weight();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: Generation, start: &str, limit: usize) -> SummaryKey {
        SummaryKey {
            index,
            mesh: 1,
            start: NodeRef { kind: tributary_model::NodeKind::Dataset, namespace: "db".into(), name: start.into() },
            direction: Direction::Downstream,
            depth: 20,
            limit,
        }
    }

    /// A summary of `groups` groups (weight 25 each), no nodes.
    fn walked(groups: usize) -> Arc<Walked> {
        Arc::new(Walked {
            reached: Vec::new(),
            truncated: false,
            groups: Arc::new(vec![ImpactCount::default(); groups]),
        })
    }

    /// Kept while the weight allows, least recently used out first; a summary heavier than
    /// the whole budget is not kept; a new generation drops the old ones.
    #[test]
    fn the_cache_keeps_recent_summaries_within_its_weight() {
        let cache = SummaryCache::default();
        let now = Generation::default();
        let quarter = MAX_WEIGHT / GROUP_WEIGHT / 4;
        for (n, start) in ["a", "b", "c"].iter().enumerate() {
            cache.insert(key(now, start, 10), walked(quarter));
            assert_eq!(cache.len(), n + 1);
        }
        // "a" is used, so "b" is the least recently used when "d" and "e" need room.
        assert!(cache.get(&key(now, "a", 10)).is_some());
        cache.insert(key(now, "d", 10), walked(quarter));
        cache.insert(key(now, "e", 10), walked(quarter));
        assert!(cache.get(&key(now, "b", 10)).is_none());
        assert!(cache.get(&key(now, "a", 10)).is_some());
        assert!(cache.get(&key(now, "a", 11)).is_none(), "another limit is another question");
        cache.insert(key(now, "huge", 10), walked(MAX_WEIGHT / GROUP_WEIGHT + 1));
        assert!(cache.get(&key(now, "huge", 10)).is_none());
        // A later generation: the others can never be asked for again.
        let later = Generation::default();
        cache.insert(key(later, "a", 10), walked(1));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&key(now, "a", 10)).is_none());
        assert!(cache.get(&key(later, "a", 10)).is_some());
    }
}
