//! `tributary export`: every stored event as NDJSON, in ingest order, streaming; from a store
//! no server holds (`--data-dir`) or from a running server (gRPC `ListEvents`, with a token
//! that may read everything: `admin`, since a reader without a restricted product's domain
//! does not see its events). `tributary import` of the output into an empty store rebuilds
//! the same store: the backup path.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tributary_grpc::proto;

use super::StoreArgs;
use super::remote::{RemoteArgs, channel};

/// Events asked for per page from a server.
const PAGE: u32 = 1000;

#[derive(Args)]
pub(super) struct ExportArgs {
    /// Read the store in this directory directly (the server must not be running on it).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub(super) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let mut out: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("creating `{}`", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let written = match &args.data_dir {
        Some(dir) => {
            let config = StoreArgs { data_dir: dir.clone(), cache_mb: 64 }.service_config().store;
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                tributary_service::maintenance::export(&dir, &config, &mut out, |_| {})
                    .with_context(|| format!("exporting the store in `{}`", dir.display()))
            })
            .await??
        }
        None => {
            let mut client = proto::lineage_client::LineageClient::new(channel(&args.remote).await?);
            let mut written = 0u64;
            let mut after = 0u64;
            loop {
                let page = client
                    .list_events(proto::ListEventsRequest { after_sequence: after, page_size: PAGE })
                    .await
                    .map_err(|status| anyhow::anyhow!("{}", status.message()))?
                    .into_inner();
                for event in &page.events {
                    out.write_all(event.event_json.as_bytes())?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
                if page.next_after_sequence == 0 {
                    break;
                }
                after = page.next_after_sequence;
            }
            out.flush()?;
            written
        }
    };
    eprintln!("exported {written} events");
    Ok(())
}
