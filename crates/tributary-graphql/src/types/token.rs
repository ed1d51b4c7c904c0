//! `Token`: an API token as listed (never its secret) and `CreatedToken`.

use async_graphql::SimpleObject;
use tributary_service::TokenView;
use tributary_service::model::Timestamp;

/// An API token (never its secret).
#[derive(SimpleObject)]
pub struct Token {
    /// 16 hex digits: the middle part of `trb_<id>_<secret>`.
    pub id: String,
    pub name: String,
    /// `read`, `ingest`, `ingest@jobs=…;datasets=…`, `domain:<id>`, `admin`.
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
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
    pub token: String,
    pub details: Token,
}
