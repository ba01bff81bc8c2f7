//! One connection's session: its state, its event loop, and the pace of its sends.
//!
//! The loop waits for whichever comes first — the shutdown signal, eviction, a message's
//! commit, a delivered frame, the held `Send`'s turn, a received frame, the idle timer — and
//! hands it to its handler. The socket is not read while a `Send` is held for the send rate,
//! nor while the configured number of messages wait for their commit: that is the
//! backpressure, and TCP carries it to the sender.
//!
//! Every connection holds this future for as long as it is connected, idle or not, so its
//! size is part of each idle connection's memory: every arm but a delivery awaits a boxed
//! future, and the session is built before the `async` block rather than moved into it.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::websocket::{self, Message, close_code};
use bytes::Bytes;
use futures_util::StreamExt;
use merpati_protocol::keys::DeviceKey;
use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{ChatId, ClientMsgId, ErrorCode, Member, PROTOCOL_VERSION, ServerFrame};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Instrument;

use super::Gateway;
use super::in_flight::{Committed, InFlight, next_commit};
use super::presence::TypingThrottle;
use super::receipts::ReceiptsSent;
use super::refusals::Refusals;
use super::socket::FrameSocket;
use crate::accept::AddressSlot;
use crate::admission::{ConnectionPermit, TokenBucket, jitter};
use crate::auth;
use crate::fanout::{Frames, OnlineGuard, SessionId};
use crate::metrics::Counters;
use crate::storage::{AppendFence, Refers};

/// How long a connection may take to sign in.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(30);
/// After this long without hearing from a signed-in peer, ping it; after twice this, drop it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// When clients should come back after a shutdown: a random time in this range (milliseconds),
/// so that a restarted server does not get all of its clients back in the same instant.
const SHUTDOWN_RETRY_AFTER_MS: (u64, u64) = (1_000, 5_000);
/// When an evicted (too slow) client should come back (milliseconds, random in the range).
const EVICTED_RETRY_AFTER_MS: (u64, u64) = (500, 2_000);

/// When a client whose request failed for the server's own reason comes back.
const STORAGE_RETRY_AFTER_MS: u64 = 1_000;

/// The socket failed or timed out: the session ends without further ado.
#[derive(Debug)]
pub(super) struct Gone;

