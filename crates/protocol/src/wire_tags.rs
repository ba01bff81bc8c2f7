//! The first byte of an encoded frame, for tools that count frames of one kind without
//! decoding them (the benchmark's receivers, at hundreds of thousands a second).
//!
//! postcard writes an enum's variant index first, as a varint: one byte, equal to the index,
//! for the first 128 variants. The constants name those bytes; `tests/frames.rs` encodes each
//! frame named here and checks its first byte, so reordering the enum fails a test instead of
//! silently breaking a count.

use crate::ServerFrame;

impl ServerFrame {
    /// The first byte of every encoded [`ServerFrame::Ack`].
    pub const ACK_TAG: u8 = 4;
    /// The first byte of every encoded [`ServerFrame::Message`].
    pub const MESSAGE_TAG: u8 = 6;
}
