//! Lineage answers as the server sends them: `tributary.v1.LineageChunk` (`StreamLineage`) and
//! `tributary.v1.LineageResponse` (`GetLineage`), encoded while the service reads the answer out
//! of the index ([`ChunkWriter`] and [`ResponseWriter`], each an [`AnswerSink`]), each node's
//! name copied once, from the index's own strings straight into the message's bytes. The
//! generated types would take a `String` per namespace and name (a copy of every name of a
//! closure that can hold half a million nodes, made and freed for nothing but the encoding),
//! and even a list of shared names costs a walk over it, two reference counts per node and its
//! freeing. Clients decode into the generated [`crate::proto::LineageChunk`] and
//! [`crate::proto::LineageResponse`]; the wire format is the same, which the tests check byte
//! for byte against the generated encoders.

use std::marker::PhantomData;

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};
use tributary_service::model::{EdgeKind, NodeKind};
use tributary_service::{AnswerSink, NamespacePositions, NodeName};

use crate::proto;

/// Nodes and edges per chunk, at most (nodes first): about a megabyte and a half of names.
pub(crate) const LINEAGE_CHUNK: usize = 16_384;

/// Which of a lineage answer's lists are written in columns (`LineageRequest.node_table` and
/// `edge_table`), the others as one message per node or edge.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Columns {
    pub(crate) nodes: bool,
    pub(crate) edges: bool,
}

impl Columns {
    pub(crate) fn of(request: &proto::LineageRequest) -> Self {
        Self { nodes: request.node_table, edges: request.edge_table }
    }
}

/// A lineage answer's message, encoded: its body as a writer wrote it, in one or more parts
/// sent one after the other. `M` says which message ([`Chunk`] or [`Response`]); both share
/// the encoding of nodes and edges (fields 1 and 2).
#[derive(Clone, Debug, Default)]
pub struct Encoded<M> {
    parts: Vec<Bytes>,
    message: PhantomData<fn() -> M>,
}

impl<M> Encoded<M> {
    fn in_parts(mut parts: Vec<Bytes>, last: Vec<u8>) -> Self {
        parts.push(Bytes::from(last));
        Self { parts, message: PhantomData }
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
}

/// `tributary.v1.LineageChunk`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chunk;

/// `tributary.v1.LineageResponse`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response;

/// One chunk of a `StreamLineage` answer, encoded by [`ChunkWriter`].
pub type LineageChunk = Encoded<Chunk>;

/// A `GetLineage` answer, encoded by [`ResponseWriter`].
pub type LineageResponse = Encoded<Response>;

/// Where [`ChunkWriter`] delivers each chunk as soon as it is closed: the response stream, which
/// sends it while the rest of the answer is still being written.
pub(crate) type ChunkSender = tokio::sync::mpsc::UnboundedSender<Result<LineageChunk, tonic::Status>>;

/// Writes a lineage answer as `StreamLineage` chunks while the service reads it out of the
/// index: nodes first, then edges, at most `per_chunk` of them per chunk ([`LINEAGE_CHUNK`]).
/// Each full chunk is sent on at once (the client decodes it while the next one is written);
/// [`Self::finish`] sends the last one, marked, with `truncated` and the watermark.
///
/// The channel is unbounded on purpose: the writer runs under the state's read lock and must
/// never wait for a slow client there. What it can hold is bounded by the node limit, as the
/// answer itself is.
pub(crate) struct ChunkWriter {
    chunks: ChunkSender,
    /// The chunk being written.
    out: Vec<u8>,
    /// The chunk's nodes, when the request asked for them in columns (`node_table`).
    table: Option<NodeTable>,
    /// The chunk's edges, when the request asked for them in columns (`edge_table`).
    edges: Option<EdgeTable>,
    /// Nodes and edges in it.
    items: usize,
    per_chunk: usize,
    /// The stream was dropped (the client went away): nothing more is written.
    abandoned: bool,
}

impl ChunkWriter {
    /// A writer of `LineageNode` and `LineageEdge` messages, or of one `LineageNodeTable` and
    /// one `LineageEdgeTable` a chunk, as `columns` says.
    pub(crate) fn new(chunks: ChunkSender, columns: Columns) -> Self {
        Self::with_chunk_size(chunks, LINEAGE_CHUNK, columns)
    }

    fn with_chunk_size(chunks: ChunkSender, per_chunk: usize, columns: Columns) -> Self {
        Self {
            chunks,
            out: Vec::with_capacity(64 * 1024),
            table: columns.nodes.then(NodeTable::default),
            edges: columns.edges.then(EdgeTable::default),
            items: 0,
            per_chunk: per_chunk.max(1),
            abandoned: false,
        }
    }

    /// Counts one more node or edge (a full chunk is sent first); false once the stream is
    /// gone.
    fn one_more(&mut self) -> bool {
        if self.items == self.per_chunk {
            // The next chunk is about as long as this one.
            let next = Vec::with_capacity(self.out.len() + self.out.len() / 8);
            let out = std::mem::replace(&mut self.out, next);
            let full = self.close(out);
            self.abandoned |= self.chunks.send(Ok(full)).is_err();
            self.items = 0;
        }
        self.items += 1;
        !self.abandoned
    }

