//! Starting a real server and talking to it like a client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use merpati_protocol::auth::{AuthPurpose, challenge_message};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::keys::{
    ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
    device_keys_message, one_time_key_message,
};
use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, ClientMsgId, Epoch, ErrorCode, Member, NewChat,
    PROTOCOL_VERSION, RequestId, Seq, ServerFrame, UserId, Username,
};
use merpati_server::{Config, Durability};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vodozemac::Ed25519SecretKey;

/// How long a test waits for a frame it expects.
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);
/// How long a test waits to be sure a frame does not come.
pub(crate) const QUIET: Duration = Duration::from_millis(300);

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
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
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(merpati_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
            _dirs: Vec::new(),
        }
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Connects and reads the challenge.
    pub(crate) async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// A new account signed in on a new connection.
    pub(crate) async fn signed_up(&self, name: &str) -> (Client, Member, [u8; 32]) {
        let mut client = self.connect().await;
        match client.register(name, &key(name)).await {
            ServerFrame::Welcome {
                me,
                session_token: Some(token),
            } => (client, me, token),
            other => panic!("registering {name}: {other:?}"),
        }
    }

    /// Signs `name` in with its key on a new connection.
    pub(crate) async fn logged_in(&self, name: &str) -> Client {
        let mut client = self.connect().await;
        match client.login(name, &key(name)).await {
            ServerFrame::Welcome { .. } => client,
            other => panic!("signing {name} in: {other:?}"),
        }
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

/// A browser's end-to-end encryption identity: a real vodozemac Olm account, as the app has.
pub(crate) struct Device {
    pub(crate) olm: vodozemac::olm::Account,
    /// The account it belongs to.
    pub(crate) user: UserId,
    /// The username whose account key vouches for it.
    name: String,
}

impl Device {
    pub(crate) fn new(name: &str, user: UserId) -> Device {
        Device {
            olm: vodozemac::olm::Account::new(),
            user,
            name: name.to_owned(),
        }
    }

    pub(crate) fn key(&self) -> DeviceKey {
        DeviceKey(self.olm.curve25519_key().to_bytes())
    }

    pub(crate) fn at(&self) -> DeviceRef {
        DeviceRef {
            user: self.user,
            device: self.key(),
        }
    }

    /// Its keys, signed with `signer`'s account key.
    pub(crate) fn keys_signed_by(&self, signer: &str) -> DeviceKeys {
        let ed25519 = *self.olm.ed25519_key().as_bytes();
        let message = device_keys_message(self.user, &self.key(), &ed25519);
        DeviceKeys {
            user: self.user,
            device: self.key(),
            ed25519,
            signature: key(signer).sign(&message).to_bytes().to_vec(),
        }
    }

    /// Its keys, signed by its own account's key, as the app signs them.
    pub(crate) fn keys(&self) -> DeviceKeys {
        self.keys_signed_by(&self.name)
    }

    fn signed(&self, key: [u8; 32], fallback: bool) -> OneTimeKey {
        let signature = self
            .olm
            .sign(one_time_key_message(&self.key(), &key, fallback))
            .to_bytes()
            .to_vec();
        OneTimeKey {
            key,
            fallback,
            signature,
        }
    }

    /// `count` fresh one-time keys, signed by the device.
    pub(crate) fn one_time_keys(&mut self, count: usize) -> Vec<OneTimeKey> {
        let created = self.olm.generate_one_time_keys(count).created;
        self.olm.mark_keys_as_published();
        created
            .iter()
            .map(|key| self.signed(key.to_bytes(), false))
            .collect()
    }

    /// A fresh fallback key, signed by the device.
    pub(crate) fn fallback_key(&mut self) -> OneTimeKey {
        let key = self.olm.generate_fallback_key();
        let key = match key {
            Some(key) => key,
            None => *self.olm.fallback_key().values().next().unwrap(),
        };
        self.signed(key.to_bytes(), true)
    }
}

/// A test client speaking the protocol over a real WebSocket.
pub(crate) struct Client {
    pub(crate) ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub(crate) nonce: [u8; 32],
    pub(crate) epoch: Epoch,
    next_request: u32,
}

impl Client {
    pub(crate) async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Client {
            ws,
            nonce: [0; 32],
            epoch: Epoch(0),
            next_request: 1,
        };
        match client.recv().await {
            ServerFrame::Challenge {
                version,
                nonce,
                epoch,
            } => {
                assert_eq!(version, PROTOCOL_VERSION);
                client.nonce = nonce;
                client.epoch = epoch;
            }
            other => panic!("expected a challenge, got {other:?}"),
        }
        client
    }

    pub(crate) async fn send(&mut self, frame: &ClientFrame) {
        self.send_raw(Message::binary(merpati_protocol::encode(frame)))
            .await;
    }

    pub(crate) async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next raw WebSocket message (pings skipped), or `None` if the connection ended.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the server answers in time");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame; panics if the connection closes instead.
    pub(crate) async fn recv(&mut self) -> ServerFrame {
        match self.next_message().await {
            Some(Message::Binary(bytes)) => merpati_protocol::decode(&bytes).unwrap(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Asserts that no frame arrives for a while.
    pub(crate) async fn expect_quiet(&mut self) {
        if let Ok(Some(message)) = tokio::time::timeout(QUIET, self.ws.next()).await {
            panic!("expected nothing, got {message:?}");
        }
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

    pub(crate) fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    pub(crate) fn signature(
        &self,
        purpose: AuthPurpose,
        name: &str,
        key: &Ed25519SecretKey,
    ) -> Vec<u8> {
        key.sign(&challenge_message(purpose, &username(name), &self.nonce))
            .to_bytes()
            .to_vec()
    }

    pub(crate) async fn register(&mut self, name: &str, key: &Ed25519SecretKey) -> ServerFrame {
        let signature = self.signature(AuthPurpose::Register, name, key);
        self.send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Register {
                username: username(name),
                public_key: *key.public_key().as_bytes(),
                signature,
            },
        })
        .await;
        self.recv().await
    }

    pub(crate) async fn login(&mut self, name: &str, key: &Ed25519SecretKey) -> ServerFrame {
        let signature = self.signature(AuthPurpose::Login, name, key);
        self.send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Login {
                username: username(name),
                signature,
            },
        })
        .await;
        self.recv().await
    }

    pub(crate) async fn resume(&mut self, session_token: [u8; 32]) -> ServerFrame {
        self.send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Resume { session_token },
        })
        .await;
        self.recv().await
    }

    /// Sends `CreateChat` and returns the answer.
    pub(crate) async fn create_chat(&mut self, chat: NewChat) -> ServerFrame {
        let request = self.request_id();
        self.send(&ClientFrame::CreateChat { request, chat }).await;
        let answer = self.recv().await;
        match &answer {
            ServerFrame::Chat { request: r, .. } | ServerFrame::Error { request: r, .. } => {
                assert_eq!(*r, Some(request), "the answer carries the request id")
            }
            _ => {}
        }
        answer
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

    pub(crate) async fn group(&mut self, title: &str, members: &[&str]) -> ChatInfo {
        self.chat_with(NewChat::Group {
            title: title.to_owned(),
            members: members.iter().map(|name| username(name)).collect(),
        })
        .await
    }

    /// Sends a message and waits for its Ack; returns the seq. The sender's own copy of the
    /// message (fanned out to its sessions) is left unread.
    pub(crate) async fn send_text(&mut self, chat: ChatId, id: ClientMsgId, body: &[u8]) -> Seq {
        self.send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: body.to_vec(),
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

    /// Publishes a device's keys and returns the answer (`KeysPublished` or `Error`).
    pub(crate) async fn publish(
        &mut self,
        device: DeviceKeys,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> ServerFrame {
        self.send(&ClientFrame::PublishKeys {
            device,
            one_time_keys,
            fallback_key,
        })
        .await;
        self.recv().await
    }

    /// Publishes a device's keys with no new one-time keys; returns the unclaimed count.
    pub(crate) async fn publish_device(&mut self, device: &Device) -> u32 {
        match self.publish(device.keys(), Vec::new(), None).await {
            ServerFrame::KeysPublished { one_time_keys } => one_time_keys,
            other => panic!("publishing a device: {other:?}"),
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
            ServerFrame::ToDeviceSent { request: r } => assert_eq!(*r, request),
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

/// A minimal HTTP/1.1 GET: status, lowercase headers, body.
pub(crate) async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body)
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(header, _)| header == name)
        .map(|(_, value)| value.as_str())
}

/// A data directory kept across server restarts.
pub(crate) fn data_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    (dir, path)
}

/// The server's `/metrics`, as name → value (samples without labels).
pub(crate) async fn metrics(addr: SocketAddr) -> std::collections::HashMap<String, f64> {
    let (status, _, body) = http_get(addr, "/metrics", &[]).await;
    assert_eq!(status, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(name, value)| Some((name.to_owned(), value.trim().parse().ok()?)))
        .collect()
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
