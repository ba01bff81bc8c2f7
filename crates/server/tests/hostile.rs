//! One client against everyone else: connection slots and requests. Half-open HTTP
//! connections are closed by the header-read timeout, one source address holds at most its
//! cap of connections, one account at most its cap of sessions, and one account's requests
//! are served within its allowance — fifty of them looping the costliest reads at once
//! included, and one mixing cheap requests with them closed all the same — while everyone
//! else is served throughout. A client that never reads a response is closed too.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use merpati_protocol::{
    ChatId, ClientFrame, ErrorCode, MAX_PAGE, RequestId, Seq, ServerFrame, UserId,
};
use merpati_testkit::SplitSocket;
use merpati_testkit::raw_client::next_binary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Client, TestServer, key, msg_id};

/// Half a request: the head never ends.
const HALF_A_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: merpati\r\nUpgrade: websocket\r\n";

/// The read allowance the looping tests' server gives each account: the default burst, but
/// refilled only once a minute, so that how much of a loop is served does not depend on how
/// fast this machine serves it. (At the default twenty a second, a machine that serves an
/// attacker slowly enough refills its allowance as fast as the attacker spends it.)
const READ_BURST: u64 = 1_000;
const READS_PER_MINUTE: u32 = 1;
/// What a full page of history and the keys of fifty accounts cost (docs/operations.md).
const PAGE_COST: u64 = 11;
const KEYS_COST: u64 = 2;

async fn slowly_refilling_server() -> TestServer {
    TestServer::start_configured(|config| config.reads_per_minute = READS_PER_MINUTE).await
}

/// Reads the allowance holds `since` the first was spent: the burst, and what the refill
/// added (counting the minute under way in full).
fn allowance_since(since: Instant) -> u64 {
    READ_BURST + (since.elapsed().as_secs() / 60 + 1) * u64::from(READS_PER_MINUTE)
}

/// A TCP connection from 127.0.0.`last` that sends half a request.
async fn half_open(server: SocketAddr, last: u8) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, 0, 0, last),
        0,
    )))?;
    let mut stream = socket.connect(server).await?;
    // The server may already have closed a connection over its address's cap.
    let _ = stream.write_all(HALF_A_REQUEST).await;
    Ok(stream)
}

/// Waits until the server closes `stream` (end of file or a reset); `false` if it is still
/// open after `bound`.
async fn closed_by_server(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut byte = [0u8; 64];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut byte).await {
                Ok(0) | Err(_) => return,
                // An answer (a 408, say) before closing.
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Whether this process holds `path` open.
fn holds_open(path: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    entries
        .flatten()
        .any(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| target == path))
}

