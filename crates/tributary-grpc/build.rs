//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and generates the tonic
//! server and client, plus the encoded descriptor set that server reflection serves.
//!
//! Servers and clients are generated in two passes because they need different codecs. The
//! servers use `crate::codec::RequestCodec`, which answers a request that does not decode with
//! `INVALID_ARGUMENT` (the caller sent it); the clients keep `tonic_prost::ProstCodec`, for
//! which an answer that does not decode is the server's fault (`INTERNAL`). `codec_path` is one
//! setting per builder, so the client pass goes to `OUT_DIR/client/` and takes the message
//! types from the first pass (`extern_path`) instead of defining them again.
//!
//! Two messages have two Rust types: `tributary.v1.LineageChunk` and `LineageResponse`, the
//! answers of `StreamLineage` and `GetLineage`, which answer closures of hundreds of thousands
//! of nodes. The server sends `crate::chunk::LineageChunk` and `LineageResponse`, written by
//! hand so that they name nodes with the index's shared strings instead of a copy of each (same
//! wire format; `chunk.rs` tests them against the generated types). Clients decode into the
//! generated `crate::proto::LineageChunk` and `LineageResponse`, made by a third pass over a
//! descriptor that holds those messages only.

use std::path::PathBuf;

use prost::Message;

/// The messages the server encodes by hand (`crate::chunk`).
const ENCODED_BY_HAND: [&str; 2] = ["LineageChunk", "LineageResponse"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not baked in with `env!`: a build script compiled for one checkout and
    // reused from a shared target directory by another must read that other checkout's protos.
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let proto_file = proto_root.join("tributary/v1/lineage.proto");
    // The file itself, not only its directory: a directory entry alone did not make cargo
    // rerun this script when a `.proto` file changed (seen with cargo 1.95).
    println!("cargo:rerun-if-changed={}", proto_file.display());
    println!("cargo:rerun-if-changed={}", proto_root.display());
    let descriptors = protox::compile([&proto_file], [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("tributary_descriptor.bin"), descriptors.encode_to_vec())?;

    // Messages and servers. Type names (`prost::Name`) let the server codec name the message
    // a request failed to decode as, e.g. `tributary.v1.IngestEventRequest`.
    let mut messages = tonic_prost_build::Config::new();
    messages.enable_type_names();
    for encoded in ENCODED_BY_HAND {
        messages.extern_path(format!(".tributary.v1.{encoded}"), format!("crate::chunk::{encoded}"));
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .codec_path("crate::codec::RequestCodec")
        .compile_fds_with_config(descriptors.clone(), messages)?;

    // Clients only; every `tributary.v1` type resolves to the one generated above.
    let client_dir = out_dir.join("client");
    std::fs::create_dir_all(&client_dir)?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .extern_path(".tributary.v1", "crate::proto")
        .out_dir(&client_dir)
        .compile_fds(descriptors.clone())?;

    // The generated answers, for clients: a descriptor with those messages alone, the types
    // they refer to taken from the first pass.
    let chunk_dir = out_dir.join("chunk");
    std::fs::create_dir_all(&chunk_dir)?;
    let mut chunk_only = descriptors;
    for file in &mut chunk_only.file {
        file.message_type.retain(|message| ENCODED_BY_HAND.contains(&message.name()));
        file.enum_type.clear();
        file.service.clear();
        // Its locations point into the whole file's message list.
        file.source_code_info = None;
    }
    let mut chunk = tonic_prost_build::Config::new();
    chunk.enable_type_names();
    for referenced in ["LineageNode", "LineageEdge", "LineageNodeTable", "Watermark"] {
        chunk.extern_path(format!(".tributary.v1.{referenced}"), format!("crate::proto::{referenced}"));
    }
    chunk.out_dir(&chunk_dir).compile_fds(chunk_only)?;
    Ok(())
}
