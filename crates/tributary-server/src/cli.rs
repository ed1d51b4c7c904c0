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
    /// What a store holds: keys and bytes per record kind, and its size on disk (the server
    /// must not be running on it).
    Stats(StatsArgs),
    /// Rebuild every derived record (datasets, jobs, runs, graph, indexes) from the stored
    /// event log with this build's rules; the old store is kept beside it (the server must not
    /// be running on it). Also the migration path between record formats.
    Reindex(StoreOnlyArgs),
    /// Check that the derived records agree with a rebuild from the event log; exit 1 when
    /// they do not (the server must not be running on it).
    Verify(StoreOnlyArgs),
    /// Check a proposed schema against a running server: what breaks downstream, where,
    /// owned by whom. Prints markdown (for a pull request) or JSON; the exit code gates CI.
    Check(CheckArgs),
    /// Data products: `tributary product apply -f product.yaml`.
    Product {
        #[command(subcommand)]
        action: ApplyAction,
    },
    /// Domains: `tributary domain apply -f domain.yaml`.
    Domain {
        #[command(subcommand)]
        action: ApplyAction,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Markdown,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProposedFormat {
    /// OpenLineage `schema` facet JSON.
    Openlineage,
    /// dbt models YAML with a contract.
    Dbt,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    /// Exit 1 when any change is BREAKING.
    Breaking,
    /// Exit 1 when any change is RISKY or BREAKING.
    Risky,
    /// Always exit 0 when the check ran.
    Never,
}

#[derive(Args)]
struct CheckArgs {
    /// Namespace of the dataset whose schema changes.
    #[arg(long)]
    namespace: String,
    /// Name of the dataset.
    #[arg(long)]
    name: String,
    /// The proposed schema: OpenLineage schema facet JSON, or a dbt YAML (`.yml`/`.yaml`).
    #[arg(long)]
    schema: PathBuf,
    /// Override the format guessed from the file name.
    #[arg(long, value_enum)]
    format: Option<ProposedFormat>,
    /// With a dbt file: the model to check when it declares several.
    #[arg(long)]
    dbt_model: Option<String>,
    #[arg(long, value_enum, default_value = "markdown")]
    output: OutputFormat,
    /// When to exit with status 1.
    #[arg(long, value_enum, default_value = "breaking")]
    fail_on: FailOn,
    /// The server's address.
    #[arg(long, env = "TRIBUTARY_SERVER", default_value = "http://127.0.0.1:5055")]
    server: String,
}

#[derive(Subcommand)]
enum ApplyAction {
    /// Apply a descriptor (YAML or JSON) to a running server.
    Apply(ApplyArgs),
}

#[derive(Args)]
pub(crate) struct ApplyArgs {
    /// The descriptor file (`-` for standard input).
    #[arg(short = 'f', long = "file")]
    pub(crate) file: PathBuf,
    /// The server's address.
    #[arg(long, env = "TRIBUTARY_SERVER", default_value = "http://127.0.0.1:5055")]
    pub(crate) server: String,
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
    /// Global policy file (YAML or JSON, see docs/mesh.md).
    #[arg(long, env = "TRIBUTARY_POLICIES")]
    policies: Option<PathBuf>,
    /// Open connections at most (keep it below the process's file limit).
    #[arg(long, env = "TRIBUTARY_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Seconds a connection gets to send its first byte and an HTTP/1 request its headers.
    #[arg(long, env = "TRIBUTARY_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds an HTTP request (ingest, GraphQL) gets in all, its body included; 504 after.
    #[arg(long, env = "TRIBUTARY_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    request_timeout_secs: u64,
    /// Largest ingest body in bytes, compressed or decompressed.
    #[arg(long, env = "TRIBUTARY_MAX_INGEST_BYTES", default_value_t = crate::MAX_BODY_BYTES)]
    max_ingest_bytes: usize,
    /// Largest GraphQL request body in bytes.
    #[arg(long, env = "TRIBUTARY_MAX_GRAPHQL_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_graphql_bytes: usize,
    /// An origin (`https://ui.example.com`) whose pages may call this server from a browser;
    /// repeat for several, `*` for any. Without it only same-origin pages may.
    #[arg(long = "allowed-origin", env = "TRIBUTARY_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
}

impl ServeArgs {
    fn limits(&self) -> crate::ServerLimits {
        crate::ServerLimits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout_secs.max(1)),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            max_ingest_bytes: self.max_ingest_bytes.max(1024),
            max_graphql_bytes: self.max_graphql_bytes.max(1024),
            allowed_origins: self.allowed_origins.clone(),
        }
    }
}

