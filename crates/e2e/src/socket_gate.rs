//! A loopback proxy in front of the server that can shut WebSockets out while HTTP goes
//! through: what a page meets when its socket cannot connect but its requests for files still
//! can (a proxy that breaks upgrades, a network that drops long-lived connections). DevTools'
//! request blocking cannot do this: it does not reach the socket of the app's engine worker.
//!
//! The page is opened at the gate's URL, so the gate is its origin and the server sees the
//! same `Host` and `Origin` as without it. Each connection is told apart by its first
//! request: a WebSocket handshake (`Upgrade: websocket`) is refused with 503 while the gate is
//! shut, and cut when the gate shuts; everything else is passed on, byte for byte, both ways.
//! Browsers open every WebSocket on a connection of its own, so a connection that began as
//! HTTP stays HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// The most a first request's head may take before the gate gives up reading it.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The answer to a WebSocket handshake while the gate is shut.
const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// What the gate's connections share.
#[derive(Debug, Default)]
struct Shared {
    /// Whether WebSockets are refused now.
    shut: AtomicBool,
    /// The WebSockets passing now, to cut when the gate shuts.
    sockets: Mutex<Vec<AbortHandle>>,
}

/// The gate; it stops accepting when dropped (connections passing then end with the test).
#[derive(Debug)]
pub struct SocketGate {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

impl SocketGate {
    /// A gate on a free loopback port in front of the server at `upstream`, open.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<SocketGate> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(pass(client, upstream, Arc::clone(&shared)));
                }
            }
        });
        Ok(SocketGate {
            addr,
            shared,
            accepting,
        })
    }

    /// `http://127.0.0.1:<port>/`, where a browser opens the app through the gate.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Refuses new WebSockets and cuts those passing now; HTTP goes on.
    pub fn shut(&self) {
        self.shared.shut.store(true, Ordering::SeqCst);
        let sockets = std::mem::take(&mut *self.sockets());
        for socket in sockets {
            socket.abort();
        }
    }

    /// Lets WebSockets through again.
    pub fn open(&self) {
        self.shared.shut.store(false, Ordering::SeqCst);
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
        self.shared
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SocketGate {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Passes one connection on, or refuses it if it is a WebSocket while the gate is shut.
async fn pass(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    if is_websocket(&head) {
        // Registered, or refused, under the lock `shut` takes: a socket is never let through
        // after the gate shut without being cut.
        let mut sockets = shared
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shared.shut.load(Ordering::SeqCst) {
            drop(sockets);
            let _ = client.write_all(REFUSAL).await;
            return;
        }
        let piping = tokio::spawn(pipe(client, upstream, head));
        sockets.push(piping.abort_handle());
        return;
    }
    pipe(client, upstream, head).await;
}

/// Connects to `upstream`, sends what was read of the client's first request, then copies
/// both ways until either side closes.
async fn pipe(mut client: TcpStream, upstream: SocketAddr, head: Vec<u8>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// Reads until the end of the first request's head (or the connection closes, or the head
/// passes [`MAX_HEAD_BYTES`]); `None` if nothing came.
async fn read_head(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
        let read = client.read(&mut buffer).await.ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    (!head.is_empty()).then_some(head)
}

/// Whether a request head asks for a WebSocket.
fn is_websocket(head: &[u8]) -> bool {
    String::from_utf8_lossy(head).lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade")
                && value.trim().eq_ignore_ascii_case("websocket")
        })
    })
}
