//! The task behind a [`SwarmClient`](super::SwarmClient): it owns the engine, the memory
//! store and the socket, connects and reconnects with the core's `Backoff`, and carries out
//! each engine step in the order `merpati_core::Step` documents (events, then writes, then
//! frames), as the browser app's connection service does.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt, StreamExt};
use merpati_core::{
    ConnectionPhase, Engine, Event, MemoryStore, RequestError, Step, Store, StoredState,
    TimelineItem, crypto::AccountKey, reconnect::Backoff,
};
use merpati_protocol::{ChatId, ErrorCode, RequestId, ServerFrame, decode, encode};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::history::Delivery;

use super::{Acked, ChatRequest, ClientOptions, Command, Join, Snapshot, Status, StoredSession};

/// How long opening a connection (TCP and WebSocket handshake) may take before it counts as
/// failed; a server under a storm may leave a SYN unanswered.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's read buffer: small, because a swarm holds thousands of sockets
/// (tungstenite's default is 128 KiB each).
const READ_BUFFER_BYTES: usize = 4 * 1024;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

type SocketSink = SplitSink<Socket, Message>;

/// What a connection does after a step.
#[derive(Debug, PartialEq, Eq)]
enum After {
    /// Goes on.
    Continue,
    /// Ends: the socket failed, the client stops, or the engine asked for a new connection.
    Close,
}

struct ClientTask {
    engine: Engine,
    store: MemoryStore,
    /// Chat requests waiting for their `Chat` frame.
    requests: HashMap<RequestId, oneshot::Sender<Result<ChatId, String>>>,
    acks: Vec<Acked>,
    /// Every message delivered, for the history checker.
    deliveries: Vec<Delivery>,
    /// Connections opened so far: the current one's number.
    connection: u32,
    backoff: Backoff,
    status: watch::Sender<Status>,
    stopping: bool,
}

