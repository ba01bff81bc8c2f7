//! A gateway on a real database, and sessions driven over in-memory sockets.
//!
//! [`TestGateway`] is the server's gateway as `run` builds it — real storage on a SQLite file
//! in a temporary directory, the fan-out, shutdown and admission control — without HTTP.
//! [`TestGateway::connect`] runs one session in its own task over a [`ChannelSocket`] and
//! returns the [`Peer`]: the test's end, which writes frames in and reads what the session
//! writes out. A peer never waits for time to pass: it waits for the session's next message,
//! with [`HANG_GUARD`] only to fail a test that would otherwise hang.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use merpati_protocol::auth::{AuthPurpose, challenge_message};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ClientFrame, Member, PROTOCOL_VERSION, ServerFrame, Username};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::PollSemaphore;
use vodozemac::Ed25519SecretKey;

use crate::admission::AdmissionControl;
use crate::config::{Config, Durability};
use crate::fanout::FanOut;
use crate::gateway::{Admitted, Gateway, Quotas, RequestLimits};
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::storage::{DATABASE_FILE, Storage};
use crate::websocket::{self, Message};

/// How long a peer waits for the session's next message before the test fails: a guard
/// against a hang, never what a test waits for.
pub(super) const HANG_GUARD: Duration = Duration::from_secs(10);

/// The session's end of an in-memory socket: what the peer writes comes out of
/// `from_peer`, what the session writes goes into `to_peer`.
struct ChannelSocket {
    from_peer: mpsc::UnboundedReceiver<Result<Message, websocket::Error>>,
    to_peer: mpsc::UnboundedSender<Message>,
    /// For a slow reader, the messages the session may still write before the peer reads
    /// one: a socket's buffer, full until the peer takes from it.
    room: Option<PollSemaphore>,
}

impl Stream for ChannelSocket {
    type Item = Result<Message, websocket::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_peer.poll_recv(cx)
    }
}

