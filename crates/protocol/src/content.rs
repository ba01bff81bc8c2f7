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
use crate::{BlobId, ChatId, ClientMsgId, MAX_BODY_BYTES, Member, UserId};

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
    /// A line the server itself writes into a group when its membership or title changes.
    /// Not encrypted: the server knows these facts anyway. It refuses a client's `Send` whose
    /// body decodes as this variant, so members can trust that the server wrote it.
    System(SystemEvent),
}

/// A change to a group, written into its history by the server (shown as "sari added tomo").
/// Members are named with their usernames as they were, so the line still reads right after
/// someone has left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SystemEvent {
    /// The group was created.
    Created {
        /// By whom.
        by: Member,
        /// Its title.
        title: String,
    },
    /// Someone was added.
    Added {
        /// By whom.
        by: Member,
        /// Who joined.
        user: Member,
    },
    /// Someone was removed by someone else.
    Removed {
        /// By whom.
        by: Member,
        /// Who was removed.
        user: Member,
    },
    /// Someone left.
    Left {
        /// Who.
        user: Member,
    },
    /// The group was renamed.
    Renamed {
        /// By whom.
        by: Member,
        /// The new title.
        title: String,
    },
    /// Someone was made an admin, or stopped being one.
    AdminChanged {
        /// By whom (the server itself, when the last admin left: the member then shown).
        by: Member,
        /// Whose role changed.
        user: Member,
        /// Admin now or not.
        admin: bool,
    },
}

impl SystemEvent {
    /// Encodes the event as a message body.
    pub fn to_body(&self) -> Vec<u8> {
        EncryptedBody::System(self.clone()).to_body()
    }
}

/// Whether a client-sent body claims to be a server-written line (the server refuses it):
/// exactly when [`EncryptedBody::from_body`], which every member's device reads it with,
/// would read a `System` line.
pub fn is_system_body(body: &[u8]) -> bool {
    // The server asks this of every message it is sent. A Megolm body starts with its
    // variant's index, and is not decoded (it would be copied whole into the decoded envelope
    // only to be dropped). Any other body is: postcard also reads overlong varints (`81 00` is
    // index 1), so no first byte but `MEGOLM_VARIANT` rules a `System` line out.
    body.first() != Some(&MEGOLM_VARIANT)
        && matches!(
            EncryptedBody::from_body(body),
            Some(EncryptedBody::System(_))
        )
}

/// The first byte of an encoded [`EncryptedBody::MegolmV1`]: its variant's index, 0, which no
/// varint of another index starts with.
const MEGOLM_VARIANT: u8 = 0;

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
///
/// Besides texts, a message can act on an earlier message of the same chat, named by its
/// `client_msg_id` (`target`): every device folds those into the target in sequence order
/// (`crates/core`'s merge rules), whatever order they arrive in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageContent {
    /// A plain text message.
    Text {
        /// What the person wrote.
        text: String,
    },
    /// A text answering an earlier message, shown with a quote of it.
    Reply {
        /// What the person wrote.
        text: String,
        /// What it answers.
        quote: Quote,
    },
    /// A text forwarded from another chat (sent there as a new message, encrypted anew).
    Forwarded {
        /// The forwarded text.
        text: String,
    },
    /// A photo or a file whose blob is sealed with ChaCha20-Poly1305 ([`FileCipher`]): what
    /// apps sent before AES-256-GCM. Still opened; no longer sent.
    Attachment(Attachment),
    /// Replaces the text of one of the sender's own earlier messages.
    Edit {
        /// The message edited.
        target: ClientMsgId,
        /// Its new text.
        text: String,
    },
    /// Deletes one of the sender's own earlier messages for everyone (sent with
    /// `ClientFrame::SendDeletion`, so the server drops the target's body too).
    Delete {
        /// The message deleted.
        target: ClientMsgId,
    },
    /// Sets (or, with `None`, takes back) the sender's reaction to a message: one per person
    /// and message, the newest wins.
    Reaction {
        /// The message reacted to.
        target: ClientMsgId,
        /// The emoji, at most [`MAX_REACTION_BYTES`] bytes; `None` takes the reaction back.
        emoji: Option<String>,
    },
    /// A photo or a file whose blob is sealed with AES-256-GCM ([`FileCipher`]): what apps
    /// send. (Last, so every earlier variant keeps its encoding.)
    AesGcmAttachment(Attachment),
}

