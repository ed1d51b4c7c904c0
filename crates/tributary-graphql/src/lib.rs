//! GraphQL transport: the async-graphql schema over `tributary-service`, served at
//! `/graphql` (GraphiQL on GET). `schema.graphql` at the repository root is generated from
//! this code; a test fails when they drift. Knows the service, never the store.

pub mod budget;
mod error;
mod mutation;
mod query;
mod scalars;
mod types;

use async_graphql::{BatchRequest, BatchResponse, EmptySubscription, MergedObject, Schema};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tributary_service::Service;

/// Every query: lineage and metadata, plus the mesh.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    query::core::QueryCore,
    query::mesh::MeshQuery,
    query::search::SearchQueryRoot,
    query::check::CheckQuery,
    query::check::ChangesQuery,
    query::access::AccessQuery,
    query::kafka::KafkaQuery,
    query::store::StoreQuery,
);

/// Every mutation: descriptor applies, token management and the store's maintenance.
#[derive(MergedObject, Default)]
pub struct MutationRoot(mutation::mesh::MeshMutation, mutation::access::AccessMutation, mutation::store::StoreMutation);

pub type TributarySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted (nesting of selections).
const MAX_QUERY_DEPTH: usize = 24;

/// The schema. The service is not in it: each request carries the handle acting for its
/// caller (see [`router`]).
pub fn schema() -> TributarySchema {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(MAX_QUERY_DEPTH)
        .limit_recursive_depth(MAX_QUERY_DEPTH * 2)
        .limit_complexity(budget::MAX_EXPANDED_FIELDS as usize)
        .finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription).finish().sdl()
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
///
/// Each operation runs with the service handle the server's request guard authenticated
/// (from the `Authorization` header) and put in the request's extensions; without one, the
/// base handle, which is unidentified and refused whenever authentication is required.
pub fn router(service: Service, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(GraphqlState { schema: schema(), base: service })
}

#[derive(Clone)]
struct GraphqlState {
    schema: TributarySchema,
    base: Service,
}

/// A request-level GraphQL error (HTTP 200, as GraphQL-over-HTTP answers `application/json`).
fn request_error(code: &str, message: String) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    axum::Json(body).into_response()
}

async fn execute(
    State(GraphqlState { schema, base }): State<GraphqlState>,
    caller: Option<axum::Extension<Service>>,
    body: Bytes,
) -> Response {
    let service = caller.map_or(base, |axum::Extension(service)| service);
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
    // Plain lists are written as JSON while executing and spliced in afterwards (`plain`).
    let splicer = std::sync::Arc::new(types::plain::Splicer::default());
    for request in &mut requests {
        request.data.insert(service.clone());
        request.data.insert(std::sync::Arc::clone(&splicer));
        request.data.insert(types::mesh_edge::RequestProductLineage::default());
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
    json_response(response, splicer, service).await
}

/// Writes the response as JSON on a blocking thread: a large lineage answer is tens of
/// megabytes of JSON, work that must not hold an async worker (axum's `Json` would do it
/// there, and grow its buffer a write at a time). Plain lists (`plain::Splicer`, the long
/// lists of lineage answers) are written where their placeholders stand, a piece each time the
/// connection asks for one, on the service's read threads (`Service::encode_answer`: at the
/// lower priority of the walks, so ingest goes first on busy cores).
async fn json_response(
    response: BatchResponse,
    splicer: std::sync::Arc<types::plain::Splicer>,
    service: Service,
) -> Response {
    use types::plain::Piece;
    let written =
        tokio::task::spawn_blocking(move || serde_json::to_vec(&response).map(|body| splicer.splice(body))).await;
    let pieces = match written {
        Ok(Ok(pieces)) => pieces,
        Ok(Err(error)) => {
            tracing::error!(%error, "writing a GraphQL response failed");
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("writing the response failed: {error}"))
                .into_response();
        }
        Err(error) => {
            tracing::error!(%error, "the task writing a GraphQL response failed");
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "writing the response failed".to_owned())
                .into_response();
        }
    };
    let content_type = (axum::http::header::CONTENT_TYPE, "application/json");
    // No list to write: the response as it is, with its length.
    if let [Piece::Bytes(whole)] = &pieces[..] {
        return ([content_type], axum::body::Body::from(whole.clone())).into_response();
    }
    // Lists are written while the response is sent: each piece on a read thread when the
    // connection asks for it, so a slow client holds no thread and no more than a piece.
    let pieces: std::collections::VecDeque<Piece> = pieces.into();
    let stream = futures::stream::unfold((pieces, None), move |(mut pieces, writing)| {
        let service = service.clone();
        async move {
            let mut writing: Option<types::plain::Deferred> = writing;
            loop {
                if let Some(mut writer) = writing.take() {
                    let written = service
                        .encode_answer(move || {
                            let piece = writer.next_piece();
                            (writer, piece)
                        })
                        .await;
                    match written {
                        Ok((writer, Some(Ok(piece)))) => return Some((Ok(Bytes::from(piece)), (pieces, Some(writer)))),
                        Ok((_, None)) => {}
                        Ok((_, Some(Err(error)))) => {
                            // The response is cut short: the client sees it fail, not a wrong answer.
                            tracing::error!(%error, "writing a list of a GraphQL response failed");
                            return Some((
                                Err(std::io::Error::other(error)),
                                (std::collections::VecDeque::new(), None),
                            ));
                        }
                        Err(error) => {
                            tracing::error!(%error, "the task writing a list of a GraphQL response failed");
                            let error = std::io::Error::other("writing the response failed");
                            return Some((Err(error), (std::collections::VecDeque::new(), None)));
                        }
                    }
                }
                match pieces.pop_front()? {
                    Piece::Bytes(bytes) => return Some((Ok::<_, std::io::Error>(bytes), (pieces, None))),
                    Piece::List(writer) => writing = Some(writer),
                }
            }
        }
    });
    ([content_type], axum::body::Body::from_stream(stream)).into_response()
}

#[cfg(test)]
mod tests;