impl Sink<Message> for ChannelSocket {
    type Error = websocket::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let Some(room) = &mut self.room else {
            return Poll::Ready(Ok(()));
        };
        match room.poll_acquire(cx) {
            Poll::Ready(Some(permit)) => {
                // Given back by the peer when it reads the message.
                permit.forget();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(None) => Poll::Ready(Err(websocket::Error::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        self.to_peer
            .send(message)
            .map_err(|_| websocket::Error::Closed)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// A gateway as the server builds it, on a fresh database.
pub(super) struct TestGateway {
    pub(super) gateway: Arc<Gateway>,
    /// Its data directory, removed when the test ends.
    data: tempfile::TempDir,
}

impl TestGateway {
    pub(super) fn start() -> TestGateway {
        let data = tempfile::tempdir().expect("a temporary directory");
        let config = Config::new(data.path(), data.path());
        // The writer thread stops by itself once the gateway and its sessions are dropped.
        let (storage, _writer) =
            Storage::open(data.path(), Durability::Full).expect("the database opens");
        let admission = AdmissionControl::new(&config, Arc::new(Counters::default()));
        let quotas = Quotas::new(&config);
        let limits = RequestLimits::new(&config);
        let gateway = Gateway::new(
            storage,
            FanOut::new(),
            Shutdown::new(),
            admission,
            quotas,
            limits,
        );
        TestGateway {
            gateway: Arc::new(gateway),
            data,
        }
    }

    /// Makes every session of `name` due to rotate at its next resume, as a day passing
    /// would: its token made two days old, from a database connection of the test's own.
    pub(super) fn rotation_due(&self, name: &str) {
        let db = rusqlite::Connection::open(self.data.path().join(DATABASE_FILE))
            .expect("the database opens");
        db.busy_timeout(HANG_GUARD).expect("a busy timeout");
        let aged = db
            .execute(
                "UPDATE sessions SET rotated_ms = rotated_ms - 2 * 24 * 60 * 60 * 1000
                 WHERE account_id = (SELECT id FROM accounts WHERE username = ?1)",
                [name],
            )
            .expect("the sessions age");
        assert!(aged > 0, "{name} has no session");
    }

    /// How many connections admission control counts as open.
    pub(super) fn connections_open(&self) -> usize {
        self.gateway
            .admission()
            .counters()
            .connections_open
            .load(Ordering::Acquire)
    }

    /// A new connection, admitted as the HTTP side admits it, its session running in a task
    /// of its own.
    pub(super) fn connect(&self) -> Peer {
        self.connect_with_room(None)
    }

    /// A new connection whose session writes at most `room` messages the peer has not read
    /// yet (`None`: any number), as a slow reader's full socket holds a session's writes.
    pub(super) fn connect_with_room(&self, room: Option<usize>) -> Peer {
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        let permit = self.gateway.admission().admit(loopback).expect("admitted");
        let admitted = Admitted::new(permit, self.gateway.shutdown().session_token(), None);
        let (to_session, from_peer) = mpsc::unbounded_channel();
        let (to_peer, from_session) = mpsc::unbounded_channel();
        let room = room.map(|room| Arc::new(Semaphore::new(room)));
        let socket = ChannelSocket {
            from_peer,
            to_peer,
            room: room.clone().map(PollSemaphore::new),
        };
        let session = tokio::spawn(Arc::clone(&self.gateway).serve(
            socket,
            admitted,
            std::net::Ipv4Addr::LOCALHOST.into(),
            None,
        ));
        Peer {
            to_session,
            from_session,
            room,
            session,
        }
    }

    /// A new connection that registered `name` and was welcomed; its session token.
    pub(super) async fn sign_up(&self, name: &str) -> (Peer, Member, [u8; 32]) {
        let mut peer = self.connect();
        let nonce = peer.challenge().await;
        peer.write(&register(name, &nonce));
        match peer.next_frame().await {
            ServerFrame::Welcome {
                me,
                session_token: Some(token),
            } => (peer, me, token),
            other => panic!("expected Welcome with a token, got {other:?}"),
        }
    }
}

impl TestGateway {
    /// A new connection that logged in to `name` (registered before): another session of
    /// the account.
    pub(super) async fn log_in(&self, name: &str) -> (Peer, Member) {
        self.log_in_over(self.connect(), name).await
    }

    /// Logs in to `name` over `peer`, a new connection.
    pub(super) async fn log_in_over(&self, mut peer: Peer, name: &str) -> (Peer, Member) {
        let nonce = peer.challenge().await;
        let key = account_key(name);
        let username = username(name);
        let signature = key
            .sign(&challenge_message(AuthPurpose::Login, &username, &nonce))
            .to_bytes()
            .to_vec();
        peer.write(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Login {
                username,
                signature,
            },
        });
        match peer.next_frame().await {
            ServerFrame::Welcome { me, .. } => (peer, me),
            other => panic!("expected Welcome, got {other:?}"),
        }
    }
}

/// The account key of `name` in these tests: derived from the name, so it is the same at
/// every sign-in.
fn account_key(name: &str) -> Ed25519SecretKey {
    let seed: [u8; 32] = Sha256::digest(name.as_bytes()).into();
    Ed25519SecretKey::from_slice(&seed)
}

pub(super) fn username(name: &str) -> Username {
    Username::parse(name).expect("a valid username")
}

/// `Authenticate` registering `name`, signed for the connection's `nonce`.
pub(super) fn register(name: &str, nonce: &[u8; 32]) -> ClientFrame {
    let key = account_key(name);
    let username = username(name);
    let signature = key
        .sign(&challenge_message(AuthPurpose::Register, &username, nonce))
        .to_bytes()
        .to_vec();
    ClientFrame::Authenticate {
        version: PROTOCOL_VERSION,
        method: AuthMethod::Register {
            username,
            public_key: *key.public_key().as_bytes(),
            signature,
        },
    }
}

/// The test's end of a session's socket.
pub(super) struct Peer {
    to_session: mpsc::UnboundedSender<Result<Message, websocket::Error>>,
    from_session: mpsc::UnboundedReceiver<Message>,
    /// A slow reader's room (`TestGateway::connect_with_room`): each message read makes room
    /// for one more.
    room: Option<Arc<Semaphore>>,
    session: JoinHandle<()>,
}

impl Peer {
    /// Writes one WebSocket message to the session (or, with `Err`, a failed receive).
    pub(super) fn write_message(&self, message: Result<Message, websocket::Error>) {
        self.to_session
            .send(message)
            .expect("the session still reads its socket");
    }

    /// Writes a frame to the session, encoded as the protocol says.
    pub(super) fn write(&self, frame: &ClientFrame) {
        let bytes = Bytes::from(merpati_protocol::encode(frame));
        self.write_message(Ok(Message::Binary(bytes)));
    }

    /// The next message the session writes.
    pub(super) async fn next_message(&mut self) -> Message {
        let message = tokio::time::timeout(HANG_GUARD, self.from_session.recv())
            .await
            .expect("the session writes within the hang guard")
            .expect("the session has not ended");
        if let Some(room) = &self.room {
            room.add_permits(1);
        }
        message
    }

    /// The next frame the session writes.
    pub(super) async fn next_frame(&mut self) -> ServerFrame {
        match self.next_message().await {
            Message::Binary(bytes) => merpati_protocol::decode(&bytes).expect("a valid frame"),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Reads the `Challenge` a new session starts with; its nonce.
    pub(super) async fn challenge(&mut self) -> [u8; 32] {
        match self.next_frame().await {
            ServerFrame::Challenge { version, nonce, .. } => {
                assert_eq!(version, PROTOCOL_VERSION);
                nonce
            }
            other => panic!("expected Challenge, got {other:?}"),
        }
    }

    /// Reads a Close frame; its code.
    pub(super) async fn closed(&mut self) -> u16 {
        match self.next_message().await {
            Message::Close(Some(frame)) => frame.code,
            other => panic!("expected a Close frame, got {other:?}"),
        }
    }

    /// Hangs up and waits for the session to end.
    pub(super) async fn hang_up(self) {
        let Peer {
            to_session,
            from_session,
            room,
            session,
        } = self;
        drop(to_session);
        // Dropped too: a session still writing finds its peer gone rather than waiting.
        drop(from_session);
        if let Some(room) = room {
            room.close();
        }
        tokio::time::timeout(HANG_GUARD, session)
            .await
            .expect("the session ends within the hang guard")
            .expect("the session did not panic");
    }
}
