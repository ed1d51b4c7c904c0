//! Federated policies: the global policy file and per-domain policies, and the checks that
//! need nothing but descriptors. Checks that need the lineage graph (PII propagation,
//! cross-domain reads, freshness) are run by the service with these definitions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_model::{DatasetId, JobId};

use crate::descriptor::{ContractStatus, DescriptorError, ProductDescriptor};

/// What a policy checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PolicyKind {
    /// Output ports must have what `require` lists: `owner`, `description`, `schema`, `contract`.
    OutputPortRequirements { require: Vec<String> },
    /// A column tagged with one of `tags` (PII) must not reach, through DIRECT column lineage
    /// without masking, an output port of a product classified public.
    PiiInPublicProducts { tags: Vec<String> },
    /// A job of one domain may read another domain's datasets only through its output ports.
    CrossDomainReads,
    /// A breaking change to an active contract's schema needs a new major contract version.
    BreakingChangeNeedsMajor,
    /// An output port whose last successful write is older than the product's SLA is stale.
    Freshness,
}

impl PolicyKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::OutputPortRequirements { .. } => "output-port-requirements",
            Self::PiiInPublicProducts { .. } => "pii-in-public-products",
            Self::CrossDomainReads => "cross-domain-reads",
            Self::BreakingChangeNeedsMajor => "breaking-change-needs-major",
            Self::Freshness => "freshness",
        }
    }
}

/// One policy. `domain` is `None` for global policies, else the domain it governs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub id: String,
    pub kind: PolicyKind,
    /// A blocking policy rejects a product apply that violates it; ingest is never
    /// rejected (lineage is an observation), its violations are recorded.
    pub blocking: bool,
    pub domain: Option<String>,
    pub description: Option<String>,
}

impl Policy {
    /// Whether the policy governs things of `domain`.
    pub fn applies_to(&self, domain: &str) -> bool {
        self.domain.as_deref().is_none_or(|own| own == domain)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicySpec {
    id: String,
    kind: String,
    #[serde(default)]
    blocking: Option<bool>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    require: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policies: Vec<Value>,
}

const PORT_REQUIREMENTS: [&str; 4] = ["owner", "description", "schema", "contract"];

/// Reads policy entries (from the policy file or a domain descriptor's `policies`).
pub fn parse_policy_values(values: &[Value], domain: Option<&str>, path: &str) -> Result<Vec<Policy>, DescriptorError> {
    let mut policies = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let spec: PolicySpec = serde_json::from_value(value.clone())
            .map_err(|error| DescriptorError { path: at.clone(), message: error.to_string() })?;
        if spec.id.trim().is_empty() {
            return Err(DescriptorError { path: format!("{at}.id"), message: "must not be empty".into() });
        }
        let kind = match spec.kind.as_str() {
            "output-port-requirements" => {
                let require =
                    spec.require.unwrap_or_else(|| vec!["owner".into(), "description".into(), "schema".into()]);
                if let Some(unknown) = require.iter().find(|r| !PORT_REQUIREMENTS.contains(&r.as_str())) {
                    return Err(DescriptorError {
                        path: format!("{at}.require"),
                        message: format!("`{unknown}` is not one of {}", PORT_REQUIREMENTS.join(", ")),
                    });
                }
                PolicyKind::OutputPortRequirements { require }
            }
            "pii-in-public-products" => PolicyKind::PiiInPublicProducts {
                tags: spec.tags.unwrap_or_else(|| vec!["pii".into()]).into_iter().map(|t| t.to_lowercase()).collect(),
            },
            "cross-domain-reads" => PolicyKind::CrossDomainReads,
            "breaking-change-needs-major" => PolicyKind::BreakingChangeNeedsMajor,
            "freshness" => PolicyKind::Freshness,
            other => {
                return Err(DescriptorError {
                    path: format!("{at}.kind"),
                    message: format!(
                        "`{other}` is not one of output-port-requirements, pii-in-public-products, cross-domain-reads, breaking-change-needs-major, freshness"
                    ),
                });
            }
        };
        policies.push(Policy {
            id: spec.id,
            kind,
            blocking: spec.blocking.unwrap_or(true),
            domain: domain.map(str::to_owned),
            description: spec.description,
        });
    }
    Ok(policies)
}

/// Reads the global policy file (`policies: [...]`, YAML or JSON).
pub fn parse_policy_file(text: &str) -> Result<Vec<Policy>, DescriptorError> {
    crate::descriptor::check_text(text, "policy file")?;
    let file: PolicyFile = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|error| DescriptorError { path: String::new(), message: error.to_string() })?
    } else {
        serde_yaml_ng::from_str(text).map_err(|error| {
            let message = crate::descriptor::yaml_message(&error);
            let message =
                if message.contains(" line ") { message } else { format!("the policy file as a whole: {message}") };
            DescriptorError { path: String::new(), message }
        })?
    };
    parse_policy_values(&file.policies, None, "policies")
}

/// What a violation is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Subject {
    Product { id: String },
    OutputPort { product: String, port: String },
    Dataset(DatasetId),
    Job(JobId),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Product { id } => write!(f, "product `{id}`"),
            Self::OutputPort { product, port } => write!(f, "output port `{port}` of product `{product}`"),
            Self::Dataset(id) => write!(f, "dataset `{id}`"),
            Self::Job(id) => write!(f, "job `{id}`"),
        }
    }
}

