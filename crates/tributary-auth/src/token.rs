//! API tokens: generation, the `trb_<id>_<secret>` format, the stored record and its check.

use std::fmt;

use sha2::{Digest, Sha256};
use tributary_model::Timestamp;

use crate::{AuthError, Scope, from_lower_hex, random_bytes, to_hex};

/// What every token starts with, so scanners and people can tell a Tributary token.
pub const TOKEN_PREFIX: &str = "trb_";

/// The `format` of the [`TokenRecord`]s this build writes.
pub const TOKEN_RECORD_FORMAT: u8 = 1;

/// The longest token name, in characters.
pub const MAX_TOKEN_NAME_CHARS: usize = 100;

const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A token's public id: 16 lowercase hex digits (64 random bits). The key a store keeps the
/// [`TokenRecord`] under, shown in listings and audit entries; knowing it grants nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        match from_lower_hex::<ID_BYTES>(text) {
            Some(_) => Ok(Self(text.to_owned())),
            None => Err(AuthError::InvalidTokenId { id: text.to_owned() }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(&self.0)
    }
}

impl TryFrom<String> for TokenId {
    type Error = AuthError;

    fn try_from(text: String) -> Result<Self, AuthError> {
        Self::parse(&text)
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

/// A token's secret: 256 bits from the operating system's CSPRNG. It exists in memory only
/// between a client presenting it (or its creation) and its check; it is never stored, and
/// `Debug` does not print it. It has no `Display`, `Clone` or `PartialEq`: the only ways out are
/// [`Secret::reveal`] (once, to the creator) and [`Secret::hash`].
pub struct Secret([u8; SECRET_BYTES]);

impl Secret {
    /// The whole token as a client sends it, `trb_<id>_<64 hex digits>`. Call it once, to show
    /// the token to whoever created it.
    pub fn reveal(&self, id: &TokenId) -> String {
        format!("{TOKEN_PREFIX}{id}_{}", to_hex(&self.0))
    }

    /// The SHA-256 of the secret's bytes: what a [`TokenRecord`] stores.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0).into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("Secret(<redacted>)")
    }
}

/// The SHA-256 of a token's secret. Serialized as 64 lowercase hex digits; `Debug` does not print
/// it, and equality is constant-time.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for TokenHash {}

impl fmt::Debug for TokenHash {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("TokenHash(<redacted>)")
    }
}

impl TryFrom<String> for TokenHash {
    type Error = AuthError;

    fn try_from(text: String) -> Result<Self, AuthError> {
        from_lower_hex::<32>(&text).map(Self).ok_or(AuthError::InvalidTokenHash)
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> String {
        to_hex(&hash.0)
    }
}

/// Equality of two byte strings in time that depends only on their lengths, not on where they
/// differ. Lengths are not secret here (hashes have a fixed length), so different lengths answer
/// `false` at once.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let difference = left.iter().zip(right).fold(0u8, |difference, (l, r)| difference | (l ^ r));
    // `black_box` keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

/// A stored token: everything but the secret, of which only the hash is kept.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// [`TOKEN_RECORD_FORMAT`] when written by this build.
    pub format: u8,
    pub id: TokenId,
    /// Who or what the token is for (`airflow-prod`); shown in listings and audit entries.
    pub name: String,
    pub hash: TokenHash,
    /// At least one.
    pub scopes: Vec<Scope>,
    /// The principal name of whoever created it.
    pub created_by: String,
    pub created_at: Timestamp,
    /// After `created_at` when set; `None` never expires.
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    /// Set once; a revoked token stays revoked.
    pub revoked_at: Option<Timestamp>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.debug_struct("TokenRecord")
            .field("format", &self.format)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("hash", &self.hash)
            .field("scopes", &self.scopes.iter().map(ToString::to_string).collect::<Vec<_>>())
            .field("created_by", &self.created_by)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// Why a presented token does not authenticate anyone: HTTP 401 (with
/// `WWW-Authenticate: Bearer`), gRPC `UNAUTHENTICATED`, GraphQL `UNAUTHENTICATED`. Messages never
/// contain the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No `Authorization` header (or metadata) on a server that requires one.
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// A header that is not `Bearer trb_<id>_<secret>`.
    #[error("malformed bearer token: expected `Authorization: Bearer trb_<id>_<secret>`")]
    Malformed,
    /// No token has this id, or the secret is not its secret. The two are one answer so that a
    /// caller cannot learn which ids exist from the message.
    #[error("unknown token")]
    UnknownToken,
    #[error("token `{id}` expired at {}", .at.to_rfc3339())]
    Expired { id: TokenId, at: Timestamp },
    #[error("token `{id}` was revoked at {}", .at.to_rfc3339())]
    Revoked { id: TokenId, at: Timestamp },
}

