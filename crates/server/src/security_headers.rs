//! The security headers on everything the server serves: the app's files, `/healthz`, `/metrics`
//! and the WebSocket handshake's answers alike.
//!
//! The Content-Security-Policy is what makes an injected `<script>` or a message rendered
//! as markup harmless: the page may run only the app's own script files (no inline script,
//! no third-party origin, no `eval`; compiling WebAssembly needs `'wasm-unsafe-eval'`), talk
//! only to its own origin, and never be framed. The app's build has no inline script for this
//! reason (`scripts/trunk/post-build.sh`).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy. `default-src 'none'` so that anything not listed is refused; `blob:` images for
/// pictures decrypted in the browser; `'self'` in `connect-src` covers the same origin's
/// `ws:`/`wss:` (CSP level 3).
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; \
     script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; \
     img-src 'self' blob:; \
     font-src 'self'; \
     connect-src 'self'; \
     worker-src 'self'; \
     manifest-src 'self'; \
     base-uri 'none'; \
     form-action 'none'; \
     frame-ancestors 'none'";

/// HSTS for a year, subdomains included, sent only on responses that went out over TLS.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// Adds the security headers to `next`'s response.
pub(crate) async fn add(request: Request, next: Next) -> Response {
    let over_tls = arrived_over_tls(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    // For browsers older than `frame-ancestors`.
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if over_tls {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            STRICT_TRANSPORT_SECURITY,
        );
    }
    response
}

/// Whether the request reached the public over TLS. The server speaks plain HTTP itself, so
/// TLS ends in a proxy in front of it, which says so with `X-Forwarded-Proto: https`. A
/// client that fakes the header only pins HTTPS in its own browser (and browsers ignore HSTS
/// received over plain HTTP anyway).
fn arrived_over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|proto| proto.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_script_and_no_other_origin() {
        let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split(';').map(str::trim).collect();
        assert!(directives.contains(&"default-src 'none'"));
        assert!(directives.contains(&"script-src 'self' 'wasm-unsafe-eval'"));
        assert!(directives.contains(&"frame-ancestors 'none'"));
        for forbidden in ["'unsafe-inline'", "'unsafe-eval'", "http:", "https:", "*"] {
            assert!(
                !CONTENT_SECURITY_POLICY.contains(forbidden),
                "the policy allows {forbidden}"
            );
        }
    }

    #[test]
    fn tls_is_recognised_from_the_proxy_header_only() {
        let mut headers = HeaderMap::new();
        assert!(!arrived_over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!arrived_over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(arrived_over_tls(&headers));
    }
}
