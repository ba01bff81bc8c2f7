//! What the page and the engine worker say to each other.
//!
//! The browser app runs as two WebAssembly modules. The page's (`crates/page`: the app context
//! and the views) is all the first screen needs; the engine worker's (the root package: the
//! engine, end-to-end encryption, Argon2id, IndexedDB and the WebSocket) starts beside it in a
//! dedicated Web Worker, so the sign-in form is interactive before the larger module has
//! arrived, and stretching a passphrase never freezes the page.
//!
//! The page sends [`Command`]s (what the person did); the worker answers with [`Update`]s
//! (what changed), among them a [`View`]: everything the screens show, read from the engine
//! after its state changed and converted into this crate's own types ([`view`]). Both travel
//! as postcard bytes in a `Uint8Array`, the same encoding as the wire and the store.
//!
//! This crate is the whole contract, so it is also the boundary of what the page links: it
//! depends on the wire types (`merpati-protocol`) and never on the engine (`merpati-core`),
//! whose code would otherwise ride along in the page's download.
//!
//! # Layout
//! - this file: the commands, the updates, and how both travel.
//! - [`rows`]: how the open chat's messages travel: what changed, not every row again.
//! - [`view`]: what the screens show — the chats, the open chat's messages and members, the
//!   connection — as rows the views render as they are.

pub mod rows;
pub mod signals;
pub mod view;

use merpati_protocol::sessions::SessionRef;
use merpati_protocol::{ChatId, ClientMsgId, ErrorCode, Seq, UserId};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;

pub use rows::RowsChange;
pub use signals::{MessageReceipts, Notifications, Privacy, ReceiptRow, ReceiptState};
pub use view::{
    AttachmentRow, ChatRow, ConnectionPhase, DeviceRow, LinkSpan, MemberRow, MessageLock,
    MessageRow, MessageStatus, OpenChat, PreviewRow, QuoteRow, ReactionRow, SearchRow, View,
};

/// Whether a person signs up or signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMode {
    /// Create the account.
    Register,
    /// Sign in to an existing account.
    Login,
}

/// Why this device is no longer signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignOutReason {
    /// The person signed out here.
    Requested,
    /// The person signed out in another tab of this browser.
    ElsewhereInBrowser,
    /// The server no longer knows this device's session.
    SessionExpired,
    /// The server refused to resume the session for another reason.
    Rejected(ErrorCode),
    /// A newer Merpati, in another tab, upgraded this browser's database: this page's app is
    /// out of date and stops (nothing is deleted); reloading it brings the newer one.
    UpdatedElsewhere,
}

