//! The client engine: the state machine of one signed-in device, with no I/O.
//!
//! The app (or the load generator) owns the socket, the store and the clock, and drives the
//! engine: it pushes in what happened ([`Engine::on_connected`], [`Engine::handle_frame`],
//! [`Engine::send_text`], ...) and pulls out what to do — frames to send
//! ([`Engine::poll_frame`]), store writes to apply in one transaction
//! ([`Engine::take_writes`]) and events for the person ([`Engine::take_events`]). Views read
//! the state through queries such as [`Engine::chat_list`] and [`Engine::timeline`].
//!
//! Every message a person writes goes to the outbox first (persisted), and is sent — and
//! resent after every reconnect, with the same `client_msg_id` — until the server
//! acknowledges it; the timelines show each message once, in sequence order.

mod keys;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, ErrorCode, MAX_BODY_BYTES,
    MAX_PAGE, Member, MessageFrame, PROTOCOL_VERSION, RequestId, Seq, ServerFrame, UserId,
    Username,
    auth::{AuthPurpose, challenge_message},
    content::MessageContent,
    frames::{AuthMethod, NewChat},
};
use vodozemac::Ed25519SecretKey;

use crate::crypto::{AccountKey, random_bytes};
use crate::e2e::{CryptoRecord, DeviceCrypto, Opened};
use crate::store::{
    AccountRecord, AccountSecrets, ChatRecord, MessageRecord, OutboxRecord, StoreWrite,
};
use crate::timeline::{Inserted, MessageLock, MessageStatus, Timeline, TimelineItem, body_text};
use keys::KeyFlow;

/// How many messages a history request asks for.
pub const HISTORY_PAGE: u32 = 50;

/// Where the connection stands, as the person sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConnectionPhase {
    /// No connection; nothing is being tried right now.
    Offline,
    /// Opening a socket, proving who we are, or catching up.
    Connecting,
    /// Signed in and caught up: messages flow live.
    Online,
}

impl ConnectionPhase {
    /// The value of the app's `data-state` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionPhase::Offline => "offline",
            ConnectionPhase::Connecting => "connecting",
            ConnectionPhase::Online => "online",
        }
    }
}

/// Something the person (or the shell) should learn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Authentication succeeded.
    SignedIn(Member),
    /// Authentication failed; the code says why (e.g. [`ErrorCode::WrongPassphrase`]).
    AuthFailed(ErrorCode),
    /// The stored session is no longer valid: the device must sign in again.
    SessionExpired,
    /// A `create_*` request produced (or found) this chat.
    ChatReady {
        /// The request.
        request: RequestId,
        /// The chat.
        chat_id: ChatId,
    },
    /// A request failed.
    RequestFailed {
        /// The request, if the failure answers one.
        request: Option<RequestId>,
        /// Why.
        code: ErrorCode,
    },
    /// The server is going away; reconnect after the hinted delay.
    ServerGoingAway {
        /// The server's hint, in milliseconds.
        retry_after_ms: Option<u32>,
    },
    /// A person's account key differs from the one this device pinned: their safety number
    /// changed, and their chats say so until the person compares it again.
    KeyChanged {
        /// Whose key.
        user: UserId,
    },
}

/// Why a message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing to send.
    #[error("The message is empty")]
    Empty,
    /// Over [`MAX_BODY_BYTES`] once encoded.
    #[error("The message is too long (at most {MAX_BODY_BYTES} bytes)")]
    TooLarge,
    /// The chat is not known on this device.
    #[error("That chat does not exist")]
    NoSuchChat,
    /// The system's random source failed.
    #[error("No randomness available")]
    NoRandomness,
}

/// The body a text becomes, or why it cannot be sent: what [`Engine::send_text`] checks before
/// anything else, for a shell that wants to answer the person before handing the text over.
pub fn text_body(text: &str) -> Result<Vec<u8>, SendError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SendError::Empty);
    }
    let body = MessageContent::Text {
        text: text.to_owned(),
    }
    .to_body();
    if body.len() > MAX_BODY_BYTES {
        return Err(SendError::TooLarge);
    }
    Ok(body)
}

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Requests need a live connection.
    #[error("Not connected — try again when the connection is back")]
    NotConnected,
    /// A username was not valid.
    #[error("{0}")]
    InvalidUsername(#[from] merpati_protocol::UsernameError),
    /// The group needs a title.
    #[error("A group needs a name")]
    EmptyTitle,
}

