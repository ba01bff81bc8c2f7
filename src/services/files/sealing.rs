//! Sealing a file being sent (AES-256-GCM by WebCrypto, [`super::aes_gcm`]), and its
//! ciphertext as the upload reads it: either kept whole
//! (in the browser's database, after a reload or a retry), or still being sealed — so the
//! upload of a file being sent starts on its first sealed bytes instead of after the last,
//! and reading, sealing and uploading overlap (bench/NOTES.md, "Sealing and uploading at
//! once").

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use merpati_core::upload_parts::SMALLEST_PART_BYTES;
use merpati_protocol::blobs::{CHUNK_PLAIN_BYTES, CHUNK_TAG_BYTES};
use merpati_protocol::content::FileKey;
use merpati_words::{Text, t};
use wasm_bindgen_futures::JsFuture;

use super::aes_gcm::ChunkCipher;
use super::hash;

/// How much of a file is read (and sealed) at a time when sending it, at most: few reads
/// through the browser's file reader, and a slice's chunks all in WebCrypto at once. A whole
/// number of chunks, so a chunk never spans two slices.
const READ_SLICE_BYTES: u64 = 64 * CHUNK_PLAIN_BYTES;

/// The first slice: the fewest chunks whose ciphertext holds the upload's first part
/// ([`SMALLEST_PART_BYTES`]), so the upload starts once a few chunks are sealed instead of a
/// whole slice; each slice after it is four times larger, up to [`READ_SLICE_BYTES`].
const FIRST_SLICE_BYTES: u64 =
    SMALLEST_PART_BYTES.div_ceil(CHUNK_PLAIN_BYTES + CHUNK_TAG_BYTES) * CHUNK_PLAIN_BYTES;

