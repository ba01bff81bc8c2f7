//! The frames of a Merpati connection (the error codes they carry are in `error_code`).
//!
//! A connection goes: the server sends [`ServerFrame::Challenge`]; the client answers with
//! [`ClientFrame::Authenticate`]; the server says [`ServerFrame::Welcome`] or
//! [`ServerFrame::Error`]. From then on the client sends requests and the server pushes chats
//! and messages as they happen. `docs/protocol.md` walks through it.
//!
//! Enum variants are encoded by their index: add new variants at the end only, and bump
//! [`crate::PROTOCOL_VERSION`] for anything else.

use serde::{Deserialize, Serialize};

pub use crate::auth::AuthMethod;
use crate::conversation::{Presence, Receipt};
use crate::keys::{
    BackupEntry, ClaimedKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
};
use crate::sessions::{SessionInfo, SessionRef};
use crate::{ChatId, ClientMsgId, Epoch, ErrorCode, RequestId, Seq, UserId, Username};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// The first frame: proves who the client is. Anything else before it is refused.
    Authenticate {
        /// The protocol version the client speaks ([`crate::PROTOCOL_VERSION`]).
        version: u16,
        /// How the client proves it.
        method: AuthMethod,
    },
    /// Start a 1:1 chat or a group. Answered by [`ServerFrame::Chat`] with the same request id
    /// (an existing 1:1 chat with the same person is returned rather than doubled).
    CreateChat {
        /// Pairs the answer with this request.
        request: RequestId,
        /// What to create.
        chat: NewChat,
    },
    /// Add a person to a group. Every member is sent the updated [`ServerFrame::Chat`].
    AddMember {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The group.
        chat_id: ChatId,
        /// Who joins.
        username: Username,
    },
    /// Send a message. Answered by [`ServerFrame::Ack`] once the message is durable, or by
    /// [`ServerFrame::SendFailed`]. Resending the same `client_msg_id` stores it once.
    Send {
        /// The chat.
        chat_id: ChatId,
        /// The client's name for the message.
        client_msg_id: ClientMsgId,
        /// Opaque to the server; at most [`crate::MAX_BODY_BYTES`].
        body: Vec<u8>,
        /// The uploaded file the message carries (its key is inside `body`), if any: the
        /// sender's own, complete upload, which the server keeps from now on, for as long as
        /// the message (`crate::blobs`).
        attachment: Option<crate::BlobId>,
    },
    /// Catch up after (re)connecting. The server sends every chat of the account
    /// ([`ServerFrame::Chat`]), then one [`ServerFrame::Page`] per chat with news, then
    /// [`ServerFrame::SyncDone`].
    Sync {
        /// The storage epoch the positions below belong to; `None` on a fresh device. If it is
        /// not the server's, the positions are ignored.
        epoch: Option<Epoch>,
        /// Per chat, the last sequence the client holds without a gap before it. For these
        /// chats the server sends what follows; for any other chat, its newest page.
        positions: Vec<(ChatId, Seq)>,
    },
    /// Ask for messages after a position, oldest first (fills gaps, continues a catch-up).
    Fetch {
        /// The chat.
        chat_id: ChatId,
        /// Send messages with a sequence greater than this.
        after: Seq,
        /// At most this many (the server caps it at [`crate::MAX_PAGE`]).
        limit: u32,
    },
    /// Ask for older messages, for scrolling back through history.
    History {
        /// The chat.
        chat_id: ChatId,
        /// Send messages with a sequence less than this.
        before: Seq,
        /// At most this many (the server caps it at [`crate::MAX_PAGE`]).
        limit: u32,
    },
    /// Everything up to `seq` has been read in this chat.
    MarkRead {
        /// The chat.
        chat_id: ChatId,
        /// The newest message read.
        seq: Seq,
    },
    /// End this device's session: the server forgets its session token and closes.
    Logout,
    /// Names this connection's device and adds keys to the directory; sent after every
    /// `Welcome`, before anything else about keys. Answered by [`ServerFrame::KeysPublished`],
    /// followed by every [`ServerFrame::ToDevice`] waiting for the device.
    PublishKeys {
        /// The device's keys, signed by the account key.
        device: DeviceKeys,
        /// The device's own Ed25519 signature over
        /// [`crate::keys::device_binding_message`] with this connection's challenge nonce:
        /// proof that the connection holds the device, not just the account's session. Needed
        /// in the publish that binds the connection to the device (its first); ignored after.
        device_proof: Option<Vec<u8>>,
        /// New one-time keys (the directory keeps at most [`crate::MAX_ONE_TIME_KEYS`]).
        one_time_keys: Vec<OneTimeKey>,
        /// A new fallback key, replacing the previous one.
        fallback_key: Option<OneTimeKey>,
    },
    /// Asks for the keys of some accounts. Answered by [`ServerFrame::Keys`].
    QueryKeys {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The accounts.
        users: Vec<UserId>,
    },
    /// Takes one one-time key of each device, to start Olm sessions with them. Answered by
    /// [`ServerFrame::ClaimedKeys`].
    ClaimKeys {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The devices.
        devices: Vec<DeviceRef>,
    },
    /// Queues Olm messages for devices until each fetches them. Answered by
    /// [`ServerFrame::ToDeviceSent`] once they are durable.
    SendToDevice {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The messages.
        messages: Vec<ToDeviceMessage>,
    },
    /// These [`ServerFrame::ToDevice`] messages are processed: the server deletes them.
    ToDeviceDone {
        /// Their ids.
        ids: Vec<u64>,
    },
    /// Adds entries to the account's key backup. Answered by [`ServerFrame::BackupStored`].
    PutBackup {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The entries.
        entries: Vec<BackupEntry>,
    },
    /// Reads the account's key backup, in the order entries were stored. Answered by
    /// [`ServerFrame::Backup`].
    FetchBackup {
        /// Pairs the answer with this request.
        request: RequestId,
        /// Send entries stored after this position (`0`: from the start).
        after: u64,
    },
    /// Takes a person out of a group (oneself included: leaving). Every member, and the one
    /// removed, is sent the updated [`ServerFrame::Chat`].
    RemoveMember {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The group.
        chat_id: ChatId,
        /// Who leaves.
        user: UserId,
    },
    /// This device holds every message of the chat up to `seq`. The server keeps the highest
    /// position per member and chat and pushes [`ServerFrame::Receipt`] when it moves.
    MarkDelivered {
        /// The chat.
        chat_id: ChatId,
        /// The newest message held without a gap before it.
        seq: Seq,
    },
    /// The person is typing in the chat. Pushed as [`ServerFrame::Typing`] to the other
    /// members' online sessions and never stored; the server passes on at most one per
    /// [`crate::TYPING_INTERVAL_MS`] per connection and chat and drops the rest.
    Typing {
        /// The chat.
        chat_id: ChatId,
    },
    /// Follow one account's presence (the other person of the 1:1 chat on screen); `None`
    /// stops. Answered at once by [`ServerFrame::Presence`], then pushed when it changes.
    WatchPresence {
        /// Whose presence, if anyone's.
        user: Option<UserId>,
    },
    /// Changes this account's privacy settings: sent when the person changes them, and after a
    /// `Welcome` while a change made offline has not been answered. Answered by
    /// [`ServerFrame::Privacy`], which the account's other sessions get too.
    SetPrivacy {
        /// Whether other members learn how far this account has read ([`Receipt::read`]).
        /// Off also hides the others' read positions from this account, as people expect.
        share_read_receipts: bool,
        /// Whether others see this account online or when it was last seen. Off also hides
        /// everyone else's presence from this account.
        share_presence: bool,
    },
    /// Renames a group (admins only). Answered by [`ServerFrame::Chat`]; every member gets
    /// the new chat and a [`crate::content::SystemEvent::Renamed`] line.
    RenameGroup {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The group.
        chat_id: ChatId,
        /// The new title, 1 to [`crate::MAX_TITLE_CHARS`] characters.
        title: String,
    },
    /// Makes a member an admin of a group, or takes it back (admins only). Answered by
    /// [`ServerFrame::Chat`].
    SetAdmin {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The group.
        chat_id: ChatId,
        /// The member.
        user: UserId,
        /// Admin or not.
        admin: bool,
    },
    /// Blocks or unblocks an account. Answered by [`ServerFrame::BlockList`].
    SetBlocked {
        /// Pairs the answer with this request.
        request: RequestId,
        /// The account.
        user: UserId,
        /// Blocked or not.
        blocked: bool,
    },
    /// Like [`ClientFrame::Send`], for a message that deletes an earlier message of the same
    /// sender for everyone (its encrypted content says which): in the same transaction the
    /// server drops the target's stored body, so every later `Page` carries it empty.
    /// Answered like `Send`; a target that is not the sender's own message in this chat is
    /// refused with `SendFailed { NotYourMessage }`.
    SendDeletion {
        /// The chat.
        chat_id: ChatId,
        /// The client's name for the deleting message.
        client_msg_id: ClientMsgId,
        /// Opaque to the server, like `Send`'s.
        body: Vec<u8>,
        /// The message to delete.
        target: ClientMsgId,
    },
    /// Asks for the account's sessions. Answered by [`ServerFrame::Sessions`].
    ListSessions {
        /// Pairs the answer with this request.
        request: RequestId,
    },
    /// Ends one of the account's sessions: its token is refused from now on, its connections
    /// are closed (`Goodbye { SessionExpired }`), and its device leaves the directory.
    /// Answered by [`ServerFrame::SessionEnded`] (also for a session that no longer exists).
    EndSession {
        /// Pairs the answer with this request.
        request: RequestId,
        /// Which one (from [`ServerFrame::Sessions`]).
        session: SessionRef,
    },
    /// Asks for the random part of an account's passphrase salt, before signing in with the
    /// passphrase (also before `Authenticate`, and at most a few times per connection).
    /// Answered by [`ServerFrame::Salt`].
    LookUpSalt {
        /// The account.
        username: Username,
    },
    /// Asks the server to show it is still there (signed in only): answered by
    /// [`ServerFrame::Pong`]. A browser cannot send WebSocket pings, and a connection whose
    /// other end is gone without a word (a NAT that dropped its state, a host that died) stays
    /// open and silent: a client that has heard nothing for a while asks, and one that then
    /// hears nothing either takes the connection for lost.
    Ping,
}

