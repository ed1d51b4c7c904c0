//! The accept loop: one task per connection, HTTP/1.1 or HTTP/2 (prior knowledge, as gRPC
//! clients speak it) on the same port, with a connection limit, a first-byte and header
//! timeout, and a graceful shutdown. `axum::serve` offers none of these limits. With TLS,
//! each connection's task does the handshake first; the first byte and the handshake share
//! one deadline, so a client that never finishes its handshake gives its slot back.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use crate::ServerLimits;
use crate::tls::TlsConfig;

/// Serves `app` on `listener` (over TLS when `tls` is given) until `stopping` turns true,
/// then lets open connections finish their requests for at most `grace`; returns whether
/// they all did.
pub(crate) async fn serve(
    app: axum::Router,
    listener: TcpListener,
    limits: ServerLimits,
    tls: Option<TlsConfig>,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
) -> bool {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Duration::from_secs(30)).max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = until_stopping(&mut stopping) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                warn!(limit = limits.max_connections, "connection limit reached; closing new connections");
                refused_logged = std::time::Instant::now();
            }
            drop(stream);
            continue;
        };
        // Answers are written in one go; Nagle's algorithm would hold their last segment back
        // for a delayed ACK (40 ms per call).
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        let app = app.clone();
        let stopping = stopping.clone();
        let first_byte = limits.header_read_timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            serve_connection(builder, app, stream, tls, first_byte, stopping).await;
            debug!(%peer, "connection closed");
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    tokio::time::timeout(grace, permits.acquire_many(all)).await.is_ok()
}

/// A TLS connection starts with a handshake record (RFC 8446, section 5.1).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

async fn serve_connection(
    builder: Arc<Builder<TokioExecutor>>,
    app: axum::Router,
    stream: TcpStream,
    tls: Option<TlsConfig>,
    first_byte: Duration,
    stopping: watch::Receiver<bool>,
) {
    // A connection that sends nothing holds a slot: give it `first_byte` to start, and to
    // finish its TLS handshake. (HTTP/1 headers then have `header_read_timeout`; HTTP/2
    // pings idle peers.)
    let deadline = tokio::time::Instant::now() + first_byte;
    let mut probe = [0u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut probe)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return,
    }
    let Some(tls) = tls else {
        return serve_http(&builder, app, stream, stopping).await;
    };
    if probe[0] != TLS_HANDSHAKE_RECORD {
        refuse_plain_http(stream, deadline).await;
        return;
    }
    match tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => serve_http(&builder, app, stream, stopping).await,
        Ok(Err(error)) => debug!(error = %error, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake not finished within the first-byte timeout"),
    }
}

/// Answers a plain HTTP request on the TLS port with a 400 that says so (as Go's and nginx's
/// servers do) instead of a bare reset, then closes.
async fn refuse_plain_http(mut stream: TcpStream, deadline: tokio::time::Instant) {
    const BODY: &str = "this port speaks HTTPS only: use an https:// address\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout_at(deadline, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Closing with the request still unread would reset the connection, and the client
        // could lose the answer: read what it sent (bounded by the deadline) first.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

async fn serve_http<S>(
    builder: &Builder<TokioExecutor>,
    app: axum::Router,
    stream: S,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => {
            if let Err(error) = served {
                debug!(error = %error, "connection ended with an error");
            }
        }
        () = until_stopping(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            if let Err(error) = connection.await {
                debug!(error = %error, "connection ended with an error during shutdown");
            }
        }
    }
}

/// Resolves once `stopping` is true (or its sender is gone).
async fn until_stopping(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it at once.
    let _stopped = stopping.wait_for(|stopping| *stopping).await.is_ok();
}
