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
//! acknowledges it; the timelines show each message once, in sequence order. Replies,
//! edits, deletions, reactions and forwards are messages too; the edits, deletions and
//! reactions fold into their targets by the merge rules of [`crate::annotations`].
//!
//! # Layout
//! - `step`: what one step hands the shell ([`Step`], [`Event`]) and the order to apply it.
//! - `session`: credentials, the connection's phases, signing in and its rules (which
//!   failures keep the credentials), restoring from the store.
//! - `sync`: catching up: the `Sync`, asked again when refused for now, and the groups its
//!   listing of the account's chats no longer names, held as left.
//! - `epochs`: what a new storage epoch drops — everything held by position, and a chat whose
//!   id the server gave to another.
//! - `incoming`: every frame from the server, and how messages enter the timelines (and
//!   annotations reach their targets).
//! - `sending`: the outbox, and the encrypted `Send`s once the chat's key is with everyone.
//! - `actions`: what the person does to a message: reply, edit, delete (for everyone or for
//!   themselves), react, forward — each checked, with words for what is refused.
//! - `receipts`: delivery and read positions: reporting this device's, merging the others',
//!   the chat on screen, and a message's receipts.
//! - `presence`: typing signals and who is online, and the shell's clock they expire by.
//! - `retry`: a request refused for now, tried again after a growing wait on that clock.
//! - `privacy`: the privacy settings and blocking.
//! - `groups`: group administration: adding, removing, renaming, admins, leaving.
//! - `drafts`: what the person typed and has not sent, per chat.
//! - `early`: a message of a chat not described yet (someone just added), held for it.
//! - `keys`: the end-to-end key flow (device lists, one-time keys, key shares) and opening
//!   messages; `key_backup`: the key backup as the flow moves it; `to_device_done`: the
//!   to-device messages processed, acknowledged in batches.
//! - `publishing`: this device's own keys in the server's directory, and when the server
//!   holds them.
//! - `liveness`: asking a silent server whether it is there, and giving a dead connection up.
//! - `requests`: what the person asks of the server (new chats, older history) and the one
//!   way a request is made.
//! - `search`: local search: indexing what opens, persisting the index, answering queries.
//! - `queries`: what the views read (the chat list, a timeline, safety numbers, ...).

mod actions;
mod attachments;
mod devices;
mod drafts;
mod early;
mod epochs;
mod groups;
mod incoming;
mod key_backup;
mod keys;
mod liveness;
mod presence;
mod privacy;
mod publishing;
mod queries;
mod receipts;
mod requests;
mod retry;
mod search;
mod sending;
mod session;
mod step;
mod sync;
mod to_device_done;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use merpati_protocol::sessions::SessionInfo;
use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, ClientMsgId, Epoch, Member, Presence, RequestId, Seq, UserId,
    Username,
};

use crate::annotations::Annotations;
use crate::e2e::{DeviceCrypto, Opened};
use crate::receipts::ChatReceipts;
use crate::store::{
    AccountSecrets, ChatRecord, DeviceSettings, OutboxRecord, SettingsRecord, StoreWrite,
};
use crate::timeline::Timeline;
use keys::KeyFlow;
use search::SearchState;
use session::{Credentials, Phase};

pub use attachments::AwaitedUpload;
pub use liveness::{ANSWER_MS, IDLE_PROBE_MS, OWED_PROBE_MS};
pub use privacy::RECENT_EMOJI;
pub use queries::ChatSummary;
pub use receipts::{MemberReceipt, UnreadDivider};
pub use requests::{HISTORY_PAGE, OlderWanted, RequestError};
pub use sending::SendError;
pub use session::ConnectionPhase;
pub use step::{Event, Step};

