//! One file's download: the blob fetched with progress, decrypted and checked against the
//! hash its message names, then handed to the page as a `Blob` of the file's type.

use merpati_core::files::{self, FileError};
use merpati_protocol::blobs::ciphertext_len;
use merpati_protocol::content::Attachment;
use merpati_words::{Text, t};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::http::{HttpError, blob_url, request};

/// Downloads and opens `attachment`; `progress(done, total)` hears how far the blob came.
/// Answers the file, or words saying why there is none.
pub(super) async fn fetch_file(
    origin: &str,
    token: &[u8; 32],
    attachment: &Attachment,
    progress: impl Fn(u64, u64),
) -> Result<web_sys::Blob, String> {
    let url = blob_url(origin, attachment.blob);
    let response = request("GET", &url, token, &[], None, &[200])
        .await
        .map_err(|error| match error {
            HttpError::Refused(404) => t(Text::FileGone),
            _ => t(Text::DownloadFailed),
        })?;
    let total = ciphertext_len(attachment.size);
    let ciphertext = read_body(&response, total, progress)
        .await
        .map_err(|_| t(Text::DownloadFailed))?;
    let plaintext = files::open(
        &attachment.key,
        attachment.size,
        &attachment.sha256,
        &ciphertext,
    )
    .map_err(|error| match error {
        FileError::WrongLength | FileError::Tampered | FileError::WrongHash => t(Text::FileChanged),
    })?;
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(&attachment.media_type);
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(plaintext.as_slice()));
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| t(Text::DownloadFailed))
}

/// Reads a response's body as it streams in, telling `progress` at each percent.
async fn read_body(
    response: &web_sys::Response,
    total: u64,
    progress: impl Fn(u64, u64),
) -> Result<Vec<u8>, JsValue> {
    let body = response.body().ok_or(JsValue::NULL)?;
    let reader = body
        .get_reader()
        .unchecked_into::<web_sys::ReadableStreamDefaultReader>();
    let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut told = 0;
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))?.is_truthy() {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value"))?;
        let part = value.unchecked_into::<js_sys::Uint8Array>();
        // Straight into the buffer's tail: one copy per chunk, not two.
        let start = bytes.len();
        bytes.resize(start + part.length() as usize, 0);
        part.copy_to(&mut bytes[start..]);
        let done = bytes.len() as u64;
        if done.saturating_sub(told) * 100 >= total.max(1) || done >= total {
            told = done;
            progress(done, total);
        }
    }
    Ok(bytes)
}
