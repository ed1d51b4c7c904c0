//! The mesh: domains and data products applied as descriptors, ownership with provenance,
//! product and domain lineage derived from dataset lineage, and federated policies
//! evaluated when products are applied and when lineage is ingested.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::value::RawValue;
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
    /// Every dataset a product lists, with the products listing it and the membership derived
    /// from them (one entry per dataset: at the 1M bench's 270,000 claimed datasets a second
    /// map keyed by dataset cost a copy of every name). An apply updates only the datasets of
    /// the product's old and new descriptor.
    members: Members,
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
        // Bodies are parsed from their text straight into the descriptors, without a JSON
        // value in between.
        for record in store.scan_documents_as::<Box<RawValue>>(DocumentKind::Domain)? {
            let loaded = serde_json::from_str::<DomainDescriptor>(record.body.get())
                .map_err(|error| error.to_string())
                .and_then(|domain| state.insert_domain(domain, record.version).map_err(|error| error.to_string()));
            if let Err(reason) = loaded {
                tracing::error!(domain = %record.id, %reason, "stored domain cannot be read; skipped");
                state.unreadable.push(format!("domain `{}`: {reason}", record.id));
            }
        }
        for record in store.scan_documents_as::<Box<RawValue>>(DocumentKind::Product)? {
            match serde_json::from_str::<ProductDescriptor>(record.body.get()) {
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
        self.members.clear();
        for (product, _) in self.products.values() {
            add_claims(&mut self.members, product);
        }
        let mut restricted = HashMap::new();
        for (dataset, member) in &mut self.members {
            member.membership = derive_membership(&self.products, &member.claims);
            if let Some(membership) = &member.membership
                && is_restricted(&self.products, membership)
            {
                restricted.insert(dataset.clone(), membership.clone());
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
            remove_claims(&mut self.members, old);
        }
        add_claims(&mut self.members, &product);
        self.products.insert(product.id.clone(), (product, version));
        let mut now_restricted = Vec::new();
        for dataset in &affected {
            // A dataset no product lists any more left `members` with its last claim.
            if let Some(member) = self.members.get_mut(dataset) {
                member.membership = derive_membership(&self.products, &member.claims);
                if let Some(membership) = &member.membership
                    && is_restricted(&self.products, membership)
                {
                    now_restricted.push((dataset.clone(), membership.clone()));
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
        self.members.get(dataset)?.membership.as_ref()
    }

    /// Every dataset of a product, with its membership (in no particular order).
    pub(crate) fn memberships(&self) -> impl Iterator<Item = (&DatasetId, &Membership)> {
        self.members.iter().filter_map(|(dataset, member)| Some((dataset, member.membership.as_ref()?)))
    }

    /// How many datasets the products list.
    pub(crate) fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The domain of a dataset: its product's, else its namespace's.
    pub(crate) fn dataset_domain(&self, dataset: &DatasetId) -> Option<&str> {
        self.membership(dataset)
            .map(|m| m.domain.as_str())
            .or_else(|| self.namespace_domain.get(&dataset.namespace).map(String::as_str))
    }

    /// The domain of a job: its namespace's, else that of a product whose dataset it writes.
    pub(crate) fn job_domain<'a>(&'a self, job: &JobId, outputs: &[DatasetId]) -> Option<&'a str> {
        self.namespace_domain
            .get(&job.namespace)
            .map(String::as_str)
            .or_else(|| outputs.iter().find_map(|output| self.membership(output).map(|m| m.domain.as_str())))
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

type Members = HashMap<DatasetId, Member>;

/// A dataset some product lists.
#[derive(Clone, Debug)]
struct Member {
    claims: ProductClaims,
    /// Derived from `claims` (`None` only while an apply updates it).
    membership: Option<Membership>,
}

/// The products listing one dataset, in id order, each with the port the dataset is to it
/// (`None`: an internal dataset). Nearly every dataset has one claim, so this is a vector
/// sized for one (a `BTreeMap` took a 544-byte node per dataset: 136 MB at the 1M bench's
/// 270,000 claimed datasets), and the products' ids are shared with their other datasets.
#[derive(Clone, Debug, Default)]
struct ProductClaims(Vec<(Arc<str>, Option<String>)>);

impl ProductClaims {
    fn position(&self, product: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(id, _)| (**id).cmp(product))
    }

    /// `product` lists the dataset as an internal one, unless it already claims it.
    fn claim_internal(&mut self, product: &Arc<str>) {
        if let Err(at) = self.position(product) {
            self.0.insert(at, (Arc::clone(product), None));
        }
    }

    /// `product` lists the dataset as its port `port`, replacing an earlier claim.
    fn claim_port(&mut self, product: &Arc<str>, port: &str) {
        match self.position(product) {
            Ok(at) => self.0[at].1 = Some(port.to_owned()),
            Err(at) => self.0.insert(at, (Arc::clone(product), Some(port.to_owned()))),
        }
    }

    fn release(&mut self, product: &str) {
        if let Ok(at) = self.position(product) {
            self.0.remove(at);
        }
    }
}

/// Adds `product`'s claims (the members' memberships are derived afterwards).
fn add_claims(members: &mut Members, product: &ProductDescriptor) {
    let id: Arc<str> = Arc::from(product.id.as_str());
    fn claim<'a>(members: &'a mut Members, dataset: &DatasetId) -> &'a mut ProductClaims {
        let member = members
            .entry(dataset.clone())
            .or_insert_with(|| Member { claims: ProductClaims(Vec::with_capacity(1)), membership: None });
        &mut member.claims
    }
    for dataset in &product.internal_datasets {
        claim(members, dataset).claim_internal(&id);
    }
    // A port claim wins over an internal one of the same product; of two ports on the same
    // dataset, the later one (as inserting them in order would leave it).
    for port in &product.output_ports {
        claim(members, &port.dataset).claim_port(&id, &port.name);
    }
}

fn remove_claims(members: &mut Members, product: &ProductDescriptor) {
    for dataset in product.datasets() {
        if let Some(member) = members.get_mut(dataset) {
            member.claims.release(&product.id);
            if member.claims.0.is_empty() {
                members.remove(dataset);
            }
        }
    }
}

/// A dataset's product: the one listing it as an output port (the last in id order if
/// several do), else the first in id order listing it as an internal dataset.
fn derive_membership(
    products: &BTreeMap<String, (ProductDescriptor, u64)>,
    claims: &ProductClaims,
) -> Option<Membership> {
    let (product, port) = claims.0.iter().rev().find(|(_, port)| port.is_some()).or_else(|| claims.0.first())?;
    let domain = products.get(&**product).map(|(descriptor, _)| descriptor.domain.clone())?;
    Some(Membership { product: product.to_string(), domain, port: port.clone() })
}

fn is_restricted(products: &BTreeMap<String, (ProductDescriptor, u64)>, membership: &Membership) -> bool {
    let Some((product, _)) = products.get(&membership.product) else { return false };
    let port = membership.port.as_ref().and_then(|name| product.output_ports.iter().find(|p| &p.name == name));
    let classification = port.map_or(product.classification, |port| product.port_classification(port));
    classification == tributary_mesh::Classification::Restricted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, ports: &[(&str, &str)], internal: &[&str]) -> ProductDescriptor {
        let dataset = |name: &str| serde_json::json!({"namespace": "db", "name": name});
        let text = serde_json::json!({
            "id": id, "name": id, "domain": format!("domain-{id}"),
            "outputPorts": ports.iter().map(|(port, name)| serde_json::json!({"name": port, "dataset": dataset(name)})).collect::<Vec<_>>(),
            "internalDatasets": internal.iter().map(|name| dataset(name)).collect::<Vec<_>>(),
        });
        tributary_mesh::parse_product(&text.to_string()).expect("a valid product")
    }

    pub(crate) fn memberships(state: &MeshState) -> HashMap<DatasetId, Membership> {
        state.memberships().map(|(dataset, membership)| (dataset.clone(), membership.clone())).collect()
    }

    fn member(state: &MeshState, name: &str) -> Option<(String, Option<String>)> {
        state.membership(&DatasetId::new("db", name)).map(|m| (m.product.clone(), m.port.clone()))
    }

    /// Of the products claiming a dataset, the last in id order having it as a port wins, else
    /// the first in id order having it inside; a product's port claim wins over its own
    /// internal one. The same whatever order the products are installed in, and after a
    /// product lets a dataset go.
    #[test]
    fn a_dataset_belongs_to_its_last_port_else_its_first_internal_claim() {
        // Parsing refuses a descriptor listing a dataset twice; the claims still order one
        // (installed directly here): `c` has `x` as its port and inside.
        let mut c = product("c", &[("pc", "x")], &[]);
        c.internal_datasets.push(DatasetId::new("db", "x"));
        let products = [
            product("b", &[("pb", "y")], &["x"]),
            product("a", &[], &["x", "y"]),
            product("d", &[("pd", "y")], &["z"]),
            c,
        ];
        let expected = |name: &str, product: &str, port: Option<&str>| {
            (name.to_owned(), Some((product.to_owned(), port.map(str::to_owned))))
        };
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
            let mut state = MeshState::default();
            for &k in &order {
                state.install_product(products[k].clone(), 1);
            }
            let found: Vec<_> = ["x", "y", "z"].iter().map(|name| (name.to_string(), member(&state, name))).collect();
            assert_eq!(
                found,
                [expected("x", "c", Some("pc")), expected("y", "d", Some("pd")), expected("z", "d", None)],
                "installed in order {order:?}"
            );
            let mut rebuilt = MeshState { products: state.products.clone(), ..MeshState::default() };
            rebuilt.rebuild_membership();
            assert_eq!(memberships(&rebuilt), memberships(&state), "rebuilt after order {order:?}");
            // `d` lets `y` go: `b`'s port takes it; `c` lets `x` go whole: `a` keeps it inside.
            state.install_product(product("d", &[], &["z"]), 2);
            state.install_product(product("c", &[("pc", "w")], &[]), 2);
            assert_eq!(member(&state, "y"), Some(("b".into(), Some("pb".into()))));
            assert_eq!(member(&state, "x"), Some(("a".into(), None)));
            assert_eq!(member(&state, "z"), Some(("d".into(), None)));
            assert_eq!(state.members.get(&DatasetId::new("db", "x")).map(|member| member.claims.0.len()), Some(2));
        }
    }
}
