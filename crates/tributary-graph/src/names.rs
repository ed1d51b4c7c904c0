//! Finding nodes by kind, namespace and name without a second copy of the names: a hash
//! table of node indices whose hashing and equality read the names from the node table,
//! and namespaces shared between the nodes that have them (a mesh has a few hundred
//! namespaces and a million names). Listings want (namespace, name) order: nodes added since
//! the last listing wait in a short list, and the next listing sorts just those and splices
//! them into the ordered list (binary search per new node and one copy of the list).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use hashbrown::HashTable;
use petgraph::stable_graph::NodeIndex;
use tributary_model::NodeKind;

use crate::Node;
use crate::chunks::Chunks;

#[derive(Default)]
pub(crate) struct NodeNames {
    table: HashTable<NodeIndex>,
    hasher: std::hash::RandomState,
    /// Each namespace once, with its number (its position in `namespace_names`).
    namespaces: HashMap<Arc<str>, u32>,
    namespace_names: Vec<Arc<str>>,
    /// Nodes per kind: datasets, jobs.
    counts: [usize; 2],
    /// Nodes of each kind in (namespace, name) order, and those added since, not yet in it.
    sorted: [Mutex<Ordered>; 2],
}

#[derive(Default)]
struct Ordered {
    sorted: Arc<Vec<NodeIndex>>,
    pending: Vec<NodeIndex>,
}

fn slot(kind: NodeKind) -> usize {
    match kind {
        NodeKind::Dataset => 0,
        NodeKind::Job => 1,
    }
}

fn hash_of(hasher: &std::hash::RandomState, kind: NodeKind, namespace: &str, name: &str) -> u64 {
    let mut state = hasher.build_hasher();
    slot(kind).hash(&mut state);
    namespace.hash(&mut state);
    name.hash(&mut state);
    state.finish()
}

impl NodeNames {
    pub(crate) fn find(&self, nodes: &Chunks<Node>, kind: NodeKind, namespace: &str, name: &str) -> Option<NodeIndex> {
        let hash = hash_of(&self.hasher, kind, namespace, name);
        self.table
            .find(hash, |&index| {
                let node = &nodes[index.index()];
                node.kind == kind && &*node.namespace == namespace && &*node.name == name
            })
            .copied()
    }

    /// The shared copy of a namespace and its number (dense from 0, in order of first use),
    /// and whether it is new.
    pub(crate) fn namespace(&mut self, namespace: &str) -> (Arc<str>, u32, bool) {
        if let Some((shared, &number)) = self.namespaces.get_key_value(namespace) {
            return (Arc::clone(shared), number, false);
        }
        let shared: Arc<str> = Arc::from(namespace);
        // Fewer than 2^32 namespaces: each one names at least one node, and node indices are u32.
        let number = self.namespace_names.len() as u32;
        self.namespaces.insert(Arc::clone(&shared), number);
        self.namespace_names.push(Arc::clone(&shared));
        (shared, number, true)
    }

    /// Every namespace, by number.
    pub(crate) fn namespace_names(&self) -> &[Arc<str>] {
        &self.namespace_names
    }

    /// Files a node just added to the graph.
    pub(crate) fn insert(&mut self, nodes: &Chunks<Node>, index: NodeIndex) {
        let node = &nodes[index.index()];
        let hasher = &self.hasher;
        let hash = hash_of(hasher, node.kind, &node.namespace, &node.name);
        self.table.insert_unique(hash, index, |&other| {
            let other = &nodes[other.index()];
            hash_of(hasher, other.kind, &other.namespace, &other.name)
        });
        self.counts[slot(node.kind)] += 1;
        self.sorted[slot(node.kind)].get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).pending.push(index);
    }

    /// Room for `additional` more nodes without growing the table (a snapshot's count).
    pub(crate) fn reserve(&mut self, nodes: &Chunks<Node>, additional: usize) {
        let hasher = &self.hasher;
        self.table.reserve(additional, |&other| {
            let other = &nodes[other.index()];
            hash_of(hasher, other.kind, &other.namespace, &other.name)
        });
    }

    pub(crate) fn count(&self, kind: NodeKind) -> usize {
        self.counts[slot(kind)]
    }

    /// Every node of `kind` in (namespace, name) order.
    pub(crate) fn sorted(&self, nodes: &Chunks<Node>, kind: NodeKind) -> Arc<Vec<NodeIndex>> {
        let mut ordered = self.sorted[slot(kind)].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if ordered.pending.is_empty() {
            return Arc::clone(&ordered.sorted);
        }
        let key = |index: NodeIndex| {
            let node = &nodes[index.index()];
            (&*node.namespace, &*node.name)
        };
        let mut pending = std::mem::take(&mut ordered.pending);
        pending.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
        let old = &ordered.sorted;
        let mut merged = Vec::with_capacity(old.len() + pending.len());
        let mut copied = 0;
        for index in pending {
            // Names are unique per kind, so a new node never equals an ordered one.
            let at = copied + old[copied..].partition_point(|&other| key(other) < key(index));
            merged.extend_from_slice(&old[copied..at]);
            merged.push(index);
            copied = at;
        }
        merged.extend_from_slice(&old[copied..]);
        ordered.sorted = Arc::new(merged);
        Arc::clone(&ordered.sorted)
    }
}
