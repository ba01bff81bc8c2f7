//! One WebSocket connection: the session state machine.
//!
//! A session sends `Challenge`, waits for `Authenticate`, and once signed in serves requests
//! and forwards what [`FanOut`] delivers to it. One task does all of it with one `select!`:
//! the shutdown signal, eviction (too slow), delivered frames, received frames and an idle
//! timer. Requests are answered on the socket directly, in order; a request the protocol
//! refuses gets an `Error` (or `SendFailed`) frame and the session goes on. Nothing a peer
//! sends can panic it: every input is decoded, bounded and checked.
//!
//! Sends are paced by the session's token bucket: a `Send` that finds it empty is held, and
//! the socket is not read again until the bucket allows that `Send` — TCP then slows the
//! sender down. A session held back without a break for longer than the configured limit is
//! told `Goodbye { RateLimited }` and closed.
//!
//! The frames of end-to-end encryption (the key directory, to-device messages and the key
//! backup) are served by [`keys`]; the server only stores and forwards public keys and
//! ciphertext for them.

mod keys;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::Bytes;
use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::keys::DeviceKey;
use merpati_protocol::{
    ChatId, ChatKind, ClientFrame, ClientMsgId, DecodeError, Epoch, ErrorCode, MAX_BODY_BYTES,
    MAX_GROUP_MEMBERS, MAX_PAGE, MAX_TITLE_CHARS, Member, MessageFrame, NewChat, PROTOCOL_VERSION,
    RequestId, Seq, ServerFrame, UserId, Username,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Instrument;

use crate::Error;
use crate::admission::{AdmissionControl, ConnectionPermit, TokenBucket, jitter};
use crate::auth;
use crate::fanout::{FanOut, Frames, OnlineGuard, SessionId};
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::storage::{Account, Appended, ChatSnapshot, Page, Queued, Storage};

/// How long a connection may take to sign in.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(30);
/// After this long without hearing from a signed-in peer, ping it; after twice this, drop it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long one write may wait for a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the peer's answer to our Close before dropping the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Malformed frames tolerated in one session; the last one closes it.
const MAX_MALFORMED: u32 = 10;
/// Failed sign-in attempts tolerated in one session; the last one closes it.
const MAX_FAILED_SIGN_INS: u32 = 5;
/// When clients should come back after a shutdown: a random time in this range (milliseconds),
/// so that a restarted server does not get all of its clients back in the same instant.
const SHUTDOWN_RETRY_AFTER_MS: (u64, u64) = (1_000, 5_000);
/// When an evicted (too slow) client should come back (milliseconds, random in the range).
const EVICTED_RETRY_AFTER_MS: (u64, u64) = (500, 2_000);
/// How many of a chat's newest messages `Sync` sends when the client holds no position.
const NEWEST_PAGE: u32 = 100;

/// What every session shares: storage, the fan-out registry, the shutdown signal and
/// admission control.
#[derive(Debug)]
pub(crate) struct Gateway {
    storage: Storage,
    fanout: FanOut,
    shutdown: Shutdown,
    admission: AdmissionControl,
}

impl Gateway {
    pub(crate) fn new(
        storage: Storage,
        fanout: FanOut,
        shutdown: Shutdown,
        admission: AdmissionControl,
    ) -> Gateway {
        Gateway {
            storage,
            fanout,
            shutdown,
            admission,
        }
    }

    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub(crate) fn admission(&self) -> &AdmissionControl {
        &self.admission
    }

    fn counters(&self) -> &Counters {
        self.admission.counters()
    }

    /// One connection's session, to run to its end; `admitted` (the connection's place in the
    /// admission count and the shutdown's list) is held until then.
    ///
    /// Not an `async fn`: every connection's task holds this future for as long as it is
    /// connected, and an `async fn` would keep a second copy of the socket (its argument)
    /// beside the session it was moved into.
    pub(crate) fn serve(
        self: Arc<Self>,
        socket: WebSocket,
        admitted: Admitted,
    ) -> impl Future<Output = ()> + Send + 'static {
        let id = self.fanout.next_session_id();
        let span = tracing::info_span!("session", id = id.0, account = tracing::field::Empty);
        let session = match auth::random_bytes() {
            Ok(nonce) => {
                let sends = self.admission.send_limit().bucket();
                Some(Session {
                    id,
                    socket,
                    sends,
                    held: None,
                    held_since: None,
                    appends: VecDeque::new(),
                    gateway: self,
                    nonce,
                    me: None,
                    frames: None,
                    evicted: CancellationToken::new(),
                    malformed: 0,
                    failed_sign_ins: 0,
                    _admitted: admitted,
                })
            }
            Err(error) => {
                tracing::error!(parent: &span, %error, "cannot make a challenge; dropping the connection");
                None
            }
        };
        let mut session = session;
        async move {
            // Borrowed in place, not moved out: a move would be one more copy in the future.
            if let Some(session) = session.as_mut() {
                tracing::debug!("connected");
                session.run().await;
            }
        }
        .instrument(span)
    }

    /// The members of a chat, from the cache or storage.
    async fn members_of(&self, chat: ChatId) -> Result<Arc<[UserId]>, Error> {
        if let Some(members) = self.fanout.cached_members(chat) {
            return Ok(members);
        }
        let members = self.storage.member_ids(chat).await?;
        Ok(self.fanout.remember_members(chat, members))
    }

    async fn register(
        &self,
        nonce: &[u8; 32],
        username: Username,
        public_key: [u8; 32],
        signature: Vec<u8>,
    ) -> Result<(Member, [u8; 32], Option<[u8; 32]>), Error> {
        let key = auth::public_key(&public_key)?;
        // A registration that does not verify proves nothing about the key: invalid material.
        auth::verify(
            &key,
            AuthPurpose::Register,
            &username,
            nonce,
            &signature,
            ErrorCode::InvalidKey,
        )?;
        let token = auth::random_bytes()?;
        let token_hash = auth::token_hash(&token);
        let member = self
            .storage
            .register(username, public_key, token_hash)
            .await?;
        Ok((member, token_hash, Some(token)))
    }

    /// The account called `username`, or a `NoSuchUser` refusal.
    async fn existing_account(&self, username: &Username) -> Result<Account, Error> {
        self.storage
            .account_by_name(username.clone())
            .await?
            .ok_or_else(|| {
                Error::refused(
                    ErrorCode::NoSuchUser,
                    format!("there is no user {username}"),
                )
            })
    }

    async fn login(
        &self,
        nonce: &[u8; 32],
        username: Username,
        signature: Vec<u8>,
    ) -> Result<(Member, [u8; 32], Option<[u8; 32]>), Error> {
        let account = self.existing_account(&username).await?;
        let key = auth::public_key(&account.public_key)?;
        auth::verify(
            &key,
            AuthPurpose::Login,
            &username,
            nonce,
            &signature,
            ErrorCode::WrongPassphrase,
        )?;
        let token = auth::random_bytes()?;
        let token_hash = auth::token_hash(&token);
        self.storage
            .create_session(account.member.id, token_hash)
            .await?;
        Ok((account.member, token_hash, Some(token)))
    }

    async fn resume(
        &self,
        session_token: [u8; 32],
    ) -> Result<(Member, [u8; 32], Option<[u8; 32]>), Error> {
        let token_hash = auth::token_hash(&session_token);
        let member = self.storage.session(token_hash).await?.ok_or_else(|| {
            Error::refused(
                ErrorCode::SessionExpired,
                "the session is unknown or was ended; sign in again",
            )
        })?;
        Ok((member, token_hash, None))
    }

    /// Creates the chat; `true` if it is new (an existing 1:1 chat is returned as is).
    async fn create_chat(&self, me: &Member, chat: NewChat) -> Result<(ChatSnapshot, bool), Error> {
        let storage = &self.storage;
        match chat {
            NewChat::Direct { with } => {
                if with == me.username {
                    return Err(Error::refused(
                        ErrorCode::CannotChatWithSelf,
                        "a 1:1 chat needs another person",
                    ));
                }
                let other = self.existing_account(&with).await?;
                let (chat, created) = storage.create_direct(me.id, other.member.id).await?;
                if created {
                    tracing::info!(
                        chat = chat.id.0,
                        with = other.member.id.0,
                        "1:1 chat created"
                    );
                }
                Ok((chat, created))
            }
            NewChat::Group { title, members } => {
                let title = title.trim();
                let chars = title.chars().count();
                if chars == 0 || chars > MAX_TITLE_CHARS {
                    return Err(Error::refused(
                        ErrorCode::InvalidTitle,
                        format!("a group title has 1 to {MAX_TITLE_CHARS} characters"),
                    ));
                }
                let mut seen = HashSet::new();
                let names: Vec<Username> = members
                    .into_iter()
                    .filter(|name| *name != me.username && seen.insert(name.clone()))
                    .collect();
                if names.len() + 1 > MAX_GROUP_MEMBERS {
                    return Err(Error::refused(
                        ErrorCode::TooManyMembers,
                        format!("a group has at most {MAX_GROUP_MEMBERS} members"),
                    ));
                }
                let members = storage.accounts_by_names(names).await?;
                let ids = members.iter().map(|member| member.id).collect();
                let chat = storage.create_group(me.id, title.to_owned(), ids).await?;
                tracing::info!(
                    chat = chat.id.0,
                    members = chat.members.len(),
                    "group created"
                );
                Ok((chat, true))
            }
        }
    }

    async fn add_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        username: Username,
    ) -> Result<ChatSnapshot, Error> {
        let storage = &self.storage;
        // Checked here first so that a stranger learns nothing, not even whether the user
        // exists; the writer checks again inside its transaction.
        let chat = storage
            .chat(chat_id)
            .await?
            .filter(|chat| chat.has_member(me.id))
            .ok_or_else(|| {
                Error::refused(
                    ErrorCode::NoSuchChat,
                    format!("chat {} does not exist or you are not a member", chat_id.0),
                )
            })?;
        if chat.kind != ChatKind::Group {
            return Err(Error::refused(
                ErrorCode::NotAGroup,
                "only groups take new members",
            ));
        }
        let account = self.existing_account(&username).await?;
        let chat = storage.add_member(chat_id, me.id, account.member).await?;
        tracing::info!(chat = chat_id.0, added = %username, "member added");
        Ok(chat)
    }

    /// Takes `user` out of a group; the group afterwards and who left.
    async fn remove_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<(ChatSnapshot, Member), Error> {
        // The writer checks membership and kind inside its transaction: a stranger learns
        // only NoSuchChat, whatever `user` names.
        let (chat, removed) = self.storage.remove_member(chat_id, me.id, user).await?;
        // At once, so that no message stored from now on is fanned out to the one removed.
        self.fanout.set_members(chat.id, chat.member_ids());
        tracing::info!(chat = chat_id.0, removed = removed.id.0, "member removed");
        Ok((chat, removed))
    }

    /// Tells every account sharing a chat with `user`, and `user`'s other sessions, that
    /// `user`'s devices changed, so they query its keys again before encrypting for it.
    async fn devices_changed(&self, user: UserId, skip: SessionId) {
        match self.storage.chat_partners(user).await {
            Ok(partners) => {
                let frame = encode(&ServerFrame::DevicesChanged { user });
                self.fanout.deliver(&partners, &frame, Some(skip));
            }
            // The change is stored all the same; partners see it at their next query.
            Err(error) => tracing::warn!(%error, "cannot announce a device change"),
        }
    }

    /// Pushes a created or changed chat to every session of its members but `skip`; each
    /// member gets their own read position.
    fn push_chat(&self, chat: &ChatSnapshot, skip: SessionId) {
        self.fanout.set_members(chat.id, chat.member_ids());
        for (member, _) in &chat.members {
            let frame = ServerFrame::Chat {
                request: None,
                chat: chat.info_for(member.id),
            };
            self.fanout
                .deliver(&[member.id], &encode(&frame), Some(skip));
        }
    }
}

