//! The mesh: domains and data products applied as descriptors, ownership with provenance,
//! product and domain lineage derived from dataset lineage, and federated policies
//! evaluated when products are applied and when lineage is ingested.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tributary_mesh::{DomainDescriptor, Policy, PolicyKind, ProductDescriptor, Violation, parse_policy_values};
use tributary_model::{DatasetId, DocumentRecord, JobId, Timestamp};
use tributary_store::{DocumentKind, Store};

use crate::visibility::Visibility;
use crate::{Service, ServiceError};

mod apply;
mod impact;
mod lineage;
mod owners;
mod ownership;
mod policies;
mod search;

pub use apply::ApplyOutcome;
pub(crate) use impact::{Grouping, SummaryCache};
pub use impact::{ImpactCount, ImpactGroup, ImpactSummary, MAX_SUMMARY_PAGE};
pub(crate) use lineage::CachedProductLineage;
pub use lineage::ProductEdge;
pub(crate) use owners::{LoadEnd as OwnersLoadEnd, NodeOwners, OwnersImage, load as load_owners, stored_owners};
pub use ownership::OwnerView;
pub use policies::{FreshnessStatus, FreshnessView, ViolationFilter, ViolationView};
pub use search::{SearchHit, SearchQuery};

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
    /// Which products list each dataset: product id -> the port it is (`None`: an internal
    /// dataset). `membership` is derived from it per dataset, so an apply updates only the
    /// datasets of the product's old and new descriptor.
    claims: Claims,
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
    /// What the index's labels stand for (see [`crate::State::relabel`]).
    pub(crate) group_labels: impact::GroupLabels,
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
        self.claims.clear();
        for (product, _) in self.products.values() {
            add_claims(&mut self.claims, product);
        }
        let all: Vec<DatasetId> = self.claims.keys().cloned().collect();
        self.membership.clear();
        let mut restricted = HashMap::new();
        for dataset in all {
            if let Some(membership) = self.derive_membership(&dataset) {
                if self.is_restricted(&membership) {
                    restricted.insert(dataset.clone(), membership.clone());
                }
                self.membership.insert(dataset, membership);
            }
        }
        self.restricted = Arc::new(restricted);
    }

    /// Installs `product` (replacing its earlier version, if any) and updates the membership
    /// of the datasets either version lists; returns those datasets. Equal to inserting it and
    /// calling `rebuild_membership`, in time linear in the two descriptors.
    pub(crate) fn install_product(&mut self, product: ProductDescriptor, version: u64) -> HashSet<DatasetId> {
        let mut affected: HashSet<DatasetId> = product.datasets().cloned().collect();
        if let Some((old, _)) = self.products.get(&product.id) {
            affected.extend(old.datasets().cloned());
            remove_claims(&mut self.claims, old);
        }
        add_claims(&mut self.claims, &product);
        self.products.insert(product.id.clone(), (product, version));
        let mut now_restricted = Vec::new();
        for dataset in &affected {
            match self.derive_membership(dataset) {
                Some(membership) => {
                    if self.is_restricted(&membership) {
                        now_restricted.push((dataset.clone(), membership.clone()));
                    }
                    self.membership.insert(dataset.clone(), membership);
                }
                None => {
                    self.membership.remove(dataset);
                }
            }
        }
        // Copied only if a request still holds the previous map.
        let restricted = Arc::make_mut(&mut self.restricted);
        for dataset in &affected {
            restricted.remove(dataset);
        }
        restricted.extend(now_restricted);
        affected
    }

    /// A dataset's product: the one listing it as an output port (the last in id order if
    /// several do), else the first in id order listing it as an internal dataset.
    fn derive_membership(&self, dataset: &DatasetId) -> Option<Membership> {
        let claims = self.claims.get(dataset)?;
        let (product, port) = claims
            .iter()
            .rev()
            .find(|(_, port)| port.is_some())
            .or_else(|| claims.iter().next())
            .map(|(product, port)| (product.clone(), port.clone()))?;
        let domain = self.products.get(&product).map(|(descriptor, _)| descriptor.domain.clone())?;
        Some(Membership { product, domain, port })
    }

    fn is_restricted(&self, membership: &Membership) -> bool {
        let Some((product, _)) = self.products.get(&membership.product) else { return false };
        let port = membership.port.as_ref().and_then(|name| product.output_ports.iter().find(|p| &p.name == name));
        let classification = port.map_or(product.classification, |port| product.port_classification(port));
        classification == tributary_mesh::Classification::Restricted
    }

    pub(crate) fn policies(&self) -> impl Iterator<Item = &Policy> {
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
}

/// A product as served: descriptor, version and derived facts.
#[derive(Clone, Debug)]
pub struct ProductView {
    pub descriptor: ProductDescriptor,
    pub version: u64,
}

impl Service {
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
    /// (each product's upstream and downstream) share one derivation. Callers who ask while
    /// one is derived share the next (`coalesce`): under ingest, which moves the graph between
    /// any two questions, N callers at once cause two derivations, not N.
    pub async fn product_lineage(&self) -> Result<Arc<Vec<ProductEdge>>, ServiceError> {
        self.require_read()?;
        if let Some(kept) = self.shared.kept_product_lineage() {
            return Ok(kept);
        }
        self.shared.product_lineage_rounds.share(|| self.traversal(|shared| shared.product_lineage())).await
    }

    /// Domain-to-domain lineage: `product_lineage` (as [`Self::product_lineage`] gave it)
    /// grouped by the products' domains. An answer that gives both groups the product lineage
    /// it gives, so the two agree and it is derived once.
    pub async fn domain_lineage(
        &self,
        product_lineage: Arc<Vec<ProductEdge>>,
    ) -> Result<Vec<ProductEdge>, ServiceError> {
        self.require_read()?;
        self.traversal(move |shared| Ok(shared.domain_lineage(&product_lineage))).await
    }
}

/// A product as `visibility` lets its caller see it.
fn product_view(visibility: &Visibility, descriptor: &ProductDescriptor, version: u64) -> ProductView {
    let mut descriptor = descriptor.clone();
    visibility.redact_product(&mut descriptor);
    ProductView { descriptor, version }
}

type Claims = HashMap<DatasetId, BTreeMap<String, Option<String>>>;

fn add_claims(claims: &mut Claims, product: &ProductDescriptor) {
    for dataset in &product.internal_datasets {
        claims.entry(dataset.clone()).or_default().entry(product.id.clone()).or_insert(None);
    }
    // A port claim wins over an internal one of the same product; of two ports on the same
    // dataset, the later one (as inserting them in order would leave it).
    for port in &product.output_ports {
        claims.entry(port.dataset.clone()).or_default().insert(product.id.clone(), Some(port.name.clone()));
    }
}

fn remove_claims(claims: &mut Claims, product: &ProductDescriptor) {
    for dataset in product.datasets() {
        if let Some(by_product) = claims.get_mut(dataset) {
            by_product.remove(&product.id);
            if by_product.is_empty() {
                claims.remove(dataset);
            }
        }
    }
}
