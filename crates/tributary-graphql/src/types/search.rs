//! `SearchPage`: search results over products, datasets and jobs.

use crate::scalars::NodeRef;
use async_graphql::SimpleObject;

/// What to search.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    Product,
    Dataset,
    Job,
}

#[derive(SimpleObject)]
pub struct SearchResult {
    pub kind: SearchKind,
    /// For products.
    pub product: Option<String>,
    /// For datasets and jobs.
    pub node: Option<NodeRef>,
}

#[derive(SimpleObject)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
