//! One file's upload: its ciphertext, kept in the browser's database until the server holds
//! all of it, sent in parts at the offset the server says it holds — so an upload cut by an
//! outage, a server restart or a reload goes on where it stopped instead of starting again.
//! A file being sent starts uploading while it is still being sealed ([`Ciphertext`]).
//! A request whose connection went silent is given up at its deadline
//! (`merpati_core::request_deadlines`) and tried again like one cut by an outage.

use std::cell::Cell;
use std::rc::Rc;

use futures::future::LocalBoxFuture;
use merpati_core::request_deadlines::{SILENCE_MS, part_answer_within_ms};
use merpati_core::upload_parts::{
    AfterPart, AfterRefusal, PartSize, UploadRequest, after_part, after_refusal,
};
use merpati_protocol::blobs::{UPLOAD_LENGTH, UPLOAD_OFFSET};
use merpati_protocol::{BlobId, ErrorCode};
use wasm_bindgen::JsValue;

use super::http::{Deadline, HttpError, blob_url, number_header, request, retry_backoff, wait_out};

/// Try again after the backoff's wait, with no hint from the server.
const TRY_AGAIN: AfterRefusal = AfterRefusal::TryAgain { not_before_ms: 0 };
use super::sealing::Ciphertext;
use crate::services::clock;

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The server holds the whole blob.
    Complete,
    /// The person cancelled it, or the file it is sealed from could not be read or kept.
    Cancelled,
    /// The server will not take it; the message shows failed with this reason.
    Refused(ErrorCode),
    /// Another tab of this browser sent its message (claimed it in the shared outbox, or
    /// heard it delivered): this tab has nothing to upload, and the message goes on as sent.
    SentElsewhere,
}

/// What an upload needs from its surroundings.
pub(super) struct Upload {
    /// The server's HTTP origin.
    pub(super) origin: String,
    /// The blob's name on the server.
    pub(super) blob: BlobId,
    /// The ciphertext: as kept in the database, or still being sealed.
    pub(super) ciphertext: Ciphertext,
    /// How long the ciphertext is (`ciphertext_len` of the file's size).
    pub(super) total: u64,
    /// The session's token now (it rotates, so it is asked for before each request).
    pub(super) token: Box<dyn Fn() -> Option<[u8; 32]>>,
    /// Bytes the server holds, updated as parts land (the progress bar reads it).
    pub(super) done: Rc<Cell<u64>>,
    /// Set when the person cancels.
    pub(super) cancelled: Rc<Cell<bool>>,
    /// Whether the upload is still owed: `false` once its message left the outbox the tabs
    /// share (another tab took it back), which ends the upload as cancelled.
    pub(super) still_owed: Box<dyn Fn() -> LocalBoxFuture<'static, bool>>,
    /// Told after each part lands.
    pub(super) on_progress: Box<dyn Fn()>,
    /// How much the next `PATCH` carries, following how quickly parts land.
    pub(super) part: Cell<PartSize>,
}

impl Upload {
    /// Uploads until the server holds everything, the person cancels, or the server refuses;
    /// waits out outages with the one backoff rule (`merpati_core::reconnect`).
    pub(super) async fn run(self) -> Ended {
        let total = self.total;
        let url = blob_url(&self.origin, self.blob);
        let mut backoff = retry_backoff();
        loop {
            if self.cancelled.get() {
                return Ended::Cancelled;
            }
            let before = self.done.get();
            let attempt = self.attempt(&url, total).await;
            if self.done.get() > before {
                // Parts landed: the next cut is a new outage, waited for from the start.
                backoff.reset();
            }
            match attempt {
                Ok(()) if self.cancelled.get() => return Ended::Cancelled,
                Ok(()) => return Ended::Complete,
                Err(AfterRefusal::GiveUp(code)) => return Ended::Refused(code),
                Err(AfterRefusal::TryAgain { not_before_ms }) => {
                    backoff.retry_after(not_before_ms);
                    wait_out(&mut backoff).await;
                }
            }
        }
    }

