//! A file's SHA-256, which its message names: taken by the browser's WebCrypto, native code,
//! rather than in WebAssembly, where the same hash was most of a file's encryption time
//! (bench/NOTES.md, "The file's hash by the browser").

use wasm_bindgen_futures::JsFuture;

/// The SHA-256 of `bytes`; `None` if the browser would not take it. The browser copies the
/// bytes and starts at once, on a thread of its own: the caller can go on and await the hash
/// later.
pub fn sha256(bytes: &js_sys::Uint8Array) -> impl Future<Output = Option<[u8; 32]>> {
    let digesting = crate::services::device_key::subtle()
        .ok()
        .and_then(|subtle| {
            subtle
                .digest_with_str_and_buffer_source("SHA-256", bytes)
                .ok()
        });
    async move {
        let digest = js_sys::Uint8Array::new(&JsFuture::from(digesting?).await.ok()?);
        let mut hash = [0; 32];
        (digest.length() == 32).then(|| digest.copy_to(&mut hash))?;
        Some(hash)
    }
}
