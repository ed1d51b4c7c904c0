//! Walks upstream that end at the datasets their caller picks: product lineage's walk from
//! each dataset of a product to the nearest datasets of other products. Many such walks run
//! one after another in one derivation, so one [`UpstreamUntil`] serves them all: its visited
//! marks are stamps (a new walk takes the next stamp instead of clearing or allocating a set
//! of every node), and a walk goes a few queued nodes at a time so that its caller can let go
//! of the index between steps.

use std::collections::VecDeque;

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;

use crate::{LineageIndex, NodeNumber};

/// Walks upstream from one node at a time (begun by [`LineageIndex::begin_upstream_until`],
/// walked by [`LineageIndex::step_upstream_until`]): every node upstream through jobs and
/// datasets, except that a dataset the caller's `stop` picks is found and not walked past.
/// A walk ends early, with what it found so far, once it has seen more than its node limit.
/// Each step follows the edges the index has then (nodes are never removed, so numbers and
/// marks stay valid; nodes added between steps are unmarked).
#[derive(Default)]
pub struct UpstreamUntil {
    /// The stamp of the walk that last visited each node, by node index (0: none).
    stamps: Vec<u32>,
    /// The stamp of the walk under way.
    pub(crate) stamp: u32,
    queue: VecDeque<NodeIndex>,
    /// Nodes visited by the walk under way, its start included.
    seen: usize,
    max_nodes: usize,
    found: Vec<NodeNumber>,
}

impl UpstreamUntil {
    /// The datasets the walk under way (or the last one) found, in the order it reached them.
    pub fn found(&self) -> &[NodeNumber] {
        &self.found
    }

    /// Marks `node` visited by the walk under way; whether it was not yet.
    fn visit(&mut self, node: NodeIndex) -> bool {
        let slot = &mut self.stamps[node.index()];
        let fresh = *slot != self.stamp;
        *slot = self.stamp;
        fresh
    }
}

impl LineageIndex {
    /// Starts a walk upstream from `start` in `walk`, ending the one it had: nothing is
    /// walked yet, and nothing is found. A start the index does not hold finds nothing.
    pub fn begin_upstream_until(&self, walk: &mut UpstreamUntil, start: NodeNumber, max_nodes: usize) {
        walk.queue.clear();
        walk.found.clear();
        walk.seen = 0;
        walk.max_nodes = max_nodes;
        if walk.stamp == u32::MAX {
            walk.stamps.iter_mut().for_each(|stamp| *stamp = 0);
            walk.stamp = 0;
        }
        walk.stamp += 1;
        walk.stamps.resize(self.nodes.len(), 0);
        let start = NodeIndex::new(start.index());
        if start.index() < self.nodes.len() {
            walk.visit(start);
            walk.seen = 1;
            walk.queue.push_back(start);
        }
    }

    /// Follows the edges of at most `budget` (at least 1) queued nodes of the walk; a dataset
    /// for which `stop` says yes is found instead of queued. Whether the walk is done.
    pub fn step_upstream_until(
        &self,
        walk: &mut UpstreamUntil,
        stop: impl Fn(NodeNumber) -> bool,
        budget: usize,
    ) -> bool {
        walk.stamps.resize(self.nodes.len(), 0);
        for _ in 0..budget.max(1) {
            let Some(current) = walk.queue.pop_front() else { return true };
            for next in self.graph.neighbors_directed(current, PetDirection::Incoming) {
                if !walk.visit(next) {
                    continue;
                }
                walk.seen += 1;
                if walk.seen > walk.max_nodes {
                    walk.queue.clear();
                    return true;
                }
                if !self.is_job[next.index()] && stop(next.into()) {
                    walk.found.push(next.into());
                    continue;
                }
                walk.queue.push_back(next);
            }
        }
        walk.queue.is_empty()
    }
}
