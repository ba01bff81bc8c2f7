//! The raw protocol client: one WebSocket to a Merpati server, frames encoded and decoded with
//! `merpati_protocol`, and nothing else — no engine, no store, no retries.
//!
//! The server's tests drive it frame by frame ([`RawClient`]: connect and read the challenge,
//! sign in, send, expect the next frame of a kind). The benchmark's load clients use the same
//! connection at hundreds of thousands of frames a second on two shared cores, where the full
//! `merpati-core` engine's bookkeeping would be measured instead of the server: they sign in
//! with [`RawClient`], then [`split`](RawClient::into_split) it and run [`send_frame`] and
//! [`next_binary`] in their own loops. [`ConnectOptions::load_client`] keeps what makes those
//! loops cheap: a small read buffer, and source addresses spread over 127.0.0.0/8.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use merpati_protocol::{ClientFrame, Epoch, PROTOCOL_VERSION, RequestId, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Bytes, Message};

use crate::sign_in::SignIn;
use crate::{Error, within};

/// A client's WebSocket.
pub type Socket = WebSocketStream<TcpStream>;
/// The writing half of a [`Socket`].
pub type Writer = SplitSink<Socket, Message>;
/// The reading half of a [`Socket`].
pub type Reader = SplitStream<Socket>;

/// How long a test waits for one step (a connection, a handshake, a frame it expects).
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(5);

/// The load clients' read buffer. tungstenite zeroes the free part of its read buffer, up to
/// this size, before every read (its default is 128 KiB): with a thousand connections reading
/// small frames that zeroing was a third of the load generator's CPU (`perf record -a` under
/// `merpati-bench latency`), taken from the server on the same cores.
pub const LOAD_CLIENT_READ_BUFFER_BYTES: usize = 4096;

/// Where a server takes WebSocket connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The server's TCP address.
    pub addr: SocketAddr,
    /// The request path, e.g. `/ws`.
    pub path: String,
}

impl Endpoint {
    /// Merpati's protocol endpoint, `/ws`, at `addr`.
    pub fn websocket(addr: SocketAddr) -> Endpoint {
        Endpoint::at(addr, "/ws")
    }

    /// Another path at `addr` (a baseline server's, say).
    pub fn at(addr: SocketAddr, path: &str) -> Endpoint {
        Endpoint {
            addr,
            path: path.to_owned(),
        }
    }

    /// `ws://addr/path`.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, self.path)
    }
}

/// Where a connection's source address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAddress {
    /// Whatever the system picks.
    Any,
    /// The next of 127.0.0.2 ..= 127.0.0.201, in turn: many short-lived connections (sign-ups)
    /// then do not run out of one address's ephemeral ports.
    SpreadOverLoopback,
    /// 127.0.0.N: a client that must come from an address of its own (one of several
    /// people, or an attacker, as per-address limits see them).
    Loopback(u8),
}

/// How to open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// How long one step may take: the TCP connection, the handshake, each frame waited for.
    pub patience: Duration,
    /// tungstenite's read buffer, in bytes (`None`: its default).
    pub read_buffer_bytes: Option<usize>,
    /// The source address.
    pub source: SourceAddress,
    /// The `User-Agent` the handshake sends (`None`: none, as tungstenite sends none).
    pub user_agent: Option<String>,
}

impl Default for ConnectOptions {
    /// A test's connection: tungstenite's defaults, [`DEFAULT_PATIENCE`].
    fn default() -> ConnectOptions {
        ConnectOptions {
            patience: DEFAULT_PATIENCE,
            read_buffer_bytes: None,
            source: SourceAddress::Any,
            user_agent: None,
        }
    }
}

impl ConnectOptions {
    /// A benchmark load client's connection: [`LOAD_CLIENT_READ_BUFFER_BYTES`], sources spread
    /// over loopback, and 30 s per step (a loaded server is slow, not broken).
    pub fn load_client() -> ConnectOptions {
        ConnectOptions {
            patience: Duration::from_secs(30),
            read_buffer_bytes: Some(LOAD_CLIENT_READ_BUFFER_BYTES),
            source: SourceAddress::SpreadOverLoopback,
            user_agent: None,
        }
    }
}

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// The next source address of [`SourceAddress::SpreadOverLoopback`].
fn next_loopback_source() -> SocketAddr {
    let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % 200;
    let last = u8::try_from(n + 2).unwrap_or(2);
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), 0))
}

