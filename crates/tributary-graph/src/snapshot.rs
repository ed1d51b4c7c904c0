//! The whole index as compact bytes, for start-up: the service writes them at a watermark
//! (when it closes, or its writer is idle) and reads them back instead of rebuilding the index
//! from the store's graph and column-lineage records, which at a million datasets lie spread
//! over a sled file larger than the page cache.
//!
//! Two sections, each written and read on its own: the dataset graph (namespaces, nodes,
//! edges), read before the server answers, and the column graph (the rest), read beside the
//! writer and installed. Layout (little-endian; strings are a `u32` length and UTF-8 bytes):
//! - namespaces: count, then each string;
//! - nodes in index order: count, then kind (`u8`: 0 dataset, 1 job), namespace number
//!   (`u32`), name;
//! - edges: count, then from, to (`u32` node indices) and kind (`u8`: 0 reads, 1 writes);
//! - field names: count, then each string;
//! - transformation lists: count, then each: source (`u8`), length, then per
//!   transformation kind (`u8`), subtype, masking (`u8`), description (`u8` present, string);
//! - fields: count, then dataset node (`u32`) and name number (`u32`);
//! - column edges: for each field, its count of downstream edges, then target field and
//!   transformation list (`u32` each).
//!
//! Reading checks every number against what came before it (a node index below the node
//! count, …), so damaged bytes give an error, never a panic or a huge allocation; the
//! service adds the checksum, format number and watermark around them. The index read back
//! answers like the one written: same nodes, edges and columns (node numbers and the order
//! of neighbours may differ, as they do after a rebuild from the store).

use std::io::{Read, Write};
use std::sync::Arc;

use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use tributary_model::{ColumnEdgeSpec, DatasetId, EdgeKind, EdgeSource, NodeKind, Transformation, TransformationKind};

use crate::chunks::Chunks;
use crate::columns::{ColumnGraph, Rows, RowsImage};
use crate::{LineageIndex, Node};

/// Why snapshot bytes could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("index snapshot is damaged: {0}")]
pub struct SnapshotError(String);

pub(crate) fn damaged(what: impl Into<String>) -> SnapshotError {
    SnapshotError(what.into())
}

/// The index as a snapshot writes it, taken at one moment ([`LineageIndex::snapshot_image`])
/// and written from later, while the index goes on changing: the caller holds its lock only
/// while the image is taken. The image shares what is never changed in place: the sealed
/// chunks of the node table, of the nodes' namespace numbers and of the column fields (see
/// the graph crate's `Chunks`; their open chunks are copied) and the frozen column rows; it copies the edges and
/// the column rows changed since the last freeze. Taking it costs a small part of encoding and
/// compressing it.
pub struct SnapshotImage {
    namespaces: Vec<Arc<str>>,
    nodes: Chunks<Node>,
    namespace_of: Chunks<u32>,
    edges: Vec<(u32, u32, EdgeKind)>,
    field_names: Vec<Box<str>>,
    transformations: Vec<(Vec<Transformation>, EdgeSource)>,
    fields: Chunks<(NodeIndex, u32)>,
    down: RowsImage,
}

impl LineageIndex {
    /// The index as a snapshot writes it now (see [`SnapshotImage`]). Its column section is
    /// complete only if the column lineage is ([`Self::columns_ready`]): the caller checks.
    pub fn snapshot_image(&self) -> SnapshotImage {
        let edges = self
            .graph
            .edge_references()
            .map(|edge| (edge.source().index() as u32, edge.target().index() as u32, *edge.weight()))
            .collect();
        let columns = &self.columns;
        SnapshotImage {
            namespaces: self.names.namespace_names().to_vec(),
            // Nodes are never removed: indices are dense.
            nodes: self.nodes.image(),
            namespace_of: self.namespace_of.image(),
            edges,
            field_names: columns.names.names.clone(),
            transformations: columns.transformations.clone(),
            fields: columns.fields.image(),
            down: columns.down.image(),
        }
    }

    /// Writes the dataset graph as snapshot bytes (see [`SnapshotImage::write_graph`]).
    pub fn write_snapshot_graph(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.snapshot_image().write_graph(out)
    }

    /// Writes the column graph as snapshot bytes (see [`SnapshotImage::write_columns`]).
    pub fn write_snapshot_columns(&self, out: &mut impl Write) -> std::io::Result<()> {
        self.snapshot_image().write_columns(out)
    }
}

