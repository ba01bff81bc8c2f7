//! The HTTP side: the routes, the WebSocket handshake and the web app's files; and, on an
//! address of its own, the operator's `/metrics`.
//!
//! - `GET /healthz`: `200 ok` while the server runs.
//! - `GET /ws`: the WebSocket the protocol runs on, after an Origin check and admission
//!   control (HTTP 503 with `Retry-After` when the server is full or handshakes come too fast).
//! - `/blobs/{id}`: uploading and downloading files' ciphertext (`crate::blobs`).
//! - everything answered carries the security headers (`security_headers`).
//! - anything else: a file of the web root — its brotli or gzip copy made by the build when
//!   the client accepts one, else compressed here; unknown paths get `index.html`, so the
//!   app's own routes survive a reload, but a missing file's name (with an extension) is 404.
//!
//! [`metrics_router`] serves `GET /metrics` (the counters in the Prometheus text format) on
//! the metrics address, loopback by default: the public never sees them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use merpati_protocol::MAX_FRAME_BYTES;
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::accept::AddressSlot;
use crate::admission::Refusal;
use crate::blobs::{BlobStore, blob_routes};
use crate::client_kind::client_kind;
use crate::gateway::{Admitted, Gateway};
use crate::metrics::{self, Metrics};
use crate::security_headers;
use crate::websocket::Upgrade;

#[derive(Debug, Clone)]
struct HttpState {
    gateway: Arc<Gateway>,
    blobs: Arc<BlobStore>,
    allowed_origins: Arc<[String]>,
}

impl FromRef<HttpState> for Arc<BlobStore> {
    fn from_ref(state: &HttpState) -> Arc<BlobStore> {
        Arc::clone(&state.blobs)
    }
}

/// The server's public routes.
pub(crate) fn router(
    gateway: Arc<Gateway>,
    blobs: Arc<BlobStore>,
    web_root: &Path,
    allowed_origins: &[String],
) -> Router {
    let state = HttpState {
        gateway,
        blobs,
        allowed_origins: allowed_origins
            .iter()
            .map(|origin| normalise_origin(origin).to_owned())
            .filter(|origin| !origin.is_empty())
            .collect(),
    };
    // The build writes brotli and gzip copies beside each file (scripts/trunk/precompress.mjs):
    // the one the browser accepts goes out as it is; a file without them is compressed on the
    // fly below.
    let index = ServeFile::new(web_root.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(web_root)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(tower::service_fn(move |request: Request| {
            app_route(index.clone(), request)
        }));
    // The app's service worker (public/sw.js, SERVER_PATHS) leaves these routes, and
    // `/metrics`, to the network: a new one goes on its list too.
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ws", get(websocket))
        .route("/blobs/{id}", blob_routes())
        .fallback_service(
            tower::ServiceBuilder::new()
                // Revalidate before use: index.html, sw.js and the engine worker's files
                // keep their names across releases (a revalidation of an unchanged file is a
                // 304; the service worker serves the hashed files from its own cache).
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ))
                // Which copy was sent depends on what the browser accepts: caches must know
                // (the precompressed copies say nothing of it themselves).
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::VARY,
                    HeaderValue::from_static("accept-encoding"),
                ))
                .layer(CompressionLayer::new())
                .service(files),
        )
        .layer(axum::middleware::from_fn(security_headers::add))
        .with_state(state)
}

/// What a path the web root has no file for gets: the app's page for a route of the app, so
/// that a reload keeps it; 404 for a file's name (a last segment with an extension). A file
/// missing mid-deploy answered with the page would be taken for that file — by the browser,
/// which then fails on HTML where it wanted a script, and by the service worker, which would
/// keep the page under the file's name for the release's life.
async fn app_route(index: ServeFile, request: Request) -> Result<Response, Infallible> {
    let last_segment = request.uri().path().rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    Ok(match index.oneshot(request).await {
        Ok(page) => page.map(Body::new),
        Err(never) => match never {},
    })
}

async fn healthz() -> &'static str {
    "ok"
}

/// The operator's routes, for the metrics address: `/metrics`, and `/healthz` for probes.
pub(crate) fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn(security_headers::add))
        .with_state(metrics)
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.render(),
    )
        .into_response()
}

/// HTTP 503 with a jittered `Retry-After`, closing the connection so that its file descriptor
/// is free at once.
fn refused(refusal: Refusal) -> Response {
    let seconds = refusal.retry_after_s();
    tracing::debug!(?refusal, seconds, "WebSocket handshake refused");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, seconds.to_string()),
            (header::CONNECTION, "close".to_owned()),
        ],
        format!("{}; try again in {seconds} s", refusal.reason()),
    )
        .into_response()
}

async fn websocket(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    address_slot: Option<Extension<Arc<AddressSlot>>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Upgrade,
) -> Response {
    if !origin_allowed(&headers, &uri, &state.allowed_origins) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "WebSocket from a foreign origin refused");
        return (StatusCode::FORBIDDEN, "this origin may not connect").into_response();
    }
    if state.gateway.shutdown().is_triggered() {
        return refused(Refusal::ShuttingDown);
    }
    // Decided before the upgrade, so a refused connection costs no session and no buffers.
    let permit = match state.gateway.admission().admit(peer.ip()) {
        Ok(permit) => permit,
        Err(refusal) => return refused(refusal),
    };
    // Counted from the handshake on, so shutdown also waits for sessions not yet started.
    // The address slot too: the WebSocket holds its address's place while it is open.
    let admitted = Admitted::new(
        permit,
        state.gateway.shutdown().session_token(),
        address_slot.map(|Extension(slot)| slot),
    );
    let client = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .and_then(client_kind);
    let gateway = state.gateway;
    upgrade.on_upgrade(MAX_FRAME_BYTES, move |socket| {
        gateway.serve(socket, admitted, peer.ip(), client)
    })
}

fn normalise_origin(origin: &str) -> &str {
    origin.trim().trim_end_matches('/')
}

/// Whether a WebSocket handshake may proceed: a browser page may connect only from the
/// server's own origin or an allowed one (so another site cannot use a visitor's browser as
/// a client); a client without an `Origin` header is not a browser page and may connect.
fn origin_allowed(headers: &HeaderMap, uri: &Uri, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = normalise_origin(origin);
    if allowed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()));
    let Some(host) = host else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn same_origin_and_listed_origins_may_connect() {
        let uri = Uri::from_static("/ws");
        let allowed = ["http://localhost:8081".to_owned()];
        let check = |origin, host| origin_allowed(&headers(origin, host), &uri, &allowed);
        assert!(check(None, "127.0.0.1:8080"));
        assert!(check(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"));
        assert!(check(Some("https://chat.example"), "chat.example"));
        assert!(check(Some("http://localhost:8081"), "127.0.0.1:8080"));
        assert!(!check(Some("http://evil.example"), "127.0.0.1:8080"));
        assert!(!check(Some("http://127.0.0.1:8081"), "127.0.0.1:8080"));
        assert!(!check(Some("null"), "127.0.0.1:8080"));
    }
}
