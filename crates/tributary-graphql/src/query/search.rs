//! Search across products, datasets and jobs.

use crate::error::gql_error;
use crate::scalars::{NodeRef, service};
use crate::types::search::{SearchKind, SearchPage, SearchResult};
use async_graphql::{Context, Object, Result};
use tributary_service::model::NodeKind as ModelKind;

#[derive(Default)]
pub struct SearchQueryRoot;

#[Object]
impl SearchQueryRoot {
    /// Discovery: products, datasets and jobs by text, tag, owner and domain (all given
    /// filters must match), paged.
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        context: &Context<'_>,
        text: Option<String>,
        tag: Option<String>,
        owner: Option<String>,
        domain: Option<String>,
        kinds: Option<Vec<SearchKind>>,
        #[graphql(default = 50)] first: usize,
        after: Option<String>,
    ) -> Result<SearchPage> {
        let kinds = kinds.unwrap_or_else(|| vec![SearchKind::Product, SearchKind::Dataset, SearchKind::Job]);
        let offset = match &after {
            Some(cursor) => cursor.parse::<usize>().map_err(|_| {
                gql_error(tributary_service::ServiceError::invalid("after", "is not a cursor returned by this server"))
            })?,
            None => 0,
        };
        let query = tributary_service::SearchQuery {
            text,
            tag,
            owner,
            domain,
            products: kinds.contains(&SearchKind::Product),
            datasets: kinds.contains(&SearchKind::Dataset),
            jobs: kinds.contains(&SearchKind::Job),
        };
        let (hits, more) = service(context).search(query, offset, first).await.map_err(gql_error)?;
        let count = hits.len();
        let results = hits
            .into_iter()
            .map(|hit| match hit {
                tributary_service::SearchHit::Product(id) => {
                    SearchResult { kind: SearchKind::Product, product: Some(id), node: None }
                }
                tributary_service::SearchHit::Node(node) => SearchResult {
                    kind: if node.kind == ModelKind::Dataset { SearchKind::Dataset } else { SearchKind::Job },
                    product: None,
                    node: Some(NodeRef::from(&node)),
                },
            })
            .collect();
        Ok(SearchPage { results, next_cursor: more.then(|| (offset + count).to_string()) })
    }
}
