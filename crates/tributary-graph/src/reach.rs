//! Walks that answer with node numbers instead of names: the breadth-first walk every lineage
//! answer is made of, and [`LineageIndex::reach`] for callers that count or group what a walk
//! reaches and name only a page of it.

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, VisitMap, Visitable};
use tributary_model::{Direction, EdgeKind, NodeKind, NodeRef};

use crate::{GraphError, LineageIndex};

/// A node of the index by number, dense from 0. Valid against the index that gave it out:
/// nodes are never removed, so a number keeps naming the same node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeNumber(u32);

impl NodeNumber {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
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
    /// The nodes of [`Self::lineage_shaped`]'s answer with [`crate::AnswerShape::Nodes`], in
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

    /// The node's kind, namespace and name.
    pub fn node_ref(&self, node: NodeNumber) -> NodeRef {
        self.graph[NodeIndex::new(node.index())].to_ref()
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
    pub(crate) fn walk(
        &self,
        start: NodeIndex,
        side: PetDirection,
        depth: u32,
        limit: usize,
        with_jobs: bool,
        mut edges: Option<&mut WalkEdges>,
    ) -> (Vec<(NodeIndex, u32)>, bool) {
        let mut visited = self.graph.visit_map();
        visited.visit(start);
        // The queue is the visit order: every visited node is queued once, in that order.
        let mut queue: Vec<(NodeIndex, u32)> = Vec::with_capacity(limit.min(self.is_job.len()));
        queue.push((start, 0));
        let mut head = 0;
        let mut truncated = false;
        while let Some(&(current, distance)) = queue.get(head) {
            head += 1;
            for edge in self.graph.edges_directed(current, side) {
                let next = if side == PetDirection::Outgoing { edge.target() } else { edge.source() };
                let next_is_job = self.is_job[next.index()];
                let next_distance = distance + u32::from(next_is_job);
                if next_distance > depth {
                    continue;
                }
                if !visited.is_visited(&next) {
                    if queue.len() >= limit {
                        truncated = true;
                        continue;
                    }
                    visited.visit(next);
                    queue.push((next, next_distance));
                }
                if let Some(edges) = edges.as_deref_mut() {
                    edges.push((edge.source(), edge.target(), *edge.weight()));
                }
            }
        }
        if !with_jobs {
            let mut position = 0;
            queue.retain(|&(node, _)| {
                position += 1;
                position == 1 || !self.is_job[node.index()]
            });
        }
        (queue, truncated)
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