/// One chat as this device holds it.
struct ChatState {
    info: ChatInfo,
    timeline: Timeline,
    /// How far each other member has received and read.
    receipts: ChatReceipts,
    /// Edits, deletions and reactions seen, by target.
    annotations: Annotations,
    /// The delivery position this device last reported.
    delivered: Seq,
    /// Who is typing, and when their signal arrived (the shell's clock).
    typing: BTreeMap<UserId, u64>,
    /// A `Fetch` for this chat is in flight on this connection.
    fetching: bool,
    /// Where this chat's `History` requests stand on this connection.
    history: HistoryAsked,
    /// The chat's head in the newest description of it (`Chat`) taken on this connection: one
    /// that is older, pushed after it, is not taken (`incoming`).
    described_at: Seq,
    /// Someone joined at or before this sequence number (the chat's head when this device
    /// heard of it) while this device's messages encrypted before may still be stored after
    /// it: the key of those is owed to them (`keys`). In memory only.
    joined_after: Option<Seq>,
}

/// Where a chat's `History` requests stand on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HistoryAsked {
    /// None in flight.
    Not,
    /// One in flight, for the messages below this position: its answer is the page that
    /// ends below it (or an empty one), whatever the floor became meanwhile (another tab's
    /// history read from the store, say).
    Below(Seq),
    /// The server said nothing older is there for this account (`more: false`): the chat's
    /// beginning, or the line that added this account. Not asked again on this connection.
    Done,
}

/// A message of the outbox: persisted, and sent until acknowledged.
struct OutboxEntry {
    /// The message, with the server's refusal if it was refused (`failure`): kept, so that a
    /// refused message stays refused across reloads until the person sends it again.
    record: OutboxRecord,
    /// It carries a file whose upload has not finished on this run of the engine: it is not
    /// sent until then (`attachments`).
    awaiting_upload: bool,
    /// The ciphertext last sent, stored as the message once acknowledged; it leaves with the
    /// entry, however the entry leaves.
    sent_body: Option<Vec<u8>>,
}

