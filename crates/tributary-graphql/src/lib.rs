//! GraphQL transport: the async-graphql schema over `tributary-service`, served at
//! `/graphql` (GraphiQL on GET). `schema.graphql` at the repository root is generated from
//! this code; a test fails when they drift. Knows the service, never the store.

pub mod budget;
mod check;
mod columns;
mod error;
mod mesh;
mod scalars;
mod types;

use async_graphql::{BatchRequest, BatchResponse, EmptySubscription, MergedObject, Schema};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tributary_service::Service;

pub use mesh::MutationRoot;

/// Every query: lineage and metadata, plus the mesh.
#[derive(MergedObject, Default)]
pub struct QueryRoot(types::QueryCore, mesh::MeshQuery, mesh::SearchQueryRoot, check::CheckQuery, check::ChangesQuery);

pub type TributarySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted (nesting of selections).
const MAX_QUERY_DEPTH: usize = 24;

pub fn schema(service: Service) -> TributarySchema {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription)
        .data(service)
        .limit_depth(MAX_QUERY_DEPTH)
        .limit_recursive_depth(MAX_QUERY_DEPTH * 2)
        .limit_complexity(budget::MAX_EXPANDED_FIELDS as usize)
        .finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription).finish().sdl()
}

/// GraphiQL for a browser's GET. Its scripts and styles (GraphiQL 4 and React 18, pinned in
/// `scripts/vendor-web.sh`) are compiled into the server and served under `/assets/`, so the
/// page works without network access; the page passes the explorer's token, if one was
/// entered, as the `Authorization` header.
const GRAPHIQL_PAGE: &str = include_str!("graphiql.html");

async fn graphiql() -> impl IntoResponse {
    Html(GRAPHIQL_PAGE)
}

/// `/graphql`: POST for queries and mutations (JSON, one request or a batch), GraphiQL for
/// a browser's GET. Bodies are capped at `max_body_bytes`; documents are checked against
/// [`budget`] before the schema validates them.
pub fn router(service: Service, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(schema(service))
}

/// A request-level GraphQL error (HTTP 200, as GraphQL-over-HTTP answers `application/json`).
fn request_error(code: &str, message: String) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    axum::Json(body).into_response()
}

async fn execute(State(schema): State<TributarySchema>, body: Bytes) -> Response {
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return request_error("BAD_REQUEST", format!("the body is not a GraphQL request in JSON: {error}"));
        }
    };
    let batched = matches!(batch, BatchRequest::Batch(_));
    let mut requests = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests,
    };
    if requests.len() > budget::MAX_BATCH {
        return request_error(
            "QUERY_TOO_LARGE",
            format!("a batch holds {} operations; at most {} are allowed", requests.len(), budget::MAX_BATCH),
        );
    }
    for request in &mut requests {
        // A document that does not parse is left for the schema to report as usual.
        if let Ok(document) = request.parsed_query()
            && let Err(budget::OverBudget(reason)) = budget::check(document)
        {
            return request_error("QUERY_TOO_LARGE", reason);
        }
    }
    let response: BatchResponse = match (batched, requests.pop()) {
        (false, Some(request)) => BatchResponse::Single(schema.execute(request).await),
        (_, last) => {
            requests.extend(last);
            schema.execute_batch(BatchRequest::Batch(requests)).await
        }
    };
    axum::Json(response).into_response()
}

#[cfg(test)]
mod tests;
