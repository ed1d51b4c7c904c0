//! The mesh: domains and data products applied as descriptors, ownership with provenance,
//! product and domain lineage derived from dataset lineage, and federated policies
//! evaluated when products are applied and when lineage is ingested.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tributary_auth::Principal;
use tributary_graph::LineageIndex;
use tributary_mesh::{
    DomainDescriptor, Policy, PolicyKind, ProductDescriptor, Subject, Violation, check_breaking_major,
    check_output_ports, parse_domain, parse_policy_values, parse_product, pii_columns,
};
use tributary_model::{
    AuditKind, AuditRecord, DatasetId, DocumentRecord, JobId, NodeKind, NodeRef, RECORD_FORMAT, Timestamp, facet_owners,
};
use tributary_openlineage::{canonical_json, content_hash};
use tributary_store::{DocumentKind, Store};

use crate::visibility::Visibility;
use crate::{Service, ServiceError, Shared};

mod impact;
mod lineage;
mod search;

pub use impact::ImpactGroup;
pub(crate) use lineage::CachedProductLineage;
pub use lineage::ProductEdge;
pub use search::{SearchHit, SearchQuery};

/// Most columns a PII reach walk returns from one column.
const PII_REACH_LIMIT: usize = 100_000;

/// Where a dataset sits in the mesh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub product: String,
    pub domain: String,
    /// The output port it is, if it is one (else an internal dataset of the product).
    pub port: Option<String>,
}

/// The applied mesh, in memory (small: descriptors only).
#[derive(Default)]
pub(crate) struct MeshState {
    products: BTreeMap<String, (ProductDescriptor, u64)>,
    domains: BTreeMap<String, (DomainDescriptor, u64)>,
    global_policies: Vec<Policy>,
    domain_policies: BTreeMap<String, Vec<Policy>>,
    membership: HashMap<DatasetId, Membership>,
    namespace_domain: HashMap<String, String>,
    /// Open violations found on ingested lineage, with when each was first seen.
    violations: BTreeMap<Violation, Timestamp>,
    /// Datasets of restricted products (or restricted output ports) and the domain whose
    /// readers may see them; shared with each request's `Visibility`.
    pub(crate) restricted: Arc<HashMap<DatasetId, Membership>>,
    /// Bumped by every applied descriptor (what derived answers are cached against).
    pub(crate) generation: u64,
    /// Stored documents this build could not read at start-up (skipped, for `/readyz`).
    pub(crate) unreadable: Vec<String>,
}

impl MeshState {
    /// The applied documents as this build reads them. A stored document this build cannot
    /// read (written by another version of the descriptor types) is skipped and named in
    /// `unreadable`, so the store still opens; `/readyz` reports it until it is re-applied.
    pub(crate) fn load(store: &Store, global_policies: Vec<Policy>) -> Result<Self, ServiceError> {
        let mut state = MeshState { global_policies, ..MeshState::default() };
        for record in store.scan_documents(DocumentKind::Domain)? {
            let loaded = serde_json::from_value::<DomainDescriptor>(record.body)
                .map_err(|error| error.to_string())
                .and_then(|domain| state.insert_domain(domain, record.version).map_err(|error| error.to_string()));
            if let Err(reason) = loaded {
                tracing::error!(domain = %record.id, %reason, "stored domain cannot be read; skipped");
                state.unreadable.push(format!("domain `{}`: {reason}", record.id));
            }
        }
        for record in store.scan_documents(DocumentKind::Product)? {
            match serde_json::from_value::<ProductDescriptor>(record.body) {
                Ok(product) => {
                    state.products.insert(product.id.clone(), (product, record.version));
                }
                Err(error) => {
                    tracing::error!(product = %record.id, %error, "stored product cannot be read; skipped");
                    state.unreadable.push(format!("product `{}`: {error}", record.id));
                }
            }
        }
        state.rebuild_membership();
        Ok(state)
    }

    fn insert_domain(&mut self, domain: DomainDescriptor, version: u64) -> Result<(), ServiceError> {
        let policies = parse_policy_values(&domain.policies, Some(&domain.id), "policies")?;
        self.domain_policies.insert(domain.id.clone(), policies);
        self.domains.insert(domain.id.clone(), (domain, version));
        self.namespace_domain = self
            .domains
            .values()
            .flat_map(|(domain, _)| domain.namespaces.iter().map(|ns| (ns.clone(), domain.id.clone())))
            .collect();
        Ok(())
    }

