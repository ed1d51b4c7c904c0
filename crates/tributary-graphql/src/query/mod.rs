//! The query roots, one per use case, merged into `QueryRoot`.

pub(crate) mod access;
pub(crate) mod check;
pub(crate) mod core;
pub(crate) mod kafka;
pub(crate) mod mesh;
pub(crate) mod search;
pub(crate) mod store;
