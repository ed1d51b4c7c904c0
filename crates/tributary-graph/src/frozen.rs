//! A frozen compact copy of the adjacency (compressed rows of node numbers, one array per
//! direction) for walks that need no edge kinds: a walk reads a node's neighbours from one
//! contiguous row instead of chasing petgraph's linked edge lists.
//!
//! The copy is taken lazily by the first walk that finds none, or finds it too stale; the
//! writer marks both ends of every edge it adds or removes as changed, and walks read changed
//! nodes (and nodes added since) from the live graph. So an answer is the same with or without
//! the copy, neighbour order included (rows keep petgraph's order).

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;

use crate::Graph;

/// Changed or added nodes tolerated before the next walk takes a new copy: an eighth of the
/// copy, and at least this many.
const STALE_MIN: usize = 64;

#[derive(Clone)]
pub(crate) struct Frozen {
    /// Node `i`'s outgoing neighbours are `outgoing[outgoing_start[i]..outgoing_start[i + 1]]`.
    outgoing_start: Vec<u32>,
    outgoing: Vec<u32>,
    incoming_start: Vec<u32>,
    incoming: Vec<u32>,
    /// A bit per node whose rows are stale (an edge of theirs was added or removed since the
    /// copy): an eighth of a byte per node, so that a walk's check stays in cache.
    changed: Vec<u64>,
    n_changed: usize,
    /// Nodes the copy holds.
    n_nodes: usize,
}

impl Frozen {
    pub(crate) fn build(graph: &Graph, n_nodes: usize) -> Self {
        let rows = |side: PetDirection| {
            let mut start = Vec::with_capacity(n_nodes + 1);
            let mut neighbours = Vec::with_capacity(graph.edge_count());
            start.push(0);
            for index in 0..n_nodes {
                neighbours.extend(graph.neighbors_directed(NodeIndex::new(index), side).map(|n| n.index() as u32));
                // Fewer than 2^32 edges: edge indices are u32.
                start.push(neighbours.len() as u32);
            }
            (start, neighbours)
        };
        let (outgoing_start, outgoing) = rows(PetDirection::Outgoing);
        let (incoming_start, incoming) = rows(PetDirection::Incoming);
        Self {
            outgoing_start,
            outgoing,
            incoming_start,
            incoming,
            changed: vec![0; n_nodes.div_ceil(64)],
            n_changed: 0,
            n_nodes,
        }
    }

    fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// Whether a walk over a graph of `n_nodes` should take a new copy first.
    pub(crate) fn stale(&self, n_nodes: usize) -> bool {
        let drift = n_nodes.saturating_sub(self.n_nodes()) + self.n_changed;
        drift > (self.n_nodes() / 8).max(STALE_MIN)
    }

    pub(crate) fn mark_changed(&mut self, node: NodeIndex) {
        let index = node.index();
        if index < self.n_nodes {
            let (word, bit) = (index / 64, 1u64 << (index % 64));
            if self.changed[word] & bit == 0 {
                self.changed[word] |= bit;
                self.n_changed += 1;
            }
        }
    }

    /// The node's neighbours on `side` as the copy has them; `None` when the copy does not
    /// know them (the node changed or is newer): read the live graph then.
    pub(crate) fn row(&self, node: NodeIndex, side: PetDirection) -> Option<&[u32]> {
        let index = node.index();
        if index >= self.n_nodes || self.changed[index / 64] & (1 << (index % 64)) != 0 {
            return None;
        }
        let (start, neighbours) = self.rows(side);
        Some(&neighbours[start[index] as usize..start[index + 1] as usize])
    }

    fn rows(&self, side: PetDirection) -> (&[u32], &[u32]) {
        match side {
            PetDirection::Outgoing => (&self.outgoing_start, &self.outgoing),
            PetDirection::Incoming => (&self.incoming_start, &self.incoming),
        }
    }

    /// Asks the CPU for the bounds of `node`'s row (reads nothing): a walk asks a few queued
    /// nodes ahead, since each row is a cache miss otherwise paid one after the other.
    pub(crate) fn prefetch_bounds(&self, node: NodeIndex, side: PetDirection) {
        crate::prefetch::prefetch(self.rows(side).0.as_ptr().wrapping_add(node.index()));
    }

    /// Asks the CPU for the start of `node`'s row. Reads the row's bounds: ask for those
    /// first ([`Self::prefetch_bounds`]).
    pub(crate) fn prefetch_row(&self, node: NodeIndex, side: PetDirection) {
        let (start, neighbours) = self.rows(side);
        if let Some(&from) = start.get(node.index()) {
            crate::prefetch::prefetch(neighbours.as_ptr().wrapping_add(from as usize));
        }
    }
}
