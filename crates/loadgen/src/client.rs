//! One real client: the core engine and an in-memory store over a real WebSocket.
//!
//! [`SwarmClient::spawn`] starts a task that owns the socket and the engine, the way the
//! browser app's connection service does: it connects, answers the challenge, feeds every
//! frame to the engine, flushes the engine's frames and store writes, and after any
//! disconnect waits as `merpati_core::reconnect::Backoff` says and tries again. A handshake
//! refused with HTTP 503 feeds its `Retry-After` to the backoff, as a `Goodbye`'s
//! `retry_after_ms` does. Callers talk to the task through a [`SwarmClient`] handle.
//!
//! Every `Ack` the client receives is recorded, so that fault tests can check that each
//! acknowledged message is on the server exactly once.
//!
//! Messages are end-to-end encrypted by the engine: before a chat's first send on each
//! connection it fetches the members' device lists, claims one-time keys and shares its
//! Megolm key, so a client can only send while the server answers those frames. What a
//! client shows (the [`Snapshot`]'s timelines) is what it decrypted, each item with its
//! `lock`.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use merpati_core::{
    AccountRecord, ConnectionPhase, Engine, Event, MemoryStore, RequestError, SendError, Store,
    TimelineItem,
    crypto::{AccountKey, KdfParams},
    e2e::CryptoRecord,
    reconnect::Backoff,
};
use merpati_protocol::{
    ChatId, ClientMsgId, ErrorCode, Member, RequestId, Seq, ServerFrame, UserId, Username, decode,
    encode,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long opening a connection (TCP and WebSocket handshake) may take before it counts as
/// failed; a server under a storm may leave a SYN unanswered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's read buffer: small, because a swarm holds thousands of sockets
/// (tungstenite's default is 128 KiB each).
const READ_BUFFER_BYTES: usize = 4 * 1024;

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
    /// Why signing in failed, if it did (the client then stops).
    pub auth_error: Option<ErrorCode>,
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
}

enum Command {
    Send {
        chat: ChatId,
        text: String,
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
            connections: 0,
            refused: 0,
        });
        tokio::spawn(run(options, inbox, status_tx));
        SwarmClient { commands, status }
    }

    /// The client's current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits until the client has signed in (or failed to).
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
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Send {
                chat,
                text: text.into(),
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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct ClientTask {
    engine: Engine,
    store: MemoryStore,
    /// Chat requests waiting for their `Chat` frame.
    requests: HashMap<RequestId, oneshot::Sender<Result<ChatId, String>>>,
    acks: Vec<Acked>,
    backoff: Backoff,
    status: watch::Sender<Status>,
    stopping: bool,
}

async fn run(
    options: ClientOptions,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<Status>,
) {
    let mut task = ClientTask {
        engine: Engine::new(),
        store: MemoryStore::new(),
        requests: HashMap::new(),
        acks: Vec::new(),
        backoff: options.backoff.clone(),
        status,
        stopping: false,
    };
    if let Join::Resume(session) = options.join.clone() {
        let StoredSession { account, crypto } = *session;
        task.engine
            .restore(Some(account), Vec::new(), Vec::new(), Vec::new(), crypto);
        // Restoring writes nothing, but keep the store a true copy of the engine's state.
        task.apply_writes().await;
        task.handle_events();
    } else {
        match AccountKey::derive(&options.username, &options.passphrase, options.kdf) {
            Ok(key) => {
                if matches!(options.join, Join::SignIn) {
                    task.engine.sign_in(options.username.clone(), &key);
                } else {
                    task.engine.sign_up(options.username.clone(), &key);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot derive the account key");
                task.status
                    .send_modify(|status| status.auth_error = Some(ErrorCode::InvalidKey));
                return;
            }
        }
    }
    while !task.stopping && task.engine.has_credentials() {
        if let Some(socket) = task.connect(&options.url).await {
            task.status.send_modify(|status| status.connections += 1);
            task.engine.on_connected();
            task.publish();
            task.session(socket, &mut inbox).await;
            task.engine.on_disconnected();
            task.flush_without_socket().await;
        }
        if task.stopping || !task.engine.has_credentials() {
            break;
        }
        let delay = task.backoff.next_delay_ms(random_u32());
        let wake = tokio::time::sleep(Duration::from_millis(delay));
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = &mut wake => break,
                command = inbox.recv() => {
                    task.command(command);
                    task.flush_without_socket().await;
                    if task.stopping { break; }
                }
            }
        }
    }
}

/// The `Retry-After` of a refused handshake, in milliseconds (only the delay-seconds form).
fn retry_after_ms<T>(response: &tokio_tungstenite::tungstenite::http::Response<T>) -> Option<u64> {
    let seconds: u64 = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(seconds.saturating_mul(1_000))
}

