//! Applying domain and product descriptors: checks, blocking policies, the audit entry.

use std::sync::Arc;

use serde_json::Value;
use tributary_auth::Principal;
use tributary_mesh::{
    PolicyKind, Subject, Violation, check_breaking_major, check_output_ports, parse_domain, parse_policy_values,
    parse_product,
};
use tributary_model::{AuditKind, AuditRecord, DocumentRecord, RECORD_FORMAT, Timestamp};
use tributary_openlineage::{canonical_json, content_hash};
use tributary_store::DocumentKind;

use super::MeshState;
use crate::{Service, ServiceError, Shared};

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
}

impl Shared {
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
            if let Some(other) = mesh.membership(&port.dataset).filter(|m| m.product != product.id && m.port.is_some())
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
            if let Some(other) = mesh.membership(dataset).filter(|m| m.domain != product.domain) {
                return Err(ServiceError::invalid(
                    field,
                    format!("`{dataset}` belongs to product `{}` of domain `{}`", other.product, other.domain),
                ));
            }
        }

        // Policies, evaluated against the mesh as it would be with this version.
        let version = previous.as_ref().map_or(1, |(_, version)| version + 1);
        let mut found: Vec<Violation> = Vec::new();
        for policy in mesh.policies().filter(|p| p.applies_to(&product.domain)) {
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
        if mesh.has_graph_policies() {
            // Graph findings of the mesh after this apply that concern this product, or that
            // the apply creates, whichever product they are about: otherwise the order of
            // applies could slip a blocking violation in (a public product first, then the
            // product whose PII column reaches it). Without graph policies there are none.
            let mut trial = MeshState {
                products: mesh.products.clone(),
                domains: mesh.domains.clone(),
                global_policies: mesh.global_policies.clone(),
                domain_policies: mesh.domain_policies.clone(),
                namespace_domain: mesh.namespace_domain.clone(),
                members: mesh.members.clone(),
                restricted: Arc::clone(&mesh.restricted),
                ..MeshState::default()
            };
            trial.install_product(product.clone(), version);
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
        self.store_document(DocumentKind::Product, &product.id, version, hash, body, principal)?;
        let mut state = self.write_state();
        let state = &mut *state;
        let affected = state.mesh.install_product(product.clone(), version);
        state.relabel_product(&product.id, &affected);
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
        // `insert_domain` fails only on policies, parsed above before anything was stored.
        self.store_document(DocumentKind::Domain, &domain.id, version, hash, body, principal)?;
        let mut state = self.write_state();
        let state = &mut *state;
        state.mesh.insert_domain(domain.clone(), version)?;
        state.relabel();
        state.mesh.generation += 1;
        let stale = format!("domain `{}`:", domain.id);
        state.mesh.unreadable.retain(|what| !what.starts_with(&stale));
        state.mesh.refresh_violations(&state.index, &self.store, Timestamp::now());
        Ok(ApplyOutcome { id: domain.id, version, changed: true, violations: Vec::new() })
    }

    /// Stores a descriptor version with its audit entry, in one durable write.
    fn store_document(
        &self,
        kind: DocumentKind,
        id: &str,
        version: u64,
        hash: String,
        body: serde_json::Value,
        principal: &Principal,
    ) -> Result<(), ServiceError> {
        let record = DocumentRecord {
            format: RECORD_FORMAT,
            id: id.to_owned(),
            version,
            applied_at: Timestamp::now(),
            hash,
            body,
        };
        let what = match kind {
            DocumentKind::Product => "product",
            DocumentKind::Domain => "domain",
        };
        let mut audit = AuditRecord::new(
            record.applied_at,
            principal.actor(),
            AuditKind::DescriptorApplied,
            format!("{what} {id}"),
        );
        audit.version = Some(version);
        Ok(self.store.put_document_audited(kind, &record, Some(&audit))?)
    }
}
