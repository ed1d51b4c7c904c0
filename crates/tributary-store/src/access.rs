//! Access records: API tokens (`K`), the audit trail (`U`) and the redaction key (`M`).
//! None of them is derived from events, so `reindex` copies them as they are
//! ([`Store::copy_access_records`]).

use serde::Serialize;
use serde::de::DeserializeOwned;
use tributary_model::{AuditKind, AuditRecord, Timestamp, Versioned};

use crate::keys::*;
use crate::{EventWrite, Result, Store, StoreError, decode_record, encode_blob};

/// A page of the audit trail, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only entries at or after this time.
    pub since: Option<Timestamp>,
    /// Only entries before this time.
    pub until: Option<Timestamp>,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<AuditKind>,
    /// Continue after this cursor (from the previous page).
    pub after: Option<String>,
    /// Entries in the page.
    pub limit: usize,
    /// Keys looked at before the page ends early (with a cursor), so a selective filter over
    /// a long trail still answers in bounded time.
    pub scan_budget: usize,
}

/// What [`Store::audit`] found: the entries and, when there may be more, where to go on.
#[derive(Clone, Debug, Default)]
pub struct AuditPage {
    pub entries: Vec<AuditRecord>,
    pub next: Option<String>,
}

fn encode<T: Serialize>(key: &[u8], record: &T, compress: bool) -> Result<Vec<u8>> {
    let value = serde_json::to_vec(record).map_err(|error| StoreError::Encode {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: error.to_string(),
    })?;
    Ok(encode_blob(&value, compress))
}

/// Ids of entries recorded on their own have the top bit set; an event's entry uses its
/// sequence (far below 2^63), so the two can never share a key, whatever their kind and time.
fn generated_audit_id(id: u64) -> u64 {
    id | (1 << 63)
}

fn cursor_of(key: &[u8]) -> String {
    key[1..].iter().map(|byte| format!("{byte:02x}")).collect()
}

fn key_of_cursor(cursor: &str) -> Option<Vec<u8>> {
    if cursor.len() != 34 || !cursor.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut key = vec![PREFIX_AUDIT];
    for pair in cursor.as_bytes().chunks_exact(2) {
        key.push(u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?);
    }
    Some(key)
}

impl Store {
    /// Stores a token record under its id; with `durable`, flushed before returning.
    pub fn put_token<T: Serialize>(&self, id: &str, record: &T, durable: bool) -> Result<()> {
        let key = token_key(id);
        let mut batch = crate::Writes::default();
        batch.insert(key.clone(), encode(&key, record, self.compress)?);
        self.write_batch(batch)?;
        if durable { self.flush() } else { Ok(()) }
    }

    /// Stores a token record and its audit entry in one atomic, durable write.
    pub fn put_token_audited<T: Serialize>(&self, id: &str, record: &T, audit: &AuditRecord) -> Result<()> {
        let key = token_key(id);
        let mut batch = crate::Writes::default();
        batch.insert(key.clone(), encode(&key, record, self.compress)?);
        self.add_audit(&mut batch, audit)?;
        self.write_batch(batch)?;
        self.flush()
    }

    /// Adds an audit entry (with a fresh id) to a batch.
    pub(crate) fn add_audit(&self, batch: &mut crate::Writes, audit: &AuditRecord) -> Result<()> {
        let key = audit_key(audit.at, audit.kind.code(), generated_audit_id(self.db()?.generate_id()?));
        batch.insert(&key, crate::codec::encode_audit(audit));
        Ok(())
    }

    /// Every stored token record.
    pub fn tokens<T: DeserializeOwned + Versioned>(&self) -> Result<Vec<T>> {
        self.scan_entries([PREFIX_TOKEN])
            .map(|entry| {
                let (key, value) = entry?;
                decode_record(&key, &value)
            })
            .collect()
    }

    /// Whether any token was ever created in this store (revoked ones count: revoking the
    /// last token must not open the server).
    pub fn has_tokens(&self) -> Result<bool> {
        Ok(self.db()?.scan_prefix([PREFIX_TOKEN]).next().transpose()?.is_some())
    }

    /// Records an audit entry on its own (applies, refusals, token operations) and makes it
    /// durable.
    pub fn put_audit(&self, record: &AuditRecord) -> Result<()> {
        let key = audit_key(record.at, record.kind.code(), generated_audit_id(self.db()?.generate_id()?));
        let mut batch = crate::Writes::default();
        batch.insert(&key[..], crate::codec::encode_audit(record));
        self.write_batch(batch)?;
        self.flush()
    }

