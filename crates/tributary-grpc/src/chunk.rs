//! `tributary.v1.LineageChunk` as the server sends it: the answer's nodes and edges as the
//! service hands them over ([`NodeName`]: the index's own strings, shared), encoded straight
//! into the transport's buffer. The generated type would take a `String` per namespace and
//! name, a copy of every name of a closure that can hold half a million nodes, made and freed
//! for nothing but the encoding. Clients decode into the generated
//! [`crate::proto::LineageChunk`]; the wire format is the same, which the tests check byte for
//! byte against the generated encoder.

use std::sync::Arc;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};
use tributary_service::model::{EdgeKind, NodeKind};
use tributary_service::{LineageEdge, LineageNode, LineageView, NodeName};

use crate::proto;

/// Nodes and edges per chunk, at most (nodes first): about a megabyte and a half of names.
pub(crate) const LINEAGE_CHUNK: usize = 16_384;

/// One chunk of a `StreamLineage` answer (`tributary.v1.LineageChunk`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineageChunk {
    pub nodes: Vec<LineageNode<NodeName>>,
    pub edges: Vec<LineageEdge<NodeName>>,
    /// The answer's last chunk: `truncated` and `watermark` are set in it only.
    pub last: bool,
    pub truncated: bool,
    pub watermark: Option<proto::Watermark>,
}

/// A lineage answer as `StreamLineage` chunks: nodes first, then edges, at most
/// [`LINEAGE_CHUNK`] of them per chunk; the last one carries `truncated` and the watermark.
pub(crate) fn lineage_chunks(view: LineageView<NodeName>) -> impl Iterator<Item = LineageChunk> + Send + 'static {
    let truncated = view.answer.truncated;
    let mut watermark = Some(crate::convert::watermark(view.watermark));
    let mut nodes = view.answer.nodes.into_iter();
    let mut edges = view.answer.edges.into_iter();
    std::iter::from_fn(move || {
        // `watermark` is taken by the last chunk: none follows it.
        watermark.as_ref()?;
        let chunk_nodes: Vec<_> = nodes.by_ref().take(LINEAGE_CHUNK).collect();
        let room = LINEAGE_CHUNK - chunk_nodes.len();
        let chunk_edges: Vec<_> = edges.by_ref().take(room).collect();
        let last = nodes.len() == 0 && edges.len() == 0;
        Some(LineageChunk {
            nodes: chunk_nodes,
            edges: chunk_edges,
            last,
            truncated: last && truncated,
            watermark: if last { watermark.take() } else { None },
        })
    })
}

