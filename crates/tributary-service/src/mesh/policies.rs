//! Policies over the mesh: the graph findings (cross-domain reads, PII reaching a public port),
//! the open violations and their filter, freshness of output ports.

use std::collections::BTreeSet;

use tributary_graph::LineageIndex;
use tributary_mesh::{Policy, PolicyKind, Subject, Violation, pii_columns};
use tributary_model::{DatasetId, JobId, Timestamp};
use tributary_store::Store;

use super::MeshState;

/// Most columns a PII reach walk returns from one column.
const PII_REACH_LIMIT: usize = 100_000;
use crate::visibility::Visibility;
use crate::{Service, ServiceError, Shared};

/// A column a PII seed reaches: (dataset, column, the columns from the seed to it).
type ColumnReached = (DatasetId, String, Vec<(DatasetId, String)>);

/// How many recent runs of a dataset are searched for its last successful write.
const FRESHNESS_RUNS: usize = 50;

impl MeshState {
    /// Cross-domain reads of one job that bypass output ports.
    fn cross_domain_violations(
        &self,
        policy: &Policy,
        job: &JobId,
        inputs: &[DatasetId],
        outputs: &[DatasetId],
    ) -> Vec<Violation> {
        let Some(job_domain) = self.job_domain(job, outputs) else { return Vec::new() };
        if !policy.applies_to(job_domain) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for input in inputs {
            let Some(input_domain) = self.dataset_domain(input) else { continue };
            if input_domain == job_domain {
                continue;
            }
            let through_port = self.membership(input).is_some_and(|m| m.port.is_some());
            if !through_port {
                let mut violation = Violation::new(
                    policy,
                    Subject::Job(job.clone()),
                    format!(
                        "job `{job}` of domain `{job_domain}` reads `{input}` of domain `{input_domain}`, which is not an output port of any `{input_domain}` product"
                    ),
                );
                violation.dataset = Some(input.clone());
                found.push(violation);
            }
        }
        found
    }

    /// PII columns reaching output ports of public products.
    /// A store error fails the evaluation: a finding must not vanish because a read failed.
    fn pii_violations(
        &self,
        policy: &Policy,
        tags: &[String],
        index: &LineageIndex,
        store: &Store,
    ) -> Result<Vec<Violation>, ServiceError> {
        let mut seeds: BTreeSet<(DatasetId, String)> = BTreeSet::new();
        for (product, _) in self.products.values() {
            seeds.extend(pii_columns(product, tags));
        }
        for tag in tags {
            seeds.extend(store.columns_tagged(tag)?);
        }
        let mut found = Vec::new();
        for (dataset, field) in &seeds {
            // (dataset, column, path of columns from the seed) of every column reached.
            let mut reached: Vec<ColumnReached> =
                vec![(dataset.clone(), field.clone(), vec![(dataset.clone(), field.clone())])];
            // A seed column the graph does not know (declared in a contract, never ingested)
            // reaches nothing yet: the only error `column_value_reach` has.
            if let Ok(answer) = index.column_value_reach(dataset, field, PII_REACH_LIMIT) {
                reached.extend(answer.columns.into_iter().map(|hit| (hit.dataset, hit.field, hit.path)));
            }
            for (reached_dataset, reached_field, path) in reached {
                let Some(membership) = self.membership(&reached_dataset) else { continue };
                let Some(port_name) = &membership.port else { continue };
                let Some((product, _)) = self.products.get(&membership.product) else { continue };
                let Some(port) = product.output_ports.iter().find(|p| &p.name == port_name) else { continue };
                if product.port_classification(port) != tributary_mesh::Classification::Public
                    || !policy.applies_to(&product.domain)
                {
                    continue;
                }
                let mut violation = Violation::new(
                    policy,
                    Subject::OutputPort { product: product.id.clone(), port: port.name.clone() },
                    format!(
                        "PII column `{dataset}.{field}` reaches `{reached_dataset}.{reached_field}`, output port `{}` of public product `{}`",
                        port.name, product.id
                    ),
                );
                violation.path = path.iter().map(|(d, f)| format!("{d}.{f}")).collect();
                violation.dataset = Some(reached_dataset.clone());
                violation.column = Some(reached_field.clone());
                violation.column_path = path;
                found.push(violation);
            }
        }
        Ok(found)
    }

    /// Every violation of the graph policies (PII, cross-domain reads) over the whole graph.
    pub(crate) fn evaluate_graph(
        &self,
        index: &LineageIndex,
        store: &Store,
    ) -> Result<BTreeSet<Violation>, ServiceError> {
        let mut violations = BTreeSet::new();
        for policy in self.policies() {
            match &policy.kind {
                PolicyKind::CrossDomainReads => {
                    for (job, inputs, outputs) in index.jobs_with_io() {
                        violations.extend(self.cross_domain_violations(policy, &job, &inputs, &outputs));
                    }
                }
                PolicyKind::PiiInPublicProducts { tags } => {
                    violations.extend(self.pii_violations(policy, tags, index, store)?)
                }
                _ => {}
            }
        }
        Ok(violations)
    }

    /// Re-evaluates the graph policies and keeps first-seen times of violations still open.
    pub(crate) fn refresh_violations(&mut self, index: &LineageIndex, store: &Store, now: Timestamp) {
        // Until the column lineage is loaded the findings would be incomplete; the loader
        // refreshes them when it is done.
        if !index.columns_ready() {
            return;
        }
        let current = match self.evaluate_graph(index, store) {
            Ok(current) => current,
            Err(failure) => {
                // Keep the findings we had rather than clear them; the next group retries.
                tracing::error!(error = %failure, "graph policies could not be evaluated; previous findings kept");
                return;
            }
        };
        let previous = std::mem::take(&mut self.violations);
        self.violations = current
            .into_iter()
            .map(|v| {
                let since = previous.get(&v).copied().unwrap_or(now);
                (v, since)
            })
            .collect();
    }
}

