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
    /// datasets with their paths, and lists every reached node by number.
    pub fn finish_column_impact(&self, walk: ColumnImpactWalk) -> ColumnImpact {
        let ColumnImpactWalk { dataset, field, start_node, keep, indirect, walk } = walk;
        let (dataset, field) = (&dataset, field.as_str());
        let traversal = self.finish_column_walk(walk);
        let hits = &traversal.hits;
        let dataset_of = |hit: u32| self.columns.at(hits[hit as usize].field).0;
        let parent_dataset = |hit: u32| hits[hit as usize].parent.map_or(start_node, dataset_of);
        let counted: Vec<u32> = (0..hits.len() as u32).filter(|&hit| indirect || hits[hit as usize].direct).collect();

        // Every reached node, once; many columns share a (reader, dataset) step.
        let mut jobs_between: hashbrown::HashMap<(NodeIndex, NodeIndex), Option<NodeIndex>> = hashbrown::HashMap::new();
        let mut job_across = |hit: u32| {
            let step = (parent_dataset(hit), dataset_of(hit));
            *jobs_between.entry(step).or_insert_with(|| self.connecting_job(step.0, step.1))
        };
        let mut datasets: hashbrown::HashSet<NodeIndex> = hashbrown::HashSet::new();
        let mut jobs: hashbrown::HashSet<NodeIndex> = hashbrown::HashSet::new();
        for &hit in &counted {
            datasets.insert(dataset_of(hit));
            jobs.extend(job_across(hit));
        }
        for unverified in &traversal.unverified {
            datasets.insert(unverified.dataset);
            jobs.insert(unverified.job);
        }

        let nearest_columns = nearest(
            counted.clone(),
            keep,
            |hit| hits[hit as usize].distance,
            |hit| {
                let (node, name) = self.columns.at(hits[hit as usize].field);
                let node = &self.nodes[node.index()];
                (hits[hit as usize].distance, &*node.namespace, &*node.name, name, hit)
            },
        );
        let via_distance = |via: Via| match via {
            Via::Start => 0,
            Via::Hit(hit) => hits[hit as usize].distance,
        };
        let unverified_distance = |at: u32| via_distance(traversal.unverified[at as usize].via) + 1;
        let nearest_unverified =
            nearest((0..traversal.unverified.len() as u32).collect(), keep, unverified_distance, |at| {
                let unverified = &traversal.unverified[at as usize];
                let node = &self.nodes[unverified.dataset.index()];
                (via_distance(unverified.via) + 1, &*node.namespace, &*node.name, at)
            });

        let start = (dataset.clone(), field.to_owned());
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
        let mut nodes: Vec<NodeNumber> = datasets.into_iter().chain(jobs).map(NodeNumber::from).collect();
        nodes.sort_unstable();
        ColumnImpact {
            columns,
            column_count: counted.len(),
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

/// The `keep` items with the smallest keys, in key order. Keys must be distinct (they end
/// with the item), so the answer is the first `keep` of a full sort. A key begins with the
/// item's `distance`: items farther than the `keep`-th nearest are dropped first by that
/// number alone, so the names in the keys are compared only among the nearest (a hub's
/// change counts 100,000 columns and keeps 100).
fn nearest<K: Ord>(
    mut items: Vec<u32>,
    keep: usize,
    distance: impl Fn(u32) -> u32,
    key: impl Fn(u32) -> K,
) -> Vec<u32> {
    if keep == 0 {
        return Vec::new();
    }
    if items.len() > keep {
        let (_, &mut cut, _) = items.select_nth_unstable_by_key(keep - 1, |&item| distance(item));
        let cutoff = distance(cut);
        items.retain(|&item| distance(item) <= cutoff);
    }
    if items.len() > keep {
        items.select_nth_unstable_by_key(keep - 1, |&item| key(item));
        items.truncate(keep);
    }
    items.sort_unstable_by_key(|&item| key(item));
    items
}
