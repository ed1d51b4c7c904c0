//! Domain and data product descriptors: the files a platform team applies.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_model::DatasetId;

use crate::duration::parse_duration;

/// A rejected descriptor: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("`{path}`: ") })]
pub struct DescriptorError {
    pub path: String,
    pub message: String,
}

impl DescriptorError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Who may see a product's data, from least to most restricted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Public,
    #[default]
    Internal,
    Confidential,
    Restricted,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Draft,
    #[default]
    Active,
    Deprecated,
    Retired,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractStatus {
    Draft,
    #[default]
    Active,
    Deprecated,
}

/// An owner: a person or team, with a role such as `technical` or `business`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What an output port promises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contract {
    /// Semantic version `MAJOR.MINOR.PATCH`; a breaking change needs a new major.
    pub version: String,
    #[serde(default)]
    pub status: ContractStatus,
    /// The promised schema, in the OpenLineage `schema` facet shape (`{"fields": [...]}`);
    /// field `tags` such as `pii` classify columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Free-form guarantees (completeness, latency, retention…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guarantees: BTreeMap<String, Value>,
}

impl Contract {
    /// The major version number, if `version` starts with one.
    pub fn major(&self) -> Option<u64> {
        self.version.trim_start_matches(['v', 'V']).split('.').next()?.parse().ok()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputPort {
    pub name: String,
    pub dataset: DatasetId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// Overrides the product's classification for this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Owners of this port in particular (the product's owners apply otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<Owner>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputPort {
    pub dataset: DatasetId,
    /// The product the dataset is an output port of, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// A data product, as applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub id: String,
    pub name: String,
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub owners: Vec<Owner>,
    #[serde(default)]
    pub output_ports: Vec<OutputPort>,
    #[serde(default)]
    pub input_ports: Vec<InputPort>,
    /// Datasets the product keeps inside its domain (not for other domains to read).
    #[serde(default)]
    pub internal_datasets: Vec<DatasetId>,
    /// Longest acceptable age of an output port's last successful write (`6h`, `PT6H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness_sla: Option<String>,
    #[serde(default)]
    pub classification: Classification,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
}

impl ProductDescriptor {
    /// The freshness SLA in seconds (validated at parse time).
    pub fn freshness_sla_seconds(&self) -> Option<u64> {
        self.freshness_sla.as_deref().and_then(|text| parse_duration(text).ok())
    }

    /// Every dataset the product declares, output ports first.
    pub fn datasets(&self) -> impl Iterator<Item = &DatasetId> {
        self.output_ports.iter().map(|port| &port.dataset).chain(&self.internal_datasets)
    }

    pub fn port_classification(&self, port: &OutputPort) -> Classification {
        port.classification.unwrap_or(self.classification)
    }
}

/// A domain: who owns it, which namespaces are its own, and its own policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub owners: Vec<Owner>,
    /// OpenLineage namespaces whose datasets and jobs belong to this domain.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Domain policies, in the policy file's format (see `docs/policies.md`).
    #[serde(default)]
    pub policies: Vec<Value>,
}

/// Longest descriptor or policy file accepted, in bytes.
pub const MAX_DESCRIPTOR_BYTES: usize = 1024 * 1024;

/// Bounds what the YAML or JSON parser is given: the length, and (in time linear in it) the
/// nesting and alias expansion that would make parsing slow or huge (see
/// [`tributary_change::check_yaml_limits`]). Errors name the line and column.
pub(crate) fn check_text(text: &str, what: &str) -> Result<(), DescriptorError> {
    if text.len() > MAX_DESCRIPTOR_BYTES {
        return Err(DescriptorError::new(
            "",
            format!("the {what} is {} bytes; at most {MAX_DESCRIPTOR_BYTES} are accepted", text.len()),
        ));
    }
    tributary_change::check_yaml_limits(text).map_err(|error| DescriptorError::new("", error.to_string()))
}

fn deserialize<T: DeserializeOwned>(text: &str) -> Result<T, DescriptorError> {
    check_text(text, "descriptor")?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(DescriptorError::new("", "the descriptor is empty"));
    }
    if trimmed.starts_with('{') {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            DescriptorError::new(error.path().to_string().trim_start_matches('.'), error.inner().to_string())
        })
    } else {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            DescriptorError::new(error.path().to_string().trim_start_matches('.'), yaml_message(error.inner()))
        })
    }
    .map_err(|mut error: DescriptorError| {
        if error.path == "." {
            error.path.clear();
        }
        // Without a path or a position, the problem is the document as a whole (a list or a
        // string where the fields should be): say so.
        if error.path.is_empty() && !error.message.contains(" line ") {
            error.message = format!("the descriptor as a whole: {}", error.message);
        }
        error
    })
}

/// A YAML error's message with its position, which the message leaves out at the very start
/// of the text.
pub(crate) fn yaml_message(error: &serde_yaml_ng::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(location) if !message.contains(" line ") => {
            format!("{message} at line {} column {}", location.line(), location.column())
        }
        _ => message,
    }
}

fn check_id(path: &str, id: &str) -> Result<(), DescriptorError> {
    if id.is_empty() {
        return Err(DescriptorError::new(path, "must not be empty"));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')) {
        return Err(DescriptorError::new(path, format!("`{id}` may use only letters, digits, `.`, `_`, `-` and `/`")));
    }
    Ok(())
}

