//! Labels the caller gives datasets and namespaces (the service: a dataset's data product, a
//! namespace's domain), kept dense by node index and namespace number so that a walk can
//! group the nodes it reaches without reading a name or hashing one.
//!
//! Labels are numbers, 0 meaning none. They are given by name, so a dataset named before
//! any event mentions it gets its label when its node is added. A job's label is derived:
//! that of the first labelled dataset it writes, in (namespace, name) order, kept up to date
//! when the job's outputs or the labels change.

use std::collections::{HashMap, HashSet};

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use tributary_model::DatasetId;

use crate::{LineageIndex, Node, NodeNumber};

#[derive(Default)]
pub(crate) struct Labels {
    /// The labels of datasets without a node yet, by name: a node added later takes its label
    /// from here. (A labelled dataset with a node has its label in `node` only: a mesh whose
    /// datasets are in the graph, the common case, keeps no second copy of their names.)
    waiting: HashMap<DatasetId, u32>,
    /// Whether some dataset may be labelled; when not, every job's label is 0 without a look.
    any_dataset: bool,
    namespaces: HashMap<String, u32>,
    /// By node index: a dataset's label, a job's derived label.
    node: Vec<u32>,
    /// By namespace number.
    namespace: Vec<u32>,
}

impl Labels {
    /// The label of a dataset node just added (taken from `waiting`).
    pub(crate) fn take_dataset_label(&mut self, node: &Node) -> u32 {
        if self.waiting.is_empty() {
            return 0;
        }
        // One lookup per new dataset node, and only while some dataset waits for its node.
        self.waiting.remove(&DatasetId::new(&*node.namespace, &*node.name)).unwrap_or(0)
    }

    pub(crate) fn set_node(&mut self, index: NodeIndex, label: u32) {
        if self.node.len() <= index.index() {
            self.node.resize(index.index() + 1, 0);
        }
        self.node[index.index()] = label;
    }

    /// Files the label of a namespace just numbered (the next number).
    pub(crate) fn namespace_added(&mut self, namespace: &str) {
        self.namespace.push(self.namespaces.get(namespace).copied().unwrap_or(0));
    }
}

impl LineageIndex {
    /// Replaces every label: datasets by name, namespaces by name (0 is no label and may be
    /// left out). Linear in the labelled datasets, the namespaces and the jobs' outputs; a
    /// dataset's name is copied only when it has no node yet.
    pub fn set_labels<'a>(
        &mut self,
        datasets: impl IntoIterator<Item = (&'a DatasetId, u32)>,
        namespaces: HashMap<String, u32>,
    ) {
        let mut node = vec![0; self.is_job.len()];
        let mut waiting = HashMap::new();
        let mut any_dataset = false;
        for (id, label) in datasets {
            if label == 0 {
                continue;
            }
            any_dataset = true;
            match self.dataset_index(id) {
                Some(index) => node[index.index()] = label,
                None => {
                    waiting.insert(id.clone(), label);
                }
            }
        }
        let namespace =
            self.names.namespace_names().iter().map(|ns| namespaces.get(&**ns).copied().unwrap_or(0)).collect();
        self.labels = Labels { waiting, any_dataset, namespaces, node, namespace };
        self.generation = crate::Generation::next();
        if any_dataset {
            for index in 0..self.is_job.len() {
                if self.is_job[index] {
                    let job = NodeIndex::new(index);
                    let label = self.job_label(job);
                    self.labels.node[index] = label;
                }
            }
        }
    }

    /// Sets the labels of some datasets by name (0 removes one), leaving the others, and
    /// derives again the labels of the jobs writing them. Linear in the datasets given and
    /// their writers.
    pub fn relabel_datasets(&mut self, changes: impl IntoIterator<Item = (DatasetId, u32)>) {
        let mut writers: HashSet<NodeIndex> = HashSet::new();
        for (id, label) in changes {
            self.labels.any_dataset |= label != 0;
            match self.dataset_index(&id) {
                Some(index) => {
                    self.labels.set_node(index, label);
                    writers.extend(self.graph.neighbors_directed(index, PetDirection::Incoming));
                }
                None if label == 0 => {
                    self.labels.waiting.remove(&id);
                }
                None => {
                    self.labels.waiting.insert(id, label);
                }
            }
        }
        for job in writers {
            let label = self.job_label(job);
            self.labels.set_node(job, label);
        }
        self.generation = crate::Generation::next();
    }

    /// The label of the first labelled dataset `job` writes, in (namespace, name) order.
    pub(crate) fn job_label(&self, job: NodeIndex) -> u32 {
        if !self.labels.any_dataset {
            return 0;
        }
        let mut first: Option<(NodeIndex, u32)> = None;
        for output in self.graph.neighbors_directed(job, PetDirection::Outgoing) {
            let label = self.labels.node.get(output.index()).copied().unwrap_or(0);
            if label == 0 {
                continue;
            }
            // Names are compared only between labelled outputs (most jobs have at most one).
            let earlier = first.is_none_or(|(other, _)| {
                let (a, b) = (&self.nodes[output.index()], &self.nodes[other.index()]);
                (&*a.namespace, &*a.name) < (&*b.namespace, &*b.name)
            });
            if earlier {
                first = Some((output, label));
            }
        }
        first.map_or(0, |(_, label)| label)
    }

    /// A dataset's label; for a job, that of the first labelled dataset it writes in
    /// (namespace, name) order; 0 for none.
    pub fn label(&self, node: NodeNumber) -> u32 {
        self.labels.node.get(node.index()).copied().unwrap_or(0)
    }

    /// The label of the node's namespace; 0 for none.
    pub fn namespace_label(&self, node: NodeNumber) -> u32 {
        self.labels.namespace.get(self.namespace_of[node.index()] as usize).copied().unwrap_or(0)
    }

    /// The node's namespace as a number, dense from 0 (see [`Self::namespace_name`]).
    pub fn namespace_number(&self, node: NodeNumber) -> u32 {
        self.namespace_of[node.index()]
    }

    /// How many namespaces have numbers (all below this).
    pub fn namespace_count(&self) -> usize {
        self.names.namespace_names().len()
    }

    /// The namespace of a number [`Self::namespace_number`] gave.
    pub fn namespace_name(&self, number: u32) -> &str {
        &self.names.namespace_names()[number as usize]
    }
}
