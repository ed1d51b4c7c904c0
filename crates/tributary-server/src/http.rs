//! `POST /api/v1/lineage`: the endpoint the OpenLineage clients (Python, Java, Go) speak.
//! One event per request, JSON, optionally gzip-compressed. Also `/healthz` (liveness),
//! `/readyz` (readiness) and the request guard every route sits behind, which authenticates
//! the caller (`Authorization: Bearer`, for HTTP, GraphQL and gRPC alike) and hands the routes
//! the service handle acting for it.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tributary_service::{ErrorCode, Service, ServiceError};

use crate::ServerLimits;

/// Default largest ingest body (compressed or not) and largest decompressed event, in bytes
/// (`--max-ingest-bytes`).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Bodies up to this size are decoded on the request's task; larger ones on a blocking
/// thread, so that a big event does not hold up the async runtime.
const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// What the request guard needs: the limits, and the service to authenticate callers with.
#[derive(Clone)]
pub(crate) struct GuardState {
    pub(crate) limits: Arc<ServerLimits>,
    pub(crate) service: Service,
    pub(crate) metrics: crate::metrics::ServerMetrics,
}

#[derive(Clone)]
struct IngestState {
    service: Service,
    max_bytes: usize,
}

pub(crate) fn router(service: Service, limits: &ServerLimits, metrics: crate::metrics::ServerMetrics) -> Router {
    let ingest_state = IngestState { service: service.clone(), max_bytes: limits.max_ingest_bytes };
    let ingest_route = Router::new()
        .route("/api/v1/lineage", post(ingest))
        .route("/api/v1/lineage/batch", post(ingest_batch))
        .layer(DefaultBodyLimit::max(limits.max_ingest_bytes))
        .with_state(ingest_state);
    let metrics_route =
        Router::new().route("/metrics", get(crate::metrics::metrics)).with_state((service.clone(), metrics));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(service)
        .merge(ingest_route)
        .merge(metrics_route)
}

/// Liveness: 200 while writes are made durable, 503 with the reason when they are not
/// (disk full, IO errors). Cheap: no store access.
async fn healthz(State(service): State<Service>) -> Response {
    let report = service.health();
    let watermark = json!({"sequence": report.watermark.sequence, "events": report.watermark.events});
    match report.unhealthy {
        None => (StatusCode::OK, axum::Json(json!({"status": "ok", "watermark": watermark}))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unhealthy", "reason": reason, "watermark": watermark})),
        )
            .into_response(),
    }
}

/// Readiness: 200 once start-up work is done (column lineage loaded) and writes work.
async fn readyz(State(service): State<Service>) -> Response {
    let report = service.health();
    let mut waiting = report.not_ready;
    waiting.extend(report.unhealthy);
    if waiting.is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "not ready", "waiting_for": waiting})))
            .into_response()
    }
}

/// gRPC methods that stream: they last as long as the client keeps them open, so they get
/// no server-side default deadline (a client's `grpc-timeout` still applies).
const GRPC_STREAMS: [&str; 5] = [
    "/tributary.v1.Ingest/IngestStream",
    "/tributary.v1.Ingest/IngestBatch",
    "/tributary.v1.Changes/WatchSchemaChanges",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

/// The client's `grpc-timeout` (`1*8DIGIT` then `H`, `M`, `S`, `m`, `u` or `n`).
fn grpc_timeout(headers: &HeaderMap) -> Option<std::time::Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => std::time::Duration::from_secs(amount.saturating_mul(3600)),
        "M" => std::time::Duration::from_secs(amount.saturating_mul(60)),
        "S" => std::time::Duration::from_secs(amount),
        "m" => std::time::Duration::from_millis(amount),
        "u" => std::time::Duration::from_micros(amount),
        "n" => std::time::Duration::from_nanos(amount),
        _ => return None,
    })
}

