//! Accepting TCP connections and serving HTTP/1.1 on each, with the limits `axum::serve`
//! cannot set.
//!
//! `axum::serve` installs no timer in hyper, so hyper's header-read timeout never fires: a
//! client that connects and sends half a request (or nothing) holds its connection — and a
//! file descriptor — forever, outside the WebSocket cap, which counts only upgraded
//! connections. Here every connection gets:
//!
//! - a **header-read timeout**: the request head must arrive within it, on a new connection
//!   and between requests of a kept-alive one, or the connection is closed;
//! - a **least rate** for its writes (`least_rate`): a write that waits longer than the
//!   write-stall timeout for the client to take the bytes closes the connection, and so does
//!   a client that, once writes wait on it, takes less than the least rate on average beyond
//!   that grace. hyper has no deadline for writing a response, so a client that asks for a
//!   large file (a blob, the app's wasm) and never reads it, or reads a few bytes now and
//!   then, would otherwise hold the connection, the open file and the memory behind them for
//!   good;
//! - a **per-address cap**: one source address (`throttle::AddressKey`: an IPv4 address or
//!   an IPv6 /64) holds at most so many connections at once, HTTP and WebSocket alike;
//!   past it a new connection is closed as soon as it is accepted, before anything is read.
//!   A WebSocket keeps its address's slot for as long as it is open (the slot travels with
//!   the request into the upgrade, see [`AddressSlot`]).
//!
//! Accepting goes on when the process is out of file descriptors (it waits a moment rather
//! than spin), and stops when the shutdown signal fires; open connections then finish their
//! request and close, WebSockets are closed by their sessions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::least_rate::{LeastRate, LeastRateWrites};
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::throttle::AddressKey;

/// How long accepting pauses when the process has no file descriptor left for a new
/// connection (the connection waits in the kernel's backlog meanwhile).
const OUT_OF_FILES_PAUSE: Duration = Duration::from_millis(50);

/// The limits every connection is served under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// How long a request head may take to arrive (also between requests).
    pub(crate) header_read_timeout: Duration,
    /// How long a write may wait for the client to take the bytes (the grace), and the least
    /// the client must take on average beyond it.
    pub(crate) writes: LeastRate,
    /// Connections one source address may hold at once (0: no cap).
    pub(crate) per_address: u32,
}

/// How many connections each source address holds.
#[derive(Debug)]
pub(crate) struct OpenConnections {
    by_address: Mutex<HashMap<AddressKey, u32>>,
    counters: Arc<Counters>,
}

/// One connection's place in its address's count, given back when the last holder drops it:
/// the connection's task and, after an upgrade, the WebSocket session.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    address: AddressKey,
    table: Arc<OpenConnections>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self
            .table
            .by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

impl OpenConnections {
    pub(crate) fn new(counters: Arc<Counters>) -> Arc<OpenConnections> {
        Arc::new(OpenConnections {
            by_address: Mutex::new(HashMap::new()),
            counters,
        })
    }

    /// A slot for a connection from `peer`, unless its address holds `cap` already.
    fn admit(self: &Arc<Self>, peer: SocketAddr, cap: u32) -> Option<Arc<AddressSlot>> {
        let address = AddressKey::of(peer.ip());
        let mut counts = self
            .by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(address).or_insert(0);
        if cap > 0 && *count >= cap {
            Counters::bump(&self.counters.connections_refused_per_address);
            return None;
        }
        *count += 1;
        Some(Arc::new(AddressSlot {
            address,
            table: Arc::clone(self),
        }))
    }
}

/// The most a connection's HTTP buffers grow to: the read buffer, and the response bytes
/// queued before a write. hyper's own default (about 400 KiB) is reached by any large request
/// body, an upload's part say, and then held by every such connection while it stays open; a
/// request head fits well within this, and a response is written as it is queued.
const HTTP_BUFFER_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `stop` fires, then waits up to `drain` for the open HTTP
/// connections to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    open: Arc<OpenConnections>,
    stop: Shutdown,
    drain: Duration,
) {
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HTTP_BUFFER_BYTES);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if out_of_files(&error) {
                        tracing::warn!(%error, "no file descriptor for a new connection");
                        tokio::time::sleep(OUT_OF_FILES_PAUSE).await;
                    } else {
                        // The client went away before being accepted: nothing to do.
                        tracing::debug!(%error, "accepting a connection failed");
                    }
                    continue;
                }
            },
            () = stop.triggered() => break,
        };
        let Some(slot) = open.admit(peer, limits.per_address) else {
            tracing::debug!(%peer, "connection closed: its address holds its cap");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        connections.spawn(serve_connection(
            http.clone(),
            LeastRateWrites::new(stream, limits.writes),
            peer,
            slot,
            app.clone(),
            stop.clone(),
        ));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections did not close in time");
    }
}

/// Serves one connection: every request carries the peer's address ([`ConnectInfo`]) and
/// the address slot, which an upgrade to a WebSocket keeps.
async fn serve_connection(
    http: http1::Builder,
    stream: LeastRateWrites<TcpStream>,
    peer: SocketAddr,
    slot: Arc<AddressSlot>,
    app: Router,
    stop: Shutdown,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(Arc::clone(&slot));
        let mut app = app.clone();
        async move {
            // A Router is always ready and never fails: errors are responses.
            let response: Result<_, Infallible> = app.call(request).await;
            response
        }
    });
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = stop.triggered() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        // Timeouts, resets and malformed requests: the client's problem, not the server's.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Whether accepting failed for want of file descriptors or memory, which pass; other errors
/// concern one connection only.
#[cfg(unix)]
fn out_of_files(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let errno = Errno::from_io_error(error);
    [Errno::MFILE, Errno::NFILE, Errno::NOMEM, Errno::NOBUFS]
        .iter()
        .any(|out| errno == Some(*out))
}

#[cfg(not(unix))]
fn out_of_files(_error: &std::io::Error) -> bool {
    false
}
