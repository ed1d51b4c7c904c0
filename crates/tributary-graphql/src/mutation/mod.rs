//! The mutation roots, merged into `MutationRoot`.

pub(crate) mod access;
pub(crate) mod mesh;
