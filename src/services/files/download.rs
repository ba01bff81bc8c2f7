//! One file's download: the blob fetched with progress and opened as it streams in —
//! each chunk decrypted as soon as all of it is here, into one buffer outside the worker's
//! memory, the whole checked against the hash its message names — then handed to the page as
//! a `Blob` of the file's type.

use merpati_files::FileOpener;
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len};
use merpati_protocol::content::Attachment;
use merpati_words::{Text, t};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::hash;
use super::http::{HttpError, blob_url, request};

/// Downloads and opens `attachment`; `progress(done, total)` hears how far the blob came.
/// Answers the file, or words saying why there is none.
pub(super) async fn fetch_file(
    origin: &str,
    token: &[u8; 32],
    attachment: &Attachment,
    progress: impl Fn(u64, u64),
) -> Result<web_sys::Blob, String> {
    // No file over the cap was ever sent: a message saying otherwise is not to be believed
    // (nor its size used to make room).
    let size = u32::try_from(attachment.size)
        .ok()
        .filter(|size| u64::from(*size) <= MAX_FILE_BYTES)
        .ok_or_else(|| t(Text::FileChanged))?;
    let url = blob_url(origin, attachment.blob);
    let response = request("GET", &url, token, &[], None, &[200])
        .await
        .map_err(|error| match error {
            HttpError::Refused(404) => t(Text::FileGone),
            _ => t(Text::DownloadFailed),
        })?;
    let total = ciphertext_len(attachment.size);
    let mut opener = FileOpener::new(&attachment.key, attachment.size);
    let opened = js_sys::Uint8Array::new_with_length(size);
    read_body(&response, total, &mut opener, &opened, progress).await?;
    // Cut short, changed or not the file named: all mean this is not the file that was sent,
    // and what was opened of it is let go.
    opener.finish().map_err(|_| t(Text::FileChanged))?;
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

/// Reads a response's body into `opener` as it streams in, writing what it opens into
/// `opened` (browser memory, not the worker's; exactly the file's size, which the opener
/// never goes past), and telling `progress` at each percent. Answers words if the body breaks
/// off or is not the file's.
async fn read_body(
    response: &web_sys::Response,
    total: u64,
    opener: &mut FileOpener,
    opened: &js_sys::Uint8Array,
    progress: impl Fn(u64, u64),
) -> Result<(), String> {
    let failed = |_| t(Text::DownloadFailed);
    let body = response.body().ok_or_else(|| t(Text::DownloadFailed))?;
    let reader = body
        .get_reader()
        .unchecked_into::<web_sys::ReadableStreamDefaultReader>();
    let mut part_bytes = Vec::new();
    let (mut done, mut told, mut written) = (0, 0, 0u32);
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
        part_bytes.resize(part.length() as usize, 0);
        part.copy_to(&mut part_bytes);
        let Ok(plaintext) = opener.push(&part_bytes) else {
            let _ = reader.cancel();
            return Err(t(Text::FileChanged));
        };
        if !plaintext.is_empty() {
            let Some(end) = u32::try_from(plaintext.len())
                .ok()
                .and_then(|len| written.checked_add(len))
                .filter(|end| *end <= opened.length())
            else {
                let _ = reader.cancel();
                return Err(t(Text::FileChanged));
            };
            opened.subarray(written, end).copy_from(&plaintext);
            written = end;
        }
        done += part_bytes.len() as u64;
        if done.saturating_sub(told) * 100 >= total.max(1) || done >= total {
            told = done;
            progress(done, total);
        }
    }
}
