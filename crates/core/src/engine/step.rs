//! What one engine step hands the shell — events, store writes and frames — and the one order
//! in which every shell carries them out.
//!
//! A step is whatever the engine did between two [`Engine::take_step`] calls: usually one
//! pushed input (a frame from the server, a person's action, a connection change). The order
//! lives here, once, because getting it wrong is silent: it only shows after a crash, as a
//! reused encryption ratchet or a message the device forgot it sent.

use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, ErrorCode, Member, RequestId, UserId};

use super::Engine;
use crate::store::StoreWrite;

/// Everything the engine produced since the last [`Engine::take_step`].
///
/// # The order
///
/// A shell carries out a step in this order, finishing each part before it starts the next:
///
/// 1. **`events`**: the shell's own part of each (each [`Event`] says what that is). Events
///    come first because they can decide where the writes go: after a passphrase sign-in,
///    [`Event::SignedIn`] is when the shell opens (or creates) the account's store, and the
///    same step's writes (the account record with its session token, the new device's keys)
///    belong in that store. [`Event::SessionExpired`] and [`Event::AuthFailed`] end the
///    session, and nothing of it is kept. Telling the person may wait until the step is done.
/// 2. **`writes`**: applied as one transaction, and waited for until durable.
/// 3. **`frames`**: sent in order, and only once the writes are durable, because a frame may
///    depend on them. A `Send` consumed a Megolm message index and a key share an Olm ratchet
///    step: had the frame left and the device stopped before the write landed, it would
///    restart from the older state and use that index or ratchet step a second time, which
///    end-to-end encryption must never do. `ToDeviceDone` lets the server drop a room key that
///    from then on only the device's store holds. A `Send` also never leaves before its outbox
///    entry is stored, so the server never holds a message the device forgot it wrote.
///
/// If the writes fail (the device's storage is full, say), the shell keeps the step and applies
/// the same writes again after a growing wait ([`crate::store_retry`]) until they are stored,
/// telling the person meanwhile; only then it sends the step's frames, and only then it takes
/// the next step. It never drops them and goes on: the engine in memory is already past them
/// (a chat's `synced` position, an outbox entry), and a later step that lands would make the
/// loss permanent — after a reload those messages would be missing, and never fetched again.
/// Frames go out only on the connection that was open when the step was taken; if it closed
/// meanwhile they are dropped, as on any lost connection: after it reconnects, the engine
/// sends again whatever is still needed (the outbox is encrypted afresh, keys are shared
/// again, the server repeats what was not marked done). A step whose session ended while it
/// waited (signed out) is abandoned with its store.
///
/// 4. **`views_changed`**: the views read the engine's queries again. A step may change
///    what they show without a write, a frame or an event — a member's read receipt, someone
///    typing, a presence — and the views must hear of it at once, not at the next step.
#[derive(Debug, Default, Clone, PartialEq)]
#[must_use = "a step's writes must be applied and its frames sent"]
pub struct Step {
    /// What the shell and the person should learn, in the order it happened.
    pub events: Vec<Event>,
    /// Store writes, to apply as one transaction before any of `frames` is sent.
    pub writes: Vec<StoreWrite>,
    /// Frames for the server, in order, once `writes` are durable.
    pub frames: Vec<ClientFrame>,
    /// Something the views read changed: they should read the queries again.
    pub views_changed: bool,
    /// The messages that entered the outbox in this step. The tabs of a browser share the
    /// outbox, and another tab may take back a message written earlier (deleted before it
    /// went) while this tab's copy still holds it: the shell makes sure any other message
    /// this step sends is still in the shared outbox. These, no other tab has seen.
    pub queued: Vec<ClientMsgId>,
}

impl Step {
    /// Whether the step produced nothing at all (not even a change the views must show).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.writes.is_empty()
            && self.frames.is_empty()
            && !self.views_changed
    }
}

/// Something the shell, or the person, should learn about. Each variant says what the shell
/// itself does about it (beyond telling the person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Authentication succeeded. After a sign-in with the passphrase, the shell opens (or
    /// creates) the account's store now, before this step's writes.
    SignedIn(Member),
    /// Authentication failed for good: the code blames the credentials or the request (e.g.
    /// [`ErrorCode::WrongPassphrase`], [`ErrorCode::UsernameTaken`]), and the engine dropped
    /// its credentials. The shell stops connecting: after a sign-in with the passphrase the
    /// person may try again; a stored session refused this way is signed out.
    AuthFailed(ErrorCode),
    /// Authentication met a transient failure ([`ErrorCode::is_transient`]: the server is
    /// busy, stopping, or failed inside). The engine kept its credentials, a session token as
    /// well as passphrase keys, and the next connection authenticates the same way again: the
    /// shell closes this connection and reconnects after backoff, as after any drop.
    AuthDeferred(ErrorCode),
    /// The stored session is no longer valid and the engine dropped it: the shell signs the
    /// device out (the person must sign in with the passphrase again).
    SessionExpired,
    /// The server went silent and did not answer when asked (or the sign-in was never
    /// answered): the connection is taken for lost. The shell closes it and connects again
    /// after backoff, as after any drop; nothing is lost (the outbox goes out again).
    ConnectionLost,
    /// The server speaks another version of the protocol ([`ErrorCode::UnsupportedVersion`]):
    /// this app is out of date, or the server was rolled back. Nothing is wrong with the
    /// credentials, and the engine keeps them: the shell stops connecting and keeps the store
    /// — its unsent messages and this device's keys — for the app the server serves, which a
    /// reload brings.
    OutOfDate,
    /// A `create_*` or `remove_member` request produced (or found) this chat.
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
    /// The server is going away; the shell reconnects no sooner than the hinted delay.
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
    /// The server refused a message for good (`SendFailed`). A text stays in the outbox,
    /// shown failed, for the person to retry; an edit, deletion or reaction is dropped (its
    /// optimistic effect disappears), so the person must hear why.
    SendFailed {
        /// The chat.
        chat_id: ChatId,
        /// The refused message.
        client_msg_id: ClientMsgId,
        /// Why: e.g. [`ErrorCode::NotYourMessage`], [`ErrorCode::Blocked`],
        /// [`ErrorCode::NoSuchChat`] (no longer a member).
        code: ErrorCode,
    },
    /// A request with nothing else to show for it succeeded (`set_blocked`: the block list
    /// the queries read is updated).
    RequestDone {
        /// The request.
        request: RequestId,
    },
}

impl Engine {
    /// Everything the engine produced since the last call, for the shell to carry out in the
    /// order [`Step`] documents. Call it after every input pushed in.
    pub fn take_step(&mut self) -> Step {
        self.report_delivery();
        let mut writes = std::mem::take(&mut self.writes);
        writes.extend(self.crypto_writes());
        writes.extend(self.search_writes());
        Step {
            events: std::mem::take(&mut self.events),
            writes,
            frames: std::mem::take(&mut self.frames),
            views_changed: std::mem::take(&mut self.views_changed),
            queued: std::mem::take(&mut self.queued),
        }
    }
}
