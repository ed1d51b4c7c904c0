//! Token creation and revocation (admin).

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::token::{CreatedToken, Token};
use async_graphql::{Context, Object, Result};
use tributary_service::parse_expiry;

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
