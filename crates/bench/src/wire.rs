//! A lean raw-protocol client: one WebSocket, frames encoded with `merpati_protocol`, no engine.
//!
//! The full `merpati-core` engine (what `merpati-loadgen` runs) keeps a timeline and an outbox
//! per client; at hundreds of thousands of frames a second on two shared cores that bookkeeping,
//! not the server, would be measured. Throughput scenarios therefore speak the protocol
//! directly. Every connection binds its own source address in 127.0.0.0/8 so that short-lived
//! connections (sign-ups) do not run out of ephemeral ports on one address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use merpati_protocol::auth::{AuthPurpose, challenge_message};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{
    ChatId, ClientFrame, ClientMsgId, NewChat, PROTOCOL_VERSION, RequestId, ServerFrame, Username,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vodozemac::Ed25519SecretKey;

/// Any failure of a benchmark client; the benchmark reports it and stops.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The writing half of a connection.
pub(crate) type Writer = SplitSink<WebSocketStream<TcpStream>, Message>;
/// The reading half of a connection.
pub(crate) type Reader = SplitStream<WebSocketStream<TcpStream>>;

/// How long any single step of a handshake may take before the client gives up.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The postcard variant index of `ServerFrame::Message`: receivers that only count deliveries
/// look at this first byte instead of decoding every frame.
pub(crate) const MESSAGE_TAG: u8 = 6;

/// Each client connection's read buffer. tungstenite zeroes the free part of its read buffer,
/// up to this size, before every read (its default is 128 KiB): with a thousand connections
/// reading small frames that zeroing was a third of the load generator's CPU
/// (`perf record -a` under `merpati-bench latency`), taken from the server on the same cores.
const READ_BUFFER_BYTES: usize = 4096;

/// Where a server listens, and the path of its WebSocket endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The server's TCP address (loopback).
    pub(crate) addr: SocketAddr,
    /// The request path, e.g. `/ws`.
    pub(crate) path: String,
}

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// The next source address, cycling through 127.0.0.2 ..= 127.0.0.201.
fn next_source() -> SocketAddr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % 200;
    let last = u8::try_from(n + 2).unwrap_or(2);
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), 0))
}

/// Opens a WebSocket to `target` (with `path` overriding the target's path if given).
pub(crate) async fn connect(
    target: &Target,
    path: Option<&str>,
) -> Result<WebSocketStream<TcpStream>, BenchError> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(next_source())?;
    let stream = tokio::time::timeout(STEP_TIMEOUT, socket.connect(target.addr)).await??;
    stream.set_nodelay(true)?;
    let url = format!(
        "ws://{}{}",
        target.addr,
        path.unwrap_or(target.path.as_str())
    );
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(config));
    let (ws, _) = tokio::time::timeout(STEP_TIMEOUT, handshake).await??;
    Ok(ws)
}

/// Encodes and sends one client frame.
pub(crate) async fn send(writer: &mut Writer, frame: &ClientFrame) -> Result<(), BenchError> {
    writer
        .send(Message::Binary(merpati_protocol::encode(frame).into()))
        .await?;
    Ok(())
}