impl ClientTask {
    /// Opens a WebSocket; on a 503 refusal the server's `Retry-After` goes to the backoff.
    async fn connect(&mut self, url: &str) -> Option<Socket> {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_message_size(Some(merpati_protocol::MAX_FRAME_BYTES))
            .max_frame_size(Some(merpati_protocol::MAX_FRAME_BYTES));
        let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok((socket, _))) => Some(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
                let hint = retry_after_ms(&response);
                tracing::debug!(status = %response.status(), ?hint, "handshake refused");
                if let Some(ms) = hint {
                    self.backoff.retry_after(ms);
                }
                self.status.send_modify(|status| status.refused += 1);
                None
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot connect");
                None
            }
            Err(_) => {
                tracing::debug!("connecting timed out");
                None
            }
        }
    }

    /// Serves one connection until it closes or the client stops.
    async fn session(&mut self, socket: Socket, inbox: &mut mpsc::UnboundedReceiver<Command>) {
        let (mut sink, mut stream) = socket.split();
        loop {
            tokio::select! {
                received = stream.next() => match received {
                    Some(Ok(Message::Binary(bytes))) => match decode::<ServerFrame>(&bytes) {
                        Ok(frame) => {
                            if let ServerFrame::Ack { chat_id, client_msg_id, seq, .. } = &frame {
                                self.acks.push(Acked {
                                    chat_id: *chat_id,
                                    client_msg_id: *client_msg_id,
                                    seq: *seq,
                                });
                            }
                            self.engine.handle_frame(frame)
                        }
                        Err(error) => tracing::warn!(%error, "undecodable frame from the server"),
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                command = inbox.recv() => self.command(command),
            }
            let mut frames = Vec::new();
            while let Some(frame) = self.engine.poll_frame() {
                frames.push(Message::Binary(encode(&frame).into()));
            }
            self.apply_writes().await;
            for frame in frames {
                if sink.feed(frame).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
            self.handle_events();
            if self.stopping {
                let _ = sink.close().await;
                return;
            }
        }
    }

    fn command(&mut self, command: Option<Command>) {
        match command {
            None | Some(Command::Stop) => self.stopping = true,
            Some(Command::Send { chat, text, reply }) => {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|since| since.as_millis() as u64)
                    .unwrap_or_default();
                let _ = reply.send(self.engine.send_text(chat, &text, now_ms));
            }
            Some(Command::Chat { request, reply }) => match self.chat_request(request) {
                Ok(request) => {
                    self.requests.insert(request, reply);
                }
                Err(error) => {
                    let _ = reply.send(Err(error.to_string()));
                }
            },
            Some(Command::StoredSession { reply }) => {
                // The memory store answers at once; its error type has no values.
                let account = self
                    .store
                    .account()
                    .now_or_never()
                    .and_then(Result::ok)
                    .flatten();
                let crypto = self
                    .store
                    .crypto()
                    .now_or_never()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let _ = reply.send(account.map(|account| StoredSession { account, crypto }));
            }
            Some(Command::Feed { frame, reply }) => {
                self.engine.handle_frame(*frame);
                let _ = reply.send(());
            }
            Some(Command::Snapshot { reply }) => {
                let chats: Vec<(ChatId, Vec<TimelineItem>)> = self
                    .engine
                    .chat_list()
                    .into_iter()
                    .map(|chat| (chat.id, self.engine.timeline(chat.id)))
                    .collect();
                let members = chats
                    .iter()
                    .filter_map(|(id, _)| {
                        let info = self.engine.chat(*id)?;
                        Some((*id, info.members.iter().map(|member| member.id).collect()))
                    })
                    .collect();
                let _ = reply.send(Snapshot {
                    me: self.engine.me().cloned(),
                    members,
                    chats,
                    pending: self.engine.pending_count(),
                    acks: self.acks.clone(),
                });
            }
        }
    }

    fn chat_request(&mut self, request: ChatRequest) -> Result<RequestId, RequestError> {
        match request {
            ChatRequest::Group { title, members } => self.engine.create_group(&title, &members),
            ChatRequest::Direct { with } => self.engine.create_direct(&with),
            ChatRequest::RemoveMember { chat, user } => self.engine.remove_member(chat, user),
        }
    }

    /// Applies the engine's store writes as one batch, as the app does with IndexedDB.
    async fn apply_writes(&mut self) {
        let writes = self.engine.take_writes();
        if !writes.is_empty() {
            // The memory store cannot fail (its error type has no values).
            let _ = self.store.apply(writes).await;
        }
    }

    async fn flush_without_socket(&mut self) {
        // Frames queued while offline are dropped by the engine on the next connect; the
        // outbox, not the frame queue, is what carries messages across connections.
        while self.engine.poll_frame().is_some() {}
        self.apply_writes().await;
        self.handle_events();
    }

    fn handle_events(&mut self) {
        for event in self.engine.take_events() {
            match event {
                Event::SignedIn(_) => {
                    self.backoff.reset();
                    self.status.send_modify(|status| status.signed_in = true);
                }
                Event::AuthFailed(code) => {
                    self.status
                        .send_modify(|status| status.auth_error = Some(code));
                }
                Event::SessionExpired => {
                    self.status
                        .send_modify(|status| status.auth_error = Some(ErrorCode::SessionExpired));
                }
                Event::ChatReady { request, chat_id } => {
                    if let Some(reply) = self.requests.remove(&request) {
                        let _ = reply.send(Ok(chat_id));
                    }
                }
                Event::RequestFailed {
                    request: Some(request),
                    code,
                } => {
                    if let Some(reply) = self.requests.remove(&request) {
                        let _ = reply.send(Err(format!("{code:?}")));
                    }
                }
                Event::RequestFailed {
                    request: None,
                    code,
                } => {
                    tracing::debug!(?code, "the server refused a request");
                }
                Event::KeyChanged { user } => {
                    // Nobody here compares safety numbers; a change is only worth a log line.
                    tracing::debug!(?user, "a member's account key changed");
                }
                Event::ServerGoingAway { retry_after_ms } => {
                    if let Some(ms) = retry_after_ms {
                        self.backoff.retry_after(u64::from(ms));
                    }
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let phase = self.engine.connection_phase();
        self.status.send_if_modified(|status| {
            let changed = status.phase != phase;
            status.phase = phase;
            changed
        });
    }
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // A failing random source only makes every client wait the full ceiling.
    if getrandom::fill(&mut bytes).is_err() {
        return u32::MAX;
    }
    u32::from_le_bytes(bytes)
}
