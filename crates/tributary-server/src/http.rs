//! `POST /api/v1/lineage`: the endpoint the OpenLineage clients (Python, Java, Go) speak.
//! One event per request, JSON, optionally gzip-compressed; `Authorization: Bearer` is
//! accepted and not enforced yet.

use std::io::Read;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tributary_service::{ErrorCode, Service, ServiceError};

/// Largest request body (compressed or not) and largest decompressed event, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub(crate) fn router(service: Service) -> Router {
    Router::new()
        .route("/api/v1/lineage", post(ingest))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

async fn healthz(State(service): State<Service>) -> Response {
    let watermark = service.watermark();
    (
        StatusCode::OK,
        axum::Json(json!({"status": "ok", "watermark": {"sequence": watermark.sequence, "events": watermark.events}})),
    )
        .into_response()
}

fn error_response(status: StatusCode, code: &str, field: &str, message: String) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "field": field, "message": message}}))).into_response()
}

fn service_error(error: ServiceError) -> Response {
    let status = match error.code() {
        ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::FailedPrecondition => StatusCode::CONFLICT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %error, "ingest failed");
    }
    error_response(status, error.code().as_str(), error.field(), error.to_string())
}

/// Decodes the body per `Content-Encoding` (identity or gzip), refusing to inflate past
/// [`MAX_BODY_BYTES`].
fn decode_body(headers: &HeaderMap, body: Bytes) -> Result<Vec<u8>, Box<Response>> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => {
            let mut decoded = Vec::with_capacity(body.len() * 4);
            let mut reader = flate2::read::MultiGzDecoder::new(&body[..]).take(MAX_BODY_BYTES as u64 + 1);
            reader.read_to_end(&mut decoded).map_err(|error| {
                Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "",
                    format!("body is not valid gzip: {error}"),
                ))
            })?;
            if decoded.len() > MAX_BODY_BYTES {
                return Err(Box::new(error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    "",
                    format!("decompressed body is larger than {MAX_BODY_BYTES} bytes"),
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

async fn ingest(State(service): State<Service>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match decode_body(&headers, body) {
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
    match service.ingest(&body).await {
        Ok(outcome) => {
            (StatusCode::CREATED, axum::Json(json!({"sequence": outcome.sequence, "duplicate": outcome.duplicate})))
                .into_response()
        }
        Err(error) => service_error(error),
    }
}