/// A client that asks for a large file and never reads it: hyper has no deadline for writing
/// a response, so without the write-stall timeout the connection and the open file stay held
/// for good (outside the WebSocket cap, a few hundred per address). The test waits for the
/// file to be let go of, then reads what had been sent: part of the file, then the end.
#[tokio::test]
async fn a_client_that_never_reads_a_response_is_closed_and_its_file_let_go_of() {
    const SIZE: usize = 16 << 20;
    let mut big = None;
    let server = TestServer::start_configured(|config| {
        config.write_stall_timeout_ms = 300;
        let path = config.web_root.join("big.wasm");
        std::fs::write(&path, vec![7u8; SIZE]).unwrap();
        big = Some(path.canonicalize().unwrap());
    })
    .await;
    let big = big.unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    // A small window: the server's writes soon wait on this client.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /big.wasm HTTP/1.1\r\nHost: merpati\r\n\r\n")
        .await
        .unwrap();

    // The bound only keeps a broken server from hanging the test.
    let started = Instant::now();
    let mut served = false;
    while started.elapsed() < Duration::from_secs(20) {
        served |= holds_open(&big);
        if served && !holds_open(&big) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the file was opened to be sent");
    assert!(
        !holds_open(&big),
        "the file is still held after {:?}",
        started.elapsed()
    );
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
        .await
        .expect("the connection ends");
    // A reset, or what was sent before the close and then the end.
    assert!(
        read.is_err() || received.len() < SIZE,
        "{} bytes received of {SIZE}",
        received.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_one_address_holds_only_its_cap() {
    let server = TestServer::start().await;
    // Five thousand half-open connections from twenty addresses (250 each, under the cap).
    let mut held = Vec::new();
    for n in 0..5_000u32 {
        let last = u8::try_from(2 + n % 20).unwrap();
        held.push(half_open(server.addr, last).await.unwrap());
    }
    // A thousand more from one address: past its cap of 256 the server closes them at once.
    let mut crowd = Vec::new();
    for _ in 0..1_000 {
        crowd.push(half_open(server.addr, 30).await.unwrap());
    }
    let started = Instant::now();

    // Meanwhile a fresh person signs up and talks, from an address of their own.
    let mut fresh = Client::connect_from(&server.endpoint(), 40).await;
    assert!(matches!(
        fresh.register("fresh", &key("fresh")).await,
        ServerFrame::Welcome { .. }
    ));
    let signed_in_after = started.elapsed();

    // The server closed 744 of the crowd's at once for their address (it holds 256); the
    // counter reaches that as the accept loop works through them.
    let mut refused = 0.0;
    for _ in 0..400 {
        refused = server.metrics().await["merpati_connections_refused_per_address_total"];
        if refused >= 744.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused, 744.0);
    // Every half-open connection is closed by the server (5 s header timeout); the bound only
    // keeps a broken server from hanging the test.
    for stream in held.iter_mut().chain(crowd.iter_mut()) {
        assert!(
            closed_by_server(stream, Duration::from_secs(20)).await,
            "a half-open connection is still open after {:?}",
            started.elapsed()
        );
    }
    eprintln!(
        "fresh person signed up {signed_in_after:?} into the attack; all 6,000 half-open \
         connections closed {:?} after it",
        started.elapsed()
    );
    // The fresh person's WebSocket, upgraded, is no half-open connection: still served.
    let _other = server.signed_up("other").await;
    let chat = fresh.direct("other").await;
    assert_eq!(chat.members.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn one_account_holds_at_most_its_cap_of_connected_sessions() {
    let server = TestServer::start().await;
    let (_hog, _, token) = server.signed_up("hog").await;
    // Hundreds of sockets signed in to one account: past 64 each is refused, not kept.
    let mut sessions = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let mut client = server.connect().await;
        match client.resume(token).await {
            ServerFrame::Welcome { .. } => sessions.push(client),
            ServerFrame::Error {
                code: ErrorCode::LimitReached,
                ..
            } => refused += 1,
            other => panic!("expected Welcome or LimitReached, got {other:?}"),
        }
    }
    // 64 in all: its first session and 63 more.
    assert_eq!(sessions.len(), 63);
    assert_eq!(refused, 200 - 63);
    // Logging in (a new session) is refused the same way, and leaves no session behind.
    let mut login = server.connect().await;
    assert!(matches!(
        login.login("hog", &key("hog")).await,
        ServerFrame::Error {
            code: ErrorCode::LimitReached,
            ..
        }
    ));
    // Everyone else is untouched.
    let (_fresh, _, _) = server.signed_up("fresh").await;
    // A session that leaves makes room for one more, once the server has seen it go.
    drop(sessions.pop());
    let mut resumed = false;
    for _ in 0..200 {
        if let ServerFrame::Welcome { .. } = server.connect().await.resume(token).await {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed, "the freed slot was not given back");
    server.stop().await;
}

#[tokio::test]
async fn a_client_looping_expensive_requests_is_refused_past_its_allowance() {
    let server = slowly_refilling_server().await;
    let (mut greedy, _, token) = server.signed_up("greedy").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = greedy.direct("bob").await.id;
    let _pushed = bob.recv().await;

    // Page after page of history, as fast as the socket takes them, until the server has
    // had enough.
    let started = Instant::now();
    let (mut served, mut refused, mut in_a_row) = (0_u64, 0, 0);
    let goodbye = loop {
        greedy
            .send(&ClientFrame::History {
                chat_id: chat,
                before: Seq(u64::MAX),
                limit: MAX_PAGE,
            })
            .await;
        match greedy.recv().await {
            ServerFrame::Page { .. } => {
                served += 1;
                in_a_row = 0;
            }
            ServerFrame::Error {
                code: ErrorCode::TooManyRequests,
                ..
            } => {
                refused += 1;
                in_a_row += 1;
            }
            ServerFrame::Goodbye {
                code,
                retry_after_ms,
            } => break (code, retry_after_ms),
            other => panic!("expected a page, TooManyRequests or Goodbye, got {other:?}"),
        }
        assert!(
            served + refused < 20_000,
            "never closed: {served} served, {refused} refused"
        );
    };
    // The allowance in full and no more, then refusals; the hundredth refusal in a row is
    // the Goodbye, with a time to come back, as for a sender too fast for too long.
    let allowance = allowance_since(started);
    assert!(
        served * PAGE_COST > READ_BURST - PAGE_COST && served * PAGE_COST <= allowance,
        "{served} pages served of an allowance of {allowance} reads"
    );
    assert_eq!(in_a_row, 99, "{refused} refused in all");
    assert_eq!(goodbye.0, ErrorCode::RateLimited);
    assert!(goodbye.1.is_some(), "the client is told when to come back");
    let (_, close) = greedy.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    // Coming straight back does not work: the account signs in again only after that time.
    for attempt in [
        server.connect().await.resume(token).await,
        server.connect().await.login("greedy", &key("greedy")).await,
    ] {
        assert!(
            matches!(
                attempt,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            ),
            "{attempt:?}"
        );
    }

    // Everyone else is served as before: Bob reads and writes.
    bob.send(&ClientFrame::History {
        chat_id: chat,
        before: Seq(u64::MAX),
        limit: MAX_PAGE,
    })
    .await;
    assert!(matches!(bob.recv().await, ServerFrame::Page { .. }));
    bob.say(chat, msg_id(1), b"still served").await;
    server.stop().await;
}

/// A client that mixes a request that fits in what its allowance refills with one that does
/// not, asking again without waiting as it was told, is closed: being served the cheap ones
/// does not forgive the refusals of the expensive ones (`gateway/refusals.rs`).
#[tokio::test]
async fn a_client_mixing_cheap_requests_with_expensive_ones_is_still_closed() {
    // Two hundred reads a second after a burst of twenty: the keys of one account (one read)
    // fit in what a few milliseconds refill; a full page of history (eleven) never does, as
    // the cheap requests take every read as it comes back.
    let server = TestServer::start_configured(|config| {
        config.reads_per_minute = 12_000;
        config.read_burst = 20;
    })
    .await;
    let (mut greedy, me, _) = server.signed_up("greedy").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = greedy.direct("bob").await.id;
    let _pushed = bob.recv().await;

    // Round after round: a page, a millisecond's pause, then the keys of one account until
    // one is refused — each asked as soon as the last was answered, never waiting the time a
    // refusal named. The allowance never holds the page's eleven reads.
    let (mut refused, mut served_after_a_refusal, mut asked) = (0_u32, 0_u32, 0_u32);
    let goodbye = 'asking: loop {
        for cheap in [false, true] {
            if cheap {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            loop {
                asked += 1;
                let frame = if cheap {
                    ClientFrame::QueryKeys {
                        request: RequestId(asked),
                        users: vec![me.id],
                    }
                } else {
                    ClientFrame::History {
                        chat_id: chat,
                        before: Seq(u64::MAX),
                        limit: MAX_PAGE,
                    }
                };
                greedy.send(&frame).await;
                match greedy.recv().await {
                    ServerFrame::Page { .. } | ServerFrame::Keys { .. } => {
                        served_after_a_refusal += u32::from(refused > 0);
                    }
                    ServerFrame::Error {
                        code: ErrorCode::TooManyRequests,
                        ..
                    } => {
                        refused += 1;
                        break;
                    }
                    ServerFrame::Goodbye { code, .. } => break 'asking code,
                    other => {
                        panic!("expected an answer, TooManyRequests or Goodbye, got {other:?}")
                    }
                }
                assert!(
                    asked < 20_000,
                    "never closed: {refused} refused, {served_after_a_refusal} served after a refusal"
                );
                if !cheap {
                    break;
                }
            }
        }
    };
    // The refusals took at least thirty pauses of a millisecond, in which the allowance
    // refilled six reads: cheap requests were served between them, and under a rule that
    // forgave any served request the count would have started again each time.
    assert!(
        served_after_a_refusal > 0,
        "{refused} refused, none served in between"
    );
    // The hundredth refusal is the Goodbye.
    assert!(refused >= 99, "{refused} refused");
    assert_eq!(goodbye, ErrorCode::RateLimited);
    server.stop().await;
}

/// What one attacker's requests were answered: served (pages, keys), or refused past its
/// allowance; and whether the server closed the connection, saying why.
#[derive(Debug, Default)]
struct Answered {
    pages: u64,
    keys: u64,
    refused: usize,
    closed: Option<ErrorCode>,
}

impl Answered {
    fn answers(&self) -> usize {
        usize::try_from(self.pages + self.keys).unwrap_or(usize::MAX) + self.refused
    }

    /// The reads what was served cost.
    fn reads_served(&self) -> u64 {
        self.pages * PAGE_COST + self.keys * KEYS_COST
    }
}

/// An attacker: asks for `pages` full pages of the group's history, and the keys of
/// everyone in it, in turn, without waiting for answers; counts the answers.
async fn loop_expensive_requests(
    client: Client,
    chat: ChatId,
    members: Vec<UserId>,
    total: usize,
) -> Answered {
    let SplitSocket {
        mut writer,
        mut reader,
    } = client.into_split();
    let sending = tokio::spawn(async move {
        for n in 0..total {
            let frame = if n.is_multiple_of(2) {
                ClientFrame::History {
                    chat_id: chat,
                    before: Seq(u64::MAX),
                    limit: MAX_PAGE,
                }
            } else {
                ClientFrame::QueryKeys {
                    request: RequestId(u32::try_from(n).unwrap()),
                    users: members.clone(),
                }
            };
            let bytes = merpati_protocol::encode(&frame);
            if writer.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
    });
    let mut answered = Answered::default();
    while answered.answers() < total {
        let Some(bytes) = next_binary(&mut reader).await else {
            break;
        };
        match merpati_protocol::decode::<ServerFrame>(&bytes).unwrap() {
            ServerFrame::Page { .. } => answered.pages += 1,
            ServerFrame::Keys { .. } => answered.keys += 1,
            ServerFrame::Error {
                code: ErrorCode::TooManyRequests,
                ..
            } => answered.refused += 1,
            ServerFrame::Goodbye { code, .. } => {
                answered.closed = Some(code);
                break;
            }
            // The group's traffic, pushed to every member.
            _ => {}
        }
    }
    // The writer may still be sending into a closed connection: it stops at the first error.
    sending.await.unwrap();
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_looping_expensive_requests_leave_everyone_else_served() {
    let server = slowly_refilling_server().await;
    // Fifty attackers in one group with a long history: every page of it is 64 KiB to read.
    let mut attackers = Vec::new();
    let mut members = Vec::new();
    for n in 0..50 {
        let (attacker, me, _) = server.signed_up(&format!("greedy{n}")).await;
        attackers.push(attacker);
        members.push(me.id);
    }
    let names: Vec<String> = (0..50).map(|n| format!("greedy{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut host, _, _) = server.signed_up("host").await;
    let group = host.group("lobby", &names).await.id;
    for n in 1..=100 {
        host.say(group, msg_id(n), &[0x61; 4096]).await;
    }
    // Honest people, in chats of two.
    let mut pairs = Vec::new();
    for n in 0..5 {
        let (mut sari, _, _) = server.signed_up(&format!("sari{n}")).await;
        let (mut tomo, _, _) = server.signed_up(&format!("tomo{n}")).await;
        let chat = sari.direct(&format!("tomo{n}")).await.id;
        let _pushed = tomo.expect_pushed_chat().await;
        pairs.push((chat, tomo));
    }

    // The attack: page after page and key query after key query, as fast as the sockets
    // take them (500 pages alone cost more than five times the allowance) — until the server
    // closes each attacker for asking on past its allowance.
    let started = Instant::now();
    let attack: Vec<_> = attackers
        .into_iter()
        .map(|attacker| {
            tokio::spawn(loop_expensive_requests(
                attacker,
                group,
                members.clone(),
                1_000,
            ))
        })
        .collect();
    // Meanwhile everyone else signs in again (a new session each) and writes: every sign-in
    // is welcomed, every message acknowledged and delivered.
    for (n, (chat, tomo)) in pairs.iter_mut().enumerate() {
        let mut sari = server.logged_in(&format!("sari{n}")).await;
        for m in 1..=5 {
            sari.say(*chat, msg_id(m), b"masih bisa").await;
            assert_eq!(tomo.expect_message().await.client_msg_id, msg_id(m));
        }
    }
    // Every attacker was served its allowance in full and no more (the last request that
    // fits costs 2), then refused, and closed at the hundredth refusal in a row.
    for attacker in attack {
        let answered = attacker.await.unwrap();
        let allowance = allowance_since(started);
        assert!(
            answered.reads_served() > READ_BURST - KEYS_COST
                && answered.reads_served() <= allowance,
            "{answered:?} of an allowance of {allowance} reads"
        );
        assert!(answered.refused >= 99, "{answered:?}");
        assert_eq!(
            answered.closed,
            Some(ErrorCode::RateLimited),
            "{answered:?}"
        );
    }
    server.stop().await;
}
