//! The store's maintenance (admin).

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::compaction::StoreCompaction;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct StoreQuery;

#[Object]
impl StoreQuery {
    /// Where the store's online compaction stands (needs `admin`; see `compactStore`).
    async fn store_compaction(&self, context: &Context<'_>) -> Result<StoreCompaction> {
        Ok(service(context).compaction().map_err(gql_error)?.into())
    }
}