/// What a reply quotes: enough to show the quote even where the original is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The message answered.
    pub target: ClientMsgId,
    /// Who wrote it.
    pub sender: UserId,
    /// The start of its text, at most [`MAX_QUOTE_CHARS`] characters.
    pub text: String,
}

/// A file sent in a message: where its ciphertext is, the key that opens it and the hash that
/// proves it is the file that was sent, and what the chat shows before it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The ciphertext's upload on the server (also named in the `Send`, so the server keeps
    /// it).
    pub blob: BlobId,
    /// The fresh key the file was encrypted with (`crate::blobs`).
    pub key: FileKey,
    /// SHA-256 of the plaintext, checked after decrypting.
    pub sha256: [u8; 32],
    /// The file's name as the sender's device had it, at most [`MAX_FILE_NAME_CHARS`].
    pub name: String,
    /// Its media type as the sender's browser named it (may be empty), at most
    /// [`MAX_MEDIA_TYPE_BYTES`].
    pub media_type: String,
    /// Its size in bytes (before encryption).
    pub size: u64,
    /// For a photo, a small picture of it to show until it is opened.
    pub preview: Option<Preview>,
}

/// A photo's thumbnail, sent inside the message (so it is end-to-end encrypted with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The photo's width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// A JPEG of it at most [`MAX_PREVIEW_SIDE`] pixels on its longer side.
    pub jpeg: Vec<u8>,
}

/// Which cipher sealed a file's blob. Both seal the same chunks under the same nonces and add
/// the same 16-byte tag (`merpati_files`), so a blob's length and its upload are the same
/// either way; the message's variant says which opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCipher {
    /// What apps sent first: fast in WebAssembly without hardware help.
    ChaCha20Poly1305,
    /// What apps send: the browser's own WebCrypto runs it natively, several times faster
    /// than any cipher in WebAssembly (bench/NOTES.md, "Files sealed with AES-256-GCM").
    Aes256Gcm,
}

/// The key of one file: 32 random bytes, its `Debug` hidden so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey(pub [u8; 32]);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(…)")
    }
}

/// The longest file name a message carries, in characters (longer ones are cut, keeping
/// the extension).
pub const MAX_FILE_NAME_CHARS: usize = 200;

/// The longest media type a message carries, in bytes (a longer one is dropped).
pub const MAX_MEDIA_TYPE_BYTES: usize = 100;

/// A thumbnail's longer side, in pixels.
pub const MAX_PREVIEW_SIDE: u32 = 320;

/// The longest quoted text a reply carries, in characters.
pub const MAX_QUOTE_CHARS: usize = 200;

/// The longest reaction, in bytes (an emoji with modifiers fits easily).
pub const MAX_REACTION_BYTES: usize = 32;

