//! What the screens show: the page's own types for everything it renders.
//!
//! The engine has its own types for chats, messages and the connection; the page never sees
//! them. The worker converts the engine's state into a [`View`] after every change, and the
//! views render its rows as they are: each row holds exactly what its view shows, already in
//! words (a message's local time, a member's username, the key-change banner's sentence).
//! The `as_str` values are the contract's `data-*` attributes (`docs/ui-test-contract.md`).

use merpati_protocol::sessions::SessionRef;
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, ErrorCode, Presence, Seq};

use crate::signals::{MessageReceipts, Notifications, Privacy};
use serde::{Deserialize, Serialize};

/// Everything the screens show, as the engine has it now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The chats, latest activity first.
    pub chats: Vec<ChatRow>,
    /// Where the connection stands.
    pub phase: ConnectionPhase,
    /// While waiting to reconnect: when the next attempt starts (ms since the Unix epoch).
    pub next_attempt_at_ms: Option<f64>,
    /// Messages written here and not yet acknowledged.
    pub pending: usize,
    /// The signed-in username.
    pub me: Option<String>,
    /// The chat on screen, if any: the one the page last asked for
    /// ([`crate::Command::OpenChat`]) or the one the person's request just created.
    pub open_chat: Option<OpenChat>,
    /// The account's privacy settings (the settings panel).
    pub privacy: Privacy,
    /// This browser's notification settings (the settings panel, the offer).
    pub notifications: Notifications,
    /// The emoji this browser chose lately in the picker, most recent first.
    pub recent_emoji: Vec<String>,
    /// The skin tone this browser's picker shows: its place in `merpati_words::SkinTone::ALL`.
    pub skin_tone: u8,
    /// Where the account is signed in, newest use first (the devices screen); `None` until
    /// asked for ([`crate::Command::ListDevices`]).
    pub devices: Option<Vec<DeviceRow>>,
}

/// One place the account is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRow {
    /// Its session, to sign it out ([`crate::Command::EndDevice`]).
    pub session: SessionRef,
    /// What it is, in words: the browser and system it signed in from ("Firefox on Android"),
    /// or, when its browser did not say, its device's short id. This browser is marked by
    /// `current`, which the view words.
    pub name: String,
    /// When it was last active, in words ("Active today").
    pub last_active: String,
    /// When it signed in, in words.
    pub signed_in: String,
    /// Whether it is this browser (`data-current`).
    pub current: bool,
}

/// The chat on screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenChat {
    /// Which chat.
    pub id: ChatId,
    /// Its title: the group's name, or the other person's username.
    pub title: String,
    /// Its messages as the list shows them, oldest first.
    pub rows: Vec<MessageRow>,
    /// 1:1 or group.
    pub kind: Option<ChatKind>,
    /// A 1:1 chat's safety number, once both keys are known.
    pub safety_number: Option<String>,
    /// The key-change banner's words, while unacknowledged.
    pub key_change: Option<String>,
    /// Its members, in the server's order.
    pub members: Vec<MemberRow>,
    /// Whether this account is still in it.
    pub is_member: bool,
    /// Who is typing in it now (blocked people left out).
    pub typing: Vec<String>,
    /// A 1:1 chat's other person: online, or when last seen; `None` until the server says
    /// (and in a group).
    pub presence: Option<Presence>,
    /// The receipts of the message whose details are open ([`crate::Command::ShowReceipts`]).
    pub receipts: Option<MessageReceipts>,
    /// Whether this account is an admin of the group.
    pub am_admin: bool,
    /// A 1:1 chat whose other person this account blocks.
    pub blocked: bool,
    /// What the person typed here and has not sent: the composer starts with it.
    pub draft: Option<String>,
    /// Moves when another tab of this browser changed the draft (sent it, say): the composer
    /// on screen then takes `draft` again, which it does not on the echo of its own typing.
    pub draft_taken: u32,
    /// A message to bring into sight, by id in hex, once loaded: a search result chosen, or
    /// the first unread message of a chat just opened with some.
    pub reveal: Option<String>,
}

/// One chat in the chat list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRow {
    /// The chat (`data-chat-id`).
    pub id: ChatId,
    /// The group's name, or the other person's username (`data-title`).
    pub title: String,
    /// The newest message's text (pending ones included).
    pub last_text: Option<String>,
    /// When anything last happened in it, as the list says it (`chat-time`): a time today,
    /// "Yesterday", a date before; empty for a chat where nothing did.
    pub last_time: String,
    /// The newest message from someone else, as shown: what a notification of the chat says.
    pub last_received: Option<String>,
    /// Who sent it, in a group (a 1:1 chat's title names them already). Kept beside it rather
    /// than in a struct of their own: one type fewer for the page's module to decode.
    pub last_received_from: Option<String>,
    /// Messages from others not yet read.
    pub unread: usize,
    /// Who is typing in it now.
    pub typing: Vec<String>,
    /// What the person typed here and has not sent; shown instead of the last message.
    pub draft: Option<String>,
    /// This browser does not notify of it (`chat-muted`); its unread count leaves the tab's
    /// title.
    pub muted: bool,
}

