//! Walks that answer with node numbers instead of names: the breadth-first walk every lineage
//! answer is made of, and [`LineageIndex::reach`] for callers that count or group what a walk
//! reaches and name only a page of it.

use std::collections::HashSet;
use std::sync::Arc;

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::EdgeRef;
use tributary_model::{Direction, EdgeKind, NodeKind, NodeRef};

use crate::frozen::Frozen;
use crate::{AnswerShape, AnswerSink, Generation, GraphError, LineageIndex, LineageQuestion, Walked};

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
type WalkEdges = Vec<(NodeIndex, NodeIndex, EdgeKind)>;

/// A lineage walk done a few queued nodes at a time, so that its caller can let go of the
/// index between steps (the writer then publishes): begun by [`LineageIndex::begin_lineage`],
/// walked by [`LineageIndex::step_lineage`] and read out by [`LineageIndex::read_out_lineage`]
/// or [`LineageIndex::finish_reach`]. Node numbers stay valid across steps (nodes are never
/// removed), and each step follows the edges the index has then: a walk that outlives
/// changes to the index answers from a mix of its states, every edge it passed there when
/// it passed it, every node reached through edges that were. Against one unchanged index it
/// answers exactly as [`LineageIndex::lineage`].
pub struct LineageWalk {
    /// One walk per side, in the answer's order (upstream first for `Both`).
    sides: Vec<Walk>,
    /// The side walked now.
    at: usize,
    limit: usize,
    with_jobs: bool,
    /// The answer, once every side is walked (and merged).
    pub(crate) answer: Option<Walked>,
    /// Nodes, then edges, handed to the sink so far.
    read_nodes: usize,
    read_edges: usize,
}

impl LineageWalk {
    /// Whether the node limit cut the walk (so far, until it is done).
    pub fn truncated(&self) -> bool {
        match &self.answer {
            Some(answer) => answer.truncated,
            None => self.sides.iter().any(|side| side.truncated),
        }
    }
}

impl LineageIndex {
    /// The nodes of [`Self::lineage`]'s answer with [`crate::AnswerShape::Nodes`], in
    /// the same order with the same distances and truncation, as numbers: no name is read or
    /// copied, so the walk costs only the graph's edges.
    pub fn reach(&self, start: &NodeRef, direction: Direction, depth: u32, limit: usize) -> Result<Reach, GraphError> {
        let question = LineageQuestion::new(start, direction, depth, limit).shaped(AnswerShape::Nodes);
        let walk = self.begin_lineage(question)?;
        Ok(self.finish_reach(walk))
    }

    /// Starts [`Self::lineage`]'s walk for `question`; nothing is walked yet.
    pub fn begin_lineage(&self, question: LineageQuestion<'_>) -> Result<LineageWalk, GraphError> {
        let LineageQuestion { start, direction, depth, limit, shape } = question;
        let start = self.node_index(start)?;
        let limit = limit.max(1);
        let with_edges = shape == AnswerShape::Full;
        let side = |side| Walk::new(self, start, side, depth, limit, with_edges);
        let sides = match direction {
            Direction::Downstream => vec![side(PetDirection::Outgoing)],
            Direction::Upstream => vec![side(PetDirection::Incoming)],
            Direction::Both => vec![side(PetDirection::Incoming), side(PetDirection::Outgoing)],
        };
        Ok(LineageWalk {
            sides,
            at: 0,
            limit,
            with_jobs: shape != AnswerShape::DatasetsOnly,
            answer: None,
            read_nodes: 0,
            read_edges: 0,
        })
    }

    /// Walks on: follows the edges of at most `budget` (at least 1) queued nodes, or merges
    /// the sides once both are walked. Whether the walk is done.
    pub fn step_lineage(&self, walk: &mut LineageWalk, budget: usize) -> bool {
        let mut budget = budget.max(1);
        while walk.answer.is_none() {
            if budget == 0 {
                return false;
            }
            match walk.sides.get_mut(walk.at) {
                Some(side) => {
                    let (done, expanded) = self.walk_some(side, budget);
                    walk.at += usize::from(done);
                    budget = budget.saturating_sub(expanded.max(1));
                }
                None => {
                    let mut sides = std::mem::take(&mut walk.sides).into_iter().map(|side| side.finish(walk.with_jobs));
                    let mut answer = match (sides.next(), sides.next()) {
                        (Some(up), Some(down)) => self.merge_walks(up, down, walk.limit),
                        (Some(only), None) => only,
                        (None, _) => Walked::default(),
                    };
                    if !answer.edges.is_empty() {
                        answer.positions = Positions::of(&answer.nodes, self.is_job.len());
                    }
                    walk.answer = Some(answer);
                    // A merge is a unit of its own.
                    return true;
                }
            }
        }
        true
    }

