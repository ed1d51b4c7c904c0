//! Each node's owners as its `ownership` facet names them, in memory by node number, so that
//! grouping a change's or a lineage answer's impact names the owners of a hub's tens of
//! thousands of nodes without a store read each (a facet read and parse was ~20 us a node:
//! 1.2-1.6 s of a hub's change report).
//!
//! Kept in the [`crate::State`] beside the index whose node numbers it uses, under the same
//! lock: the writer sets a node's owners with the event that changed its facet (the event's
//! [`crate::apply::IndexDelta`]), so the owners agree with the index's watermark like the
//! rest of an answer. At start-up the table comes whole from the index snapshot when that
//! snapshot kept it ([`OwnersImage`]; after a crash, with the nodes later events name read
//! again from the store, as the index is caught up).
//! Otherwise (no snapshot, or one taken while the owners loaded) it starts empty and is filled from
//! the store's owner index and facets by the loader thread after the column lineage (see
//! [`load`]); until it is done [`NodeOwners::of`] says "not known" and callers read the facet
//! from the store as before, except a report with many such nodes (a hub's change report),
//! which waits for the load's end ([`LoadEnd`]) and takes them from the table.
//! Nodes the writer set while the load runs are left alone by it (their stored facet may be
//! older than what the writer set, never newer: the writer's batch is flushed before it
//! publishes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tributary_graph::{LineageIndex, NodeNumber};
use tributary_model::{DatasetId, JobId, NodeKind, NodeRef, facet_owners};
use tributary_store::Store;

use crate::{ServiceError, Shared};

/// A node's owners: name and role, in name order (as [`facet_owners`] gives them).
pub(crate) type FacetOwners = Arc<[(String, Option<String>)]>;

/// Nodes whose owners are read from the store before taking the state lock once.
const CHUNK: usize = 4096;

/// The end of the start-up load (done, failed or cut short by the close), for work that would
/// rather wait for it than read many nodes' facets from the store (a hub's change report:
/// 24.7 s of facet reads at 1M against the load's 4-11 s; see `Grouping::finish_after_the_load`).
/// A leaf: its mutex is held only to read or set the flag and to wait on its condition.
#[derive(Default)]
pub(crate) struct LoadEnd {
    ended: std::sync::Mutex<bool>,
    signal: std::sync::Condvar,
}

impl LoadEnd {
    /// A load begins (again: after a failed one, or the tests' simulated start-up).
    pub(crate) fn begin(&self) {
        *self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = false;
    }

    fn end(&self) {
        *self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        self.signal.notify_all();
    }

    /// Waits for the load to end, at most `at_most`; whether it ended.
    pub(crate) fn wait(&self, at_most: std::time::Duration) -> bool {
        let ended = self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (ended, _) = self
            .signal
            .wait_timeout_while(ended, at_most, |ended| !*ended)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *ended
    }
}

#[derive(Default)]
pub(crate) struct NodeOwners {
    /// By node number: 1 + the position in `sets` of the node's owners; 0 for none.
    by_node: Vec<u32>,
    /// Distinct owner lists (a mesh has many nodes and few teams). A list no node has any
    /// more stays until the next start.
    sets: Vec<FacetOwners>,
    numbers: HashMap<FacetOwners, u32>,
    load: Load,
    /// Whether the table was read from the index snapshot at start-up (no load ran).
    from_snapshot: bool,
}

/// The owners table as the index snapshot keeps it ([`NodeOwners::image`]), taken with the
/// index's image under the same hold of the state lock, so it numbers the snapshot's nodes.
/// Its bytes (little-endian; strings are a `u32` length and UTF-8): the count of owner lists,
/// each its count of owners and each owner's name, then whether a role follows (`u8`) and
/// the role; then the count of nodes and, per node number, 1 + its list's position (0: none).
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct OwnersImage {
    by_node: Vec<u32>,
    sets: Vec<FacetOwners>,
}

impl OwnersImage {
    /// A table of `nodes` nodes owned in turn by each of `owners` (one owner a list).
    #[cfg(test)]
    pub(crate) fn uniform(nodes: usize, owners: &[&str]) -> Self {
        let sets: Vec<FacetOwners> = owners.iter().map(|owner| vec![((*owner).to_owned(), None)].into()).collect();
        let by_node = (0..nodes).map(|node| 1 + (node % sets.len()) as u32).collect();
        Self { by_node, sets }
    }

