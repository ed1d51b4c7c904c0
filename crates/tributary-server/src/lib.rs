//! The Tributary server: wires the service to HTTP ingest, GraphQL and gRPC on one
//! listener (HTTP/1.1 and HTTP/2, cleartext or over TLS), and the `tributary` command line.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests can serve on port 0.

pub mod cli;
mod connections;
mod http;
mod limits;
mod metrics;
mod tls;
mod web;

use std::future::Future;

use tokio::net::TcpListener;

pub use http::MAX_BODY_BYTES;
pub use limits::ServerLimits;
pub use tls::TlsConfig;
pub use tributary_service::{
    IndexOrigin, MAX_WAITING_PER_TOKEN_PER_RUNNING, Service, ServiceConfig, StoreConfig, governance, model,
};

/// Every route: `POST /api/v1/lineage`, `/graphql`, `/healthz`, `/readyz`, the web explorer
/// (`/`, `/assets/…`) and the gRPC services, behind the request guards (origin check, body
/// and time limits, 404 for paths that are neither ours nor gRPC).
pub async fn router(service: Service, limits: &ServerLimits) -> axum::Router {
    let grpc = tributary_grpc::routes(service.clone()).await.into_axum_router();
    let graphql = tributary_graphql::router(service.clone(), limits.max_graphql_bytes);
    // Registering two fresh metrics in a fresh registry fails only on a name clash in this code.
    let metrics = metrics::ServerMetrics::new().expect("the server's metrics register once");
    let guard = http::GuardState {
        limits: std::sync::Arc::new(limits.clone()),
        service: service.clone(),
        metrics: metrics.clone(),
    };
    http::router(service, limits, metrics)
        .merge(graphql)
        .merge(web::router())
        .merge(grpc)
        .layer(axum::middleware::from_fn_with_state(guard, http::guard))
}

/// How long in-flight requests and open streams (ingest streams, change subscriptions)
/// get to finish after shutdown begins.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves until `shutdown` resolves, then stops accepting connections, lets in-flight
/// requests finish (at most [`SHUTDOWN_GRACE`], so a subscriber that never hangs up cannot
/// hold the server) and returns. The caller closes the service afterwards.
pub async fn run(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_limits(service, listener, shutdown, ServerLimits::default()).await
}

/// [`run`] with the given limits.
pub async fn run_with_limits(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
) -> anyhow::Result<()> {
    serve(service, listener, shutdown, limits, None).await
}

/// [`run_with_limits`] over TLS: HTTPS and HTTP/2 over TLS (ALPN `h2` and `http/1.1`) on the
/// listener instead of cleartext.
pub async fn run_with_tls(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
    tls: TlsConfig,
) -> anyhow::Result<()> {
    serve(service, listener, shutdown, limits, Some(tls)).await
}

async fn serve(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServerLimits,
    tls: Option<TlsConfig>,
) -> anyhow::Result<()> {
    let app = router(service, &limits).await;
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    });
    if !connections::serve(app, listener, limits, tls, stopping_rx, SHUTDOWN_GRACE).await {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}
