//! AES-256-GCM by the browser's WebCrypto: how the worker seals the files it sends, and opens
//! the files sealed so, a chunk at a time in the layout `merpati_files` documents (its
//! `chunk_nonce` and `chunk_plain_len`). WebCrypto runs in native code on a thread of the
//! browser's own, so the worker hands it chunks and goes on — reading the next slice of a
//! file, taking the next bytes of a download — while it works, and the bytes never pass
//! through the worker's memory (bench/NOTES.md, "Files sealed with AES-256-GCM").

use std::collections::VecDeque;

use merpati_files::{chunk_nonce, chunk_plain_len};
use merpati_protocol::blobs::{CHUNK_TAG_BYTES, chunk_count};
use merpati_protocol::content::FileKey;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

/// Why a blob did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// More bytes than the file's blob holds, or fewer.
    WrongLength,
    /// A chunk did not authenticate (changed, moved, or not this file's), or the browser
    /// would not open it.
    Tampered,
}

/// One file's key in WebCrypto, and the file's size, which says which chunk is the last.
#[derive(Debug, Clone)]
pub struct ChunkCipher {
    subtle: SubtleCrypto,
    key: CryptoKey,
    size: u64,
}

impl ChunkCipher {
    /// The cipher of a file of `size` bytes under `key`; `None` if the browser has no
    /// WebCrypto or will not take the key. The key is not extractable: it stays in WebCrypto.
    pub async fn new(key: &FileKey, size: u64) -> Option<ChunkCipher> {
        let subtle = crate::services::device_key::subtle().ok()?;
        let usages = js_sys::Array::of2(&"encrypt".into(), &"decrypt".into());
        let raw = js_sys::Uint8Array::from(key.0.as_slice());
        let importing = subtle
            .import_key_with_str("raw", &raw, "AES-GCM", false, &usages)
            .ok()?;
        let key = JsFuture::from(importing).await.ok()?;
        Some(ChunkCipher {
            subtle,
            key: wasm_bindgen::JsCast::dyn_into(key).ok()?,
            size,
        })
    }

    /// How many chunks the file is sealed in.
    pub fn chunks(&self) -> u64 {
        chunk_count(self.size)
    }

    /// Starts sealing chunk `index`, whose plaintext is `plain`; the future answers the sealed
    /// chunk (an `ArrayBuffer`: its ciphertext, then its tag). WebCrypto copies `plain` at
    /// once, so the caller may reuse it.
    pub fn seal(&self, index: u64, plain: &js_sys::Uint8Array) -> Result<JsFuture, JsValue> {
        let params = self.params(index);
        let sealing = self
            .subtle
            .encrypt_with_object_and_buffer_source(&params, &self.key, plain)?;
        Ok(JsFuture::from(sealing))
    }

    /// Starts opening chunk `index`, given whole as `sealed`; the future answers its plaintext
    /// (an `ArrayBuffer`) or fails if the chunk does not authenticate. WebCrypto copies
    /// `sealed` at once, so the caller may reuse it.
    pub fn open(&self, index: u64, sealed: &js_sys::Uint8Array) -> Result<JsFuture, JsValue> {
        let params = self.params(index);
        let opening = self
            .subtle
            .decrypt_with_object_and_buffer_source(&params, &self.key, sealed)?;
        Ok(JsFuture::from(opening))
    }

    /// The plaintext bytes chunk `index` holds.
    pub fn plain_len(&self, index: u64) -> u64 {
        chunk_plain_len(self.size, index)
    }

    fn params(&self, index: u64) -> AesGcmParams {
        let last = index + 1 == self.chunks();
        let nonce = js_sys::Uint8Array::from(chunk_nonce(index, last).as_slice());
        AesGcmParams::new("AES-GCM", &nonce)
    }
}

/// How many chunks a download may have in WebCrypto at once: enough that opening keeps pace
/// with the stream, few enough that a changed chunk is found within a megabyte of it.
const OPENING_AHEAD: usize = 16;

