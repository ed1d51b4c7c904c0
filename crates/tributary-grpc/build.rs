//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and generates the tonic
//! server and client, plus the encoded descriptor set that server reflection serves.
//!
//! Servers and clients are generated in two passes because they need different codecs. The
//! servers use `crate::codec::RequestCodec`, which answers a request that does not decode with
//! `INVALID_ARGUMENT` (the caller sent it); the clients keep `tonic_prost::ProstCodec`, for
//! which an answer that does not decode is the server's fault (`INTERNAL`). `codec_path` is one
//! setting per builder, so the client pass goes to `OUT_DIR/client/` and takes the message
//! types from the first pass (`extern_path`) instead of defining them again.

use std::path::PathBuf;

use prost::Message;

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
        .compile_fds(descriptors)?;
    Ok(())
}
