//! The web lineage explorer: `web/` (plain JavaScript modules, a stylesheet and the vendored
//! layout and GraphiQL files) compiled into the binary and served at `/` and `/assets/…`, so
//! the printed address opens the explorer with no other service and no network. The pages
//! only call `/graphql`, like any other client.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One file of the explorer, compiled in.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset { path: $path, content_type: $content_type, body: include_bytes!(concat!("../../../web/", $file)) }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file under `web/`, by the path it is served at (a test checks that none is missing).
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/assets/app.css", "app.css", CSS),
    asset!("/assets/js/main.js", "js/main.js", JS),
    asset!("/assets/js/api.js", "js/api.js", JS),
    asset!("/assets/js/dom.js", "js/dom.js", JS),
    asset!("/assets/js/graph.js", "js/graph.js", JS),
    asset!("/assets/js/collapse.js", "js/collapse.js", JS),
    asset!("/assets/js/search.js", "js/search.js", JS),
    asset!("/assets/js/node.js", "js/node.js", JS),
    asset!("/assets/js/lineage.js", "js/lineage.js", JS),
    asset!("/assets/js/impact.js", "js/impact.js", JS),
    asset!("/assets/js/check.js", "js/check.js", JS),
    asset!("/assets/js/mesh.js", "js/mesh.js", JS),
    asset!("/assets/graphiql-init.js", "graphiql-init.js", JS),
    asset!("/assets/vendor/dagre/dagre.min.js", "vendor/dagre/dagre.min.js", JS),
    asset!("/assets/vendor/dagre/LICENSE", "vendor/dagre/LICENSE", TEXT),
    asset!("/assets/vendor/dagre/LICENSE.graphlib", "vendor/dagre/LICENSE.graphlib", TEXT),
    asset!("/assets/vendor/graphiql/graphiql.min.js", "vendor/graphiql/graphiql.min.js", JS),
    asset!("/assets/vendor/graphiql/graphiql.min.css", "vendor/graphiql/graphiql.min.css", CSS),
    asset!("/assets/vendor/graphiql/react.production.min.js", "vendor/graphiql/react.production.min.js", JS),
    asset!("/assets/vendor/graphiql/react-dom.production.min.js", "vendor/graphiql/react-dom.production.min.js", JS),
    asset!("/assets/vendor/graphiql/LICENSE", "vendor/graphiql/LICENSE", TEXT),
    asset!("/assets/vendor/graphiql/LICENSE.react", "vendor/graphiql/LICENSE.react", TEXT),
];

/// The explorer's own page: scripts and styles only from this server, requests only to it.
/// Inline styles are allowed because the graph sets positions through `style`; `blob:` is the
/// CSV export (read back by the browser tests).
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether `path` is one of the explorer's files (the request guard lets these through).
pub(crate) fn serves(path: &str) -> bool {
    ASSETS.iter().any(|asset| asset.path == path)
}

/// `GET` (and `HEAD`) for every asset, with an `ETag` so a reload costs a 304.
pub(crate) fn router() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move |headers: HeaderMap| async move { serve(asset, &headers) }))
    })
}

fn serve(asset: &'static Asset, request_headers: &HeaderMap) -> Response {
    let etag = etag(asset.body);
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], asset.body).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidate every time: a new binary must not run with the old scripts.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.path == "/" {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// A strong validator from the content (FNV-1a, 64 bits): the same bytes give the same tag
/// in every build.
fn etag(body: &[u8]) -> String {
    let hash = body
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{hash:016x}\"")
}

/// Whether the client asked for a page (a browser navigating) rather than data.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).is_some_and(|value| value.contains("text/html"))
}

/// The 404 a browser sees for an unknown path: a page that says so and links to the explorer.
pub(crate) fn not_found_page(path: &str) -> Response {
    let escaped = path.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Tributary</title></head>\
         <body><h1>Not found</h1><p>This server has nothing at <code>{escaped}</code>.</p>\
         <p><a href=\"/\">Open the lineage explorer</a> or <a href=\"/graphql\">GraphiQL</a>.</p></body></html>"
    );
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, HeaderValue::from_static(HTML))], body).into_response()
}

#[cfg(test)]
mod tests;
