//! The opening handshake (RFC 6455, section 4.2): [`Upgrade`] checks an upgrade request as
//! an axum extractor, and [`Upgrade::on_upgrade`] answers `101 Switching Protocols` and hands
//! the connection, once hyper lets go of it, to the session as a [`WebSocket`].
//!
//! HTTP/1.1 only: the server speaks nothing else (`accept`).

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::WebSocket;

/// What the accept key is made with (section 1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The one version of the protocol there is.
const VERSION: &str = "13";

/// The connection a session runs on.
pub(crate) type ServerSocket = WebSocket<TokioIo<Upgraded>>;

/// A checked WebSocket upgrade request.
#[derive(Debug)]
pub(crate) struct Upgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request is not a WebSocket upgrade the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotUpgrade {
    status: StatusCode,
    reason: &'static str,
}

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.reason).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(VERSION),
            );
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Upgrade, NotUpgrade> {
        let accept = check(&parts.method, &parts.headers)?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(NotUpgrade {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "this connection cannot be upgraded",
        })?;
        Ok(Upgrade { accept, on_upgrade })
    }
}

/// Checks an upgrade request's method and headers; gives the `Sec-WebSocket-Accept` value.
fn check(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, NotUpgrade> {
    let bad = |reason| NotUpgrade {
        status: StatusCode::BAD_REQUEST,
        reason,
    };
    if method != Method::GET {
        return Err(bad("a WebSocket upgrade is a GET"));
    }
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return Err(bad("not an upgrade: `Connection` does not say `upgrade`"));
    }
    if !has_token(headers, &header::UPGRADE, "websocket") {
        return Err(bad(
            "not a WebSocket upgrade: `Upgrade` does not say `websocket`",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(NotUpgrade {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "only WebSocket version 13 is spoken here",
        });
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| key.as_bytes().trim_ascii())
        .filter(|key| BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16))
        .ok_or(bad("`Sec-WebSocket-Key` is not 16 bytes in base64"))?;
    let accept = accept_key(key);
    HeaderValue::from_str(&accept).map_err(|_| bad("the accept key is not a header value"))
}

/// `Sec-WebSocket-Accept` for a key: base64 of SHA-1 of the key and the GUID.
fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    BASE64.encode(sha1.finalize())
}

/// Whether a comma-separated header lists `token` (case-insensitively), in any of its lines.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

impl Upgrade {
    /// Answers `101 Switching Protocols`; once the connection is handed over, runs `serve` on
    /// it as a WebSocket taking messages of up to `limit` bytes.
    pub(crate) fn on_upgrade<F, Fut>(self, limit: usize, serve: F) -> Response
    where
        F: FnOnce(ServerSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(WebSocket::new(TokioIo::new(upgraded), limit)).await,
                Err(error) => tracing::debug!(%error, "the WebSocket upgrade did not complete"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers
    }

    fn upgrade_headers() -> Vec<(HeaderName, &'static str)> {
        vec![
            (header::CONNECTION, "keep-alive, Upgrade"),
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
            (header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    }

    #[test]
    fn the_accept_key_is_the_one_of_the_rfc_example() {
        // RFC 6455, section 1.3.
        let accept = check(&Method::GET, &request(&upgrade_headers()));
        assert_eq!(
            accept,
            Ok(HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        );
    }

    #[test]
    fn a_request_missing_any_part_of_the_upgrade_is_refused() {
        for missing in 0..4 {
            let mut headers = upgrade_headers();
            headers.remove(missing);
            let refused = check(&Method::GET, &request(&headers)).unwrap_err();
            let expected = if missing == 2 {
                StatusCode::UPGRADE_REQUIRED
            } else {
                StatusCode::BAD_REQUEST
            };
            assert_eq!(refused.status, expected, "without header {missing}");
        }
        let refused = check(&Method::POST, &request(&upgrade_headers())).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_key_that_is_not_sixteen_bytes_is_refused() {
        let mut headers = upgrade_headers();
        headers[3] = (header::SEC_WEBSOCKET_KEY, "c2hvcnQ=");
        assert!(check(&Method::GET, &request(&headers)).is_err());
    }

    #[test]
    fn another_version_is_told_which_one_is_spoken() {
        let mut headers = upgrade_headers();
        headers[2] = (header::SEC_WEBSOCKET_VERSION, "8");
        let response = check(&Method::GET, &request(&headers))
            .unwrap_err()
            .into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    }
}
