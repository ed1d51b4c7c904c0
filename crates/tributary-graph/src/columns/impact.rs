//! What a change to one column reaches downstream, for the change check: every reached
//! column counted and every reached dataset and job named once, but only the nearest
//! columns named with their paths. A hub's column reaches 100,000 columns at depths of ten
//! and more, and the writer checks each schema change it stores: naming every path there
//! cost seconds per change and half a gigabyte of memory.

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use tributary_model::{DatasetId, EdgeSource, JobId, NodeKind};

use super::{ColumnPath, ColumnTraversal, ColumnWalk, UnverifiedDataset, Via};
use crate::{GraphError, LineageIndex, NodeNumber};

/// A reached column, named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpactedColumn {
    pub dataset: DatasetId,
    pub field: String,
    /// Column hops from the changed column.
    pub distance: u32,
    /// The edge that reached it carries the value (DIRECT), or only influences it.
    pub direct: bool,
    /// Whether that edge was reported by the producer or derived from the job's SQL.
    pub source: EdgeSource,
    /// The job that reads across the last step (the first by name when several do).
    pub job: Option<JobId>,
    /// Columns from the changed one to this one, both included.
    pub path: ColumnPath,
}

/// A [`ColumnImpact`] being walked (see [`LineageIndex::begin_column_impact`]).
pub struct ColumnImpactWalk {
    dataset: DatasetId,
    field: String,
    start_node: NodeIndex,
    keep: usize,
    indirect: bool,
    walk: ColumnWalk,
}

/// A walked [`ColumnImpactWalk`] counted, without the index: what is left needs it (the jobs
/// across the steps, [`LineageIndex::connect_column_impact`], and the names of the nearest,
/// [`LineageIndex::name_column_impact`]).
pub struct SettledColumnImpact {
    dataset: DatasetId,
    field: String,
    start_node: NodeIndex,
    keep: usize,
    traversal: ColumnTraversal,
    column_count: usize,
    /// Counted hits and unverified datasets within the distance of the `keep`-th nearest.
    near_columns: Vec<u32>,
    near_unverified: Vec<u32>,
    /// Every distinct (input, output) dataset pair a counted hit's last step crosses, and how
    /// many of them have their job found.
    steps: Vec<(NodeIndex, NodeIndex)>,
    connected: usize,
    jobs_between: hashbrown::HashMap<(NodeIndex, NodeIndex), Option<NodeIndex>>,
    /// The reached datasets and the unverified datasets' jobs (the steps' jobs join them when
    /// named).
    nodes: Vec<NodeNumber>,
}

impl ColumnImpactWalk {
    /// Settles a walk that [`LineageIndex::step_column_impact`] said is done: counts it, keeps
    /// the reached datasets and the nearest candidates. Needs no index: a caller that lets go
    /// of it between steps does not hold it for the count of a hub's 100,000 columns either.
    pub fn settle(self) -> SettledColumnImpact {
        let ColumnImpactWalk { dataset, field, start_node, keep, indirect, walk } = self;
        let traversal = walk.finish();
        let hits = &traversal.hits;
        let counted: Vec<u32> = (0..hits.len() as u32).filter(|&hit| indirect || hits[hit as usize].direct).collect();
        // Every reached node, once; many columns share a (reader, dataset) step.
        let mut datasets: hashbrown::HashSet<NodeIndex> = hashbrown::HashSet::new();
        let mut jobs: hashbrown::HashSet<NodeIndex> = hashbrown::HashSet::new();
        let mut steps: hashbrown::HashSet<(NodeIndex, NodeIndex)> = hashbrown::HashSet::new();
        for &hit in &counted {
            datasets.insert(hits[hit as usize].dataset);
            steps.insert(step_of(&traversal, start_node, hit));
        }
        for unverified in &traversal.unverified {
            datasets.insert(unverified.dataset);
            jobs.insert(unverified.job);
        }
        let column_count = counted.len();
        let near_columns = nearest_by_distance(counted, keep, |hit| hits[hit as usize].distance);
        let near_unverified = nearest_by_distance((0..traversal.unverified.len() as u32).collect(), keep, |at| {
            unverified_distance(&traversal, at)
        });
        let nodes = datasets.into_iter().chain(jobs).map(NodeNumber::from).collect();
        let steps: Vec<(NodeIndex, NodeIndex)> = steps.into_iter().collect();
        SettledColumnImpact {
            dataset,
            field,
            start_node,
            keep,
            traversal,
            column_count,
            near_columns,
            near_unverified,
            jobs_between: hashbrown::HashMap::with_capacity(steps.len()),
            steps,
            connected: 0,
            nodes,
        }
    }
}

/// The (input, output) dataset pair `hit`'s last step crosses.
fn step_of(traversal: &ColumnTraversal, start_node: NodeIndex, hit: u32) -> (NodeIndex, NodeIndex) {
    let column = &traversal.hits[hit as usize];
    let parent = column.parent.map_or(start_node, |parent| traversal.hits[parent as usize].dataset);
    (parent, column.dataset)
}

