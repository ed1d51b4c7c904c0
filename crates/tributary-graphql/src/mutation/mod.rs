//! The mutation roots, merged into `MutationRoot`.

pub(crate) mod access;
pub(crate) mod mesh;
pub(crate) mod store;