/// A chat to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewChat {
    /// A 1:1 chat with one other person.
    Direct {
        /// The other person.
        with: Username,
    },
    /// A group.
    Group {
        /// Its title, 1 to [`crate::MAX_TITLE_CHARS`] characters.
        title: String,
        /// The members besides the creator.
        members: Vec<Username>,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The first frame of every connection.
    Challenge {
        /// The protocol version the server speaks.
        version: u16,
        /// Random bytes to sign; new for every connection.
        nonce: [u8; 32],
        /// The server storage's epoch.
        epoch: Epoch,
    },
    /// Authentication succeeded.
    Welcome {
        /// Who the client is signed in as.
        me: Member,
        /// For `Register` and `Login`: a new token for `Resume`. After a `Resume`: the
        /// session's token if it rotated (about once a day) or the client resumed with the one
        /// before; keep it and resume with it from now on. Otherwise `None`.
        session_token: Option<[u8; 32]>,
    },
    /// A request failed or a frame was refused. The connection stays open unless the code
    /// says otherwise (see `docs/protocol.md`).
    Error {
        /// The request it answers, if it answers one.
        request: Option<RequestId>,
        /// What went wrong.
        code: ErrorCode,
        /// Detail for logs and developers; the app shows words of its own for each code.
        detail: String,
    },
    /// A chat the account belongs to, when it is created, changed, or synced.
    Chat {
        /// The `CreateChat` or `AddMember` this answers, if any.
        request: Option<RequestId>,
        /// The chat as it is now.
        chat: ChatInfo,
    },
    /// A message sent on this connection is durable.
    Ack {
        /// Its chat.
        chat_id: ChatId,
        /// The client's name for it.
        client_msg_id: ClientMsgId,
        /// The position the server gave it.
        seq: Seq,
        /// When the server stored it, in milliseconds since the Unix epoch.
        sent_at_ms: u64,
    },
    /// A message sent on this connection was refused; it will never be stored.
    SendFailed {
        /// Its chat.
        chat_id: ChatId,
        /// The client's name for it.
        client_msg_id: ClientMsgId,
        /// Why.
        code: ErrorCode,
    },
    /// A new message in one of the account's chats, pushed as it is stored.
    Message(MessageFrame),
    /// An answer to `Sync`, `Fetch` or `History`: consecutive messages, oldest first.
    Page {
        /// The chat.
        chat_id: ChatId,
        /// The messages, by ascending sequence, without gaps.
        messages: Vec<MessageFrame>,
        /// Whether more messages lie beyond this page in the direction asked for (newer for
        /// `Sync` and `Fetch`, older for `History`).
        more: bool,
    },
    /// Everything `Sync` had to send has been sent.
    SyncDone,
    /// A member's delivery or read position in a chat moved.
    Receipt {
        /// The chat.
        chat_id: ChatId,
        /// The member's positions now.
        receipt: Receipt,
    },
    /// The server is closing this connection; come back after `retry_after_ms`.
    Goodbye {
        /// Why it closes.
        code: ErrorCode,
        /// When to reconnect, in milliseconds (`None`: do not reconnect by yourself).
        retry_after_ms: Option<u32>,
    },
    /// The answer to [`ClientFrame::PublishKeys`].
    KeysPublished {
        /// How many unclaimed one-time keys of this device the directory holds.
        one_time_keys: u32,
    },
    /// The answer to [`ClientFrame::QueryKeys`]; accounts that do not exist are left out.
    Keys {
        /// The request.
        request: RequestId,
        /// Each account's keys.
        users: Vec<UserKeys>,
    },
    /// The answer to [`ClientFrame::ClaimKeys`].
    ClaimedKeys {
        /// The request.
        request: RequestId,
        /// One entry per device asked for that exists.
        keys: Vec<ClaimedKey>,
    },
    /// The messages of a [`ClientFrame::SendToDevice`] are durable — all but those for the
    /// devices in `refused`, whose mailbox is full (or holds this account's share of it).
    /// Each recipient is decided on its own: one full mailbox refuses no one else's message.
    ToDeviceSent {
        /// The request.
        request: RequestId,
        /// Devices whose messages were not queued.
        refused: Vec<DeviceRef>,
    },
    /// An Olm message for this connection's device. It is sent again after every
    /// `PublishKeys` until the device says [`ClientFrame::ToDeviceDone`].
    ToDevice {
        /// Its id.
        id: u64,
        /// The device that sent it.
        sender: DeviceRef,
        /// The encoded Olm message.
        body: Vec<u8>,
    },
    /// The entries of a [`ClientFrame::PutBackup`] are durable.
    BackupStored {
        /// The request.
        request: RequestId,
    },
    /// The answer to [`ClientFrame::FetchBackup`]: entries with their positions, oldest first.
    Backup {
        /// The request.
        request: RequestId,
        /// `(position, entry)`; fetch again after the last position while `more` is set.
        entries: Vec<(u64, BackupEntry)>,
        /// Whether more entries follow the last one.
        more: bool,
    },
    /// An account sharing a chat with this one (or this account) published a new device or
    /// signed one out: query its keys again before encrypting for it.
    DevicesChanged {
        /// The account.
        user: UserId,
    },
    /// Another session of this account added to the key backup: a device waiting for a key
    /// may find it there now.
    BackupChanged,
    /// A member is typing in a chat (see [`ClientFrame::Typing`]).
    Typing {
        /// The chat.
        chat_id: ChatId,
        /// Who.
        user: UserId,
    },
    /// A watched account's presence (see [`ClientFrame::WatchPresence`]).
    Presence {
        /// Whose.
        user: UserId,
        /// Online, last seen, or not shared.
        presence: Presence,
    },
    /// The accounts this account blocks: after `Sync` (before `SyncDone`), as the answer to
    /// `SetBlocked`, and pushed to the account's other sessions when it changes.
    BlockList {
        /// The `SetBlocked` this answers, if any.
        request: Option<RequestId>,
        /// Every blocked account.
        users: Vec<UserId>,
    },
    /// Pushed to this connection's device when others' claims have left it short of keys:
    /// after a claim that leaves fewer than [`crate::ONE_TIME_KEYS_LOW`] one-time keys or hands
    /// out the fallback key, and after `KeysPublished` while a handed-out fallback key has not
    /// been replaced. The device tops up its one-time keys and, if `fallback_claimed`, publishes
    /// a new fallback key.
    KeysClaimed {
        /// How many unclaimed one-time keys of this device the directory holds.
        one_time_keys: u32,
        /// Whether the current fallback key has been handed out since it was published.
        fallback_claimed: bool,
    },
    /// The answer to [`ClientFrame::ListSessions`]: every session of the account, newest use
    /// first.
    Sessions {
        /// The request.
        request: RequestId,
        /// The sessions.
        sessions: Vec<SessionInfo>,
    },
    /// The session of a [`ClientFrame::EndSession`] is ended.
    SessionEnded {
        /// The request.
        request: RequestId,
    },
    /// The session of an [`AuthMethod::SignOut`] is ended (or was already); the connection
    /// closes next.
    SignedOut,
    /// Answers [`ClientFrame::LookUpSalt`]: the random part of the account's passphrase salt;
    /// `None` for an account registered before salts (its passphrase is salted with its name
    /// alone). A name nobody has gets a salt too — the same every time — so the answer does
    /// not tell whether the account exists.
    Salt {
        /// The account asked about.
        username: Username,
        /// Its salt.
        kdf_salt: Option<[u8; 16]>,
    },
    /// This account's privacy settings as the server holds them, whichever device chose them:
    /// after `Sync` (before `BlockList`), as the answer to `SetPrivacy`, and pushed to the
    /// account's other sessions when they change.
    Privacy {
        /// See [`ClientFrame::SetPrivacy`].
        share_read_receipts: bool,
        /// See [`ClientFrame::SetPrivacy`].
        share_presence: bool,
    },
    /// Answers [`ClientFrame::Ping`].
    Pong,
}