/// An unverified dataset's distance: the length of its path.
fn unverified_distance(traversal: &ColumnTraversal, at: u32) -> u32 {
    match traversal.unverified[at as usize].via {
        Via::Start => 1,
        Via::Hit(hit) => traversal.hits[hit as usize].distance + 1,
    }
}

/// Everything one changed column reaches downstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnImpact {
    /// The nearest `keep` counted columns, by (distance, dataset, field), then in the order
    /// the traversal reached them.
    pub columns: Vec<ImpactedColumn>,
    /// Columns counted: every DIRECT hit, and INDIRECT ones when asked for.
    pub column_count: usize,
    /// The nearest `keep` datasets known only through dataset-level lineage, by (distance,
    /// dataset), then in the order the traversal found them; the distance of one is the
    /// length of its path.
    pub unverified: Vec<UnverifiedDataset>,
    pub unverified_count: usize,
    /// Every dataset reached (counted columns' datasets and unverified ones) and every job
    /// across a counted column's last step or to an unverified dataset, once, by number
    /// (ascending): a hub's change reaches tens of thousands, which the caller names
    /// ([`LineageIndex::node_ref`]) a slice at a time.
    pub nodes: Vec<NodeNumber>,
    /// The traversal stopped at its limit of columns.
    pub truncated: bool,
}

impl LineageIndex {
    /// What changing `dataset.field` reaches downstream, following at most `limit` columns
    /// (DIRECT edges carry on, INDIRECT ones end their branch and count when `indirect`),
    /// naming the paths of the nearest `keep` columns and unverified datasets only.
    pub fn column_impact(
        &self,
        dataset: &DatasetId,
        field: &str,
        limit: usize,
        keep: usize,
        indirect: bool,
    ) -> Result<ColumnImpact, GraphError> {
        let mut walk = self.begin_column_impact(dataset, field, limit, keep, indirect)?;
        while !self.step_column_impact(&mut walk, usize::MAX) {}
        Ok(self.finish_column_impact(walk))
    }

    /// [`Self::column_impact`] in steps, so that a caller can let go of the index between
    /// them (a hub's column walks 100,000 columns): begin, [`Self::step_column_impact`] until
    /// it says done, then [`Self::finish_column_impact`], each against this index. Steps
    /// taken after the index changed see its edges as they are then (node and column ids
    /// stay valid: neither is ever removed).
    pub fn begin_column_impact(
        &self,
        dataset: &DatasetId,
        field: &str,
        limit: usize,
        keep: usize,
        indirect: bool,
    ) -> Result<ColumnImpactWalk, GraphError> {
        let start_node = self.known_dataset(dataset)?;
        let walk = self.start_column_walk(start_node, field, true, u32::MAX, limit, false);
        Ok(ColumnImpactWalk { dataset: dataset.clone(), field: field.to_owned(), start_node, keep, indirect, walk })
    }

    /// Follows the edges of at most `budget` more columns; whether the walk is done.
    pub fn step_column_impact(&self, walk: &mut ColumnImpactWalk, budget: usize) -> bool {
        self.step_column_walk(&mut walk.walk, budget)
    }

    /// Counts what the finished walk reached, names the nearest `keep` columns and unverified
    /// datasets with their paths, and lists every reached node by number: at once
    /// ([`ColumnImpactWalk::settle`], then [`Self::name_column_impact`]; a caller that lets go
    /// of the index between slices settles without it and connects in slices first).
    pub fn finish_column_impact(&self, walk: ColumnImpactWalk) -> ColumnImpact {
        self.name_column_impact(walk.settle())
    }

    /// Finds the jobs across at most `budget` more of the settled impact's steps (a hub's
    /// change crosses tens of thousands of (input, output) pairs); whether all are found.
    /// Later calls see the index's edges as they are then, as the walk's steps do.
    pub fn connect_column_impact(&self, settled: &mut SettledColumnImpact, budget: usize) -> bool {
        let end = settled.steps.len().min(settled.connected.saturating_add(budget));
        for at in settled.connected..end {
            let step = settled.steps[at];
            let job = self.connecting_job(step.0, step.1);
            settled.jobs_between.insert(step, job);
        }
        settled.connected = end;
        end == settled.steps.len()
    }

