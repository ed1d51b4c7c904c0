//! `PortFreshness`: an output port against its freshness SLA.

use crate::scalars::NodeRef;
use crate::types::mesh_edge::dataset_ref;
use async_graphql::SimpleObject;
use tributary_service::FreshnessView;
use tributary_service::model;

#[derive(SimpleObject)]
pub struct PortFreshness {
    pub product: String,
    pub port: String,
    pub dataset: NodeRef,
    pub sla_seconds: Option<u64>,
    pub last_success: Option<String>,
    /// FRESH, STALE, NEVER_WRITTEN or NO_SLA.
    pub status: String,
}

pub(crate) fn freshness(view: FreshnessView) -> PortFreshness {
    PortFreshness {
        product: view.product,
        port: view.port,
        dataset: dataset_ref(&view.dataset),
        sla_seconds: view.sla_seconds,
        last_success: view.last_success.map(model::Timestamp::to_rfc3339),
        status: view.status.as_str().to_owned(),
    }
}
