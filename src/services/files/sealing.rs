//! Sealing a file being sent, and its ciphertext as the upload reads it: either kept whole
//! (in the browser's database, after a reload or a retry), or still being sealed — so the
//! upload of a file being sent starts on its first sealed bytes instead of after the last,
//! and reading, sealing and uploading overlap (bench/NOTES.md, "Sealing and uploading at
//! once").

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use merpati_files::FileSealer;
use merpati_protocol::content::FileKey;
use merpati_words::{Text, t};
use wasm_bindgen_futures::JsFuture;

use super::hash;

/// How much of a file is read (and sealed) at a time when sending it: few reads through the
/// browser's file reader, yet the worker never holds a whole large file (a wasm memory that
/// grew for one never shrinks again).
const READ_SLICE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads `file` a slice at a time — the next slice read while this one is sealed — and seals
/// it as it comes (`FileSealer`), adding each sealed piece to `sealing` for the upload; the
/// worker's own memory holds a slice, not the file. The browser takes the SHA-256 of the same
/// bytes (gathered outside the worker's memory, for that alone), starting once the last slice
/// is read. Answers the whole ciphertext and the hash; words if the file cannot be read (or
/// changed while read).
pub async fn seal_file(
    file: &web_sys::File,
    key: &FileKey,
    size: u64,
    sealing: &Sealing,
) -> Result<(web_sys::Blob, [u8; 32]), String> {
    let unreadable = |_| t(Text::FileUnreadable);
    // A slice's read, begun, and where the slice ends.
    let read = |start: u64| -> Result<Option<(JsFuture, u64)>, String> {
        if start >= size {
            return Ok(None);
        }
        let end = (start + READ_SLICE_BYTES).min(size);
        let part = file
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(unreadable)?;
        Ok(Some((JsFuture::from(part.array_buffer()), end)))
    };
    let whole_len = u32::try_from(size).map_err(|_| t(Text::FileUnreadable))?;
    let whole = js_sys::Uint8Array::new_with_length(whole_len);
    let mut hashing = None;
    let mut sealer = FileSealer::new(key, size);
    let mut slice = Vec::new();
    let mut next = read(0)?;
    let mut start = 0;
    while let Some((reading, end)) = next.take() {
        let bytes = js_sys::Uint8Array::new(&reading.await.map_err(unreadable)?);
        if u64::from(bytes.length()) != end - start {
            // The file is shorter than when it was chosen: it changed while read.
            return Err(t(Text::FileUnreadable));
        }
        whole.set(&bytes, start as u32);
        start = end;
        next = read(start)?;
        if next.is_none() {
            hashing = Some(hash::sha256(&whole));
        }
        slice.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut slice);
        let ciphertext = sealer.push(&slice).map_err(|_| t(Text::FileUnreadable))?;
        sealing.push(&ciphertext).map_err(unreadable)?;
    }
    let tail = sealer.finish().map_err(|_| t(Text::FileUnreadable))?;
    sealing.push(&tail).map_err(unreadable)?;
    // An empty file is never read: its hash is the empty bytes'.
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
    pub fn push(&self, piece: &[u8]) -> Result<(), wasm_bindgen::JsValue> {
        if piece.is_empty() {
            return Ok(());
        }
        let bytes = js_sys::Array::of1(&js_sys::Uint8Array::from(piece));
        let blob = web_sys::Blob::new_with_u8_array_sequence(&bytes)?;
        let mut state = self.state.borrow_mut();
        let start = state.sealed;
        state.sealed += piece.len() as u64;
        state.pieces.push((start, blob));
        wake(&mut state);
        Ok(())
    }

    /// Sealing will not go on: whoever waits for more is told there is none.
    pub fn stop(&self) {
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        wake(&mut state);
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

fn wake(state: &mut State) {
    for waker in state.waiting.drain(..) {
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
