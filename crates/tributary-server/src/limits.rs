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

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_ingest_bytes: 64 * 1024 * 1024,
            max_graphql_bytes: 4 * 1024 * 1024,
            allowed_origins: Vec::new(),
        }
    }
}