/// A blob opened as it downloads: each chunk handed to WebCrypto as soon as all of it has
/// come, the plaintext written into `opened` (browser memory, exactly the file's size) in
/// order. Nothing written is the file until [`StreamOpener::finish`] says every chunk opened
/// and the caller has checked the hash.
#[derive(Debug)]
pub struct StreamOpener {
    cipher: ChunkCipher,
    opened: js_sys::Uint8Array,
    /// The chunk arriving, its bytes so far (`filled` of them), and its index.
    held: js_sys::Uint8Array,
    filled: u32,
    index: u64,
    /// Chunks handed to WebCrypto, oldest first, each with where its plaintext goes.
    opening: VecDeque<(JsFuture, u32)>,
    /// Where the next chunk's plaintext goes.
    written: u32,
}

impl StreamOpener {
    /// Opens `cipher`'s file into `opened`, which holds exactly the file's size.
    pub fn new(cipher: ChunkCipher, opened: js_sys::Uint8Array) -> StreamOpener {
        let mut opener = StreamOpener {
            held: js_sys::Uint8Array::new_with_length(0),
            filled: 0,
            index: 0,
            opening: VecDeque::new(),
            written: 0,
            cipher,
            opened,
        };
        opener.hold_chunk();
        opener
    }

    /// The next bytes of the blob, as they came.
    pub async fn push(&mut self, part: &js_sys::Uint8Array) -> Result<(), OpenError> {
        let mut taken = 0;
        while taken < part.length() {
            if self.index == self.cipher.chunks() {
                return Err(OpenError::WrongLength);
            }
            let now = (self.held.length() - self.filled).min(part.length() - taken);
            self.held
                .set(&part.subarray(taken, taken + now), self.filled);
            self.filled += now;
            taken += now;
            if self.filled == self.held.length() {
                self.open_held()?;
            }
            if self.opening.len() > OPENING_AHEAD {
                self.write_oldest().await?;
            }
        }
        Ok(())
    }

    /// Waits for every chunk handed over to open; answers the file's bytes once the whole blob
    /// came and opened.
    pub async fn finish(mut self) -> Result<js_sys::Uint8Array, OpenError> {
        while !self.opening.is_empty() {
            self.write_oldest().await?;
        }
        // An empty file's one chunk is a tag alone, whole with its last byte: by then opened.
        if self.index != self.cipher.chunks() || u64::from(self.written) != self.cipher.size {
            return Err(OpenError::WrongLength);
        }
        Ok(self.opened)
    }

    /// Hands the chunk now held whole to WebCrypto and starts holding the next.
    fn open_held(&mut self) -> Result<(), OpenError> {
        let opening = self
            .cipher
            .open(self.index, &self.held)
            .map_err(|_| OpenError::Tampered)?;
        let plain_len =
            u32::try_from(self.cipher.plain_len(self.index)).map_err(|_| OpenError::WrongLength)?;
        self.opening.push_back((opening, self.written));
        self.written = self
            .written
            .checked_add(plain_len)
            .filter(|end| *end <= self.opened.length())
            .ok_or(OpenError::WrongLength)?;
        self.index += 1;
        self.hold_chunk();
        Ok(())
    }

    /// A buffer for the next chunk's sealed bytes (none past the last chunk).
    fn hold_chunk(&mut self) {
        let sealed_len = if self.index < self.cipher.chunks() {
            self.cipher.plain_len(self.index) + CHUNK_TAG_BYTES
        } else {
            0
        };
        let sealed_len = u32::try_from(sealed_len).unwrap_or(u32::MAX);
        if self.held.length() != sealed_len {
            self.held = js_sys::Uint8Array::new_with_length(sealed_len);
        }
        self.filled = 0;
    }

    /// Waits for the oldest chunk in WebCrypto and writes its plaintext where it goes.
    async fn write_oldest(&mut self) -> Result<(), OpenError> {
        let Some((opening, at)) = self.opening.pop_front() else {
            return Ok(());
        };
        let plain = js_sys::Uint8Array::new(&opening.await.map_err(|_| OpenError::Tampered)?);
        if at
            .checked_add(plain.length())
            .is_none_or(|end| end > self.opened.length())
        {
            return Err(OpenError::WrongLength);
        }
        self.opened.set(&plain, at);
        Ok(())
    }
}
