//! Who is calling, and the access decisions.

use crate::{IngestGrant, NamespaceGlob, Scope, TokenId, TokenRecord};

/// How a [`Principal`] was established.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Credential {
    /// The server runs without a token store (loopback, or `--insecure-no-auth`): every caller
    /// is this anonymous principal and everything is allowed. Explicit, so that "no token store"
    /// can never be confused with "no principal".
    Open,
    /// A command working on the store directly (`tributary import`, `tributary token create
    /// --data-dir`): whoever can read the data directory can do anything with it anyway.
    Local,
    /// A checked token.
    Token(TokenId),
}

/// Who is calling, as the service sees it: what decides every request and what audit entries
/// name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    pub credential: Credential,
    /// The token's name, or `anonymous` in the open mode.
    pub name: String,
    /// The token's scopes; `admin` in the open mode (where the credential alone allows
    /// everything).
    pub scopes: Vec<Scope>,
}

/// A known caller lacks a scope: HTTP 403, gRPC `PERMISSION_DENIED`, GraphQL `FORBIDDEN`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("permission denied: missing scope `{missing_scope}`: {reason}")]
pub struct Denied {
    /// A scope, in the scope grammar, that would have allowed the request.
    pub missing_scope: String,
    pub reason: String,
}

impl Principal {
    /// The principal of every request on a server running open (no token store).
    pub fn anonymous_open() -> Self {
        Self { credential: Credential::Open, name: "anonymous".to_owned(), scopes: vec![Scope::Admin] }
    }

    /// The principal of a command working on the store directly (see [`Credential::Local`]).
    pub fn local_operator() -> Self {
        Self { credential: Credential::Local, name: "local operator".to_owned(), scopes: vec![Scope::Admin] }
    }

    /// How audit entries name this principal.
    pub fn actor(&self) -> tributary_model::Actor {
        use tributary_model::{Actor, ActorKind};
        match &self.credential {
            Credential::Open => Actor { via: ActorKind::Open, token_id: None, name: self.name.clone() },
            Credential::Local => Actor { via: ActorKind::Local, token_id: None, name: self.name.clone() },
            Credential::Token(id) => {
                Actor { via: ActorKind::Token, token_id: Some(id.to_string()), name: self.name.clone() }
            }
        }
    }

    /// The principal of a token that passed [`TokenRecord::check`].
    pub fn from_token(record: &TokenRecord) -> Self {
        Self {
            credential: Credential::Token(record.id.clone()),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
        }
    }

    pub fn token_id(&self) -> Option<&TokenId> {
        match &self.credential {
            Credential::Open | Credential::Local => None,
            Credential::Token(id) => Some(id),
        }
    }

    pub fn is_open(&self) -> bool {
        self.credential == Credential::Open
    }

    fn allows_everything(&self) -> bool {
        matches!(self.credential, Credential::Open | Credential::Local) || self.scopes.contains(&Scope::Admin)
    }

    fn has_domain(&self, domain_id: &str) -> bool {
        self.scopes.iter().any(|scope| matches!(scope, Scope::Domain(id) if id == domain_id))
    }

    fn denied(&self, missing_scope: impl ToString, reason: String) -> Denied {
        Denied { missing_scope: missing_scope.to_string(), reason: format!("{reason} (token `{}`)", self.name) }
    }

    /// Queries: `read` or `admin`.
    pub fn can_read(&self) -> Result<(), Denied> {
        if self.allows_everything() || self.scopes.contains(&Scope::Read) {
            return Ok(());
        }
        Err(self.denied(Scope::Read, "reading lineage and the mesh needs `read`".to_owned()))
    }

    /// Writing one OpenLineage event whose job is in `job_namespace` and whose outputs are in
    /// `output_dataset_namespaces` (inputs are not limited): allowed when one `ingest` scope covers
    /// the job and every output, or with `admin`. Grants are not combined: with
    /// `ingest@jobs=a;datasets=x` and `ingest@jobs=b;datasets=y`, a job in `a` may not write `y`.
    pub fn can_ingest(&self, job_namespace: &str, output_dataset_namespaces: &[&str]) -> Result<(), Denied> {
        let Some(grants) = self.ingest_grants()? else { return Ok(()) };
        let job_grants: Vec<&IngestGrant> =
            grants.iter().copied().filter(|grant| grant.covers_job(job_namespace)).collect();
        let only_job = Some(vec![NamespaceGlob::Exact(job_namespace.to_owned())]);
        let Some(first_job_grant) = job_grants.first() else {
            let missing = IngestGrant { jobs: only_job, datasets: None };
            return Err(self.denied(
                missing,
                format!("job namespace `{job_namespace}` is outside the ingest grants {}", list(&grants)),
            ));
        };
        if job_grants
            .iter()
            .any(|grant| output_dataset_namespaces.iter().all(|namespace| grant.covers_dataset(namespace)))
        {
            return Ok(());
        }
        // Name what the first grant covering the job lacks.
        let mut uncovered: Vec<&str> = output_dataset_namespaces
            .iter()
            .copied()
            .filter(|namespace| !first_job_grant.covers_dataset(namespace))
            .collect();
        uncovered.sort_unstable();
        uncovered.dedup();
        let missing = IngestGrant {
            jobs: only_job,
            datasets: Some(uncovered.iter().map(|namespace| NamespaceGlob::Exact((*namespace).to_owned())).collect()),
        };
        let named = uncovered.iter().map(|namespace| format!("`{namespace}`")).collect::<Vec<_>>().join(", ");
        Err(self.denied(
            missing,
            format!(
                "output dataset namespace {named} of job namespace `{job_namespace}` is outside the ingest grants {}",
                list(&job_grants)
            ),
        ))
    }