    /// A page of the audit trail, newest first; `keep` filters decoded entries (by actor).
    pub fn audit(&self, query: &AuditQuery, keep: impl Fn(&AuditRecord) -> bool) -> Result<AuditPage> {
        let low = match query.since {
            Some(since) => audit_key(since, 0, 0).to_vec(),
            None => vec![PREFIX_AUDIT],
        };
        let mut high = match query.until {
            Some(until) => audit_key(until, 0, 0).to_vec(),
            None => vec![PREFIX_AUDIT + 1],
        };
        if let Some(after) = &query.after {
            let key = key_of_cursor(after).ok_or_else(|| StoreError::Corrupt {
                key: "audit cursor".into(),
                reason: format!("`{after}` is not a cursor this server gave out"),
            })?;
            high = high.min(key);
        }
        let mut page = AuditPage::default();
        if low >= high {
            return Ok(page);
        }
        let mut scanned = 0usize;
        // Audit keys: prefix, sortable time, kind, id (18 bytes); the search works to the
        // precision of the time (bounds given as keys keep all 18).
        for entry in crate::reverse::Descending::new(&self.db()?, &low, &high, 9) {
            let (key, value) = entry?;
            scanned += 1;
            let kind_code = key.get(9).copied().unwrap_or(0);
            let kind_kept = query.kinds.is_empty() || query.kinds.iter().any(|kind| kind.code() == kind_code);
            if kind_kept {
                let record: AuditRecord = crate::decode_stored(&key, &value, crate::codec::decode_audit)?;
                if keep(&record) {
                    page.entries.push(record);
                }
            }
            if page.entries.len() >= query.limit.max(1) || scanned >= query.scan_budget.max(1) {
                page.next = Some(cursor_of(&key));
                break;
            }
        }
        Ok(page)
    }

    /// The secret of this store that keys redacted ids: made on first use, then kept.
    pub fn redaction_key(&self, generate: impl FnOnce() -> [u8; 32]) -> Result<[u8; 32]> {
        let db = self.db()?;
        let read = |stored: sled::IVec| {
            <[u8; 32]>::try_from(stored.as_ref()).map_err(|_| StoreError::Corrupt {
                key: "Mredaction".into(),
                reason: format!("expected 32 bytes, found {}", stored.len()),
            })
        };
        if let Some(stored) = db.get(META_REDACTION_KEY)? {
            return read(stored);
        }
        let key = generate();
        // Another caller may have made one meanwhile: keep whichever was stored first.
        let swapped = self.write_keys(&[META_REDACTION_KEY], |db| {
            Ok(db.compare_and_swap(META_REDACTION_KEY, None as Option<&[u8]>, Some(&key[..]))?)
        })?;
        self.flush()?;
        match swapped {
            Ok(()) => Ok(key),
            Err(existing) => existing.current.map_or(Ok(key), read),
        }
    }

    /// Copies what `reindex` must keep and cannot derive: tokens, the audit trail, the
    /// redaction key, the consumed log offsets and rejected records (`Q`, `X`), and the
    /// schema changes seen but not recorded yet (`W`).
    pub fn copy_access_records(&self, from: &Store) -> Result<u64> {
        const BATCH: usize = 4096;
        let mut copied = 0;
        let mut batch = crate::Writes::default();
        for prefix in
            [PREFIX_TOKEN, PREFIX_AUDIT, PREFIX_SOURCE_OFFSET, PREFIX_SOURCE_REJECTION, PREFIX_SEEN_SCHEMA_CHANGE]
        {
            for entry in from.scan_raw(prefix) {
                let (key, value) = entry?;
                batch.insert(key, value);
                copied += 1;
                if batch.0.len() == BATCH {
                    self.write_batch(std::mem::take(&mut batch))?;
                }
            }
        }
        if let Some(key) = from.db()?.get(META_REDACTION_KEY)? {
            batch.insert(META_REDACTION_KEY, key);
        }
        self.write_batch(batch)?;
        self.flush()?;
        Ok(copied)
    }
}

impl EventWrite {
    /// The audit entry of the event being written (its id is the event's sequence).
    pub fn put_event_audit(&mut self, record: &AuditRecord, sequence: u64) -> Result<()> {
        let key = audit_key(record.at, AuditKind::EventStored.code(), sequence);
        self.batch.insert(&key, crate::codec::encode_audit(record));
        Ok(())
    }
}
