//! A loopback proxy in front of the server that breaks what a network breaks, where a test
//! says: it can shut WebSockets out while HTTP goes through (a proxy that breaks upgrades, a
//! network that drops long-lived connections), or keep them open while nothing the server says
//! reaches the browser (deafened, every socket or one: the browser's frames still reach the
//! server), cut a file's
//! download part-way, and stall a download, an upload's start or an upload's part: stop
//! passing bytes either way while keeping both connections open, as a NAT that dropped its
//! state or a proxy that hangs does (no FIN, no RST: the browser learns nothing). DevTools'
//! request blocking cannot do any of these: it does not reach the app's engine worker.
//!
//! The page is opened at the gate's URL, so the gate is its origin and the server sees the
//! same `Host` and `Origin` as without it. Each connection is told apart by its first
//! request: a WebSocket handshake (`Upgrade: websocket`) is refused with 503 while the gate is
//! shut, and cut when the gate shuts. Browsers open every WebSocket on a connection of its
//! own. Any other request is passed on with `Connection: close`, so that each HTTP connection
//! carries that one request and its answer, and the gate knows which download a connection
//! is; past the head, bytes pass as they are, both ways.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
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
    /// How many bytes of the next file download's answer to let through before cutting it;
    /// 0 for none to cut.
    cut_download_after: AtomicU64,
    /// How many bytes of the next file download's answer to let through before stalling it;
    /// 0 for none to stall.
    stall_download_after: AtomicU64,
    /// Whether the next upload's start (`PUT /blobs/…`) is to be stalled: passed on, its
    /// answer held.
    stall_upload_start: AtomicBool,
    /// Whether what the server says on the WebSockets is held back now.
    deaf: AtomicBool,
    /// How many WebSockets the gate has let through: the next one's number.
    sockets_opened: AtomicUsize,
    /// The WebSockets (by number) what the server says on is held back now, whatever `deaf`.
    deaf_sockets: Mutex<HashSet<usize>>,
    /// Told when the WebSockets hear the server again.
    hearing: Notify,
    /// How many bytes of the next upload part's request (`PATCH /blobs/…`, head included) to
    /// let through before stalling it; 0 for none to stall.
    stall_part_after: AtomicU64,
    /// The heads of the file downloads (`GET /blobs/…`) asked for through the gate, in order.
    downloads: Mutex<Vec<String>>,
    /// The heads of the upload parts (`PATCH /blobs/…`) sent through the gate, in order.
    parts: Mutex<Vec<String>>,
    /// The request lines of the requests asking where an upload stands (`PUT /blobs/…`, which
    /// starts or resumes one, and `HEAD /blobs/…`), in order.
    upload_asks: Mutex<Vec<String>>,
    /// The connections of stalled requests, both sides, held open until the gate goes.
    stalled: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn deaf_sockets(&self) -> std::sync::MutexGuard<'_, HashSet<usize>> {
        self.deaf_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the gate does to one HTTP request's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Passing {
    /// Passes them all, both ways.
    All,
    /// Passes this many bytes of the answer, then drops both connections.
    CutAnswerAfter(u64),
    /// Passes this many bytes of the answer, then nothing more either way.
    StallAnswerAfter(u64),
    /// Passes this many bytes of the request (head included), then nothing more either way.
    StallRequestAfter(u64),
    /// The WebSocket of this number: passes all, both ways, but what the server says only
    /// while neither the gate nor this socket is deafened.
    Socket(usize),
}