/// What the session does after handling an event.
#[derive(Debug)]
pub(super) enum Flow {
    Continue,
    /// Send a Close frame with this code and reason, then end.
    Close(u16, &'static str),
    /// The peer is gone; just end.
    Ended,
}

/// What woke the session's loop.
enum Event {
    Shutdown,
    Evicted,
    Deliver(Option<Bytes>),
    /// The oldest write waiting for its commit has its outcome.
    Committed(Committed),
    /// The held `Send` may go now.
    SendReady,
    Received(Option<Result<Message, websocket::Error>>),
    Idle,
}

/// A `Send` (or `SendDeletion`) waiting for the session's send rate.
pub(super) struct HeldSend {
    pub(super) chat_id: ChatId,
    pub(super) client_msg_id: ClientMsgId,
    pub(super) body: Vec<u8>,
    /// What a `SendDeletion` deletes, or the upload a `Send` carries.
    pub(super) refers: Refers,
}

/// The account a session is signed in as.
pub(super) struct SignedIn {
    pub(super) member: Member,
    pub(super) token_hash: [u8; 32],
    /// The device this connection published keys for; `None` until `PublishKeys`.
    pub(super) device: Option<DeviceKey>,
    /// Keeps the session in the fan-out until it ends.
    pub(super) online: OnlineGuard,
}

/// One connection: its socket and everything the session knows about its peer.
pub(super) struct Session<S> {
    pub(super) id: SessionId,
    pub(super) socket: S,
    /// This session's send rate.
    pub(super) send_rate: TokenBucket,
    /// Receipts that moved nothing are paced as sends are (`receipts`).
    pub(super) unmoved_receipts: TokenBucket,
    /// The receipts this connection sent (`receipts`).
    pub(super) receipts_sent: ReceiptsSent,
    /// A `Send` waiting for a token; while there is one, the socket is not read. Boxed: a
    /// session rarely holds one, and every connection holds this field.
    pub(super) held_send: Option<Box<HeldSend>>,
    /// Since when sends have been held back without a break.
    pub(super) held_since: Option<Instant>,
    /// Messages and receipts queued for the writer, oldest first, waiting for their commit;
    /// answered and fanned out in this order. While the configured number of them wait, the
    /// socket is not read.
    pub(super) awaiting_commit: VecDeque<InFlight>,
    /// When this connection last passed on `Typing`, per chat; `None` until it first did.
    pub(super) typing: Option<Box<TypingThrottle>>,
    pub(super) gateway: Arc<Gateway>,
    /// The challenge this connection signs to authenticate.
    pub(super) nonce: [u8; 32],
    pub(super) signed_in: Option<SignedIn>,
    /// Frames delivered by the fan-out; `None` until signed in.
    pub(super) deliveries: Option<Frames>,
    pub(super) evicted: CancellationToken,
    pub(super) malformed_frames: u32,
    pub(super) failed_sign_ins: u32,
    /// `LookUpSalt` answered on this connection.
    pub(super) salt_lookups: u32,
    /// When a `Ping` was last answered on this connection (one a second at most).
    pub(super) ponged_at: Option<Instant>,
    /// Requests refused past the account's allowance since the client last waited as told.
    pub(super) refusals: Refusals,
    /// A request failed for the server's own reason (its database: a full disk, PostgreSQL
    /// restarting): the session ends with `Goodbye`, so the client comes back later and asks
    /// again — it resends and catches up on a new connection only.
    pub(super) storage_failed: bool,
    /// Once one of this connection's messages failed to store, the later ones fail unrun,
    /// so that none is stored before the failed one's resend.
    pub(super) append_fence: AppendFence,
    /// The address the connection came from: what per-address limits count by.
    pub(super) peer: IpAddr,
    /// What its browser said it is (`User-Agent`), kept with a session it signs in to.
    pub(super) client: Option<ClientKind>,
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
    /// Its place in its source address's count of connections (none in tests that serve a
    /// session without a TCP connection).
    _address: Option<Arc<AddressSlot>>,
}

impl Admitted {
    pub(crate) fn new(
        permit: ConnectionPermit,
        running: TaskTrackerToken,
        address: Option<Arc<AddressSlot>>,
    ) -> Admitted {
        Admitted {
            _permit: permit,
            _running: running,
            _address: address,
        }
    }
}

/// The next delivered frame, or never before sign-in.
async fn next_delivery(deliveries: &mut Option<Frames>) -> Option<Bytes> {
    match deliveries {
        Some(deliveries) => deliveries.recv().await,
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

impl Gateway {
    /// One connection's session over `socket`, to run to its end; `admitted` (the
    /// connection's place in the admission count and the shutdown's list) is held until then.
    ///
    /// Not an `async fn`: every connection's task holds this future for as long as it is
    /// connected, and an `async fn` would keep a second copy of the socket (its argument)
    /// beside the session it was moved into.
    pub(crate) fn serve<S: FrameSocket>(
        self: Arc<Self>,
        socket: S,
        admitted: Admitted,
        peer: IpAddr,
        client: Option<ClientKind>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let id = self.fanout.next_session_id();
        let span = tracing::info_span!("session", id = id.0, account = tracing::field::Empty);
        let session = match auth::random_bytes() {
            Ok(nonce) => {
                let send_rate = self.admission.send_limit().bucket();
                Some(Session {
                    id,
                    socket,
                    send_rate,
                    unmoved_receipts: self.admission.send_limit().bucket(),
                    receipts_sent: ReceiptsSent::default(),
                    held_send: None,
                    held_since: None,
                    awaiting_commit: VecDeque::new(),
                    typing: None,
                    gateway: self,
                    nonce,
                    signed_in: None,
                    deliveries: None,
                    evicted: CancellationToken::new(),
                    malformed_frames: 0,
                    failed_sign_ins: 0,
                    salt_lookups: 0,
                    ponged_at: None,
                    refusals: Refusals::default(),
                    storage_failed: false,
                    append_fence: AppendFence::default(),
                    peer,
                    client,
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
}

impl<S: FrameSocket> Session<S> {
    /// The account this session is signed in as, if it is.
    pub(super) fn member(&self) -> Option<&Member> {
        self.signed_in.as_ref().map(|signed_in| &signed_in.member)
    }

    async fn run(&mut self) {
        match self.event_loop().await {
            Flow::Close(code, reason) => {
                tracing::info!(code, reason, "closing the connection");
                self.close(code, reason).await;
            }
            Flow::Ended | Flow::Continue => tracing::debug!("connection ended"),
        }
        // Boxed: it runs once, and every connection's future would otherwise hold its room.
        Box::pin(self.settle_after_the_end()).await;
    }

    async fn event_loop(&mut self) -> Flow {
        // Encoded before the write rather than borrowed across it: a `ServerFrame` held over
        // an await would make every connection's future as large as the largest frame.
        let challenge = super::encode(&ServerFrame::Challenge {
            version: PROTOCOL_VERSION,
            nonce: self.nonce,
            epoch: self.gateway.storage.epoch(),
        });
        if self.write_bytes(challenge).await.is_err() {
            return Flow::Ended;
        }
        // Before sign-in the deadline is fixed from connecting: sending junk cannot extend it.
        let idle = tokio::time::sleep(SIGN_IN_TIMEOUT);
        tokio::pin!(idle);
        let mut pinged = false;
        let in_flight_limit = self.gateway.admission.send_limit().in_flight;
        loop {
            let send_ready = match self.held_send {
                Some(_) => Some(self.send_rate.ready_at(Instant::now())),
                None => None,
            };
            // Not read while a Send is held, or while enough wait for their commit: that is
            // the backpressure.
            let readable = self.held_send.is_none() && self.awaiting_commit.len() < in_flight_limit;
            let event = tokio::select! {
                biased;
                () = self.gateway.shutdown.triggered() => Event::Shutdown,
                () = self.evicted.cancelled() => Event::Evicted,
                committed = next_commit(&mut self.awaiting_commit) => Event::Committed(committed),
                frame = next_delivery(&mut self.deliveries) => Event::Deliver(frame),
                () = wake_at(send_ready) => Event::SendReady,
                message = self.socket.next(), if readable => Event::Received(message),
                () = &mut idle => Event::Idle,
            };
            let flow = match event {
                // Every arm but a delivery (the hot path) awaits a boxed future: they would
                // otherwise make each connection's future, idle or not, as large as the largest.
                // (A delivery's write is smaller than the wait above: boxing it saves nothing.)
                Event::Shutdown => {
                    let (min, max) = SHUTDOWN_RETRY_AFTER_MS;
                    Box::pin(self.goodbye(ErrorCode::ShuttingDown, jitter(min, max))).await;
                    Ok(Flow::Close(close_code::AWAY, "the server is shutting down"))
                }
                // Ended by the account from another session: for good.
                Event::Evicted
                    if self
                        .deliveries
                        .as_ref()
                        .is_some_and(|frames| frames.was_ended()) =>
                {
                    Box::pin(self.farewell(ErrorCode::SessionExpired)).await;
                    Ok(Flow::Close(
                        close_code::POLICY,
                        "this session was ended; sign in again",
                    ))
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
                    self.write_bytes(frame).await.map(|()| Flow::Continue)
                }
                Event::Committed(outcome) => match self.awaiting_commit.pop_front() {
                    Some(waited) => Box::pin(self.answer_commit(waited, outcome)).await,
                    None => Ok(Flow::Continue),
                },
                Event::SendReady => {
                    // The peer is there, only slowed down: not idle.
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    pinged = false;
                    Box::pin(self.release_held_send()).await
                }
                Event::Received(None) => Ok(Flow::Ended),
                Event::Received(Some(Err(error))) => {
                    if super::socket::is_too_large(&error) {
                        Box::pin(self.too_large()).await
                    } else if let Some(code) = error.close_code() {
                        tracing::debug!(%error, "the peer broke the WebSocket protocol");
                        Ok(Flow::Close(code, "WebSocket protocol error"))
                    } else {
                        tracing::debug!(%error, "receive failed");
                        Ok(Flow::Ended)
                    }
                }
                Event::Received(Some(Ok(message))) => {
                    let flow = self.on_message(message).await;
                    if self.signed_in.is_some() {
                        idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                        pinged = false;
                    }
                    flow
                }
                Event::Idle if self.signed_in.is_none() => {
                    Ok(Flow::Close(close_code::POLICY, "sign-in took too long"))
                }
                Event::Idle if pinged => {
                    tracing::info!("peer stopped answering; dropping the connection");
                    Ok(Flow::Ended)
                }
                Event::Idle => {
                    pinged = true;
                    idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                    Box::pin(self.write_message(Message::Ping(Bytes::new())))
                        .await
                        .map(|()| Flow::Continue)
                }
            };
            match flow {
                Ok(Flow::Continue) if self.storage_failed => {
                    self.goodbye(ErrorCode::ServerBusy, STORAGE_RETRY_AFTER_MS)
                        .await;
                    return Flow::Close(close_code::AGAIN, "storage unavailable");
                }
                Ok(Flow::Continue) => {}
                Ok(flow) => return flow,
                Err(Gone) => return Flow::Ended,
            }
        }
    }

    // ---- the send rate ----

    /// Takes a token for a `Send` arriving now; without one the `Send` must be held.
    pub(super) fn take_send_token(&mut self, now: Instant) -> bool {
        if self.send_rate.try_take(now) {
            // Within its rate again: whatever holding there was is over.
            self.held_since = None;
            true
        } else {
            false
        }
    }

    /// Holds a `Send` that found no token: the socket is not read until it goes.
    pub(super) fn hold_send(&mut self, send: Box<HeldSend>, now: Instant) {
        Counters::bump(&self.gateway.counters().sends_held);
        self.held_since.get_or_insert(now);
        self.held_send = Some(send);
    }

    /// Appends the held `Send` once the rate allows it, or closes a session that has been
    /// held back for too long.
    async fn release_held_send(&mut self) -> Result<Flow, Gone> {
        let now = Instant::now();
        let limit = self.gateway.admission.send_limit();
        if self
            .held_since
            .is_some_and(|since| now.saturating_duration_since(since) > limit.hold_limit)
        {
            Counters::bump(&self.gateway.counters().sessions_rate_limited);
            tracing::info!("sending too fast for too long; closing the connection");
            // The held message was not stored; the client resends it when it comes back.
            self.held_send = None;
            self.goodbye(ErrorCode::RateLimited, u64::from(limit.retry_after_ms()))
                .await;
            return Ok(Flow::Close(
                close_code::POLICY,
                "sending too fast; slow down and reconnect later",
            ));
        }
        if !self.send_rate.try_take(now) {
            return Ok(Flow::Continue);
        }
        let (Some(held), Some(me)) = (self.held_send.take(), self.member().cloned()) else {
            return Ok(Flow::Continue);
        };
        let HeldSend {
            chat_id,
            client_msg_id,
            body,
            refers,
        } = *held;
        self.append_message(&me, chat_id, client_msg_id, body, refers)
            .await
    }
}

impl<S> Drop for Session<S> {
    /// Takes a signed-in session off the fan-out, however it ended (its task may also be
    /// dropped mid-way), and records that the session was used until now, and when its account
    /// was last seen if it was the last.
    fn drop(&mut self) {
        let Some(signed_in) = self.signed_in.take() else {
            return;
        };
        let account = signed_in.member.id;
        if let Some(cluster) = &self.gateway.cluster {
            cluster.tell_even_if_full(crate::cluster::Event::Unfollow { session: self.id });
        }
        let storage = &self.gateway.storage;
        // In use until now: the devices screen says so, and the session's idle time counts
        // from here (a connection may stay open for days without rotating its token).
        storage.record_session_used(signed_in.token_hash, crate::storage::now_ms());
        signed_in
            .online
            .leave(|at_ms| storage.record_last_seen(account, at_ms));
    }
}