    /// Hands the next at most `budget` (at least 1) of the answer's nodes, then edges, to
    /// `sink`, named; walks on first ([`Self::step_lineage`]) while the walk is not done.
    /// Whether everything is read out.
    pub fn read_out_lineage(&self, walk: &mut LineageWalk, sink: &mut impl AnswerSink, budget: usize) -> bool {
        let Some(answer) = walk.answer.as_ref() else {
            self.step_lineage(walk, budget);
            return false;
        };
        let budget = budget.max(1);
        let nodes = walk.read_nodes..answer.nodes.len().min(walk.read_nodes.saturating_add(budget));
        let left = budget - nodes.len();
        let edges = walk.read_edges..answer.edges.len().min(walk.read_edges.saturating_add(left));
        self.read_out(answer, nodes.clone(), edges.clone(), sink);
        walk.read_nodes = nodes.end;
        walk.read_edges = edges.end;
        walk.read_nodes == answer.nodes.len() && walk.read_edges == answer.edges.len()
    }

    /// [`Self::lineage`] read off the live graph only, never the frozen copy: the oracle of
    /// the tests that check walks on the frozen copy.
    #[cfg(test)]
    pub(crate) fn lineage_live(&self, question: LineageQuestion<'_>) -> crate::LineageAnswer {
        let mut walk = self.begin_lineage(question).unwrap();
        for side in &mut walk.sides {
            side.live = true;
        }
        let mut answer = crate::LineageAnswer::<NodeRef>::default();
        while !self.read_out_lineage(&mut walk, &mut answer, usize::MAX) {}
        answer.truncated = walk.truncated();
        answer
    }

    /// The walk's nodes as numbers, walking on to its end first if it is not done (bounded
    /// by its node limit).
    pub fn finish_reach(&self, mut walk: LineageWalk) -> Reach {
        while !self.step_lineage(&mut walk, usize::MAX) {}
        let answer = walk.answer.unwrap_or_default();
        let nodes =
            answer.nodes.into_iter().map(|(node, distance)| ReachedNode { node: node.into(), distance }).collect();
        Reach { nodes, truncated: answer.truncated }
    }

    /// [`Self::begin_lineage`] walked to its end in one go.
    pub(crate) fn walk_whole(&self, question: LineageQuestion<'_>) -> Result<Walked, GraphError> {
        let mut walk = self.begin_lineage(question)?;
        while !self.step_lineage(&mut walk, usize::MAX) {}
        Ok(walk.answer.unwrap_or_default())
    }

    /// The number of a node the index holds (`None` for one it does not).
    pub fn node_number(&self, node: &NodeRef) -> Option<NodeNumber> {
        self.names.find(&self.nodes, node.kind, &node.namespace, &node.name).map(NodeNumber::from)
    }