    pub(crate) fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let number = |value: usize| {
            u32::try_from(value)
                .map(u32::to_le_bytes)
                .map_err(|_| std::io::Error::other(format!("{value} does not fit the snapshot's 32-bit numbers")))
        };
        let text = |out: &mut dyn Write, value: &str| -> std::io::Result<()> {
            out.write_all(&number(value.len())?)?;
            out.write_all(value.as_bytes())
        };
        out.write_all(&number(self.sets.len())?)?;
        for set in &self.sets {
            out.write_all(&number(set.len())?)?;
            for (name, role) in set.iter() {
                text(out, name)?;
                out.write_all(&[u8::from(role.is_some())])?;
                if let Some(role) = role {
                    text(out, role)?;
                }
            }
        }
        out.write_all(&number(self.by_node.len())?)?;
        for &set in &self.by_node {
            out.write_all(&set.to_le_bytes())?;
        }
        Ok(())
    }

    /// Reads the `len` bytes [`Self::write`] wrote, for an index of `nodes` nodes. Every count
    /// and number is checked against what came before it and the bytes left, so damaged bytes
    /// give an error, never a panic or a huge allocation.
    pub(crate) fn read(input: &mut impl Read, len: usize, nodes: usize) -> Result<Self, String> {
        let mut r = ImageReader { input, left: len };
        let n_sets = r.number("the count of owner lists")?;
        // Each list takes at least its count's 4 bytes: a damaged count cannot reserve much.
        let mut sets = Vec::with_capacity(n_sets.min(len / 4));
        for position in 0..n_sets {
            let n_owners = r.number("an owner list")?;
            let mut set = Vec::with_capacity(n_owners.min(len / 5));
            for _ in 0..n_owners {
                let name = r.text("an owner's name")?;
                let role = match r.bytes(1, "an owner")?[0] {
                    0 => None,
                    1 => Some(r.text("an owner's role")?),
                    other => return Err(format!("owner list {position} has a role marker {other}")),
                };
                set.push((name, role));
            }
            if set.is_empty() {
                return Err(format!("owner list {position} is empty"));
            }
            sets.push(FacetOwners::from(set));
        }
        let n_nodes = r.number("the count of nodes")?;
        if n_nodes > nodes {
            return Err(format!("the owners name {n_nodes} nodes; the index has {nodes}"));
        }
        let bytes = r.bytes(n_nodes.saturating_mul(4), "the nodes' owner lists")?;
        let by_node: Vec<u32> =
            bytes.chunks_exact(4).map(|four| u32::from_le_bytes(four.try_into().expect("4 bytes"))).collect();
        if let Some((node, &set)) = by_node.iter().enumerate().find(|(_, set)| **set as usize > sets.len()) {
            return Err(format!("node {node} has owner list {set}; there are {}", sets.len()));
        }
        if r.left != 0 {
            return Err(format!("{} bytes follow the owners", r.left));
        }
        Ok(Self { by_node, sets })
    }
}

/// Reads an [`OwnersImage`]'s bytes, never past the section's length.
struct ImageReader<'a, R: Read> {
    input: &'a mut R,
    left: usize,
}

impl<R: Read> ImageReader<'_, R> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, String> {
        if n > self.left {
            return Err(format!("the owners end inside {what}"));
        }
        self.left -= n;
        let mut bytes = vec![0u8; n];
        self.input.read_exact(&mut bytes).map_err(|error| format!("the owners do not read: {error}"))?;
        Ok(bytes)
    }

    fn number(&mut self, what: &str) -> Result<usize, String> {
        let bytes = self.bytes(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize)
    }

    fn text(&mut self, what: &str) -> Result<String, String> {
        let len = self.number(what)?;
        String::from_utf8(self.bytes(len, what)?).map_err(|_| format!("{what} is not UTF-8"))
    }
}

/// Where the start-up load stands.
#[derive(Default)]
enum Load {
    /// Under way: the nodes the writer set meanwhile, which the load leaves alone.
    Running(HashSet<NodeNumber>),
    #[default]
    Done,
    /// A store read failed: the table is not used (callers read the store), and the writer's
    /// nodes are no longer tracked, so nothing grows until the next attempt (see [`load`]).
    Failed,
}

impl NodeOwners {
    /// An empty table waiting for [`load`].
    pub(crate) fn loading() -> Self {
        Self { load: Load::Running(HashSet::new()), ..Self::default() }
    }