/// One message as the message list shows it. The default is an empty, open, pending row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    /// The client message id in hex (`data-msg-id`), stable from pending to sent.
    pub id: String,
    /// How far it has come (`data-status`).
    pub status: MessageStatus,
    /// Whether this account wrote it (`data-own`).
    pub own: bool,
    /// Whether its content could be opened on this device (`data-lock`).
    pub lock: MessageLock,
    /// What it says; for a message that is not open, words saying why.
    pub text: String,
    /// The sender's name, shown for others' messages in groups.
    pub sender: Option<String>,
    /// When it was sent, as the person's clock shows it.
    pub time: String,
    /// The day it was sent, for the first message of each day by the person's calendar
    /// ("Today", "Yesterday", "3 Dec", "3 Dec 2025"): the list draws it above the message
    /// (`day-separator`).
    pub day: Option<String>,
    /// "3 unread messages", for the first message that was unread when the chat came on
    /// screen: the list draws it above the message (`unread-divider`).
    pub unread_from_here: Option<String>,
    /// The message it answers, quoted.
    pub quote: Option<QuoteRow>,
    /// Forwarded from another chat (`message-forwarded`).
    pub forwarded: bool,
    /// Its sender edited it (`message-edited`).
    pub edited: bool,
    /// Its sender deleted it for everyone (`data-deleted`); `text` says so.
    pub deleted: bool,
    /// The reactions under it, most chosen first.
    pub reactions: Vec<ReactionRow>,
    /// Why the server refused it, for an own message that was not sent.
    pub failure: Option<ErrorCode>,
    /// A line the server wrote about the group ("alice renamed the group to …"): shown
    /// centered, as nobody's message, and nobody can act on it.
    pub system: bool,
    /// The photo or file it carries (`text` then only names it, for the chat list).
    pub attachment: Option<AttachmentRow>,
    /// The web addresses in `text`, in order, shown as links (`message-link`); none unless
    /// the text is the message's own (open, not deleted, not the server's).
    pub links: Vec<LinkSpan>,
}

/// A web address in a message's text (`merpati_core::links` finds them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSpan {
    /// Where it begins in the text, in bytes (on a character boundary).
    pub start: u32,
    /// Where it ends in the text, in bytes (on a character boundary).
    pub end: u32,
    /// What it opens: an `http` or `https` address.
    pub href: String,
}

impl MessageRow {
    /// Whether a person can answer, react to or forward it: it is open, has text, and is
    /// neither deleted nor a line the server wrote.
    pub fn has_live_text(&self) -> bool {
        self.lock == MessageLock::Open && !self.deleted && !self.system
    }
}

/// A photo or file in a message, as shown before it is opened (`attachment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRow {
    /// The file's name.
    pub name: String,
    /// Its size in words ("10 MB").
    pub size: String,
    /// For a photo (`data-kind="image"`): its thumbnail (JPEG) and full size; `None` for any
    /// other file (`data-kind="file"`).
    pub preview: Option<PreviewRow>,
    /// While this device uploads it: ciphertext bytes the server holds, of all of them.
    pub upload: Option<(u64, u64)>,
}

/// A photo's thumbnail as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRow {
    /// The JPEG.
    pub jpeg: Vec<u8>,
    /// The photo's width in pixels (the thumbnail keeps its proportions).
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// The message a reply answers, as quoted above the reply's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRow {
    /// The answered message's id in hex (`data-target-id`: what clicking the quote scrolls to).
    pub target: String,
    /// Who wrote it.
    pub sender: String,
    /// The start of its text.
    pub text: String,
}

/// One emoji under a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRow {
    /// The emoji (`data-emoji`).
    pub emoji: String,
    /// How many people chose it.
    pub count: usize,
    /// Who chose it, by name.
    pub people: Vec<String>,
    /// Whether this account is among them (choosing it again takes it back).
    pub mine: bool,
}

/// One message local search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRow {
    /// Its chat.
    pub chat: ChatId,
    /// The chat's title.
    pub chat_title: String,
    /// Its position in the chat.
    pub seq: Seq,
    /// The message's id.
    pub id: ClientMsgId,
    /// Who wrote it ("You" for this account).
    pub sender: String,
    /// When, as the person's clock shows it.
    pub time: String,
    /// Its text in pieces, each marked whether it matched the query (to highlight).
    pub pieces: Vec<(String, bool)>,
}

/// One member as a group's members panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    /// The account id (what removing the member sends).
    pub id: u64,
    /// The username (`data-username`).
    pub username: String,
    /// Whether this is the signed-in account.
    pub me: bool,
    /// Whether this member is an admin of the group (`data-admin`).
    pub admin: bool,
}

/// Where the connection stands, as the person sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionPhase {
    /// No connection; nothing is being tried right now.
    #[default]
    Offline,
    /// Opening a socket, proving who we are, or catching up.
    Connecting,
    /// Signed in and caught up: messages flow live.
    Online,
    /// This device cannot store what it must keep (its storage is full): what arrived and
    /// what was written are held, neither sent nor lost, until it can.
    Unsaved,
}

impl ConnectionPhase {
    /// The value of `data-state` on `connection-status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionPhase::Offline => "offline",
            ConnectionPhase::Connecting => "connecting",
            ConnectionPhase::Online => "online",
            ConnectionPhase::Unsaved => "unsaved",
        }
    }
}

/// How far a message has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageStatus {
    /// Written here, not yet acknowledged by the server.
    #[default]
    Pending,
    /// Durable on the server.
    Sent,
    /// Every other member holds it on at least one device.
    Delivered,
    /// Every other member has seen it on screen (as far as they share it).
    Read,
    /// The server refused it; it is sent again only if the person retries.
    Failed,
}

impl MessageStatus {
    /// The value of `data-status` on a `message`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }
}

/// Whether a message's content could be opened on this device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageLock {
    /// Decrypted and verified (or written here).
    #[default]
    Open,
    /// Encrypted with a key this device does not have yet; it opens when the key arrives.
    Waiting,
    /// It failed verification (altered, or not from who the server says) and is not shown.
    Refused,
}

impl MessageLock {
    /// The value of `data-lock` on a `message`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageLock::Open => "open",
            MessageLock::Waiting => "waiting",
            MessageLock::Refused => "refused",
        }
    }
}
