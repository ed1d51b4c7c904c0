//! Walks that answer with node numbers instead of names: the breadth-first walk every lineage
//! answer is made of, and [`LineageIndex::reach`] for callers that count or group what a walk
//! reaches and name only a page of it.

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use std::sync::Arc;

use petgraph::visit::EdgeRef;
use tributary_model::{Direction, EdgeKind, NodeKind, NodeRef};

use crate::frozen::Frozen;
use crate::{Generation, GraphError, LineageIndex};

/// A node of the index by number, dense from 0. Valid against the index that gave it out:
/// nodes are never removed, so a number keeps naming the same node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeNumber(u32);

impl NodeNumber {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The number as a position in a table by node (dense from 0), for callers that keep their
/// own facts about nodes beside the index.
impl From<NodeNumber> for usize {
    fn from(node: NodeNumber) -> usize {
        node.index()
    }
}

impl From<NodeIndex> for NodeNumber {
    fn from(index: NodeIndex) -> Self {
        Self(index.index() as u32)
    }
}

/// One node a walk reached, with its distance from the start in job hops (as
/// [`crate::LineageNode::distance`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReachedNode {
    pub node: NodeNumber,
    pub distance: u32,
}

/// What a walk reached, in the order of the lineage answer (the start first), and whether the
/// node limit cut it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub nodes: Vec<ReachedNode>,
    pub truncated: bool,
}

/// The edges a walk passed, when the answer carries them.
pub(crate) type WalkEdges = Vec<(NodeIndex, NodeIndex, EdgeKind)>;

impl LineageIndex {
    /// The nodes of [`Self::lineage`]'s answer with [`crate::AnswerShape::Nodes`], in
    /// the same order with the same distances and truncation, as numbers: no name is read or
    /// copied, so the walk costs only the graph's edges.
    pub fn reach(&self, start: &NodeRef, direction: Direction, depth: u32, limit: usize) -> Result<Reach, GraphError> {
        let start = self.node_index(start)?;
        let limit = limit.max(1);
        let (nodes, truncated) = match direction {
            Direction::Downstream => self.walk(start, PetDirection::Outgoing, depth, limit, true, None),
            Direction::Upstream => self.walk(start, PetDirection::Incoming, depth, limit, true, None),
            Direction::Both => {
                let up = self.walk(start, PetDirection::Incoming, depth, limit, true, None);
                let down = self.walk(start, PetDirection::Outgoing, depth, limit, true, None);
                self.merge_walks(up, down, limit)
            }
        };
        let nodes = nodes.into_iter().map(|(node, distance)| ReachedNode { node: node.into(), distance }).collect();
        Ok(Reach { nodes, truncated })
    }

    /// The number of a node the index holds (`None` for one it does not).
    pub fn node_number(&self, node: &NodeRef) -> Option<NodeNumber> {
        self.names.find(&self.nodes, node.kind, &node.namespace, &node.name).map(NodeNumber::from)
    }

    /// The node's kind, namespace and name.
    pub fn node_ref(&self, node: NodeNumber) -> NodeRef {
        self.nodes[node.index()].to_ref()
    }

    pub fn is_job(&self, node: NodeNumber) -> bool {
        self.is_job[node.index()]
    }

    pub fn node_kind(&self, node: NodeNumber) -> NodeKind {
        if self.is_job(node) { NodeKind::Job } else { NodeKind::Dataset }
    }

    /// Breadth-first from `start` along `side`, at most `depth` job hops and `limit` nodes:
    /// the nodes in visit order with their distances (jobs only `with_jobs`; the start
    /// always), whether the limit cut the walk, and the edges passed into `edges` if given.
    /// Without edges, neighbours come from the frozen copy where it is current.
    pub(crate) fn walk(
        &self,
        start: NodeIndex,
        side: PetDirection,
        depth: u32,
        limit: usize,
        with_jobs: bool,
        mut edges: Option<&mut WalkEdges>,
    ) -> (Vec<(NodeIndex, u32)>, bool) {
        let frozen = if edges.is_none() { Some(self.frozen()) } else { None };
        let capacity = limit.min(self.is_job.len());
        let mut walk = Walk {
            visited: vec![0; self.is_job.len().div_ceil(64)],
            queue: Vec::with_capacity(capacity),
            queue_is_job: Vec::with_capacity(capacity),
            depth,
            limit,
            truncated: false,
        };
        walk.visit(start, 0, self.is_job[start.index()]);
        let mut head = 0;
        while let Some(&(current, distance)) = walk.queue.get(head) {
            // The graph is bipartite (datasets -> jobs -> datasets): every neighbour is of the
            // other kind, known without reading it.
            let next_is_job = !walk.queue_is_job[head];
            if let Some(frozen) = frozen.as_deref() {
                // Rows lie wherever their nodes' numbers put them: their bounds are asked for
                // 16 queued nodes ahead, their neighbours (found through those bounds) 8.
                if let Some(&(ahead, _)) = walk.queue.get(head + 16) {
                    frozen.prefetch_bounds(ahead, side);
                }
                if let Some(&(ahead, _)) = walk.queue.get(head + 8) {
                    frozen.prefetch_row(ahead, side);
                }
            }
            head += 1;
            match frozen.as_deref().and_then(|frozen| frozen.row(current, side)) {
                Some(row) => {
                    for &next in row {
                        walk.step(NodeIndex::new(next as usize), distance, next_is_job);
                    }
                }
                None => {
                    for edge in self.graph.edges_directed(current, side) {
                        let next = if side == PetDirection::Outgoing { edge.target() } else { edge.source() };
                        debug_assert_eq!(self.is_job[next.index()], next_is_job, "an edge joins two nodes of a kind");
                        if walk.step(next, distance, next_is_job)
                            && let Some(edges) = edges.as_deref_mut()
                        {
                            edges.push((edge.source(), edge.target(), *edge.weight()));
                        }
                    }
                }
            }
        }
        let Walk { mut queue, queue_is_job, truncated, .. } = walk;
        if !with_jobs {
            let mut position = 0;
            queue.retain(|_| {
                let keep = position == 0 || !queue_is_job[position];
                position += 1;
                keep
            });
        }
        (queue, truncated)
    }

