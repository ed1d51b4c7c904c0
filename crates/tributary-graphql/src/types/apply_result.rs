//! `ApplyResult`: the outcome of applying a descriptor.

use crate::types::violation::{Violation, violation};
use async_graphql::SimpleObject;
use tributary_service::ApplyOutcome;

#[derive(SimpleObject)]
pub struct ApplyResult {
    pub id: String,
    pub version: u64,
    /// False when the same descriptor was applied before: nothing changed.
    pub changed: bool,
    /// Non-blocking findings (recorded, not rejected).
    pub violations: Vec<Violation>,
}

pub(crate) fn apply_result(outcome: ApplyOutcome) -> ApplyResult {
    ApplyResult {
        id: outcome.id,
        version: outcome.version,
        changed: outcome.changed,
        violations: outcome.violations.iter().map(|v| violation(v, None)).collect(),
    }
}