    /// The impact: the steps not connected yet connected (all of them when
    /// [`Self::connect_column_impact`] was not called), the nearest `keep` columns and
    /// unverified datasets (by distance, then name) named with their paths, and the jobs added
    /// to the reached nodes. Once connected, work in the kept items (and the columns tied at
    /// the cut-off distance) and the reached nodes' sort, not in the walk.
    pub fn name_column_impact(&self, mut settled: SettledColumnImpact) -> ColumnImpact {
        self.connect_column_impact(&mut settled, usize::MAX);
        let SettledColumnImpact {
            dataset,
            field,
            start_node,
            keep,
            traversal,
            column_count,
            near_columns,
            near_unverified,
            jobs_between,
            mut nodes,
            ..
        } = settled;
        let hits = &traversal.hits;
        let job_across = |hit: u32| jobs_between.get(&step_of(&traversal, start_node, hit)).copied().flatten();
        let nearest_columns = nearest_by_key(near_columns, keep, |hit| {
            let (node, name) = self.columns.at(hits[hit as usize].field);
            let node = &self.nodes[node.index()];
            (hits[hit as usize].distance, &*node.namespace, &*node.name, name, hit)
        });
        let nearest_unverified = nearest_by_key(near_unverified, keep, |at| {
            let unverified = &traversal.unverified[at as usize];
            let node = &self.nodes[unverified.dataset.index()];
            (unverified_distance(&traversal, at), &*node.namespace, &*node.name, at)
        });
        let start = (dataset, field);
        let path_to = |via: Via| self.traversal_path(&traversal, &start, via);
        let columns = nearest_columns
            .into_iter()
            .map(|hit| {
                let column = &hits[hit as usize];
                let (node, name) = self.columns.at(column.field);
                ImpactedColumn {
                    dataset: self.dataset_id(node),
                    field: name.to_owned(),
                    distance: column.distance,
                    direct: column.direct,
                    source: self.columns.source(column.transformations),
                    job: job_across(hit).map(|job| self.job_id(job)),
                    path: path_to(Via::Hit(hit)),
                }
            })
            .collect();
        let unverified = nearest_unverified
            .into_iter()
            .map(|at| {
                let unverified = &traversal.unverified[at as usize];
                self.named_unverified(&traversal, &start, unverified, path_to(unverified.via))
            })
            .collect();
        nodes.extend(jobs_between.values().flatten().map(|&job| NodeNumber::from(job)));
        nodes.sort_unstable();
        nodes.dedup();
        ColumnImpact {
            columns,
            column_count,
            unverified,
            unverified_count: traversal.unverified.len(),
            nodes,
            truncated: traversal.truncated,
        }
    }

    /// Columns from the start to `via`, both included, following the hits' parents.
    fn traversal_path(&self, traversal: &ColumnTraversal, start: &(DatasetId, String), via: Via) -> ColumnPath {
        let mut steps = Vec::new();
        let mut at = match via {
            Via::Start => None,
            Via::Hit(hit) => Some(hit),
        };
        while let Some(hit) = at {
            let column = &traversal.hits[hit as usize];
            steps.push(self.column_ref(column.field));
            at = column.parent;
        }
        steps.push(start.clone());
        steps.reverse();
        steps
    }

    /// The job that reads `input` and writes `output`, the first by name when several do.
    /// Looked for among the output's producers, each checked by its own inputs: a hub input
    /// has thousands of readers, an output few writers and a job few inputs.
    fn connecting_job(&self, input: NodeIndex, output: NodeIndex) -> Option<NodeIndex> {
        self.graph
            .neighbors_directed(output, PetDirection::Incoming)
            .filter(|&job| {
                self.nodes[job.index()].kind == NodeKind::Job
                    && self.graph.neighbors_directed(job, PetDirection::Incoming).any(|read| read == input)
            })
            .min_by(|&left, &right| {
                let (left, right) = (&self.nodes[left.index()], &self.nodes[right.index()]);
                (&*left.namespace, &*left.name).cmp(&(&*right.namespace, &*right.name))
            })
    }
}

/// The `keep` items with the smallest keys, in key order, in two halves: the first needs
/// only distances, the second compares names. Keys must be distinct (they end with the item),
/// so the answer is the first `keep` of a full sort. A key begins with the item's `distance`:
/// items farther than the `keep`-th nearest are dropped first by that number alone
/// ([`nearest_by_distance`]), so the names in the keys are compared only among the nearest
/// ([`nearest_by_key`]; a hub's change counts 100,000 columns and keeps 100).
fn nearest_by_distance(mut items: Vec<u32>, keep: usize, distance: impl Fn(u32) -> u32) -> Vec<u32> {
    if keep == 0 {
        return Vec::new();
    }
    if items.len() > keep {
        let (_, &mut cut, _) = items.select_nth_unstable_by_key(keep - 1, |&item| distance(item));
        let cutoff = distance(cut);
        items.retain(|&item| distance(item) <= cutoff);
    }
    items
}

/// The second half of the nearest: the `keep` smallest keys of what
/// [`nearest_by_distance`] kept, in key order.
fn nearest_by_key<K: Ord>(mut items: Vec<u32>, keep: usize, key: impl Fn(u32) -> K) -> Vec<u32> {
    if items.len() > keep {
        items.select_nth_unstable_by_key(keep - 1, |&item| key(item));
        items.truncate(keep);
    }
    items.sort_unstable_by_key(|&item| key(item));
    items
}