    /// The frozen copy of the adjacency, taken now if there is none or it is stale.
    fn frozen(&self) -> Arc<Frozen> {
        let mut frozen = self.frozen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*frozen {
            Some(copy) if !copy.stale(self.is_job.len()) => Arc::clone(copy),
            _ => {
                let copy = Arc::new(Frozen::build(&self.graph, self.is_job.len()));
                *frozen = Some(Arc::clone(&copy));
                copy
            }
        }
    }

    /// Notes that `node`'s edges changed (the writer, for both ends of every edge it adds or
    /// removes).
    pub(crate) fn mark_changed(&mut self, node: NodeIndex) {
        self.generation = Generation::next();
        let frozen = self.frozen.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(copy) = frozen {
            // Readers hold a copy only while they walk, under the state's read lock, so the
            // writer is alone with it: no clone is made.
            Arc::make_mut(copy).mark_changed(node);
        }
    }

    /// The union of an upstream and a downstream walk as `merge_answers` makes it: upstream
    /// first, each node once at its smaller distance, at most `limit` nodes, then in distance
    /// order (stable).
    fn merge_walks(
        &self,
        (up, up_truncated): (Vec<(NodeIndex, u32)>, bool),
        (down, down_truncated): (Vec<(NodeIndex, u32)>, bool),
        limit: usize,
    ) -> (Vec<(NodeIndex, u32)>, bool) {
        let mut truncated = up_truncated || down_truncated;
        let mut position = vec![u32::MAX; self.is_job.len()];
        let mut nodes: Vec<(NodeIndex, u32)> = Vec::with_capacity(up.len() + down.len());
        for (node, distance) in up.into_iter().chain(down) {
            match position[node.index()] {
                u32::MAX if nodes.len() >= limit => truncated = true,
                u32::MAX => {
                    // Fewer than 2^32 nodes: node indices are u32.
                    position[node.index()] = nodes.len() as u32;
                    nodes.push((node, distance));
                }
                at => nodes[at as usize].1 = nodes[at as usize].1.min(distance),
            }
        }
        nodes.sort_by_key(|&(_, distance)| distance);
        (nodes, truncated)
    }
}

/// The state of one breadth-first walk.
struct Walk {
    /// A bit per node index.
    visited: Vec<u64>,
    /// Every visited node, in visit order, with its distance: also the walk's queue.
    queue: Vec<(NodeIndex, u32)>,
    /// Whether each node of `queue` (by position) is a job: read in order, where the index's
    /// own table would be a random read per node.
    queue_is_job: Vec<bool>,
    depth: u32,
    limit: usize,
    truncated: bool,
}

impl Walk {
    fn visit(&mut self, node: NodeIndex, distance: u32, is_job: bool) {
        self.visited[node.index() / 64] |= 1 << (node.index() % 64);
        self.queue.push((node, distance));
        self.queue_is_job.push(is_job);
    }

    /// Follows an edge from a node at `distance` to `next` (a job or not); whether the edge is
    /// within the depth (and so part of the answer).
    #[inline]
    fn step(&mut self, next: NodeIndex, distance: u32, next_is_job: bool) -> bool {
        let next_distance = distance + u32::from(next_is_job);
        if next_distance > self.depth {
            return false;
        }
        if self.visited[next.index() / 64] & (1 << (next.index() % 64)) == 0 {
            if self.queue.len() >= self.limit {
                // Neither the node nor the edge is in the answer.
                self.truncated = true;
                return false;
            }
            self.visit(next, next_distance, next_is_job);
        }
        true
    }
}
