//! `AuditEntry` and `AuditPage`: the audit trail.

use async_graphql::SimpleObject;
use tributary_service::model::AuditRecord;

/// One entry of the audit trail.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub at: String,
    /// TOKEN, OPEN (no token, server without authentication) or LOCAL (a command on the store, or the server acting on its configuration: an automatic compaction).
    pub actor_kind: String,
    pub token_id: Option<String>,
    pub actor_name: String,
    /// EVENT_STORED, DESCRIPTOR_APPLIED, APPLY_REJECTED, TOKEN_CREATED, TOKEN_REVOKED or
    /// STORE_COMPACTED.
    pub kind: String,
    /// What it was about: `event 42 (run of job etl/build_orders)`, `product sales.orders`.
    pub subject: String,
    /// The event's sequence, for EVENT_STORED.
    pub sequence: Option<u64>,
    /// The descriptor version, for DESCRIPTOR_APPLIED.
    pub version: Option<u64>,
    /// Reasons of a refused apply; scopes of a created token.
    pub details: Vec<String>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(record: AuditRecord) -> Self {
        Self {
            at: record.at.to_rfc3339(),
            actor_kind: record.actor.via.as_str().to_owned(),
            token_id: record.actor.token_id,
            actor_name: record.actor.name,
            kind: record.kind.as_str().to_owned(),
            subject: record.subject,
            sequence: record.sequence,
            version: record.version,
            details: record.details,
        }
    }
}

/// A page of the audit trail, newest first.
#[derive(SimpleObject)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}
