//! Tokens and the audit trail: `tokens`, `auditLog`, `createToken`, `revokeToken`. Every one
//! needs an `admin` token (or a server running without authentication).

use async_graphql::{Context, Object, Result, SimpleObject};
use tributary_service::model::{AuditRecord, Timestamp};
use tributary_service::{AuditFilter, TokenView, parse_expiry};

use crate::error::gql_error;
use crate::scalars::service;

/// Audit entries per page when `first` is not given.
const DEFAULT_AUDIT_PAGE: usize = 100;

/// An API token (never its secret).
#[derive(SimpleObject)]
pub struct Token {
    /// 16 hex digits: the middle part of `trb_<id>_<secret>`.
    id: String,
    name: String,
    /// `read`, `ingest`, `ingest@jobs=…;datasets=…`, `domain:<id>`, `admin`.
    scopes: Vec<String>,
    created_by: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<TokenView> for Token {
    fn from(view: TokenView) -> Self {
        Self {
            id: view.id,
            name: view.name,
            scopes: view.scopes,
            created_by: view.created_by,
            created_at: view.created_at.to_rfc3339(),
            expires_at: view.expires_at.map(Timestamp::to_rfc3339),
            last_used_at: view.last_used_at.map(Timestamp::to_rfc3339),
            revoked_at: view.revoked_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// A token just created.
#[derive(SimpleObject)]
pub struct CreatedToken {
    /// The token to hand to the client (`trb_<id>_<secret>`): shown this once, never stored.
    token: String,
    details: Token,
}

/// One entry of the audit trail.
#[derive(SimpleObject)]
pub struct AuditEntry {
    at: String,
    /// TOKEN, OPEN (no token, server without authentication) or LOCAL (a command on the store).
    actor_kind: String,
    token_id: Option<String>,
    actor_name: String,
    /// EVENT_STORED, DESCRIPTOR_APPLIED, APPLY_REJECTED, TOKEN_CREATED or TOKEN_REVOKED.
    kind: String,
    /// What it was about: `event 42 (run of job etl/build_orders)`, `product sales.orders`.
    subject: String,
    /// The event's sequence, for EVENT_STORED.
    sequence: Option<u64>,
    /// The descriptor version, for DESCRIPTOR_APPLIED.
    version: Option<u64>,
    /// Reasons of a refused apply; scopes of a created token.
    details: Vec<String>,
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
    entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; null on the last one.
    next_cursor: Option<String>,
}

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// Every API token, revoked ones included (needs `admin`).
    async fn tokens(&self, context: &Context<'_>) -> Result<Vec<Token>> {
        Ok(service(context).tokens().map_err(gql_error)?.into_iter().map(Token::from).collect())
    }

    /// Who stored, applied, created or revoked what, newest first (needs `admin`). `actor` is
    /// a token id or an actor name; `kinds` audit kinds; `since`/`until` RFC 3339 times.
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        context: &Context<'_>,
        actor: Option<String>,
        kinds: Option<Vec<String>>,
        since: Option<String>,
        until: Option<String>,
        first: Option<u32>,
        after: Option<String>,
    ) -> Result<AuditPage> {
        let limit = first.map_or(DEFAULT_AUDIT_PAGE, |first| first as usize);
        let filter = AuditFilter::from_request(
            actor.as_deref().unwrap_or(""),
            &kinds.unwrap_or_default(),
            since.as_deref().unwrap_or(""),
            until.as_deref().unwrap_or(""),
            after.as_deref().unwrap_or(""),
            limit,
        )
        .map_err(gql_error)?;
        let page = service(context).audit(filter).await.map_err(gql_error)?;
        Ok(AuditPage { entries: page.entries.into_iter().map(AuditEntry::from).collect(), next_cursor: page.next })
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Creates an API token (needs `admin`). The answer holds the secret, shown this once.
    async fn create_token(
        &self,
        context: &Context<'_>,
        name: String,
        scopes: Vec<String>,
        expires_at: Option<String>,
    ) -> Result<CreatedToken> {
        let expires_at = parse_expiry(expires_at.as_deref().unwrap_or("")).map_err(gql_error)?;
        let created = service(context).create_token(name, scopes, expires_at).await.map_err(gql_error)?;
        Ok(CreatedToken { token: created.token, details: created.view.into() })
    }

    /// Revokes a token at once (needs `admin`).
    async fn revoke_token(&self, context: &Context<'_>, id: String) -> Result<Token> {
        Ok(service(context).revoke_token(id).await.map_err(gql_error)?.into())
    }
}