    /// The chunk of `out` and of the nodes and edges in the tables (fields 6 and 7), which
    /// start afresh.
    fn close(&mut self, out: Vec<u8>) -> LineageChunk {
        let mut parts = match &mut self.table {
            Some(table) => std::mem::take(table).into_parts(6),
            None => Vec::new(),
        };
        if let Some(edges) = &mut self.edges {
            parts.extend(std::mem::take(edges).into_parts(7));
        }
        LineageChunk::in_parts(parts, out)
    }

    /// Sends the last chunk, marked and carrying `truncated` and the watermark (an empty answer
    /// is that chunk alone). A stream that is gone takes nothing.
    pub(crate) fn finish(mut self, truncated: bool, watermark: &proto::Watermark) {
        let mut out = std::mem::take(&mut self.out);
        encoding::bool::encode(3, &true, &mut out);
        if truncated {
            encoding::bool::encode(4, &truncated, &mut out);
        }
        encoding::message::encode(5, watermark, &mut out);
        let last = self.close(out);
        // Err only when the stream is gone: no one is left to tell.
        let _gone = self.chunks.send(Ok(last));
    }
}

impl AnswerSink for ChunkWriter {
    fn node(&mut self, node: &NodeName, distance: u32) {
        if self.one_more() {
            match &mut self.table {
                Some(table) => table.push(node, distance),
                None => put_node(node, distance, &mut self.out),
            }
        }
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind) {
        self.edge_at(from, to, kind, None);
    }

    fn by_position(&self) -> bool {
        self.edges.is_some()
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: EdgeKind) {
        if self.one_more()
            && let Some(edges) = &mut self.edges
        {
            edges.push((from, to), kind);
        }
    }

    fn edge_at(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind, at: Option<(u32, u32)>) {
        if self.one_more() {
            match (&mut self.edges, at) {
                (Some(edges), Some(at)) => edges.push(at, kind),
                // An edge whose ends are not both among the nodes (no answer has one) is still
                // sent, named.
                _ => put_edge(from, to, kind, &mut self.out),
            }
        }
    }
}

/// Writes a lineage answer as one `GetLineage` response while the service reads it out of the
/// index: nodes, then edges, then (by [`Self::finish`]) `truncated` and the watermark. The
/// body is kept in parts of about [`RESPONSE_PART`] bytes: one buffer doubling as it grew
/// copied the whole answer again (a hub's closure is tens of megabytes).
pub(crate) struct ResponseWriter {
    /// The parts written, full.
    done: Vec<Bytes>,
    /// The part being written.
    out: Vec<u8>,
    part: usize,
    /// The answer's nodes, when the request asked for them in columns (`node_table`).
    table: Option<NodeTable>,
    /// The answer's edges, when the request asked for them in columns (`edge_table`).
    edges: Option<EdgeTable>,
}

/// The length at which a `GetLineage` answer's part is closed and the next begun.
const RESPONSE_PART: usize = 1 << 20;

impl ResponseWriter {
    /// A writer of `LineageNode` and `LineageEdge` messages, or of one `LineageNodeTable` and
    /// one `LineageEdgeTable`, as `columns` says.
    pub(crate) fn new(columns: Columns) -> Self {
        Self::with_part_size(RESPONSE_PART, columns)
    }

    fn with_part_size(part: usize, columns: Columns) -> Self {
        let table = columns.nodes.then(|| NodeTable::with_part_size(part));
        let edges = columns.edges.then(EdgeTable::default);
        Self { done: Vec::new(), out: Vec::new(), part: part.max(1), table, edges }
    }

    pub(crate) fn finish(mut self, truncated: bool, watermark: &proto::Watermark) -> LineageResponse {
        if self.table.is_some() || self.edges.is_some() {
            // The tables go between the parts written (messages) and the last one.
            let last = std::mem::take(&mut self.out);
            self.done.push(Bytes::from(last));
            self.done.extend(self.table.take().map(|table| table.into_parts(5)).unwrap_or_default());
            self.done.extend(self.edges.take().map(|edges| edges.into_parts(6)).unwrap_or_default());
        }
        if truncated {
            encoding::bool::encode(3, &truncated, &mut self.out);
        }
        encoding::message::encode(4, watermark, &mut self.out);
        LineageResponse::in_parts(self.done, self.out)
    }

    /// The part to write the next node or edge in (a full one is closed first).
    fn part(&mut self) -> &mut Vec<u8> {
        if self.out.len() >= self.part {
            // The first part grew to its length; the next are made that long at once.
            let next = Vec::with_capacity(self.part + self.part / 8);
            self.done.push(Bytes::from(std::mem::replace(&mut self.out, next)));
        }
        &mut self.out
    }
}

impl AnswerSink for ResponseWriter {
    fn node(&mut self, node: &NodeName, distance: u32) {
        match &mut self.table {
            Some(table) => table.push(node, distance),
            None => put_node(node, distance, self.part()),
        }
    }

    fn edge(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind) {
        self.edge_at(from, to, kind, None);
    }

    fn by_position(&self) -> bool {
        self.edges.is_some()
    }

    fn edge_between(&mut self, from: u32, to: u32, kind: EdgeKind) {
        if let Some(edges) = &mut self.edges {
            edges.push((from, to), kind);
        }
    }

