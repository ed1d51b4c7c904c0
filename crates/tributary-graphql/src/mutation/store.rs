//! The store's maintenance (admin).

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::compaction::StoreCompaction;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct StoreMutation;

#[Object]
impl StoreMutation {
    /// Starts compacting the store while the server goes on serving and ingesting (needs
    /// `admin`): the store is copied, in key order, into a new file that holds only its live
    /// data, which then replaces it. Answers at once; `storeCompaction` follows it. Needs free
    /// disk for the copy (about the size of the live data). UNAVAILABLE while one runs.
    async fn compact_store(&self, context: &Context<'_>) -> Result<StoreCompaction> {
        Ok(service(context).start_compaction().map_err(gql_error)?.into())
    }
}
