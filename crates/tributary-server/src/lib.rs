//! The Tributary server: wires the service to HTTP ingest, GraphQL and gRPC on one
//! listener (HTTP/1.1 and HTTP/2 cleartext), and the `tributary` command line.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests can serve on port 0.

pub mod cli;
mod http;
mod import;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

pub use http::MAX_BODY_BYTES;
pub use tributary_service::{Service, ServiceConfig, StoreConfig, governance, model};

/// Every route: `POST /api/v1/lineage`, `/graphql`, `/healthz`, and the gRPC services.
pub async fn router(service: Service) -> axum::Router {
    let grpc = tributary_grpc::routes(service.clone()).await.into_axum_router();
    http::router(service.clone()).merge(tributary_graphql::router(service)).merge(grpc)
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
    use axum::serve::ListenerExt;
    let app = router(service).await;
    // Answers are written in one go; Nagle's algorithm would hold their last segment back
    // for a delayed ACK (40 ms per call).
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let serving = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let deadline = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = serving => served.context("serving")?,
        () = deadline => tracing::warn!("connections still open after the shutdown grace period; closing them"),
    }
    Ok(())
}