/// Opens a WebSocket to `endpoint`, without reading anything from it (a baseline server sends
/// no challenge).
pub async fn connect_socket(
    endpoint: &Endpoint,
    options: &ConnectOptions,
) -> Result<Socket, Error> {
    let socket = match endpoint.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    match options.source {
        SourceAddress::SpreadOverLoopback if endpoint.addr.is_ipv4() => {
            socket.bind(next_loopback_source())?;
        }
        SourceAddress::Loopback(last) if endpoint.addr.is_ipv4() => {
            socket.bind(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::new(127, 0, 0, last),
                0,
            )))?;
        }
        _ => {}
    }
    let what = format!("a TCP connection to {}", endpoint.addr);
    let stream = within(options.patience, &what, socket.connect(endpoint.addr)).await??;
    stream.set_nodelay(true)?;
    let mut config = WebSocketConfig::default();
    if let Some(bytes) = options.read_buffer_bytes {
        config = config.read_buffer_size(bytes);
    }
    let mut request = endpoint.url().into_client_request()?;
    if let Some(user_agent) = &options.user_agent {
        request.headers_mut().insert(
            tungstenite::http::header::USER_AGENT,
            tungstenite::http::HeaderValue::from_str(user_agent)
                .map_err(tungstenite::Error::from)?,
        );
    }
    let handshake = tokio_tungstenite::client_async_with_config(request, stream, Some(config));
    let what = format!("the WebSocket handshake with {}", endpoint.url());
    let (socket, _) = within(options.patience, &what, handshake).await??;
    Ok(socket)
}

/// What the server's `Challenge` told a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// What a sign-in signs.
    pub nonce: [u8; 32],
    /// The server's storage epoch.
    pub epoch: Epoch,
}

/// One connection speaking the protocol, frame by frame.
#[derive(Debug)]
pub struct RawClient {
    socket: Socket,
    challenge: Challenge,
    patience: Duration,
    last_request: u32,
}

impl RawClient {
    /// Connects to `endpoint` and reads the server's challenge (which must name this
    /// build's [`PROTOCOL_VERSION`]).
    pub async fn connect(
        endpoint: &Endpoint,
        options: &ConnectOptions,
    ) -> Result<RawClient, Error> {
        let socket = connect_socket(endpoint, options).await?;
        let mut client = RawClient {
            socket,
            challenge: Challenge {
                nonce: [0; 32],
                epoch: Epoch(0),
            },
            patience: options.patience,
            last_request: 0,
        };
        client.challenge = client
            .expect(
                "a challenge of this protocol version",
                |frame| match frame {
                    ServerFrame::Challenge {
                        version,
                        nonce,
                        epoch,
                    } if version == PROTOCOL_VERSION => Ok(Challenge { nonce, epoch }),
                    other => Err(Box::new(other)),
                },
            )
            .await?;
        Ok(client)
    }

    /// What the server's challenge said.
    pub fn challenge(&self) -> Challenge {
        self.challenge
    }

    /// A request id not used before on this connection.
    pub fn next_request_id(&mut self) -> RequestId {
        self.last_request = self.last_request.wrapping_add(1);
        RequestId(self.last_request)
    }

    /// Sends the `Authenticate` frame for `sign_in` (signed over this connection's nonce) and
    /// returns the server's answer: `Welcome`, or the `Error` that refused it.
    pub async fn authenticate(&mut self, sign_in: &SignIn<'_>) -> Result<ServerFrame, Error> {
        let frame = sign_in.frame(&self.challenge.nonce);
        self.send(&frame).await?;
        self.recv().await
    }

