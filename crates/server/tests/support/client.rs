//! The test client ([`Client`]): the test kit's raw protocol client, failing the test with the
//! reason whenever the server does not answer as expected. Connecting (from another source
//! address too), signing up, in and back, the challenge, raw frames and requests; and a
//! handshake the server refuses ([`refused_handshake`]).

use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::{ClientFrame, Epoch, Member, RequestId, ServerFrame};
use merpati_testkit::sign_in::sign_challenge;
use merpati_testkit::{ConnectOptions, Endpoint, RawClient, SignIn, SplitSocket};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vodozemac::Ed25519SecretKey;

use super::{key, username};

/// A test client: the kit's raw protocol client, failing the test with the reason whenever
/// the server does not answer as expected (within the kit's patience for each frame).
pub(crate) struct Client {
    raw: RawClient,
}

/// The value, or a panic that says what failed.
fn or_fail<T>(result: Result<T, merpati_testkit::Error>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

impl Client {
    pub(crate) async fn connect(endpoint: &Endpoint) -> Client {
        Client {
            raw: or_fail(RawClient::connect(endpoint, &ConnectOptions::default()).await),
        }
    }

    /// Connects from 127.0.0.`last`: another source address, as per-address limits see it.
    pub(crate) async fn connect_from(endpoint: &Endpoint, last: u8) -> Client {
        let options = ConnectOptions {
            source: merpati_testkit::SourceAddress::Loopback(last),
            ..ConnectOptions::default()
        };
        Client::connect_with(endpoint, &options).await
    }

    /// Connects with `options` (a `User-Agent`, say).
    pub(crate) async fn connect_with(endpoint: &Endpoint, options: &ConnectOptions) -> Client {
        Client {
            raw: or_fail(RawClient::connect(endpoint, options).await),
        }
    }

    /// Registers `name` on a new connection to `endpoint` (a server in this process or the
    /// binary); the client, its account and its session token.
    pub(crate) async fn signed_up(endpoint: &Endpoint, name: &str) -> (Client, Member, [u8; 32]) {
        let mut client = Client::connect(endpoint).await;
        match client.register(name, &key(name)).await {
            ServerFrame::Welcome {
                me,
                session_token: Some(token),
            } => (client, me, token),
            other => panic!("registering {name}: {other:?}"),
        }
    }

    /// Signs `name` in with its key on a new connection to `endpoint`.
    pub(crate) async fn logged_in(endpoint: &Endpoint, name: &str) -> Client {
        let mut client = Client::connect(endpoint).await;
        match client.login(name, &key(name)).await {
            ServerFrame::Welcome { .. } => client,
            other => panic!("signing {name} in: {other:?}"),
        }
    }

    /// The storage epoch the server's challenge named.
    pub(crate) fn epoch(&self) -> Epoch {
        self.raw.challenge().epoch
    }

    /// This connection's challenge nonce.
    pub(crate) fn nonce(&self) -> [u8; 32] {
        self.raw.challenge().nonce
    }

    pub(crate) async fn send(&mut self, frame: &ClientFrame) {
        or_fail(self.raw.send(frame).await);
    }

    pub(crate) async fn send_raw(&mut self, message: Message) {
        or_fail(self.raw.send_message(message).await);
    }

    /// The next raw WebSocket message (pings skipped), or `None` if the connection ended.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        or_fail(self.raw.next_message().await)
    }

    /// The next frame; panics if the connection closes instead.
    pub(crate) async fn recv(&mut self) -> ServerFrame {
        or_fail(self.raw.recv().await)
    }

    /// The next frame, which must be the one `pick` takes.
    pub(crate) async fn expect<T>(
        &mut self,
        what: &str,
        pick: impl FnOnce(ServerFrame) -> Result<T, Box<ServerFrame>>,
    ) -> T {
        or_fail(self.raw.expect(what, pick).await)
    }

    /// Reads until the connection closes; the frames before, and the Close frame if any.
    pub(crate) async fn until_closed(&mut self) -> (Vec<ServerFrame>, Option<CloseFrame>) {
        let mut frames = Vec::new();
        loop {
            match self.next_message().await {
                Some(Message::Binary(bytes)) => {
                    frames.push(merpati_protocol::decode(&bytes).unwrap())
                }
                Some(Message::Close(close)) => return (frames, close),
                Some(other) => panic!("unexpected {other:?}"),
                None => return (frames, None),
            }
        }
    }

    /// The connection's halves, for a sender and a reader that run apart.
    pub(crate) fn into_split(self) -> SplitSocket {
        self.raw.into_split()
    }

    pub(crate) fn request_id(&mut self) -> RequestId {
        self.raw.next_request_id()
    }

    /// `key`'s signature of this connection's challenge.
    pub(crate) fn signature(
        &self,
        purpose: AuthPurpose,
        name: &str,
        key: &Ed25519SecretKey,
    ) -> Vec<u8> {
        sign_challenge(key, purpose, &username(name), &self.raw.challenge().nonce)
    }

    pub(crate) async fn register(&mut self, name: &str, key: &Ed25519SecretKey) -> ServerFrame {
        let username = username(name);
        or_fail(
            self.raw
                .authenticate(&SignIn::Register {
                    username: &username,
                    key,
                })
                .await,
        )
    }

    pub(crate) async fn login(&mut self, name: &str, key: &Ed25519SecretKey) -> ServerFrame {
        let username = username(name);
        or_fail(
            self.raw
                .authenticate(&SignIn::Login {
                    username: &username,
                    key,
                })
                .await,
        )
    }

    pub(crate) async fn resume(&mut self, session_token: [u8; 32]) -> ServerFrame {
        or_fail(
            self.raw
                .authenticate(&SignIn::Resume { session_token })
                .await,
        )
    }

    /// Sends the request `build` makes with a fresh request id and returns the answer, which
    /// must carry that id if it is a `Chat`, a `BlockList` or an `Error`.
    pub(crate) async fn request(
        &mut self,
        build: impl FnOnce(RequestId) -> ClientFrame,
    ) -> ServerFrame {
        let request = self.request_id();
        self.send(&build(request)).await;
        let answer = self.recv().await;
        match &answer {
            ServerFrame::Chat { request: r, .. }
            | ServerFrame::BlockList { request: r, .. }
            | ServerFrame::Error { request: r, .. } => {
                assert_eq!(*r, Some(request), "the answer carries the request id")
            }
            _ => {}
        }
        answer
    }
}

/// Opens a WebSocket expecting a refusal; returns the HTTP status and `Retry-After`.
pub(crate) async fn refused_handshake(url: &str) -> (u16, Option<u64>) {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok());
            (response.status().as_u16(), retry_after)
        }
        Ok(_) => panic!("the handshake was accepted"),
        Err(error) => panic!("expected an HTTP refusal, got {error}"),
    }
}
