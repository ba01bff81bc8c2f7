//! One real client: the core engine and an in-memory store over a real WebSocket.
//!
//! [`SwarmClient::spawn`] starts a task (`task`) that owns the socket and the engine, the way
//! the browser app's connection service does: it connects, answers the challenge, feeds every
//! frame to the engine, carries out each engine step (events, store writes, then frames), and
//! after any disconnect waits as `merpati_core::reconnect::Backoff` says and tries again. A
//! handshake refused with HTTP 503 feeds its `Retry-After` to the backoff, as a `Goodbye`'s
//! `retry_after_ms` does; a sign-in the server defers (a transient refusal) is tried again on
//! a new connection after backoff. Callers talk to the task through a [`SwarmClient`] handle.
//!
//! Every `Ack` the client receives is recorded, so that fault tests can check that each
//! acknowledged message is on the server exactly once.
//!
//! Messages are end-to-end encrypted by the engine: before a chat's first send on each
//! connection it fetches the members' device lists, claims one-time keys and shares its
//! Megolm key, so a client can only send while the server answers those frames. What a
//! client shows (the [`Snapshot`]'s timelines) is what it decrypted, each item with its
//! `lock`.

mod task;
#[cfg(test)]
mod tests;

use merpati_core::{
    AccountRecord, ConnectionPhase, Engine, SendError, TimelineItem, crypto::KdfParams,
    e2e::CryptoRecord, reconnect::Backoff,
};
use merpati_protocol::{
    ChatId, ClientMsgId, ErrorCode, Member, Seq, ServerFrame, UserId, Username,
};
use tokio::sync::{mpsc, oneshot, watch};

/// How a client proves who it is on its first connection.
#[derive(Debug, Clone)]
pub enum Join {
    /// Create the account.
    SignUp,
    /// The account exists.
    SignIn,
    /// Resume a session from what a browser's store holds ([`SwarmClient::stored_session`]):
    /// no key derivation and no signature, so thousands of connections are cheap to open.
    /// With the device's crypto records it is that device again (a reloaded page); without
    /// them it is another tab of that browser, which becomes a new device of the account
    /// from the account's stored secrets, as in the app.
    Resume(Box<StoredSession>),
}

/// What a signed-in client's store holds about its session: the account record (session
/// token and the account's secrets) and the device's end-to-end keys.
///
/// Never run two clients on one device's records at once: they would fork its Olm ratchets
/// and reuse its Megolm indexes (which is why each tab of the app is its own device).
#[derive(Clone)]
pub struct StoredSession {
    /// The account and its session token.
    pub account: AccountRecord,
    /// The device's crypto records, as the engine wrote them (`StoreWrite::PutCrypto`).
    pub crypto: Vec<CryptoRecord>,
}

impl std::fmt::Debug for StoredSession {
    // The records hold the device's private keys: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("me", &self.account.me)
            .field("crypto_records", &self.crypto.len())
            .finish_non_exhaustive()
    }
}

/// What a client needs to start.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `ws://host:port/ws`.
    pub url: String,
    /// The account.
    pub username: Username,
    /// Its passphrase.
    pub passphrase: String,
    /// Sign up or sign in.
    pub join: Join,
    /// Argon2id cost; load tests use a cheap one (the server never sees the difference).
    pub kdf: KdfParams,
    /// Reconnect timing.
    pub backoff: Backoff,
}

/// Where a client stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The connection.
    pub phase: ConnectionPhase,
    /// Whether the account has signed in at least once.
    pub signed_in: bool,
    /// Why signing in failed for good, if it did (the client then stops).
    pub auth_error: Option<ErrorCode>,
    /// How many sign-ins the server deferred with a transient refusal (each is tried again on
    /// a new connection after backoff).
    pub deferred: u32,
    /// How many connections this client has opened.
    pub connections: u32,
    /// How many handshakes the server refused (HTTP 503).
    pub refused: u32,
}

/// An `Ack` as the client received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acked {
    /// The chat.
    pub chat_id: ChatId,
    /// The acknowledged message.
    pub client_msg_id: ClientMsgId,
    /// Where the server put it.
    pub seq: Seq,
}

/// A client's state at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Who is signed in (`None` before the first sign-in).
    pub me: Option<Member>,
    /// Each chat's timeline, in display order: each item's `text` and `lock` are what this
    /// device could decrypt.
    pub chats: Vec<(ChatId, Vec<TimelineItem>)>,
    /// Each chat's members as this device knows them (a removed member keeps the chat,
    /// read-only, without itself in it).
    pub members: Vec<(ChatId, Vec<UserId>)>,
    /// Messages not yet acknowledged (failed ones excluded).
    pub pending: usize,
    /// Every `Ack` received so far, in order (a resend's second `Ack` included).
    pub acks: Vec<Acked>,
    /// Every message delivered so far, live or in a catch-up page, in order received.
    pub deliveries: Vec<crate::history::Delivery>,
}

