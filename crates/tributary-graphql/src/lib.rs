//! GraphQL transport: the async-graphql schema over `tributary-service`, served at
//! `/graphql` (GraphiQL on GET). `schema.graphql` at the repository root is generated from
//! this code; a test fails when they drift. Knows the service, never the store.

mod check;
mod columns;
mod mesh;
mod types;

use async_graphql::http::GraphiQLSource;
use async_graphql::{EmptySubscription, MergedObject, Schema};
use async_graphql_axum::GraphQL;
use axum::Router;
use axum::response::{Html, IntoResponse};
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
        .finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription).finish().sdl()
}

async fn graphiql() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// `/graphql`: POST (and GET with `query=`) for queries, GraphiQL for a browser's GET.
pub fn router(service: Service) -> Router {
    let graphql = GraphQL::new(schema(service));
    Router::new().route("/graphql", get(graphiql).post_service(graphql))
}

#[cfg(test)]
mod tests;