/// From the page to the worker: what the person did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// The first command: which database to keep the store in and where the server is. The
    /// worker then opens a stored session if there is one ([`Update::Resumed`]).
    Start {
        /// The IndexedDB database.
        db_name: String,
        /// `ws(s)://host/ws` of the page's own origin.
        socket_url: String,
        /// The language the page speaks (`merpati_words::Language::code`), so the worker's
        /// words — times, system lines, refusals — are in it too.
        language: String,
        /// That language's catalogue file as the page loaded it; empty for English.
        catalogue: String,
    },
    /// Sign up or in. Both were checked by the page already (username syntax, passphrase
    /// length: `merpati_protocol::passphrase`); the worker stretches the passphrase and
    /// connects.
    Authenticate {
        /// Sign up or sign in.
        mode: AuthMode,
        /// The username as typed.
        username: String,
        /// The passphrase; it never leaves the browser.
        passphrase: String,
    },
    /// Write a text to a chat.
    SendText {
        /// The chat.
        chat: ChatId,
        /// What the person wrote (checked by the page with
        /// `merpati_protocol::content::text_body`).
        text: String,
    },
    /// Answer a message (`target`) with a text; the reply quotes it.
    SendReply {
        /// The chat.
        chat: ChatId,
        /// The message answered.
        target: ClientMsgId,
        /// What the person wrote.
        text: String,
    },
    /// Replace the text of one of this account's messages, for everyone.
    Edit {
        /// The chat.
        chat: ChatId,
        /// The message edited.
        target: ClientMsgId,
        /// Its new text.
        text: String,
    },
    /// Delete one of this account's messages for every member.
    DeleteForEveryone {
        /// The chat.
        chat: ChatId,
        /// The message.
        target: ClientMsgId,
    },
    /// Delete a message on this account's devices only.
    DeleteForMe {
        /// The chat.
        chat: ChatId,
        /// The message.
        target: ClientMsgId,
    },
    /// React to a message with an emoji; the same emoji again takes the reaction back.
    React {
        /// The chat.
        chat: ChatId,
        /// The message.
        target: ClientMsgId,
        /// The emoji.
        emoji: String,
    },
    /// Send a message's text to another chat, marked forwarded.
    Forward {
        /// The chat the message is in.
        from: ChatId,
        /// The message.
        target: ClientMsgId,
        /// The chat it goes to.
        to: ChatId,
    },
    /// What the composer of a chat holds now (kept as its draft; blank removes it).
    SetDraft {
        /// The chat.
        chat: ChatId,
        /// The composer's text.
        text: String,
    },
    /// The person typed in the chat's composer (the engine throttles what goes out).
    Typing(ChatId),
    /// Try to connect now instead of waiting.
    RetryNow,
    /// Send a refused message again, under the same id.
    RetryMessage(ClientMsgId),
    /// Send a photo or file to a chat: the `File` itself rides beside the command
    /// ([`to_js_with`]); the worker reads, encrypts and uploads it.
    SendFile(ChatId),
    /// Stop sending a file whose upload has not finished: its message is taken back.
    CancelUpload(ClientMsgId),
    /// Download, decrypt and check a message's file; the worker answers with
    /// [`Update::Download`].
    Download {
        /// The chat.
        chat: ChatId,
        /// The message carrying the file.
        id: ClientMsgId,
    },
    /// Start (or find) a 1:1 chat with a username; the worker opens it once the server
    /// answers.
    CreateDirect(String),
    /// Create a group from a name and comma-separated usernames; the worker opens it once the
    /// server answers.
    CreateGroup {
        /// The group's name.
        name: String,
        /// Comma-separated usernames.
        members: String,
    },
    /// The person compared the safety number again after a key change.
    AcknowledgeKeyChange(ChatId),
    /// Add a person to a group (admins only); the server may refuse (no such user, blocked).
    AddMember {
        /// The group.
        chat: ChatId,
        /// Their username, as typed.
        username: String,
    },
    /// Take a member out of a group.
    RemoveMember {
        /// The group.
        chat: ChatId,
        /// The member.
        user: UserId,
    },
    /// Leave a group.
    LeaveChat(ChatId),
    /// Put a chat on screen, or none (back to the list). The worker keeps which chat is open:
    /// it marks it read while the page is visible, and the [`View`] carries it
    /// ([`View::open_chat`]).
    OpenChat(Option<ChatId>),
    /// Load older messages of a chat.
    LoadOlder(ChatId),
    /// Sign out: the server forgets the session and the local database is deleted.
    SignOut,
    /// Whether the person is looking at the page (visible, and its window focused): a chat is
    /// marked read only while they are, and a waiting reconnect is tried at once when the tab
    /// is shown again.
    Visible(bool),
    /// Open the details (who has it, who read it) of one of this account's messages in the
    /// chat on screen, or close them.
    ShowReceipts(Option<ClientMsgId>),
    /// Search every chat's local history (answered with [`Update::SearchResults`]); the
    /// query never leaves the device. A blank query is the box emptied: not answered, and
    /// the last query no longer stands.
    Search(String),
    /// Open a chat at one of its messages (a search result, a quote of a message not loaded):
    /// older pages are loaded until it is there, and the view asks the list to bring it into
    /// sight ([`OpenChat::reveal`]).
    ShowMessage {
        /// The chat.
        chat: ChatId,
        /// The message's position, when the page knows it (the worker looks it up otherwise).
        seq: Option<Seq>,
        /// The message.
        id: ClientMsgId,
    },
    /// Change the privacy settings.
    SetPrivacy(Privacy),
    /// Change this browser's notification settings.
    SetNotifications(Notifications),
    /// The person chose this emoji in the picker: it goes first among the recent ones.
    EmojiUsed(String),
    /// The person chose the skin tone the picker shows: its place in `merpati_words::SkinTone::ALL`.
    SetSkinTone(u8),
    /// Mute a chat in this browser (no notifications of it), or no longer.
    SetMuted {
        /// The chat.
        chat: ChatId,
        /// Muted or not.
        muted: bool,
    },
    /// Make a group member an admin, or no longer one.
    SetAdmin {
        /// The group.
        chat: ChatId,
        /// The member.
        user: UserId,
        /// Admin or not.
        admin: bool,
    },
    /// Rename a group.
    RenameGroup {
        /// The group.
        chat: ChatId,
        /// The new name.
        title: String,
    },
    /// Block or unblock the other person of a 1:1 chat.
    SetBlocked {
        /// The person.
        user: UserId,
        /// Block or unblock.
        blocked: bool,
    },
    /// Ask the server where the account is signed in ([`View::devices`] follows).
    ListDevices,
    /// Sign another browser out: its session ends at once.
    EndDevice(SessionRef),
}

