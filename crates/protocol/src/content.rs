//! What the app puts inside a message body.
//!
//! The server treats bodies as opaque bytes and never decodes them. On the wire a body is an
//! [`EncryptedBody`]: a Megolm message whose plaintext is a postcard-encoded [`Sealed`]
//! (the [`MessageContent`] bound to its chat). Only member devices that were sent the Megolm
//! session key can open it; `crates/core`'s `e2e` module does both sides.

use serde::{Deserialize, Serialize};

use crate::ChatId;
use crate::keys::DeviceKey;

/// A message body as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncryptedBody {
    /// Megolm (vodozemac, `SessionConfig::version_1`).
    MegolmV1 {
        /// The sending device.
        sender_device: DeviceKey,
        /// The Megolm session it was encrypted with (its public id).
        session_id: String,
        /// The encoded Megolm message: ratchet index, ciphertext, MAC and signature.
        ciphertext: Vec<u8>,
    },
}

impl EncryptedBody {
    /// Encodes the envelope as a message body.
    pub fn to_body(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Decodes a message body; `None` for bytes that are not an envelope this version knows.
    pub fn from_body(body: &[u8]) -> Option<EncryptedBody> {
        crate::decode(body).ok()
    }
}

/// What a Megolm message's plaintext holds: the content and the chat it was written for, so
/// a server cannot move a message from one chat into another unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The chat the sender wrote in.
    pub chat_id: ChatId,
    /// What they wrote.
    pub content: MessageContent,
}

/// The content of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageContent {
    /// A plain text message.
    Text {
        /// What the person wrote.
        text: String,
    },
}

impl MessageContent {
    /// Encodes the content as a message body.
    pub fn to_body(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Decodes a message body; `None` for a body this version cannot read.
    pub fn from_body(body: &[u8]) -> Option<MessageContent> {
        crate::decode(body).ok()
    }

    /// The text to show for this content.
    pub fn text(&self) -> &str {
        match self {
            MessageContent::Text { text } => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_content_round_trips_through_a_body() {
        let content = MessageContent::Text {
            text: "halo 👋".into(),
        };
        assert_eq!(MessageContent::from_body(&content.to_body()), Some(content));
    }

    #[test]
    fn an_unreadable_body_decodes_to_none() {
        assert_eq!(MessageContent::from_body(&[0xff, 0xff, 0xff]), None);
    }
}
