//! Arbitrary bytes into the decoders of what a message body carries
//! (`merpati_protocol::content`): the envelope every device reads from the server
//! (`EncryptedBody::from_body`, with its `System` lines), the check the server runs on every
//! body it is sent (`is_system_body`), the plaintext a Megolm message opens to (`Sealed`) and
//! the content inside (`MessageContent::from_body`); and, read as text, the rule for what a
//! person may send (`text_body`).
//!
//! None may panic. Each decoded value must encode to bytes that decode to it again;
//! `is_system_body` must say yes exactly when the envelope decodes as a `System` line;
//! content does exactly one of: show a text of its own, act on another message, carry a
//! file; and a text `text_body` accepts must come back from its body trimmed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_protocol::content::{EncryptedBody, MessageContent, Sealed, is_system_body, text_body};
use merpati_protocol::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let envelope = EncryptedBody::from_body(data);
    assert_eq!(
        is_system_body(data),
        matches!(envelope, Some(EncryptedBody::System(_))),
        "the server's check agrees with the envelope"
    );
    if let Some(envelope) = envelope {
        assert_eq!(
            EncryptedBody::from_body(&envelope.to_body()),
            Some(envelope)
        );
    }

    if let Some(content) = MessageContent::from_body(data) {
        assert_eq!(
            MessageContent::from_body(&content.to_body()),
            Some(content.clone())
        );
        let roles = [
            content.text().is_some(),
            content.target().is_some(),
            content.attachment().is_some(),
        ];
        assert_eq!(
            roles.iter().filter(|role| **role).count(),
            1,
            "content shows a text, acts on a message or carries a file: exactly one"
        );
    }

    if let Ok(sealed) = decode::<Sealed>(data) {
        let again: Sealed = decode(&encode(&sealed)).expect("a re-encoded plaintext decodes");
        assert_eq!(again, sealed);
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(body) = text_body(text)
    {
        assert_eq!(
            MessageContent::from_body(&body),
            Some(MessageContent::Text {
                text: text.trim().to_owned()
            })
        );
    }
});