/// The client task: signs in, then connects and reconnects until the client stops or the
/// engine has no credentials left (a final sign-in failure).
pub(super) async fn run(
    options: ClientOptions,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<Status>,
) {
    let mut task = ClientTask {
        engine: Engine::new(),
        store: MemoryStore::new(),
        requests: HashMap::new(),
        acks: Vec::new(),
        deliveries: Vec::new(),
        connection: 0,
        backoff: options.backoff.clone(),
        status,
        stopping: false,
    };
    if let Join::Resume(session) = options.join.clone() {
        let StoredSession { account, crypto } = *session;
        task.engine.restore(StoredState {
            account: Some(account),
            crypto,
            ..StoredState::default()
        });
        // Restoring writes nothing, but keep the store a true copy of the engine's state.
        task.carry_out_step(None).await;
    } else {
        match AccountKey::derive(&options.username, &options.passphrase, None, options.kdf) {
            Ok(key) => {
                if matches!(options.join, Join::SignIn) {
                    task.engine.sign_in(options.username.clone(), &key);
                } else {
                    task.engine.sign_up(options.username.clone(), &key, None);
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
            task.connection += 1;
            task.status.send_modify(|status| status.connections += 1);
            task.engine.on_connected();
            task.report_phase();
            task.session(socket, &mut inbox).await;
            // Whether the connection lasted long enough to start the waits over is the core's
            // rule (`Backoff::disconnected`), as in the app.
            task.backoff.disconnected(now_ms());
            task.engine.on_disconnected();
            task.carry_out_step(None).await;
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
                    task.carry_out_step(None).await;
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

    /// Serves one connection until it closes, the client stops, or the engine asks for a new
    /// connection.
    async fn session(&mut self, socket: Socket, inbox: &mut mpsc::UnboundedReceiver<Command>) {
        let (mut sink, mut stream) = socket.split();
        loop {
            // The engine's timed work — a refused request asked again, to-device messages
            // acknowledged in batches — waits for its clock, told as the app tells it.
            let due = self.engine.next_clock_change_ms();
            let clock = async move {
                match due {
                    Some(at) => {
                        let wait = at.saturating_sub(now_ms());
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                received = stream.next() => match received {
                    Some(Ok(Message::Binary(bytes))) => match decode::<ServerFrame>(&bytes) {
                        Ok(frame) => {
                            self.record(&frame);
                            self.engine.advance_clock(now_ms());
                            self.engine.handle_frame(frame)
                        }
                        Err(error) => tracing::warn!(%error, "undecodable frame from the server"),
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                command = inbox.recv() => self.command(command),
                () = clock => self.engine.advance_clock(now_ms()),
            }
            if self.engine.connection_phase() == ConnectionPhase::Online {
                self.backoff.online(now_ms());
            }
            if self.carry_out_step(Some(&mut sink)).await == After::Close || self.stopping {
                let _ = sink.close().await;
                return;
            }
        }
    }

    /// Carries out what the engine produced since the last step, in the order
    /// `merpati_core::Step` documents: events, then the writes (one batch, applied before any
    /// frame leaves), then the frames, when there is a socket (without one they belong to a
    /// connection that is gone).
    async fn carry_out_step(&mut self, sink: Option<&mut SocketSink>) -> After {
        let step = self.engine.take_step();
        let after = self.carry_out(step, sink).await;
        self.report_phase();
        after
    }

    async fn carry_out(&mut self, step: Step, sink: Option<&mut SocketSink>) -> After {
        // `views_changed` concerns views, and a swarm client has none; `queued` concerns an
        // outbox shared with other tabs, and a swarm client shares none.
        let Step {
            events,
            writes,
            frames,
            views_changed: _,
            queued: _,
        } = step;
        let mut after = After::Continue;
        for event in events {
            if self.handle_event(event) == After::Close {
                after = After::Close;
            }
        }
        if !writes.is_empty()
            && let Err(error) = self.store.apply(writes).await
        {
            // Nothing that relies on the lost writes may leave: a new connection starts over.
            tracing::warn!(%error, "the store refused a step's writes");
            return After::Close;
        }
        let Some(sink) = sink else {
            return after;
        };
        if frames.is_empty() {
            return after;
        }
        for frame in frames {
            if sink
                .feed(Message::Binary(encode(&frame).into()))
                .await
                .is_err()
            {
                return After::Close;
            }
        }
        if sink.flush().await.is_err() {
            return After::Close;
        }
        after
    }

    /// The client's part of an event; `Close` when it ends this connection.
    fn handle_event(&mut self, event: Event) -> After {
        match event {
            Event::SignedIn(_) => {
                self.status.send_modify(|status| status.signed_in = true);
            }
            Event::AuthFailed(code) => {
                // The engine dropped its credentials: this client is done.
                self.status
                    .send_modify(|status| status.auth_error = Some(code));
                return After::Close;
            }
            Event::AuthDeferred(code) => {
                // The engine kept its credentials: try again on a new connection, after backoff.
                tracing::debug!(?code, "the server deferred the sign-in");
                self.status.send_modify(|status| status.deferred += 1);
                return After::Close;
            }
            Event::ConnectionLost => {
                // Said only to a shell that times the server's silence (`check_liveness`);
                // this one has WebSocket pings. Connect again, as after any drop.
                return After::Close;
            }
            Event::OutOfDate => {
                // The engine keeps its credentials (an app would reload): this client stops.
                self.status
                    .send_modify(|status| status.auth_error = Some(ErrorCode::UnsupportedVersion));
                self.stopping = true;
                return After::Close;
            }
            Event::SessionExpired => {
                self.status
                    .send_modify(|status| status.auth_error = Some(ErrorCode::SessionExpired));
                return After::Close;
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
            Event::SendFailed {
                chat_id,
                client_msg_id,
                code,
            } => {
                // The text stays in the outbox, failed; nobody here retries it.
                tracing::debug!(
                    ?chat_id,
                    ?client_msg_id,
                    ?code,
                    "the server refused a message"
                );
            }
            // A swarm client makes no requests that answer this way (blocking and the like).
            Event::RequestDone { .. } => {}
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
        After::Continue
    }

    fn command(&mut self, command: Option<Command>) {
        match command {
            None | Some(Command::Stop) => self.stopping = true,
            Some(Command::Write { writing, reply }) => {
                let _ = reply.send(writing(&mut self.engine, now_ms()));
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
                let _ = reply.send(self.snapshot());
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
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
        Snapshot {
            me: self.engine.me().cloned(),
            members,
            chats,
            pending: self.engine.pending_count(),
            acks: self.acks.clone(),
            deliveries: self.deliveries.clone(),
        }
    }

    /// Keeps what the history checker reads: each `Ack`, each message delivered.
    fn record(&mut self, frame: &ServerFrame) {
        match frame {
            ServerFrame::Ack {
                chat_id,
                client_msg_id,
                seq,
                ..
            } => self.acks.push(Acked {
                chat_id: *chat_id,
                client_msg_id: *client_msg_id,
                seq: *seq,
            }),
            ServerFrame::Message(message) => {
                self.deliveries
                    .push(Delivery::of(message, self.connection, true));
            }
            ServerFrame::Page { messages, .. } => self.deliveries.extend(
                messages
                    .iter()
                    .map(|message| Delivery::of(message, self.connection, false)),
            ),
            _ => {}
        }
    }

    fn chat_request(&mut self, request: ChatRequest) -> Result<RequestId, RequestError> {
        match request {
            ChatRequest::Group { title, members } => self.engine.create_group(&title, &members),
            ChatRequest::Direct { with } => self.engine.create_direct(&with),
            ChatRequest::RemoveMember { chat, user } => self.engine.remove_member(chat, user),
        }
    }

    /// Tells the handle where the connection stands.
    fn report_phase(&self) {
        let phase = self.engine.connection_phase();
        self.status.send_if_modified(|status| {
            let changed = status.phase != phase;
            status.phase = phase;
            changed
        });
    }
}

/// Milliseconds since the Unix epoch: the clock the engine times its retries and batches by.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // A failing random source only makes every client wait the full ceiling.
    if getrandom::fill(&mut bytes).is_err() {
        return u32::MAX;
    }
    u32::from_le_bytes(bytes)
}