    /// The caller's ingest grants: `None` when it may write anything (`admin`, open, local),
    /// refused when it has none.
    fn ingest_grants(&self) -> Result<Option<Vec<&IngestGrant>>, Denied> {
        if self.allows_everything() {
            return Ok(None);
        }
        let grants: Vec<&IngestGrant> = self
            .scopes
            .iter()
            .filter_map(|scope| match scope {
                Scope::Ingest(grant) => Some(grant),
                _ => None,
            })
            .collect();
        if grants.is_empty() {
            return Err(self.denied(IngestGrant::any(), "writing lineage needs an `ingest` scope".to_owned()));
        }
        Ok(Some(grants))
    }

    /// Whether the caller may write datasets in these namespaces without a job (a
    /// DatasetEvent, or the aliases an event declares): some ingest grant must cover them all.
    pub fn can_write_datasets(&self, namespaces: &[&str]) -> Result<(), Denied> {
        let Some(grants) = self.ingest_grants()? else { return Ok(()) };
        if grants.iter().any(|grant| namespaces.iter().all(|namespace| grant.covers_dataset(namespace))) {
            return Ok(());
        }
        let mut uncovered: Vec<&str> = namespaces
            .iter()
            .copied()
            .filter(|namespace| !grants.iter().any(|grant| grant.covers_dataset(namespace)))
            .collect();
        if uncovered.is_empty() {
            uncovered = namespaces.to_vec();
        }
        uncovered.sort_unstable();
        uncovered.dedup();
        let missing = IngestGrant {
            jobs: None,
            datasets: Some(uncovered.iter().map(|namespace| NamespaceGlob::Exact((*namespace).to_owned())).collect()),
        };
        let named = uncovered.iter().map(|namespace| format!("`{namespace}`")).collect::<Vec<_>>().join(", ");
        Err(self.denied(missing, format!("dataset namespace {named} is outside the ingest grants {}", list(&grants))))
    }

    /// Applying the descriptor of domain `domain_id`: `domain:<domain_id>` or `admin`.
    pub fn can_apply_domain(&self, domain_id: &str) -> Result<(), Denied> {
        if self.allows_everything() || self.has_domain(domain_id) {
            return Ok(());
        }
        Err(self.denied(
            Scope::Domain(domain_id.to_owned()),
            format!("applying the descriptor of domain `{domain_id}` needs `domain:{domain_id}` or `admin`"),
        ))
    }

    /// Applying a product descriptor whose `domain` is `product_domain_id`:
    /// `domain:<product_domain_id>` or `admin`. The product's own `domain` field decides, so a
    /// domain token cannot publish into another domain by naming it.
    pub fn can_apply_product(&self, product_domain_id: &str) -> Result<(), Denied> {
        if self.allows_everything() || self.has_domain(product_domain_id) {
            return Ok(());
        }
        Err(self.denied(
            Scope::Domain(product_domain_id.to_owned()),
            format!("applying a product of domain `{product_domain_id}` needs `domain:{product_domain_id}` or `admin`"),
        ))
    }

    /// Managing tokens and policies: `admin`.
    pub fn can_admin(&self) -> Result<(), Denied> {
        if self.allows_everything() {
            return Ok(());
        }
        Err(self.denied(Scope::Admin, "managing tokens and policies needs `admin`".to_owned()))
    }

    /// Whether [`Self::can_see_restricted`] allows every domain (an open server, `admin`).
    pub fn sees_every_domain(&self) -> bool {
        self.allows_everything()
    }

    /// Seeing the names and facets of a restricted product's datasets in domain `domain_id`:
    /// readers (`read`) granted `domain:<domain_id>`, or `admin`. Everyone else sees redacted
    /// nodes ([`crate::redacted_id`]).
    pub fn can_see_restricted(&self, domain_id: &str) -> Result<(), Denied> {
        if self.allows_everything() {
            return Ok(());
        }
        self.can_read()?;
        if self.has_domain(domain_id) {
            return Ok(());
        }
        Err(self.denied(
            Scope::Domain(domain_id.to_owned()),
            format!(
                "restricted products of domain `{domain_id}` are shown only to readers granted `domain:{domain_id}`"
            ),
        ))
    }
}

fn list(grants: &[&IngestGrant]) -> String {
    let written: Vec<String> = grants.iter().map(|grant| format!("`{grant}`")).collect();
    written.join(", ")
}