    fn rebuild_membership(&mut self) {
        self.membership.clear();
        for (product, _) in self.products.values() {
            for port in &product.output_ports {
                self.membership.insert(
                    port.dataset.clone(),
                    Membership {
                        product: product.id.clone(),
                        domain: product.domain.clone(),
                        port: Some(port.name.clone()),
                    },
                );
            }
            for dataset in &product.internal_datasets {
                self.membership.entry(dataset.clone()).or_insert(Membership {
                    product: product.id.clone(),
                    domain: product.domain.clone(),
                    port: None,
                });
            }
        }
        let restricted = self
            .membership
            .iter()
            .filter(|(_, membership)| {
                let Some((product, _)) = self.products.get(&membership.product) else { return false };
                let port =
                    membership.port.as_ref().and_then(|name| product.output_ports.iter().find(|p| &p.name == name));
                let classification = port.map_or(product.classification, |port| product.port_classification(port));
                classification == tributary_mesh::Classification::Restricted
            })
            .map(|(id, membership)| (id.clone(), membership.clone()))
            .collect();
        self.restricted = Arc::new(restricted);
    }

    fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.global_policies.iter().chain(self.domain_policies.values().flatten())
    }

    pub(crate) fn has_graph_policies(&self) -> bool {
        self.policies().any(|p| matches!(p.kind, PolicyKind::CrossDomainReads | PolicyKind::PiiInPublicProducts { .. }))
    }

    pub(crate) fn product_descriptor(&self, id: &str) -> Option<&ProductDescriptor> {
        self.products.get(id).map(|(product, _)| product)
    }

    pub(crate) fn membership(&self, dataset: &DatasetId) -> Option<&Membership> {
        self.membership.get(dataset)
    }

    /// The domain of a dataset: its product's, else its namespace's.
    pub(crate) fn dataset_domain(&self, dataset: &DatasetId) -> Option<&str> {
        self.membership
            .get(dataset)
            .map(|m| m.domain.as_str())
            .or_else(|| self.namespace_domain.get(&dataset.namespace).map(String::as_str))
    }

    /// The domain of a job: its namespace's, else that of a product whose dataset it writes.
    pub(crate) fn job_domain<'a>(&'a self, job: &JobId, outputs: &[DatasetId]) -> Option<&'a str> {
        self.namespace_domain
            .get(&job.namespace)
            .map(String::as_str)
            .or_else(|| outputs.iter().find_map(|output| self.membership.get(output).map(|m| m.domain.as_str())))
    }

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
            let through_port = self.membership.get(input).is_some_and(|m| m.port.is_some());
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
                let Some(membership) = self.membership.get(&reached_dataset) else { continue };
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

/// The outcome of applying a descriptor.
#[derive(Clone, Debug)]
pub struct ApplyOutcome {
    pub id: String,
    pub version: u64,
    /// False when the same content was applied before (nothing changed).
    pub changed: bool,
    /// Non-blocking violations of this product (recorded, not rejected).
    pub violations: Vec<Violation>,
}

/// A product as served: descriptor, version and derived facts.
#[derive(Clone, Debug)]
pub struct ProductView {
    pub descriptor: ProductDescriptor,
    pub version: u64,
}

/// One owner of a node, with where it was learned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnerView {
    pub name: String,
    pub role: Option<String>,
    /// `ownership facet of dataset ns:name`, `product sales.orders`, `domain sales`…
    pub source: String,
}

impl OwnerView {
    /// Owners declared in a descriptor (domain, product, output port), with where.
    fn declared(owners: &[tributary_mesh::Owner], source: &str) -> Vec<OwnerView> {
        owners
            .iter()
            .map(|o| OwnerView { name: o.name.clone(), role: o.role.clone(), source: source.to_owned() })
            .collect()
    }

