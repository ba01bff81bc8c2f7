//! Starting a real server in this process, and what the tests say to it: a [`Client`] over the
//! test kit's raw protocol client (`merpati_testkit::RawClient`) that panics with the reason
//! when the server does not answer as a test expects, the conversation's frames of protocol
//! version 3 (`conversation`: lines, receipts, a whole `Sync` read in order), an Olm
//! [`Device`], and a [`BlobClient`] for files over HTTP (`blobs`).
//!
//! "Nothing arrives" is never shown by waiting: a test makes the server send something after
//! the frames in question (a sentinel) and asserts that the sentinel comes next. The server
//! handles a connection's frames in order, and each session receives what is fanned out to it
//! in the order it was handed over; so a sentinel caused by the same session as the action,
//! after it, arrives after anything the action caused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::content::SystemEvent;
use merpati_protocol::keys::{
    ClaimedKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
};
use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, ClientMsgId, Epoch, ErrorCode, Member, NewChat, RequestId, Seq,
    ServerFrame, UserId, Username,
};
use merpati_server::{Config, Durability};
use merpati_testkit::sign_in::sign_challenge;
use merpati_testkit::{ConnectOptions, Endpoint, RawClient, SignIn, SplitSocket};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vodozemac::Ed25519SecretKey;

mod blobs;
mod conversation;
mod device;

pub(crate) use blobs::{BlobClient, blob_file, blob_id, ciphertext, offset};
pub(crate) use device::Device;

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// Where it serves `/metrics`.
    pub(crate) metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), merpati_server::Error>>,
    _dirs: Vec<TempDir>,
}

impl TestServer {
    /// A server with a fresh data directory and an empty web root.
    pub(crate) async fn start() -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let web = tempfile::tempdir().unwrap();
        let config = Config::new(data.path(), web.path());
        let mut server = TestServer::start_with(config).await;
        server._dirs = vec![data, web];
        server
    }

    /// A server with a fresh data directory and an empty web root, configured as the defaults
    /// changed by `change`.
    pub(crate) async fn start_configured(change: impl FnOnce(&mut Config)) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let web = tempfile::tempdir().unwrap();
        let mut config = Config::new(data.path(), web.path());
        change(&mut config);
        let mut server = TestServer::start_with(config).await;
        server._dirs = vec![data, web];
        server
    }

    /// A server storing its data in `data` (which the caller keeps).
    pub(crate) async fn start_in(data: &Path) -> TestServer {
        let web = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_with(Config::new(data, web.path())).await;
        server._dirs = vec![web];
        server
    }

    pub(crate) async fn start_with(mut config: Config) -> TestServer {
        // Tests need durability semantics, not speed; FULL is the default and what we ship.
        config.durability = Durability::Full;
        let listener = merpati_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        // A port just handed out and taken back, so that the test knows where to read.
        let metrics_addr = merpati_testkit::free_loopback_addr().unwrap();
        config.metrics_addr = metrics_addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(merpati_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            task,
            _dirs: Vec::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::websocket(self.addr)
    }

    pub(crate) fn ws_url(&self) -> String {
        self.endpoint().url()
    }

    /// Connects and reads the challenge.
    pub(crate) async fn connect(&self) -> Client {
        Client::connect(&self.endpoint()).await
    }

    /// Connects from 127.0.0.`last` and reads the challenge.
    pub(crate) async fn connect_from(&self, last: u8) -> Client {
        Client::connect_from(&self.endpoint(), last).await
    }

    /// A new account signed in on a new connection.
    pub(crate) async fn signed_up(&self, name: &str) -> (Client, Member, [u8; 32]) {
        Client::signed_up(&self.endpoint(), name).await
    }

    /// Signs `name` in with its key on a new connection.
    pub(crate) async fn logged_in(&self, name: &str) -> Client {
        Client::logged_in(&self.endpoint(), name).await
    }

    /// `/metrics`, as name → value (samples without labels).
    pub(crate) async fn metrics(&self) -> HashMap<String, f64> {
        merpati_testkit::http::metrics(self.metrics_addr)
            .await
            .unwrap_or_else(|error| panic!("reading /metrics: {error}"))
    }

    /// Triggers shutdown and waits for `run` to return.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let outcome = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic");
        outcome.expect("run ends without error");
    }

    /// Triggers shutdown without waiting.
    pub(crate) fn trigger_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `run` to return after `trigger_stop`.
    pub(crate) async fn stopped(mut self) -> Result<(), merpati_server::Error> {
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
    }
}