/// From the worker to the page: what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Update {
    /// The worker listens: commands sent before this would have been lost, so the page holds
    /// them until it comes.
    Ready,
    /// Whether a stored session was opened (answers [`Command::Start`]).
    Resumed(bool),
    /// The passphrase is stretched; the server is being asked.
    Contacting,
    /// The sign-in could not start (words for the form).
    AuthError(String),
    /// The server accepted the sign-in.
    SignedIn,
    /// The server refused the sign-in.
    AuthFailed(ErrorCode),
    /// A chat the person asked for exists now; the worker has opened it.
    ChatReady(ChatId),
    /// The server refused a request the person made.
    RequestFailed(ErrorCode),
    /// A request could not be made (words for the person).
    RequestError(String),
    /// An action on a message (reply, edit, delete, react, forward) was refused: the engine's
    /// words, for the composer.
    ActionError(String),
    /// What a [`Command::Search`] found, newest first.
    SearchResults {
        /// The query answered (a newer one may be on its way).
        query: String,
        /// The messages found.
        rows: Vec<SearchRow>,
    },
    /// Local data is gone and the device is signed out.
    SignedOut(SignOutReason),
    /// How a [`Command::Download`] goes. When it is [`DownloadState::Ready`], the file, as a
    /// `Blob` of its media type, rides beside the update ([`to_js_with`]).
    Download {
        /// The message whose file it is.
        id: ClientMsgId,
        /// How far it got.
        state: DownloadState,
    },
    /// What the screens show now. The open chat's `rows` travel apart, as what changed since
    /// the rows of the previous view ([`RowsChange`]); in `view` they are empty.
    View {
        /// Everything but the open chat's rows.
        view: Box<View>,
        /// How the open chat's rows changed.
        rows: RowsChange,
    },
}

/// How far a download got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownloadState {
    /// Bytes of the blob received so far, of all of it.
    Progress {
        /// Received.
        done: u64,
        /// The blob's length.
        total: u64,
    },
    /// Decrypted and checked against its hash: the file is beside the update.
    Ready,
    /// Words saying why there is no file (it was changed on its way, or could not be fetched).
    Failed(String),
}

/// Encodes a message for `postMessage`.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // postcard cannot fail on these types (no maps with non-string keys, no untagged data);
    // an empty message would be refused by the other side's decode.
    postcard::to_allocvec(message).unwrap_or_default()
}

/// Decodes a message from the other side.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// A message as `postMessage` carries it: its bytes in a `Uint8Array`.
pub fn to_js<T: Serialize>(message: &T) -> js_sys::Uint8Array {
    js_sys::Uint8Array::from(encode(message).as_slice())
}

