//! Stable opaque ids for nodes a caller may not see.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{AuthError, random_bytes, to_hex};

/// The server's secret for [`redacted_id`]: 256 random bits, generated once per store and kept
/// there, so redacted ids are stable across restarts but cannot be recomputed (or guessed from a
/// list of likely dataset names) without it. `Debug` does not print it.
#[derive(Clone)]
pub struct RedactionKey([u8; 32]);

impl RedactionKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Result<Self, AuthError> {
        random_bytes().map(Self)
    }

    /// A key read back from where it was kept.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, to keep.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for RedactionKey {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("RedactionKey(<redacted>)")
    }
}

/// The opaque id a redacted dataset is shown under: 32 lowercase hex digits, the first 128 bits
/// of HMAC-SHA-256 under `key` of `tributary-redacted-v1`, a NUL, the namespace's length in bytes
/// (8 bytes, big-endian), the namespace and the name. The same dataset always gets the same id
/// under one key (so lineage counts and impact groupings stay honest across answers), different
/// datasets get different ids (the length prefix keeps `("a", "bc")` apart from `("ab", "c")`),
/// and without the key the id reveals nothing about the name.
pub fn redacted_id(namespace: &str, name: &str, key: &RedactionKey) -> String {
    let namespace_length = (namespace.len() as u64).to_be_bytes();
    let mac =
        hmac_sha256(&key.0, &[b"tributary-redacted-v1\0", &namespace_length, namespace.as_bytes(), name.as_bytes()]);
    to_hex(&mac[..16])
}

/// HMAC-SHA-256 (RFC 2104) of the concatenated `message` parts, for keys of at most one block
/// (64 bytes), which is all this crate uses.
pub(crate) fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    assert!(key.len() <= BLOCK, "hmac keys here are at most one block");
    let mut padded = [0u8; BLOCK];
    padded[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(padded.map(|byte| byte ^ 0x36));
    for part in message {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(padded.map(|byte| byte ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}
