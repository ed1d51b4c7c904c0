//! `/metrics`: Prometheus text exposition of the service's metrics (writer group commits,
//! events by outcome, store and index sizes) and the server's own: requests and their
//! latency per front door and route, both to the response's head and to its last byte (the
//! server's time for an answer: a large lineage answer is streamed long after its head). Labels
//! come from fixed sets, so a client cannot grow them (an unknown path or gRPC service counts
//! as `other`).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use tributary_service::Service;

/// The gRPC services whose calls are counted by name.
const GRPC_SERVICES: [&str; 7] = [
    "tributary.v1.Ingest",
    "tributary.v1.Lineage",
    "tributary.v1.Mesh",
    "tributary.v1.Changes",
    "tributary.v1.Admin",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
];

/// Where a request went: a gRPC method path (reduced to its service from a fixed set), or an
/// HTTP route label the guard chose from a fixed set.
pub(crate) enum Route<'a> {
    Grpc(&'a str),
    Http(&'static str),
}

#[derive(Clone)]
pub(crate) struct ServerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    seconds: HistogramVec,
    response_seconds: HistogramVec,
}

impl ServerMetrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("tributary".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Requests by front door (http, grpc), route and status class"),
            &["door", "route", "status"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new("request_seconds", "Seconds from request to response head, by front door and route")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16)?),
            &["door", "route"],
        )?;
        let response_seconds = HistogramVec::new(
            HistogramOpts::new(
                "response_seconds",
                "Seconds from request to the end of the response body (the last byte handed to the \
                 connection; a stream's whole life), by front door and route",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 20)?),
            &["door", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        registry.register(Box::new(response_seconds.clone()))?;
        Ok(Self { registry, requests, seconds, response_seconds })
    }

    /// Records one request's response head, and returns its body timed to the last byte
    /// (see [`TimedBody`]).
    pub(crate) fn observe(
        &self,
        route: Route<'_>,
        status: StatusCode,
        started: std::time::Instant,
        body: axum::body::Body,
    ) -> axum::body::Body {
        let (door, route) = route.labels();
        let class = match status.as_u16() {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests.with_label_values(&[door, route, class]).inc();
        self.seconds.with_label_values(&[door, route]).observe(started.elapsed().as_secs_f64());
        let histogram = self.response_seconds.with_label_values(&[door, route]);
        axum::body::Body::new(TimedBody { inner: body, started, histogram: Some(histogram) })
    }
}

impl Route<'_> {
    /// The `door` and `route` labels.
    fn labels(&self) -> (&'static str, &'static str) {
        match self {
            Route::Grpc(path) => {
                let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
                ("grpc", GRPC_SERVICES.iter().find(|known| **known == service).copied().unwrap_or("other"))
            }
            Route::Http(route) => ("http", *route),
        }
    }
}

/// A response body that records once how long its response took to the last byte: when its
/// last frame (data or trailers) is taken, when it fails, or when it is dropped before that
/// (the client went away, or the body was empty and never polled).
struct TimedBody {
    inner: axum::body::Body,
    started: std::time::Instant,
    histogram: Option<prometheus::Histogram>,
}

impl TimedBody {
    fn finish(&mut self) {
        if let Some(histogram) = self.histogram.take() {
            histogram.observe(self.started.elapsed().as_secs_f64());
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => this.finish(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.finish(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `GET /metrics` (needs `read` once the server requires tokens: scrapers send a bearer token).
pub(crate) async fn metrics(
    State((base, server)): State<(Service, ServerMetrics)>,
    caller: Option<axum::Extension<Service>>,
) -> Response {
    let service = caller.map_or(base, |axum::Extension(service)| service);
    let families = match tokio::task::spawn_blocking(move || service.metric_families()).await {
        Ok(Ok(families)) => families,
        Ok(Err(error)) => return crate::http::service_error(error),
        Err(error) => {
            return crate::http::service_error(tributary_service::ServiceError::Internal(format!(
                "metrics task failed: {error}"
            )));
        }
    };
    let mut all = families;
    all.extend(server.registry.gather());
    let encoder = TextEncoder::new();
    let mut text = Vec::new();
    if let Err(error) = encoder.encode(&all, &mut text) {
        return crate::http::service_error(tributary_service::ServiceError::Internal(format!(
            "encoding the metrics failed: {error}"
        )));
    }
    let mut response = (StatusCode::OK, text).into_response();
    if let Ok(value) = HeaderValue::from_str(encoder.format_type()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
