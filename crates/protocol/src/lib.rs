//! Merpati's wire protocol: every frame the app, the server and the load generator exchange.
//!
//! Frames travel as binary WebSocket messages, each one [postcard]-encoded [`ClientFrame`] or
//! [`ServerFrame`]. [`encode`] and [`decode`] are the one way to turn a frame into bytes and
//! back; `docs/protocol.md` describes the conversation, the limits and the error codes.
//!
//! This crate does no I/O: it compiles for native targets and for `wasm32` alike.
//!
//! # Layout
//! - [`ids`]: identifiers and positions (`ChatId`, `Seq`, `ClientMsgId`, `Epoch`, ...).
//! - [`username`]: the rules a username must follow.
//! - [`passphrase`]: the rule a passphrase must follow (checked on the device only).
//! - [`frames`]: the frames themselves and the error codes.
//! - [`auth`]: what a client signs to prove it holds an account key.
//! - [`content`]: the plaintext a message body carries inside the app, its encrypted form, and
//!   the rule for a text a person may send.
//! - [`conversation`]: receipts and presence, the routing metadata of a conversation.
//! - [`keys`]: the public keys of end-to-end encryption and what they sign.
//! - `wire_tags`: the first byte of the frames tools count without decoding
//!   ([`ServerFrame::ACK_TAG`], [`ServerFrame::MESSAGE_TAG`]).

pub mod auth;
pub mod blobs;
pub mod content;
pub mod conversation;
mod error_code;
pub mod frames;
pub mod ids;
pub mod keys;
pub mod passphrase;
pub mod sessions;
mod sixteen_bytes;
pub mod username;
mod wire_tags;

pub use conversation::{Presence, Receipt};
pub use error_code::ErrorCode;
pub use frames::{ChatInfo, ChatKind, ClientFrame, Member, MessageFrame, NewChat, ServerFrame};
pub use ids::{BlobId, ChatId, ClientMsgId, Epoch, RequestId, Seq, UserId};
pub use username::{Username, UsernameError};

/// The protocol version this build speaks. The server refuses an `Authenticate` frame that
/// names another version.
pub const PROTOCOL_VERSION: u16 = 5;

/// The largest WebSocket message either side accepts, in bytes.
///
/// Large enough for a full message body plus framing, small enough that a hostile peer cannot
/// make the server buffer much: the server's WebSocket reader enforces it before decoding.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The largest message body, in bytes. The server refuses bigger ones with
/// [`ErrorCode::MessageTooLarge`]; the app refuses them before they reach the outbox.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The least time between two `Typing` signals the server passes on for one connection and
/// chat, in milliseconds; the app sends at most one per this interval while someone types.
pub const TYPING_INTERVAL_MS: u64 = 3_000;

/// How long after the last `Typing` signal the app stops showing "typing…", in milliseconds.
pub const TYPING_SHOWN_MS: u64 = 6_000;

/// The most accounts one account may block.
pub const MAX_BLOCKED: usize = 1_000;

/// The most members a group may have.
pub const MAX_GROUP_MEMBERS: usize = 256;

/// The longest group title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;

/// The most messages the server returns for one history or sync request.
pub const MAX_PAGE: u32 = 500;

/// The most unclaimed one-time keys the directory keeps per device.
pub const MAX_ONE_TIME_KEYS: usize = 100;

/// Below this many unclaimed one-time keys, a claim tells the device
/// ([`ServerFrame::KeysClaimed`]) so that it tops up. Devices keep 50 (the app's target).
pub const ONE_TIME_KEYS_LOW: u32 = 40;

/// The most devices an account may have in the directory.
pub const MAX_DEVICES: usize = 32;

/// The most to-device messages one `SendToDevice` may carry.
pub const MAX_TO_DEVICE_BATCH: usize = 256;

/// The most accounts one `QueryKeys`, and devices one `ClaimKeys`, may name.
pub const MAX_KEY_REQUEST: usize = 256;

/// The most to-device messages that may wait for one device; past it, sends to it fail
/// with [`ErrorCode::LimitReached`] until it fetches them.
pub const MAX_PENDING_TO_DEVICE: usize = 10_000;

/// The most to-device messages one account may have waiting for one device: a stranger
/// cannot fill a device's mailbox alone, and the room left is for everyone else's keys.
pub const MAX_PENDING_FROM_ONE_SENDER: usize = 100;

/// The largest to-device message body, in bytes.
pub const MAX_TO_DEVICE_BYTES: usize = 4 * 1024;

/// The most entries one `PutBackup` may carry, and one `Backup` answer returns.
pub const MAX_BACKUP_BATCH: usize = 100;

/// The largest sealed backup entry, in bytes.
pub const MAX_BACKUP_ENTRY_BYTES: usize = 1024;

/// The most backup entries an account may keep.
pub const MAX_BACKUP_ENTRIES: usize = 200_000;

/// The most sealed bytes an account's key backup may hold: room for the keys of years of
/// busy chats, not a free disk; past it `PutBackup` is refused with
/// [`ErrorCode::QuotaExceeded`].
pub const MAX_BACKUP_BYTES: u64 = 64 * 1024 * 1024;

/// The most chats an account may be a member of; past it creating a chat with it, or adding
/// it to a group, is refused with [`ErrorCode::QuotaExceeded`].
pub const MAX_CHATS_PER_ACCOUNT: usize = 5_000;

/// The most sessions (signed-in browsers) an account keeps; signing in once more ends the
/// one used least recently, so a browser closed without signing out never locks anyone out.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 100;

/// Why bytes could not be decoded into a frame.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes exceed [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a frame this version knows.
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Encodes a frame into the bytes of one binary WebSocket message.
pub fn encode<T: serde::Serialize>(frame: &T) -> Vec<u8> {
    // Serialising these types into a Vec cannot fail: every field is plain data with no
    // fallible `Serialize` impl and the Vec grows as needed.
    postcard::to_allocvec(frame).unwrap_or_default()
}

/// Decodes one binary WebSocket message into a frame, refusing oversized and malformed input.
pub fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (frame, rest) = postcard::take_from_bytes(bytes)?;
    if !rest.is_empty() {
        // Trailing bytes mean the peer and we disagree about the layout: refuse, don't guess.
        return Err(DecodeError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(frame)
}