/// One violation: which policy, about what, why, and (for propagation findings) the path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Violation {
    pub policy: String,
    pub kind: &'static str,
    pub blocking: bool,
    pub subject: Subject,
    pub reason: String,
    /// For propagation findings: `namespace:name.field` steps from the source to the finding.
    pub path: Vec<String>,
    /// The dataset the finding is about, apart from the subject (the output port's dataset a
    /// PII column reaches, the dataset a job reads across domains), so clients need not parse
    /// `namespace:name` strings (namespaces contain `:` and `/`).
    pub dataset: Option<DatasetId>,
    /// The column of `dataset` the finding is about.
    pub column: Option<String>,
    /// `path` as (dataset, column) pairs.
    pub column_path: Vec<(DatasetId, String)>,
}

impl Violation {
    pub fn new(policy: &Policy, subject: Subject, reason: String) -> Self {
        Self {
            policy: policy.id.clone(),
            kind: policy.kind.name(),
            blocking: policy.blocking,
            subject,
            reason,
            path: Vec::new(),
            dataset: None,
            column: None,
            column_path: Vec::new(),
        }
    }
}

/// `output-port-requirements` on one product.
pub fn check_output_ports(policy: &Policy, require: &[String], product: &ProductDescriptor) -> Vec<Violation> {
    let mut violations = Vec::new();
    for port in &product.output_ports {
        let subject = || Subject::OutputPort { product: product.id.clone(), port: port.name.clone() };
        for requirement in require {
            let missing = match requirement.as_str() {
                "owner" => port.owners.is_empty() && product.owners.is_empty(),
                "description" => port.description.as_deref().is_none_or(|d| d.trim().is_empty()),
                "schema" => port.contract.as_ref().and_then(|c| c.schema.as_ref()).is_none(),
                "contract" => port.contract.is_none(),
                _ => false,
            };
            if missing {
                violations.push(Violation::new(
                    policy,
                    subject(),
                    format!("output port `{}` has no {requirement}", port.name),
                ));
            }
        }
    }
    violations
}

/// `breaking-change-needs-major`: compares each output port's contract schema with the
/// previously applied version of the product.
pub fn check_breaking_major(policy: &Policy, previous: &ProductDescriptor, next: &ProductDescriptor) -> Vec<Violation> {
    let mut violations = Vec::new();
    for port in &next.output_ports {
        let Some(old_port) = previous.output_ports.iter().find(|old| old.name == port.name) else { continue };
        let (Some(old_contract), Some(new_contract)) = (&old_port.contract, &port.contract) else { continue };
        if old_contract.status != ContractStatus::Active {
            continue;
        }
        let (Some(old_schema), Some(new_schema)) = (&old_contract.schema, &new_contract.schema) else { continue };
        let (Ok(old_schema), Ok(new_schema)) = (
            tributary_change::schema_from_openlineage(old_schema),
            tributary_change::schema_from_openlineage(new_schema),
        ) else {
            continue;
        };
        let diff = tributary_change::diff(&old_schema, &new_schema);
        let breaking: Vec<String> = diff
            .changes
            .iter()
            .filter(|change| change.verdict == tributary_change::Verdict::Breaking)
            .map(|change| change.summary.clone())
            .collect();
        if breaking.is_empty() {
            continue;
        }
        let (old_major, new_major) = (old_contract.major(), new_contract.major());
        if new_major.zip(old_major).is_none_or(|(new, old)| new <= old) {
            violations.push(Violation::new(
                policy,
                Subject::OutputPort { product: next.id.clone(), port: port.name.clone() },
                format!(
                    "breaking change to active contract {} of port `{}` needs a new major version (got {}): {}",
                    old_contract.version,
                    port.name,
                    new_contract.version,
                    breaking.join("; ")
                ),
            ));
        }
    }
    violations
}

/// Columns a product declares as PII: contract schema fields carrying one of `tags`.
pub fn pii_columns(product: &ProductDescriptor, tags: &[String]) -> Vec<(DatasetId, String)> {
    let mut columns = Vec::new();
    for port in &product.output_ports {
        let Some(schema) = port.contract.as_ref().and_then(|c| c.schema.as_ref()) else { continue };
        let fields = schema.get("fields").unwrap_or(schema);
        collect_tagged(fields, "", tags, &port.dataset, &mut columns);
    }
    columns
}

fn collect_tagged(
    fields: &Value,
    prefix: &str,
    tags: &[String],
    dataset: &DatasetId,
    out: &mut Vec<(DatasetId, String)>,
) {
    for field in fields.as_array().into_iter().flatten() {
        let Some(name) = field.get("name").and_then(Value::as_str) else { continue };
        let path = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };
        let tagged = field.get("tags").and_then(Value::as_array).into_iter().flatten().any(|tag| {
            let text = tag.as_str().or_else(|| tag.get("key").and_then(Value::as_str)).unwrap_or("");
            tags.iter().any(|wanted| wanted.eq_ignore_ascii_case(text))
        });
        if tagged {
            out.push((dataset.clone(), path.clone()));
        }
        if let Some(nested) = field.get("fields") {
            collect_tagged(nested, &path, tags, dataset, out);
        }
    }
}
