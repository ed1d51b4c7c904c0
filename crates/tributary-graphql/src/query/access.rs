//! Tokens and the audit trail (admin).

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::audit::{AuditEntry, AuditPage};
use crate::types::token::Token;
use async_graphql::{Context, Object, Result};
use tributary_service::AuditFilter;

/// Audit entries per page when `first` is not given.
const DEFAULT_AUDIT_PAGE: usize = 100;

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