/// A gRPC call gets the client's deadline, or for unary calls the server's request timeout;
/// past it the call ends with `DEADLINE_EXCEEDED` (and its work is dropped).
async fn grpc_with_deadline(limits: &ServerLimits, request: Request, next: Next) -> Response {
    let streaming = GRPC_STREAMS.iter().any(|path| request.uri().path().starts_with(path));
    let deadline = grpc_timeout(request.headers()).or((!streaming).then_some(limits.request_timeout));
    let Some(deadline) = deadline else { return next.run(request).await };
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tonic::Status::deadline_exceeded(format!("the call did not finish within {} ms", deadline.as_millis()))
                .into_http::<axum::body::Body>()
                .into_response()
        }
    }
}

/// Liveness and readiness: answered without authentication (load balancers, orchestrators).
const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Puts the service handle acting for the request's caller in its extensions, or says why
/// the credential is refused. No `Authorization` header is not an error here: the use case
/// decides whether it needs one.
fn authenticate(service: &Service, request: &mut Request) -> Result<(), ServiceError> {
    // A value that is not text cannot be a token: it is checked as an empty (malformed) one.
    let value = request.headers().get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or(""));
    let caller = service.authenticate(value)?;
    request.extensions_mut().insert(caller);
    Ok(())
}

/// RFC 6750: a 401 names the scheme the client should use.
fn with_bearer_challenge(mut response: Response) -> Response {
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tributary\""));
    response
}

/// The HTTP paths this server answers besides gRPC.
const HTTP_PATHS: [&str; 6] =
    ["/api/v1/lineage", "/api/v1/lineage/batch", "/graphql", "/healthz", "/readyz", "/metrics"];

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// `scheme://host[:port]` of the request's own server, from its `Host` header.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|value| value.to_str().ok()) else { return false };
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    authority.eq_ignore_ascii_case(host)
}

fn origin_allowed(origin: &str, headers: &HeaderMap, limits: &ServerLimits) -> bool {
    same_origin(origin, headers) || limits.allowed_origins.iter().any(|allowed| allowed == origin || allowed == "*")
}

/// Every request passes here first:
/// - a path that is neither ours nor gRPC gets 404 (not a gRPC status with HTTP 200), as a
///   page for a browser;
/// - a body whose `Content-Length` is over the route's limit gets 413 before it is read;
/// - writes from browsers must be same-origin or from an allowed origin, and must be JSON
///   (a cross-site form or `text/plain` post gets 415/403: such requests need no CORS
///   preflight, so the browser would otherwise send them);
/// - HTTP requests (not gRPC streams) get `request_timeout` in all, answering 504 after it.
pub(crate) async fn guard(State(state): State<GuardState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let grpc = is_grpc(request.headers());
    let path = request.uri().path().to_owned();
    let metrics = state.metrics.clone();
    let response = guarded(state, request, next).await;
    let route = if grpc {
        crate::metrics::Route::Grpc(&path)
    } else if let Some(known) = HTTP_PATHS.iter().find(|known| **known == path) {
        crate::metrics::Route::Http(known)
    } else if crate::web::serves(&path) {
        crate::metrics::Route::Http("explorer")
    } else {
        crate::metrics::Route::Http("other")
    };
    let (parts, body) = response.into_parts();
    let body = metrics.observe(route, parts.status, started, body);
    Response::from_parts(parts, body)
}