/// Reads `file` a slice at a time — the next slice read while this one is sealed — and seals
/// each slice's chunks in WebCrypto as it comes, adding the slice's sealed chunks to `sealing`
/// as one piece for the upload; none of the file passes through the worker's own memory. The
/// browser takes the SHA-256 of the same bytes (gathered in one buffer for that), starting once
/// the last slice is read. Answers the whole ciphertext and the hash; words if the file cannot
/// be read (or changed while read).
pub async fn seal_file(
    file: &web_sys::File,
    key: &FileKey,
    size: u64,
    sealing: &Sealing,
) -> Result<(web_sys::Blob, [u8; 32]), String> {
    let unreadable = |_| t(Text::FileUnreadable);
    // A slice's read, begun, and where the slice ends.
    let read = |start: u64, len: u64| -> Result<Option<(JsFuture, u64)>, String> {
        if start >= size {
            return Ok(None);
        }
        let end = (start + len).min(size);
        let part = file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(unreadable)?;
        Ok(Some((JsFuture::from(part.array_buffer()), end)))
    };
    let whole_len = u32::try_from(size).map_err(|_| t(Text::FileUnreadable))?;
    let whole = js_sys::Uint8Array::new_with_length(whole_len);
    let cipher = ChunkCipher::new(key, size)
        .await
        .ok_or_else(|| t(Text::SomethingWentWrong))?;
    let sealing_failed = |_| t(Text::SomethingWentWrong);
    let mut hashing = None;
    let mut slice_len = FIRST_SLICE_BYTES;
    let mut next = read(0, slice_len)?;
    let mut start = 0;
    while let Some((reading, end)) = next.take() {
        let bytes = js_sys::Uint8Array::new(&reading.await.map_err(unreadable)?);
        if u64::from(bytes.length()) != end - start {
            // The file is shorter than when it was chosen: it changed while read.
            return Err(t(Text::FileUnreadable));
        }
        whole.set(&bytes, start as u32);
        // Every chunk of the slice goes to WebCrypto now, and is awaited in order below while
        // the next slice is read.
        let first = start / CHUNK_PLAIN_BYTES;
        let chunks = (0..bytes.length())
            .step_by(CHUNK_PLAIN_BYTES as usize)
            .zip(first..)
            .map(|(offset, index)| {
                let chunk_end = (offset + CHUNK_PLAIN_BYTES as u32).min(bytes.length());
                cipher.seal(index, &bytes.subarray(offset, chunk_end))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(sealing_failed)?;
        start = end;
        slice_len = (slice_len * 4).min(READ_SLICE_BYTES);
        next = read(start, slice_len)?;
        if next.is_none() {
            hashing = Some(hash::sha256(&whole));
        }
        // The slice's sealed chunks as one piece: a `Blob` each would be a round trip to the
        // browser's blob registry per 64 KiB.
        let sealed_len = bytes.length() + chunks.len() as u32 * CHUNK_TAG_BYTES as u32;
        let piece = js_sys::Uint8Array::new_with_length(sealed_len);
        let mut at = 0;
        for chunk in chunks {
            let sealed = js_sys::Uint8Array::new(&chunk.await.map_err(sealing_failed)?);
            piece.set(&sealed, at);
            at += sealed.length();
        }
        sealing.push(&piece).map_err(sealing_failed)?;
    }
    if size == 0 {
        // An empty file is never read: it is one empty chunk, the last, and its hash is the
        // empty bytes'.
        let sealed = cipher.seal(0, &whole).map_err(sealing_failed)?.await;
        sealing
            .push(&js_sys::Uint8Array::new(&sealed.map_err(sealing_failed)?))
            .map_err(sealing_failed)?;
    }
    let hashing = hashing.unwrap_or_else(|| hash::sha256(&whole));
    let sha256 = hashing.await.ok_or_else(|| t(Text::SomethingWentWrong))?;
    let ciphertext = sealing.whole().map_err(|_| t(Text::SomethingWentWrong))?;
    Ok((ciphertext, sha256))
}

/// The bytes an upload sends from.
#[derive(Debug, Clone)]
pub enum Ciphertext {
    /// All of it, in hand.
    Kept(web_sys::Blob),
    /// Still growing as the file is read and sealed.
    Sealing(Sealing),
}

impl Ciphertext {
    /// The bytes from `start` to `end`, once they are sealed. `None` if they never will be
    /// (sealing stopped: the file could not be read) or the browser could not cut them.
    pub async fn slice(&self, start: u64, end: u64) -> Option<web_sys::Blob> {
        match self {
            Ciphertext::Kept(whole) => whole.slice_with_f64_and_f64(start as f64, end as f64).ok(),
            Ciphertext::Sealing(sealing) => sealing.slice(start, end).await,
        }
    }
}

/// A ciphertext being sealed: the pieces sealed so far, each a browser `Blob` (so a part of
/// the upload is a cut across them, not a copy). Cheap to clone; the clones share it.
#[derive(Debug, Clone, Default)]
pub struct Sealing {
    state: Rc<RefCell<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// The pieces in order, each with the offset it starts at.
    pieces: Vec<(u64, web_sys::Blob)>,
    /// Bytes sealed so far: where the next piece starts.
    sealed: u64,
    /// Sealing stopped before the end: what was asked for past `sealed` never comes.
    stopped: bool,
    /// Whoever waits for more (the upload).
    waiting: Vec<Waker>,
}

impl Sealing {
    /// Adds the next sealed piece.
    pub fn push(&self, piece: &js_sys::Uint8Array) -> Result<(), wasm_bindgen::JsValue> {
        if piece.length() == 0 {
            return Ok(());
        }
        let blob = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(piece))?;
        let mut state = self.state.borrow_mut();
        let start = state.sealed;
        state.sealed += u64::from(piece.length());
        state.pieces.push((start, blob));
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        wake(waiting);
        Ok(())
    }

    /// Sealing will not go on: whoever waits for more is told there is none.
    pub fn stop(&self) {
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        wake(waiting);
    }

    /// Every piece so far as one `Blob`, which refers to the pieces rather than copying them.
    pub fn whole(&self) -> Result<web_sys::Blob, wasm_bindgen::JsValue> {
        let state = self.state.borrow();
        let pieces: js_sys::Array = state.pieces.iter().map(|(_, piece)| piece).collect();
        web_sys::Blob::new_with_blob_sequence(&pieces)
    }

    async fn slice(&self, start: u64, end: u64) -> Option<web_sys::Blob> {
        if !(SealedUpTo { sealing: self, end }).await {
            return None;
        }
        let state = self.state.borrow();
        // The pieces that hold any of start..end, and where the first of them starts.
        let overlapping: Vec<&(u64, web_sys::Blob)> = state
            .pieces
            .iter()
            .filter(|(piece_start, piece)| {
                *piece_start < end && piece_start + piece.size() as u64 > start
            })
            .collect();
        let first = overlapping
            .first()
            .map_or(start, |(piece_start, _)| *piece_start);
        let pieces: js_sys::Array = overlapping.iter().map(|(_, piece)| piece).collect();
        web_sys::Blob::new_with_blob_sequence(&pieces)
            .and_then(|joined| {
                joined.slice_with_f64_and_f64((start - first) as f64, (end - first) as f64)
            })
            .ok()
    }
}

/// Wakes whoever waited, with the state let go: a waker that polled its task on the spot
/// would borrow it again.
fn wake(waiting: Vec<Waker>) {
    for waker in waiting {
        waker.wake();
    }
}

/// Resolves `true` once the first `end` bytes are sealed, `false` if sealing stopped short.
struct SealedUpTo<'a> {
    sealing: &'a Sealing,
    end: u64,
}

impl Future for SealedUpTo<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut state = self.sealing.state.borrow_mut();
        if state.sealed >= self.end {
            Poll::Ready(true)
        } else if state.stopped {
            Poll::Ready(false)
        } else {
            state.waiting.push(cx.waker().clone());
            Poll::Pending
        }
    }
}
