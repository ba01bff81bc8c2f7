//! The memory a connection holds in the server process after it has sent one frame of the
//! largest size taken: within the budget of an idle connection (PRODUCT.md: 16 KiB), not the
//! size of that frame for as long as the connection stays open. And the memory an upload
//! holds while its part is still arriving: not the bytes it has sent so far.
//!
//! Measured on the real binary in a process of its own, as its resident memory (`VmRSS`): so
//! that nothing but the server's own connections counts, whatever other tests run meanwhile.
//! The kernel's share of a connection (socket buffers, slab) is measured machine-wide by
//! `scripts/bench-idle`, which no test can do while other tests open sockets.

use merpati_protocol::blobs::MAX_UPLOAD_PART_BYTES;
use merpati_protocol::{ErrorCode, MAX_FRAME_BYTES, ServerFrame};
use merpati_testkit::poll::poll_until;
use merpati_testkit::{ConnectOptions, RawClient, ServerOptions, ServerProcess};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{BlobClient, Client, blob_file, blob_id, ciphertext, data_dir};

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

/// Uploads whose part is half sent, each on a connection of its own.
const HALF_SENT_PARTS: usize = 48;

/// What each of those has sent of its part: half the largest.
const HALF_A_PART: usize = MAX_UPLOAD_PART_BYTES as usize / 2;

/// What an upload whose part is still arriving may hold of the server's memory: the HTTP
/// connection's read buffer and one write in flight, a small share of what it has sent.
const PART_ARRIVING_BUDGET: u64 = 512 * 1024;

#[tokio::test]
async fn uploads_whose_parts_are_half_sent_hold_far_less_than_they_sent() {
    let (_dir, data) = data_dir();
    // No part is ended for stalling while the test holds them.
    let server = ServerProcess::start(
        ServerOptions::new()
            .data_dir(&data)
            .args(["--blob-part-idle-ms", "600000"]),
    )
    .await
    .unwrap();
    let pid = server.pid().expect("the server runs");
    let (_alice, _, token) = Client::signed_up(&server.endpoint(), "alice").await;
    let blobs = BlobClient::new(server.addr(), token);
    let bytes = ciphertext(MAX_UPLOAD_PART_BYTES as usize);
    let length = bytes.len().to_string();

    // One whole upload first: the blocking pool's threads and the allocator's arenas are in
    // place before the measure.
    blobs.upload(blob_id(0), &bytes).await;
    let before = resident_bytes(pid);

    let mut held = Vec::with_capacity(HALF_SENT_PARTS);
    for n in 1..=HALF_SENT_PARTS {
        let id = blob_id(n as u8);
        assert_eq!(blobs.put(id, bytes.len() as u64).await.status, 201);
        let part = blobs
            .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..HALF_A_PART])
            .await;
        held.push(part);
        // The sentinel: the server has taken in all of it.
        let file = blob_file(&data, id);
        poll_until(
            "the half part on disk",
            std::time::Duration::from_secs(30),
            || async {
                let holds = std::fs::metadata(&file).map(|file| file.len()).ok()?;
                (holds == HALF_A_PART as u64).then_some(())
            },
        )
        .await
        .unwrap();
    }
    let after = resident_bytes(pid);

    let per_upload = after.saturating_sub(before) / HALF_SENT_PARTS as u64;
    eprintln!(
        "server memory per upload with {HALF_A_PART} bytes of its part sent: {per_upload} bytes"
    );
    assert!(
        per_upload <= PART_ARRIVING_BUDGET,
        "each upload that sent {HALF_A_PART} bytes of its part holds {per_upload} bytes of the \
         server's memory, over {PART_ARRIVING_BUDGET}"
    );
    drop(held);
}