/// The state machine of one device. See the module documentation.
pub struct Engine {
    phase: Phase,
    credentials: Option<Credentials>,
    me: Option<Member>,
    session_token: Option<[u8; 32]>,
    epoch: Option<Epoch>,
    /// The storage epoch changed and the writes dropping what was held under the old one
    /// may not be durable yet (a shell whose store write fails sends none of the step's
    /// frames): until a `Welcome` shows they are, each connection drops it all again.
    old_epoch_in_store: bool,
    /// This connection's challenge nonce: the device signs it to bind the connection to
    /// itself (`PublishKeys::device_proof`).
    nonce: Option<[u8; 32]>,
    /// Whether the connection is still there ([`liveness`]).
    liveness: liveness::Liveness,
    /// Messages of chats not yet described on this connection ([`early`]).
    early: early::Early,
    chats: BTreeMap<ChatId, ChatState>,
    outbox: Vec<OutboxEntry>,
    next_order: u64,
    next_request: u32,
    /// The person's requests waiting for an answer (they fail when the connection drops).
    pending_requests: Vec<RequestId>,
    /// Where the account is signed in, as the server last listed it (the devices screen).
    devices: Option<Vec<SessionInfo>>,
    /// What the current step produced; [`Engine::take_step`] hands it over.
    frames: Vec<ClientFrame>,
    writes: Vec<StoreWrite>,
    /// The messages that entered the outbox since the last step ([`Step::queued`]).
    queued: Vec<ClientMsgId>,
    events: Vec<Event>,
    /// This device's end-to-end keys; `None` until the first sign-in on it.
    crypto: Option<DeviceCrypto>,
    /// The passphrase-derived keys, from a sign-in or the store: make this tab a device.
    secrets: Option<AccountSecrets>,
    keys: KeyFlow,
    /// A `Sync` refused for now (too many) on this connection is sent again later.
    sync_retry: retry::Retry,
    /// A privacy change refused for now (too many requests: the refusal names no request)
    /// is sent again after a wait, while it still waits for the server's answer.
    privacy_retry: retry::Retry,
    /// A `Fetch` refused for now (too many) on this connection: the gaps are asked for
    /// again later.
    page_retry: retry::Retry,
    /// What each message in memory turned out to be when opened.
    opened: HashMap<ClientMsgId, Opened>,
    /// Where each opened message was first seen: the server stores a client message id once
    /// per chat, so the same id at another position (in the same storage epoch) is a copy.
    opened_at: HashMap<ClientMsgId, (ChatId, Seq)>,
    /// Positions holding such a copy: refused as replays, whatever the first copy showed.
    replayed: HashSet<(ChatId, Seq)>,
    /// Messages waiting for a Megolm session, by session id.
    waiting: HashMap<String, BTreeSet<(ChatId, Seq)>>,
    /// Outbox entries sent on this connection (each is sent again on the next one).
    sent_this_connection: BTreeSet<ClientMsgId>,
    /// The newest time the engine has heard of (server times and the shell's `now`), in
    /// milliseconds since the Unix epoch: dates key changes and ages Megolm sessions.
    clock_ms: u64,
    /// The shell's own clock as last told ([`Engine::advance_clock`]): typing signals are
    /// timed by it, so that a server clock ahead or behind does not stretch them.
    now_ms: u64,
    /// What the person typed and has not sent, per chat.
    drafts: BTreeMap<ChatId, String>,
    /// How many times another tab of this browser changed each chat's draft (sent it, or
    /// typed there): a composer on screen takes the draft again when its chat's count moves,
    /// and never on the echo of its own typing.
    drafts_taken: BTreeMap<ChatId, u32>,
    /// Messages deleted for this account only.
    hidden: BTreeSet<(ChatId, ClientMsgId)>,
    /// The privacy settings and the block list.
    settings: SettingsRecord,
    /// Whether the person changed the privacy settings here and the server has not answered
    /// with them yet: until it has, they are this device's to tell, not the server's.
    privacy_unsent: bool,
    /// This browser's own settings (notifications).
    device_settings: DeviceSettings,
    /// This browser's recently chosen emoji, most recent first.
    recent_emoji: Vec<String>,
    /// The skin tone this browser's emoji picker shows.
    skin_tone: merpati_words::SkinTone,
    /// The chats this browser does not notify of.
    muted_chats: BTreeSet<ChatId>,
    /// The chat on screen in a visible tab: marked read at once, and as messages arrive.
    on_screen: Option<ChatId>,
    /// Where the chat last brought on screen with unread messages had them.
    unread_divider: Option<UnreadDivider>,
    /// Whose presence is followed (the other person of the 1:1 chat on screen).
    watched: Option<UserId>,
    /// The presence the server last told of each watched person, on this connection.
    presence: HashMap<UserId, Presence>,
    /// When this device last sent `Typing`, per chat (the shell's clock).
    typing_sent: HashMap<ChatId, u64>,
    /// Chats whose delivery position moved since the last step: one `MarkDelivered` each.
    delivery_moved: BTreeSet<ChatId>,
    /// Chats whose delivery was reported on this connection. The server does not answer a
    /// report, and one in flight when the connection drops is lost with it: each is made
    /// again, once, after the next connection's sync (`delivery_unsure`).
    delivery_reported: BTreeSet<ChatId>,
    /// Chats whose report may have been lost with the last connection.
    delivery_unsure: BTreeSet<ChatId>,
    /// From `Welcome` to the first `SyncDone`: the chats `Chat` frames named, the sync's and
    /// those pushed, across a sync asked again. A group held here and not among them at
    /// `SyncDone` is one this account left or was taken out of meanwhile.
    listed_in_sync: Option<BTreeSet<ChatId>>,
    /// Something the views read changed since the last step.
    views_changed: bool,
    /// Usernames seen (members, system lines), so that a former member still has a name.
    names: HashMap<UserId, Username>,
    /// The local search index and what of it is to be stored.
    search: SearchState,
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
            old_epoch_in_store: false,
            nonce: None,
            liveness: liveness::Liveness::default(),
            early: early::Early::new(),
            chats: BTreeMap::new(),
            outbox: Vec::new(),
            next_order: 1,
            next_request: 1,
            pending_requests: Vec::new(),
            devices: None,
            frames: Vec::new(),
            writes: Vec::new(),
            queued: Vec::new(),
            events: Vec::new(),
            crypto: None,
            secrets: None,
            keys: KeyFlow::default(),
            sync_retry: retry::Retry::default(),
            privacy_retry: retry::Retry::default(),
            page_retry: retry::Retry::default(),
            opened: HashMap::new(),
            opened_at: HashMap::new(),
            replayed: HashSet::new(),
            waiting: HashMap::new(),
            sent_this_connection: BTreeSet::new(),
            clock_ms: 0,
            now_ms: 0,
            drafts: BTreeMap::new(),
            drafts_taken: BTreeMap::new(),
            hidden: BTreeSet::new(),
            settings: SettingsRecord::default(),
            privacy_unsent: false,
            device_settings: DeviceSettings::default(),
            recent_emoji: Vec::new(),
            skin_tone: merpati_words::SkinTone::Default,
            muted_chats: BTreeSet::new(),
            on_screen: None,
            unread_divider: None,
            watched: None,
            presence: HashMap::new(),
            typing_sent: HashMap::new(),
            delivery_moved: BTreeSet::new(),
            delivery_reported: BTreeSet::new(),
            delivery_unsure: BTreeSet::new(),
            listed_in_sync: None,
            views_changed: false,
            names: HashMap::new(),
            search: SearchState::default(),
        }
    }

    /// The signed-in account's id (`UserId(0)`, nobody's, before the first sign-in).
    fn my_id(&self) -> UserId {
        self.me.as_ref().map(|me| me.id).unwrap_or(UserId(0))
    }

    /// The members of a chat, if it is known.
    fn members(&self, chat_id: ChatId) -> Option<BTreeSet<UserId>> {
        let chat = self.chats.get(&chat_id)?;
        Some(crate::sorting::set_from(
            chat.info.members.iter().map(|member| member.id),
        ))
    }

    /// Remembers the usernames of these members.
    fn learn_names<'a>(&mut self, members: impl IntoIterator<Item = &'a Member>) {
        for member in members {
            self.names.insert(member.id, member.username.clone());
        }
    }
}

