//! Ownership: owners of a node or product with where each was learned, and what an owner owns.

use serde_json::Value;
use tributary_model::{DatasetId, JobId, NodeKind, NodeRef, facet_owners};

use super::MeshState;
use crate::visibility::Visibility;
use crate::{Service, ServiceError, Shared};

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
    pub(super) fn declared(owners: &[tributary_mesh::Owner], source: &str) -> Vec<OwnerView> {
        owners
            .iter()
            .map(|o| OwnerView { name: o.name.clone(), role: o.role.clone(), source: source.to_owned() })
            .collect()
    }

    /// Owners named by an `ownership` facet of a dataset or job.
    pub(super) fn from_facet(facet: Option<&Value>, source: &str) -> Vec<OwnerView> {
        facet_owners(facet)
            .into_iter()
            .map(|(name, role)| OwnerView { name, role, source: source.to_owned() })
            .collect()
    }
}

pub(super) fn domain_owners(mesh: &MeshState, domain: &str) -> Vec<OwnerView> {
    mesh.domains
        .get(domain)
        .map(|(d, _)| OwnerView::declared(&d.owners, &format!("domain {}", d.id)))
        .unwrap_or_default()
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
}

impl Shared {
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
                if let Some(membership) = mesh.membership(&id)
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
