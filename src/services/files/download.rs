//! One file's download: the blob fetched with progress and opened as it streams in —
//! each chunk decrypted as soon as all of it is here ([`BlobOpener`]), into one buffer outside
//! the worker's memory, the whole checked against the hash its message names — then handed to
//! the page as a `Blob` of the file's type.

use merpati_files::FileOpener;
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len};
use merpati_protocol::content::{Attachment, FileCipher, FileKey};
use merpati_words::{Text, t};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::aes_gcm::{ChunkCipher, StreamOpener};
use super::hash;
use super::http::{HttpError, blob_url, request};

/// Downloads and opens `attachment`, whose blob `cipher` sealed; `progress(done, total)` hears
/// how far the blob came. Answers the file, or words saying why there is none.
pub(super) async fn fetch_file(
    origin: &str,
    token: &[u8; 32],
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
    let response = request("GET", &url, token, &[], None, &[200])
        .await
        .map_err(|error| match error {
            HttpError::Status { status: 404, .. } => t(Text::FileGone),
            _ => t(Text::DownloadFailed),
        })?;
    let total = ciphertext_len(attachment.size);
    let mut opener = BlobOpener::new(cipher, &attachment.key, attachment.size)
        .await
        .ok_or_else(|| t(Text::DownloadFailed))?;
    read_body(&response, total, &mut opener, progress).await?;
    // Cut short, changed or not the file named: all mean this is not the file that was sent,
    // and what was opened of it is let go.
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

/// Reads a response's body into `opener` as it streams in, telling `progress` at each
/// percent. Answers words if the body breaks off or is not the file's.
async fn read_body(
    response: &web_sys::Response,
    total: u64,
    opener: &mut BlobOpener,
    progress: impl Fn(u64, u64),
) -> Result<(), String> {
    let failed = |_| t(Text::DownloadFailed);
    let body = response.body().ok_or_else(|| t(Text::DownloadFailed))?;
    let reader = body
        .get_reader()
        .unchecked_into::<web_sys::ReadableStreamDefaultReader>();
    let (mut done, mut told) = (0, 0);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        if js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .map_err(failed)?
            .is_truthy()
        {
            return Ok(());
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).map_err(failed)?;
        let part = value.unchecked_into::<js_sys::Uint8Array>();
        if opener.push(&part).await.is_none() {
            let _ = reader.cancel();
            return Err(t(Text::FileChanged));
        }
        done += u64::from(part.length());
        if done.saturating_sub(told) * 100 >= total.max(1) || done >= total {
            told = done;
            progress(done, total);
        }
    }
}
