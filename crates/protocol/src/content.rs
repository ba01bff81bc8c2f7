//! What the app puts inside a message body.
//!
//! The server treats bodies as opaque bytes and never decodes them. Inside the app a body is a
//! postcard-encoded [`MessageContent`]; later versions encrypt it end to end without changing
//! the server.

use serde::{Deserialize, Serialize};

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