    fn edge_at(&mut self, from: &NodeName, to: &NodeName, kind: EdgeKind, at: Option<(u32, u32)>) {
        match (&mut self.edges, at) {
            (Some(edges), Some(at)) => edges.push(at, kind),
            // An edge whose ends are not both among the nodes (no answer has one) is still
            // sent, named.
            _ => put_edge(from, to, kind, self.part()),
        }
    }
}

/// The edges of an answer in columns (`tributary.v1.LineageEdgeTable`): each edge as its
/// ends' positions among the answer's nodes and its kind, each column a packed list written
/// as the answer is read out.
#[derive(Default)]
struct EdgeTable {
    /// Fields 1, 2 and 3's packed bodies.
    from: Vec<u8>,
    to: Vec<u8>,
    kinds: Vec<u8>,
}

impl EdgeTable {
    fn push(&mut self, (from, to): (u32, u32), kind: EdgeKind) {
        push_varint(u64::from(from), &mut self.from);
        push_varint(u64::from(to), &mut self.to);
        push_varint(edge_kind_number(kind) as u64, &mut self.kinds);
    }

    /// The table as field `tag` of the answer, in parts (none when it holds no edge).
    fn into_parts(self, tag: u32) -> Vec<Bytes> {
        if self.kinds.is_empty() {
            return Vec::new();
        }
        let columns = [(1, self.from), (2, self.to), (3, self.kinds)];
        let body = columns.iter().map(|(field, packed)| delimited_len(*field, packed.len())).sum();
        let mut head = Vec::with_capacity(16);
        put_delimited(tag, body, &mut head);
        let mut parts = vec![Bytes::from(head)];
        for (field, packed) in columns {
            let mut field_head = Vec::with_capacity(8);
            put_delimited(field, packed.len(), &mut field_head);
            parts.push(Bytes::from(field_head));
            parts.push(Bytes::from(packed));
        }
        parts
    }
}

/// The nodes of an answer in columns (`tributary.v1.LineageNodeTable`), written as the answer
/// is read out: each column in a buffer of its own, already in its wire form, put together as
/// parts of the message when the chunk or the response is closed (the names are not copied
/// again). Each namespace is written once, the first time a node names it.
struct NodeTable {
    /// The length at which a part of the names is closed.
    part: usize,
    /// Field 1: the namespaces met, in the order met.
    namespaces: Vec<u8>,
    /// Each namespace's position in field 1.
    positions: NamespacePositions,
    /// Field 2's packed body: each node's namespace position.
    namespace: Vec<u8>,
    /// Field 3: the names, in parts of about `part` bytes (a repeated string's
    /// items can be cut anywhere between them): one buffer doubling as it grew copied a hub's
    /// names again.
    names_done: Vec<Bytes>,
    names: Vec<u8>,
    /// Fields 4 and 5's packed bodies: kinds and distances.
    kinds: Vec<u8>,
    distances: Vec<u8>,
}

impl Default for NodeTable {
    fn default() -> Self {
        Self::with_part_size(RESPONSE_PART)
    }
}

impl NodeTable {
    fn with_part_size(part: usize) -> Self {
        Self {
            part: part.max(1),
            namespaces: Vec::new(),
            positions: NamespacePositions::default(),
            namespace: Vec::new(),
            names_done: Vec::new(),
            names: Vec::new(),
            kinds: Vec::new(),
            distances: Vec::new(),
        }
    }

    fn push(&mut self, node: &NodeName, distance: u32) {
        let (position, first) = self.positions.position(&node.namespace);
        if first {
            put_delimited(1, node.namespace.len(), &mut self.namespaces);
            self.namespaces.extend_from_slice(node.namespace.as_bytes());
        }
        push_varint(u64::from(position), &mut self.namespace);
        if self.names.len() >= self.part {
            let next = Vec::with_capacity(self.part + self.part / 8);
            self.names_done.push(Bytes::from(std::mem::replace(&mut self.names, next)));
        }
        // A repeated string's items are written even when empty.
        put_delimited(3, node.name.len(), &mut self.names);
        self.names.extend_from_slice(node.name.as_bytes());
        push_varint(kind_number(node.kind) as u64, &mut self.kinds);
        push_varint(u64::from(distance), &mut self.distances);
    }

