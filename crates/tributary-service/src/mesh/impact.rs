//! Impact grouping: nodes grouped by product, then domain, then namespace, with the owners
//! to tell.

use std::collections::BTreeMap;

use tributary_model::{DatasetId, JobId, NodeKind, NodeRef};

use super::OwnerView;
use super::ownership::domain_owners;
use crate::{Service, ServiceError, Shared, State};

/// Impacted nodes that share a product (and so a domain), or, outside any product, a
/// domain or a namespace: the "who must be told" list.
#[derive(Clone, Debug, Default)]
pub struct ImpactGroup {
    pub product: Option<String>,
    pub domain: Option<String>,
    /// Set only for nodes outside every domain.
    pub namespace: Option<String>,
    /// Owners to tell, with where each came from.
    pub owners: Vec<OwnerView>,
    pub datasets: Vec<NodeRef>,
    pub jobs: Vec<NodeRef>,
}

impl Service {
    /// Groups nodes (lineage or change-check results) by product, then domain, then
    /// namespace, with the owners of each group.
    pub async fn group_impact(&self, nodes: Vec<NodeRef>) -> Result<Vec<ImpactGroup>, ServiceError> {
        let principal = self.require_read()?;
        self.blocking(move |shared| {
            let state = shared.read_state();
            let visibility = crate::visibility::Visibility::new(&principal, &state, &shared.redaction_key);
            // Redacted nodes the caller was shown are grouped where they belong, and shown
            // redacted again.
            let nodes: Vec<NodeRef> = nodes.iter().map(|node| visibility.reveal(node)).collect();
            let mut groups = shared.group_impact(&state, &nodes)?;
            for group in &mut groups {
                visibility.redact_group(group);
            }
            Ok(groups)
        })
        .await
    }
}

impl Shared {
    pub(crate) fn group_impact(&self, state: &State, nodes: &[NodeRef]) -> Result<Vec<ImpactGroup>, ServiceError> {
        type Key = (Option<String>, Option<String>, Option<String>);
        let mut groups: BTreeMap<Key, ImpactGroup> = BTreeMap::new();
        let mut facet_owner_nodes: BTreeMap<Key, Vec<NodeRef>> = BTreeMap::new();
        {
            let (mesh, index) = (&state.mesh, &state.index);
            for node in nodes {
                let (product, domain) = match node.kind {
                    NodeKind::Dataset => {
                        let id = DatasetId::new(&*node.namespace, &*node.name);
                        let membership = mesh.membership(&id);
                        (membership.map(|m| m.product.clone()), mesh.dataset_domain(&id).map(str::to_owned))
                    }
                    NodeKind::Job => {
                        let id = JobId::new(&*node.namespace, &*node.name);
                        let outputs: Vec<DatasetId> =
                            index.job_outputs(&id).into_iter().map(|n| DatasetId::new(n.namespace, n.name)).collect();
                        let product = outputs.iter().find_map(|o| mesh.membership(o).map(|m| m.product.clone()));
                        (product, mesh.job_domain(&id, &outputs).map(str::to_owned))
                    }
                };
                let namespace = domain.is_none().then(|| node.namespace.clone());
                let key = (product.clone(), domain.clone(), namespace.clone());
                let group = groups.entry(key.clone()).or_insert_with(|| ImpactGroup {
                    product: product.clone(),
                    domain: domain.clone(),
                    namespace,
                    ..ImpactGroup::default()
                });
                match node.kind {
                    NodeKind::Dataset => group.datasets.push(node.clone()),
                    NodeKind::Job => group.jobs.push(node.clone()),
                }
                facet_owner_nodes.entry(key).or_default().push(node.clone());
            }
            for group in groups.values_mut() {
                let mut owners = Vec::new();
                if let Some((product, _)) = group.product.as_ref().and_then(|id| mesh.products.get(id)) {
                    owners.extend(OwnerView::declared(&product.owners, &format!("product {}", product.id)));
                }
                if let Some(domain) = &group.domain {
                    owners.extend(domain_owners(mesh, domain));
                }
                group.owners = owners;
            }
        }
        for (key, members) in facet_owner_nodes {
            let mut facet_owners_found = Vec::new();
            for node in members {
                let ownership = match node.kind {
                    NodeKind::Dataset => {
                        self.store.dataset_facet(&DatasetId::new(&*node.namespace, &*node.name), "ownership")?
                    }
                    NodeKind::Job => self
                        .store
                        .job(&JobId::new(&*node.namespace, &*node.name))?
                        .and_then(|r| r.facets.get("ownership").and_then(|e| e.value.clone())),
                };
                let kind = if node.kind == NodeKind::Dataset { "dataset" } else { "job" };
                facet_owners_found.extend(OwnerView::from_facet(
                    ownership.as_ref(),
                    &format!("ownership facet of {kind} {}:{}", node.namespace, node.name),
                ));
            }
            if let Some(group) = groups.get_mut(&key) {
                group.owners.extend(facet_owners_found);
                group.owners.sort();
                group.owners.dedup_by(|a, b| a.name == b.name && a.source == b.source);
            }
        }
        Ok(groups.into_values().collect())
    }
}