/// A violation with when it was first seen.
#[derive(Clone, Debug)]
pub struct ViolationView {
    pub violation: Violation,
    pub since: Option<Timestamp>,
}

/// Freshness of one output port.
#[derive(Clone, Debug)]
pub struct FreshnessView {
    pub product: String,
    pub port: String,
    pub dataset: DatasetId,
    pub sla_seconds: Option<u64>,
    pub last_success: Option<Timestamp>,
    pub status: FreshnessStatus,
}

/// Where an output port stands against its freshness SLA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreshnessStatus {
    Fresh,
    Stale,
    NeverWritten,
    /// The product declares no freshness SLA.
    NoSla,
}

impl FreshnessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "FRESH",
            Self::Stale => "STALE",
            Self::NeverWritten => "NEVER_WRITTEN",
            Self::NoSla => "NO_SLA",
        }
    }

    /// Stale or never written: a freshness policy finding.
    pub fn is_violation(self) -> bool {
        matches!(self, Self::Stale | Self::NeverWritten)
    }
}

/// Which violations an answer keeps; every given part must match.
#[derive(Clone, Debug, Default)]
pub struct ViolationFilter {
    /// A policy id.
    pub policy: Option<String>,
    /// A product id: violations about the product or one of its output ports.
    pub product: Option<String>,
}

impl ViolationFilter {
    pub fn keeps(&self, violation: &Violation) -> bool {
        let about_product = |wanted: &String| match &violation.subject {
            Subject::Product { id } | Subject::OutputPort { product: id, .. } => id == wanted,
            Subject::Dataset(_) | Subject::Job(_) => false,
        };
        self.policy.as_ref().is_none_or(|policy| &violation.policy == policy)
            && self.product.as_ref().is_none_or(about_product)
    }
}

impl Service {
    /// Open violations that `filter` keeps (of one policy, about one product); freshness
    /// findings are computed now.
    pub async fn violations(&self, filter: ViolationFilter) -> Result<Vec<ViolationView>, ServiceError> {
        self.require_read()?;
        let mut views: Vec<ViolationView> = {
            let state = self.shared.read_state();
            state
                .mesh
                .violations
                .iter()
                .map(|(violation, since)| ViolationView { violation: violation.clone(), since: Some(*since) })
                .collect()
        };
        let freshness = self.freshness().await?;
        let state = self.shared.read_state();
        let mesh = &state.mesh;
        for policy in mesh.policies().filter(|p| matches!(p.kind, PolicyKind::Freshness)) {
            for port in freshness.iter().filter(|f| f.status.is_violation()) {
                let Some((product, _)) = mesh.products.get(&port.product) else { continue };
                if !policy.applies_to(&product.domain) {
                    continue;
                }
                let reason = match port.last_success {
                    Some(last) => format!(
                        "output port `{}` was last written successfully at {}, older than its SLA of {}s",
                        port.port,
                        last.to_rfc3339(),
                        port.sla_seconds.unwrap_or(0)
                    ),
                    None => format!("output port `{}` has no successful write yet", port.port),
                };
                views.push(ViolationView {
                    violation: Violation::new(
                        policy,
                        Subject::OutputPort { product: port.product.clone(), port: port.port.clone() },
                        reason,
                    ),
                    since: None,
                });
            }
        }
        views.retain(|view| filter.keeps(&view.violation));
        let principal = self.principal()?;
        let visibility = Visibility::new(&principal, &state, &self.shared.redaction_key);
        for view in &mut views {
            visibility.redact_violation(&mut view.violation);
        }
        Ok(views)
    }

    /// Freshness of every product's output ports, from the runs that wrote them.
    pub async fn freshness(&self) -> Result<Vec<FreshnessView>, ServiceError> {
        self.require_read()?;
        let ports: Vec<(String, String, DatasetId, Option<u64>)> = {
            let state = self.shared.read_state();
            state
                .mesh
                .products
                .values()
                .flat_map(|(product, _)| {
                    product.output_ports.iter().map(|port| {
                        (product.id.clone(), port.name.clone(), port.dataset.clone(), product.freshness_sla_seconds())
                    })
                })
                .collect()
        };
        self.blocking(move |shared| {
            let now = Timestamp::now();
            let mut views = Vec::with_capacity(ports.len());
            for (product, port, dataset, sla_seconds) in ports {
                let last_success = shared.last_successful_write(&dataset)?;
                let status = match (sla_seconds, last_success) {
                    (None, _) => FreshnessStatus::NoSla,
                    (Some(_), None) => FreshnessStatus::NeverWritten,
                    (Some(sla), Some(last)) if now.0 - last.0 > (sla as i64) * 1_000_000 => FreshnessStatus::Stale,
                    (Some(_), Some(_)) => FreshnessStatus::Fresh,
                };
                views.push(FreshnessView { product, port, dataset, sla_seconds, last_success, status });
            }
            Ok(views)
        })
        .await
    }
}

impl Shared {
    /// End time of the latest COMPLETE run that wrote the dataset.
    fn last_successful_write(&self, dataset: &DatasetId) -> Result<Option<Timestamp>, ServiceError> {
        let mut latest: Option<Timestamp> = None;
        for run_id in self.store.dataset_runs(dataset, FRESHNESS_RUNS)? {
            let Some(run) = self.store.run(&run_id)? else { continue };
            if run.state == tributary_model::RunState::Complete && run.outputs.contains_key(dataset) {
                let ended = run.ended_at.unwrap_or(run.last_time);
                latest = Some(latest.map_or(ended, |t| t.max(ended)));
            }
        }
        Ok(latest)
    }
}
