//! What the app puts inside a message body.
//!
//! The server treats bodies as opaque bytes and never decodes them. On the wire a body is an
//! [`EncryptedBody`]: a Megolm message whose plaintext is a postcard-encoded [`Sealed`]
//! (the [`MessageContent`] bound to its chat). Only member devices that were sent the Megolm
//! session key can open it; `crates/core`'s `e2e` module does both sides.
//!
//! [`text_body`] is the one rule for what a person may send: the page checks it to answer at
//! once, and the engine checks it again before a text enters the outbox.

use serde::{Deserialize, Serialize};

use crate::keys::DeviceKey;
use crate::{ChatId, MAX_BODY_BYTES};

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

/// Why a text cannot be sent; the message is shown to the person as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextBodyError {
    /// Nothing but whitespace.
    #[error("The message is empty")]
    Empty,
    /// Over [`MAX_BODY_BYTES`] once encoded.
    #[error("The message is too long (at most {MAX_BODY_BYTES} bytes)")]
    TooLarge,
}

/// The body a text becomes (trimmed of surrounding whitespace), or why it cannot be sent.
pub fn text_body(text: &str) -> Result<Vec<u8>, TextBodyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TextBodyError::Empty);
    }
    let body = MessageContent::Text {
        text: text.to_owned(),
    }
    .to_body();
    if body.len() > MAX_BODY_BYTES {
        return Err(TextBodyError::TooLarge);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_becomes_its_trimmed_content() {
        let body = text_body("  halo 👋\n").expect("a text");
        assert_eq!(
            MessageContent::from_body(&body),
            Some(MessageContent::Text {
                text: "halo 👋".into()
            })
        );
    }

    #[test]
    fn a_blank_text_is_refused_as_empty() {
        assert_eq!(text_body(""), Err(TextBodyError::Empty));
        assert_eq!(text_body(" \n\t "), Err(TextBodyError::Empty));
    }

    #[test]
    fn a_text_whose_body_exceeds_the_limit_is_too_large() {
        // The body is the text plus a few bytes of encoding: the longest text that fits is a
        // little under the limit.
        let longest = (0..MAX_BODY_BYTES)
            .rev()
            .find(|len| text_body(&"a".repeat(*len)).is_ok())
            .expect("some text fits");
        assert!(MAX_BODY_BYTES - longest <= 4, "{longest}");
        assert_eq!(
            text_body(&"a".repeat(longest + 1)),
            Err(TextBodyError::TooLarge)
        );
    }

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
