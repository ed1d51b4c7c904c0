//! The `tributary` command line: `serve` and `import`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tributary_service::{Service, ServiceConfig, StoreConfig};

/// Data directory used when none is given: under the working directory.
pub const DEFAULT_DATA_DIR: &str = "tributary-data";
/// Listen address used when none is given: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5055";

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "Lineage and metadata server for data meshes (OpenLineage in, impact answers out)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve OpenLineage ingest (HTTP and gRPC), GraphQL and gRPC queries on one address.
    Serve(ServeArgs),
    /// Bulk-load an NDJSON file of OpenLineage events into a store (the server must not be running on it).
    Import(ImportArgs),
}

#[derive(Args, Clone)]
pub(crate) struct StoreArgs {
    /// Store directory (created when missing).
    #[arg(long, env = "TRIBUTARY_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// sled page cache in MiB.
    #[arg(long, env = "TRIBUTARY_CACHE_MB", default_value_t = 256)]
    pub(crate) cache_mb: u64,
}

impl StoreArgs {
    pub(crate) fn service_config(&self) -> ServiceConfig {
        ServiceConfig {
            data_dir: Some(self.data_dir.clone()),
            store: StoreConfig { cache_bytes: self.cache_mb * 1024 * 1024, ..StoreConfig::default() },
            ..ServiceConfig::default()
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address for HTTP/1.1 and HTTP/2 (ingest, GraphQL, gRPC). Port 0 picks a free port.
    #[arg(long, env = "TRIBUTARY_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Largest node limit a lineage request may ask for.
    #[arg(long, env = "TRIBUTARY_MAX_LINEAGE_NODES", default_value_t = 1_000_000)]
    max_lineage_nodes: usize,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// NDJSON file, one OpenLineage event per line (`-` for standard input).
    pub(crate) file: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)).map(|()| ExitCode::SUCCESS),
        Command::Import(args) => runtime.block_on(crate::import::import(args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.store.service_config();
    config.max_lineage_limit = args.max_lineage_nodes.max(1);
    config.default_lineage_limit = config.default_lineage_limit.min(config.max_lineage_limit);
    let data_dir = args.store.data_dir.clone();
    let service = tokio::task::spawn_blocking(move || Service::open(config))
        .await?
        .with_context(|| format!("opening the store in `{}`", data_dir.display()))?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let watermark = service.watermark();
    tracing::info!(data_dir = %data_dir.display(), events = watermark.events, "store open");
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "tributary listening on http://{address}")?;
        stdout.flush()?;
    }
    crate::run(service.clone(), listener, shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || service.close()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
