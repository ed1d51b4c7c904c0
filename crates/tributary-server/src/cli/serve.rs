//! `tributary serve`: open the store, bind, serve until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tributary_service::Service;

use super::{DEFAULT_LISTEN, StoreArgs};

#[derive(Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address for HTTP/1.1 and HTTP/2 (ingest, GraphQL, gRPC). Port 0 picks a free port.
    #[arg(long, env = "TRIBUTARY_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Largest node limit a lineage request may ask for.
    #[arg(long, env = "TRIBUTARY_MAX_LINEAGE_NODES", default_value_t = 1_000_000)]
    max_lineage_nodes: usize,
    /// Lineage walks, change checks and impact summaries that run at once; more wait their turn
    /// (256 per one running, refused as unavailable past that). Default: the machine's cores, so
    /// no more threads than cores compete with ingest however many are asked for.
    #[arg(long, env = "TRIBUTARY_MAX_TRAVERSALS", value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_traversals: Option<u32>,
    /// How much lower the scheduling priority of the threads running those reads is (a nice
    /// increment, Linux): when every core is busy, ingest and point reads get them first, the
    /// walks what is left; on an idle machine walks run at full speed. 0: the same priority.
    #[arg(long, env = "TRIBUTARY_READ_NICE", default_value_t = tributary_service::DEFAULT_READ_NICE,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    read_nice: i32,
    /// Global policy file (YAML or JSON, see docs/mesh.md).
    #[arg(long, env = "TRIBUTARY_POLICIES")]
    policies: Option<PathBuf>,
    /// Open connections at most (keep it below the process's file limit).
    #[arg(long, env = "TRIBUTARY_MAX_CONNECTIONS", default_value_t = crate::limits::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a connection gets to send its first byte (and finish its TLS handshake) and an
    /// HTTP/1 request its headers.
    #[arg(long, env = "TRIBUTARY_HEADER_TIMEOUT_SECS", default_value_t = crate::limits::DEFAULT_HEADER_TIMEOUT_SECS)]
    header_timeout_secs: u64,
    /// Seconds an HTTP request (ingest, GraphQL) gets in all, its body included; 504 after.
    #[arg(long, env = "TRIBUTARY_REQUEST_TIMEOUT_SECS", default_value_t = crate::limits::DEFAULT_REQUEST_TIMEOUT_SECS)]
    request_timeout_secs: u64,
    /// Largest ingest body in bytes, compressed or decompressed.
    #[arg(long, env = "TRIBUTARY_MAX_INGEST_BYTES", default_value_t = crate::MAX_BODY_BYTES)]
    max_ingest_bytes: usize,
    /// Largest GraphQL request body in bytes.
    #[arg(long, env = "TRIBUTARY_MAX_GRAPHQL_BYTES", default_value_t = crate::limits::DEFAULT_MAX_GRAPHQL_BYTES)]
    max_graphql_bytes: usize,
    /// An origin (`https://ui.example.com`) whose pages may call this server from a browser;
    /// repeat for several, `*` for any. Without it only same-origin pages may.
    #[arg(long = "allowed-origin", env = "TRIBUTARY_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Require a token on every request even before the first token is created (otherwise the
    /// server runs open until `tributary token create` makes one; see docs/auth.md).
    #[arg(long, env = "TRIBUTARY_REQUIRE_AUTH")]
    require_auth: bool,
    /// Serve a non-loopback address without authentication (anyone who reaches the port can
    /// write and read everything). Refused without this flag.
    #[arg(long, env = "TRIBUTARY_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// PEM file with the server's TLS certificate chain (its own certificate first, then the
    /// intermediates). With --tls-key, the address serves HTTPS and HTTP/2 over TLS only.
    #[arg(long, env = "TRIBUTARY_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, env = "TRIBUTARY_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Compact the store while serving once its size on disk reaches this multiple of its
    /// size after its last compaction (a store never compacted, such as one `tributary import`
    /// built, once it reaches --compact-min-mb); only when its file system has room for the
    /// copy. 0 turns automatic compaction off (an admin can still run `compactStore`).
    #[arg(long, env = "TRIBUTARY_COMPACT_GROWTH", default_value_t = 2.0, value_name = "FACTOR")]
    compact_growth: f64,
    /// Stores smaller than this on disk (MiB) are not compacted automatically.
    #[arg(long, env = "TRIBUTARY_COMPACT_MIN_MB", default_value_t = 1024)]
    compact_min_mb: u64,
    /// Seconds between two looks at the store's size for automatic compaction (the first is
    /// a minute after start-up, or sooner when this is shorter).
    #[arg(long, env = "TRIBUTARY_COMPACT_CHECK_SECS", default_value_t = 600)]
    compact_check_secs: u64,
    /// Save the lineage index snapshot while ingest never pauses, once this many events came
    /// since the last one, so that a crash leaves a snapshot to catch up from instead of
    /// rebuilding the index (an idle server saves after 30 s, a clean stop always). At most
    /// 100000; 0 saves only when idle or stopping.
    #[arg(long, env = "TRIBUTARY_SNAPSHOT_EVERY", default_value_t = 50_000, value_name = "EVENTS",
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    snapshot_every: u64,
    #[command(flatten)]
    kafka: super::kafka::KafkaArgs,
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

    /// The automatic compaction's policy; `None` when `--compact-growth 0`.
    fn auto_compact(&self) -> anyhow::Result<Option<tributary_service::AutoCompact>> {
        if self.compact_growth == 0.0 {
            return Ok(None);
        }
        // Below 1.1 a store would be copied again right after each compaction.
        if !self.compact_growth.is_finite() || self.compact_growth < 1.1 {
            anyhow::bail!(
                "--compact-growth {}: give a factor of at least 1.1, or 0 to turn it off",
                self.compact_growth
            );
        }
        Ok(Some(tributary_service::AutoCompact {
            growth: self.compact_growth,
            min_bytes: self.compact_min_mb.saturating_mul(1 << 20),
            every: std::time::Duration::from_secs(self.compact_check_secs.max(1)),
        }))
    }

    /// The TLS configuration when both files are given; clap already refuses one without the other.
    fn tls(&self) -> anyhow::Result<Option<crate::TlsConfig>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::TlsConfig::from_pem_files(cert, key).map(Some),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key"),
            (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert"),
        }
    }
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before the store opens: a wrong certificate should not wait for a large store to load.
    let tls = args.tls()?;
    let mut config = args.store.service_config();
    config.require_auth = args.require_auth;
    config.auto_compact = args.auto_compact()?;
    config.snapshot_every = args.snapshot_every;
    config.max_lineage_limit = args.max_lineage_nodes.max(1);
    if let Some(traversals) = args.max_traversals {
        config.max_traversals = traversals as usize;
    }
    config.read_nice = args.read_nice;
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
    if !args.listen.ip().is_loopback() && !service.auth_required() && !args.insecure_no_auth {
        let closing = service.clone();
        tokio::task::spawn_blocking(move || closing.close()).await?;
        anyhow::bail!(
            "refusing to serve {} without authentication: anyone who reaches it could write and read everything. \
             Create an admin token first (`tributary token create --data-dir {} --name admin --scope admin`), \
             pass --require-auth, or pass --insecure-no-auth if this network is trusted",
            args.listen,
            data_dir.display()
        );
    }
    let (serving, kafka) = match args.kafka.start(service.clone()).await {
        Ok(started) => started,
        Err(failure) => {
            let closing = service.clone();
            tokio::task::spawn_blocking(move || closing.close()).await?;
            return Err(failure);
        }
    };
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let watermark = service.watermark();
    tracing::info!(data_dir = %data_dir.display(), events = watermark.events, "store open");
    if service.auth_required() {
        tracing::info!("authentication required: every request needs a token (`Authorization: Bearer`)");
    } else {
        tracing::warn!("running open (no token created yet): every caller may write and read everything");
    }
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let scheme = if tls.is_some() { "https" } else { "http" };
        writeln!(stdout, "tributary listening on {scheme}://{address}")?;
        stdout.flush()?;
    }
    match tls {
        Some(tls) => crate::run_with_tls(serving, listener, shutdown_signal(), args.limits(), tls).await?,
        None => crate::run_with_limits(serving, listener, shutdown_signal(), args.limits()).await?,
    }
    if let Some(kafka) = kafka {
        kafka.stop().await;
    }
    tokio::task::spawn_blocking(move || service.close()).await?;
    // sled writes its recovery snapshot only when it opens a database, by reading the log
    // written since the previous open; without this the next start reads everything this run
    // wrote, from disk after a reboot. Done now, while much of it is still in the page cache.
    let settling = std::time::Instant::now();
    let store_config = args.store.service_config().store;
    match tokio::task::spawn_blocking(move || tributary_service::maintenance::settle(&data_dir, &store_config)).await? {
        Ok(()) => tracing::info!(
            elapsed_ms = settling.elapsed().as_millis() as u64,
            "store settled: the next start reads only what is written after this"
        ),
        Err(error) => tracing::warn!(%error, "store not settled: the next start reads the log this run wrote"),
    }
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