/// A chat row of the chat list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatSummary {
    /// The chat.
    pub id: ChatId,
    /// 1:1 or group.
    pub kind: ChatKind,
    /// The group title, or the other person's name.
    pub title: String,
    /// The newest message's text (pending ones included).
    pub last_text: Option<String>,
    /// When anything last happened in the chat.
    pub last_activity_ms: u64,
    /// Messages from others not yet read.
    pub unread: usize,
}

enum Credentials {
    Register {
        username: Username,
        key: Ed25519SecretKey,
        backup_key: [u8; 32],
    },
    Login {
        username: Username,
        key: Ed25519SecretKey,
        backup_key: [u8; 32],
    },
    Resume {
        session_token: [u8; 32],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Offline,
    Opening,
    AwaitingChallenge,
    Authenticating,
    Syncing,
    Online,
}

struct ChatState {
    info: ChatInfo,
    timeline: Timeline,
    others_read: HashMap<UserId, Seq>,
    fetching: bool,
    history_requested: bool,
}

struct OutboxEntry {
    record: OutboxRecord,
    failed: bool,
}

/// The state machine of one device. See the module documentation.
pub struct Engine {
    phase: Phase,
    credentials: Option<Credentials>,
    me: Option<Member>,
    session_token: Option<[u8; 32]>,
    epoch: Option<Epoch>,
    chats: BTreeMap<ChatId, ChatState>,
    outbox: Vec<OutboxEntry>,
    next_order: u64,
    next_request: u32,
    pending_requests: Vec<RequestId>,
    outgoing: VecDeque<ClientFrame>,
    writes: Vec<StoreWrite>,
    events: Vec<Event>,
    /// This device's end-to-end keys; `None` until the first sign-in on it.
    crypto: Option<DeviceCrypto>,
    /// The passphrase-derived keys, from a sign-in or the store: make this tab a device.
    secrets: Option<AccountSecrets>,
    keys: KeyFlow,
    /// What each message in memory turned out to be when opened.
    opened: HashMap<ClientMsgId, Opened>,
    /// Messages waiting for a Megolm session, by session id.
    waiting: HashMap<String, BTreeSet<(ChatId, Seq)>>,
    /// The body last sent for each outbox entry, stored with it once acknowledged.
    sent_bodies: HashMap<ClientMsgId, Vec<u8>>,
    /// The newest key backup position read.
    backup_position: u64,
    /// The newest time the engine has heard of (server times and the shell's `now`), in
    /// milliseconds since the Unix epoch: dates key changes and ages Megolm sessions.
    clock_ms: u64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("phase", &self.phase)
            .field("me", &self.me)
            .field("chats", &self.chats.len())
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// An engine with no account and no state.
    pub fn new() -> Engine {
        Engine {
            phase: Phase::Offline,
            credentials: None,
            me: None,
            session_token: None,
            epoch: None,
            chats: BTreeMap::new(),
            outbox: Vec::new(),
            next_order: 1,
            next_request: 1,
            pending_requests: Vec::new(),
            outgoing: VecDeque::new(),
            writes: Vec::new(),
            events: Vec::new(),
            crypto: None,
            secrets: None,
            keys: KeyFlow::default(),
            opened: HashMap::new(),
            waiting: HashMap::new(),
            sent_bodies: HashMap::new(),
            backup_position: 0,
            clock_ms: 0,
        }
    }

    // ----- restoring and signing in -------------------------------------------------------

    /// Loads what the local store holds: the account (whose session token the next connection
    /// resumes), the chats, the newest stored messages of each chat, the outbox, and this
    /// device's end-to-end keys. Without stored keys (a new tab of a signed-in browser) the
    /// engine becomes a new device of the account when it connects, from the account's
    /// stored secrets.
    pub fn restore(
        &mut self,
        account: Option<AccountRecord>,
        chats: Vec<ChatRecord>,
        messages: Vec<MessageRecord>,
        outbox: Vec<OutboxRecord>,
        crypto: Vec<CryptoRecord>,
    ) {
        self.crypto = DeviceCrypto::restore(crypto).filter(|crypto| {
            account
                .as_ref()
                .is_some_and(|account| account.me.id == crypto.user())
        });
        if let Some(account) = account {
            self.secrets = Some(account.secrets.clone());
            self.me = Some(account.me);
            self.session_token = Some(account.session_token);
            self.epoch = account.epoch;
            self.credentials = Some(Credentials::Resume {
                session_token: account.session_token,
            });
        }
        for chat in chats {
            self.chats.insert(
                chat.info.id,
                ChatState::new(chat.info, Timeline::with_positions(chat.floor, chat.synced)),
            );
        }
        let mut by_chat: BTreeMap<ChatId, Vec<MessageRecord>> = BTreeMap::new();
        for message in messages {
            by_chat.entry(message.chat_id).or_default().push(message);
        }
        for (chat_id, messages) in by_chat {
            self.open_messages(&messages);
            if let Some(chat) = self.chats.get_mut(&chat_id) {
                chat.timeline.restore(messages);
            }
        }
        for record in outbox {
            self.next_order = self.next_order.max(record.order + 1);
            self.outbox.push(OutboxEntry {
                record,
                failed: false,
            });
        }
        self.outbox.sort_by_key(|entry| entry.record.order);
    }

