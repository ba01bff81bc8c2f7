//! One file's download: the blob fetched with progress and opened as it streams in —
//! each chunk decrypted as soon as all of it is here ([`BlobOpener`]), into one buffer outside
//! the worker's memory, the whole checked against the hash its message names — then handed to
//! the page as a `Blob` of the file's type. A download cut short (an outage, a server
//! restart) asks for the rest with a `Range` and goes on opening where it stopped
//! (`merpati_core::download_retries` says when to try again and when to give up); so does
//! one whose connection went silent, given up once no byte came for
//! `merpati_core::request_deadlines::SILENCE_MS`.

use merpati_core::download_retries::{AfterDownloadFault, DownloadFault, DownloadRetries};
use merpati_core::request_deadlines::SILENCE_MS;
use merpati_files::FileOpener;
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len, content_range_first, range_from};
use merpati_protocol::content::{Attachment, FileCipher, FileKey};
use merpati_words::{Text, t};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::aes_gcm::{ChunkCipher, StreamOpener};
use super::hash;
use super::http::{Deadline, HttpError, blob_url, request, retry_backoff, wait_out};

/// Downloads and opens `attachment`, whose blob `cipher` sealed; `token()` is the session's
/// token at each try (`None` once signed out, which ends the download), and
/// `progress(done, total)` hears how far the blob came. Answers the file, or words saying why
/// there is none.
pub(super) async fn fetch_file(
    origin: &str,
    token: impl Fn() -> Option<[u8; 32]>,
    cipher: FileCipher,
    attachment: &Attachment,
    progress: impl Fn(u64, u64),
) -> Result<web_sys::Blob, String> {
    // No file over the cap was ever sent: a message saying otherwise is not to be believed
    // (nor its size used to make room).
    if attachment.size > MAX_FILE_BYTES {
        return Err(t(Text::FileChanged));
    }
    let url = blob_url(origin, attachment.blob);
    let total = ciphertext_len(attachment.size);
    let mut opener = BlobOpener::new(cipher, &attachment.key, attachment.size)
        .await
        .ok_or_else(|| t(Text::DownloadFailed))?;
    let mut body = Body {
        arrived: 0,
        total,
        told: 0,
    };
    let (mut retries, mut backoff) = (DownloadRetries::default(), retry_backoff());
    while body.arrived < total {
        let token = token().ok_or_else(|| t(Text::DownloadFailed))?;
        let before = body.arrived;
        // Given up once no byte came for a while: for the answer, then between its chunks.
        let silence = Deadline::new(SILENCE_MS);
        let fault = match ask_from(&url, &token, body.arrived, &silence).await {
            Ok((response, skip)) => {
                let read = body
                    .read(&response, skip, &mut opener, &progress, &silence)
                    .await;
                match read {
                    Ok(()) => continue,
                    Err(BodyEnd::NotTheFile) => return Err(t(Text::FileChanged)),
                    Err(BodyEnd::Cut) => DownloadFault::Cut,
                }
            }
            Err(fault) => fault,
        };
        if body.arrived > before {
            retries.progressed();
            backoff.reset();
        }
        match retries.after(fault) {
            AfterDownloadFault::TryAgain { not_before_ms } => {
                backoff.retry_after(not_before_ms);
                wait_out(&mut backoff).await;
            }
            AfterDownloadFault::Gone => return Err(t(Text::FileGone)),
            AfterDownloadFault::GiveUp => return Err(t(Text::DownloadFailed)),
        }
    }
    the_file_sent(opener, attachment).await
}

/// The file a whole blob opened into, as a `Blob` of its type, once checked against the hash
/// its message names; words if it is not the file that was sent (a chunk changed, or the
/// blob another file's sealed under the same key), and what was opened of it is let go.
pub async fn the_file_sent(
    opener: BlobOpener,
    attachment: &Attachment,
) -> Result<web_sys::Blob, String> {
    let opened = opener.finish().await.ok_or_else(|| t(Text::FileChanged))?;
    let sha256 = hash::sha256(&opened)
        .await
        .ok_or_else(|| t(Text::DownloadFailed))?;
    if sha256 != attachment.sha256 {
        return Err(t(Text::FileChanged));
    }
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(&attachment.media_type);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&js_sys::Array::of1(&opened), &options)
        .map_err(|_| t(Text::DownloadFailed))
}

/// Asks for the blob from its `arrived`th byte: the whole of it at first, the rest with a
/// `Range` after a cut. Answers the response and how many of its first bytes already arrived
/// (all `arrived` of them if the server sent the whole blob again, none if it sent the rest).
async fn ask_from(
    url: &str,
    token: &[u8; 32],
    arrived: u64,
    silence: &Deadline,
) -> Result<(web_sys::Response, u64), DownloadFault> {
    let range = [("range", range_from(arrived))];
    let headers: &[(&str, String)] = if arrived == 0 { &[] } else { &range };
    let response = request("GET", url, token, headers, None, &[200, 206], silence)
        .await
        .map_err(|error| match error {
            HttpError::NoAnswer => DownloadFault::Cut,
            HttpError::Status {
                status,
                retry_after_secs,
            } => DownloadFault::Refused {
                status,
                retry_after_secs,
            },
        })?;
    if response.status() == 200 {
        return Ok((response, arrived));
    }
    let first = response
        .headers()
        .get("content-range")
        .ok()
        .flatten()
        .and_then(|value| content_range_first(&value));
    if first != Some(arrived) {
        // Not the rest asked for: refused like a status the download cannot use.
        let _ = response.body().map(|body| body.cancel());
        return Err(DownloadFault::Refused {
            status: 206,
            retry_after_secs: None,
        });
    }
    Ok((response, 0))
}