    /// The table an index snapshot kept, complete: no load runs.
    pub(crate) fn from_image(image: OwnersImage) -> Self {
        let numbers = image.sets.iter().enumerate().map(|(at, set)| (Arc::clone(set), at as u32 + 1)).collect();
        Self { by_node: image.by_node, sets: image.sets, numbers, load: Load::Done, from_snapshot: true }
    }

    /// The table for an index snapshot, if it is complete (`None` while it loads or after a
    /// failed load: the next start-up loads it from the store).
    pub(crate) fn image(&self) -> Option<OwnersImage> {
        self.ready().then(|| OwnersImage { by_node: self.by_node.clone(), sets: self.sets.clone() })
    }

    /// Whether the table was read from the index snapshot at start-up.
    pub(crate) fn read_from_snapshot(&self) -> bool {
        self.from_snapshot
    }

    /// The owners of `node` (`Some(None)`: none, or a node the index does not hold), or `None`
    /// while the start-up load runs (or after it failed). `index` is the one beside this table
    /// in the state.
    pub(crate) fn of(&self, index: &LineageIndex, node: &NodeRef) -> Option<Option<FacetOwners>> {
        if !self.ready() {
            return None;
        }
        Some(index.node_number(node).and_then(|number| self.known(number)))
    }

    /// [`Self::of`] for a node of the index beside this table, by number.
    pub(crate) fn of_number(&self, node: NodeNumber) -> Option<Option<FacetOwners>> {
        self.ready().then(|| self.known(node))
    }

    fn known(&self, node: NodeNumber) -> Option<FacetOwners> {
        match self.by_node.get(usize::from(node)).copied().unwrap_or(0) {
            0 => None,
            number => Some(Arc::clone(&self.sets[number as usize - 1])),
        }
    }

    /// Sets the owners the node's facet now names (the writer, with the event that changed it).
    pub(crate) fn set(&mut self, node: NodeNumber, owners: &BTreeMap<String, Option<String>>) {
        if let Load::Running(touched) = &mut self.load {
            touched.insert(node);
        }
        self.put(node, owners);
    }

    /// Sets the owners read from the store by the start-up load, unless the writer set the
    /// node's since the load began.
    fn loaded(&mut self, node: NodeNumber, owners: &BTreeMap<String, Option<String>>) {
        if let Load::Running(touched) = &self.load
            && touched.contains(&node)
        {
            return;
        }
        self.put(node, owners);
    }

    fn put(&mut self, node: NodeNumber, owners: &BTreeMap<String, Option<String>>) {
        let number = if owners.is_empty() {
            0
        } else {
            let list: FacetOwners = owners.iter().map(|(name, role)| (name.clone(), role.clone())).collect();
            match self.numbers.get(&list) {
                Some(&number) => number,
                None => {
                    self.sets.push(Arc::clone(&list));
                    let number = self.sets.len() as u32;
                    self.numbers.insert(list, number);
                    number
                }
            }
        };
        let position = usize::from(node);
        if self.by_node.len() <= position {
            if number == 0 {
                return;
            }
            self.by_node.resize(position + 1, 0);
        }
        self.by_node[position] = number;
    }

    /// Whether the start-up load is done.
    pub(crate) fn ready(&self) -> bool {
        matches!(self.load, Load::Done)
    }

    fn finish_load(&mut self) {
        self.load = Load::Done;
        self.by_node.shrink_to_fit();
    }

    fn fail_load(&mut self) {
        self.load = Load::Failed;
    }
}

/// The owners the node's stored `ownership` facet names (the facet of a dataset's record, a
/// job's record's facet).
pub(crate) fn stored_owners(store: &Store, node: &NodeRef) -> Result<BTreeMap<String, Option<String>>, ServiceError> {
    let facet = match node.kind {
        NodeKind::Dataset => store.dataset_facet(&DatasetId::new(&*node.namespace, &*node.name), "ownership")?,
        NodeKind::Job => store
            .job(&JobId::new(&*node.namespace, &*node.name))?
            .and_then(|record| record.facets.get("ownership").and_then(|entry| entry.value.clone())),
    };
    Ok(facet_owners(facet.as_ref()))
}

