//! Tributary's authorization core: API tokens (generation, the bearer format, hashing and
//! checking), scopes (their textual grammar), principals and the access decisions every front
//! door asks for, and the opaque ids of redacted nodes.
//!
//! Everything here is a pure function of its arguments, except that generating a token or a
//! redaction key reads the operating system's random number generator. This crate does no other
//! IO, no async, and must not depend on storage, transports or the service: the store keeps
//! [`TokenRecord`]s, the transports only extract the `Authorization` header and call
//! [`parse_bearer`], and the service makes the decisions through [`Principal`]. Its only
//! Tributary dependency is `tributary-model` (for [`Timestamp`]).
//!
//! # Tokens
//!
//! A token as handed to a client is `trb_<id>_<secret>`: `<id>` is 16 lowercase hex digits
//! (64 random bits, public, the key a store looks the token up by) and `<secret>` is 64
//! lowercase hex digits (256 bits from the OS CSPRNG, shown once at creation). Clients send it as
//! `Authorization: Bearer trb_…`. Only the SHA-256 of the 32 secret bytes is stored
//! ([`TokenHash`]); a secret of 256 random bits needs neither a salt nor a slow key-derivation
//! function. Hashes are compared in constant time. Neither secrets nor hashes are ever printed by
//! `Debug`.
//!
//! # Scopes
//!
//! ```text
//! scope  = "read" | "admin" | "domain:" domain-id | "ingest" [ "@" limit *( ";" limit ) ]
//! limit  = ( "jobs" | "datasets" ) "=" glob *( "," glob )
//! glob   = namespace [ "*" ]
//! ```
//!
//! - `read`: query lineage, the mesh, schema changes and violations.
//! - `ingest`: write OpenLineage events for any namespace. `ingest@jobs=…;datasets=…` limits the
//!   job namespaces and the output dataset namespaces an event may name (inputs may be
//!   anywhere). A limit left out is not limited: `ingest@jobs=airflow-prod` may write any output
//!   dataset, but only from jobs in `airflow-prod`.
//! - `domain:<id>`: apply that domain's descriptor and the descriptors of its products, and see
//!   its restricted products when reading. Domain ids follow the descriptor rule of
//!   `tributary-mesh`: letters, digits, `.`, `_`, `-` and `/`.
//! - `admin`: everything: tokens, policies, every domain, and whatever the other scopes allow.
//!
//! Scopes are independent otherwise: `ingest` and `domain:<id>` do not imply `read`.
//!
//! A glob is a namespace matched exactly, or, ending in `*`, every namespace that starts with
//! what precedes the `*` (`*` alone matches every namespace). Matching is case-sensitive.
//! Namespaces are written as they are, `:`, `/`, `=` and `@` included
//! (`postgres://db:5432`, `duckdb:///data/warehouse.duckdb`), except for five characters that
//! are percent-escaped: `%` as `%25`, `,` as `%2C`, `;` as `%3B`, `*` as `%2A` and a space as
//! `%20`. Any other `%` sequence, a `*` that does not end a glob, and control characters or other
//! whitespace are refused. Examples:
//!
//! ```text
//! read
//! admin
//! domain:sales
//! ingest
//! ingest@jobs=airflow-prod
//! ingest@jobs=airflow-prod,dbt-*;datasets=postgres://warehouse:5432,s3://lake/sales/*
//! ingest@datasets=kafka://broker1:9092%2Cbroker2:9092
//! ```
//!
//! A scope displays back in this grammar, canonically (`jobs` before `datasets`, escapes in
//! upper case), and serializes with serde as that string.
//!
//! # Decisions
//!
//! [`Principal`] is who is calling: a token's name and scopes, or the explicit open mode
//! ([`Principal::anonymous_open`]) of a server that runs without a token store, where everything
//! is allowed. Each decision returns `Result<(), Denied>`, and [`Denied`] names the scope that
//! was missing. Authentication failures are a different answer ([`Unauthenticated`]: HTTP 401,
//! gRPC `UNAUTHENTICATED`) from a known caller without the scope ([`Denied`]: 403,
//! `PERMISSION_DENIED`).

use tributary_model::Timestamp;

mod principal;
mod redact;
mod scope;
mod token;

#[cfg(test)]
mod tests;

pub use principal::{Credential, Denied, Principal};
pub use redact::{RedactionKey, redacted_id};
pub use scope::{IngestGrant, NamespaceGlob, Scope};
pub use token::{
    MAX_TOKEN_NAME_CHARS, Secret, TOKEN_PREFIX, TOKEN_RECORD_FORMAT, TokenHash, TokenId, TokenRecord, Unauthenticated,
    constant_time_eq, generate_token, parse_bearer, parse_token,
};

/// What can go wrong in this crate: a scope, token name or token id that does not follow its
/// grammar, or the operating system's random number generator failing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("empty scope: expected `read`, `ingest`, `ingest@…`, `domain:<id>` or `admin`")]
    EmptyScope,
    #[error("unknown scope `{scope}`: expected `read`, `ingest`, `ingest@…`, `domain:<id>` or `admin`")]
    UnknownScope { scope: String },
    #[error("invalid scope `{scope}`: {reason}")]
    InvalidScope { scope: String, reason: String },
    #[error("invalid token name `{name}`: {reason}")]
    InvalidTokenName { name: String, reason: String },
    #[error("a token needs at least one scope")]
    NoScopes,
    #[error("token expiry {} is not after its creation {}", .expires_at.to_rfc3339(), .created_at.to_rfc3339())]
    ExpiryNotAfterCreation { created_at: Timestamp, expires_at: Timestamp },
    #[error("invalid token id `{id}`: expected 16 lowercase hex digits")]
    InvalidTokenId { id: String },
    #[error("invalid token hash: expected 64 lowercase hex digits")]
    InvalidTokenHash,
    #[error("the operating system's random number generator failed: {message}")]
    Randomness { message: String },
}

/// Fills `bytes` from the operating system's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| AuthError::Randomness { message: error.to_string() })?;
    Ok(bytes)
}

/// Lowercase hex of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex digits; anything else is `None`.
fn from_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(bytes)
}