async fn guarded(state: GuardState, mut request: Request, next: Next) -> Response {
    let limits = state.limits;
    if is_grpc(request.headers()) {
        if let Err(error) = authenticate(&state.service, &mut request) {
            return tonic::Status::unauthenticated(error.to_string()).into_http::<axum::body::Body>().into_response();
        }
        return grpc_with_deadline(&limits, request, next).await;
    }
    let path = request.uri().path().to_owned();
    if !HTTP_PATHS.contains(&path.as_str()) && !crate::web::serves(&path) {
        if crate::web::wants_html(request.headers()) {
            return crate::web::not_found_page(&path);
        }
        return error_response(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "",
            format!("no such path `{path}`: this server answers {} and the explorer at /", HTTP_PATHS.join(", ")),
        );
    }
    let limit = if path == "/graphql" { limits.max_graphql_bytes } else { limits.max_ingest_bytes };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_ARGUMENT",
            "",
            format!("request body is larger than {limit} bytes"),
        );
    }
    let origin = request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let cross_origin_allowed = origin.as_deref().filter(|origin| !same_origin(origin, request.headers()));
    if let Some(origin) = &origin
        && !origin_allowed(origin, request.headers(), &limits)
    {
        return error_response(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Origin",
            format!("requests from origin `{origin}` are not allowed (see --allowed-origin)"),
        );
    }
    let cors_origin = cross_origin_allowed.and_then(|origin| HeaderValue::from_str(origin).ok());
    // Probes stay open; every other route learns who is calling here.
    if !PROBE_PATHS.contains(&path.as_str())
        && request.method() != Method::OPTIONS
        && let Err(error) = authenticate(&state.service, &mut request)
    {
        return if path == "/graphql" {
            let body = json!({"errors": [{"message": error.to_string(), "extensions": {"code": "UNAUTHENTICATED"}}]});
            with_bearer_challenge((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response())
        } else {
            service_error(error)
        };
    }
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Some(origin) = cors_origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, content-encoding, authorization"),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        return response;
    }
    if request.method() == Method::POST {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
        let json = content_type.is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
        if !json {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "INVALID_ARGUMENT",
                "Content-Type",
                format!("must be application/json, not `{}`", content_type.unwrap_or("(none)")),
            );
        }
    }
    // An event whose body arrived whole may be stored after its deadline passed (the writer
    // finishes what it was given): the client is told so, and that sending it again is safe.
    let ingest = request.uri().path().starts_with("/api/v1/lineage");
    let mut response = match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let after = if ingest {
                "; events whose body was sent whole may still be stored: send them again (an event sent twice is stored once)"
            } else {
                ""
            };
            return error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                "",
                format!("the request did not finish within {} s{after}", limits.request_timeout.as_secs_f64()),
            );
        }
    };
    if let Some(origin) = cors_origin {
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn error_response(status: StatusCode, code: &str, field: &str, message: String) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "field": field, "message": message}}))).into_response()
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::FailedPrecondition => StatusCode::CONFLICT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
    }
}

pub(crate) fn service_error(error: ServiceError) -> Response {
    let status = status_of(error.code());
    if status.is_server_error() {
        tracing::error!(error = %error, "ingest failed");
    }
    let response = error_response(status, error.code().as_str(), error.field(), error.to_string());
    if status == StatusCode::UNAUTHORIZED { with_bearer_challenge(response) } else { response }
}

/// Decodes the body per `Content-Encoding` (identity or gzip), refusing to inflate past
/// `max_bytes`.
fn decode_body(encoding: Option<&HeaderValue>, body: Bytes, max_bytes: usize) -> Result<Vec<u8>, Box<Response>> {
    let encoding = encoding.and_then(|value| value.to_str().ok()).unwrap_or("identity").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => {
            let mut decoded = Vec::with_capacity(body.len() * 4);
            let mut reader = flate2::read::MultiGzDecoder::new(&body[..]).take(max_bytes as u64 + 1);
            reader.read_to_end(&mut decoded).map_err(|error| {
                Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "",
                    format!("body is not valid gzip: {error}"),
                ))
            })?;
            if decoded.len() > max_bytes {
                return Err(Box::new(error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    "",
                    format!("decompressed body is larger than {max_bytes} bytes"),
                )));
            }
            Ok(decoded)
        }
        other => Err(Box::new(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT",
            "",
            format!("unsupported Content-Encoding `{other}` (use gzip or none)"),
        ))),
    }
}

