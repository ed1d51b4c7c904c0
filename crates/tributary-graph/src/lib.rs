//! The in-memory lineage index: a petgraph of datasets and jobs with "reads" and
//! "writes" edges, and the traversals that answer lineage questions.
//!
//! The index is derived state: `tributary-service` rebuilds it from the store at start-up
//! and keeps it in step with every committed event. It does no IO and must not depend on
//! storage or transports.

mod chunks;
mod columns;
mod frozen;
mod labels;
mod names;
mod positions;
mod prefetch;
mod reach;
mod snapshot;
mod until;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

pub use columns::{
    ColumnAnswer, ColumnEdge, ColumnHit, ColumnImpact, ColumnImpactWalk, ColumnLineageWalk, ImpactedColumn,
    SettledColumnImpact, UnverifiedDataset,
};
use petgraph::Direction as PetDirection;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
pub use positions::NamespacePositions;
pub use prefetch::prefetch;
pub use reach::{LineageWalk, NodeNumber, Reach, ReachedNode};
pub use snapshot::{SnapshotColumns, SnapshotError, SnapshotImage, SnapshotNodes};
use tributary_model::{DatasetId, Direction, EdgeKind, JobId, NodeKind, NodeRef, Watermark};
pub use until::UpstreamUntil;

/// A node of the index: its kind and its shared strings (the namespace's one string, shared
/// with every node of the namespace, and the node's own name, shared with the answers that
/// name it).
type Node = NodeName;

/// The dataset graph's adjacency: datasets and jobs as bare node indices (their names are in
/// [`LineageIndex::nodes`], by index), edges weighted by their kind.
pub(crate) type Graph = StableDiGraph<(), EdgeKind, u32>;

/// A node as the index names it: the index's own strings, shared rather than copied, so a
/// large answer costs a reference count per name instead of an allocation and a copy (or
/// nothing, read through an [`AnswerSink`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeName {
    pub kind: NodeKind,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl NodeName {
    pub fn to_ref(&self) -> NodeRef {
        NodeRef { kind: self.kind, namespace: String::from(&*self.namespace), name: String::from(&*self.name) }
    }
}

/// Takes a lineage answer as it is read out of the index, node by node (in the answer's
/// order) and then edge by edge, the nodes named by the index's own strings: what a transport
/// encodes straight into its wire format, with no answer built in between.
pub trait AnswerSink {
    fn node(&mut self, node: &NodeName, distance: u32);
    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind);

    /// [`Self::edge`] with its ends' positions among the answer's nodes (the order `node` was
    /// called in), for sinks that refer to nodes by position; `None` for an end that is not
    /// among them, which an answer never has.
    fn edge_at(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind, _at: Option<(u32, u32)>) {
        self.edge(from, to, kind);
    }

    /// Whether the sink takes edges by their ends' positions alone ([`Self::edge_between`]):
    /// the read-out then reads no node's entry for an edge (two cache misses each).
    fn by_position(&self) -> bool {
        false
    }

    /// An edge by its ends' positions among the answer's nodes, for a sink that says
    /// [`Self::by_position`]; an edge whose ends are not both among them still comes by
    /// [`Self::edge_at`].
    fn edge_between(&mut self, _from: u32, _to: u32, _kind: EdgeKind) {}
}

/// An answer named by the index's shared strings collects itself from a read-out (a reference
/// count per name).
impl AnswerSink for LineageAnswer<NodeName> {
    fn node(&mut self, node: &NodeName, distance: u32) {
        self.nodes.push(LineageNode { node: node.clone(), distance });
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind) {
        self.edges.push(LineageEdge { from: from.clone(), to: to.clone(), kind });
    }
}

/// An answer with owned names collects itself from a read-out (a copy of every name).
impl AnswerSink for LineageAnswer<NodeRef> {
    fn node(&mut self, node: &NodeName, distance: u32) {
        self.nodes.push(LineageNode { node: node.to_ref(), distance });
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind) {
        self.edges.push(LineageEdge { from: from.to_ref(), to: to.to_ref(), kind });
    }
}

