//! The blob requests of files over HTTP (`merpati_protocol::blobs`), made with the worker's
//! `fetch`: each carries the session's token, and an answer other than the one asked for is
//! handed back with what the caller needs to judge it (for an upload, the core's
//! `upload_parts::after_refusal`). Each runs under a [`Deadline`]: a connection gone silent
//! is given up as no answer when it passes (how long is the core's
//! `merpati_core::request_deadlines`), so the retries that follow an outage follow it too.

use merpati_core::reconnect::Backoff;
use std::cell::RefCell;

use gloo_timers::callback::Timeout;
use merpati_protocol::BlobId;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a request did not get the answer it wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HttpError {
    /// No answer: offline, the server restarting, or none before the request's [`Deadline`].
    NoAnswer,
    /// An answer with a status not asked for, and its `Retry-After` in seconds if it read.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
}

/// The longest wait between two tries of a file's request, in milliseconds.
const RETRY_CAP_MS: u64 = 10_000;

/// The waits between tries of an upload or a download: capped lower than the socket's,
/// because a person watches the bar, and a try costs the server one small request.
pub(super) fn retry_backoff() -> Backoff {
    Backoff::new(500, RETRY_CAP_MS)
}

/// Waits the backoff's next delay (the one backoff rule, `merpati_core::reconnect`).
pub(super) async fn wait_out(backoff: &mut Backoff) {
    let random = merpati_core::crypto::random_bytes::<4>()
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    let delay = u32::try_from(backoff.next_delay_ms(random)).unwrap_or(u32::MAX);
    gloo_timers::future::TimeoutFuture::new(delay).await;
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

/// When a request is given up: it aborts the request (and the reading of its body) unless
/// pushed back ([`Deadline::push_back`]) before it passes; dropped, it lets the request be.
pub(super) struct Deadline {
    /// `None` if the browser would not make one: the request then waits as `fetch` does.
    controller: Option<web_sys::AbortController>,
    timer: RefCell<Option<Timeout>>,
}

impl Deadline {
    /// A deadline `after_ms` from now.
    pub(super) fn new(after_ms: u64) -> Deadline {
        let deadline = Deadline {
            controller: web_sys::AbortController::new().ok(),
            timer: RefCell::new(None),
        };
        deadline.push_back(after_ms);
        deadline
    }

    /// Moves the deadline to `after_ms` from now: progress was made.
    pub(super) fn push_back(&self, after_ms: u64) {
        let Some(controller) = self.controller.clone() else {
            return;
        };
        let after_ms = u32::try_from(after_ms).unwrap_or(u32::MAX);
        // The timer it replaces is dropped, which clears it.
        *self.timer.borrow_mut() = Some(Timeout::new(after_ms, move || controller.abort()));
    }

    fn signal(&self) -> Option<web_sys::AbortSignal> {
        self.controller
            .as_ref()
            .map(web_sys::AbortController::signal)
    }
}

/// Makes one request, given up as [`HttpError::NoAnswer`] if `deadline` passes before its
/// answer; answers the response if its status is one of `ok`. Its body, if read, is given
/// up at the same deadline.
pub(super) async fn request(
    method: &str,
    url: &str,
    token: &[u8; 32],
    headers: &[(&str, String)],
    body: Option<&JsValue>,
    ok: &[u16],
    deadline: &Deadline,
) -> Result<web_sys::Response, HttpError> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_signal(deadline.signal().as_ref());
    let sent_headers = web_sys::Headers::new().map_err(|_| HttpError::NoAnswer)?;
    let bearer = format!("Bearer {}", hex::encode(token));
    sent_headers
        .set("authorization", &bearer)
        .map_err(|_| HttpError::NoAnswer)?;
    for (name, value) in headers {
        sent_headers
            .set(name, value)
            .map_err(|_| HttpError::NoAnswer)?;
    }
    init.set_headers(&sent_headers);
    if let Some(body) = body {
        init.set_body(body);
    }
    let scope = js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>();
    let response = JsFuture::from(scope.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| HttpError::NoAnswer)?
        .unchecked_into::<web_sys::Response>();
    let status = response.status();
    if ok.contains(&status) {
        Ok(response)
    } else {
        Err(HttpError::Status {
            status,
            retry_after_secs: number_header(&response, "retry-after"),
        })
    }
}

/// A numeric response header (`upload-offset`), if the server sent one that reads.
pub(super) fn number_header(response: &web_sys::Response, name: &str) -> Option<u64> {
    response.headers().get(name).ok()??.trim().parse().ok()
}