/// The gate; it stops accepting when dropped (connections passing then end with the test).
#[derive(Debug)]
pub struct NetworkGate {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

impl NetworkGate {
    /// A gate on a free loopback port in front of the server at `upstream`, open.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<NetworkGate> {
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
        Ok(NetworkGate {
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

    /// Holds back what the server says on every WebSocket, open now or later, until
    /// [`NetworkGate::hear`]: the browser hears nothing, while its frames still reach the server.
    pub fn deafen(&self) {
        self.shared.deaf.store(true, Ordering::SeqCst);
    }

    /// Holds back what the server says on WebSocket number `socket` (counted from 0 in the
    /// order the gate let them through: [`NetworkGate::sockets_opened`]) until
    /// [`NetworkGate::hear`]: one tab of a browser hears nothing while the others do.
    pub fn deafen_socket(&self, socket: usize) {
        self.shared.deaf_sockets().insert(socket);
    }

    /// How many WebSockets the gate has let through so far.
    pub fn sockets_opened(&self) -> usize {
        self.shared.sockets_opened.load(Ordering::SeqCst)
    }

    /// Lets what the server says reach the browser again, on every socket, what was held back
    /// first.
    pub fn hear(&self) {
        self.shared.deaf.store(false, Ordering::SeqCst);
        self.shared.deaf_sockets().clear();
        self.shared.hearing.notify_waiters();
    }

    /// Stalls the next upload's start (`PUT /blobs/…`, which a resumed upload also begins
    /// with): the server gets it, its answer never reaches the browser, and both connections
    /// stay open.
    pub fn stall_next_upload_start(&self) {
        self.shared.stall_upload_start.store(true, Ordering::SeqCst);
    }

    /// Cuts the next file download once `bytes` of its answer (head included) have passed:
    /// the browser sees its connection drop part-way through the body.
    pub fn cut_next_download_after(&self, bytes: u64) {
        self.shared
            .cut_download_after
            .store(bytes, Ordering::SeqCst);
    }

    /// Stalls the next file download once `bytes` of its answer (head included) have passed:
    /// nothing more passes either way, and both connections stay open.
    pub fn stall_next_download_after(&self, bytes: u64) {
        self.shared
            .stall_download_after
            .store(bytes, Ordering::SeqCst);
    }

    /// Stalls the next upload part (`PATCH`) once `bytes` of its request (head included) have
    /// reached the server: nothing more passes either way, the server's answer neither, and
    /// both connections stay open.
    pub fn stall_next_upload_part_after(&self, bytes: u64) {
        self.shared.stall_part_after.store(bytes, Ordering::SeqCst);
    }

    /// The request heads of the upload parts sent through the gate so far, in order.
    pub fn upload_parts(&self) -> Vec<String> {
        copy_of(&self.shared.parts)
    }

    /// How many requests the gate has stalled so far.
    pub fn stalled(&self) -> usize {
        // Two connections a request.
        self.shared
            .stalled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            / 2
    }

    /// The request lines of the requests asking the server where an upload stands (`PUT`,
    /// `HEAD`) sent through the gate so far, in order.
    pub fn upload_asks(&self) -> Vec<String> {
        copy_of(&self.shared.upload_asks)
    }

    /// The request heads of the file downloads asked for through the gate so far, in order.
    pub fn downloads(&self) -> Vec<String> {
        copy_of(&self.shared.downloads)
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
        self.shared
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for NetworkGate {
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
        let number = shared.sockets_opened.fetch_add(1, Ordering::SeqCst);
        let piping = tokio::spawn(pipe(
            client,
            upstream,
            head,
            Passing::Socket(number),
            shared.clone(),
        ));
        sockets.push(piping.abort_handle());
        return;
    }
    let head = closing_after_one_request(&head);
    let take = |after: &AtomicU64| Some(after.swap(0, Ordering::SeqCst)).filter(|bytes| *bytes > 0);
    let mut passing = Passing::All;
    if let Some(request) = download_head(&head) {
        shared
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        if let Some(bytes) = take(&shared.cut_download_after) {
            passing = Passing::CutAnswerAfter(bytes);
        } else if let Some(bytes) = take(&shared.stall_download_after) {
            passing = Passing::StallAnswerAfter(bytes);
        }
    } else if let Some(request) = upload_part_head(&head) {
        shared
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        if let Some(bytes) = take(&shared.stall_part_after) {
            passing = Passing::StallRequestAfter(bytes);
        }
    } else if head.starts_with(b"PUT /blobs/") || head.starts_with(b"HEAD /blobs/") {
        shared
            .upload_asks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(
                String::from_utf8_lossy(head.split(|byte| *byte == b'\r').next().unwrap_or(&[]))
                    .into_owned(),
            );
        if head.starts_with(b"PUT /blobs/")
            && shared.stall_upload_start.swap(false, Ordering::SeqCst)
        {
            passing = Passing::StallAnswerAfter(0);
        }
    }
    pipe(client, upstream, head, passing, shared).await;
}

/// Connects to `upstream`, sends what was read of the client's first request, then copies
/// both ways until either side closes, or as `passing` says.
async fn pipe(
    mut client: TcpStream,
    upstream: SocketAddr,
    head: Vec<u8>,
    passing: Passing,
    shared: Arc<Shared>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if let Passing::StallRequestAfter(limit) = passing {
        // What was read of the request counts too: the head, and any body bytes with it.
        let sent = head.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        if server.write_all(&head[..sent]).await.is_err() {
            return;
        }
        let mut rest = (&mut client).take(limit.saturating_sub(sent as u64));
        let _ = tokio::io::copy(&mut rest, &mut server).await;
        hold_open(&shared, client, server);
        return;
    }
    if server.write_all(&head).await.is_err() {
        return;
    }
    match passing {
        Passing::All | Passing::StallRequestAfter(_) => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Passing::Socket(number) => {
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            let heard = async {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let read = from_server.read(&mut buffer).await?;
                    if read == 0 {
                        return Ok::<(), std::io::Error>(());
                    }
                    until_heard(&shared, number).await;
                    to_client.write_all(&buffer[..read]).await?;
                }
            };
            tokio::select! {
                _ = tokio::io::copy(&mut from_client, &mut to_server) => {}
                _ = heard => {}
            }
        }
        Passing::CutAnswerAfter(limit) => {
            // A GET has no body to pass on: only the answer is copied, up to the cut. Both
            // connections are dropped there, which the browser reads as the network failing.
            let mut answer = (&mut server).take(limit);
            let _ = tokio::io::copy(&mut answer, &mut client).await;
        }
        Passing::StallAnswerAfter(limit) => {
            let mut answer = (&mut server).take(limit);
            let _ = tokio::io::copy(&mut answer, &mut client).await;
            hold_open(&shared, client, server);
        }
    }
}

/// Waits while the gate ([`NetworkGate::deafen`]) or socket number `socket`
/// ([`NetworkGate::deafen_socket`]) is deafened.
async fn until_heard(shared: &Shared, socket: usize) {
    loop {
        // Made before the flags are read: a `hear` in between still wakes it.
        let heard = shared.hearing.notified();
        if !shared.deaf.load(Ordering::SeqCst) && !shared.deaf_sockets().contains(&socket) {
            return;
        }
        heard.await;
    }
}

/// A copy of a list the gate keeps.
fn copy_of(list: &Mutex<Vec<String>>) -> Vec<String> {
    list.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Keeps a stalled request's connections open, unread and unwritten, until the gate goes.
fn hold_open(shared: &Shared, client: TcpStream, server: TcpStream) {
    shared
        .stalled
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend([client, server]);
}

/// A request's head with its `Connection` header replaced by `Connection: close`, and any
/// bytes read past the head kept as they came.
fn closing_after_one_request(read: &[u8]) -> Vec<u8> {
    let Some(end) = read.windows(4).position(|window| window == b"\r\n\r\n") else {
        return read.to_vec();
    };
    let head = String::from_utf8_lossy(&read[..end]);
    let mut rewritten = String::with_capacity(end + 20);
    for line in head.split("\r\n") {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    let mut bytes = rewritten.into_bytes();
    bytes.extend_from_slice(&read[end + 4..]);
    bytes
}

/// The head of a request for a file's blob (`GET /blobs/…`), as text; `None` for any other.
fn download_head(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let request_line = text.lines().next()?;
    request_line
        .starts_with("GET /blobs/")
        .then(|| head_text(head))
}

/// A request's head, without what follows it, as text.
fn head_text(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// The head of a request sending a part of an upload (`PATCH /blobs/…`), as text; `None`
/// for any other.
fn upload_part_head(head: &[u8]) -> Option<String> {
    head.starts_with(b"PATCH /blobs/").then(|| head_text(head))
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

/// The number a request head's header `name` gives (as the gate's [`NetworkGate::downloads`]
/// and [`NetworkGate::upload_parts`] list them), if it has one that reads.
pub fn header_number(head: &str, name: &str) -> Option<u64> {
    header_value(head, name)?.parse().ok()
}

/// Where a request head's `Range` starts (`bytes=N-`); `None` without one.
pub fn range_start(head: &str) -> Option<u64> {
    header_value(head, "range")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (found, value) = line.split_once(':')?;
        found
            .trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_passed_on_asking_to_close_after_it() {
        let read = b"GET /blobs/ab HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nbody";
        let rewritten = closing_after_one_request(read);
        assert_eq!(
            String::from_utf8_lossy(&rewritten),
            "GET /blobs/ab HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nbody"
        );
        assert_eq!(
            download_head(&rewritten).as_deref(),
            Some("GET /blobs/ab HTTP/1.1\r\nHost: x\r\nConnection: close")
        );
        assert_eq!(download_head(b"PUT /blobs/ab HTTP/1.1\r\n\r\n"), None);
        assert_eq!(
            upload_part_head(b"PATCH /blobs/ab HTTP/1.1\r\nUpload-Offset: 5\r\n\r\nbody")
                .as_deref(),
            Some("PATCH /blobs/ab HTTP/1.1\r\nUpload-Offset: 5")
        );
        assert_eq!(upload_part_head(&rewritten), None);
    }
}

#[cfg(test)]
mod socket_tests {
    //! The gate's WebSockets, against a server that echoes.

    use super::*;

    /// A server that answers a WebSocket handshake and then echoes every byte.
    async fn echoing_server() -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = read_head(&mut socket).await;
                    let _ = socket
                        .write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                        .await;
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Ok(addr)
    }

    async fn read_exactly(stream: &mut TcpStream, len: usize) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; len];
        stream.read_exact(&mut bytes).await?;
        Ok(bytes)
    }

    #[tokio::test]
    async fn a_socket_passes_both_ways_and_what_a_deafened_one_holds_arrives_once_heard()
    -> std::io::Result<()> {
        let gate = NetworkGate::start(echoing_server().await?).await?;
        let mut socket = TcpStream::connect(gate.addr).await?;
        socket
            .write_all(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
            .await?;
        let answer = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(read_exactly(&mut socket, answer.len()).await?, answer);
        socket.write_all(b"one").await?;
        assert_eq!(read_exactly(&mut socket, 3).await?, b"one");

        // What the server says while deafened is held, not lost (that nothing of it passes
        // meanwhile, the e2e tests that deafen the gate show).
        gate.deafen();
        socket.write_all(b"two").await?;
        gate.hear();
        assert_eq!(read_exactly(&mut socket, 3).await?, b"two");
        Ok(())
    }

    #[tokio::test]
    async fn one_socket_deafened_holds_what_it_is_told_while_another_hears() -> std::io::Result<()>
    {
        let gate = NetworkGate::start(echoing_server().await?).await?;
        let answer = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let mut sockets = Vec::new();
        for _ in 0..2 {
            let mut socket = TcpStream::connect(gate.addr).await?;
            socket
                .write_all(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
                .await?;
            assert_eq!(read_exactly(&mut socket, answer.len()).await?, answer);
            sockets.push(socket);
        }
        assert_eq!(gate.sockets_opened(), 2);
        gate.deafen_socket(1);
        sockets[1].write_all(b"held").await?;
        sockets[0].write_all(b"one").await?;
        assert_eq!(read_exactly(&mut sockets[0], 3).await?, b"one");
        gate.hear();
        assert_eq!(read_exactly(&mut sockets[1], 4).await?, b"held");
        Ok(())
    }
}
