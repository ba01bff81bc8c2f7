//! The blob requests of files over HTTP (`merpati_protocol::blobs`), made with the worker's
//! `fetch`: each carries the session's token, and a failure is told apart by what it means
//! for the caller — try again later, or give up with a reason.

use merpati_protocol::BlobId;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a request did not get the answer it wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpError {
    /// No answer (offline, the server restarting), or one worth trying again (401 while a
    /// token rotates, 408 when a part stalled, 5xx): try again after a backoff.
    Transient,
    /// The server answered with this status for good (413, 507, 404, 409).
    Refused(u16),
}

/// `{base}/blobs/{id}`, where `base` is the server's origin (`http(s)://host`).
pub(super) fn blob_url(base: &str, blob: BlobId) -> String {
    format!("{base}/blobs/{}", blob.to_hex())
}

/// The server's HTTP origin from its WebSocket URL (`ws(s)://host/ws`).
pub(crate) fn origin_of(socket_url: &str) -> String {
    let url = socket_url
        .strip_prefix("ws")
        .map_or_else(|| socket_url.to_owned(), |rest| format!("http{rest}"));
    url.strip_suffix("/ws").unwrap_or(&url).to_owned()
}

/// Makes one request; answers the response if its status is one of `ok`.
pub(super) async fn request(
    method: &str,
    url: &str,
    token: &[u8; 32],
    headers: &[(&str, String)],
    body: Option<&JsValue>,
    ok: &[u16],
) -> Result<web_sys::Response, HttpError> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let sent_headers = web_sys::Headers::new().map_err(|_| HttpError::Transient)?;
    let bearer = format!("Bearer {}", hex::encode(token));
    sent_headers
        .set("authorization", &bearer)
        .map_err(|_| HttpError::Transient)?;
    for (name, value) in headers {
        sent_headers
            .set(name, value)
            .map_err(|_| HttpError::Transient)?;
    }
    init.set_headers(&sent_headers);
    if let Some(body) = body {
        init.set_body(body);
    }
    let scope = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>();
    let response = JsFuture::from(scope.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| HttpError::Transient)?
        .unchecked_into::<web_sys::Response>();
    let status = response.status();
    if ok.contains(&status) {
        Ok(response)
    } else if matches!(status, 401 | 408 | 429) || status >= 500 && status != 507 {
        Err(HttpError::Transient)
    } else {
        Err(HttpError::Refused(status))
    }
}

/// A numeric response header (`upload-offset`), if the server sent one that reads.
pub(super) fn number_header(response: &web_sys::Response, name: &str) -> Option<u64> {
    response.headers().get(name).ok()??.trim().parse().ok()
}