    /// The table as field `tag` of the answer, in parts (none when it holds no node).
    fn into_parts(self, tag: u32) -> Vec<Bytes> {
        if self.kinds.is_empty() {
            return Vec::new();
        }
        let packed_len = |body: &[u8]| if body.is_empty() { 0 } else { delimited_len(2, body.len()) };
        let names = self.names_done.iter().map(Bytes::len).sum::<usize>() + self.names.len();
        let body = self.namespaces.len()
            + packed_len(&self.namespace)
            + names
            + packed_len(&self.kinds)
            + packed_len(&self.distances);
        let mut head = Vec::with_capacity(16 + self.namespaces.len() + packed_len(&self.namespace));
        put_delimited(tag, body, &mut head);
        head.extend_from_slice(&self.namespaces);
        if !self.namespace.is_empty() {
            put_delimited(2, self.namespace.len(), &mut head);
            head.extend_from_slice(&self.namespace);
        }
        let mut tail = Vec::with_capacity(packed_len(&self.kinds) + packed_len(&self.distances));
        for (field, packed) in [(4, &self.kinds), (5, &self.distances)] {
            if !packed.is_empty() {
                put_delimited(field, packed.len(), &mut tail);
                tail.extend_from_slice(packed);
            }
        }
        let mut parts = Vec::with_capacity(self.names_done.len() + 3);
        parts.push(Bytes::from(head));
        parts.extend(self.names_done);
        parts.push(Bytes::from(self.names));
        parts.push(Bytes::from(tail));
        parts
    }
}

/// A `LineageNode` as field 1 of a lineage answer (chunk or response): its bytes reserved
/// once, its keys and lengths pushed as bytes (prost's `BufMut` path checks the room for
/// every byte; this was a third of a hub's answer time).
fn put_node(node: &NodeName, distance: u32, out: &mut Vec<u8>) {
    let name = name_len(node);
    let distance_len = if distance == 0 { 0 } else { 1 + varint_len(u64::from(distance)) };
    let body = delimited_len(1, name) + distance_len;
    out.reserve(delimited_len(1, body));
    put_delimited(1, body, out);
    put_name(1, node, name, out);
    if distance != 0 {
        out.push(key(2, WireType::Varint));
        push_varint(u64::from(distance), out);
    }
}

/// A `LineageEdge` as field 2 of a lineage answer (chunk or response).
fn put_edge(from: &NodeName, to: &NodeName, kind: EdgeKind, out: &mut Vec<u8>) {
    let (from_len, to_len) = (name_len(from), name_len(to));
    let kind = edge_kind_text(kind);
    let body = delimited_len(1, from_len) + delimited_len(2, to_len) + str_len(3, kind);
    out.reserve(delimited_len(2, body));
    put_delimited(2, body, out);
    put_name(1, from, from_len, out);
    put_name(2, to, to_len, out);
    put_str(3, kind, out);
}

/// The wire number of a node kind (`tributary.v1.NodeKind`).
fn kind_number(kind: NodeKind) -> i32 {
    match kind {
        NodeKind::Dataset => proto::NodeKind::Dataset as i32,
        NodeKind::Job => proto::NodeKind::Job as i32,
    }
}

/// The wire number of an edge kind (`tributary.v1.EdgeKind`).
fn edge_kind_number(kind: EdgeKind) -> i32 {
    match kind {
        EdgeKind::Reads => proto::EdgeKind::Reads as i32,
        EdgeKind::Writes => proto::EdgeKind::Writes as i32,
    }
}

/// The wire text of an edge kind (`LineageEdge.kind`).
fn edge_kind_text(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Reads => "READS",
        EdgeKind::Writes => "WRITES",
    }
}

/// A string field's length on the wire; proto3 leaves an empty one out.
fn str_len(tag: u32, text: &str) -> usize {
    if text.is_empty() { 0 } else { delimited_len(tag, text.len()) }
}

fn put_str(tag: u32, text: &str, out: &mut Vec<u8>) {
    if !text.is_empty() {
        put_delimited(tag, text.len(), out);
        out.extend_from_slice(text.as_bytes());
    }
}

/// A length-delimited field's length on the wire, given its body's (field numbers here are
/// below 16: a key is one byte).
fn delimited_len(tag: u32, body: usize) -> usize {
    debug_assert!(tag < 16);
    1 + varint_len(body as u64) + body
}

fn put_delimited(tag: u32, body: usize, out: &mut Vec<u8>) {
    out.push(key(tag, WireType::LengthDelimited));
    push_varint(body as u64, out);
}

/// The one-byte key of field `tag` (below 16) of wire type `wire_type`.
fn key(tag: u32, wire_type: WireType) -> u8 {
    debug_assert!(tag < 16);
    ((tag << 3) | wire_type as u32) as u8
}

fn varint_len(value: u64) -> usize {
    encoding::encoded_len_varint(value)
}

/// A varint: one push for the common value below 128, else its bytes made on the stack and
/// appended at once.
fn push_varint(mut value: u64, out: &mut Vec<u8>) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let mut bytes = [0u8; 10];
    let mut len = 0;
    while value >= 0x80 {
        bytes[len] = (value as u8) | 0x80;
        value >>= 7;
        len += 1;
    }
    bytes[len] = value as u8;
    out.extend_from_slice(&bytes[..=len]);
}

/// `NodeRef`'s body length (its kind is never 0, so always written).
fn name_len(node: &NodeName) -> usize {
    1 + varint_len(kind_number(node.kind) as u64) + str_len(2, &node.namespace) + str_len(3, &node.name)
}

/// A `NodeRef` field whose body is `len` bytes long: key, length and body.
fn put_name(tag: u32, node: &NodeName, len: usize, out: &mut Vec<u8>) {
    put_delimited(tag, len, out);
    out.push(key(1, WireType::Varint));
    push_varint(kind_number(node.kind) as u64, out);
    put_str(2, &node.namespace, out);
    put_str(3, &node.name, out);
}

impl<M: Send + Sync + std::fmt::Debug + Default> Message for Encoded<M> {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for part in &self.parts {
            buf.put_slice(part);
        }
    }

    /// Keeps each field as it came, encoded again exactly (the server only encodes answers;
    /// clients decode into the generated types).
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut body = Vec::with_capacity(self.len());
        for part in std::mem::take(&mut self.parts) {
            body.extend_from_slice(&part);
        }
        match wire_type {
            WireType::Varint => {
                let value = encoding::decode_varint(buf)?;
                encoding::encode_key(tag, wire_type, &mut body);
                encoding::encode_varint(value, &mut body);
            }
            WireType::LengthDelimited => {
                let mut field = Vec::new();
                encoding::bytes::merge(wire_type, &mut field, buf, ctx)?;
                encoding::bytes::encode(tag, &field, &mut body);
            }
            _ => return Err(invalid("a lineage answer has varint and length-delimited fields only")),
        }
        self.parts = vec![Bytes::from(body)];
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.len()
    }

    fn clear(&mut self) {
        self.parts.clear();
    }
}

