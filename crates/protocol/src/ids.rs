//! Identifiers and positions carried by frames.
//!
//! Each is a newtype so a chat id can never be passed where a sequence number is meant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A user, as numbered by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub u64);

/// A chat (1:1 or group), as numbered by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChatId(pub u64);

/// A message's position in its chat: the server assigns 1, 2, 3, ... per chat, without gaps.
///
/// `Seq(0)` means "before the first message".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Seq(pub u64);

impl Seq {
    /// The position after this one.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

/// Identifies the server's storage. If storage is ever restored or replaced the epoch changes,
/// and clients drop the positions they hold instead of trusting old sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

/// Pairs a client's request with the server's answer or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u32);

/// The name a client gives a message before sending it (128 random bits).
///
/// The server deduplicates on it, so resending a message after a lost acknowledgement stores
/// it once.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientMsgId(#[serde(with = "crate::sixteen_bytes")] pub [u8; 16]);

impl ClientMsgId {
    /// The id as 32 lowercase hex digits, as used in the app's `data-msg-id`.
    pub fn to_hex(&self) -> String {
        hex_of(&self.0)
    }

    /// Parses the 32 hex digits written by [`ClientMsgId::to_hex`].
    pub fn from_hex(hex: &str) -> Option<ClientMsgId> {
        bytes_of_hex(hex).map(ClientMsgId)
    }
}

/// An uploaded file's ciphertext on the server (128 random bits, chosen by the uploading
/// device before it starts, so an upload cut short is resumed under the same name).
///
/// It travels inside the end-to-end encrypted message that carries the file's key, and in the
/// clear as `ClientFrame::Send::attachment`, which tells the server the blob is referred to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobId(#[serde(with = "crate::sixteen_bytes")] pub [u8; 16]);

impl BlobId {
    /// The id as 32 lowercase hex digits, as in the blob's URL (`/blobs/{id}`).
    pub fn to_hex(&self) -> String {
        hex_of(&self.0)
    }

    /// Parses the 32 hex digits written by [`BlobId::to_hex`].
    pub fn from_hex(hex: &str) -> Option<BlobId> {
        bytes_of_hex(hex).map(BlobId)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.to_hex())
    }
}

fn hex_of(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn bytes_of_hex(hex: &str) -> Option<[u8; 16]> {
    // Hex digits only: `from_str_radix` below would also take a sign (`+f` is 15).
    if hex.len() != 32 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(bytes)
}

impl fmt::Debug for ClientMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientMsgId({})", self.to_hex())
    }
}

impl fmt::Display for ClientMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_msg_id_hex_is_32_lowercase_digits() {
        let id = ClientMsgId([0xab; 16]);
        assert_eq!(id.to_hex(), "ab".repeat(16));
    }

    #[test]
    fn client_msg_id_hex_round_trips_and_refuses_garbage() {
        let id = ClientMsgId([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 254, 255]);
        assert_eq!(ClientMsgId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(ClientMsgId::from_hex("xy".repeat(16).as_str()), None);
        assert_eq!(ClientMsgId::from_hex("ab"), None);
        assert_eq!(ClientMsgId::from_hex(&"é".repeat(16)), None);
    }

    #[test]
    fn blob_id_hex_round_trips_and_refuses_garbage() {
        let id = BlobId([7; 16]);
        assert_eq!(BlobId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(BlobId::from_hex(&"+f".repeat(16)), None);
    }

    /// Found by `fuzz/fuzz_targets/identifiers.rs`: a sign before a digit was read as part of
    /// the number, so `+f` spelt the byte `0f`.
    #[test]
    fn client_msg_id_hex_refuses_signs() {
        assert_eq!(ClientMsgId::from_hex(&"+f".repeat(16)), None);
        assert_eq!(
            ClientMsgId::from_hex(&format!("+a{}", "00".repeat(15))),
            None
        );
    }
}