    /// Encodes and sends one frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), Error> {
        self.send_message(Message::binary(merpati_protocol::encode(frame)))
            .await
    }

    /// Sends one WebSocket message as it is (malformed bytes, text, a Close…).
    pub async fn send_message(&mut self, message: Message) -> Result<(), Error> {
        within(
            self.patience,
            "the server to take a message",
            self.socket.send(message),
        )
        .await??;
        Ok(())
    }

    /// The next WebSocket message, pings and pongs skipped; `None` once the connection ended.
    pub async fn next_message(&mut self) -> Result<Option<Message>, Error> {
        within(
            self.patience,
            "a message from the server",
            next_message(&mut self.socket),
        )
        .await
    }

    /// The next frame; an error if the connection ends or sends anything else instead.
    pub async fn recv(&mut self) -> Result<ServerFrame, Error> {
        match self.next_message().await? {
            Some(Message::Binary(bytes)) => Ok(merpati_protocol::decode(&bytes)?),
            Some(other) => Err(Error::Unexpected {
                expected: "a binary frame".to_owned(),
                got: format!("{other:?}"),
            }),
            None => Err(Error::Closed("a frame".to_owned())),
        }
    }

    /// The next frame, which must be the one `pick` takes (`Ok`); what `pick` hands back
    /// (`Err`) fails, described by `what`. It hands it back boxed: a frame is large (a chat
    /// with its members, admins and receipts), and only a failure carries one.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        pick: impl FnOnce(ServerFrame) -> Result<T, Box<ServerFrame>>,
    ) -> Result<T, Error> {
        let frame = self.recv().await?;
        pick(frame).map_err(|other| Error::Unexpected {
            expected: what.to_owned(),
            got: format!("{other:?}"),
        })
    }

    /// Reads frames until `pick` takes one, skipping the others (pushed messages, say); an
    /// `Error` frame fails. The whole wait is bounded by the connection's patience.
    pub async fn skip_until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(ServerFrame) -> Option<T>,
    ) -> Result<T, Error> {
        let socket = &mut self.socket;
        let wait = async {
            loop {
                let Some(bytes) = next_binary(socket).await else {
                    return Err(Error::Closed(what.to_owned()));
                };
                match merpati_protocol::decode(&bytes)? {
                    ServerFrame::Error { code, detail, .. } => {
                        return Err(Error::Refused { code, detail });
                    }
                    frame => {
                        if let Some(found) = pick(frame) {
                            return Ok(found);
                        }
                    }
                }
            }
        };
        within(self.patience, what, wait).await?
    }

    /// The connection's two halves, for a sender and a receiver that run apart.
    pub fn into_split(self) -> SplitSocket {
        SplitSocket::from(self.socket)
    }
}

/// A connection split into its halves.
#[derive(Debug)]
pub struct SplitSocket {
    /// Sends.
    pub writer: Writer,
    /// Receives.
    pub reader: Reader,
}

impl From<Socket> for SplitSocket {
    fn from(socket: Socket) -> SplitSocket {
        let (writer, reader) = socket.split();
        SplitSocket { writer, reader }
    }
}

/// Encodes `frame` (a client's or, for a baseline server, a server's) and sends it.
pub async fn send_frame<S, F>(sink: &mut S, frame: &F) -> Result<(), Error>
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
    F: serde::Serialize,
{
    sink.send(Message::binary(merpati_protocol::encode(frame)))
        .await?;
    Ok(())
}

/// The next WebSocket message of `stream`, pings and pongs skipped; `None` once it ended or
/// failed. Unbounded: wrap it in a timeout where a wait must end.
pub async fn next_message<S>(stream: &mut S) -> Option<Message>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

/// The bytes of the next binary message of `stream`, anything else skipped; `None` once it
/// closed, ended or failed. The hot loop of the benchmark's receivers: no copy, no decoding.
pub async fn next_binary<S>(stream: &mut S) -> Option<Bytes>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Binary(bytes))) => return Some(bytes),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_cycle_through_two_hundred_addresses_and_skip_the_servers() {
        let sources: Vec<SocketAddr> = (0..400).map(|_| next_loopback_source()).collect();
        let distinct: std::collections::HashSet<_> = sources.iter().collect();
        assert_eq!(distinct.len(), 200);
        assert!(sources.iter().all(|source| match source {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                (a, b, c) == (127, 0, 0) && (2..=201).contains(&d) && v4.port() == 0
            }
            SocketAddr::V6(_) => false,
        }));
    }
}