/// A message with a browser object riding beside it (a `File` to send, a `Blob` downloaded):
/// `[bytes, object]`, so the object is handed over as the browser clones it, never copied
/// through either module's memory.
pub fn to_js_with<T: Serialize>(message: &T, object: &wasm_bindgen::JsValue) -> js_sys::Array {
    js_sys::Array::of2(&to_js(message), object)
}

/// The message a `MessageEvent` carries, or words saying why there is none.
pub fn from_event<T: serde::de::DeserializeOwned>(
    event: &web_sys::MessageEvent,
) -> Result<T, &'static str> {
    from_event_with(event).map(|(message, _)| message)
}

/// The message a `MessageEvent` carries and the object beside it, if one rides along
/// ([`to_js_with`]).
pub fn from_event_with<T: serde::de::DeserializeOwned>(
    event: &web_sys::MessageEvent,
) -> Result<(T, Option<wasm_bindgen::JsValue>), &'static str> {
    let data = event.data();
    let (bytes, object) = match data.dyn_ref::<js_sys::Array>() {
        Some(pair) => (pair.get(0), Some(pair.get(1))),
        None => (data, None),
    };
    let bytes = bytes
        .dyn_ref::<js_sys::Uint8Array>()
        .map(js_sys::Uint8Array::to_vec)
        .ok_or("not bytes")?;
    // Page and worker come from one build, so bytes they cannot read are another build's: the
    // decoder's own words (postcard's every message, in both modules) would say no more.
    let message = decode(&bytes).map_err(|_| "bytes another build wrote")?;
    Ok((message, object))
}

#[cfg(test)]
mod tests {
    use merpati_protocol::ChatKind;

    use super::*;