/// What a lineage answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerShape {
    /// Nodes and edges.
    Full,
    /// Nodes, no edges.
    Nodes,
    /// Dataset nodes, no edges.
    DatasetsOnly,
}

/// A lineage question as the index answers it: where from, which way, how far (`depth`, in
/// job hops), how many nodes at most (`limit`, the start included) and in which shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineageQuestion<'a> {
    pub start: &'a NodeRef,
    pub direction: Direction,
    pub depth: u32,
    pub limit: usize,
    pub shape: AnswerShape,
}

impl<'a> LineageQuestion<'a> {
    /// The question with nodes and edges in the answer ([`AnswerShape::Full`]).
    pub fn new(start: &'a NodeRef, direction: Direction, depth: u32, limit: usize) -> Self {
        Self { start, direction, depth, limit, shape: AnswerShape::Full }
    }

    /// The same question answered in `shape`.
    pub fn shaped(self, shape: AnswerShape) -> Self {
        Self { shape, ..self }
    }
}

/// One node of a lineage answer, with its distance from the start in job hops. `N` is how
/// the node is named: an owned [`NodeRef`], or the index's shared [`NodeName`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageNode<N = NodeRef> {
    pub node: N,
    /// Jobs passed through from the start, the start excluded: a job reading the start
    /// dataset and the datasets that job writes are both at 1.
    pub distance: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageEdge<N = NodeRef> {
    pub from: N,
    pub to: N,
    pub kind: EdgeKind,
}

/// A lineage answer. `truncated` says the node limit cut it: more nodes lie within the
/// requested depth than were returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageAnswer<N = NodeRef> {
    pub nodes: Vec<LineageNode<N>>,
    pub edges: Vec<LineageEdge<N>>,
    pub truncated: bool,
}

impl<N> Default for LineageAnswer<N> {
    fn default() -> Self {
        Self { nodes: Vec::new(), edges: Vec::new(), truncated: false }
    }
}

impl LineageAnswer<NodeName> {
    /// The same answer with owned names.
    pub fn to_refs(&self) -> LineageAnswer {
        LineageAnswer {
            nodes: self
                .nodes
                .iter()
                .map(|node| LineageNode { node: node.node.to_ref(), distance: node.distance })
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|edge| LineageEdge { from: edge.from.to_ref(), to: edge.to.to_ref(), kind: edge.kind })
                .collect(),
            truncated: self.truncated,
        }
    }
}