    /// Owners named by an `ownership` facet of a dataset or job.
    fn from_facet(facet: Option<&Value>, source: &str) -> Vec<OwnerView> {
        facet_owners(facet)
            .into_iter()
            .map(|(name, role)| OwnerView { name, role, source: source.to_owned() })
            .collect()
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

fn document_hash(body: &Value) -> String {
    format!("{:032x}", content_hash(&canonical_json(body)))
}

impl Service {
    /// Applies a data product descriptor (YAML or JSON). Blocking policies reject it with
    /// every reason and leave the previous version untouched; re-applying the same content
    /// changes nothing.
    /// Needs `domain:<the product's domain>` (and of its previous domain when it moves) or
    /// `admin`. Refusals (scope or policy) are recorded in the audit trail.
    pub async fn apply_product(&self, text: String) -> Result<ApplyOutcome, ServiceError> {
        let principal = self.principal()?;
        self.blocking(move |shared| shared.apply_product(&text, &principal)).await
    }

    /// Applies a domain descriptor.
    /// Needs `domain:<id>` or `admin`.
    pub async fn apply_domain(&self, text: String) -> Result<ApplyOutcome, ServiceError> {
        let principal = self.principal()?;
        self.blocking(move |shared| shared.apply_domain(&text, &principal)).await
    }

    /// Every product; the datasets of restricted products the caller may not see redacted.
    pub fn products(&self) -> Result<Vec<ProductView>, ServiceError> {
        let principal = self.require_read()?;
        let state = self.shared.read_state();
        let visibility = Visibility::new(&principal, &state, &self.shared.redaction_key);
        Ok(state
            .mesh
            .products
            .values()
            .map(|(descriptor, version)| product_view(&visibility, descriptor, *version))
            .collect())
    }

    pub fn product(&self, id: &str) -> Result<Option<ProductView>, ServiceError> {
        let principal = self.require_read()?;
        let state = self.shared.read_state();
        let visibility = Visibility::new(&principal, &state, &self.shared.redaction_key);
        Ok(state.mesh.products.get(id).map(|(descriptor, version)| product_view(&visibility, descriptor, *version)))
    }

    pub fn domains(&self) -> Result<Vec<(DomainDescriptor, u64)>, ServiceError> {
        self.require_read()?;
        Ok(self.shared.read_state().mesh.domains.values().cloned().collect())
    }

    pub fn domain(&self, id: &str) -> Result<Option<(DomainDescriptor, u64)>, ServiceError> {
        self.require_read()?;
        Ok(self.shared.read_state().mesh.domains.get(id).cloned())
    }

    /// Every applied version of a product, oldest first.
    pub async fn product_versions(&self, id: String) -> Result<Vec<DocumentRecord>, ServiceError> {
        self.require_read()?;
        self.blocking(move |shared| Ok(shared.store.document_versions(DocumentKind::Product, &id)?)).await
    }

    /// The membership of a dataset in the mesh.
    pub fn membership(&self, dataset: &DatasetId) -> Result<Option<Membership>, ServiceError> {
        self.require_read()?;
        Ok(self.shared.read_state().mesh.membership(dataset).cloned())
    }

    pub fn dataset_domain(&self, dataset: &DatasetId) -> Result<Option<String>, ServiceError> {
        self.require_read()?;
        Ok(self.shared.read_state().mesh.dataset_domain(dataset).map(str::to_owned))
    }

    /// Product-to-product lineage derived from dataset lineage: A -> B when a dataset of A
    /// is upstream of a dataset of B through jobs and datasets that belong to no product or
    /// to B itself (B's internal datasets are its own pipeline; another product ends the walk).
    /// Walks the graph from every product dataset: on a blocking thread, and remembered for
    /// the watermark and mesh it was derived at, so the many product fields of one answer
    /// (each product's upstream and downstream) share one derivation.
    pub async fn product_lineage(&self) -> Result<Arc<Vec<ProductEdge>>, ServiceError> {
        self.require_read()?;
        self.blocking(|shared| Ok(shared.product_lineage())).await
    }

    /// Domain-to-domain lineage: product lineage grouped by the products' domains.
    pub async fn domain_lineage(&self) -> Result<Vec<ProductEdge>, ServiceError> {
        self.require_read()?;
        self.blocking(|shared| Ok(shared.domain_lineage())).await
    }
}

impl Service {
    /// Owners of a dataset or job, each with where it came from.
    pub async fn owners_of(&self, node: NodeRef) -> Result<Vec<OwnerView>, ServiceError> {
        let principal = self.require_read()?;
        self.blocking(move |shared| {
            let node = match node.kind {
                NodeKind::Dataset => {
                    let visibility = Visibility::new(&principal, &shared.read_state(), &shared.redaction_key);
                    let named = visibility.named_start(&principal, &DatasetId::new(&*node.namespace, &*node.name))?;
                    NodeRef::from(&named)
                }
                NodeKind::Job => node,
            };
            shared.owners_of(&node)
        })
        .await
    }

    /// Owners of a product: its own (and its ports'), then its domain's.
    pub fn product_owners(&self, id: &str) -> Result<Vec<OwnerView>, ServiceError> {
        self.require_read()?;
        let state = self.shared.read_state();
        let mesh = &state.mesh;
        let Some((product, _)) = mesh.products.get(id) else { return Ok(Vec::new()) };
        let mut owners = OwnerView::declared(&product.owners, &format!("product {}", product.id));
        for port in &product.output_ports {
            owners.extend(OwnerView::declared(
                &port.owners,
                &format!("output port {} of product {}", port.name, product.id),
            ));
        }
        owners.extend(domain_owners(mesh, &product.domain));
        Ok(owners)
    }

    /// What an owner owns: datasets and jobs (ownership facets), products and domains.
    pub async fn owned_by(&self, owner: String) -> Result<(Vec<NodeRef>, Vec<String>, Vec<String>), ServiceError> {
        let principal = self.require_read()?;
        let mut nodes = {
            let owner = owner.clone();
            self.blocking(move |shared| Ok(shared.store.nodes_owned_by(&owner)?)).await?
        };
        let state = self.shared.read_state();
        let visibility = Visibility::new(&principal, &state, &self.shared.redaction_key);
        nodes.retain(|node| {
            node.kind == NodeKind::Job || !visibility.hides(&DatasetId::new(&*node.namespace, &*node.name))
        });
        let mesh = &state.mesh;
        let products = mesh
            .products
            .values()
            .filter(|(p, _)| {
                p.owners.iter().chain(p.output_ports.iter().flat_map(|port| &port.owners)).any(|o| o.name == owner)
            })
            .map(|(p, _)| p.id.clone())
            .collect();
        let domains = mesh
            .domains
            .values()
            .filter(|(d, _)| d.owners.iter().any(|o| o.name == owner))
            .map(|(d, _)| d.id.clone())
            .collect();
        Ok((nodes, products, domains))
    }

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

/// A product as `visibility` lets its caller see it.
fn product_view(visibility: &Visibility, descriptor: &ProductDescriptor, version: u64) -> ProductView {
    let mut descriptor = descriptor.clone();
    visibility.redact_product(&mut descriptor);
    ProductView { descriptor, version }
}

fn domain_owners(mesh: &MeshState, domain: &str) -> Vec<OwnerView> {
    mesh.domains
        .get(domain)
        .map(|(d, _)| OwnerView::declared(&d.owners, &format!("domain {}", d.id)))
        .unwrap_or_default()
}

/// A column a PII seed reaches: (dataset, column, the columns from the seed to it).
type ColumnReached = (DatasetId, String, Vec<(DatasetId, String)>);

/// How many recent runs of a dataset are searched for its last successful write.
const FRESHNESS_RUNS: usize = 50;

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

    fn apply_product(&self, text: &str, principal: &Principal) -> Result<ApplyOutcome, ServiceError> {
        let product = parse_product(text)?;
        let applied = self.apply_product_checked(product.clone(), principal);
        if let Err(error) = &applied
            && matches!(error, ServiceError::PolicyViolation { .. } | ServiceError::PermissionDenied(_))
        {
            self.audit_rejected_apply(principal.actor(), format!("product {}", product.id), error);
        }
        applied
    }

    fn apply_product_checked(
        &self,
        product: tributary_mesh::ProductDescriptor,
        principal: &Principal,
    ) -> Result<ApplyOutcome, ServiceError> {
        principal.can_apply_product(&product.domain)?;
        let body = serde_json::to_value(&product).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let hash = document_hash(&body);
        // Applies are serialised; the state is read for the checks and written to install.
        let _apply = self.apply_lock();
        let state = self.read_state();
        let mesh = &state.mesh;
        let previous = mesh.products.get(&product.id).cloned();
        // Moving a product to another domain needs the grant of the domain it leaves too.
        if let Some((old, _)) = &previous {
            principal.can_apply_product(&old.domain)?;
        }
        let previous_hash = self.store.document(DocumentKind::Product, &product.id)?.map(|record| record.hash);
        if previous_hash.as_deref() == Some(hash.as_str()) {
            let version = previous.as_ref().map_or(1, |(_, version)| *version);
            return Ok(ApplyOutcome { id: product.id, version, changed: false, violations: Vec::new() });
        }
        if !mesh.domains.contains_key(&product.domain) {
            return Err(ServiceError::invalid(
                "domain",
                format!("unknown domain `{}`: apply the domain first", product.domain),
            ));
        }
        for (index, port) in product.output_ports.iter().enumerate() {
            if let Some(other) =
                mesh.membership.get(&port.dataset).filter(|m| m.product != product.id && m.port.is_some())
            {
                return Err(ServiceError::invalid(
                    format!("outputPorts[{index}].dataset"),
                    format!("`{}` is already an output port of product `{}`", port.dataset, other.product),
                ));
            }
        }
        // A dataset of another domain's product cannot be claimed: that would move it (its
        // owners, its policies, its visibility) out of the domain that published it.
        let claimed = product
            .output_ports
            .iter()
            .enumerate()
            .map(|(index, port)| (format!("outputPorts[{index}].dataset"), &port.dataset))
            .chain(
                product
                    .internal_datasets
                    .iter()
                    .enumerate()
                    .map(|(index, dataset)| (format!("internalDatasets[{index}]"), dataset)),
            );
        for (field, dataset) in claimed {
            if let Some(other) = mesh.membership.get(dataset).filter(|m| m.domain != product.domain) {
                return Err(ServiceError::invalid(
                    field,
                    format!("`{dataset}` belongs to product `{}` of domain `{}`", other.product, other.domain),
                ));
            }
        }

        // Policies, evaluated against the mesh as it would be with this version.
        let mut trial = MeshState {
            products: mesh.products.clone(),
            domains: mesh.domains.clone(),
            global_policies: mesh.global_policies.clone(),
            domain_policies: mesh.domain_policies.clone(),
            namespace_domain: mesh.namespace_domain.clone(),
            ..MeshState::default()
        };
        let version = previous.as_ref().map_or(1, |(_, version)| version + 1);
        trial.products.insert(product.id.clone(), (product.clone(), version));
        trial.rebuild_membership();
        let mut found: Vec<Violation> = Vec::new();
        for policy in trial.policies().filter(|p| p.applies_to(&product.domain)) {
            match &policy.kind {
                PolicyKind::OutputPortRequirements { require } => {
                    found.extend(check_output_ports(policy, require, &product))
                }
                PolicyKind::BreakingChangeNeedsMajor => {
                    if let Some((old, _)) = &previous {
                        found.extend(check_breaking_major(policy, old, &product));
                    }
                }
                _ => {}
            }
        }
        {
            // Graph findings of the mesh after this apply that concern this product, or that
            // the apply creates, whichever product they are about: otherwise the order of
            // applies could slip a blocking violation in (a public product first, then the
            // product whose PII column reaches it).
            let before = mesh.evaluate_graph(&state.index, &self.store)?;
            let after = trial.evaluate_graph(&state.index, &self.store)?;
            found.extend(after.into_iter().filter(|v| {
                let about_this = match &v.subject {
                    Subject::OutputPort { product: id, .. } | Subject::Product { id } => id == &product.id,
                    _ => false,
                };
                about_this || !before.contains(v)
            }));
        }
        drop(state);
        let blocking: Vec<Violation> = found.iter().filter(|v| v.blocking).cloned().collect();
        if !blocking.is_empty() {
            return Err(ServiceError::PolicyViolation { violations: blocking });
        }
        let record = DocumentRecord {
            format: RECORD_FORMAT,
            id: product.id.clone(),
            version,
            applied_at: Timestamp::now(),
            hash,
            body,
        };
        let mut audit = AuditRecord::new(
            record.applied_at,
            principal.actor(),
            AuditKind::DescriptorApplied,
            format!("product {}", record.id),
        );
        audit.version = Some(version);
        self.store.put_document_audited(DocumentKind::Product, &record, Some(&audit))?;
        let mut state = self.write_state();
        let state = &mut *state;
        state.mesh.products.insert(product.id.clone(), (product.clone(), version));
        state.mesh.rebuild_membership();
        state.mesh.generation += 1;
        let stale = format!("product `{}`:", product.id);
        state.mesh.unreadable.retain(|what| !what.starts_with(&stale));
        state.mesh.refresh_violations(&state.index, &self.store, Timestamp::now());
        Ok(ApplyOutcome { id: product.id, version, changed: true, violations: found })
    }

    fn apply_domain(&self, text: &str, principal: &Principal) -> Result<ApplyOutcome, ServiceError> {
        let domain = parse_domain(text)?;
        if let Err(denied) = principal.can_apply_domain(&domain.id) {
            let error = ServiceError::from(denied);
            self.audit_rejected_apply(principal.actor(), format!("domain {}", domain.id), &error);
            return Err(error);
        }
        parse_policy_values(&domain.policies, Some(&domain.id), "policies")?;
        let body = serde_json::to_value(&domain).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let hash = document_hash(&body);
        let _apply = self.apply_lock();
        {
            // A namespace another domain claims stays its: otherwise a domain could take over
            // the datasets and jobs of another's namespaces (their domain, owners, policies).
            let state = self.read_state();
            for (index, namespace) in domain.namespaces.iter().enumerate() {
                if let Some(owner) = state.mesh.namespace_domain.get(namespace).filter(|owner| **owner != domain.id) {
                    return Err(ServiceError::invalid(
                        format!("namespaces[{index}]"),
                        format!("namespace `{namespace}` belongs to domain `{owner}`"),
                    ));
                }
            }
        }
        let previous = self.store.document(DocumentKind::Domain, &domain.id)?;
        if let Some(previous) = &previous
            && previous.hash == hash
        {
            return Ok(ApplyOutcome {
                id: domain.id,
                version: previous.version,
                changed: false,
                violations: Vec::new(),
            });
        }
        let version = previous.map_or(1, |p| p.version + 1);
        let record = DocumentRecord {
            format: RECORD_FORMAT,
            id: domain.id.clone(),
            version,
            applied_at: Timestamp::now(),
            hash,
            body,
        };
        // `insert_domain` fails only on policies, parsed above before anything was stored.
        let mut audit = AuditRecord::new(
            record.applied_at,
            principal.actor(),
            AuditKind::DescriptorApplied,
            format!("domain {}", record.id),
        );
        audit.version = Some(version);
        self.store.put_document_audited(DocumentKind::Domain, &record, Some(&audit))?;
        let mut state = self.write_state();
        let state = &mut *state;
        state.mesh.insert_domain(domain.clone(), version)?;
        state.mesh.generation += 1;
        let stale = format!("domain `{}`:", domain.id);
        state.mesh.unreadable.retain(|what| !what.starts_with(&stale));
        state.mesh.refresh_violations(&state.index, &self.store, Timestamp::now());
        Ok(ApplyOutcome { id: domain.id, version, changed: true, violations: Vec::new() })
    }

    fn owners_of(&self, node: &NodeRef) -> Result<Vec<OwnerView>, ServiceError> {
        let mut owners = Vec::new();
        let state = self.read_state();
        let mesh = &state.mesh;
        match node.kind {
            NodeKind::Dataset => {
                let id = state.resolve_dataset(&DatasetId::new(&*node.namespace, &*node.name));
                if let Some(facet) = self.store.dataset_facet(&id, "ownership")? {
                    owners.extend(OwnerView::from_facet(Some(&facet), &format!("ownership facet of dataset {id}")));
                }
                if let Some(membership) = mesh.membership.get(&id)
                    && let Some((product, _)) = mesh.products.get(&membership.product)
                {
                    let port =
                        membership.port.as_ref().and_then(|name| product.output_ports.iter().find(|p| &p.name == name));
                    match port.filter(|p| !p.owners.is_empty()) {
                        Some(port) => owners.extend(OwnerView::declared(
                            &port.owners,
                            &format!("output port {} of product {}", port.name, product.id),
                        )),
                        None => owners.extend(OwnerView::declared(&product.owners, &format!("product {}", product.id))),
                    }
                }
                if let Some(domain) = mesh.dataset_domain(&id) {
                    owners.extend(domain_owners(mesh, domain));
                }
            }
            NodeKind::Job => {
                let id = JobId::new(&*node.namespace, &*node.name);
                if let Some(record) = self.store.job(&id)? {
                    let facet = record.facets.get("ownership").and_then(|entry| entry.value.as_ref());
                    owners.extend(OwnerView::from_facet(facet, &format!("ownership facet of job {id}")));
                }
                let outputs: Vec<DatasetId> =
                    state.index.job_outputs(&id).into_iter().map(|n| DatasetId::new(n.namespace, n.name)).collect();
                if let Some(domain) = mesh.job_domain(&id, &outputs) {
                    owners.extend(domain_owners(mesh, domain));
                }
            }
        }
        Ok(owners)
    }
}