/// A person as other members see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their id.
    pub id: UserId,
    /// Their username.
    pub username: Username,
}

/// A 1:1 chat or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    /// Two people.
    Direct,
    /// A named group.
    Group,
}

/// A chat as the server describes it to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatInfo {
    /// Its id.
    pub id: ChatId,
    /// 1:1 or group.
    pub kind: ChatKind,
    /// A group's title; empty for a 1:1 chat (the app shows the other person's name).
    pub title: String,
    /// Everyone in it, the receiving member included.
    pub members: Vec<Member>,
    /// The sequence of its newest message (`Seq(0)` when empty).
    pub head: Seq,
    /// How far the receiving member has read.
    pub read: Seq,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The group's admins (empty for a 1:1 chat): they add and remove members, rename the
    /// group and make others admins.
    pub admins: Vec<UserId>,
    /// The other members' delivery and read positions, as far as they share them with the
    /// receiving member (see [`ClientFrame::SetPrivacy`] and blocking).
    pub receipts: Vec<Receipt>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFrame {
    /// Its chat.
    pub chat_id: ChatId,
    /// Its position in the chat.
    pub seq: Seq,
    /// The sender's name for it.
    pub client_msg_id: ClientMsgId,
    /// Who sent it.
    pub sender: UserId,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// Opaque bytes: the app's encoded content.
    pub body: Vec<u8>,
}
