//! The memory a connection holds in the server process after it has sent one frame of the
//! largest size taken: within the budget of an idle connection (PRODUCT.md: 16 KiB), not the
//! size of that frame for as long as the connection stays open.
//!
//! Measured on the real binary in a process of its own, as its resident memory (`VmRSS`): so
//! that nothing but the server's own connections counts, whatever other tests run meanwhile.
//! The kernel's share of a connection (socket buffers, slab) is measured machine-wide by
//! `scripts/bench-idle`, which no test can do while other tests open sockets.

use merpati_protocol::{ErrorCode, MAX_FRAME_BYTES, ServerFrame};
use merpati_testkit::{ConnectOptions, RawClient, ServerOptions, ServerProcess};
use tokio_tungstenite::tungstenite::Message;

/// Connections held: enough that the allocator's and the runtime's own noise is a small part
/// of each one's share.
const CONNECTIONS: usize = 500;

/// PRODUCT.md's memory per idle connection, in bytes.
const IDLE_CONNECTION_BUDGET: u64 = 16 * 1024;

/// The server process's resident memory, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

/// Sends a frame of `len` bytes that is no protocol frame, and reads the server's answer to
/// it: once that arrives, the session has handled the frame.
async fn send_junk_and_read_the_answer(client: &mut RawClient, len: usize) {
    client
        .send_message(Message::Binary(vec![0xFF; len].into()))
        .await
        .unwrap();
    client
        .expect("the error for a malformed frame", |frame| match frame {
            ServerFrame::Error {
                code: ErrorCode::Malformed,
                ..
            } => Ok(()),
            other => Err(Box::new(other)),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn connections_that_each_sent_a_largest_frame_hold_no_more_than_the_idle_budget() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let pid = server.pid().expect("the server runs");
    let endpoint = server.endpoint();
    let options = ConnectOptions::load_client();

    // First some that come and go: the runtime's threads, the allocator's arenas and the
    // memory one large frame takes while it is handled are in place before the measure.
    for _ in 0..50 {
        let mut client = RawClient::connect(&endpoint, &options).await.unwrap();
        send_junk_and_read_the_answer(&mut client, MAX_FRAME_BYTES).await;
    }
    let before = resident_bytes(pid);

    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut client = RawClient::connect(&endpoint, &options).await.unwrap();
        send_junk_and_read_the_answer(&mut client, MAX_FRAME_BYTES).await;
        held.push(client);
    }
    // A small frame after the large one on every connection: its answer shows the connection
    // still open and the large frame handled and let go (a session takes its frames in
    // order), so what is measured next is what each holds while idle.
    for client in &mut held {
        send_junk_and_read_the_answer(client, 1).await;
    }
    let after = resident_bytes(pid);

    let per_connection = after.saturating_sub(before) / CONNECTIONS as u64;
    eprintln!("server memory per connection after a largest frame: {per_connection} bytes");
    assert!(
        per_connection <= IDLE_CONNECTION_BUDGET,
        "each connection that sent one {MAX_FRAME_BYTES}-byte frame holds {per_connection} \
         bytes of the server's memory, over the idle budget of {IDLE_CONNECTION_BUDGET}"
    );
    drop(held);
}