/// Encodes a frame for the socket.
fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(merpati_protocol::encode(frame))
}

/// The socket failed or timed out: the session ends without further ado.
#[derive(Debug)]
struct Gone;

/// What the session does after handling an event.
#[derive(Debug)]
enum Flow {
    Continue,
    /// Send a Close frame with this code and reason, then end.
    Close(u16, &'static str),
    /// The peer is gone; just end.
    Ended,
}

enum Event {
    Shutdown,
    Evicted,
    Deliver(Option<Bytes>),
    /// The oldest message waiting for its commit has its outcome.
    Stored(Result<Appended, Error>),
    /// The held `Send` may go now.
    SendReady,
    Received(Option<Result<Message, axum::Error>>),
    Idle,
}

/// A `Send` waiting for the session's send rate.
struct HeldSend {
    chat_id: ChatId,
    client_msg_id: ClientMsgId,
    body: Vec<u8>,
}

/// The account a session is signed in as.
struct SignedIn {
    member: Member,
    token_hash: [u8; 32],
    /// The device this connection published keys for; `None` until `PublishKeys`.
    device: Option<DeviceKey>,
    _online: OnlineGuard,
}

struct Session {
    id: SessionId,
    socket: WebSocket,
    /// This session's send rate.
    sends: TokenBucket,
    /// A `Send` waiting for a token; while there is one, the socket is not read.
    held: Option<HeldSend>,
    /// Since when sends have been held back without a break.
    held_since: Option<Instant>,
    /// Messages queued for the writer, oldest first, waiting for their commit; acknowledged
    /// and fanned out in this order. While `sends_in_flight` wait, the socket is not read.
    appends: VecDeque<InFlight>,
    gateway: Arc<Gateway>,
    nonce: [u8; 32],
    me: Option<SignedIn>,
    /// Frames delivered by the fan-out; `None` until signed in.
    frames: Option<Frames>,
    evicted: CancellationToken,
    malformed: u32,
    failed_sign_ins: u32,
    /// Dropped when the session ends.
    _admitted: Admitted,
}

/// What a connection holds while its session runs: its place among the admitted connections
/// and among the sessions a shutdown waits for.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// Counts the connection as open.
    _permit: ConnectionPermit,
    /// Makes the shutdown wait for this session.
    _running: TaskTrackerToken,
}