/// The wire number of a node kind (`tributary.v1.NodeKind`).
fn kind_number(kind: NodeKind) -> i32 {
    match kind {
        NodeKind::Dataset => proto::NodeKind::Dataset as i32,
        NodeKind::Job => proto::NodeKind::Job as i32,
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
    if text.is_empty() {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(text.len() as u64) + text.len()
    }
}

fn put_str(tag: u32, text: &str, buf: &mut impl BufMut) {
    if !text.is_empty() {
        encoding::encode_key(tag, WireType::LengthDelimited, buf);
        encoding::encode_varint(text.len() as u64, buf);
        buf.put_slice(text.as_bytes());
    }
}

/// A length-delimited field's length on the wire, given its body's.
fn delimited_len(tag: u32, body: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(body as u64) + body
}

fn put_delimited(tag: u32, body: usize, buf: &mut impl BufMut) {
    encoding::encode_key(tag, WireType::LengthDelimited, buf);
    encoding::encode_varint(body as u64, buf);
}

/// `NodeRef`'s body length.
fn name_len(node: &NodeName) -> usize {
    encoding::int32::encoded_len(1, &kind_number(node.kind)) + str_len(2, &node.namespace) + str_len(3, &node.name)
}

/// A `NodeRef` field: key, length and body.
fn put_name(tag: u32, node: &NodeName, buf: &mut impl BufMut) {
    put_delimited(tag, name_len(node), buf);
    encoding::int32::encode(1, &kind_number(node.kind), buf);
    put_str(2, &node.namespace, buf);
    put_str(3, &node.name, buf);
}

/// `LineageNode`'s body length.
fn node_len(node: &LineageNode<NodeName>) -> usize {
    let distance = if node.distance == 0 { 0 } else { encoding::uint32::encoded_len(2, &node.distance) };
    delimited_len(1, name_len(&node.node)) + distance
}

/// `LineageEdge`'s body length.
fn edge_len(edge: &LineageEdge<NodeName>) -> usize {
    delimited_len(1, name_len(&edge.from))
        + delimited_len(2, name_len(&edge.to))
        + str_len(3, edge_kind_text(edge.kind))
}

impl Message for LineageChunk {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        // Nodes and edges are written into one `Vec` first and handed over in one piece: a
        // node is a dozen small writes (keys, lengths, its kind), each a capacity check and
        // bookkeeping on the transport's `BytesMut`, but a plain push on a `Vec` reserved once.
        let mut out = Vec::with_capacity(self.encoded_len());
        for (at, node) in self.nodes.iter().enumerate() {
            // The names lie wherever their allocations landed: ask for them a few nodes ahead.
            if let Some(ahead) = self.nodes.get(at + 8) {
                tributary_service::prefetch(Arc::as_ptr(&ahead.node.name));
            }
            put_delimited(1, node_len(node), &mut out);
            put_name(1, &node.node, &mut out);
            if node.distance != 0 {
                encoding::uint32::encode(2, &node.distance, &mut out);
            }
        }
        for (at, edge) in self.edges.iter().enumerate() {
            if let Some(ahead) = self.edges.get(at + 8) {
                tributary_service::prefetch(Arc::as_ptr(&ahead.from.name));
                tributary_service::prefetch(Arc::as_ptr(&ahead.to.name));
            }
            put_delimited(2, edge_len(edge), &mut out);
            put_name(1, &edge.from, &mut out);
            put_name(2, &edge.to, &mut out);
            put_str(3, edge_kind_text(edge.kind), &mut out);
        }
        if self.last {
            encoding::bool::encode(3, &self.last, &mut out);
        }
        if self.truncated {
            encoding::bool::encode(4, &self.truncated, &mut out);
        }
        if let Some(watermark) = &self.watermark {
            encoding::message::encode(5, watermark, &mut out);
        }
        buf.put_slice(&out);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => {
                let mut node = Fields::default();
                encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                encoding::merge_loop(&mut node, buf, ctx, |node, buf, ctx| {
                    let (tag, wire_type) = encoding::decode_key(buf)?;
                    match tag {
                        1 => merge_name(wire_type, &mut node.from, buf, ctx.clone()),
                        2 => encoding::uint32::merge(wire_type, &mut node.distance, buf, ctx),
                        _ => encoding::skip_field(wire_type, tag, buf, ctx),
                    }
                })?;
                self.nodes.push(LineageNode { node: node.from.name()?, distance: node.distance });
                Ok(())
            }
            2 => {
                let mut edge = Fields::default();
                encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
                encoding::merge_loop(&mut edge, buf, ctx, |edge, buf, ctx| {
                    let (tag, wire_type) = encoding::decode_key(buf)?;
                    match tag {
                        1 => merge_name(wire_type, &mut edge.from, buf, ctx.clone()),
                        2 => merge_name(wire_type, &mut edge.to, buf, ctx.clone()),
                        3 => encoding::string::merge(wire_type, &mut edge.kind, buf, ctx),
                        _ => encoding::skip_field(wire_type, tag, buf, ctx),
                    }
                })?;
                let kind = match edge.kind.as_str() {
                    "READS" => EdgeKind::Reads,
                    "WRITES" => EdgeKind::Writes,
                    _ => return Err(invalid("LineageEdge.kind is neither READS nor WRITES")),
                };
                self.edges.push(LineageEdge { from: edge.from.name()?, to: edge.to.name()?, kind });
                Ok(())
            }
            3 => encoding::bool::merge(wire_type, &mut self.last, buf, ctx),
            4 => encoding::bool::merge(wire_type, &mut self.truncated, buf, ctx),
            5 => encoding::message::merge(wire_type, self.watermark.get_or_insert_with(Default::default), buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let nodes: usize = self.nodes.iter().map(|node| delimited_len(1, node_len(node))).sum();
        let edges: usize = self.edges.iter().map(|edge| delimited_len(2, edge_len(edge))).sum();
        let flags = if self.last { encoding::bool::encoded_len(3, &self.last) } else { 0 }
            + if self.truncated { encoding::bool::encoded_len(4, &self.truncated) } else { 0 };
        nodes
            + edges
            + flags
            + self.watermark.as_ref().map_or(0, |watermark| encoding::message::encoded_len(5, watermark))
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A `LineageNode` or `LineageEdge` being decoded.
#[derive(Default)]
struct Fields {
    from: NameFields,
    to: NameFields,
    distance: u32,
    kind: String,
}

/// A `NodeRef` being decoded.
#[derive(Default)]
struct NameFields {
    seen: bool,
    kind: i32,
    namespace: String,
    name: String,
}

impl NameFields {
    fn name(self) -> Result<NodeName, DecodeError> {
        if !self.seen {
            return Err(invalid("a lineage node or edge has no NodeRef"));
        }
        let kind = match proto::NodeKind::try_from(self.kind) {
            Ok(proto::NodeKind::Dataset) => NodeKind::Dataset,
            Ok(proto::NodeKind::Job) => NodeKind::Job,
            _ => return Err(invalid("NodeRef.kind is neither DATASET nor JOB")),
        };
        Ok(NodeName { kind, namespace: Arc::from(self.namespace), name: Arc::from(self.name) })
    }
}

fn merge_name(
    wire_type: WireType,
    fields: &mut NameFields,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    encoding::check_wire_type(WireType::LengthDelimited, wire_type)?;
    fields.seen = true;
    encoding::merge_loop(fields, buf, ctx, |fields, buf, ctx| {
        let (tag, wire_type) = encoding::decode_key(buf)?;
        match tag {
            1 => encoding::int32::merge(wire_type, &mut fields.kind, buf, ctx),
            2 => encoding::string::merge(wire_type, &mut fields.namespace, buf, ctx),
            3 => encoding::string::merge(wire_type, &mut fields.name, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    })
}

/// A chunk that is valid protobuf but not a lineage answer this type can hold.
#[allow(deprecated)] // prost 0.14 offers no other way to describe a decode error of one's own
fn invalid(description: &'static str) -> DecodeError {
    DecodeError::new(description)
}

#[cfg(test)]
mod tests {
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

    /// The same chunk as the generated type holds it.
    fn as_generated(chunk: &LineageChunk) -> proto::LineageChunk {
        proto::LineageChunk {
            nodes: chunk
                .nodes
                .iter()
                .map(|node| proto::LineageNode { node: Some(generated(&node.node)), distance: node.distance })
                .collect(),
            edges: chunk
                .edges
                .iter()
                .map(|edge| proto::LineageEdge {
                    from: Some(generated(&edge.from)),
                    to: Some(generated(&edge.to)),
                    kind: edge_kind_text(edge.kind).to_owned(),
                })
                .collect(),
            last: chunk.last,
            truncated: chunk.truncated,
            watermark: chunk.watermark.clone(),
        }
    }

    fn chunks() -> Vec<LineageChunk> {
        let long = "n".repeat(300); // a length that takes two varint bytes
        let nodes = vec![
            LineageNode { node: name(NodeKind::Dataset, "db", "start"), distance: 0 },
            LineageNode { node: name(NodeKind::Job, "airflow", "dag.task"), distance: 1 },
            LineageNode { node: name(NodeKind::Dataset, "", &long), distance: 200 },
            LineageNode { node: name(NodeKind::Dataset, "é ☃", ""), distance: 1 },
        ];
        let edges = vec![
            LineageEdge { from: nodes[0].node.clone(), to: nodes[1].node.clone(), kind: EdgeKind::Reads },
            LineageEdge { from: nodes[1].node.clone(), to: nodes[2].node.clone(), kind: EdgeKind::Writes },
        ];
        let watermark = proto::Watermark {
            sequence: 42,
            events: 40,
            offsets: vec![proto::PartitionOffset { topic: "lineage".into(), partition: 3, offset: 1_000_000 }],
        };
        vec![
            LineageChunk::default(),
            LineageChunk { nodes: nodes.clone(), ..Default::default() },
            LineageChunk { edges: edges.clone(), ..Default::default() },
            LineageChunk { nodes, edges, last: true, truncated: true, watermark: Some(watermark.clone()) },
            LineageChunk { last: true, watermark: Some(watermark), ..Default::default() },
        ]
    }

    #[test]
    fn encodes_what_the_generated_type_encodes() {
        for chunk in chunks() {
            let ours = chunk.encode_to_vec();
            assert_eq!(ours.len(), chunk.encoded_len());
            assert_eq!(ours, as_generated(&chunk).encode_to_vec(), "{chunk:?}");
            assert_eq!(as_generated(&chunk), proto::LineageChunk::decode(&ours[..]).unwrap());
        }
    }

    #[test]
    fn decodes_what_the_generated_type_encodes() {
        for chunk in chunks() {
            let encoded = as_generated(&chunk).encode_to_vec();
            assert_eq!(LineageChunk::decode(&encoded[..]).unwrap(), chunk);
        }
    }

    #[test]
    fn refuses_what_it_cannot_hold() {
        let unknown_kind = proto::LineageChunk {
            nodes: vec![proto::LineageNode {
                node: Some(proto::NodeRef { kind: 0, namespace: "db".into(), name: "a".into() }),
                distance: 1,
            }],
            ..Default::default()
        };
        let no_node =
            proto::LineageChunk { nodes: vec![proto::LineageNode { node: None, distance: 1 }], ..Default::default() };
        let unknown_edge = proto::LineageChunk {
            edges: vec![proto::LineageEdge {
                from: Some(proto::NodeRef { kind: 1, namespace: "db".into(), name: "a".into() }),
                to: Some(proto::NodeRef { kind: 2, namespace: "db".into(), name: "j".into() }),
                kind: "OWNS".into(),
            }],
            ..Default::default()
        };
        for (message, expected) in [
            (unknown_kind, "neither DATASET nor JOB"),
            (no_node, "no NodeRef"),
            (unknown_edge, "neither READS nor WRITES"),
        ] {
            let error = LineageChunk::decode(&message.encode_to_vec()[..]).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
        assert!(LineageChunk::decode(&[0x0a, 0x05, 0x0a][..]).is_err(), "a truncated node");
    }
}