/// A blob opened as it arrives, with the cipher that sealed it, into one buffer of exactly the
/// file's size in browser memory (not the worker's). Refuses as early as it can tell: a
/// changed chunk soon after it came, a blob longer than the file's at the first byte too many.
#[derive(Debug)]
pub enum BlobOpener {
    /// Opened in WebCrypto, several chunks at once.
    Aes256Gcm(StreamOpener),
    /// Opened here, as files sent before AES-256-GCM were sealed; the plaintext written into
    /// the buffer up to `written`.
    ChaCha20Poly1305 {
        /// Opens each chunk once whole.
        opener: FileOpener,
        /// The file's bytes, as opened.
        opened: js_sys::Uint8Array,
        /// How many of them.
        written: u32,
        /// The bytes that arrived, copied in.
        part: Vec<u8>,
    },
}

impl BlobOpener {
    /// Opens a blob of a file of `size` bytes sealed by `cipher` under `key`; `None` for a
    /// size no file can have here, or if the browser will not take the key.
    pub async fn new(cipher: FileCipher, key: &FileKey, size: u64) -> Option<BlobOpener> {
        let opened = js_sys::Uint8Array::new_with_length(u32::try_from(size).ok()?);
        Some(match cipher {
            FileCipher::Aes256Gcm => BlobOpener::Aes256Gcm(StreamOpener::new(
                ChunkCipher::new(key, size).await?,
                opened,
            )),
            FileCipher::ChaCha20Poly1305 => BlobOpener::ChaCha20Poly1305 {
                opener: FileOpener::new(key, size),
                opened,
                written: 0,
                part: Vec::new(),
            },
        })
    }

    /// The blob's next bytes; `None` if they show it is not the file's.
    pub async fn push(&mut self, bytes: &js_sys::Uint8Array) -> Option<()> {
        match self {
            BlobOpener::Aes256Gcm(opener) => opener.push(bytes).await.ok(),
            BlobOpener::ChaCha20Poly1305 {
                opener,
                opened,
                written,
                part,
            } => {
                part.resize(bytes.length() as usize, 0);
                bytes.copy_to(part);
                let plaintext = opener.push(part).ok()?;
                let end = u32::try_from(plaintext.len())
                    .ok()
                    .and_then(|len| written.checked_add(len))
                    .filter(|end| *end <= opened.length())?;
                opened.subarray(*written, end).copy_from(&plaintext);
                *written = end;
                Some(())
            }
        }
    }

    /// The file's bytes, once the whole blob came and opened (still to be checked against the
    /// hash its message names); `None` if it was cut short or a chunk did not open.
    pub async fn finish(self) -> Option<js_sys::Uint8Array> {
        match self {
            BlobOpener::Aes256Gcm(opener) => opener.finish().await.ok(),
            BlobOpener::ChaCha20Poly1305 { opener, opened, .. } => {
                opener.finish().ok().map(|()| opened)
            }
        }
    }
}

/// Why a response's body stopped before the whole blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    /// It broke off or ended short: ask for the rest.
    Cut,
    /// Its bytes are not the file's (longer, or a chunk did not open).
    NotTheFile,
}

/// How far the blob came.
#[derive(Debug)]
struct Body {
    /// Bytes handed to the opener so far.
    arrived: u64,
    /// The blob's length.
    total: u64,
    /// `arrived` when `progress` was last told.
    told: u64,
}

impl Body {
    /// Reads `response`'s body into `opener` as it streams in, after letting its first `skip`
    /// bytes go (they arrived before), telling `progress` at each percent; each chunk that
    /// comes pushes `silence` back, and the read breaks off as cut when it passes.
    async fn read(
        &mut self,
        response: &web_sys::Response,
        mut skip: u64,
        opener: &mut BlobOpener,
        progress: &impl Fn(u64, u64),
        silence: &Deadline,
    ) -> Result<(), BodyEnd> {
        let cut = |_| BodyEnd::Cut;
        let reader = response
            .body()
            .ok_or(BodyEnd::Cut)?
            .get_reader()
            .unchecked_into::<web_sys::ReadableStreamDefaultReader>();
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(cut)?;
            silence.push_back(SILENCE_MS);
            if js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
                .map_err(cut)?
                .is_truthy()
            {
                // A body may end cleanly and still short (a proxy's doing): the rest is asked for.
                return if self.arrived == self.total {
                    Ok(())
                } else {
                    Err(BodyEnd::Cut)
                };
            }
            let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).map_err(cut)?;
            let mut part = value.unchecked_into::<js_sys::Uint8Array>();
            let length = u64::from(part.length());
            if skip > 0 {
                let skipped = skip.min(length);
                skip -= skipped;
                // `skipped` ≤ the part's length, a u32.
                part = part.subarray(skipped as u32, part.length());
                if part.length() == 0 {
                    continue;
                }
            }
            if opener.push(&part).await.is_none() {
                let _ = reader.cancel();
                return Err(BodyEnd::NotTheFile);
            }
            self.arrived += u64::from(part.length());
            if self.arrived.saturating_sub(self.told) * 100 >= self.total.max(1)
                || self.arrived >= self.total
            {
                self.told = self.arrived;
                progress(self.arrived, self.total);
            }
        }
    }
}
