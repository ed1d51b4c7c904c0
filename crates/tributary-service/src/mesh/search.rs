//! Discovery: products, datasets and jobs by text, tag, owner and domain.

use std::collections::BTreeSet;

use tributary_graph::NameFilter;
use tributary_model::{DatasetId, JobId, NodeKind, NodeRef};

use crate::units::{NAME_UNIT, graph_in_units};
use crate::{Service, ServiceError, Shared};

/// One search hit: a product, or a dataset or job.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SearchHit {
    Product(String),
    Node(NodeRef),
}

/// Discovery filters; all given filters must match.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Case-insensitive substring of the name (and, for products, id and description).
    pub text: Option<String>,
    /// A tag (product tags; `tags` facets of datasets and jobs).
    pub tag: Option<String>,
    /// An owner name (product and port owners; `ownership` facets).
    pub owner: Option<String>,
    /// A domain id (products of it; datasets and jobs of its products or namespaces).
    pub domain: Option<String>,
    pub products: bool,
    pub datasets: bool,
    pub jobs: bool,
}

/// Most candidates a text-only search takes from the name index, of each kind.
const SEARCH_SCAN: usize = 100_000;

impl Service {
    /// Searches products, datasets and jobs; results in a stable order, paged by offset.
    pub async fn search(
        &self,
        query: SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<SearchHit>, bool), ServiceError> {
        let principal = self.require_read()?;
        if limit == 0 || limit > 1000 {
            return Err(ServiceError::invalid("first", "must be between 1 and 1000"));
        }
        if query.text.is_none() && query.tag.is_none() && query.owner.is_none() && query.domain.is_none() {
            return Err(ServiceError::invalid("text", "give at least one of text, tag, owner or domain"));
        }
        let hits = self
            .traversal(move |shared| {
                let mut hits = shared.search(&query)?;
                // Datasets the caller may not see are not found.
                let visibility =
                    crate::visibility::Visibility::new(&principal, &shared.read_state(), &shared.redaction_key);
                hits.retain(|hit| match hit {
                    SearchHit::Node(node) => {
                        node.kind == NodeKind::Job || !visibility.hides(&DatasetId::new(&*node.namespace, &*node.name))
                    }
                    _ => true,
                });
                Ok(hits)
            })
            .await?;
        let more = hits.len() > offset + limit;
        Ok((hits.into_iter().skip(offset).take(limit).collect(), more))
    }
}

impl Shared {
    fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, ServiceError> {
        let text = query.text.as_ref().map(|t| t.to_lowercase());
        let tag = query.tag.as_ref().map(|t| t.to_lowercase());
        let mut hits: BTreeSet<SearchHit> = BTreeSet::new();
        if query.products {
            let state = self.read_state();
            for (product, _) in state.mesh.products.values() {
                let matches_text = text.as_ref().is_none_or(|needle| {
                    product.id.to_lowercase().contains(needle)
                        || product.name.to_lowercase().contains(needle)
                        || product.description.as_deref().is_some_and(|d| d.to_lowercase().contains(needle))
                });
                let matches_tag =
                    tag.as_ref().is_none_or(|wanted| product.tags.iter().any(|t| &t.to_lowercase() == wanted));
                let matches_owner = query.owner.as_ref().is_none_or(|owner| {
                    product
                        .owners
                        .iter()
                        .chain(product.output_ports.iter().flat_map(|p| &p.owners))
                        .any(|o| &o.name == owner)
                });
                let matches_domain = query.domain.as_ref().is_none_or(|domain| &product.domain == domain);
                if matches_text && matches_tag && matches_owner && matches_domain {
                    hits.insert(SearchHit::Product(product.id.clone()));
                }
            }
        }
        if query.datasets || query.jobs {
            // Candidates from the most selective filter, then every filter checked.
            let candidates: Vec<NodeRef> = if let Some(owner) = &query.owner {
                self.store.nodes_owned_by(owner)?
            } else if let Some(tag) = &tag {
                self.store.nodes_tagged(tag)?
            } else {
                // The name index scanned a slice at a time (`graph_in_units`): a publication
                // waits for one slice, not a scan of every name.
                let mut nodes: Vec<NodeRef> = Vec::new();
                for kind in [NodeKind::Dataset, NodeKind::Job] {
                    let filter = NameFilter { kind, namespace: None, search: text.as_deref().unwrap_or("") };
                    let (mut after, mut found) = (None, 0);
                    graph_in_units(self, |state| {
                        let (matches, resume) =
                            state.index.scan_names(&filter, after.as_ref(), NAME_UNIT, SEARCH_SCAN - found);
                        found += matches.len();
                        nodes.extend(matches);
                        after = resume;
                        Ok(after.is_none() || found == SEARCH_SCAN)
                    })?;
                }
                nodes
            };
            let owned: Option<BTreeSet<NodeRef>> = query
                .owner
                .as_ref()
                .map(|owner| self.store.nodes_owned_by(owner))
                .transpose()?
                .map(|n| n.into_iter().collect());
            let tagged: Option<BTreeSet<NodeRef>> =
                tag.as_ref().map(|tag| self.store.nodes_tagged(tag)).transpose()?.map(|n| n.into_iter().collect());
            // The candidates checked in units too (a job's domain reads its outputs).
            let mut candidates = candidates.into_iter();
            graph_in_units(self, |state| {
                let (mesh, index) = (&state.mesh, &state.index);
                let Some(node) = candidates.next() else { return Ok(true) };
                let wanted_kind = match node.kind {
                    NodeKind::Dataset => query.datasets,
                    NodeKind::Job => query.jobs,
                };
                if !wanted_kind
                    || text.as_ref().is_some_and(|needle| !node.name.to_lowercase().contains(needle))
                    || owned.as_ref().is_some_and(|set| !set.contains(&node))
                    || tagged.as_ref().is_some_and(|set| !set.contains(&node))
                {
                    return Ok(false);
                }
                if let Some(domain) = &query.domain {
                    let node_domain = match node.kind {
                        NodeKind::Dataset => {
                            mesh.dataset_domain(&DatasetId::new(&*node.namespace, &*node.name)).map(str::to_owned)
                        }
                        NodeKind::Job => {
                            let id = JobId::new(&*node.namespace, &*node.name);
                            let outputs: Vec<DatasetId> = index
                                .job_outputs(&id)
                                .into_iter()
                                .map(|n| DatasetId::new(n.namespace, n.name))
                                .collect();
                            mesh.job_domain(&id, &outputs).map(str::to_owned)
                        }
                    };
                    if node_domain.as_ref() != Some(domain) {
                        return Ok(false);
                    }
                }
                hits.insert(SearchHit::Node(node));
                Ok(false)
            })?;
        }
        Ok(hits.into_iter().collect())
    }
}