/// `POST /api/v1/lineage/batch`: a JSON array of events. Each is checked and stored on its
/// own (one refused event does not refuse the others); the answer comes once every accepted
/// event is durable: 200 when all were accepted, 207 with the per-event results when some
/// were refused, and the first refusal's status when none was accepted.
async fn ingest_batch(
    State(state): State<IngestState>,
    caller: Option<axum::Extension<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let IngestState { service, max_bytes } = state;
    let service = caller.map_or(service, |axum::Extension(caller)| caller);
    if let Err(error) = service.check_caller() {
        return service_error(error);
    }
    let encoding = headers.get(header::CONTENT_ENCODING).cloned();
    let decoded = match tokio::task::spawn_blocking(move || {
        let body = decode_body(encoding.as_ref(), body, max_bytes)?;
        // Split the array without building a document of the events: each is parsed once, by
        // the service, like a single event.
        let events: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(&body).map_err(|error| {
            Box::new(error_response(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "",
                format!("body is not a JSON array of events: {error}"),
            ))
        })?;
        Ok::<_, Box<Response>>(events.into_iter().map(|event| event.get().as_bytes().to_vec()).collect::<Vec<_>>())
    })
    .await
    {
        Ok(Ok(events)) => events,
        Ok(Err(response)) => return *response,
        Err(error) => return service_error(ServiceError::Internal(format!("decoding task failed: {error}"))),
    };
    if decoded.is_empty() {
        return error_response(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "", "the batch holds no event".into());
    }
    let results = match service.ingest_batch(decoded).await {
        Ok(results) => results,
        Err(error) => return service_error(error),
    };
    let accepted = results.iter().filter(|result| result.is_ok()).count();
    let first_refusal = results.iter().find_map(|result| result.as_ref().err().map(ServiceError::code));
    let items: Vec<serde_json::Value> = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| match result {
            Ok(outcome) => {
                let mut item = outcome_json(&outcome);
                item["index"] = json!(index);
                item
            }
            Err(error) => {
                let field = if error.field().is_empty() { format!("[{index}]") } else { format!("[{index}].{}", error.field()) };
                json!({"index": index, "error": {"code": error.code().as_str(), "field": field, "message": error.to_string()}})
            }
        })
        .collect();
    let refused = items.len() - accepted;
    let status = match (accepted, first_refusal) {
        (_, None) => StatusCode::OK,
        (0, Some(code)) => status_of(code),
        (_, Some(_)) => StatusCode::MULTI_STATUS,
    };
    let response =
        (status, axum::Json(json!({"accepted": accepted, "refused": refused, "results": items}))).into_response();
    if status == StatusCode::UNAUTHORIZED { with_bearer_challenge(response) } else { response }
}

async fn ingest(
    State(state): State<IngestState>,
    caller: Option<axum::Extension<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let IngestState { service, max_bytes } = state;
    // The guard's handle for this caller; the base handle (unidentified) fails closed.
    let service = caller.map_or(service, |axum::Extension(caller)| caller);
    // Refused before the body is decoded: an unknown caller costs no decompression.
    if let Err(error) = service.check_caller() {
        return service_error(error);
    }
    let encoding = headers.get(header::CONTENT_ENCODING).cloned();
    let decoded = if body.len() <= INLINE_DECODE_BYTES && encoding.is_none() {
        decode_body(None, body, max_bytes)
    } else {
        match tokio::task::spawn_blocking(move || decode_body(encoding.as_ref(), body, max_bytes)).await {
            Ok(decoded) => decoded,
            Err(error) => return service_error(ServiceError::Internal(format!("decoding task failed: {error}"))),
        }
    };
    let body = match decoded {
        Ok(body) => body,
        Err(response) => return *response,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "",
            "body is empty: send one OpenLineage event as JSON".into(),
        );
    }
    match service.ingest_owned(body).await {
        // Forwarded to the Kafka topic this server consumes: durable there, applied once
        // consumed (202); stored here (201).
        Ok(outcome) => {
            let status = if outcome.forwarded.is_some() { StatusCode::ACCEPTED } else { StatusCode::CREATED };
            (status, axum::Json(outcome_json(&outcome))).into_response()
        }
        Err(error) => service_error(error),
    }
}

/// An accepted event's answer: its sequence, or where it was forwarded.
fn outcome_json(outcome: &tributary_service::IngestOutcome) -> serde_json::Value {
    match &outcome.forwarded {
        Some(position) => json!({
            "sequence": outcome.sequence,
            "duplicate": outcome.duplicate,
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
        }),
        None => json!({"sequence": outcome.sequence, "duplicate": outcome.duplicate}),
    }
}