/// Fills the state's [`NodeOwners`] from the store: the nodes its owner index lists, with
/// the owners and roles the index records (one scan of it), or, for a node with an entry that
/// records no role (written before roles were kept), with its facet's owners read from the
/// store; a chunk per hold of the state lock, the reads outside it. Then marks it ready. On a
/// failed read it is marked failed (callers read the store meanwhile), the failure is logged,
/// and the load is tried again from the start after a pause (1 s, doubling to
/// [`MAX_RETRY`]) until it succeeds or the service closes. Whenever an attempt ends, those
/// waiting for its end are told.
pub(crate) fn load(shared: &Shared) {
    struct Ended<'a>(&'a LoadEnd);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            self.0.end();
        }
    }
    if shared.read_state().owners.read_from_snapshot() {
        tracing::info!("owners loaded with the index snapshot: nothing to read from the store");
        shared.owners_load_end.end();
        return;
    }
    let mut retry = FIRST_RETRY;
    loop {
        let ended = Ended(&shared.owners_load_end);
        let started = Instant::now();
        match load_chunks(shared) {
            Ok(Some((nodes, facets_read))) => {
                shared.write_state().owners.finish_load();
                tracing::info!(nodes, facets_read, elapsed_ms = started.elapsed().as_millis() as u64, "owners loaded");
                return;
            }
            Ok(None) => return,
            Err(failure) => {
                shared.write_state().owners.fail_load();
                tracing::error!(error = %failure, retry_s = retry.as_secs_f64(),
                    "loading the owners failed; impact groups read them from the store until a later attempt succeeds");
            }
        }
        drop(ended);
        if pause_unless_closing(shared, retry) {
            return;
        }
        retry = (retry * 2).min(MAX_RETRY);
        // Loading again from the start: what the writer set since is in the store (it
        // publishes only flushed events), and what it sets from now on is tracked again.
        shared.owners_load_end.begin();
        shared.write_state().owners = NodeOwners::loading();
    }
}