impl SnapshotImage {
    /// Writes the dataset graph (namespaces, nodes, edges) as snapshot bytes: the first
    /// section. The watermark is not written.
    pub fn write_graph(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut w = Writer { out };
        w.u32(self.namespaces.len())?;
        for namespace in &self.namespaces {
            w.str(namespace)?;
        }
        w.u32(self.nodes.len())?;
        for (node, &namespace) in self.nodes.iter().zip(self.namespace_of.iter()) {
            w.u8(match node.kind {
                NodeKind::Dataset => 0,
                NodeKind::Job => 1,
            })?;
            w.u32(namespace as usize)?;
            w.str(&node.name)?;
        }
        w.u32(self.edges.len())?;
        for &(from, to, kind) in &self.edges {
            w.u32(from as usize)?;
            w.u32(to as usize)?;
            w.u8(match kind {
                EdgeKind::Reads => 0,
                EdgeKind::Writes => 1,
            })?;
        }
        Ok(())
    }

    /// Writes the column graph as snapshot bytes: the second section, read back by
    /// [`LineageIndex::read_snapshot_columns`] against the nodes of the first.
    pub fn write_columns(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut w = Writer { out };
        w.u32(self.field_names.len())?;
        for name in &self.field_names {
            w.str(name)?;
        }
        w.u32(self.transformations.len())?;
        for (list, source) in &self.transformations {
            w.u8(match source {
                EdgeSource::Reported => 0,
                EdgeSource::ReportedKindsFromSql => 1,
                EdgeSource::DerivedFromSql => 2,
            })?;
            w.u32(list.len())?;
            for transformation in list {
                w.u8(match transformation.kind {
                    TransformationKind::Direct => 0,
                    TransformationKind::Indirect => 1,
                })?;
                w.str(&transformation.subtype)?;
                w.u8(u8::from(transformation.masking))?;
                match &transformation.description {
                    Some(description) => {
                        w.u8(1)?;
                        w.str(description)?;
                    }
                    None => w.u8(0)?,
                }
            }
        }
        w.u32(self.fields.len())?;
        for &(dataset, name) in self.fields.iter() {
            w.u32(dataset.index())?;
            w.u32(name as usize)?;
        }
        self.down.each_row(self.fields.len(), |targets| {
            w.u32(targets.len())?;
            for &(target, transformations) in targets {
                w.u32(target as usize)?;
                w.u32(transformations as usize)?;
            }
            Ok(())
        })
    }
}

impl LineageIndex {
    /// Reads the `len` bytes of the first section from `input` (streaming: no copy of the
    /// section in memory) into an index whose column lineage is loading: column answers wait
    /// until [`Self::install_columns`] (or the store's records) completes it. The watermark is
    /// left at its default: the caller sets it.
    pub fn read_snapshot_graph(input: &mut impl Read, len: usize) -> Result<Self, SnapshotError> {
        let mut r = Reader { input, left: len, buffer: Vec::new() };
        let mut index = LineageIndex::default();

        let n_namespaces = r.count(4, "namespaces")?;
        let mut namespaces = Vec::with_capacity(n_namespaces);
        for _ in 0..n_namespaces {
            namespaces.push(r.str("namespace")?.to_owned());
        }
        let n_nodes = r.count(9, "nodes")?;
        index.graph.reserve_nodes(n_nodes);
        index.nodes.reserve(n_nodes);
        index.names.reserve(&index.nodes, n_nodes);
        index.is_job.reserve_exact(n_nodes);
        index.namespace_of.reserve(n_nodes);
        for position in 0..n_nodes {
            let kind = match r.u8("node kind")? {
                0 => NodeKind::Dataset,
                1 => NodeKind::Job,
                other => return Err(damaged(format!("node {position} has kind {other}"))),
            };
            let namespace = r.below(n_namespaces, "node namespace")?;
            let name = r.str("node name")?;
            let added = index.ensure_node(kind, &namespaces[namespace], name);
            if added.index() != position {
                return Err(damaged(format!("node {position} repeats node {}", added.index())));
            }
        }
        let n_edges = r.count(9, "edges")?;
        index.graph.reserve_edges(n_edges);
        for _ in 0..n_edges {
            let from = NodeIndex::new(r.below(n_nodes, "edge source")?);
            let to = NodeIndex::new(r.below(n_nodes, "edge target")?);
            let kind = match r.u8("edge kind")? {
                0 => EdgeKind::Reads,
                1 => EdgeKind::Writes,
                other => return Err(damaged(format!("an edge has kind {other}"))),
            };
            // Reads go dataset -> job, writes job -> dataset.
            let (dataset, job) = if kind == EdgeKind::Reads { (from, to) } else { (to, from) };
            if index.is_job[dataset.index()] || !index.is_job[job.index()] {
                return Err(damaged(format!("a {kind:?} edge {}->{} joins the wrong kinds", from.index(), to.index())));
            }
            index.graph.add_edge(from, to, kind);
        }

        if r.left != 0 {
            return Err(damaged(format!("{} bytes follow the dataset graph", r.left)));
        }
        index.begin_column_load();
        Ok(index)
    }

