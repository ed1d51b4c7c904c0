//! Descriptor applies.

use crate::error::gql_error;
use crate::scalars::service;
use crate::types::apply_result::{ApplyResult, apply_result};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct MeshMutation;

#[Object]
impl MeshMutation {
    /// Applies a data product descriptor (YAML or JSON text). Blocking policy violations
    /// reject it (error code POLICY_VIOLATION, every reason in `extensions.violations`).
    async fn apply_product(&self, context: &Context<'_>, descriptor: String) -> Result<ApplyResult> {
        Ok(apply_result(service(context).apply_product(descriptor).await.map_err(gql_error)?))
    }

    /// Applies a domain descriptor (YAML or JSON text).
    async fn apply_domain(&self, context: &Context<'_>, descriptor: String) -> Result<ApplyResult> {
        Ok(apply_result(service(context).apply_domain(descriptor).await.map_err(gql_error)?))
    }
}