    /// One go: learn where the upload stands (creating it the first time), then send parts
    /// from there.
    async fn attempt(&self, url: &str, total: u64) -> Result<(), AfterRefusal> {
        let token = (self.token)().ok_or(TRY_AGAIN)?;
        let created = request(
            "PUT",
            url,
            &token,
            &[(UPLOAD_LENGTH, total.to_string())],
            None,
            &[200, 201],
            &Deadline::new(SILENCE_MS),
        )
        .await
        .map_err(judged(UploadRequest::Create))?;
        let mut offset = number_header(&created, UPLOAD_OFFSET).ok_or(TRY_AGAIN)?;
        self.landed(offset);
        while offset < total {
            if !self.cancelled.get() && !(self.still_owed)().await {
                self.cancelled.set(true);
            }
            if self.cancelled.get() {
                return Ok(());
            }
            let end = (offset + self.part.get().bytes()).min(total);
            let Some(part) = self.ciphertext.slice(offset, end).await else {
                // Sealing stopped (the file could not be read), and the sender cancelled.
                return if self.cancelled.get() {
                    Ok(())
                } else {
                    Err(TRY_AGAIN)
                };
            };
            let token = (self.token)().ok_or(TRY_AGAIN)?;
            let started_ms = clock::now_ms();
            let within_ms =
                part_answer_within_ms(end - offset, self.part.get().link_bytes_per_sec());
            let answer = request(
                "PATCH",
                url,
                &token,
                &[(UPLOAD_OFFSET, offset.to_string())],
                Some(&JsValue::from(part)),
                &[204, 409],
                &Deadline::new(within_ms),
            )
            .await;
            if matches!(answer, Err(HttpError::NoAnswer)) {
                // Cut or silent: either way the link is not what it was.
                let mut part = self.part.get();
                part.stalled();
                self.part.set(part);
            }
            let answer = answer.map_err(judged(UploadRequest::Append))?;
            let held = number_header(&answer, UPLOAD_OFFSET).ok_or(TRY_AGAIN)?;
            offset = match after_part(offset, answer.status() == 409, held) {
                AfterPart::GoOnFrom(held) => held,
                // The backoff's wait, then a `PUT` to learn where the upload stands.
                AfterPart::WaitAndAsk => return Err(TRY_AGAIN),
            };
            let mut part = self.part.get();
            part.landed(clock::now_ms().saturating_sub(started_ms));
            self.part.set(part);
            self.landed(offset);
        }
        Ok(())
    }

    fn landed(&self, offset: u64) {
        self.done.set(offset);
        (self.on_progress)();
    }
}

/// Whether the server holds every one of `blob`'s `total` bytes: asked when this browser no
/// longer keeps the ciphertext. `Ok(false)` when the server holds less or has no such upload
/// (deleted as an orphan, or never made): nothing can send the file then.
pub(super) async fn held_whole(
    origin: &str,
    blob: BlobId,
    total: u64,
    token: &[u8; 32],
) -> Result<bool, AfterRefusal> {
    let url = blob_url(origin, blob);
    let deadline = Deadline::new(SILENCE_MS);
    let answer = match request("HEAD", &url, token, &[], None, &[200], &deadline).await {
        Ok(answer) => answer,
        Err(error) => {
            return match judged(UploadRequest::Ask)(error) {
                AfterRefusal::GiveUp(_) => Ok(false),
                again => Err(again),
            };
        }
    };
    Ok(number_header(&answer, UPLOAD_OFFSET) == Some(total)
        && number_header(&answer, UPLOAD_LENGTH) == Some(total))
}

/// How a failed `request` reads for an upload (`merpati_core::upload_parts`).
fn judged(request: UploadRequest) -> impl Fn(HttpError) -> AfterRefusal {
    move |error| match error {
        HttpError::NoAnswer => TRY_AGAIN,
        HttpError::Status {
            status,
            retry_after_secs,
        } => after_refusal(request, status, retry_after_secs),
    }
}
