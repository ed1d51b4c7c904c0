//! The data mesh: domains, data products and their contracts, as descriptors that platform
//! teams write (YAML or JSON), and the federated policies evaluated over them.
//!
//! Descriptor text is bounded before it is parsed: at most [`MAX_DESCRIPTOR_BYTES`], and
//! nesting and alias expansion per `tributary_change::check_yaml_limits`, so parsing stays
//! linear in the text whatever a client sends.
//!
//! Pure: parsing, validation and policy rules over values handed in. No IO, no async, no
//! storage; `tributary-service` stores descriptors and feeds the rules with graph facts.

mod descriptor;
mod duration;
mod policy;

pub use descriptor::{
    Classification, Contract, ContractStatus, DescriptorError, DocumentChange, DomainDescriptor, InputPort, Lifecycle,
    MAX_DESCRIPTOR_BYTES, OutputPort, Owner, ProductDescriptor, diff_documents, parse_domain, parse_product,
};
pub use duration::parse_duration;
pub use policy::{
    Policy, PolicyKind, Subject, Violation, check_breaking_major, check_output_ports, parse_policy_file,
    parse_policy_values, pii_columns,
};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