impl Admitted {
    pub(crate) fn new(permit: ConnectionPermit, running: TaskTrackerToken) -> Admitted {
        Admitted {
            _permit: permit,
            _running: running,
        }
    }
}

/// A message handed to the writer, waiting for its commit.
#[derive(Debug)]
struct InFlight {
    chat_id: ChatId,
    client_msg_id: ClientMsgId,
    sender: UserId,
    body: Arc<Vec<u8>>,
    stored: Queued<Appended>,
}

/// The outcome of the oldest message waiting for its commit, or never when none waits.
async fn next_stored(appends: &mut VecDeque<InFlight>) -> Result<Appended, Error> {
    match appends.front_mut() {
        Some(oldest) => (&mut oldest.stored).await,
        None => std::future::pending().await,
    }
}

/// The next delivered frame, or never before sign-in.
async fn next_delivery(frames: &mut Option<Frames>) -> Option<Bytes> {
    match frames {
        Some(frames) => frames.recv().await,
        None => std::future::pending().await,
    }
}

/// Completes at `at`, or never.
async fn wake_at(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a receive error is the WebSocket layer refusing an oversized message.
fn is_too_large(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}

/// The request id a client frame carries, if any.
fn request_of(frame: &ClientFrame) -> Option<RequestId> {
    match frame {
        ClientFrame::CreateChat { request, .. }
        | ClientFrame::AddMember { request, .. }
        | ClientFrame::QueryKeys { request, .. }
        | ClientFrame::ClaimKeys { request, .. }
        | ClientFrame::SendToDevice { request, .. }
        | ClientFrame::PutBackup { request, .. }
        | ClientFrame::FetchBackup { request, .. }
        | ClientFrame::RemoveMember { request, .. } => Some(*request),
        ClientFrame::Authenticate { .. }
        | ClientFrame::Send { .. }
        | ClientFrame::Sync { .. }
        | ClientFrame::Fetch { .. }
        | ClientFrame::History { .. }
        | ClientFrame::MarkRead { .. }
        | ClientFrame::Logout
        | ClientFrame::PublishKeys { .. }
        | ClientFrame::ToDeviceDone { .. } => None,
    }
}

impl Session {
    async fn run(&mut self) {
        match self.drive().await {
            Flow::Close(code, reason) => {
                tracing::info!(code, reason, "closing the connection");
                self.close(code, reason).await;
            }
            Flow::Ended | Flow::Continue => tracing::debug!("connection ended"),
        }
    }

    async fn drive(&mut self) -> Flow {
        let challenge = ServerFrame::Challenge {
            version: PROTOCOL_VERSION,
            nonce: self.nonce,
            epoch: self.gateway.storage.epoch(),
        };
        if self.send(&challenge).await.is_err() {
            return Flow::Ended;
        }
        // Before sign-in the deadline is fixed from connecting: sending junk cannot extend it.
        let idle = tokio::time::sleep(SIGN_IN_TIMEOUT);
        tokio::pin!(idle);
        let mut pinged = false;
        let in_flight_limit = self.gateway.admission.send_limit().in_flight;
        loop {
            let send_ready = match self.held {
                Some(_) => Some(self.sends.ready_at(Instant::now())),
                None => None,
            };
            // Not read while a Send is held, or while enough wait for their commit: that is
            // the backpressure.
            let readable = self.held.is_none() && self.appends.len() < in_flight_limit;
            let event = tokio::select! {
                biased;
                () = self.gateway.shutdown.triggered() => Event::Shutdown,
                () = self.evicted.cancelled() => Event::Evicted,
                stored = next_stored(&mut self.appends) => Event::Stored(stored),
                frame = next_delivery(&mut self.frames) => Event::Deliver(frame),
                () = wake_at(send_ready) => Event::SendReady,
                message = self.socket.recv(), if readable => Event::Received(message),
                () = &mut idle => Event::Idle,
            };
            let flow = match event {
                // Every arm but a delivery (the hot path) awaits a boxed future: they would
                // otherwise make each connection's future, idle or not, as large as the largest.
                // (A delivery's send is smaller than the wait above: boxing it saves nothing.)
                Event::Shutdown => {
                    let (min, max) = SHUTDOWN_RETRY_AFTER_MS;
                    Box::pin(self.goodbye(ErrorCode::ShuttingDown, jitter(min, max))).await;
                    Ok(Flow::Close(close_code::AWAY, "the server is shutting down"))
                }
                // A closed queue means the registry let go of this session: same as eviction.
                Event::Evicted | Event::Deliver(None) => {
                    let (min, max) = EVICTED_RETRY_AFTER_MS;
                    Box::pin(self.goodbye(ErrorCode::ServerBusy, jitter(min, max))).await;
                    Ok(Flow::Close(
                        close_code::AGAIN,
                        "too slow to receive; reconnect and sync",
                    ))
                }
                Event::Deliver(Some(frame)) => {
                    self.send_bytes(frame).await.map(|()| Flow::Continue)
                }
                Event::Stored(outcome) => match self.appends.pop_front() {
                    Some(append) => Box::pin(self.finish_append(append, outcome)).await,
                    None => Ok(Flow::Continue),
                },
                Event::SendReady => {
                    // The peer is there, only slowed down: not idle.
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    pinged = false;
                    Box::pin(self.release_held()).await
                }
                Event::Received(None) => Ok(Flow::Ended),
                Event::Received(Some(Err(error))) => {
                    if is_too_large(&error) {
                        Box::pin(self.too_large()).await
                    } else {
                        tracing::debug!(%error, "receive failed");
                        Ok(Flow::Ended)
                    }
                }
                Event::Received(Some(Ok(message))) => {
                    let flow = self.on_message(message).await;
                    if self.me.is_some() {
                        idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                        pinged = false;
                    }
                    flow
                }
                Event::Idle if self.me.is_none() => {
                    Ok(Flow::Close(close_code::POLICY, "sign-in took too long"))
                }
                Event::Idle if pinged => {
                    tracing::info!("peer stopped answering; dropping the connection");
                    Ok(Flow::Ended)
                }
                Event::Idle => {
                    pinged = true;
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    Box::pin(self.send_message(Message::Ping(Bytes::new())))
                        .await
                        .map(|()| Flow::Continue)
                }
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(flow) => return flow,
                Err(Gone) => return Flow::Ended,
            }
        }
    }

    // ---- the socket ----

    async fn send_message(&mut self, message: Message) -> Result<(), Gone> {
        let write = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(message));
        tokio::select! {
            biased;
            written = write => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "send failed");
                    Err(Gone)
                }
                Err(_) => {
                    tracing::info!("peer does not read; dropping the connection");
                    Err(Gone)
                }
            },
            // A peer so far behind that it was evicted is not worth waiting for.
            () = self.evicted.cancelled() => {
                tracing::info!("evicted while waiting to write; dropping the connection");
                Err(Gone)
            }
        }
    }

    async fn send_bytes(&mut self, frame: Bytes) -> Result<(), Gone> {
        self.send_message(Message::Binary(frame)).await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Gone> {
        self.send_bytes(encode(frame)).await
    }

    /// Sends the error frame for `error`, logging faults of the server.
    async fn send_error(&mut self, request: Option<RequestId>, error: &Error) -> Result<(), Gone> {
        match error {
            Error::Refused { .. } => tracing::debug!(%error, "request refused"),
            _ => tracing::warn!(%error, "request failed"),
        }
        self.send(&ServerFrame::Error {
            request,
            code: error.code(),
            detail: error.client_detail(),
        })
        .await
    }

    async fn refuse(
        &mut self,
        request: Option<RequestId>,
        code: ErrorCode,
        detail: impl Into<String>,
    ) -> Result<Flow, Gone> {
        self.send_error(request, &Error::refused(code, detail))
            .await?;
        Ok(Flow::Continue)
    }

    async fn goodbye(&mut self, code: ErrorCode, retry_after_ms: u64) {
        let _ = self
            .send(&ServerFrame::Goodbye {
                code,
                retry_after_ms: Some(u32::try_from(retry_after_ms).unwrap_or(u32::MAX)),
            })
            .await;
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        if self
            .send_message(Message::Close(Some(frame)))
            .await
            .is_err()
        {
            return;
        }
        // Let the peer answer our Close, so the connection ends cleanly rather than with a
        // reset that could swallow the Close before the peer reads it.
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }

    async fn too_large(&mut self) -> Result<Flow, Gone> {
        self.send_error(
            None,
            &Error::refused(
                ErrorCode::FrameTooLarge,
                format!(
                    "a frame may have at most {} bytes",
                    merpati_protocol::MAX_FRAME_BYTES
                ),
            ),
        )
        .await?;
        Ok(Flow::Close(close_code::SIZE, "frame too large"))
    }

    async fn malformed(&mut self, detail: String) -> Result<Flow, Gone> {
        self.malformed += 1;
        tracing::debug!(count = self.malformed, %detail, "malformed frame");
        self.send_error(None, &Error::refused(ErrorCode::Malformed, detail))
            .await?;
        if self.malformed >= MAX_MALFORMED {
            return Ok(Flow::Close(close_code::POLICY, "too many malformed frames"));
        }
        Ok(Flow::Continue)
    }

    // ---- frames ----

    /// Runs a received message in a box as large as its handler needs (see `on_frame`).
    async fn on_message(&mut self, message: Message) -> Result<Flow, Gone> {
        match message {
            Message::Binary(bytes) => match merpati_protocol::decode::<ClientFrame>(&bytes) {
                Ok(frame) => Box::pin(self.on_frame(frame)).await,
                Err(DecodeError::TooLarge(_)) => Box::pin(self.too_large()).await,
                Err(DecodeError::Malformed(error)) => {
                    Box::pin(self.malformed(format!("cannot decode the frame: {error}"))).await
                }
            },
            Message::Text(_) => {
                Box::pin(
                    self.malformed("text frames are not part of the protocol; send binary".into()),
                )
                .await
            }
            Message::Ping(_) | Message::Pong(_) => Ok(Flow::Continue),
            // The WebSocket layer answers a Close by itself; the next receive ends the stream.
            Message::Close(_) => Ok(Flow::Continue),
        }
    }

    // Every request runs boxed, in a box as large as its own handler needs: this future is
    // held by each connection while its request waits for storage, and a surge of sign-ups
    // has thousands waiting at once (the peak heap is what the process keeps afterwards).
    async fn on_frame(&mut self, frame: ClientFrame) -> Result<Flow, Gone> {
        let Some(me) = self.me.as_ref().map(|me| me.member.clone()) else {
            return match frame {
                ClientFrame::Authenticate { version, method } => {
                    Box::pin(self.authenticate(version, method)).await
                }
                other => {
                    let request = request_of(&other);
                    Box::pin(self.refuse(request, ErrorCode::NotAuthenticated, "sign in first"))
                        .await
                }
            };
        };
        match frame {
            ClientFrame::Authenticate { .. } => {
                Box::pin(self.refuse(None, ErrorCode::Malformed, "already signed in")).await
            }
            ClientFrame::CreateChat { request, chat } => {
                let created = Box::pin(self.gateway.create_chat(&me, chat)).await;
                Box::pin(self.answer_chat(&me, request, created)).await
            }
            ClientFrame::AddMember {
                request,
                chat_id,
                username,
            } => {
                let changed = Box::pin(self.gateway.add_member(&me, chat_id, username))
                    .await
                    .map(|chat| (chat, true));
                Box::pin(self.answer_chat(&me, request, changed)).await
            }
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                body,
            } => {
                let now = Instant::now();
                if self.sends.try_take(now) {
                    // Within its rate again: whatever holding there was is over.
                    self.held_since = None;
                    Box::pin(self.send_chat_message(&me, chat_id, client_msg_id, body)).await
                } else {
                    Counters::bump(&self.gateway.counters().sends_held);
                    self.held_since.get_or_insert(now);
                    self.held = Some(HeldSend {
                        chat_id,
                        client_msg_id,
                        body,
                    });
                    Ok(Flow::Continue)
                }
            }
            ClientFrame::Sync { epoch, positions } => {
                Box::pin(self.sync(&me, epoch, positions)).await
            }
            ClientFrame::Fetch {
                chat_id,
                after,
                limit,
            } => {
                Box::pin(async {
                    let page = self
                        .gateway
                        .storage
                        .read_after(chat_id, Some(me.id), after, limit.min(MAX_PAGE))
                        .await;
                    self.answer_page(chat_id, page).await
                })
                .await
            }
            ClientFrame::History {
                chat_id,
                before,
                limit,
            } => {
                Box::pin(async {
                    let page = self
                        .gateway
                        .storage
                        .read_before(chat_id, Some(me.id), before, limit.min(MAX_PAGE))
                        .await;
                    self.answer_page(chat_id, page).await
                })
                .await
            }
            ClientFrame::MarkRead { chat_id, seq } => {
                Box::pin(self.mark_read(&me, chat_id, seq)).await
            }
            ClientFrame::Logout => Box::pin(self.logout()).await,
            ClientFrame::RemoveMember {
                request,
                chat_id,
                user,
            } => Box::pin(self.remove_member(&me, request, chat_id, user)).await,
            ClientFrame::PublishKeys {
                device,
                one_time_keys,
                fallback_key,
            } => Box::pin(self.publish_keys(&me, device, one_time_keys, fallback_key)).await,
            ClientFrame::QueryKeys { request, users } => {
                Box::pin(self.query_keys(request, users)).await
            }
            ClientFrame::ClaimKeys { request, devices } => {
                Box::pin(self.claim_keys(request, devices)).await
            }
            ClientFrame::SendToDevice { request, messages } => {
                Box::pin(self.send_to_device(&me, request, messages)).await
            }
            ClientFrame::ToDeviceDone { ids } => Box::pin(self.acknowledge_to_device(ids)).await,
            ClientFrame::PutBackup { request, entries } => {
                Box::pin(self.put_backup(&me, request, entries)).await
            }
            ClientFrame::FetchBackup { request, after } => {
                Box::pin(self.fetch_backup(&me, request, after)).await
            }
        }
    }

    /// Sends the held `Send` once the rate allows it, or closes a session that has been held
    /// back for too long.
    async fn release_held(&mut self) -> Result<Flow, Gone> {
        let now = Instant::now();
        let limit = self.gateway.admission.send_limit();
        if self
            .held_since
            .is_some_and(|since| now.saturating_duration_since(since) > limit.hold_limit)
        {
            Counters::bump(&self.gateway.counters().sessions_rate_limited);
            tracing::info!("sending too fast for too long; closing the connection");
            // The held message was not stored; the client resends it when it comes back.
            self.held = None;
            self.goodbye(ErrorCode::RateLimited, u64::from(limit.retry_after_ms()))
                .await;
            return Ok(Flow::Close(
                close_code::POLICY,
                "sending too fast; slow down and reconnect later",
            ));
        }
        if !self.sends.try_take(now) {
            return Ok(Flow::Continue);
        }
        let (Some(held), Some(me)) = (
            self.held.take(),
            self.me.as_ref().map(|me| me.member.clone()),
        ) else {
            return Ok(Flow::Continue);
        };
        self.send_chat_message(&me, held.chat_id, held.client_msg_id, held.body)
            .await
    }

    // ---- signing in ----

    async fn authenticate(&mut self, version: u16, method: AuthMethod) -> Result<Flow, Gone> {
        if version != PROTOCOL_VERSION {
            self.send_error(
                None,
                &Error::refused(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "this server speaks protocol version {PROTOCOL_VERSION}, not {version}"
                    ),
                ),
            )
            .await?;
            return Ok(Flow::Close(
                close_code::POLICY,
                "unsupported protocol version",
            ));
        }
        let outcome = match method {
            AuthMethod::Register {
                username,
                public_key,
                signature,
            } => {
                self.gateway
                    .register(&self.nonce, username, public_key, signature)
                    .await
            }
            AuthMethod::Login {
                username,
                signature,
            } => self.gateway.login(&self.nonce, username, signature).await,
            AuthMethod::Resume { session_token } => self.gateway.resume(session_token).await,
        };
        match outcome {
            Ok((member, token_hash, session_token)) => {
                tracing::Span::current().record("account", member.id.0);
                tracing::info!(username = %member.username, "signed in");
                // Go online before Welcome, so nothing sent to the account from now on is missed.
                let online = self.gateway.fanout.join(member.id, self.id);
                self.frames = Some(online.frames);
                self.evicted = online.evicted;
                self.me = Some(SignedIn {
                    member: member.clone(),
                    token_hash,
                    device: None,
                    _online: online.guard,
                });
                self.send(&ServerFrame::Welcome {
                    me: member,
                    session_token,
                })
                .await?;
                Ok(Flow::Continue)
            }
            Err(error) => {
                self.send_error(None, &error).await?;
                let code = error.code();
                if code.closes_connection() {
                    return Ok(Flow::Close(close_code::POLICY, "sign in again"));
                }
                if code != ErrorCode::Internal {
                    self.failed_sign_ins += 1;
                    if self.failed_sign_ins >= MAX_FAILED_SIGN_INS {
                        return Ok(Flow::Close(
                            close_code::POLICY,
                            "too many failed sign-in attempts",
                        ));
                    }
                }
                Ok(Flow::Continue)
            }
        }
    }

    async fn logout(&mut self) -> Result<Flow, Gone> {
        let Some((me, token_hash, device)) = self
            .me
            .as_ref()
            .map(|me| (me.member.id, me.token_hash, me.device))
        else {
            return Ok(Flow::Continue);
        };
        // A signed-out browser deletes its keys, so its device is gone for good: drop it from
        // the directory before the session, so that a failure leaves it signed in to retry.
        if let Some(device) = device {
            match self.gateway.storage.delete_device(me, device).await {
                Ok(true) => self.gateway.devices_changed(me, self.id).await,
                Ok(false) => {}
                Err(error) => {
                    self.send_error(None, &error).await?;
                    return Ok(Flow::Continue);
                }
            }
        }
        match self.gateway.storage.delete_session(token_hash).await {
            Ok(()) => {
                tracing::info!("signed out");
                Ok(Flow::Close(close_code::NORMAL, "signed out"))
            }
            Err(error) => {
                self.send_error(None, &error).await?;
                Ok(Flow::Continue)
            }
        }
    }

    // ---- chats ----

    /// Answers `CreateChat` or `AddMember`, and pushes a new or changed chat to its members.
    async fn answer_chat(
        &mut self,
        me: &Member,
        request: RequestId,
        outcome: Result<(ChatSnapshot, bool), Error>,
    ) -> Result<Flow, Gone> {
        match outcome {
            Ok((chat, changed)) => {
                if changed {
                    self.gateway.push_chat(&chat, self.id);
                }
                self.send(&ServerFrame::Chat {
                    request: Some(request),
                    chat: chat.info_for(me.id),
                })
                .await?;
            }
            Err(error) => self.send_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `RemoveMember`: the group goes to the one who asked, to the remaining members
    /// and to the one removed, whose `ChatInfo` no longer lists them.
    async fn remove_member(
        &mut self,
        me: &Member,
        request: RequestId,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<Flow, Gone> {
        let removed = self.gateway.remove_member(me, chat_id, user).await;
        if let Ok((chat, removed)) = &removed {
            let frame = encode(&ServerFrame::Chat {
                request: None,
                chat: chat.info_for(removed.id),
            });
            self.gateway
                .fanout
                .deliver(&[removed.id], &frame, Some(self.id));
        }
        let changed = removed.map(|(chat, _)| (chat, true));
        self.answer_chat(me, request, changed).await
    }

    // ---- messages ----

    async fn send_chat_message(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        client_msg_id: ClientMsgId,
        body: Vec<u8>,
    ) -> Result<Flow, Gone> {
        if body.len() > MAX_BODY_BYTES {
            self.send(&ServerFrame::SendFailed {
                chat_id,
                client_msg_id,
                code: ErrorCode::MessageTooLarge,
            })
            .await?;
            return Ok(Flow::Continue);
        }
        // Shared with the writer so the body is not copied; it comes back once stored.
        let body = Arc::new(body);
        match self
            .gateway
            .storage
            .queue_append(chat_id, client_msg_id, me.id, Arc::clone(&body))
            .await
        {
            Ok(stored) => self.appends.push_back(InFlight {
                chat_id,
                client_msg_id,
                sender: me.id,
                body,
                stored,
            }),
            // Not queued: the client keeps the message and resends it.
            Err(error) => self.send_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers a message once its transaction committed (or failed): `Ack` and fan-out, or
    /// `SendFailed`.
    async fn finish_append(
        &mut self,
        append: InFlight,
        outcome: Result<Appended, Error>,
    ) -> Result<Flow, Gone> {
        let InFlight {
            chat_id,
            client_msg_id,
            sender,
            body,
            stored: _,
        } = append;
        let appended = match outcome {
            Ok(appended) => appended,
            Err(error @ Error::Refused { .. }) => {
                tracing::debug!(chat = chat_id.0, %error, "message refused");
                self.send(&ServerFrame::SendFailed {
                    chat_id,
                    client_msg_id,
                    code: error.code(),
                })
                .await?;
                return Ok(Flow::Continue);
            }
            // Not stored, but not refused either: the client keeps it and may resend.
            Err(error) => {
                self.send_error(None, &error).await?;
                return Ok(Flow::Continue);
            }
        };
        if appended.newly_stored {
            Counters::bump(&self.gateway.counters().messages_stored);
        }
        self.send(&ServerFrame::Ack {
            chat_id,
            client_msg_id,
            seq: appended.seq,
            sent_at_ms: appended.sent_at_ms,
        })
        .await?;
        if !appended.newly_stored {
            tracing::debug!(
                chat = chat_id.0,
                seq = appended.seq.0,
                "resend acknowledged again"
            );
            return Ok(Flow::Continue);
        }
        let body = Arc::try_unwrap(body).unwrap_or_else(|shared| shared.as_ref().clone());
        let frame = encode(&ServerFrame::Message(MessageFrame {
            chat_id,
            seq: appended.seq,
            client_msg_id,
            sender,
            sent_at_ms: appended.sent_at_ms,
            body,
        }));
        match self.gateway.members_of(chat_id).await {
            Ok(members) => self.gateway.fanout.deliver(&members, &frame, None),
            // Stored and acknowledged all the same: members catch up from storage.
            Err(error) => tracing::warn!(chat = chat_id.0, %error, "cannot fan a message out"),
        }
        Ok(Flow::Continue)
    }

    async fn mark_read(&mut self, me: &Member, chat_id: ChatId, seq: Seq) -> Result<Flow, Gone> {
        match self.gateway.storage.mark_read(chat_id, me.id, seq).await {
            Ok(Some(read)) => {
                let frame = encode(&ServerFrame::ReadUpTo {
                    chat_id,
                    user: me.id,
                    seq: read,
                });
                match self.gateway.members_of(chat_id).await {
                    Ok(members) => self.gateway.fanout.deliver(&members, &frame, None),
                    Err(error) => tracing::warn!(chat = chat_id.0, %error, "cannot fan a read out"),
                }
            }
            Ok(None) => {}
            Err(error) => self.send_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    // ---- catching up ----

    async fn sync(
        &mut self,
        me: &Member,
        epoch: Option<Epoch>,
        positions: Vec<(ChatId, Seq)>,
    ) -> Result<Flow, Gone> {
        let storage = self.gateway.storage.clone();
        let chats = match storage.chats_of(me.id).await {
            Ok(chats) => chats,
            Err(error) => {
                self.send_error(None, &error).await?;
                return Ok(Flow::Continue);
            }
        };
        for chat in &chats {
            self.send(&ServerFrame::Chat {
                request: None,
                chat: chat.info_for(me.id),
            })
            .await?;
        }
        // Positions from another epoch describe another database: ignore them all.
        let positions: HashMap<ChatId, Seq> = if epoch == Some(storage.epoch()) {
            positions.into_iter().collect()
        } else {
            HashMap::new()
        };
        for chat in &chats {
            let page = match positions.get(&chat.id) {
                Some(&held) if chat.head > held => {
                    storage.read_after(chat.id, None, held, MAX_PAGE).await
                }
                Some(_) => continue,
                None if chat.head > Seq(0) => storage
                    .read_before(chat.id, None, chat.head.next(), NEWEST_PAGE)
                    .await
                    // The newest page reaches the head: nothing newer remains.
                    .map(|page| Page {
                        more: false,
                        ..page
                    }),
                None => continue,
            };
            self.answer_page(chat.id, page).await?;
        }
        self.send(&ServerFrame::SyncDone).await?;
        Ok(Flow::Continue)
    }

    async fn answer_page(
        &mut self,
        chat_id: ChatId,
        page: Result<Page, Error>,
    ) -> Result<Flow, Gone> {
        match page {
            Ok(page) => {
                self.send(&ServerFrame::Page {
                    chat_id,
                    messages: page.messages,
                    more: page.more,
                })
                .await?
            }
            Err(error) => self.send_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }
}