    /// Signs up on the next connection with the keys derived from the passphrase.
    pub fn sign_up(&mut self, username: Username, key: &AccountKey) {
        self.credentials = Some(Credentials::Register {
            username,
            key: key.auth_key(),
            backup_key: key.backup_key(),
        });
    }

    /// Signs in on the next connection with the keys derived from the passphrase.
    pub fn sign_in(&mut self, username: Username, key: &AccountKey) {
        self.credentials = Some(Credentials::Login {
            username,
            key: key.auth_key(),
            backup_key: key.backup_key(),
        });
    }

    /// Whether the engine knows how to authenticate a connection.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Who is signed in.
    pub fn me(&self) -> Option<&Member> {
        self.me.as_ref()
    }

    /// Signs out: tells the server to forget this device's session. The shell clears the store.
    pub fn sign_out(&mut self) {
        if self.is_authenticated() {
            self.outgoing.push_back(ClientFrame::Logout);
        }
        self.credentials = None;
        self.session_token = None;
        self.secrets = None;
    }

    // ----- the connection -----------------------------------------------------------------

    /// The shell is opening a socket (the person sees "connecting", not "offline").
    pub fn on_connecting(&mut self) {
        if self.phase == Phase::Offline {
            self.phase = Phase::Opening;
        }
    }

    /// A socket is open: the server's challenge comes next.
    pub fn on_connected(&mut self) {
        self.outgoing.clear();
        self.keys = KeyFlow::default();
        self.phase = Phase::AwaitingChallenge;
    }

    /// The socket closed, or could not be opened. Unacknowledged messages stay in the outbox
    /// and go out again after the next sign-in; requests in flight fail.
    pub fn on_disconnected(&mut self) {
        self.outgoing.clear();
        self.keys = KeyFlow::default();
        self.phase = Phase::Offline;
        for chat in self.chats.values_mut() {
            chat.fetching = false;
            chat.history_requested = false;
        }
        for request in std::mem::take(&mut self.pending_requests) {
            self.events.push(Event::RequestFailed {
                request: Some(request),
                code: ErrorCode::Internal,
            });
        }
    }

    /// Where the connection stands.
    pub fn connection_phase(&self) -> ConnectionPhase {
        match self.phase {
            Phase::Offline => ConnectionPhase::Offline,
            Phase::Opening | Phase::AwaitingChallenge | Phase::Authenticating | Phase::Syncing => {
                ConnectionPhase::Connecting
            }
            Phase::Online => ConnectionPhase::Online,
        }
    }

    fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Syncing | Phase::Online)
    }

    /// Feeds one frame from the server.
    pub fn handle_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Challenge {
                version: _,
                nonce,
                epoch,
            } => self.on_challenge(nonce, epoch),
            ServerFrame::Welcome { me, session_token } => self.on_welcome(me, session_token),
            ServerFrame::Error {
                request,
                code,
                detail: _,
            } => self.on_error(request, code),
            ServerFrame::Chat { request, chat } => self.on_chat(request, chat),
            ServerFrame::Ack {
                chat_id,
                client_msg_id,
                seq,
                sent_at_ms,
            } => self.on_ack(chat_id, client_msg_id, seq, sent_at_ms),
            ServerFrame::SendFailed {
                chat_id: _,
                client_msg_id,
                code,
            } => self.on_send_failed(client_msg_id, code),
            ServerFrame::Message(message) => {
                let chat_id = message.chat_id;
                self.insert_messages(chat_id, vec![message], false);
            }
            ServerFrame::Page {
                chat_id,
                messages,
                more,
            } => self.on_page(chat_id, messages, more),
            ServerFrame::SyncDone => {
                if self.phase == Phase::Syncing {
                    self.phase = Phase::Online;
                }
            }
            ServerFrame::ReadUpTo { chat_id, user, seq } => self.on_read_up_to(chat_id, user, seq),
            ServerFrame::Goodbye {
                code: _,
                retry_after_ms,
            } => self.events.push(Event::ServerGoingAway { retry_after_ms }),
            ServerFrame::KeysPublished { one_time_keys } => self.on_keys_published(one_time_keys),
            ServerFrame::Keys { request, users } => self.on_keys(request, users),
            ServerFrame::ClaimedKeys { request, keys } => self.on_claimed_keys(request, keys),
            ServerFrame::ToDeviceSent { request } => self.on_to_device_sent(request),
            ServerFrame::ToDevice { id, sender, body } => self.on_to_device(id, sender, &body),
            ServerFrame::BackupStored { request } => self.on_backup_stored(request),
            ServerFrame::Backup {
                request,
                entries,
                more,
            } => self.on_backup(request, entries, more),
            ServerFrame::DevicesChanged { user } => self.on_devices_changed(user),
            ServerFrame::BackupChanged => self.on_backup_changed(),
        }
    }

    fn on_challenge(&mut self, nonce: [u8; 32], epoch: Epoch) {
        if self.epoch.is_some_and(|known| known != epoch) {
            // The server's storage was replaced: our sequence numbers mean nothing there.
            for chat in self.chats.values_mut() {
                chat.timeline = Timeline::default();
            }
        }
        self.epoch = Some(epoch);
        let method = match &self.credentials {
            None => return,
            Some(Credentials::Register { username, key, .. }) => AuthMethod::Register {
                username: username.clone(),
                public_key: *key.public_key().as_bytes(),
                signature: key
                    .sign(&challenge_message(AuthPurpose::Register, username, &nonce))
                    .to_bytes()
                    .to_vec(),
            },
            Some(Credentials::Login { username, key, .. }) => AuthMethod::Login {
                username: username.clone(),
                signature: key
                    .sign(&challenge_message(AuthPurpose::Login, username, &nonce))
                    .to_bytes()
                    .to_vec(),
            },
            Some(Credentials::Resume { session_token }) => AuthMethod::Resume {
                session_token: *session_token,
            },
        };
        self.phase = Phase::Authenticating;
        self.outgoing.push_back(ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method,
        });
    }

    fn on_welcome(&mut self, me: Member, session_token: Option<[u8; 32]>) {
        let passphrase_keys = match &self.credentials {
            Some(Credentials::Register {
                key, backup_key, ..
            })
            | Some(Credentials::Login {
                key, backup_key, ..
            }) => Some(AccountSecrets {
                account_key: *key.to_bytes(),
                backup_key: *backup_key,
            }),
            _ => None,
        };
        let signed_in_with_passphrase = passphrase_keys.is_some();
        if let Some(secrets) = passphrase_keys {
            self.secrets = Some(secrets);
        }
        if let Some(token) = session_token {
            self.session_token = Some(token);
            self.credentials = Some(Credentials::Resume {
                session_token: token,
            });
        }
        if self.me.as_ref().is_some_and(|known| known.id != me.id) {
            // Another account signed in on this engine: nothing of the old one may show.
            self.chats.clear();
            self.outbox.clear();
            self.opened.clear();
            self.waiting.clear();
        }
        if self
            .crypto
            .as_ref()
            .is_none_or(|crypto| crypto.user() != me.id)
            && let Some(secrets) = &self.secrets
        {
            // A browser (or tab) new to this account: a new device with its own keys.
            // Without randomness there is no device: the engine stays signed in but cannot
            // send, and every message it cannot open says so.
            let account_key = Ed25519SecretKey::from_slice(&secrets.account_key);
            self.crypto = DeviceCrypto::new(me.id, &account_key, secrets.backup_key).ok();
            // Earlier history's keys are in the backup.
            self.keys.backup_wanted = true;
        }
        if signed_in_with_passphrase {
            self.keys.backup_wanted = true;
        }
        self.me = Some(me.clone());
        if let (Some(session_token), Some(secrets)) = (self.session_token, self.secrets.clone()) {
            self.writes.push(StoreWrite::PutAccount(AccountRecord {
                me: me.clone(),
                session_token,
                epoch: self.epoch,
                secrets,
            }));
        }
        self.phase = Phase::Syncing;
        // The device first, so that keys waiting for it arrive before the messages they open.
        if let Some(crypto) = self.crypto.as_mut() {
            let (one_time_keys, fallback_key) = crypto.unpublished_keys();
            self.outgoing.push_back(ClientFrame::PublishKeys {
                device: crypto.device_keys(),
                one_time_keys,
                fallback_key,
            });
        }
        // Chats whose range is known resume after it; for the others the server sends the
        // newest page, and older history comes page by page as the person scrolls.
        let positions = self
            .chats
            .iter()
            .filter(|(_, chat)| chat.timeline.floor() > Seq(0))
            .map(|(id, chat)| (*id, chat.timeline.synced()))
            .collect();
        self.outgoing.push_back(ClientFrame::Sync {
            epoch: self.epoch,
            positions,
        });
        // The outbox goes out once the device is published and keys are shared
        // (`pump_keys`).
        self.events.push(Event::SignedIn(me));
    }

    fn on_error(&mut self, request: Option<RequestId>, code: ErrorCode) {
        if matches!(self.phase, Phase::AwaitingChallenge | Phase::Authenticating) {
            if code == ErrorCode::SessionExpired {
                self.credentials = None;
                self.session_token = None;
                self.events.push(Event::SessionExpired);
            } else {
                self.credentials = None;
                self.events.push(Event::AuthFailed(code));
            }
            return;
        }
        if let Some(request) = request {
            if self.on_key_request_failed(request) {
                return;
            }
            self.pending_requests.retain(|pending| *pending != request);
        }
        if code == ErrorCode::NoSuchChat {
            for chat in self.chats.values_mut() {
                chat.fetching = false;
                chat.history_requested = false;
            }
        }
        self.events.push(Event::RequestFailed { request, code });
    }

    fn on_chat(&mut self, request: Option<RequestId>, info: ChatInfo) {
        let chat_id = info.id;
        self.clock_ms = self.clock_ms.max(info.created_ms);
        if info.kind == ChatKind::Direct {
            // Its safety number needs the other person's keys.
            let me = self.me.as_ref().map(|me| me.id);
            self.keys.wanted.extend(
                info.members
                    .iter()
                    .map(|member| member.id)
                    .filter(|id| Some(*id) != me),
            );
        }
        let chat = self
            .chats
            .entry(chat_id)
            .or_insert_with(|| ChatState::new(info.clone(), Timeline::default()));
        if info.head == Seq(0) && chat.timeline.floor() == Seq(0) {
            // An empty chat: this device holds all of it, from the very first message on.
            chat.timeline = Timeline::with_positions(Seq(1), Seq(0));
        }
        let read = chat.info.read.max(info.read);
        chat.info = info;
        chat.info.read = read;
        self.writes
            .push(StoreWrite::PutChat(self.chats[&chat_id].record()));
        if let Some(request) = request
            && self.pending_requests.contains(&request)
        {
            self.pending_requests.retain(|pending| *pending != request);
            self.events.push(Event::ChatReady { request, chat_id });
        }
        self.pump_keys();
    }

    fn on_ack(&mut self, chat_id: ChatId, client_msg_id: ClientMsgId, seq: Seq, sent_at_ms: u64) {
        let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id)
        else {
            // Acknowledged already (a resend's second ack), or by another tab.
            return;
        };
        self.clock_ms = self.clock_ms.max(sent_at_ms);
        let entry = self.outbox.remove(position);
        self.writes.push(StoreWrite::RemoveOutbox(client_msg_id));
        let (Some(me), Some(body)) = (
            self.me.as_ref().map(|me| me.id),
            self.sent_bodies.remove(&client_msg_id),
        ) else {
            return;
        };
        if let Some(content) = MessageContent::from_body(&entry.record.body) {
            // Written here: no need to decrypt what this device encrypted.
            self.opened.insert(client_msg_id, Opened::Content(content));
        }
        let message = MessageFrame {
            chat_id,
            seq,
            client_msg_id,
            sender: me,
            sent_at_ms,
            body,
        };
        self.insert_messages(chat_id, vec![message], false);
    }

    fn on_send_failed(&mut self, client_msg_id: ClientMsgId, _code: ErrorCode) {
        if let Some(entry) = self
            .outbox
            .iter_mut()
            .find(|entry| entry.record.client_msg_id == client_msg_id)
        {
            entry.failed = true;
        }
    }

    fn on_page(&mut self, chat_id: ChatId, messages: Vec<MessageRecord>, more: bool) {
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let floor = chat.timeline.floor();
        let is_history = floor > Seq(0) && messages.last().is_some_and(|last| last.seq < floor);
        if is_history {
            chat.history_requested = false;
            self.open_messages(&messages);
            let Some(chat) = self.chats.get_mut(&chat_id) else {
                return;
            };
            if chat.timeline.insert_older(messages.clone()) > 0 {
                self.writes.push(StoreWrite::PutMessages(messages));
                self.writes.push(StoreWrite::PutChat(chat.record()));
            }
            return;
        }
        chat.fetching = false;
        self.insert_messages(chat_id, messages, more);
    }

    fn on_read_up_to(&mut self, chat_id: ChatId, user: UserId, seq: Seq) {
        let me = self.me.as_ref().map(|me| me.id);
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if Some(user) == me {
            if seq > chat.info.read {
                chat.info.read = seq;
                self.writes.push(StoreWrite::PutChat(chat.record()));
            }
        } else {
            let read = chat.others_read.entry(user).or_default();
            *read = (*read).max(seq);
        }
    }

    /// Inserts messages going forward, persists what is new, and asks for whatever a gap or
    /// an unfinished page leaves missing.
    fn insert_messages(&mut self, chat_id: ChatId, messages: Vec<MessageRecord>, more: bool) {
        if !self.chats.contains_key(&chat_id) {
            return;
        }
        if let Some(newest) = messages.iter().map(|message| message.sent_at_ms).max() {
            self.clock_ms = self.clock_ms.max(newest);
        }
        self.open_messages(&messages);
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let mut new = Vec::new();
        for message in messages {
            chat.info.head = chat.info.head.max(message.seq);
            if chat.timeline.insert(message.clone()) != Inserted::Duplicate {
                new.push(message);
            }
        }
        let gap = chat.timeline.has_gap();
        // A message delivered by the server is no longer pending, whoever sent it from here.
        for message in &new {
            if let Some(position) = self
                .outbox
                .iter()
                .position(|entry| entry.record.client_msg_id == message.client_msg_id)
            {
                self.outbox.remove(position);
                self.writes
                    .push(StoreWrite::RemoveOutbox(message.client_msg_id));
            }
        }
        if (gap || more) && !chat.fetching && matches!(self.phase, Phase::Syncing | Phase::Online) {
            chat.fetching = true;
            self.outgoing.push_back(ClientFrame::Fetch {
                chat_id,
                after: chat.timeline.synced(),
                limit: MAX_PAGE,
            });
        }
        if !new.is_empty() {
            self.writes.push(StoreWrite::PutMessages(new));
            self.writes.push(StoreWrite::PutChat(chat.record()));
        }
    }

    // ----- what the person does -----------------------------------------------------------

    /// Queues a text message: it is stored in the outbox at once and sent when connected.
    pub fn send_text(
        &mut self,
        chat_id: ChatId,
        text: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let body = text_body(text)?;
        if !self.chats.contains_key(&chat_id) {
            return Err(SendError::NoSuchChat);
        }
        let client_msg_id = ClientMsgId(random_bytes().map_err(|_| SendError::NoRandomness)?);
        let record = OutboxRecord {
            chat_id,
            client_msg_id,
            body,
            created_ms: now_ms,
            order: self.next_order,
        };
        self.next_order += 1;
        self.clock_ms = self.clock_ms.max(now_ms);
        self.writes.push(StoreWrite::PutOutbox(record.clone()));
        self.outbox.push(OutboxEntry {
            record,
            failed: false,
        });
        self.pump_keys();
        Ok(client_msg_id)
    }

    /// Sends a failed message again, under the same id.
    pub fn retry(&mut self, client_msg_id: ClientMsgId) {
        if let Some(entry) = self
            .outbox
            .iter_mut()
            .find(|entry| entry.record.client_msg_id == client_msg_id)
        {
            entry.failed = false;
            self.keys.sent.remove(&client_msg_id);
        }
        self.pump_keys();
    }

    /// A new request id (the key flow's requests take theirs here too).
    fn next_request_id(&mut self) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    fn request(
        &mut self,
        frame: impl FnOnce(RequestId) -> ClientFrame,
    ) -> Result<RequestId, RequestError> {
        if !self.is_authenticated() {
            return Err(RequestError::NotConnected);
        }
        let request = self.next_request_id();
        self.pending_requests.push(request);
        self.outgoing.push_back(frame(request));
        Ok(request)
    }

    /// Starts (or finds) a 1:1 chat; [`Event::ChatReady`] follows.
    pub fn create_direct(&mut self, username: &str) -> Result<RequestId, RequestError> {
        let with = Username::parse(username)?;
        self.request(|request| ClientFrame::CreateChat {
            request,
            chat: NewChat::Direct { with },
        })
    }

    /// Creates a group from a title and comma-separated usernames; [`Event::ChatReady`]
    /// follows.
    pub fn create_group(&mut self, title: &str, members: &str) -> Result<RequestId, RequestError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(RequestError::EmptyTitle);
        }
        let members = members
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(Username::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let title = title.to_owned();
        self.request(|request| ClientFrame::CreateChat {
            request,
            chat: NewChat::Group { title, members },
        })
    }

    /// Adds a person to a group.
    pub fn add_member(
        &mut self,
        chat_id: ChatId,
        username: &str,
    ) -> Result<RequestId, RequestError> {
        let username = Username::parse(username)?;
        self.request(|request| ClientFrame::AddMember {
            request,
            chat_id,
            username,
        })
    }

    /// Marks everything held in the chat as read (the chat is on screen).
    pub fn mark_read(&mut self, chat_id: ChatId) {
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let newest = chat
            .timeline
            .last()
            .map(|message| message.seq)
            .unwrap_or_default();
        if newest <= chat.info.read {
            return;
        }
        chat.info.read = newest;
        self.writes.push(StoreWrite::PutChat(chat.record()));
        if authenticated {
            self.outgoing.push_back(ClientFrame::MarkRead {
                chat_id,
                seq: newest,
            });
        }
    }

    /// The position below which the local store should be asked for older messages of a chat
    /// (the oldest message loaded in memory), or `None` when nothing older exists anywhere.
    pub fn older_wanted_before(&self, chat_id: ChatId) -> Option<Seq> {
        let chat = self.chats.get(&chat_id)?;
        let oldest = chat.timeline.oldest_loaded()?;
        (oldest > Seq(1)).then_some(oldest)
    }

    /// Adds older messages read from the local store. When the store had none, asks the
    /// server for history instead.
    pub fn insert_stored_older(&mut self, chat_id: ChatId, page: Vec<MessageRecord>) {
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if !page.is_empty() {
            chat.timeline.restore(page.clone());
            self.open_messages(&page);
            return;
        }
        let floor = chat.timeline.floor();
        if floor > Seq(1) && authenticated && !chat.history_requested {
            chat.history_requested = true;
            self.outgoing.push_back(ClientFrame::History {
                chat_id,
                before: floor,
                limit: HISTORY_PAGE,
            });
        }
    }

    // ----- what the shell pulls -----------------------------------------------------------

    /// The next frame to send, if any.
    pub fn poll_frame(&mut self) -> Option<ClientFrame> {
        self.outgoing.pop_front()
    }

    /// The store writes produced since the last call; apply them as one batch.
    pub fn take_writes(&mut self) -> Vec<StoreWrite> {
        let crypto = self.crypto_writes();
        let mut writes = std::mem::take(&mut self.writes);
        writes.extend(crypto);
        writes
    }

    /// The events produced since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    // ----- what the views read ------------------------------------------------------------

    /// The chats, most recently active first.
    pub fn chat_list(&self) -> Vec<ChatSummary> {
        let me = self.me.as_ref().map(|me| me.id).unwrap_or(UserId(0));
        let mut list: Vec<ChatSummary> = self
            .chats
            .values()
            .map(|chat| {
                let last_confirmed = chat.timeline.last();
                let last_pending = self
                    .outbox
                    .iter()
                    .rev()
                    .find(|entry| entry.record.chat_id == chat.info.id);
                let (last_text, last_activity_ms) = match (last_pending, last_confirmed) {
                    (Some(pending), _) => (
                        Some(body_text(&pending.record.body)),
                        pending.record.created_ms,
                    ),
                    (None, Some(message)) => (Some(self.shown(message).1), message.sent_at_ms),
                    (None, None) => (None, chat.info.created_ms),
                };
                ChatSummary {
                    id: chat.info.id,
                    kind: chat.info.kind,
                    title: chat_title(&chat.info, me),
                    last_text,
                    last_activity_ms: last_activity_ms.max(chat.info.created_ms),
                    unread: chat.timeline.unread_after(chat.info.read, me),
                }
            })
            .collect();
        list.sort_by(|a, b| {
            b.last_activity_ms
                .cmp(&a.last_activity_ms)
                .then(b.id.cmp(&a.id))
        });
        list
    }

    /// A chat's description.
    pub fn chat(&self, chat_id: ChatId) -> Option<&ChatInfo> {
        self.chats.get(&chat_id).map(|chat| &chat.info)
    }

    /// A chat's title as this account sees it.
    pub fn chat_title(&self, chat_id: ChatId) -> Option<String> {
        let me = self.me.as_ref().map(|me| me.id).unwrap_or(UserId(0));
        self.chats
            .get(&chat_id)
            .map(|chat| chat_title(&chat.info, me))
    }

    /// A chat's messages in display order: confirmed by sequence, then pending ones in the
    /// order they were written.
    pub fn timeline(&self, chat_id: ChatId) -> Vec<TimelineItem> {
        let me = self.me.as_ref().map(|me| me.id).unwrap_or(UserId(0));
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        let read_by_others = chat.others_read.values().copied().max().unwrap_or_default();
        let confirmed = chat.timeline.messages().map(|message| {
            let (lock, text) = self.shown(message);
            TimelineItem {
                client_msg_id: message.client_msg_id,
                seq: Some(message.seq),
                sender: message.sender,
                own: message.sender == me,
                status: if message.sender == me && message.seq <= read_by_others {
                    MessageStatus::Read
                } else {
                    MessageStatus::Sent
                },
                sent_at_ms: message.sent_at_ms,
                lock,
                text,
            }
        });
        let pending = self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id)
            .map(|entry| TimelineItem {
                client_msg_id: entry.record.client_msg_id,
                seq: None,
                sender: me,
                own: true,
                status: if entry.failed {
                    MessageStatus::Failed
                } else {
                    MessageStatus::Pending
                },
                sent_at_ms: entry.record.created_ms,
                lock: MessageLock::Open,
                text: body_text(&entry.record.body),
            });
        confirmed.chain(pending).collect()
    }

    /// How many messages wait in the outbox.
    pub fn pending_count(&self) -> usize {
        self.outbox.iter().filter(|entry| !entry.failed).count()
    }

    /// Takes a person out of a group (or, with one's own id, leaves it).
    pub fn remove_member(
        &mut self,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<RequestId, RequestError> {
        self.request(|request| ClientFrame::RemoveMember {
            request,
            chat_id,
            user,
        })
    }

    /// Whether this account is still a member of the chat (a removed member keeps what it
    /// had, read-only).
    pub fn is_member(&self, chat_id: ChatId) -> bool {
        let me = self.me.as_ref().map(|me| me.id);
        self.chats
            .get(&chat_id)
            .is_some_and(|chat| chat.info.members.iter().any(|member| Some(member.id) == me))
    }

    /// The safety number of a 1:1 chat (see [`crate::e2e::safety_number`]); `None` for a
    /// group, or until the other person's keys are known.
    pub fn safety_number(&self, chat_id: ChatId) -> Option<String> {
        let other = self.direct_partner(chat_id)?;
        self.crypto.as_ref()?.safety_number(other)
    }

    /// A member of the chat whose account key changed, with when this device noticed.
    pub fn key_change(&self, chat_id: ChatId) -> Option<(Username, u64)> {
        let crypto = self.crypto.as_ref()?;
        let chat = self.chats.get(&chat_id)?;
        chat.info.members.iter().find_map(|member| {
            let at = crypto.key_changed(member.id)?;
            Some((member.username.clone(), at))
        })
    }

    /// The person compared the safety numbers of this chat again.
    pub fn acknowledge_key_change(&mut self, chat_id: ChatId) {
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        let members: Vec<UserId> = chat.info.members.iter().map(|member| member.id).collect();
        if let Some(crypto) = self.crypto.as_mut() {
            for user in members {
                crypto.acknowledge_key_change(user);
            }
        }
    }

    /// This device's end-to-end keys, once signed in.
    pub fn device_crypto(&self) -> Option<&DeviceCrypto> {
        self.crypto.as_ref()
    }

    fn direct_partner(&self, chat_id: ChatId) -> Option<UserId> {
        let chat = self.chats.get(&chat_id)?;
        if chat.info.kind != ChatKind::Direct {
            return None;
        }
        let me = self.me.as_ref()?.id;
        chat.info
            .members
            .iter()
            .map(|member| member.id)
            .find(|id| *id != me)
    }

    /// A member's username in a chat.
    pub fn member_name(&self, chat_id: ChatId, user: UserId) -> Option<&Username> {
        self.chats
            .get(&chat_id)?
            .info
            .members
            .iter()
            .find(|member| member.id == user)
            .map(|member| &member.username)
    }
}

impl ChatState {
    fn new(info: ChatInfo, timeline: Timeline) -> ChatState {
        ChatState {
            info,
            timeline,
            others_read: HashMap::new(),
            fetching: false,
            history_requested: false,
        }
    }

    fn record(&self) -> ChatRecord {
        ChatRecord {
            info: self.info.clone(),
            floor: self.timeline.floor(),
            synced: self.timeline.synced(),
        }
    }
}

fn chat_title(info: &ChatInfo, me: UserId) -> String {
    match info.kind {
        ChatKind::Group => info.title.clone(),
        ChatKind::Direct => info
            .members
            .iter()
            .find(|member| member.id != me)
            .or_else(|| info.members.first())
            .map(|member| member.username.to_string())
            .unwrap_or_default(),
    }
}