/// The first pause before a failed load is tried again, doubled after each failure up to
/// [`MAX_RETRY`].
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(if cfg!(test) { 10 } else { 1_000 });
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits `pause`, looking at the service's closing every 100 ms; whether it closes.
fn pause_unless_closing(shared: &Shared, pause: std::time::Duration) -> bool {
    let until = Instant::now() + pause;
    loop {
        if shared.closing.load(Ordering::Relaxed) {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
    }
}

/// The nodes loaded and how many of them had their facet read, or `None` when the service
/// closed first.
fn load_chunks(shared: &Shared) -> Result<Option<(usize, usize)>, ServiceError> {
    if shared.closing.load(Ordering::Relaxed) {
        return Ok(None);
    }
    #[cfg(test)]
    if shared.owners_loads_to_fail.load(Ordering::SeqCst) > 0 {
        shared.owners_loads_to_fail.fetch_sub(1, Ordering::SeqCst);
        return Err(ServiceError::Internal("the owners' load fails (a test's)".into()));
    }
    let nodes = shared.store.owners_by_node()?;
    let (count, mut facets_read) = (nodes.len(), 0);
    let mut read = Vec::with_capacity(CHUNK);
    let mut listed = nodes.into_iter();
    loop {
        if shared.closing.load(Ordering::Relaxed) {
            return Ok(None);
        }
        for (node, indexed) in listed.by_ref().take(CHUNK) {
            let owners = match indexed {
                Some(owners) => owners,
                None => {
                    facets_read += 1;
                    stored_owners(&shared.store, &node)?
                }
            };
            read.push((node, owners));
        }
        if read.is_empty() {
            break;
        }
        let mut state = shared.write_state();
        let crate::State { index, owners, .. } = &mut *state;
        for (node, stored) in read.drain(..) {
            // A node the owner index lists is in the index (the writer files both with the
            // event); one that is not has nothing to group.
            if let Some(number) = index.node_number(&node) {
                owners.loaded(number, &stored);
            }
        }
    }
    Ok(Some((count, facets_read)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(owners: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        owners.iter().map(|(name, role)| ((*name).to_owned(), role.map(str::to_owned))).collect()
    }

    /// What the writer set while the load ran wins over what the load read; owner lists are
    /// shared between nodes; an empty list is none.
    #[test]
    fn the_load_leaves_what_the_writer_set_meanwhile() {
        let mut index = LineageIndex::default();
        let [a, b, c] = ["a", "b", "c"].map(|name| {
            index.ensure_dataset(&DatasetId::new("db", name));
            NodeRef { kind: NodeKind::Dataset, namespace: "db".into(), name: name.into() }
        });
        let number = |node: &NodeRef| index.node_number(node).expect("filed");
        let mut owners = NodeOwners::loading();
        let team = named(&[("team:a", Some("MAINTAINER"))]);
        owners.set(number(&a), &team);
        owners.loaded(number(&a), &named(&[("team:stale", None)]));
        owners.loaded(number(&b), &team);
        owners.loaded(number(&c), &named(&[]));
        assert_eq!(owners.of(&index, &a), None, "not known while loading");
        owners.finish_load();
        let expected: FacetOwners = vec![("team:a".to_owned(), Some("MAINTAINER".to_owned()))].into();
        assert_eq!(owners.of(&index, &a), Some(Some(Arc::clone(&expected))));
        assert_eq!(owners.of(&index, &b), Some(Some(expected)));
        assert_eq!(owners.sets.len(), 1, "one list for both");
        assert_eq!(owners.of(&index, &c), Some(None));
        owners.set(number(&b), &named(&[]));
        assert_eq!(owners.of(&index, &b), Some(None));
        let unknown = NodeRef { kind: NodeKind::Job, namespace: "db".into(), name: "a".into() };
        assert_eq!(owners.of(&index, &unknown), Some(None));

        // A failed load: not used, and the writer's nodes are not tracked.
        let mut failed = NodeOwners::loading();
        failed.fail_load();
        failed.set(number(&a), &team);
        assert_eq!(failed.of(&index, &a), None, "a failed table is not used");
        assert!(matches!(failed.load, Load::Failed));
    }

    /// The table read back from its snapshot bytes answers as the one written, shared lists
    /// and nodes without owners included; damaged bytes (cut short anywhere, a list number past
    /// the lists, more nodes than the index, a bad role marker, bytes left over) give an error.
    #[test]
    fn the_owners_image_reads_back_and_refuses_damaged_bytes() {
        let mut index = LineageIndex::default();
        let nodes: Vec<NodeRef> = (0..6)
            .map(|n| {
                let id = DatasetId::new("db", format!("t{n}"));
                index.ensure_dataset(&id);
                NodeRef::from(&id)
            })
            .collect();
        let number = |node: &NodeRef| index.node_number(node).expect("filed");
        let mut owners = NodeOwners::loading();
        let team = named(&[("team:a", Some("MAINTAINER")), ("bob", None)]);
        owners.loaded(number(&nodes[0]), &team);
        owners.loaded(number(&nodes[2]), &named(&[("team:é", Some("OWNER"))]));
        owners.loaded(number(&nodes[4]), &team);
        assert!(owners.image().is_none(), "no image while loading");
        owners.finish_load();
        let image = owners.image().expect("complete");
        let mut bytes = Vec::new();
        image.write(&mut bytes).expect("write");
        let read = OwnersImage::read(&mut bytes.as_slice(), bytes.len(), nodes.len()).expect("read back");
        let read = NodeOwners::from_image(read);
        assert!(read.ready() && read.read_from_snapshot());
        for node in &nodes {
            assert_eq!(read.of(&index, node), owners.of(&index, node), "{node:?}");
        }
        assert_eq!(read.sets.len(), 2, "lists shared as written");

        for cut in 0..bytes.len() {
            assert!(OwnersImage::read(&mut &bytes[..cut], cut, nodes.len()).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(OwnersImage::read(&mut longer.as_slice(), longer.len(), nodes.len()).is_err(), "a byte left over");
        assert!(OwnersImage::read(&mut bytes.as_slice(), bytes.len(), 2).is_err(), "more nodes than the index");
        let mut past = bytes.clone();
        let last = past.len() - 4;
        past[last..].copy_from_slice(&3u32.to_le_bytes());
        assert!(OwnersImage::read(&mut past.as_slice(), past.len(), nodes.len()).is_err(), "a list past the lists");
        let mut marker = bytes.clone();
        // The first owner's role marker: after the list count, the owner count, the name.
        let at = 4 + 4 + 4 + "bob".len();
        assert_eq!(marker[at], 0, "bob has no role");
        marker[at] = 7;
        assert!(OwnersImage::read(&mut marker.as_slice(), marker.len(), nodes.len()).is_err(), "a bad role marker");
    }
}
