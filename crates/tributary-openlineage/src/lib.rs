//! OpenLineage 2-0-2 on the wire: parse and validate RunEvent, DatasetEvent and JobEvent
//! JSON, and turn them into `tributary-model` terms.
//!
//! Validation checks what the spec requires of the event itself (with field paths in
//! every error) and validates each standard facet against its bundled JSON schema, chosen
//! by facet key and where the facet sits. Custom facets are kept as they are. Nothing is
//! dropped: the canonical JSON of the whole event travels with the parsed view.
//!
//! No IO beyond reading the schemas compiled into the binary; no async.

mod canonical;
mod event;
mod facets;
mod tape;

pub use canonical::{canonical_json, canonical_value_hash, content_hash, value_hash};
pub use event::{
    DatasetEventBody, DatasetRef, EventBody, EventError, EventNames, Facet, FacetSpan, Facets, JobEventBody,
    MAX_COLUMN_LINEAGE_FIELDS, MAX_COLUMN_LINEAGE_INPUTS, MAX_INPUTS, MAX_OUTPUTS, MAX_SCHEMA_FIELDS, ParsedEvent,
    RunEventBody, parse_event, stored_event_names,
};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