/// Something a person writes into a chat: given the engine and the time now (ms since the Unix
/// epoch), it queues one message (a text, a reply, an edit, a reaction, a forward...).
pub type Writing = Box<dyn FnOnce(&mut Engine, u64) -> Result<ClientMsgId, SendError> + Send>;

/// What a [`SwarmClient`] asks of its task.
enum Command {
    Write {
        writing: Writing,
        reply: oneshot::Sender<Result<ClientMsgId, SendError>>,
    },
    /// A request the server answers with a `Chat` frame (`Event::ChatReady`).
    Chat {
        request: ChatRequest,
        reply: oneshot::Sender<Result<ChatId, String>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
    StoredSession {
        reply: oneshot::Sender<Option<StoredSession>>,
    },
    Feed {
        frame: Box<ServerFrame>,
        reply: oneshot::Sender<()>,
    },
    Stop,
}

/// The requests answered with the chat they created or changed.
enum ChatRequest {
    Group { title: String, members: String },
    Direct { with: String },
    RemoveMember { chat: ChatId, user: UserId },
}

/// A handle to a running client task.
#[derive(Debug, Clone)]
pub struct SwarmClient {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
}

/// The client task has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client task has ended")]
pub struct Gone;

impl SwarmClient {
    /// Starts a client task on the current tokio runtime.
    pub fn spawn(options: ClientOptions) -> SwarmClient {
        let (commands, inbox) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status {
            phase: ConnectionPhase::Offline,
            signed_in: false,
            auth_error: None,
            deferred: 0,
            connections: 0,
            refused: 0,
        });
        tokio::spawn(task::run(options, inbox, status_tx));
        SwarmClient { commands, status }
    }

    /// The client's current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits until the client has signed in (or failed to for good).
    pub async fn signed_in(&mut self) -> Result<(), ErrorCode> {
        loop {
            let status = self.status.borrow_and_update().clone();
            if let Some(code) = status.auth_error {
                return Err(code);
            }
            if status.signed_in && status.phase == ConnectionPhase::Online {
                return Ok(());
            }
            if self.status.changed().await.is_err() {
                return Err(ErrorCode::Internal);
            }
        }
    }

    /// Queues a text message (to the outbox at once; sent when connected).
    pub async fn send(
        &self,
        chat: ChatId,
        text: impl Into<String>,
    ) -> Result<Result<ClientMsgId, SendError>, Gone> {
        let text = text.into();
        self.write(move |engine, now_ms| engine.send_text(chat, &text, now_ms))
            .await
    }

    /// Queues any message the engine writes — a reply, an edit, a reaction, a forward — as
    /// `writing` makes it, like [`SwarmClient::send`] does a text.
    pub async fn write(
        &self,
        writing: impl FnOnce(&mut Engine, u64) -> Result<ClientMsgId, SendError> + Send + 'static,
    ) -> Result<Result<ClientMsgId, SendError>, Gone> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Write {
                writing: Box::new(writing),
                reply,
            })
            .map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// Creates a group of the given (comma-separated) members.
    pub async fn create_group(
        &self,
        title: &str,
        members: &str,
    ) -> Result<Result<ChatId, String>, Gone> {
        self.chat_request(ChatRequest::Group {
            title: title.to_owned(),
            members: members.to_owned(),
        })
        .await
    }

    /// Starts (or finds) the 1:1 chat with `username`.
    pub async fn create_direct(&self, username: &str) -> Result<Result<ChatId, String>, Gone> {
        self.chat_request(ChatRequest::Direct {
            with: username.to_owned(),
        })
        .await
    }

    /// Takes `user` out of the group; answers once the server has done it.
    pub async fn remove_member(
        &self,
        chat: ChatId,
        user: UserId,
    ) -> Result<Result<ChatId, String>, Gone> {
        self.chat_request(ChatRequest::RemoveMember { chat, user })
            .await
    }

    async fn chat_request(&self, request: ChatRequest) -> Result<Result<ChatId, String>, Gone> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Chat { request, reply })
            .map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// Hands the engine a frame as if the server had sent it (and sends whatever the engine
    /// answers, when connected). Lets a test show a client frames the server would not
    /// deliver to it, such as a removed member's chat's newer messages.
    pub async fn feed(&self, frame: ServerFrame) -> Result<(), Gone> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Feed {
                frame: Box::new(frame),
                reply,
            })
            .map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// The client's timelines and outbox at this moment.
    pub async fn snapshot(&self) -> Result<Snapshot, Gone> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Snapshot { reply })
            .map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// The signed-in account's session and device keys as this client stores them (`None`
    /// before the first sign-in): what [`Join::Resume`] needs.
    pub async fn stored_session(&self) -> Result<Option<StoredSession>, Gone> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::StoredSession { reply })
            .map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }

    /// Stops the client task (closing its socket).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}