    /// What the column section needs of the first: each snapshot node's kind, by number.
    pub fn snapshot_nodes(&self) -> SnapshotNodes {
        SnapshotNodes { is_job: self.is_job.clone() }
    }

    /// Reads the `len` bytes of the second section (the column graph) against the nodes of
    /// the first. Needs no index: it runs beside the writer, outside the state lock.
    pub fn read_snapshot_columns(
        input: &mut impl Read,
        len: usize,
        nodes: &SnapshotNodes,
    ) -> Result<SnapshotColumns, SnapshotError> {
        let mut r = Reader { input, left: len, buffer: Vec::new() };
        let n_nodes = nodes.is_job.len();
        let mut columns = ColumnGraph::default();
        let n_names = r.count(4, "field names")?;
        for position in 0..n_names {
            let name = r.str("field name")?;
            if columns.names.intern(name) as usize != position {
                return Err(damaged(format!("field name {position} repeats an earlier one")));
            }
        }
        let n_lists = r.count(5, "transformation lists")?;
        for _ in 0..n_lists {
            let source = match r.u8("edge source")? {
                0 => EdgeSource::Reported,
                1 => EdgeSource::ReportedKindsFromSql,
                2 => EdgeSource::DerivedFromSql,
                other => return Err(damaged(format!("a transformation list has source {other}"))),
            };
            let n_transformations = r.count(7, "transformations")?;
            let mut list = Vec::with_capacity(n_transformations);
            for _ in 0..n_transformations {
                let kind = match r.u8("transformation kind")? {
                    0 => TransformationKind::Direct,
                    1 => TransformationKind::Indirect,
                    other => return Err(damaged(format!("a transformation has kind {other}"))),
                };
                let subtype = r.str("transformation subtype")?.to_owned();
                let masking = r.u8("transformation masking")? != 0;
                let description = match r.u8("transformation description")? {
                    0 => None,
                    _ => Some(r.str("transformation description")?.to_owned()),
                };
                list.push(Transformation { kind, subtype, masking, description });
            }
            let position = columns.transformations.len();
            if columns.intern(&list, source) as usize != position {
                return Err(damaged(format!("transformation list {position} repeats an earlier one")));
            }
        }
        let n_fields = r.count(8, "fields")?;
        columns.fields.reserve(n_fields);
        for _ in 0..n_fields {
            let dataset = NodeIndex::new(r.below(n_nodes, "field dataset")?);
            if nodes.is_job[dataset.index()] {
                return Err(damaged(format!("a field belongs to job node {}", dataset.index())));
            }
            let name = r.below(n_names, "field name")? as u32;
            let id = columns.fields.len() as u32;
            columns.fields.push((dataset, name));
            columns.by_dataset.entry(dataset).or_default().push(id);
        }
        let mut start = Vec::with_capacity(n_fields + 1);
        let mut entries = Vec::new();
        start.push(0);
        for _ in 0..n_fields {
            let n_targets = r.count(8, "column edges")?;
            entries.reserve(n_targets);
            for _ in 0..n_targets {
                let target = r.below(n_fields, "column edge target")? as u32;
                let transformations = r.below(n_lists, "column edge transformations")? as u32;
                entries.push((target, transformations));
            }
            start.push(u32::try_from(entries.len()).map_err(|_| damaged("more than 2^32 column edges"))?);
        }
        columns.down = Rows::from_rows(start, entries);
        columns.up = columns.down.reversed(n_fields);
        if r.left != 0 {
            return Err(damaged(format!("{} bytes follow the column graph", r.left)));
        }
        // A field of a dataset is named once.
        for fields in columns.by_dataset.values() {
            let mut names: Vec<u32> = fields.iter().map(|&field| columns.fields[field as usize].1).collect();
            names.sort_unstable();
            if names.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err(damaged("a dataset has two fields of the same name"));
            }
        }
        columns.shrink();
        Ok(SnapshotColumns(columns))
    }

    /// Puts a column graph read from the snapshot in place; [`Self::finish_column_load`]
    /// completes the load. `newer` is column lineage stored after the snapshot was written
    /// (what start-up read again to catch it up after a crash), each output's latest: it
    /// replaces the snapshot's. Outputs whose column lineage the writer set since the index was
    /// read keep it over both: their edges are carried over from the live graph, as the load
    /// from the store leaves them.
    pub fn install_columns(&mut self, loaded: SnapshotColumns, newer: &[(DatasetId, Vec<ColumnEdgeSpec>)]) {
        // Taken while the graphs are replaced (`replace_column_lineage` does not mark), put back.
        let loading = self.columns_loading.take();
        let none = std::collections::HashSet::new();
        let touched = loading.as_ref().unwrap_or(&none);
        let carried: Vec<(DatasetId, Vec<ColumnEdgeSpec>)> =
            touched.iter().map(|output| (output.clone(), self.column_specs_into(output))).collect();
        self.columns = loaded.0;
        for (output, edges) in newer.iter().filter(|(output, _)| !touched.contains(output)) {
            self.replace_column_lineage(output, edges);
        }
        for (output, edges) in &carried {
            self.replace_column_lineage(output, edges);
        }
        self.columns_loading = loading;
    }
}