fn check_kind(kind: Option<&str>, expected: &str) -> Result<(), DescriptorError> {
    match kind {
        Some(kind) if kind != expected => {
            Err(DescriptorError::new("kind", format!("is `{kind}`, expected `{expected}`")))
        }
        _ => Ok(()),
    }
}

fn check_dataset(path: &str, dataset: &DatasetId) -> Result<(), DescriptorError> {
    for (part, value) in [("namespace", &dataset.namespace), ("name", &dataset.name)] {
        if value.is_empty() || value.contains('\0') {
            return Err(DescriptorError::new(format!("{path}.{part}"), "must be a non-empty name"));
        }
    }
    Ok(())
}

fn check_owners(path: &str, owners: &[Owner]) -> Result<(), DescriptorError> {
    for (index, owner) in owners.iter().enumerate() {
        if owner.name.trim().is_empty() {
            return Err(DescriptorError::new(format!("{path}[{index}].name"), "must not be empty"));
        }
    }
    Ok(())
}

/// Parses and validates a product descriptor (JSON when it starts with `{`, else YAML).
pub fn parse_product(text: &str) -> Result<ProductDescriptor, DescriptorError> {
    let product: ProductDescriptor = deserialize(text)?;
    check_kind(product.kind.as_deref(), "DataProduct")?;
    check_id("id", &product.id)?;
    check_id("domain", &product.domain)?;
    if product.name.trim().is_empty() {
        return Err(DescriptorError::new("name", "must not be empty"));
    }
    check_owners("owners", &product.owners)?;
    if let Some(sla) = &product.freshness_sla {
        parse_duration(sla).map_err(|message| DescriptorError::new("freshnessSla", message))?;
    }
    let mut port_names = BTreeSet::new();
    let mut datasets = BTreeSet::new();
    for (index, port) in product.output_ports.iter().enumerate() {
        let path = format!("outputPorts[{index}]");
        if port.name.trim().is_empty() {
            return Err(DescriptorError::new(format!("{path}.name"), "must not be empty"));
        }
        if !port_names.insert(port.name.as_str()) {
            return Err(DescriptorError::new(
                format!("{path}.name"),
                format!("port `{}` is declared twice", port.name),
            ));
        }
        check_dataset(&format!("{path}.dataset"), &port.dataset)?;
        if !datasets.insert(&port.dataset) {
            return Err(DescriptorError::new(
                format!("{path}.dataset"),
                format!("`{}` is declared twice", port.dataset),
            ));
        }
        check_owners(&format!("{path}.owners"), &port.owners)?;
        if let Some(contract) = &port.contract {
            if contract.major().is_none() {
                return Err(DescriptorError::new(
                    format!("{path}.contract.version"),
                    format!("`{}` is not a version like 1.2.0", contract.version),
                ));
            }
            if let Some(schema) = &contract.schema {
                let fields = schema.get("fields").unwrap_or(schema);
                if !fields.is_array() {
                    return Err(DescriptorError::new(
                        format!("{path}.contract.schema"),
                        "must be an OpenLineage schema facet (`{fields: [...]}`) or a list of fields",
                    ));
                }
            }
        }
    }
    for (index, dataset) in product.internal_datasets.iter().enumerate() {
        let path = format!("internalDatasets[{index}]");
        check_dataset(&path, dataset)?;
        if !datasets.insert(dataset) {
            return Err(DescriptorError::new(path, format!("`{dataset}` is declared twice")));
        }
    }
    for (index, port) in product.input_ports.iter().enumerate() {
        check_dataset(&format!("inputPorts[{index}].dataset"), &port.dataset)?;
    }
    Ok(product)
}

/// Parses and validates a domain descriptor.
pub fn parse_domain(text: &str) -> Result<DomainDescriptor, DescriptorError> {
    let domain: DomainDescriptor = deserialize(text)?;
    check_kind(domain.kind.as_deref(), "Domain")?;
    check_id("id", &domain.id)?;
    if domain.name.trim().is_empty() {
        return Err(DescriptorError::new("name", "must not be empty"));
    }
    check_owners("owners", &domain.owners)?;
    for (index, namespace) in domain.namespaces.iter().enumerate() {
        if namespace.is_empty() {
            return Err(DescriptorError::new(format!("namespaces[{index}]"), "must not be empty"));
        }
    }
    Ok(domain)
}

/// One difference between two JSON documents: the path (`outputPorts[0].contract.version`)
/// and the values on each side (`None` where absent).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocumentChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Structural diff of two descriptors (objects by key, arrays by position).
pub fn diff_documents(before: &Value, after: &Value) -> Vec<DocumentChange> {
    let mut changes = Vec::new();
    diff_values("", Some(before), Some(after), &mut changes);
    changes
}

fn diff_values(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<DocumentChange>) {
    match (before, after) {
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                diff_values(&child, old.get(key), new.get(key), out);
            }
        }
        (Some(Value::Array(old)), Some(Value::Array(new))) => {
            for index in 0..old.len().max(new.len()) {
                diff_values(&format!("{path}[{index}]"), old.get(index), new.get(index), out);
            }
        }
        (old, new) if old != new => {
            out.push(DocumentChange { path: path.to_owned(), before: old.cloned(), after: new.cloned() })
        }
        _ => {}
    }
}