impl ChatState {
    fn new(info: ChatInfo, timeline: Timeline) -> ChatState {
        ChatState {
            receipts: ChatReceipts::restore(&info.receipts, &[]),
            info,
            timeline,
            annotations: Annotations::default(),
            delivered: Seq(0),
            typing: BTreeMap::new(),
            fetching: false,
            history: HistoryAsked::Not,
            described_at: Seq(0),
            joined_after: None,
        }
    }

    /// A chat as its record stored it.
    fn restore(record: ChatRecord) -> ChatState {
        let mut chat = ChatState::new(
            record.info,
            Timeline::with_positions(record.floor, record.synced),
        );
        chat.receipts = ChatReceipts::restore(&chat.info.receipts, &record.read_log);
        chat.delivered = record.delivered;
        chat
    }

    fn record(&self) -> ChatRecord {
        let mut info = self.info.clone();
        info.receipts = self.receipts.positions();
        ChatRecord {
            info,
            floor: self.timeline.floor(),
            synced: self.timeline.synced(),
            delivered: self.delivered,
            read_log: self.receipts.log(),
        }
    }

    /// The other members the message at `seq` went to, for its receipts: everyone listed
    /// but `me` and those added after it ([`Timeline::added_after`]), whose receipts never
    /// reach it.
    fn others_at(&self, me: UserId, seq: Seq) -> Vec<UserId> {
        let added_after = self.timeline.added_after(seq);
        self.info
            .members
            .iter()
            .map(|member| member.id)
            .filter(|id| *id != me && !added_after.contains(id))
            .collect()
    }
}