/// Reads the next binary message (skipping pings and pongs); `None` once the socket closed.
pub(crate) async fn next_binary(reader: &mut Reader) -> Result<Option<Vec<u8>>, BenchError> {
    while let Some(message) = reader.next().await {
        match message? {
            Message::Binary(bytes) => return Ok(Some(bytes.to_vec())),
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

/// Reads and decodes server frames until `pick` returns something, within [`STEP_TIMEOUT`].
pub(crate) async fn expect<T>(
    reader: &mut Reader,
    mut pick: impl FnMut(ServerFrame) -> Option<T>,
) -> Result<T, BenchError> {
    let wait = async {
        loop {
            let Some(bytes) = next_binary(reader).await? else {
                return Err::<T, BenchError>("the server closed the connection".into());
            };
            let frame: ServerFrame = merpati_protocol::decode(&bytes)?;
            if let ServerFrame::Error { code, detail, .. } = &frame {
                return Err(format!("server error {code:?}: {detail}").into());
            }
            if let Some(found) = pick(frame) {
                return Ok(found);
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, wait).await?
}

/// 32 fresh random bytes.
pub(crate) fn random32() -> Result<[u8; 32], BenchError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| format!("getrandom: {error}"))?;
    Ok(bytes)
}

/// A fresh client message id.
pub(crate) fn message_id() -> Result<ClientMsgId, BenchError> {
    let bytes = random32()?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[..16]);
    Ok(ClientMsgId(id))
}

/// A unique username for client `index` of this run (`prefix` tells runs apart).
pub(crate) fn username(prefix: &str, index: usize) -> Result<Username, BenchError> {
    Ok(Username::parse(&format!("{prefix}{index:x}"))?)
}

/// A signed-in connection, split into halves.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) writer: Writer,
    pub(crate) reader: Reader,
}

/// Waits for `Challenge`, sends `Register` signed with a fresh key, and waits for `Welcome`.
///
/// The key is made before the connection opens; the signature needs the server's nonce, so it
/// is computed on arrival of the challenge (an Ed25519 signature: tens of microseconds).
pub(crate) async fn register(
    mut ws: WebSocketStream<TcpStream>,
    name: Username,
    key: &Ed25519SecretKey,
) -> Result<Session, BenchError> {
    let nonce = {
        let frame = tokio::time::timeout(STEP_TIMEOUT, ws.next())
            .await?
            .ok_or("closed before the challenge")??;
        let Message::Binary(bytes) = frame else {
            return Err("the first frame was not binary".into());
        };
        match merpati_protocol::decode::<ServerFrame>(&bytes)? {
            ServerFrame::Challenge { nonce, .. } => nonce,
            other => return Err(format!("expected a challenge, got {other:?}").into()),
        }
    };
    let signature = key
        .sign(&challenge_message(AuthPurpose::Register, &name, &nonce))
        .to_bytes()
        .to_vec();
    let (mut writer, mut reader) = ws.split();
    send(
        &mut writer,
        &ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Register {
                username: name,
                public_key: key.public_key().as_bytes().to_owned(),
                signature,
            },
        },
    )
    .await?;
    expect(&mut reader, |frame| {
        matches!(frame, ServerFrame::Welcome { .. }).then_some(())
    })
    .await?;
    Ok(Session { writer, reader })
}

/// Connects and signs up a new account named `name`.
pub(crate) async fn sign_up(target: &Target, name: Username) -> Result<Session, BenchError> {
    let key = Ed25519SecretKey::from_slice(&random32()?);
    let ws = connect(target, None).await?;
    register(ws, name, &key).await
}

/// Creates a group titled `title` with `members` (the creator is added by the server) and
/// returns its id.
pub(crate) async fn create_group(
    session: &mut Session,
    title: &str,
    members: Vec<Username>,
) -> Result<ChatId, BenchError> {
    send(
        &mut session.writer,
        &ClientFrame::CreateChat {
            request: RequestId(1),
            chat: NewChat::Group {
                title: title.to_owned(),
                members,
            },
        },
    )
    .await?;
    expect(&mut session.reader, |frame| match frame {
        ServerFrame::Chat {
            request: Some(RequestId(1)),
            chat,
        } => Some(chat.id),
        _ => None,
    })
    .await
}

/// Milliseconds since the Unix epoch, as the message timestamps in latency runs.
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Encodes and sends one server frame (the baseline servers speak Merpati's sign-up).
pub(crate) async fn send_server<S>(writer: &mut S, frame: &ServerFrame) -> Result<(), BenchError>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    writer
        .send(Message::Binary(merpati_protocol::encode(frame).into()))
        .await?;
    Ok(())
}