    /// `nodes` without repeats, in [`NodeRef`]'s order (datasets, then jobs, each by namespace
    /// and name), so that callers can keep a large set of nodes by number and name them once,
    /// in order. A set of more than an eighth of the index is read off the index's names in
    /// order (no name compared); a smaller one is sorted by name.
    pub fn in_name_order(&self, nodes: &[NodeNumber]) -> Vec<NodeNumber> {
        let total = self.is_job.len();
        if nodes.len().saturating_mul(8) < total {
            let key = |node: &NodeNumber| {
                let node = &self.nodes[node.index()];
                (node.kind, &*node.namespace, &*node.name)
            };
            let mut ordered = nodes.to_vec();
            ordered.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
            ordered.dedup();
            return ordered;
        }
        let mut wanted = vec![false; total];
        for node in nodes {
            wanted[node.index()] = true;
        }
        let mut ordered = Vec::with_capacity(nodes.len());
        for kind in [NodeKind::Dataset, NodeKind::Job] {
            let sorted = self.names.sorted(&self.nodes, kind);
            ordered.extend(sorted.iter().filter(|index| wanted[index.index()]).map(|&index| NodeNumber::from(index)));
        }
        ordered
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

    /// Follows the edges of at most `budget` of `walk`'s queued nodes, breadth-first: whether
    /// its queue is done, and how many nodes it followed. Neighbours come from the frozen
    /// copy where it is current (in the live graph's order), the live graph otherwise.
    fn walk_some(&self, walk: &mut Walk, budget: usize) -> (bool, usize) {
        // Nodes added since the walk began (between its steps) get their bits.
        let words = self.is_job.len().div_ceil(64);
        if walk.visited.len() < words {
            walk.visited.resize(words, 0);
        }
        let frozen = if walk.live { None } else { Some(self.frozen()) };
        let side = walk.side;
        let mut expanded = 0;
        while expanded < budget {
            let Some(&(current, distance)) = walk.queue.get(walk.head) else { return (true, expanded) };
            // The graph is bipartite (datasets -> jobs -> datasets): every neighbour is of the
            // other kind, known without reading it.
            let next_is_job = !walk.queue_is_job[walk.head];
            if let Some(frozen) = frozen.as_deref() {
                // Rows lie wherever their nodes' numbers put them: their bounds are asked for
                // 16 queued nodes ahead, their neighbours (found through those bounds) 8.
                if let Some(&(ahead, _)) = walk.queue.get(walk.head + 16) {
                    frozen.prefetch_bounds(ahead, side);
                }
                if let Some(&(ahead, _)) = walk.queue.get(walk.head + 8) {
                    frozen.prefetch_row(ahead, side);
                }
            }
            walk.head += 1;
            expanded += 1;
            match frozen.as_deref().and_then(|frozen| frozen.row(current, side)) {
                Some(row) => {
                    for &next in row {
                        let next = NodeIndex::new(next as usize);
                        if walk.step(next, distance, next_is_job)
                            && let Some(edges) = walk.edges.as_mut()
                        {
                            edges.push(bipartite_edge(current, next, side, next_is_job));
                        }
                    }
                }
                None => {
                    for edge in self.graph.edges_directed(current, side) {
                        let next = if side == PetDirection::Outgoing { edge.target() } else { edge.source() };
                        debug_assert_eq!(
                            bipartite_edge(current, next, side, next_is_job),
                            (edge.source(), edge.target(), *edge.weight()),
                            "an edge joins two nodes of a kind, and its kind is its source's"
                        );
                        if walk.step(next, distance, next_is_job)
                            && let Some(edges) = walk.edges.as_mut()
                        {
                            edges.push((edge.source(), edge.target(), *edge.weight()));
                        }
                    }
                }
            }
        }
        (walk.head >= walk.queue.len(), expanded)
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

    /// The union of an upstream and a downstream walk: upstream first, each node once at its
    /// smaller distance, at most `limit` nodes, then in distance order (stable); the edges
    /// between the nodes kept, each once.
    fn merge_walks(&self, up: Walked, down: Walked, limit: usize) -> Walked {
        let mut truncated = up.truncated || down.truncated;
        // The nodes the upstream walk reached, a bit each (see the edges below).
        let mut reached_up = vec![0u64; self.is_job.len().div_ceil(64)];
        for &(node, _) in &up.nodes {
            reached_up[node.index() / 64] |= 1 << (node.index() % 64);
        }
        // Every node a walk reached is in the index now: nodes are never removed.
        let mut position = vec![u32::MAX; self.is_job.len()];
        let mut nodes: Vec<(NodeIndex, u32)> = Vec::with_capacity(up.nodes.len() + down.nodes.len());
        for (node, distance) in up.nodes.into_iter().chain(down.nodes) {
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
        let kept = |node: NodeIndex| position[node.index()] != u32::MAX;
        // A walk passes each edge once (a node's edges are followed once, and no two edges join
        // the same nodes the same way), so an edge repeats only when both walks passed it: then
        // both its ends were reached upstream. Only such down edges are looked up among the up
        // ones (a hash per edge of a hub's closure was most of the merge).
        let up_reached = |node: NodeIndex| reached_up[node.index() / 64] & (1 << (node.index() % 64)) != 0;
        let both_up = |&(from, to, _): &(NodeIndex, NodeIndex, EdgeKind)| up_reached(from) && up_reached(to);
        let up_edges: HashSet<(NodeIndex, NodeIndex)> = if down.edges.iter().any(both_up) {
            up.edges.iter().map(|&(from, to, _)| (from, to)).collect()
        } else {
            HashSet::new()
        };
        let mut edges = Vec::with_capacity(up.edges.len() + down.edges.len());
        edges.extend(up.edges.iter().copied().filter(|&(from, to, _)| kept(from) && kept(to)));
        edges.extend(down.edges.iter().copied().filter(|edge @ &(from, to, _)| {
            kept(from) && kept(to) && !(both_up(edge) && up_edges.contains(&(from, to)))
        }));
        nodes.sort_by_key(|&(_, distance)| distance);
        Walked { nodes, edges, truncated, positions: Positions::default() }
    }
}

/// The edge between a walked node and its neighbour `next` on `side`, as the live graph holds
/// it: the graph is bipartite, a job's inputs are edges dataset -> job (`Reads`) and its
/// outputs job -> dataset (`Writes`), so the kind is that of the edge's source.
fn bipartite_edge(
    current: NodeIndex,
    next: NodeIndex,
    side: PetDirection,
    next_is_job: bool,
) -> (NodeIndex, NodeIndex, EdgeKind) {
    let (from, to, from_is_job) = match side {
        PetDirection::Outgoing => (current, next, !next_is_job),
        PetDirection::Incoming => (next, current, next_is_job),
    };
    (from, to, if from_is_job { EdgeKind::Writes } else { EdgeKind::Reads })
}

/// Each node's position in an answer, by node index: an edge's ends as positions among the
/// answer's nodes, for sinks that refer to nodes by position (`lineageTable`). A table over
/// every node of the index for an answer that holds a sixteenth of them or more, else the
/// answer's nodes sorted by index (a binary search per end).
#[derive(Default)]
pub(crate) enum Positions {
    #[default]
    None,
    Dense(Vec<u32>),
    Sorted(Vec<(NodeIndex, u32)>),
}

impl Positions {
    /// The positions of `nodes` (each at most once) in an index of `total` nodes.
    pub(crate) fn of(nodes: &[(NodeIndex, u32)], total: usize) -> Self {
        // Fewer than 2^32 nodes: node indices are u32.
        let numbered = nodes.iter().enumerate().map(|(position, &(node, _))| (node, position as u32));
        if nodes.len().saturating_mul(16) >= total {
            let mut table = vec![u32::MAX; total];
            for (node, position) in numbered {
                table[node.index()] = position;
            }
            Self::Dense(table)
        } else {
            let mut sorted: Vec<(NodeIndex, u32)> = numbered.collect();
            sorted.sort_unstable_by_key(|&(node, _)| node);
            Self::Sorted(sorted)
        }
    }

    pub(crate) fn get(&self, node: NodeIndex) -> Option<u32> {
        match self {
            Self::None => None,
            Self::Dense(table) => table.get(node.index()).copied().filter(|&position| position != u32::MAX),
            Self::Sorted(sorted) => {
                sorted.binary_search_by_key(&node, |&(node, _)| node).ok().map(|found| sorted[found].1)
            }
        }
    }
}

/// The state of one breadth-first walk along one side.
struct Walk {
    side: PetDirection,
    /// A bit per node index.
    visited: Vec<u64>,
    /// Every visited node, in visit order, with its distance: also the walk's queue.
    queue: Vec<(NodeIndex, u32)>,
    /// Whether each node of `queue` (by position) is a job: read in order, where the index's
    /// own table would be a random read per node.
    queue_is_job: Vec<bool>,
    /// The position in `queue` of the next node whose edges are followed.
    head: usize,
    /// The edges passed, when the answer carries them.
    edges: Option<WalkEdges>,
    /// Reads the live graph only, never the frozen copy (the tests' oracle).
    live: bool,
    depth: u32,
    limit: usize,
    truncated: bool,
}

impl Walk {
    /// A walk from `start` (visited, nothing followed yet).
    fn new(
        index: &LineageIndex,
        start: NodeIndex,
        side: PetDirection,
        depth: u32,
        limit: usize,
        with_edges: bool,
    ) -> Self {
        let capacity = limit.min(index.is_job.len());
        let mut walk = Walk {
            side,
            visited: vec![0; index.is_job.len().div_ceil(64)],
            queue: Vec::with_capacity(capacity),
            queue_is_job: Vec::with_capacity(capacity),
            head: 0,
            edges: with_edges.then(Vec::new),
            live: false,
            depth,
            limit,
            truncated: false,
        };
        walk.visit(start, 0, index.is_job[start.index()]);
        walk
    }

    /// The nodes in visit order with their distances (jobs only `with_jobs`; the start
    /// always), whether the limit cut the walk, and the edges passed.
    fn finish(self, with_jobs: bool) -> Walked {
        let Walk { mut queue, queue_is_job, truncated, edges, .. } = self;
        if !with_jobs {
            let mut position = 0;
            queue.retain(|_| {
                let keep = position == 0 || !queue_is_job[position];
                position += 1;
                keep
            });
        }
        Walked { nodes: queue, edges: edges.unwrap_or_default(), truncated, positions: Positions::default() }
    }

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