/// Creates a token: a new id and secret from the OS CSPRNG, and the record to store (with the
/// secret's hash only). Show `secret.reveal(&record.id)` to the creator once; it cannot be
/// recovered afterwards. The name must be 1 to [`MAX_TOKEN_NAME_CHARS`] characters without
/// control characters or surrounding whitespace; there must be at least one scope; an expiry
/// must be after `created_at`. A store must still refuse an id it already holds (64 random bits
/// make that a one-in-billions event per pair, not an impossibility).
pub fn generate_token(
    name: &str,
    scopes: Vec<Scope>,
    created_by: &str,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
) -> Result<(Secret, TokenRecord), AuthError> {
    check_token_name(name)?;
    if scopes.is_empty() {
        return Err(AuthError::NoScopes);
    }
    if let Some(expires_at) = expires_at
        && expires_at <= created_at
    {
        return Err(AuthError::ExpiryNotAfterCreation { created_at, expires_at });
    }
    let id = TokenId(to_hex(&random_bytes::<ID_BYTES>()?));
    let secret = Secret(random_bytes::<SECRET_BYTES>()?);
    let record = TokenRecord {
        format: TOKEN_RECORD_FORMAT,
        id,
        name: name.to_owned(),
        hash: secret.hash(),
        scopes,
        created_by: created_by.to_owned(),
        created_at,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((secret, record))
}

fn check_token_name(name: &str) -> Result<(), AuthError> {
    let invalid =
        |reason: &str| AuthError::InvalidTokenName { name: name.escape_debug().to_string(), reason: reason.to_owned() };
    if name.trim().is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.chars().count() > MAX_TOKEN_NAME_CHARS {
        return Err(invalid(&format!("longer than {MAX_TOKEN_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters"));
    }
    if name.trim() != name {
        return Err(invalid("must not start or end with whitespace"));
    }
    Ok(())
}

/// Splits a token as a client holds it, `trb_<16 hex digits>_<64 hex digits>` (lowercase), into
/// its id and secret; anything else is `None`.
pub fn parse_token(token: &str) -> Option<(TokenId, Secret)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = TokenId::parse(id).ok()?;
    let secret = Secret(from_lower_hex::<SECRET_BYTES>(secret)?);
    Some((id, secret))
}

/// Reads an `Authorization` header value (or gRPC `authorization` metadata value),
/// `Bearer <token>` with the scheme in any case (RFC 9110), and splits the token with
/// [`parse_token`]. `None` means malformed ([`Unauthenticated::Malformed`]).
pub fn parse_bearer(header_value: &str) -> Option<(TokenId, Secret)> {
    let (scheme, token) = header_value.trim().split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    parse_token(token.trim_start_matches([' ', '\t']))
}

impl tributary_model::Versioned for TokenRecord {
    fn format(&self) -> u8 {
        self.format
    }
}

impl TokenRecord {
    /// Whether `secret` is this token's and the token may be used at `now`. The secret is checked
    /// first (in constant time), so a caller without it learns nothing about expiry or
    /// revocation. A token expires at `expires_at` exactly.
    pub fn check(&self, secret: &Secret, now: Timestamp) -> Result<(), Unauthenticated> {
        if secret.hash() != self.hash {
            return Err(Unauthenticated::UnknownToken);
        }
        if let Some(at) = self.revoked_at {
            return Err(Unauthenticated::Revoked { id: self.id.clone(), at });
        }
        match self.expires_at {
            Some(at) if now >= at => Err(Unauthenticated::Expired { id: self.id.clone(), at }),
            _ => Ok(()),
        }
    }

    /// Revokes the token at `now`; revoking again keeps the first time. Returns whether this call
    /// revoked it.
    pub fn revoke(&mut self, now: Timestamp) -> bool {
        if self.revoked_at.is_some() {
            return false;
        }
        self.revoked_at = Some(now);
        true
    }

    /// Records a use at `now` (never moving `last_used_at` backwards).
    pub fn mark_used(&mut self, now: Timestamp) {
        if self.last_used_at.is_none_or(|last| last < now) {
            self.last_used_at = Some(now);
        }
    }
}
