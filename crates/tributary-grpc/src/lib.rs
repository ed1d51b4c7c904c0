//! gRPC transport: tonic adapters for the `tributary.v1` services in `proto/`, plus the
//! standard health and reflection services. Thin: decode, call the service, map errors.
//! Knows `tributary-service`, never the store or the index directly.

mod admin;
mod changes;
mod chunk;
mod codec;
mod convert;
mod ingest;
mod lineage;
mod mesh;

pub use admin::token_message;
use tonic::service::Routes;
use tributary_service::Service;

/// Generated protobuf types, server traits and clients for `tributary.v1`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("tributary.v1");
    // The clients, generated apart from the servers so that they keep tonic_prost's codec
    // (see `build.rs`).
    include!(concat!(env!("OUT_DIR"), "/client/tributary.v1.rs"));
    // `LineageChunk` and `LineageResponse` as clients decode them (the server encodes
    // `crate::chunk::LineageChunk` and `LineageResponse`).
    include!(concat!(env!("OUT_DIR"), "/chunk/tributary.v1.rs"));

    /// Encoded `FileDescriptorSet` of `proto/`, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tributary_descriptor.bin"));

    impl LineageNodeTable {
        /// The nodes the table stands for, as `LineageNode` messages in its order; `None` when
        /// its columns are not all as long as `names` or a namespace position is past
        /// `namespaces` (not a table the server writes).
        pub fn to_nodes(&self) -> Option<Vec<LineageNode>> {
            let count = self.names.len();
            if (self.namespace.len(), self.kinds.len(), self.distances.len()) != (count, count, count) {
                return None;
            }
            (0..count)
                .map(|at| {
                    Some(LineageNode {
                        node: Some(NodeRef {
                            kind: self.kinds[at],
                            namespace: self.namespaces.get(self.namespace[at] as usize)?.clone(),
                            name: self.names[at].clone(),
                        }),
                        distance: self.distances[at],
                    })
                })
                .collect()
        }
    }

    impl LineageEdgeTable {
        /// The edges the table stands for, as `LineageEdge` messages in its order, their ends
        /// named from `nodes` (the answer's nodes, in its order); `None` when its columns are
        /// not all as long as `from`, a position is past `nodes` or a kind is not an edge's
        /// (not a table the server writes).
        pub fn to_edges(&self, nodes: &[LineageNode]) -> Option<Vec<LineageEdge>> {
            let count = self.from.len();
            if (self.to.len(), self.kinds.len()) != (count, count) {
                return None;
            }
            let node = |at: u32| nodes.get(at as usize)?.node.clone();
            (0..count)
                .map(|at| {
                    let kind = match EdgeKind::try_from(self.kinds[at]).ok()? {
                        EdgeKind::Reads => "READS",
                        EdgeKind::Writes => "WRITES",
                        EdgeKind::Unspecified => return None,
                    };
                    let (from, to) = (node(self.from[at])?, node(self.to[at])?);
                    Some(LineageEdge { from: Some(from), to: Some(to), kind: kind.to_owned() })
                })
                .collect()
        }
    }
}

/// The service acting for this call's caller: the handle the server's request guard
/// authenticated (from the `authorization` metadata) and put in the request's extensions.
/// Without one (a server wired without the guard) the base handle is used, which is
/// unidentified and so refused whenever authentication is required: it fails closed.
pub(crate) fn caller<T>(base: &Service, request: &tonic::Request<T>) -> Service {
    request.extensions().get::<Service>().cloned().unwrap_or_else(|| base.clone())
}

/// Largest gRPC message accepted, in bytes (one event or one request), and sent by the
/// services whose answers do not grow with the graph.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Largest answer sent by the services whose answers grow with the graph (`Lineage`,
/// `Changes`, `Mesh`), in bytes. Those answers are bounded by node count (the server's
/// `--max-lineage-nodes`, 1M by default), not bytes, so the byte cap sits above what the
/// engine can answer instead of failing a request it already answered: a full closure of 950k
/// nodes encodes to ~70 MB without edges and ~300 MB with them; a change report of a hub of the
/// 1M bench mesh (every affected dataset and job, the nearest 10,000 impacts with their paths)
/// to 96 MB, and that mesh's product lineage with its dataset links to 91 MB. The 64 MiB of
/// [`MAX_MESSAGE_BYTES`] made `tributary check` and `GetMeshLineage` fail there.
pub const MAX_ANSWER_BYTES: usize = 512 * 1024 * 1024;

/// The gRPC routes: `tributary.v1.Ingest`, `tributary.v1.Lineage`, `Mesh`, `Changes`, `Admin`, `grpc.health.v1.Health`
/// and server reflection (v1 and v1alpha).
pub async fn routes(service: Service) -> Routes {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<proto::ingest_server::IngestServer<ingest::IngestApi>>().await;
    health_reporter.set_serving::<proto::lineage_server::LineageServer<lineage::LineageApi>>().await;
    health_reporter.set_serving::<proto::mesh_server::MeshServer<mesh::MeshApi>>().await;
    health_reporter.set_serving::<proto::changes_server::ChangesServer<changes::ChangesApi>>().await;
    health_reporter.set_serving::<proto::admin_server::AdminServer<admin::AdminApi>>().await;
    // The descriptor set is produced by build.rs from the same protos, so it parses.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("descriptor set from build.rs is valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("descriptor set from build.rs is valid");
    let ingest = proto::ingest_server::IngestServer::new(ingest::IngestApi::new(service.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let changes = proto::changes_server::ChangesServer::new(changes::ChangesApi::new(service.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ANSWER_BYTES);
    let admin = proto::admin_server::AdminServer::new(admin::AdminApi::new(service.clone()));
    let mesh = proto::mesh_server::MeshServer::new(mesh::MeshApi::new(service.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ANSWER_BYTES);
    let lineage = proto::lineage_server::LineageServer::new(lineage::LineageApi::new(service))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_ANSWER_BYTES);
    Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ingest)
        .add_service(lineage)
        .add_service(mesh)
        .add_service(changes)
        .add_service(admin)
}