    #[test]
    fn commands_and_views_survive_the_trip() {
        let commands = [
            Command::Start {
                db_name: "merpati".to_owned(),
                socket_url: "ws://127.0.0.1:8080/ws".to_owned(),
                language: "id".to_owned(),
                catalogue: "SignIn = Masuk\n".to_owned(),
            },
            Command::Authenticate {
                mode: AuthMode::Login,
                username: "hana".to_owned(),
                passphrase: "a long passphrase".to_owned(),
            },
            Command::SendText {
                chat: ChatId(7),
                text: "halo 👋".to_owned(),
            },
            Command::AddMember {
                chat: ChatId(7),
                username: "carol".to_owned(),
            },
            Command::RemoveMember {
                chat: ChatId(7),
                user: UserId(3),
            },
            Command::OpenChat(None),
            Command::OpenChat(Some(ChatId(7))),
            Command::React {
                chat: ChatId(7),
                target: ClientMsgId([3; 16]),
                emoji: "👍".to_owned(),
            },
            Command::Forward {
                from: ChatId(7),
                target: ClientMsgId([3; 16]),
                to: ChatId(8),
            },
            Command::SetDraft {
                chat: ChatId(7),
                text: "nanti".to_owned(),
            },
            Command::Typing(ChatId(7)),
            Command::Visible(false),
            Command::Search("kopi".to_owned()),
            Command::ShowMessage {
                chat: ChatId(7),
                seq: Some(Seq(40)),
                id: ClientMsgId([3; 16]),
            },
            Command::ShowReceipts(None),
            Command::SetPrivacy(Privacy {
                share_read_receipts: false,
                share_presence: true,
            }),
            Command::SetNotifications(Notifications {
                enabled: true,
                hide_text: true,
                offer_declined: false,
            }),
            Command::EmojiUsed("🎉".to_owned()),
            Command::SetSkinTone(3),
            Command::SetMuted {
                chat: ChatId(4),
                muted: true,
            },
            Command::SetBlocked {
                user: UserId(3),
                blocked: true,
            },
            Command::ListDevices,
            Command::EndDevice(SessionRef([4; 16])),
        ];
        for command in commands {
            assert_eq!(decode::<Command>(&encode(&command)).ok(), Some(command));
        }
        let view = Update::View {
            view: Box::new(View {
                chats: vec![ChatRow {
                    id: ChatId(7),
                    title: "Keluarga".to_owned(),
                    last_text: Some("sampai".to_owned()),
                    last_time: "09:41".to_owned(),
                    last_received: Some("otw".to_owned()),
                    last_received_from: Some("ilham".to_owned()),
                    unread: 2,
                    typing: vec!["ilham".to_owned()],
                    draft: Some("nanti".to_owned()),
                    muted: true,
                }],
                phase: ConnectionPhase::Online,
                next_attempt_at_ms: Some(1.5e12),
                pending: 1,
                me: Some("hana".to_owned()),
                open_chat: Some(OpenChat {
                    id: ChatId(7),
                    title: "Keluarga".to_owned(),
                    rows: vec![MessageRow {
                        id: "00ff".to_owned(),
                        status: MessageStatus::Read,
                        own: false,
                        lock: MessageLock::Waiting,
                        text: "Waiting for this message's key".to_owned(),
                        sender: Some("ilham".to_owned()),
                        time: "09:41".to_owned(),
                        day: None,
                        unread_from_here: None,
                        quote: Some(QuoteRow {
                            target: "11aa".to_owned(),
                            sender: "hana".to_owned(),
                            text: "kapan?".to_owned(),
                        }),
                        forwarded: false,
                        edited: true,
                        deleted: false,
                        reactions: vec![ReactionRow {
                            emoji: "👍".to_owned(),
                            count: 1,
                            people: vec!["hana".to_owned()],
                            mine: true,
                        }],
                        failure: Some(ErrorCode::Blocked),
                        system: false,
                        attachment: Some(AttachmentRow {
                            name: "pantai.jpg".to_owned(),
                            size: "2 MB".to_owned(),
                            preview: Some(PreviewRow {
                                jpeg: vec![0xff, 0xd8],
                                width: 1600,
                                height: 1200,
                            }),
                            upload: Some((10, 20)),
                        }),
                        links: vec![LinkSpan {
                            start: 4,
                            end: 23,
                            href: "https://example.com".to_owned(),
                        }],
                    }],
                    kind: Some(ChatKind::Group),
                    safety_number: None,
                    key_change: Some("changed".to_owned()),
                    members: vec![MemberRow {
                        id: 3,
                        username: "ilham".to_owned(),
                        me: false,
                        admin: true,
                    }],
                    is_member: true,
                    typing: Vec::new(),
                    presence: Some(merpati_protocol::Presence::LastSeen { at_ms: 1 }),
                    receipts: Some(MessageReceipts {
                        id: "00ff".to_owned(),
                        members: vec![ReceiptRow {
                            username: "ilham".to_owned(),
                            state: ReceiptState::Read,
                            read_at: Some("09:42".to_owned()),
                        }],
                    }),
                    am_admin: false,
                    blocked: false,
                    draft: None,
                    draft_taken: 3,
                    reveal: Some("00ff".to_owned()),
                }),
                privacy: Privacy::default(),
                notifications: Notifications::default(),
                recent_emoji: vec!["🎉".to_owned()],
                skin_tone: 4,
                devices: Some(vec![DeviceRow {
                    session: SessionRef([9; 16]),
                    name: "This browser".to_owned(),
                    last_active: "Active today".to_owned(),
                    signed_in: "Signed in 3 Dec 2026".to_owned(),
                    current: true,
                }]),
            }),
            rows: RowsChange::Patch {
                removed: vec!["0a".to_owned()],
                changed: Vec::new(),
                before: Vec::new(),
                after: Vec::new(),
            },
        };
        assert_eq!(decode::<Update>(&encode(&view)).ok(), Some(view));
    }

    #[test]
    fn a_truncated_message_is_an_error_not_a_panic() {
        let bytes = encode(&Command::CreateDirect("ilham".to_owned()));
        assert!(decode::<Command>(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode::<Update>(&[0xff, 0xff]).is_err());
    }
}