/// The Ed25519 key of a test user, derived from the name (the app derives it from the
/// passphrase).
pub(crate) fn key(name: &str) -> Ed25519SecretKey {
    let mut seed = [0u8; 32];
    for (slot, byte) in seed.iter_mut().zip(name.bytes().cycle()) {
        *slot = byte;
    }
    Ed25519SecretKey::from_slice(&seed)
}

pub(crate) fn username(name: &str) -> Username {
    Username::parse(name).unwrap()
}

/// A distinct client message id.
pub(crate) fn msg_id(n: u64) -> ClientMsgId {
    let mut id = [0xa5u8; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    ClientMsgId(id)
}

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

    /// Sends `CreateChat` and returns the answer.
    pub(crate) async fn create_chat(&mut self, chat: NewChat) -> ServerFrame {
        self.request(|request| ClientFrame::CreateChat { request, chat })
            .await
    }

    /// Creates a chat that must succeed.
    pub(crate) async fn chat_with(&mut self, chat: NewChat) -> ChatInfo {
        match self.create_chat(chat).await {
            ServerFrame::Chat { chat, .. } => chat,
            other => panic!("creating a chat: {other:?}"),
        }
    }

    pub(crate) async fn direct(&mut self, with: &str) -> ChatInfo {
        self.chat_with(NewChat::Direct {
            with: username(with),
        })
        .await
    }

    /// Creates a group, and reads the answer and the `Created` line the server writes as its
    /// first message, which the creator gets too: sent by the creator, its only admin, and
    /// naming the group's title.
    pub(crate) async fn group(&mut self, title: &str, members: &[&str]) -> ChatInfo {
        let group = self
            .chat_with(NewChat::Group {
                title: title.to_owned(),
                members: members.iter().map(|name| username(name)).collect(),
            })
            .await;
        assert_eq!(
            group.head,
            Seq(1),
            "the Created line is the group's message 1"
        );
        let (line, event) = self.expect_line(group.id).await;
        let SystemEvent::Created { by, title } = event else {
            panic!("expected the Created line, got {event:?}");
        };
        assert_eq!((line.seq, line.sender), (Seq(1), by.id));
        assert_eq!(group.admins, [by.id], "the creator is the only admin");
        assert!(group.members.contains(&by));
        assert_eq!(title, group.title);
        group
    }

    /// Sends a message and waits for its Ack; returns the seq. The sender's own copy of the
    /// message (fanned out to its sessions) is left unread.
    pub(crate) async fn send_text(&mut self, chat: ChatId, id: ClientMsgId, body: &[u8]) -> Seq {
        self.send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: body.to_vec(),
            attachment: None,
        })
        .await;
        match self.recv().await {
            ServerFrame::Ack {
                chat_id,
                client_msg_id,
                seq,
                ..
            } => {
                assert_eq!((chat_id, client_msg_id), (chat, id));
                seq
            }
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    /// Sends a message, then reads its Ack and its own fanned-out copy; returns the seq.
    pub(crate) async fn say(&mut self, chat: ChatId, id: ClientMsgId, body: &[u8]) -> Seq {
        let seq = self.send_text(chat, id, body).await;
        match self.recv().await {
            ServerFrame::Message(message) => {
                assert_eq!((message.chat_id, message.seq), (chat, seq));
            }
            other => panic!("expected my own message back, got {other:?}"),
        }
        seq
    }

    /// Expects a chat pushed by the server (no request of this connection asked for it).
    pub(crate) async fn expect_pushed_chat(&mut self) -> ChatInfo {
        self.expect("a pushed chat", |frame| match frame {
            ServerFrame::Chat {
                request: None,
                chat,
            } => Ok(chat),
            other => Err(Box::new(other)),
        })
        .await
    }

    /// A sentinel for "nothing more on this connection": a `QueryKeys` for no one, whose answer
    /// must be the next frame. The server sends what a request makes it send this connection
    /// (a queue of to-device messages, an error) before it reads the next frame, so anything
    /// an earlier request caused here would come first.
    pub(crate) async fn expect_nothing_before_a_sentinel(&mut self) {
        assert!(self.query_keys(&[]).await.is_empty());
    }

    /// Expects a pushed message.
    pub(crate) async fn expect_message(&mut self) -> merpati_protocol::MessageFrame {
        match self.recv().await {
            ServerFrame::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Expects an Error frame and returns its code.
    pub(crate) async fn expect_error(&mut self) -> ErrorCode {
        match self.recv().await {
            ServerFrame::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Expects a Page of `chat` and returns its seqs and `more`.
    pub(crate) async fn expect_page(&mut self, chat: ChatId) -> (Vec<u64>, bool) {
        match self.recv().await {
            ServerFrame::Page {
                chat_id,
                messages,
                more,
            } => {
                assert_eq!(chat_id, chat);
                (messages.iter().map(|message| message.seq.0).collect(), more)
            }
            other => panic!("expected a page, got {other:?}"),
        }
    }

    pub(crate) async fn fetch(&mut self, chat: ChatId, after: u64, limit: u32) -> (Vec<u64>, bool) {
        self.send(&ClientFrame::Fetch {
            chat_id: chat,
            after: Seq(after),
            limit,
        })
        .await;
        self.expect_page(chat).await
    }

    /// Publishes a device's keys, proving this connection holds it as the app does, and
    /// returns the answer (`KeysPublished` or `Error`).
    pub(crate) async fn publish(
        &mut self,
        device: &Device,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> ServerFrame {
        let proof = device.proof(&self.nonce());
        self.publish_keys(device.keys(), Some(proof), one_time_keys, fallback_key)
            .await
    }

    /// Publishes `device`'s keys as given, with `device_proof` as given (a forgery, say);
    /// returns the answer.
    pub(crate) async fn publish_keys(
        &mut self,
        device: DeviceKeys,
        device_proof: Option<Vec<u8>>,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> ServerFrame {
        self.send(&ClientFrame::PublishKeys {
            device,
            device_proof,
            one_time_keys,
            fallback_key,
        })
        .await;
        self.recv().await
    }

    /// This connection's challenge nonce.
    pub(crate) fn nonce(&self) -> [u8; 32] {
        self.raw.challenge().nonce
    }

    /// Publishes a device's keys with no new one-time keys; returns the unclaimed count.
    pub(crate) async fn publish_device(&mut self, device: &Device) -> u32 {
        match self.publish(device, Vec::new(), None).await {
            ServerFrame::KeysPublished { one_time_keys } => one_time_keys,
            other => panic!("publishing a device: {other:?}"),
        }
    }

    /// Expects a `KeysClaimed` push: (one-time keys left, fallback key handed out).
    pub(crate) async fn expect_keys_claimed(&mut self) -> (u32, bool) {
        match self.recv().await {
            ServerFrame::KeysClaimed {
                one_time_keys,
                fallback_claimed,
            } => (one_time_keys, fallback_claimed),
            other => panic!("expected KeysClaimed, got {other:?}"),
        }
    }

    /// Sends `QueryKeys` and returns the answer.
    pub(crate) async fn query_keys(&mut self, users: &[UserId]) -> Vec<UserKeys> {
        let request = self.request_id();
        self.send(&ClientFrame::QueryKeys {
            request,
            users: users.to_vec(),
        })
        .await;
        match self.recv().await {
            ServerFrame::Keys { request: r, users } if r == request => users,
            other => panic!("expected keys, got {other:?}"),
        }
    }

    /// Sends `ClaimKeys` and returns the answer.
    pub(crate) async fn claim_keys(&mut self, devices: &[DeviceRef]) -> Vec<ClaimedKey> {
        let request = self.request_id();
        self.send(&ClientFrame::ClaimKeys {
            request,
            devices: devices.to_vec(),
        })
        .await;
        match self.recv().await {
            ServerFrame::ClaimedKeys { request: r, keys } if r == request => keys,
            other => panic!("expected claimed keys, got {other:?}"),
        }
    }

    /// Sends `SendToDevice` and returns the answer (`ToDeviceSent` or `Error`), checking
    /// that it carries the request id.
    pub(crate) async fn send_to_device(&mut self, messages: Vec<ToDeviceMessage>) -> ServerFrame {
        let request = self.request_id();
        self.send(&ClientFrame::SendToDevice { request, messages })
            .await;
        let answer = self.recv().await;
        match &answer {
            ServerFrame::ToDeviceSent { request: r, .. } => assert_eq!(*r, request),
            ServerFrame::Error { request: r, .. } => assert_eq!(*r, Some(request)),
            _ => {}
        }
        answer
    }

    /// Expects a `ToDevice` frame: its id, sender and body.
    pub(crate) async fn expect_to_device(&mut self) -> (u64, DeviceRef, Vec<u8>) {
        match self.recv().await {
            ServerFrame::ToDevice { id, sender, body } => (id, sender, body),
            other => panic!("expected a to-device message, got {other:?}"),
        }
    }

    pub(crate) async fn history(
        &mut self,
        chat: ChatId,
        before: u64,
        limit: u32,
    ) -> (Vec<u64>, bool) {
        self.send(&ClientFrame::History {
            chat_id: chat,
            before: Seq(before),
            limit,
        })
        .await;
        self.expect_page(chat).await
    }
}

/// A data directory kept across server restarts.
pub(crate) fn data_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    (dir, path)
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
