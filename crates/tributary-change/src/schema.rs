//! The schema of one dataset version, as far as a producer or contract states it.

use serde::{Deserialize, Serialize};

/// At most this many fields in one schema, nested fields included. Schemas come from clients
/// (a proposed change) and from events, and every field costs the diff and the report; the
/// event parser accepts no more per dataset, so a stored schema always reads back.
pub const MAX_SCHEMA_FIELDS: usize = 20_000;

/// Nested struct fields go at most this deep (a top-level column is at depth 1). Deeper than
/// any JSON event can nest (its parser stops at 128 levels of JSON, two per level of fields).
pub const MAX_FIELD_DEPTH: usize = 64;

/// A dataset's columns and dataset-level promises.
///
/// `None` everywhere means "the schema does not say", never "no": a missing primary key is
/// `None`, an explicit absence of keys is `Some(vec![])`. [`crate::diff`] reports what it
/// could not check instead of guessing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Schema {
    /// Top-level columns in declared order; names are unique at each level.
    pub fields: Vec<Field>,
    /// Column paths (`address.zip` for nested ones).
    pub primary_key: Option<Vec<String>>,
    pub unique_keys: Option<Vec<Vec<String>>>,
    pub foreign_keys: Option<Vec<ForeignKey>>,
    /// In declared order: the order decides the physical layout.
    pub partition_keys: Option<Vec<String>>,
    pub contract_enforced: Option<bool>,
    /// Set when the contract (a dbt model version, say) is deprecated; the date if one is given,
    /// else an empty string.
    pub deprecation_date: Option<String>,
}

/// Referential integrity promised for `columns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    /// The referenced relation and columns as the source spells them: `customers(id)`,
    /// `ref('customers')(id)`.
    pub references: String,
}

/// One column or nested field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Field {
    pub name: String,
    /// As the source spells it; compared through [`crate::normalize_type`].
    pub data_type: Option<String>,
    pub nullable: Option<bool>,
    /// The allowed values, when the source restricts them.
    pub enum_values: Option<Vec<String>>,
    pub default: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Nested struct fields, in order. For an array of structs these are the element's fields,
    /// so paths read `items.sku` whatever the nesting of arrays.
    pub fields: Vec<Field>,
}

/// Bad input to one of the schema readers, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("`{path}`: {message}")]
#[serde(rename_all = "camelCase")]
pub struct SchemaError {
    /// Where the problem is: `fields[2].name`, `models[0].columns[1].data_type`; `$` for the
    /// document as a whole.
    pub path: String,
    pub message: String,
}

impl SchemaError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        SchemaError { path: path.into(), message: message.into() }
    }
}

/// Classification tags mark governed data; removing one is a policy event (rule 22).
/// `pii`, `PII.Sensitive` (OpenMetadata), `classification:confidential`, `urn:li:tag:pii` (DataHub).
pub fn is_classification_tag(tag: &str) -> bool {
    let tag = tag.trim().to_lowercase();
    let tag = tag.strip_prefix("urn:li:tag:").unwrap_or(&tag);
    tag == "pii"
        || tag.starts_with("pii.")
        || tag.starts_with("pii:")
        || tag.starts_with("classification:")
        || tag.starts_with("classification.")
}
