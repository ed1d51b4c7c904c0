//! The `tributary` command line: one file per command family. `mod.rs` holds the clap
//! definitions shared by all and `main`; `serve` the server, `store` the offline store tools
//! (stats, reindex, verify), `import` the bulk load, `export` the NDJSON backup, `remote` the clients of a running server
//! (check, product and domain apply), `token` API tokens (on a server or a store).

mod export;
mod import;
mod kafka;
mod remote;
mod serve;
mod store;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tributary_service::{ServiceConfig, StoreConfig};

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
    Serve(Box<serve::ServeArgs>),
    /// Bulk-load an NDJSON file of OpenLineage events into a store (the server must not be running on it).
    Import(import::ImportArgs),
    /// Write every stored event as NDJSON in ingest order (from a store with `--data-dir`, or
    /// from a running server): the backup that `import` restores.
    Export(export::ExportArgs),
    /// What a store holds: keys and bytes per record kind, and its size on disk (the server
    /// must not be running on it).
    Stats(store::StatsArgs),
    /// Rebuild every derived record (datasets, jobs, runs, graph, indexes) from the stored
    /// event log with this build's rules; the old store is kept beside it (the server must not
    /// be running on it). Also the migration path between record formats.
    Reindex(store::StoreOnlyArgs),
    /// Rewrite the store's database in key order, in a file written once: sled keeps earlier
    /// page images of a store built by ingest until it cleans them, so this reclaims most of its
    /// disk (about 40% after a bulk load); the old store is kept beside it (the server must not
    /// be running on it).
    Compact(store::StoreOnlyArgs),
    /// Check that the derived records agree with a rebuild from the event log; exit 1 when
    /// they do not (the server must not be running on it).
    Verify(store::StoreOnlyArgs),
    /// Check a proposed schema against a running server: what breaks downstream, where,
    /// owned by whom. Prints markdown (for a pull request) or JSON; the exit code gates CI.
    Check(remote::CheckArgs),
    /// Data products: `tributary product apply -f product.yaml`.
    Product {
        #[command(subcommand)]
        action: remote::ApplyAction,
    },
    /// Domains: `tributary domain apply -f domain.yaml`.
    Domain {
        #[command(subcommand)]
        action: remote::ApplyAction,
    },
    /// API tokens: `tributary token create --name airflow-prod --scope 'ingest@jobs=airflow'`,
    /// `token list`, `token revoke <id>`; against a server, or a store with `--data-dir`.
    Token {
        #[command(subcommand)]
        action: token::TokenAction,
    },
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
        Command::Serve(args) => runtime.block_on(serve::serve(*args)).map(|()| ExitCode::SUCCESS),
        Command::Import(args) => runtime.block_on(import::import(args)),
        Command::Export(args) => runtime.block_on(export::export(args)).map(|()| ExitCode::SUCCESS),
        Command::Stats(args) => runtime.block_on(store::stats(args)).map(|()| ExitCode::SUCCESS),
        Command::Reindex(args) => store::reindex(&args.store).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => store::verify(&args.store),
        Command::Compact(args) => store::compact(&args.store).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => match runtime.block_on(remote::check(args)) {
            Ok(code) => Ok(code),
            Err(error) => {
                eprintln!("error: {error:#}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Product { action: remote::ApplyAction::Apply(args) } => runtime.block_on(remote::apply(args, true)),
        Command::Domain { action: remote::ApplyAction::Apply(args) } => runtime.block_on(remote::apply(args, false)),
        Command::Token { action } => runtime.block_on(token::run(action)).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
