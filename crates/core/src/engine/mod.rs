//! The client engine: the state machine of one signed-in device, with no I/O.
//!
//! The app (or the load generator) owns the socket, the store and the clock, and drives the
//! engine: it pushes in what happened ([`Engine::on_connected`], [`Engine::handle_frame`],
//! [`Engine::send_text`], ...) and, after each push, takes everything that step produced with
//! [`Engine::take_step`]: a [`Step`] of events, store writes and frames, whose documentation
//! says in which order the shell carries them out and why. Views read the state through
//! queries such as [`Engine::chat_list`] and [`Engine::timeline`].
//!
//! Every message a person writes goes to the outbox first (persisted), and is sent — and
//! resent after every reconnect, with the same `client_msg_id` — until the server
//! acknowledges it; the timelines show each message once, in sequence order.
//!
//! # Layout
//! - `step`: what one step hands the shell ([`Step`], [`Event`]) and the order to apply it.
//! - `session`: credentials, the connection's phases, signing in and its rules (which
//!   failures keep the credentials), restoring from the store.
//! - `incoming`: every frame from the server, and how messages enter the timelines.
//! - `sending`: the outbox, and the encrypted `Send`s once the chat's key is with everyone.
//! - `keys`: the end-to-end key flow (device lists, one-time keys, key shares, the backup)
//!   and opening messages.
//! - `requests`: what the person asks of the server (new chats, removals, read positions,
//!   older history).
//! - `queries`: what the views read (the chat list, a timeline, safety numbers, ...).

mod incoming;
mod keys;
mod queries;
mod requests;
mod sending;
mod session;
mod step;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, ClientMsgId, Epoch, Member, RequestId, Seq, UserId,
};

use crate::e2e::{DeviceCrypto, Opened};
use crate::store::{AccountSecrets, ChatRecord, OutboxRecord, StoreWrite};
use crate::timeline::Timeline;
use keys::KeyFlow;
use session::{Credentials, Phase};

pub use queries::ChatSummary;
pub use requests::{HISTORY_PAGE, RequestError};
pub use sending::SendError;
pub use session::ConnectionPhase;
pub use step::{Event, Step};

/// One chat as this device holds it.
struct ChatState {
    info: ChatInfo,
    timeline: Timeline,
    /// How far each other member has read.
    others_read: HashMap<UserId, Seq>,
    /// A `Fetch` for this chat is in flight on this connection.
    fetching: bool,
    /// A `History` request for this chat is in flight on this connection.
    history_requested: bool,
}

/// A message of the outbox: persisted, and sent until acknowledged.
struct OutboxEntry {
    record: OutboxRecord,
    /// The server refused it; it waits for the person to retry.
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
    /// The person's requests waiting for an answer (they fail when the connection drops).
    pending_requests: Vec<RequestId>,
    /// What the current step produced; [`Engine::take_step`] hands it over.
    frames: Vec<ClientFrame>,
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
    /// Outbox entries sent on this connection (each is sent again on the next one).
    sent_this_connection: BTreeSet<ClientMsgId>,
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
            frames: Vec::new(),
            writes: Vec::new(),
            events: Vec::new(),
            crypto: None,
            secrets: None,
            keys: KeyFlow::default(),
            opened: HashMap::new(),
            waiting: HashMap::new(),
            sent_this_connection: BTreeSet::new(),
            sent_bodies: HashMap::new(),
            backup_position: 0,
            clock_ms: 0,
        }
    }

    /// The signed-in account's id (`UserId(0)`, nobody's, before the first sign-in).
    fn my_id(&self) -> UserId {
        self.me.as_ref().map(|me| me.id).unwrap_or(UserId(0))
    }

    /// The members of a chat, if it is known.
    fn members(&self, chat_id: ChatId) -> Option<BTreeSet<UserId>> {
        let chat = self.chats.get(&chat_id)?;
        Some(chat.info.members.iter().map(|member| member.id).collect())
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