/// A lineage answer as node indices, before it is named.
#[derive(Default)]
pub(crate) struct Walked {
    nodes: Vec<(NodeIndex, u32)>,
    edges: Vec<(NodeIndex, NodeIndex, EdgeKind)>,
    truncated: bool,
    /// Each node's position in `nodes`, once the answer is final and has edges.
    pub(crate) positions: reach::Positions,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    #[error("unknown {kind} `{namespace}:{name}`")]
    UnknownNode { kind: &'static str, namespace: String, name: String },
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Datasets and jobs with their current edges. Every job's edges are exactly its
/// current inputs (dataset -> job) and outputs (job -> dataset), no duplicates.
#[derive(Default)]
pub struct LineageIndex {
    graph: Graph,
    /// Each node's kind and names, by node index: a dense table, so that reading the names of
    /// a large answer is a walk over one array (whose entries can be asked for ahead of use)
    /// rather than through the graph's node records.
    nodes: chunks::Chunks<Node>,
    /// Datasets and jobs by name (the names live once, in `nodes`).
    names: names::NodeNames,
    /// Whether each node (by index) is a job: read on every edge of a traversal, so kept
    /// dense instead of read from the node.
    is_job: Vec<bool>,
    /// Each node's namespace number (see `names`), by node index: grouping reads it instead
    /// of the name.
    namespace_of: chunks::Chunks<u32>,
    /// The caller's labels of datasets and namespaces, dense by node (see `labels`).
    labels: labels::Labels,
    /// A frozen compact copy of the adjacency for walks without edges (see `frozen`). A leaf
    /// lock, like the listing cache: held only to take the copy or make a new one.
    frozen: std::sync::Mutex<Option<Arc<frozen::Frozen>>>,
    columns: columns::ColumnGraph,
    /// While the column lineage is loaded in the background (after start-up): the outputs
    /// whose column lineage the writer set meanwhile, which the loader must not overwrite
    /// with the older stored copy. `None` once loaded.
    columns_loading: Option<HashSet<DatasetId>>,
    watermark: Watermark,
    /// Moves whenever an edge or a label changes (see [`Generation`]).
    generation: Generation,
}

/// Names the state of what walks and label counts read: the dataset graph's edges and the
/// nodes' labels. It moves whenever an edge is added or removed or a label changes, not when
/// an event only repeats what the index holds (a run of a job with the same inputs and
/// outputs), so an answer derived from walks can be kept while it stays. Values come from one
/// process-wide counter, so two indexes (one rebuilt, one read from a snapshot) never share
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Generation(u64);

impl Generation {
    fn next() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Default for Generation {
    fn default() -> Self {
        Self::next()
    }
}

impl LineageIndex {
    pub fn watermark(&self) -> Watermark {
        self.watermark.clone()
    }

    pub fn set_watermark(&mut self, watermark: Watermark) {
        self.watermark = watermark;
    }

    /// The current [`Generation`] of edges and labels.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    pub fn dataset_count(&self) -> usize {
        self.names.count(NodeKind::Dataset)
    }

    pub fn job_count(&self) -> usize {
        self.names.count(NodeKind::Job)
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    pub fn ensure_dataset(&mut self, id: &DatasetId) -> NodeIndex {
        self.ensure_node(NodeKind::Dataset, &id.namespace, &id.name)
    }

    pub fn ensure_job(&mut self, id: &JobId) -> NodeIndex {
        self.ensure_node(NodeKind::Job, &id.namespace, &id.name)
    }

    fn ensure_node(&mut self, kind: NodeKind, namespace: &str, name: &str) -> NodeIndex {
        if let Some(index) = self.names.find(&self.nodes, kind, namespace, name) {
            return index;
        }
        let (namespace, namespace_number, new_namespace) = self.names.namespace(namespace);
        if new_namespace {
            self.labels.namespace_added(&namespace);
        }
        let index = self.graph.add_node(());
        // Nodes are never removed, so a new node's index is the next one: the dense tables by
        // node index grow by one entry each.
        debug_assert_eq!(index.index(), self.nodes.len());
        self.nodes.push(Node { kind, namespace, name: name.into() });
        self.is_job.push(kind == NodeKind::Job);
        self.namespace_of.push(namespace_number);
        self.names.insert(&self.nodes, index);
        let label = match kind {
            NodeKind::Dataset => self.labels.take_dataset_label(&self.nodes[index.index()]),
            // A new job writes nothing yet.
            NodeKind::Job => 0,
        };
        self.labels.set_node(index, label);
        index
    }

    fn dataset_index(&self, id: &DatasetId) -> Option<NodeIndex> {
        self.names.find(&self.nodes, NodeKind::Dataset, &id.namespace, &id.name)
    }

    fn job_index(&self, id: &JobId) -> Option<NodeIndex> {
        self.names.find(&self.nodes, NodeKind::Job, &id.namespace, &id.name)
    }

    /// Makes the job's edges exactly `inputs` and `outputs`, touching only the edges
    /// that change (removing an edge costs the degree of its dataset, so an unchanged
    /// job next to a hub stays cheap).
    pub fn set_job_io(&mut self, job: &JobId, inputs: &[DatasetId], outputs: &[DatasetId]) {
        let job_index = self.ensure_job(job);
        let wanted_inputs: HashSet<NodeIndex> = inputs.iter().map(|id| self.ensure_dataset(id)).collect();
        let wanted_outputs: HashSet<NodeIndex> = outputs.iter().map(|id| self.ensure_dataset(id)).collect();
        self.sync_edges(job_index, PetDirection::Incoming, &wanted_inputs, EdgeKind::Reads);
        self.sync_edges(job_index, PetDirection::Outgoing, &wanted_outputs, EdgeKind::Writes);
        // A job's label follows from its outputs.
        let label = self.job_label(job_index);
        if self.label(NodeNumber::from(job_index)) != label {
            self.generation = Generation::next();
        }
        self.labels.set_node(job_index, label);
    }

    fn sync_edges(&mut self, job: NodeIndex, side: PetDirection, wanted: &HashSet<NodeIndex>, kind: EdgeKind) {
        let mut present = HashSet::new();
        let mut stale = Vec::new();
        for edge in self.graph.edges_directed(job, side) {
            let other = if side == PetDirection::Incoming { edge.source() } else { edge.target() };
            if wanted.contains(&other) && present.insert(other) {
                continue;
            }
            stale.push(edge.id());
        }
        for edge in stale {
            if let Some((from, to)) = self.graph.edge_endpoints(edge) {
                self.mark_changed(from);
                self.mark_changed(to);
            }
            self.graph.remove_edge(edge);
        }
        let mut missing: Vec<NodeIndex> = wanted.difference(&present).copied().collect();
        missing.sort_unstable();
        for other in missing {
            self.mark_changed(job);
            self.mark_changed(other);
            match side {
                PetDirection::Incoming => self.graph.add_edge(other, job, kind),
                PetDirection::Outgoing => self.graph.add_edge(job, other, kind),
            };
        }
    }

    fn dataset_id(&self, index: NodeIndex) -> DatasetId {
        let node = &self.nodes[index.index()];
        DatasetId::new(&*node.namespace, &*node.name)
    }

    fn node_index(&self, start: &NodeRef) -> Result<NodeIndex, GraphError> {
        let found = self.names.find(&self.nodes, start.kind, &start.namespace, &start.name);
        found.ok_or_else(|| GraphError::UnknownNode {
            kind: match start.kind {
                NodeKind::Dataset => "dataset",
                NodeKind::Job => "job",
            },
            namespace: start.namespace.clone(),
            name: start.name.clone(),
        })
    }

    pub fn contains(&self, node: &NodeRef) -> bool {
        self.node_index(node).is_ok()
    }

    /// Jobs that currently write the dataset.
    pub fn producers(&self, dataset: &DatasetId) -> Vec<NodeRef> {
        self.neighbours(self.dataset_index(dataset), PetDirection::Incoming)
    }

    /// Jobs that currently read the dataset.
    pub fn consumers(&self, dataset: &DatasetId) -> Vec<NodeRef> {
        self.neighbours(self.dataset_index(dataset), PetDirection::Outgoing)
    }

    /// The job's current inputs.
    pub fn job_inputs(&self, job: &JobId) -> Vec<NodeRef> {
        self.neighbours(self.job_index(job), PetDirection::Incoming)
    }

    /// The job's current outputs.
    pub fn job_outputs(&self, job: &JobId) -> Vec<NodeRef> {
        self.neighbours(self.job_index(job), PetDirection::Outgoing)
    }

    fn neighbours(&self, index: Option<NodeIndex>, side: PetDirection) -> Vec<NodeRef> {
        let Some(index) = index else { return Vec::new() };
        let mut found: Vec<NodeRef> =
            self.graph.neighbors_directed(index, side).map(|other| self.nodes[other.index()].to_ref()).collect();
        found.sort();
        found
    }

    /// Breadth-first lineage from the question's start, at most `depth` job hops away and
    /// at most `limit` nodes (the start included), in the question's shape. `Both` is the
    /// union of the upstream and the downstream answers, each node at its smaller distance.
    pub fn lineage(&self, question: LineageQuestion<'_>) -> Result<LineageAnswer, GraphError> {
        let walked = self.walk_whole(question)?;
        Ok(self.name_answer(walked))
    }

    /// [`Self::lineage`] with the nodes named by the index's shared strings ([`NodeName`]):
    /// no copy of any name, for answers too large to copy.
    pub fn lineage_named(&self, question: LineageQuestion<'_>) -> Result<LineageAnswer<NodeName>, GraphError> {
        let walked = self.walk_whole(question)?;
        Ok(self.name_answer(walked))
    }

    /// [`Self::lineage`]'s answer handed to `sink` as it is read out of the index (no answer
    /// is built); whether the node limit cut it.
    pub fn lineage_into(&self, question: LineageQuestion<'_>, sink: &mut impl AnswerSink) -> Result<bool, GraphError> {
        let walked = self.walk_whole(question)?;
        self.read_out(&walked, 0..walked.nodes.len(), 0..walked.edges.len(), sink);
        Ok(walked.truncated)
    }

    fn name_answer<N>(&self, walked: Walked) -> LineageAnswer<N>
    where
        LineageAnswer<N>: AnswerSink,
    {
        let mut answer = LineageAnswer {
            nodes: Vec::with_capacity(walked.nodes.len()),
            edges: Vec::with_capacity(walked.edges.len()),
            truncated: walked.truncated,
        };
        self.read_out(&walked, 0..walked.nodes.len(), 0..walked.edges.len(), &mut answer);
        answer
    }

    /// Hands the walk's `nodes` and `edges` (ranges of positions) to `sink`, named.
    fn read_out(&self, walked: &Walked, nodes: Range<usize>, edges: Range<usize>, sink: &mut impl AnswerSink) {
        // Each node's entry and name are a cache miss: the entries are asked for 16 nodes
        // ahead, the names (read through those entries) 8 ahead.
        let order = &walked.nodes[nodes];
        for at in 0..order.len() {
            if let Some(&(ahead, _)) = order.get(at + 16) {
                prefetch::prefetch(std::ptr::from_ref(&self.nodes[ahead.index()]));
            }
            if let Some(&(ahead, _)) = order.get(at + 8) {
                prefetch::prefetch(Arc::as_ptr(&self.nodes[ahead.index()].name));
            }
            let (index, distance) = order[at];
            sink.node(&self.nodes[index.index()], distance);
        }
        let edges = &walked.edges[edges];
        if sink.by_position() {
            for &(from, to, kind) in edges {
                match walked.positions.get(from).zip(walked.positions.get(to)) {
                    Some((from, to)) => sink.edge_between(from, to, kind),
                    None => sink.edge_at(&self.nodes[from.index()], &self.nodes[to.index()], kind, None),
                }
            }
            return;
        }
        for at in 0..edges.len() {
            if let Some(&(from, to, _)) = edges.get(at + 8) {
                prefetch::prefetch(std::ptr::from_ref(&self.nodes[from.index()]));
                prefetch::prefetch(std::ptr::from_ref(&self.nodes[to.index()]));
            }
            let (from, to, kind) = edges[at];
            let positions = walked.positions.get(from).zip(walked.positions.get(to));
            sink.edge_at(&self.nodes[from.index()], &self.nodes[to.index()], kind, positions);
        }
    }

    /// Every job with its current inputs and outputs, in no particular order.
    pub fn jobs_with_io(&self) -> impl Iterator<Item = (JobId, Vec<DatasetId>, Vec<DatasetId>)> + '_ {
        // In no particular order: callers (policy evaluation) collect into sets, and sorting
        // would cost O(n log n) on every write group that adds a job.
        self.graph.node_indices().filter(|&index| self.nodes[index.index()].kind == NodeKind::Job).map(move |index| {
            let node = &self.nodes[index.index()];
            let inputs =
                self.graph.neighbors_directed(index, PetDirection::Incoming).map(|d| self.dataset_id(d)).collect();
            let outputs =
                self.graph.neighbors_directed(index, PetDirection::Outgoing).map(|d| self.dataset_id(d)).collect();
            (JobId::new(&*node.namespace, &*node.name), inputs, outputs)
        })
    }

    /// Datasets in (namespace, name) order, after `after`, filtered by exact namespace
    /// and a case-insensitive substring of the name. Returns the page and whether more follow.
    pub fn list_datasets(
        &self,
        namespace: Option<&str>,
        search: Option<&str>,
        after: Option<&DatasetId>,
        limit: usize,
    ) -> (Vec<DatasetId>, bool) {
        let (found, more) = self.page(NodeKind::Dataset, namespace, search, after.map(NodeRef::from), limit);
        (found.iter().map(|node| DatasetId::new(&*node.namespace, &*node.name)).collect(), more)
    }

    /// Jobs, as [`Self::list_datasets`].
    pub fn list_jobs(
        &self,
        namespace: Option<&str>,
        search: Option<&str>,
        after: Option<&JobId>,
        limit: usize,
    ) -> (Vec<JobId>, bool) {
        let (found, more) = self.page(NodeKind::Job, namespace, search, after.map(NodeRef::from), limit);
        (found.iter().map(|node| JobId::new(&*node.namespace, &*node.name)).collect(), more)
    }

    /// One page of [`Self::scan_names`] in one go: at most `limit` nodes, and whether more follow.
    fn page(
        &self,
        kind: NodeKind,
        namespace: Option<&str>,
        search: Option<&str>,
        after: Option<NodeRef>,
        limit: usize,
    ) -> (Vec<NodeRef>, bool) {
        let search = search.map(str::to_lowercase);
        let filter = NameFilter { kind, namespace, search: search.as_deref().unwrap_or("") };
        let (mut found, _) = self.scan_names(&filter, after.as_ref(), usize::MAX, limit.saturating_add(1));
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// The nodes [`NameFilter`] picks, in (namespace, name) order after `after`, looking at no
    /// more than `scan` (at least 1) names and stopping at the `matches`-th match: the matches,
    /// and the last name looked at when the scan stopped before the end, to go on after it.
    /// A caller that lets go of the index between slices sees every name the index held at the
    /// first, and may see later ones.
    pub fn scan_names(
        &self,
        filter: &NameFilter<'_>,
        after: Option<&NodeRef>,
        scan: usize,
        matches: usize,
    ) -> (Vec<NodeRef>, Option<NodeRef>) {
        let sorted = self.names.sorted(&self.nodes, filter.kind);
        let key = |index: NodeIndex| {
            let node = &self.nodes[index.index()];
            (&*node.namespace, &*node.name)
        };
        let mut start = after.map_or(0, |after| {
            sorted.partition_point(|&index| key(index) <= (after.namespace.as_str(), after.name.as_str()))
        });
        if let Some(namespace) = filter.namespace {
            // Names are ordered by namespace first: its nodes are one run.
            start = start.max(sorted.partition_point(|&index| key(index).0 < namespace));
        }
        let end = sorted.len().min(start.saturating_add(scan.max(1)));
        let mut found = Vec::new();
        for (position, &index) in sorted.iter().enumerate().take(end).skip(start) {
            let (namespace, name) = key(index);
            if filter.namespace.is_some_and(|wanted| wanted != namespace) {
                return (found, None);
            }
            if filter.search.is_empty() || name.to_lowercase().contains(filter.search) {
                found.push(self.nodes[index.index()].to_ref());
                if found.len() >= matches {
                    let more = position + 1 < sorted.len();
                    return (found, more.then(|| self.nodes[index.index()].to_ref()));
                }
            }
        }
        let resume = (end < sorted.len()).then(|| self.nodes[sorted[end - 1].index()].to_ref());
        (found, resume)
    }
}

/// Which names a listing or search picks ([`LineageIndex::scan_names`]).
pub struct NameFilter<'a> {
    pub kind: NodeKind,
    /// Only this namespace, if given (exactly).
    pub namespace: Option<&'a str>,
    /// A substring of the name, lowercased by the caller, compared with each name's lowercase
    /// (empty: every name).
    pub search: &'a str,
}

#[cfg(test)]
mod tests;