/// Each node's kind in the snapshot's first section (see [`LineageIndex::snapshot_nodes`]).
pub struct SnapshotNodes {
    is_job: Vec<bool>,
}

/// A column graph read from the snapshot's second section, to install.
pub struct SnapshotColumns(ColumnGraph);

struct Writer<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> Writer<'_, W> {
    fn u8(&mut self, value: u8) -> std::io::Result<()> {
        self.out.write_all(&[value])
    }

    fn u32(&mut self, value: usize) -> std::io::Result<()> {
        let value = u32::try_from(value)
            .map_err(|_| std::io::Error::other(format!("{value} does not fit the snapshot's 32-bit numbers")))?;
        self.out.write_all(&value.to_le_bytes())
    }

    fn str(&mut self, value: &str) -> std::io::Result<()> {
        self.u32(value.len())?;
        self.out.write_all(value.as_bytes())
    }
}

struct Reader<'a, R: Read> {
    input: &'a mut R,
    /// Bytes the snapshot has left: counts are checked against it.
    left: usize,
    /// The last string read.
    buffer: Vec<u8>,
}

impl<R: Read> Reader<'_, R> {
    fn fill(&mut self, into: &mut [u8], what: &str) -> Result<(), SnapshotError> {
        if into.len() > self.left {
            return Err(damaged(format!("the bytes end inside a {what}")));
        }
        self.input.read_exact(into).map_err(|error| damaged(format!("reading a {what}: {error}")))?;
        self.left -= into.len();
        Ok(())
    }

    fn u8(&mut self, what: &str) -> Result<u8, SnapshotError> {
        let mut byte = [0u8; 1];
        self.fill(&mut byte, what)?;
        Ok(byte[0])
    }

    fn u32(&mut self, what: &str) -> Result<usize, SnapshotError> {
        let mut bytes = [0u8; 4];
        self.fill(&mut bytes, what)?;
        Ok(u32::from_le_bytes(bytes) as usize)
    }

    /// A count of items of at least `item_bytes` each: no more than the bytes left can hold,
    /// so a damaged count cannot ask for a huge allocation.
    fn count(&mut self, item_bytes: usize, what: &str) -> Result<usize, SnapshotError> {
        let count = self.u32(what)?;
        if count.saturating_mul(item_bytes) > self.left {
            return Err(damaged(format!("{count} {what} cannot fit in the bytes left")));
        }
        Ok(count)
    }

    /// A number that must be below `bound` (an index into something read before).
    fn below(&mut self, bound: usize, what: &str) -> Result<usize, SnapshotError> {
        let value = self.u32(what)?;
        if value >= bound {
            return Err(damaged(format!("{what} {value} is out of range (below {bound})")));
        }
        Ok(value)
    }

    /// The next string, valid until the next one is read.
    fn str(&mut self, what: &str) -> Result<&str, SnapshotError> {
        let len = self.u32(what)?;
        if len > self.left {
            return Err(damaged(format!("the bytes end inside a {what}")));
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.resize(len, 0);
        self.fill(&mut buffer, what)?;
        self.buffer = buffer;
        std::str::from_utf8(&self.buffer).map_err(|_| damaged(format!("a {what} is not UTF-8")))
    }
}