/// An answer that is valid protobuf but not a lineage answer.
#[allow(deprecated)] // prost 0.14 offers no other way to describe a decode error of one's own
fn invalid(description: &'static str) -> DecodeError {
    DecodeError::new(description)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn name(kind: NodeKind, namespace: &str, name: &str) -> NodeName {
        NodeName { kind, namespace: Arc::from(namespace), name: Arc::from(name) }
    }

    fn generated(node: &NodeName) -> proto::NodeRef {
        proto::NodeRef {
            kind: kind_number(node.kind),
            namespace: node.namespace.to_string(),
            name: node.name.to_string(),
        }
    }

    fn watermark() -> proto::Watermark {
        proto::Watermark {
            sequence: 42,
            events: 40,
            offsets: vec![proto::PartitionOffset { topic: "lineage".into(), partition: 3, offset: 1_000_000 }],
        }
    }

    const NODE_TABLE: Columns = Columns { nodes: true, edges: false };

    type Nodes = Vec<(NodeName, u32)>;
    type Edges = Vec<(NodeName, NodeName, EdgeKind)>;

    /// A chunk's item in the generated types.
    #[derive(Clone)]
    enum Item {
        Node(proto::LineageNode),
        Edge(proto::LineageEdge),
    }

    /// An answer with names that take every branch of the encoding: an empty namespace, an
    /// empty name, lengths of two and three varint bytes, text beyond ASCII, distances 0, 1,
    /// 200 and 70,000.
    fn answer() -> (Nodes, Edges) {
        let long = "n".repeat(300);
        let longer = "x".repeat(20_000);
        let nodes = vec![
            (name(NodeKind::Dataset, "db", "start"), 0),
            (name(NodeKind::Job, "airflow", "dag.task"), 1),
            (name(NodeKind::Dataset, "", &long), 200),
            (name(NodeKind::Dataset, "é ☃", ""), 1),
            (name(NodeKind::Job, &longer, "j"), 70_000),
        ];
        let edges = vec![
            (nodes[0].0.clone(), nodes[1].0.clone(), EdgeKind::Reads),
            (nodes[1].0.clone(), nodes[2].0.clone(), EdgeKind::Writes),
        ];
        (nodes, edges)
    }

    /// The answer as the generated type's chunks: nodes first, then edges, `per_chunk` of them
    /// per chunk, the last one marked.
    fn generated_chunks(
        nodes: &[(NodeName, u32)],
        edges: &[(NodeName, NodeName, EdgeKind)],
        per_chunk: usize,
        truncated: bool,
    ) -> Vec<proto::LineageChunk> {
        let mut items: Vec<Item> = nodes
            .iter()
            .map(|(node, distance)| Item::Node(proto::LineageNode { node: Some(generated(node)), distance: *distance }))
            .collect();
        items.extend(edges.iter().map(|(from, to, kind)| {
            Item::Edge(proto::LineageEdge {
                from: Some(generated(from)),
                to: Some(generated(to)),
                kind: edge_kind_text(*kind).to_owned(),
            })
        }));
        let mut chunks: Vec<proto::LineageChunk> = items
            .chunks(per_chunk)
            .map(|items| {
                let mut chunk = proto::LineageChunk::default();
                for item in items {
                    match item {
                        Item::Node(node) => chunk.nodes.push(node.clone()),
                        Item::Edge(edge) => chunk.edges.push(edge.clone()),
                    }
                }
                chunk
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(proto::LineageChunk::default());
        }
        let last = chunks.last_mut().expect("one chunk at least");
        (last.last, last.truncated, last.watermark) = (true, truncated, Some(watermark()));
        chunks
    }

    fn written(
        nodes: &[(NodeName, u32)],
        edges: &[(NodeName, NodeName, EdgeKind)],
        per_chunk: usize,
        truncated: bool,
    ) -> Vec<LineageChunk> {
        written_as(nodes, edges, per_chunk, truncated, Columns::default())
    }

    /// Where each edge's ends are among `nodes`, as the read-out gives them (`None` when an end
    /// is not among them).
    fn positions(nodes: &[(NodeName, u32)], from: &NodeName, to: &NodeName) -> Option<(u32, u32)> {
        let at = |end: &NodeName| nodes.iter().position(|(node, _)| node == end).map(|at| at as u32);
        at(from).zip(at(to))
    }

    /// Hands `nodes`, then `edges`, to `sink` as the index's read-out does: each edge with its
    /// ends' positions, by position alone when the sink takes edges so.
    fn read_out(sink: &mut impl AnswerSink, nodes: &[(NodeName, u32)], edges: &[(NodeName, NodeName, EdgeKind)]) {
        for (node, distance) in nodes {
            sink.node(node, *distance);
        }
        for (from, to, kind) in edges {
            match positions(nodes, from, to) {
                Some((from, to)) if sink.by_position() => sink.edge_between(from, to, *kind),
                at => sink.edge_at(from, to, *kind, at),
            }
        }
    }

    fn written_as(
        nodes: &[(NodeName, u32)],
        edges: &[(NodeName, NodeName, EdgeKind)],
        per_chunk: usize,
        truncated: bool,
        columns: Columns,
    ) -> Vec<LineageChunk> {
        let (sender, mut chunks) = tokio::sync::mpsc::unbounded_channel();
        let mut writer = ChunkWriter::with_chunk_size(sender, per_chunk, columns);
        read_out(&mut writer, nodes, edges);
        writer.finish(truncated, &watermark());
        std::iter::from_fn(|| chunks.try_recv().ok()).map(|chunk| chunk.expect("no error is sent")).collect()
    }

    #[test]
    fn writes_what_the_generated_type_encodes_chunk_by_chunk() {
        let (nodes, edges) = answer();
        let shapes: [(&[_], &[_]); 4] = [(&[], &[]), (&nodes, &[]), (&nodes[..1], &edges), (&nodes, &edges)];
        for (nodes, edges) in shapes {
            for per_chunk in [1, 2, 3, 4, 6, LINEAGE_CHUNK] {
                for truncated in [false, true] {
                    let ours = written(nodes, edges, per_chunk, truncated);
                    let expected = generated_chunks(nodes, edges, per_chunk, truncated);
                    assert_eq!(ours.len(), expected.len(), "{} nodes, {} edges, {per_chunk}", nodes.len(), edges.len());
                    for (ours, expected) in ours.iter().zip(&expected) {
                        let bytes = ours.encode_to_vec();
                        assert_eq!(bytes.len(), ours.encoded_len());
                        assert_eq!(bytes, expected.encode_to_vec(), "{per_chunk} per chunk");
                        assert_eq!(&proto::LineageChunk::decode(&bytes[..]).unwrap(), expected);
                        // Decoded into the server's type, it encodes the same bytes again.
                        assert_eq!(LineageChunk::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
                    }
                }
            }
        }
    }

    /// A `GetLineage` answer written by a [`ResponseWriter`] with parts of `part` bytes.
    fn response_written(
        nodes: &[(NodeName, u32)],
        edges: &[(NodeName, NodeName, EdgeKind)],
        part: usize,
        columns: Columns,
        truncated: bool,
    ) -> LineageResponse {
        let mut writer = ResponseWriter::with_part_size(part, columns);
        read_out(&mut writer, nodes, edges);
        writer.finish(truncated, &watermark())
    }

    #[test]
    fn writes_the_response_the_generated_type_encodes() {
        let (nodes, edges) = answer();
        let shapes: [(&[_], &[_]); 4] = [(&[], &[]), (&nodes, &[]), (&nodes[..1], &edges), (&nodes, &edges)];
        for ((nodes, edges), part) in
            shapes.into_iter().flat_map(|shape| [1, 7, 64, RESPONSE_PART].map(|part| (shape, part)))
        {
            for truncated in [false, true] {
                let ours = response_written(nodes, edges, part, Columns::default(), truncated);
                if part == 1 {
                    // Every node and edge closes the part before it.
                    assert_eq!(ours.parts.len(), (nodes.len() + edges.len()).max(1));
                }
                // The generated response: the chunks' nodes and edges in one message.
                let whole = generated_chunks(nodes, edges, LINEAGE_CHUNK, truncated).remove(0);
                let expected = proto::LineageResponse {
                    nodes: whole.nodes,
                    edges: whole.edges,
                    truncated,
                    watermark: Some(watermark()),
                    node_table: None,
                    edge_table: None,
                };
                let bytes = ours.encode_to_vec();
                assert_eq!(bytes.len(), ours.encoded_len());
                assert_eq!(
                    bytes,
                    expected.encode_to_vec(),
                    "{} nodes, {} edges, {truncated}, parts of {part}",
                    nodes.len(),
                    edges.len()
                );
                assert_eq!(proto::LineageResponse::decode(&bytes[..]).unwrap(), expected);
                assert_eq!(LineageResponse::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
            }
        }
    }

    /// The nodes a table stands for, as the generated `LineageNode`s; checks that its columns
    /// agree and that it lists each namespace once.
    fn table_nodes(table: &proto::LineageNodeTable) -> Vec<proto::LineageNode> {
        let distinct: std::collections::HashSet<&String> = table.namespaces.iter().collect();
        assert_eq!(distinct.len(), table.namespaces.len(), "a namespace listed twice: {:?}", table.namespaces);
        table.to_nodes().expect("columns as long as the names, positions within the namespaces")
    }

    #[test]
    fn a_table_whose_columns_disagree_has_no_nodes() {
        let table = proto::LineageNodeTable {
            namespaces: vec!["db".into()],
            namespace: vec![0, 0],
            names: vec!["a".into(), "b".into()],
            kinds: vec![1, 1],
            distances: vec![0, 1],
        };
        assert_eq!(table.to_nodes().map(|nodes| nodes.len()), Some(2));
        assert_eq!(proto::LineageNodeTable { namespace: vec![0, 1], ..table.clone() }.to_nodes(), None);
        assert_eq!(proto::LineageNodeTable { kinds: vec![1], ..table.clone() }.to_nodes(), None);
        assert_eq!(proto::LineageNodeTable { distances: vec![0, 1, 2], ..table.clone() }.to_nodes(), None);
        assert_eq!(proto::LineageNodeTable { namespace: vec![0], ..table }.to_nodes(), None);
    }

    /// The fixture's nodes and twenty more, whose namespaces repeat the fixture's in strings of
    /// their own (a namespace is found by its text, not only by its string's address) and
    /// alternate with one as long as another (`s3`, `db`).
    fn many_nodes() -> (Nodes, Edges) {
        let (mut nodes, edges) = answer();
        for at in 0..20u32 {
            let kind = if at % 3 == 0 { NodeKind::Job } else { NodeKind::Dataset };
            nodes.push((name(kind, ["db", "s3", "airflow", "s3", ""][at as usize % 5], &format!("t{at}")), at * 1000));
        }
        (nodes, edges)
    }

    #[test]
    fn a_node_table_holds_what_the_node_messages_hold_chunk_by_chunk() {
        let (nodes, edges) = many_nodes();
        let shapes: [(&[_], &[_]); 4] = [(&[], &[]), (&nodes, &[]), (&nodes[..1], &edges), (&nodes, &edges)];
        for (nodes, edges) in shapes {
            for per_chunk in [1, 2, 3, 7, LINEAGE_CHUNK] {
                for truncated in [false, true] {
                    let ours = written_as(nodes, edges, per_chunk, truncated, NODE_TABLE);
                    let expected = generated_chunks(nodes, edges, per_chunk, truncated);
                    assert_eq!(ours.len(), expected.len(), "{} nodes, {} edges, {per_chunk}", nodes.len(), edges.len());
                    for (ours, expected) in ours.iter().zip(&expected) {
                        let bytes = ours.encode_to_vec();
                        assert_eq!(bytes.len(), ours.encoded_len());
                        let decoded = proto::LineageChunk::decode(&bytes[..]).unwrap();
                        assert!(decoded.nodes.is_empty(), "nodes as messages beside the table");
                        // A chunk without nodes carries no table.
                        assert_eq!(decoded.node_table.is_some(), !expected.nodes.is_empty());
                        assert_eq!(decoded.node_table.as_ref().map(table_nodes).unwrap_or_default(), expected.nodes);
                        let rest = proto::LineageChunk { node_table: None, ..decoded };
                        assert_eq!(&rest, &proto::LineageChunk { nodes: Vec::new(), ..expected.clone() });
                        assert_eq!(LineageChunk::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
                    }
                }
            }
        }
    }

    #[test]
    fn a_node_table_holds_what_the_node_messages_hold_in_one_response() {
        let (nodes, edges) = many_nodes();
        let shapes: [(&[_], &[_]); 4] = [(&[], &[]), (&nodes, &[]), (&nodes[..1], &edges), (&nodes, &edges)];
        for ((nodes, edges), part) in
            shapes.into_iter().flat_map(|shape| [1, 7, RESPONSE_PART].map(|part| (shape, part)))
        {
            for truncated in [false, true] {
                let ours = response_written(nodes, edges, part, NODE_TABLE, truncated);
                if part == 1 && nodes.len() > 1 {
                    // The names are cut into parts too: at least one a node, beside the edges'.
                    assert!(ours.parts.len() >= nodes.len() + edges.len(), "{} parts", ours.parts.len());
                }
                let bytes = ours.encode_to_vec();
                assert_eq!(bytes.len(), ours.encoded_len());
                let decoded = proto::LineageResponse::decode(&bytes[..]).unwrap();
                let whole = generated_chunks(nodes, edges, LINEAGE_CHUNK, truncated).remove(0);
                assert!(decoded.nodes.is_empty(), "nodes as messages beside the table");
                assert_eq!(decoded.node_table.is_some(), !nodes.is_empty());
                assert_eq!(decoded.node_table.as_ref().map(table_nodes).unwrap_or_default(), whole.nodes);
                assert_eq!(decoded.edges, whole.edges);
                assert_eq!((decoded.truncated, decoded.watermark), (truncated, Some(watermark())));
                assert_eq!(LineageResponse::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
            }
        }
    }

    /// The fixture's nodes with an edge between every pair of them in both kinds (positions
    /// past one varint byte's 127 among them).
    fn many_edges() -> (Nodes, Edges) {
        let (mut nodes, _) = many_nodes();
        for at in 0..140u32 {
            nodes.push((name(NodeKind::Dataset, "wide", &format!("w{at}")), 2));
        }
        let mut edges = Vec::new();
        for (at, (from, _)) in nodes.iter().enumerate() {
            let (to, _) = &nodes[(at * 7 + 3) % nodes.len()];
            let kind = if at % 2 == 0 { EdgeKind::Reads } else { EdgeKind::Writes };
            edges.push((from.clone(), to.clone(), kind));
        }
        (nodes, edges)
    }

    #[test]
    fn an_edge_table_holds_what_the_edge_messages_hold_chunk_by_chunk() {
        let (nodes, edges) = many_edges();
        let (few, few_edges) = answer();
        // The second shape's edges end at nodes not in the answer: sent as messages.
        let shapes: [(&[_], &[_]); 3] = [(&nodes, &[]), (&few[..1], &few_edges), (&nodes, &edges)];
        for (nodes, edges) in shapes {
            for node_table in [false, true] {
                for per_chunk in [1, 3, 64, LINEAGE_CHUNK] {
                    let columns = Columns { nodes: node_table, edges: true };
                    let ours = written_as(nodes, edges, per_chunk, false, columns);
                    let expected = generated_chunks(nodes, edges, per_chunk, false);
                    assert_eq!(ours.len(), expected.len());
                    let decoded: Vec<proto::LineageChunk> = ours
                        .iter()
                        .map(|chunk| {
                            let bytes = chunk.encode_to_vec();
                            assert_eq!(bytes.len(), chunk.encoded_len());
                            assert_eq!(LineageChunk::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
                            proto::LineageChunk::decode(&bytes[..]).unwrap()
                        })
                        .collect();
                    // Positions count the nodes of every chunk.
                    let all_nodes: Vec<proto::LineageNode> = decoded
                        .iter()
                        .flat_map(|chunk| {
                            let mut nodes = chunk.nodes.clone();
                            nodes.extend(chunk.node_table.as_ref().map(table_nodes).unwrap_or_default());
                            nodes
                        })
                        .collect();
                    for (chunk, expected) in decoded.iter().zip(&expected) {
                        let mut chunk_edges = chunk.edges.clone();
                        let table = chunk.edge_table.as_ref();
                        chunk_edges.extend(table.map(|table| table.to_edges(&all_nodes).unwrap()).unwrap_or_default());
                        assert_eq!(chunk_edges, expected.edges, "{per_chunk} per chunk, node table {node_table}");
                        assert_eq!(table.is_some(), !expected.edges.is_empty() && chunk.edges.is_empty());
                        let rest = proto::LineageChunk {
                            nodes: Vec::new(),
                            edges: Vec::new(),
                            node_table: None,
                            edge_table: None,
                            ..chunk.clone()
                        };
                        assert_eq!(
                            rest,
                            proto::LineageChunk { nodes: Vec::new(), edges: Vec::new(), ..expected.clone() }
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_edge_table_holds_what_the_edge_messages_hold_in_one_response() {
        let (nodes, edges) = many_edges();
        let (few, few_edges) = answer();
        let shapes: [(&[_], &[_]); 4] = [(&[], &[]), (&nodes, &[]), (&few[..1], &few_edges), (&nodes, &edges)];
        for ((nodes, edges), part) in
            shapes.into_iter().flat_map(|shape| [1, 7, RESPONSE_PART].map(|part| (shape, part)))
        {
            for node_table in [false, true] {
                let columns = Columns { nodes: node_table, edges: true };
                let ours = response_written(nodes, edges, part, columns, true);
                let bytes = ours.encode_to_vec();
                assert_eq!(bytes.len(), ours.encoded_len());
                assert_eq!(LineageResponse::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
                let decoded = proto::LineageResponse::decode(&bytes[..]).unwrap();
                let whole = generated_chunks(nodes, edges, LINEAGE_CHUNK, true).remove(0);
                let mut all_nodes = decoded.nodes.clone();
                all_nodes.extend(decoded.node_table.as_ref().map(table_nodes).unwrap_or_default());
                assert_eq!(all_nodes, whole.nodes);
                let mut all_edges = decoded.edges.clone();
                let table = decoded.edge_table.as_ref();
                all_edges.extend(table.map(|table| table.to_edges(&all_nodes).unwrap()).unwrap_or_default());
                assert_eq!(all_edges, whole.edges, "{} nodes, {} edges, parts of {part}", nodes.len(), edges.len());
                assert_eq!(table.is_some(), !edges.is_empty() && decoded.edges.is_empty());
                assert_eq!((decoded.truncated, decoded.watermark), (true, Some(watermark())));
            }
        }
    }

    #[test]
    fn an_edge_table_whose_columns_disagree_has_no_edges() {
        let node = |name: &str| proto::LineageNode {
            node: Some(proto::NodeRef { kind: 1, namespace: "db".into(), name: name.into() }),
            distance: 0,
        };
        let nodes = [node("a"), node("b")];
        let table = proto::LineageEdgeTable { from: vec![0, 1], to: vec![1, 0], kinds: vec![1, 2] };
        assert_eq!(table.to_edges(&nodes).map(|edges| edges.len()), Some(2));
        assert_eq!(proto::LineageEdgeTable { to: vec![1], ..table.clone() }.to_edges(&nodes), None);
        assert_eq!(proto::LineageEdgeTable { from: vec![0, 2], ..table.clone() }.to_edges(&nodes), None);
        assert_eq!(proto::LineageEdgeTable { kinds: vec![1, 0], ..table }.to_edges(&nodes), None);
    }

    #[test]
    fn a_full_chunk_is_closed_only_when_more_follows() {
        let (nodes, _) = answer();
        // Exactly two chunks' worth: the second is the last, no empty chunk follows.
        let chunks = written(&nodes[..4], &[], 2, false);
        assert_eq!(chunks.len(), 2);
        let last = proto::LineageChunk::decode(&chunks[1].encode_to_vec()[..]).unwrap();
        assert_eq!((last.nodes.len(), last.last), (2, true));
    }

    #[test]
    fn stops_writing_once_the_stream_is_gone() {
        let (sender, chunks) = tokio::sync::mpsc::unbounded_channel();
        let mut writer = ChunkWriter::with_chunk_size(sender, 1, Columns::default());
        let (nodes, _) = answer();
        drop(chunks);
        for (node, distance) in &nodes {
            writer.node(node, *distance);
        }
        assert!(writer.abandoned);
        assert!(writer.out.is_empty(), "nothing is written after the first chunk could not be sent");
    }

    #[test]
    fn refuses_wire_types_a_chunk_has_none_of() {
        // Field 1 as a fixed 64-bit value.
        assert!(LineageChunk::decode(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8][..]).is_err());
        assert!(LineageChunk::decode(&[0x0a, 0x05, 0x0a][..]).is_err(), "a truncated node");
    }
}
