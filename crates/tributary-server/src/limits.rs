//! What one client may cost the server: connections, time and bytes. Every limit has a
//! `serve` flag (and a `TRIBUTARY_*` environment variable); the defaults let the real
//! clients (the OpenLineage clients, GraphiQL, gql, grpcio) through with room to spare.

use std::time::Duration;

/// Limits of the HTTP front door (HTTP/1.1 and HTTP/2 on one listener).
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Open connections at most; further connections are closed at once. Keep it below the
    /// process's file limit, so the server can still open its own files.
    pub max_connections: usize,
    /// Time a new connection gets to send its first byte, and an HTTP/1 request to send its
    /// whole header (slowloris).
    pub header_read_timeout: Duration,
    /// Time one HTTP request (ingest, GraphQL) gets from its first byte to its answer,
    /// reading the body included. Streams (gRPC) are bounded by their own deadlines.
    pub request_timeout: Duration,
    /// Largest ingest body, compressed or not, and largest decompressed event.
    pub max_ingest_bytes: usize,
    /// Largest GraphQL request body.
    pub max_graphql_bytes: usize,
    /// Origins (`https://ui.example.com`) allowed to make cross-origin requests; a request
    /// from another origin is refused. The server's own origin is always allowed.
    pub allowed_origins: Vec<String>,
}

/// Defaults, shared by [`ServerLimits::default`] and the `serve` flags.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub(crate) const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub(crate) const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
pub(crate) const DEFAULT_MAX_GRAPHQL_BYTES: usize = 4 * 1024 * 1024;

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            max_ingest_bytes: crate::MAX_BODY_BYTES,
            max_graphql_bytes: DEFAULT_MAX_GRAPHQL_BYTES,
            allowed_origins: Vec::new(),
        }
    }
}