impl MessageContent {
    /// Encodes the content as a message body.
    pub fn to_body(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Decodes a message body; `None` for a body this version cannot read.
    pub fn from_body(body: &[u8]) -> Option<MessageContent> {
        crate::decode(body).ok()
    }

    /// The text this content shows as a message of its own; `None` for content that acts on
    /// another message (edits, deletions, reactions).
    pub fn text(&self) -> Option<&str> {
        match self {
            MessageContent::Text { text }
            | MessageContent::Reply { text, .. }
            | MessageContent::Forwarded { text } => Some(text),
            MessageContent::Attachment(_)
            | MessageContent::AesGcmAttachment(_)
            | MessageContent::Edit { .. }
            | MessageContent::Delete { .. }
            | MessageContent::Reaction { .. } => None,
        }
    }

    /// The message this content acts on, if it acts on one.
    pub fn target(&self) -> Option<ClientMsgId> {
        match self {
            MessageContent::Edit { target, .. }
            | MessageContent::Delete { target }
            | MessageContent::Reaction { target, .. } => Some(*target),
            MessageContent::Text { .. }
            | MessageContent::Reply { .. }
            | MessageContent::Forwarded { .. }
            | MessageContent::Attachment(_)
            | MessageContent::AesGcmAttachment(_) => None,
        }
    }

    /// A message carrying `attachment`, whose blob `cipher` sealed.
    pub fn file(cipher: FileCipher, attachment: Attachment) -> MessageContent {
        match cipher {
            FileCipher::ChaCha20Poly1305 => MessageContent::Attachment(attachment),
            FileCipher::Aes256Gcm => MessageContent::AesGcmAttachment(attachment),
        }
    }

    /// The file this content carries, and the cipher that sealed its blob.
    pub fn attachment(&self) -> Option<(FileCipher, &Attachment)> {
        match self {
            MessageContent::Attachment(attachment) => {
                Some((FileCipher::ChaCha20Poly1305, attachment))
            }
            MessageContent::AesGcmAttachment(attachment) => {
                Some((FileCipher::Aes256Gcm, attachment))
            }
            _ => None,
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
    fn every_content_kind_round_trips_through_a_body() {
        let target = ClientMsgId([7; 16]);
        for content in [
            MessageContent::Reply {
                text: "ya".into(),
                quote: Quote {
                    target,
                    sender: UserId(3),
                    text: "jam 7?".into(),
                },
            },
            MessageContent::Forwarded { text: "fw".into() },
            MessageContent::Edit {
                target,
                text: "baru".into(),
            },
            MessageContent::Delete { target },
            MessageContent::Reaction {
                target,
                emoji: Some("👍".into()),
            },
            MessageContent::Reaction {
                target,
                emoji: None,
            },
        ] {
            assert_eq!(MessageContent::from_body(&content.to_body()), Some(content));
        }
    }

    #[test]
    fn a_file_keeps_the_cipher_that_sealed_it_and_older_messages_read_as_before() {
        let attachment = Attachment {
            blob: BlobId([5; 16]),
            key: FileKey([6; 32]),
            sha256: [7; 32],
            name: "peta.pdf".into(),
            media_type: "application/pdf".into(),
            size: 70_000,
            preview: None,
        };
        for cipher in [FileCipher::ChaCha20Poly1305, FileCipher::Aes256Gcm] {
            let body = MessageContent::file(cipher, attachment.clone()).to_body();
            let read = MessageContent::from_body(&body).expect("it decodes");
            assert_eq!(read.attachment(), Some((cipher, &attachment)));
            assert_eq!((read.text(), read.target()), (None, None));
        }
        // A message sent before AES-256-GCM starts with the variant index it always had (3),
        // so stored histories and outboxes still decode as ChaCha20-Poly1305 files.
        let older = MessageContent::file(FileCipher::ChaCha20Poly1305, attachment).to_body();
        assert_eq!(older.first(), Some(&3));
    }

    #[test]
    fn only_texts_show_as_messages_and_only_actions_have_targets() {
        let target = ClientMsgId([1; 16]);
        let text = MessageContent::Text { text: "a".into() };
        let edit = MessageContent::Edit {
            target,
            text: "b".into(),
        };
        assert_eq!((text.text(), text.target()), (Some("a"), None));
        assert_eq!((edit.text(), edit.target()), (None, Some(target)));
    }

    #[test]
    fn a_system_line_is_recognised_and_a_megolm_body_is_not() {
        let member = Member {
            id: UserId(1),
            username: crate::Username::parse("sari").expect("a valid username"),
        };
        let line = SystemEvent::Left { user: member };
        assert!(is_system_body(&line.to_body()));
        assert!(!is_system_body(&[1, 0xff]));
        assert!(!is_system_body(
            &EncryptedBody::MegolmV1 {
                sender_device: crate::keys::DeviceKey([0; 32]),
                session_id: "s".into(),
                ciphertext: vec![1, 2],
            }
            .to_body()
        ));
        assert!(!is_system_body(&[0xff]));
    }

    /// Found by `fuzz/fuzz_targets/content.rs`: the variant index written as the overlong
    /// varint `81 00` passed the server's first-byte check, and every device showed the body
    /// as a line the server wrote.
    #[test]
    fn a_system_line_with_an_overlong_variant_index_is_still_refused() {
        let forged = [0x81, 0x00, 0x00, 0x01, 0x03, b'y', b'a', b'i', 0x00];
        assert!(matches!(
            EncryptedBody::from_body(&forged),
            Some(EncryptedBody::System(SystemEvent::Created { .. }))
        ));
        assert!(is_system_body(&forged));
    }

    #[test]
    fn an_unreadable_body_decodes_to_none() {
        assert_eq!(MessageContent::from_body(&[0xff, 0xff, 0xff]), None);
    }
}
