//! Schema diffs scored for breaking changes: given two versions of a dataset's schema, list
//! every change and score it for downstream readers, history and writers, following the
//! table in `BREAKING_CHANGES.md`.
//!
//! Schemas come from an OpenLineage `schema` facet ([`schema_from_openlineage`]) or a dbt
//! model contract ([`schema_from_dbt_contract`]); types are compared after normalising their
//! spelling ([`normalize_type`], [`compare_types`]). Where a schema is silent, [`diff`] names
//! the check it could not make rather than inventing a change. Joining changes with column
//! lineage and ownership is the server's job, not this crate's.
//!
//! YAML from clients goes through [`check_yaml_limits`] first (nesting and alias expansion
//! bounded, in linear time); `tributary-mesh` uses it for descriptors too.
//!
//! Pure functions over values: no IO, no async, and no dependency on the other Tributary crates.

mod change;
mod dbt;
mod diff;
mod openlineage;
mod schema;
mod types;
mod yaml;

#[cfg(test)]
mod properties;

pub use change::{
    Change, ChangeKind, SchemaDiff, Scores, UnsupportedCheck, Verdict, dataset_removed, dataset_renamed,
    producing_sql_changed,
};
pub use dbt::schema_from_dbt_contract;
pub use diff::diff;
pub use openlineage::schema_from_openlineage;
pub use schema::{Field, ForeignKey, MAX_FIELD_DEPTH, MAX_SCHEMA_FIELDS, Schema, SchemaError, is_classification_tag};
pub use types::{DataType, MAX_TYPE_DEPTH, StructField, TypeRelation, compare_types, normalize_type};
pub use yaml::{MAX_YAML_BLOCK_DEPTH, MAX_YAML_FLOW_DEPTH, MAX_YAML_VALUES, YamlLimitError, check_yaml_limits};

#[cfg(test)]
mod tests;