#[derive(Args)]
struct StoreOnlyArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
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
        Command::Stats(args) => runtime.block_on(stats(args)).map(|()| ExitCode::SUCCESS),
        Command::Reindex(args) => reindex(&args.store).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify(&args.store),
        Command::Check(args) => match runtime.block_on(check(args)) {
            Ok(code) => Ok(code),
            Err(error) => {
                eprintln!("error: {error:#}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Product { action: ApplyAction::Apply(args) } => runtime.block_on(apply(args, true)),
        Command::Domain { action: ApplyAction::Apply(args) } => runtime.block_on(apply(args, false)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What each store key prefix holds, named for people.
fn prefix_name(prefix: u8) -> &'static str {
    match prefix {
        b'M' => "meta",
        b'E' => "events",
        b'H' => "event hashes",
        b'D' => "datasets",
        b'F' => "dataset facet values",
        b'J' => "jobs",
        b'N' => "graph: datasets",
        b'I' => "graph: job inputs/outputs",
        b'R' => "runs",
        b'O' => "job observations",
        b'S' => "schema versions",
        b'A' => "aliases",
        b'r' => "job run timeline",
        b'w' => "dataset run timeline",
        b'L' => "column lineage",
        b'P' | b'G' => "mesh documents",
        b'p' | b'g' => "mesh document versions",
        b'o' => "owner index",
        b't' => "tag index",
        b'c' => "column tag index",
        b'C' => "schema changes",
        _ => "other",
    }
}

async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let config = args.store.service_config();
    let data_dir = args.store.data_dir.clone();
    let (stats, disk) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let service =
            Service::open(config).with_context(|| format!("opening the store in `{}`", data_dir.display()))?;
        let stats = service.store_stats()?;
        let disk = service.size_on_disk()?;
        service.close();
        Ok((stats, disk))
    })
    .await??;
    let logical: u64 = stats.iter().map(|s| s.key_bytes + s.value_bytes).sum();
    if args.json {
        let prefixes: Vec<_> = stats
            .iter()
            .map(|s| {
                serde_json::json!({
                    "prefix": (s.prefix as char).to_string(),
                    "what": prefix_name(s.prefix),
                    "keys": s.keys,
                    "key_bytes": s.key_bytes,
                    "value_bytes": s.value_bytes,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"disk_bytes": disk, "logical_bytes": logical, "prefixes": prefixes}));
        return Ok(());
    }
    println!("{:<6} {:<24} {:>12} {:>14} {:>14}", "prefix", "what", "keys", "key bytes", "value bytes");
    for s in &stats {
        println!(
            "{:<6} {:<24} {:>12} {:>14} {:>14}",
            s.prefix as char,
            prefix_name(s.prefix),
            s.keys,
            s.key_bytes,
            s.value_bytes
        );
    }
    println!("logical bytes (keys + values): {logical}");
    println!("on disk: {disk}");
    Ok(())
}

fn store_config(args: &StoreArgs) -> StoreConfig {
    StoreConfig { cache_bytes: args.cache_mb * 1024 * 1024, ..StoreConfig::default() }
}

fn reindex(args: &StoreArgs) -> anyhow::Result<()> {
    use tributary_service::maintenance;
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let rebuilt = maintenance::scratch_dir(dir, "reindex");
    let report = maintenance::rebuild(dir, &rebuilt, &store_config(args), |events| {
        eprintln!("  {events} events re-applied");
    })
    .with_context(|| format!("rebuilding `{}` into `{}`", dir.display(), rebuilt.display()))?;
    let kept = maintenance::scratch_dir(dir, "before-reindex");
    std::fs::rename(dir, &kept).with_context(|| format!("moving the old store to `{}`", kept.display()))?;
    std::fs::rename(&rebuilt, dir).with_context(|| format!("moving the rebuilt store to `{}`", dir.display()))?;
    println!(
        "reindexed `{}`: {} events re-applied, {} document versions and {} schema changes copied; the old store is kept in `{}`",
        dir.display(),
        report.events,
        report.documents,
        report.schema_changes,
        kept.display()
    );
    Ok(())
}

fn verify(args: &StoreArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let report = tributary_service::maintenance::verify(dir, &store_config(args), |_| {})
        .with_context(|| format!("verifying `{}`", dir.display()))?;
    println!("{} events, {} derived keys compared, {} differences", report.events, report.keys, report.differences);
    for shown in &report.shown {
        println!("  {shown}");
    }
    if report.differences > report.shown.len() as u64 {
        println!("  … and {} more", report.differences - report.shown.len() as u64);
    }
    Ok(if report.differences == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.store.service_config();
    config.max_lineage_limit = args.max_lineage_nodes.max(1);
    config.default_lineage_limit = config.default_lineage_limit.min(config.max_lineage_limit);
    if let Some(path) = &args.policies {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the policy file `{}`", path.display()))?;
        config.policies = tributary_mesh::parse_policy_file(&text)
            .map_err(|error| anyhow::anyhow!("policy file `{}`: {error}", path.display()))?;
    }
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
    crate::run_with_limits(service.clone(), listener, shutdown_signal(), args.limits()).await?;
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

/// `tributary product apply` / `tributary domain apply`: sends the descriptor over gRPC and
/// prints the outcome; a policy rejection prints every reason and exits with 2.
async fn apply(args: ApplyArgs, product: bool) -> anyhow::Result<ExitCode> {
    use std::io::Read;
    let descriptor = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading `{}`", args.file.display()))?
    };
    let mut client = tributary_grpc::proto::mesh_client::MeshClient::connect(args.server.clone())
        .await
        .with_context(|| format!("connecting to {}", args.server))?;
    let request = tributary_grpc::proto::ApplyRequest { descriptor };
    let kind = if product { "product" } else { "domain" };
    let answer = if product { client.apply_product(request).await } else { client.apply_domain(request).await };
    match answer {
        Ok(response) => {
            let response = response.into_inner();
            if response.changed {
                println!("{kind} `{}` applied as version {}", response.id, response.version);
            } else {
                println!("{kind} `{}` unchanged (version {})", response.id, response.version);
            }
            for violation in &response.violations {
                println!("  warning [{}] {}: {}", violation.policy, violation.subject, violation.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(status)
            if status.code() == tonic::Code::FailedPrecondition || status.code() == tonic::Code::InvalidArgument =>
        {
            eprintln!("{kind} rejected: {}", status.message());
            Ok(ExitCode::from(2))
        }
        Err(status) => Err(anyhow::anyhow!("{kind} apply failed: {}", status.message())),
    }
}

/// `tributary check`: exit 0 when the check passes, 1 when the threshold is met, 2 when the
/// check could not run (bad input, unknown dataset, server unreachable).
async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let schema =
        std::fs::read_to_string(&args.schema).with_context(|| format!("reading `{}`", args.schema.display()))?;
    let is_yaml = args.schema.extension().is_some_and(|ext| ext == "yml" || ext == "yaml");
    let format = match args.format {
        Some(ProposedFormat::Dbt) => tributary_grpc::proto::SchemaFormat::Dbt,
        Some(ProposedFormat::Openlineage) => tributary_grpc::proto::SchemaFormat::Openlineage,
        None if is_yaml => tributary_grpc::proto::SchemaFormat::Dbt,
        None => tributary_grpc::proto::SchemaFormat::Openlineage,
    };
    let mut client = tributary_grpc::proto::changes_client::ChangesClient::connect(args.server.clone())
        .await
        .with_context(|| format!("connecting to {}", args.server))?;
    let response = client
        .check_change(tributary_grpc::proto::CheckChangeRequest {
            namespace: args.namespace,
            name: args.name,
            schema,
            format: format as i32,
            dbt_model: args.dbt_model.unwrap_or_default(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("{}", status.message()))?
        .into_inner();
    match args.output {
        OutputFormat::Markdown => print!("{}", response.markdown),
        OutputFormat::Json => println!("{}", response.report_json),
    }
    let failed = match args.fail_on {
        FailOn::Breaking => response.verdict == "BREAKING",
        FailOn::Risky => response.verdict == "BREAKING" || response.verdict == "RISKY",
        FailOn::Never => false,
    };
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
