//! Files over HTTP (`/blobs/{id}`, docs/protocol.md "Files"): an upload is created, appended
//! to at exactly the offset it stands at and resumed from there; the limits, the quota, the
//! cap of uploads no message carries, each account's allowance of requests and who may do
//! what; a message carries its sender's complete upload and keeps it; an upload
//! no message carries, or whose message was deleted for everyone, is deleted; an upload cut
//! by SIGKILL resumes from a consistent offset and completes byte for byte; a download goes
//! on from a `Range`.

use std::path::Path;
use std::time::{Duration, Instant};

use merpati_protocol::blobs::{
    MAX_BLOB_BYTES, MAX_UPLOAD_PART_BYTES, UPLOAD_LENGTH, UPLOAD_OFFSET, range_from,
};
use merpati_protocol::{BlobId, ClientFrame, ErrorCode, ServerFrame};
use merpati_testkit::http::HttpResponse;
use merpati_testkit::poll::poll_until;
use merpati_testkit::{ServerOptions, ServerProcess};

use crate::support::{
    BlobClient, Client, TestServer, blob_file, blob_id, ciphertext, data_dir, delete_for_everyone,
    msg_id, offset, send_file, send_with,
};

/// How long a cleanup pass may take to come round in these tests (they run one every
/// 100 ms).
const CLEANUP_PATIENCE: Duration = Duration::from_secs(30);

fn refused_with(answer: &ServerFrame) -> Option<ErrorCode> {
    match answer {
        ServerFrame::SendFailed { code, .. } => Some(*code),
        _ => None,
    }
}

/// Whether an upload is gone: its owner's `HEAD` finds nothing, and its file is deleted.
async fn gone(owner: &BlobClient, data: &Path, id: BlobId) -> bool {
    owner.head(id).await.status == 404 && !blob_file(data, id).exists()
}

#[tokio::test]
async fn an_upload_is_appended_at_its_offset_and_resumed_where_it_stands() {
    let server = TestServer::start().await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(20);

    let created = blobs.put(id, 20).await;
    assert_eq!((created.status, offset(&created)), (201, Some(0)));
    // Sent again (the client does not know whether its first PUT landed): where it stands.
    let again = blobs.put(id, 20).await;
    assert_eq!((again.status, offset(&again)), (200, Some(0)));
    assert_eq!(blobs.put(id, 21).await.status, 409, "another length");

    let first = blobs.patch(id, 0, &bytes[..12]).await;
    assert_eq!((first.status, offset(&first)), (204, Some(12)));
    let resumed = blobs.put(id, 20).await;
    assert_eq!((resumed.status, offset(&resumed)), (200, Some(12)));
    let status = blobs.head(id).await;
    assert_eq!(status.status, 200);
    assert_eq!(offset(&status), Some(12));
    assert_eq!(status.header(UPLOAD_LENGTH), Some("20"));

    // A part sent again after its answer was lost: refused, with where to go on from.
    let stale = blobs.patch(id, 0, &bytes[..12]).await;
    assert_eq!((stale.status, offset(&stale)), (409, Some(12)));
    let past_the_end = blobs.patch(id, 12, &ciphertext(9)).await;
    assert_eq!(past_the_end.status, 400);
    assert_eq!(blobs.get(id).await.status, 404, "not complete yet");

    let last = blobs.patch(id, 12, &bytes[12..]).await;
    assert_eq!((last.status, offset(&last)), (204, Some(20)));
    let download = blobs.get(id).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, bytes);
    assert_eq!(
        download.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(download.header("content-length"), Some("20"));
    assert_eq!(download.header("cache-control"), Some("no-store"));
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("merpati_blob_bytes_received_total"),
        Some(&20.0)
    );
}

#[tokio::test]
async fn a_download_cut_short_goes_on_from_the_range_it_asks_for() {
    let server = TestServer::start().await;
    let (_alice, _, alice_token) = server.signed_up("alice").await;
    let (_bob, _, bob_token) = server.signed_up("bob").await;
    let id = blob_id(7);
    let bytes = ciphertext(5000);
    BlobClient::new(server.addr, alice_token)
        .upload(id, &bytes)
        .await;
    let bob = BlobClient::new(server.addr, bob_token);

    let whole = bob.get(id).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let rest = bob.get_range(id, &range_from(1234)).await;
    assert_eq!(rest.status, 206);
    assert_eq!(rest.body, bytes[1234..]);
    assert_eq!(rest.header("content-length"), Some("3766"));
    assert_eq!(rest.header("content-range"), Some("bytes 1234-4999/5000"));
    let middle = bob.get_range(id, "bytes=10-19").await;
    assert_eq!((middle.status, &middle.body[..]), (206, &bytes[10..20]));
    let tail = bob.get_range(id, "bytes=-16").await;
    assert_eq!((tail.status, &tail.body[..]), (206, &bytes[4984..]));

    let past = bob.get_range(id, "bytes=5000-").await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some("bytes */5000"));
    // Several ranges are not served: the whole blob is.
    let several = bob.get_range(id, "bytes=0-9,20-29").await;
    assert_eq!((several.status, &several.body), (200, &bytes));
}

#[tokio::test]
async fn uploads_and_parts_past_the_limits_are_refused() {
    let server = TestServer::start().await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);

    assert_eq!(blobs.put(id, MAX_BLOB_BYTES + 1).await.status, 413);
    assert_eq!(blobs.put(id, 0).await.status, 400);
    assert_eq!(blobs.put_raw(&id.to_hex(), &[]).await.status, 400);
    assert_eq!(
        blobs
            .put_raw(&id.to_hex(), &[(UPLOAD_LENGTH, "many")])
            .await
            .status,
        400
    );
    assert_eq!(
        blobs
            .put_raw("not-a-blob", &[(UPLOAD_LENGTH, "5")])
            .await
            .status,
        400
    );
    // One spelling per id: the same id in capitals would be another name for the same file.
    assert_eq!(
        blobs
            .put_raw(&id.to_hex().to_uppercase(), &[(UPLOAD_LENGTH, "5")])
            .await
            .status,
        400
    );
    assert_eq!(blobs.put(id, MAX_BLOB_BYTES).await.status, 201);
    // Refused by its announced length, before a byte of it is read.
    let too_long = (MAX_UPLOAD_PART_BYTES + 1).to_string();
    let part = blobs
        .patch_raw(
            id,
            &[(UPLOAD_OFFSET, "0"), ("Content-Length", too_long.as_str())],
        )
        .await;
    assert_eq!(part.status, 413);
    assert_eq!(offset(&blobs.head(id).await), Some(0));
}

#[tokio::test]
async fn an_upload_past_the_accounts_quota_is_refused_with_507() {
    let server = TestServer::start_configured(|config| config.blob_quota_bytes = 100).await;
    let (_alice, _, alice_token) = server.signed_up("alice").await;
    let (_bob, _, bob_token) = server.signed_up("bob").await;
    let alice = BlobClient::new(server.addr, alice_token);
    let bob = BlobClient::new(server.addr, bob_token);

    assert_eq!(alice.put(blob_id(1), 60).await.status, 201);
    let over = alice.put(blob_id(2), 41).await;
    assert_eq!(over.status, 507);
    assert!(
        String::from_utf8_lossy(&over.body).contains("space"),
        "{over:?}"
    );
    assert_eq!(
        alice.put(blob_id(3), 40).await.status,
        201,
        "up to the quota"
    );
    assert_eq!(
        bob.put(blob_id(4), 100).await.status,
        201,
        "each account's own"
    );
}

/// Whether an answer is a 429 that says when to come back, in whole seconds.
fn told_to_wait(answer: &HttpResponse) -> bool {
    answer.status == 429
        && answer
            .header("retry-after")
            .and_then(|secs| secs.parse::<u64>().ok())
            .is_some_and(|secs| secs >= 1)
}

#[tokio::test]
async fn past_the_cap_of_uploads_no_message_carries_a_new_one_waits_and_the_held_ones_go_on() {
    let server = TestServer::start_configured(|config| config.blob_open_uploads = 3).await;
    let (mut alice, _, alice_token) = server.signed_up("alice").await;
    let (mut bob, _, bob_token) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    let alices = BlobClient::new(server.addr, alice_token);
    let bytes = ciphertext(10);
    // Three held: one complete and not sent yet, one half-way, one not started.
    let (complete, half_way, empty, fourth) = (blob_id(1), blob_id(2), blob_id(3), blob_id(4));
    alices.upload(complete, &bytes).await;
    assert_eq!(alices.put(half_way, 10).await.status, 201);
    assert_eq!(alices.patch(half_way, 0, &bytes[..4]).await.status, 204);
    assert_eq!(alices.put(empty, 10).await.status, 201);

    let refused = alices.put(fourth, 10).await;
    assert!(told_to_wait(&refused), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.body).contains("at most 3 uploads"),
        "{refused:?}"
    );
    assert_eq!(alices.head(fourth).await.status, 404, "nothing was created");
    // Another account holds its own.
    let bobs = BlobClient::new(server.addr, bob_token);
    assert_eq!(bobs.put(fourth, 10).await.status, 201);

    // What is held goes on: asked after again, resumed, completed and sent.
    let resumed = alices.put(half_way, 10).await;
    assert_eq!((resumed.status, offset(&resumed)), (200, Some(4)));
    assert_eq!(alices.patch(half_way, 4, &bytes[4..]).await.status, 204);
    send_file(&mut alice, chat, msg_id(1), half_way).await;
    assert_eq!(bob.expect_message().await.client_msg_id, msg_id(1));
    assert_eq!(bobs.get(half_way).await.body, bytes);
    // Carried by its message, it no longer counts: there is room for one more.
    let fifth = blob_id(5);
    assert_eq!(alices.put(fifth, 10).await.status, 201);
    assert!(told_to_wait(&alices.put(blob_id(6), 10).await));
}

#[tokio::test]
async fn file_requests_past_the_accounts_allowance_get_429_with_retry_after() {
    // Five at once, then one a minute: the sixth in a row is refused, whatever it asks.
    let server = TestServer::start_configured(|config| {
        config.blob_requests_per_minute = 1;
        config.blob_request_burst = 5;
    })
    .await;
    let (_alice, _, alice_token) = server.signed_up("alice").await;
    let (_bob, _, bob_token) = server.signed_up("bob").await;
    let alices = BlobClient::new(server.addr, alice_token);
    let id = blob_id(1);

    assert_eq!(alices.put(id, 10).await.status, 201);
    assert_eq!(alices.patch(id, 0, &ciphertext(10)).await.status, 204);
    assert_eq!(alices.head(id).await.status, 200);
    assert_eq!(alices.get(id).await.status, 200);
    assert_eq!(alices.get(blob_id(2)).await.status, 404);
    for refused in [
        alices.put(blob_id(3), 10).await,
        alices.patch(id, 10, b"x").await,
        alices.head(id).await,
        alices.get(id).await,
    ] {
        assert!(told_to_wait(&refused), "{refused:?}");
    }
    assert_eq!(alices.head(blob_id(3)).await.status, 429);
    // Everyone else is served as before.
    let bobs = BlobClient::new(server.addr, bob_token);
    assert_eq!(bobs.get(id).await.body, ciphertext(10));
}

#[tokio::test]
async fn only_a_live_session_may_ask_and_only_the_owner_may_upload() {
    let server = TestServer::start().await;
    let (mut alice_socket, _, alice_token) = server.signed_up("alice").await;
    let (_bob, _, bob_token) = server.signed_up("bob").await;
    let alice = BlobClient::new(server.addr, alice_token);
    let bob = BlobClient::new(server.addr, bob_token);
    let id = blob_id(1);
    let bytes = ciphertext(10);

    for stranger in [
        BlobClient::with_authorization(server.addr, ""),
        BlobClient::with_authorization(server.addr, "Bearer not-hex"),
        BlobClient::with_authorization(server.addr, &format!("Basic {}", hex::encode(alice_token))),
        BlobClient::new(server.addr, [7; 32]),
    ] {
        let refused = stranger.put(id, 10).await;
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(stranger.get(id).await.status, 401);
    }

    assert_eq!(alice.put(id, 10).await.status, 201);
    assert_eq!(alice.patch(id, 0, &bytes[..4]).await.status, 204);
    assert_eq!(bob.head(id).await.status, 404, "not bob's to look at");
    assert_eq!(bob.patch(id, 4, &bytes[4..]).await.status, 404);
    assert_eq!(bob.put(id, 10).await.status, 409, "the id is taken");
    assert_eq!(bob.get(id).await.status, 404, "not complete");
    assert_eq!(offset(&alice.head(id).await), Some(4));

    assert_eq!(alice.patch(id, 4, &bytes[4..]).await.status, 204);
    let download = bob.get(id).await;
    assert_eq!((download.status, download.body), (200, bytes));

    // Signed out: the token opens nothing any more.
    alice_socket.send(&ClientFrame::Logout).await;
    let _closed = alice_socket.until_closed().await;
    assert_eq!(alice.head(id).await.status, 401);
}

#[tokio::test]
async fn a_message_carries_its_senders_complete_upload_once() {
    let server = TestServer::start().await;
    let (mut alice, _, alice_token) = server.signed_up("alice").await;
    let (mut bob, _, bob_token) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    let alices = BlobClient::new(server.addr, alice_token);
    let bobs = BlobClient::new(server.addr, bob_token);
    let (photo, unfinished, bobs_photo) = (blob_id(1), blob_id(2), blob_id(3));
    alices.upload(photo, &ciphertext(30)).await;
    assert_eq!(alices.put(unfinished, 30).await.status, 201);
    bobs.upload(bobs_photo, &ciphertext(30)).await;

    send_file(&mut alice, chat, msg_id(1), photo).await;
    // A resend of that message is acknowledged again: the upload is carried by it already.
    match send_with(&mut alice, chat, msg_id(1), photo).await {
        ServerFrame::Ack { client_msg_id, .. } => assert_eq!(client_msg_id, msg_id(1)),
        other => panic!("a resend: {other:?}"),
    }
    for (n, attachment) in [
        (2, photo),
        (3, unfinished),
        (4, bobs_photo),
        (5, blob_id(9)),
    ] {
        let answer = send_with(&mut alice, chat, msg_id(n), attachment).await;
        assert_eq!(
            refused_with(&answer),
            Some(ErrorCode::NoSuchBlob),
            "{attachment:?}: {answer:?}"
        );
    }
    let delivered = bob.expect_message().await;
    assert_eq!(delivered.client_msg_id, msg_id(1));
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test]
async fn an_upload_no_message_carries_is_deleted_after_its_time_and_a_carried_one_stays() {
    let (_dir, data) = data_dir();
    let server = TestServer::start_in_configured(&data, |config| {
        // Long enough to upload and send in, short for a test.
        config.blob_orphan_secs = 3;
        config.blob_cleanup_interval_ms = 100;
    })
    .await;
    let (mut alice, _, token) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let blobs = BlobClient::new(server.addr, token);
    let (left, carried) = (blob_id(1), blob_id(2));
    blobs.upload(left, &ciphertext(10)).await;
    blobs.upload(carried, &ciphertext(10)).await;
    send_file(&mut alice, chat, msg_id(1), carried).await;
    assert!(blob_file(&data, left).exists());

    poll_until(
        "the upload left alone to be deleted",
        CLEANUP_PATIENCE,
        || async { gone(&blobs, &data, left).await.then_some(()) },
    )
    .await
    .unwrap();
    assert_eq!(blobs.head(carried).await.status, 200);
    assert!(blob_file(&data, carried).exists());
    assert_eq!(blobs.get(carried).await.body, ciphertext(10));
}

#[tokio::test]
async fn a_message_deleted_for_everyone_loses_its_file() {
    let (_dir, data) = data_dir();
    let server =
        TestServer::start_in_configured(&data, |config| config.blob_cleanup_interval_ms = 100)
            .await;
    let (mut alice, _, token) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let blobs = BlobClient::new(server.addr, token);
    let (deleted, kept) = (blob_id(1), blob_id(2));
    blobs.upload(deleted, &ciphertext(10)).await;
    blobs.upload(kept, &ciphertext(10)).await;
    send_file(&mut alice, chat, msg_id(1), deleted).await;
    send_file(&mut alice, chat, msg_id(2), kept).await;

    delete_for_everyone(&mut alice, chat, msg_id(3), msg_id(1)).await;

    poll_until(
        "the deleted message's file to go",
        CLEANUP_PATIENCE,
        || async { gone(&blobs, &data, deleted).await.then_some(()) },
    )
    .await
    .unwrap();
    assert_eq!(blobs.head(kept).await.status, 200);
    assert!(blob_file(&data, kept).exists());
}

/// A pass that deletes an upload while a part holds its file leaves the file to the part,
/// and a part that then keeps nothing (here its client leaves before sending a byte) deletes
/// it. It stayed otherwise, named by no row and counted in no quota, until the server next
/// started: a sender could fill the disk a file at a time, each deleted for everyone.
#[tokio::test]
async fn a_file_left_to_a_part_that_keeps_nothing_is_deleted_once_the_part_ends() {
    let (_dir, data) = data_dir();
    let server =
        TestServer::start_in_configured(&data, |config| config.blob_cleanup_interval_ms = 100)
            .await;
    let (mut alice, _, token) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    blobs.upload(id, &ciphertext(10)).await;
    send_file(&mut alice, chat, msg_id(1), id).await;
    // Chunked, so that nothing says it would run past the end before a byte arrives. The
    // probe takes the file's lock itself for a moment: a part arriving then is refused (409)
    // and ends, so a part the probe did not find holding the file is let go of and another
    // opened, once nothing holds the file (a part let go of may still be ending).
    let part = poll_until("a part to hold the file", CLEANUP_PATIENCE, || async {
        if blobs.patch(id, 10, b"").await.status == 409 {
            return None;
        }
        let part = blobs
            .open_patch(id, 10, &[("Transfer-Encoding", "chunked")], b"")
            .await;
        (blobs.patch(id, 10, b"").await.status == 409).then_some(part)
    })
    .await
    .unwrap();

    delete_for_everyone(&mut alice, chat, msg_id(2), msg_id(1)).await;
    poll_until("a pass to take the row", CLEANUP_PATIENCE, || async {
        (blobs.head(id).await.status == 404).then_some(())
    })
    .await
    .unwrap();
    assert!(blob_file(&data, id).exists(), "left to the part");
    drop(part);
    poll_until("the file to go", CLEANUP_PATIENCE, || async {
        (!blob_file(&data, id).exists()).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn paced_parts_are_answered_no_sooner_than_the_rate_allows() {
    let server =
        TestServer::start_configured(|config| config.blob_upload_bytes_per_sec = 100_000).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let started = Instant::now();
    blobs
        .upload_in_parts(blob_id(1), &ciphertext(100_000), 50_000)
        .await;
    // 100,000 bytes at 100,000 bytes/s.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

/// The size of the upload cut by SIGKILL, and of its parts.
const CUT_UPLOAD: usize = 24 * PART;
const PART: usize = 16 * 1024;

#[tokio::test]
async fn an_upload_cut_by_sigkill_resumes_from_a_consistent_offset_and_completes() {
    let (_dir, data) = data_dir();
    // Paced so that the upload is still going when it is cut: about 60 ms a part.
    let mut server = ServerProcess::start(
        ServerOptions::new()
            .data_dir(&data)
            .args(["--blob-upload-bytes-per-sec", "262144"]),
    )
    .await
    .unwrap();
    let (_alice, _, token) = Client::signed_up(&server.endpoint(), "alice").await;
    let blobs = BlobClient::new(server.addr(), token);
    let id = blob_id(1);
    let bytes = ciphertext(CUT_UPLOAD);

    let uploading = {
        let blobs = BlobClient::new(server.addr(), token);
        let bytes = bytes.clone();
        tokio::spawn(async move {
            assert_eq!(blobs.put(id, bytes.len() as u64).await.status, 201);
            let mut at = 0;
            // Part after part until the server dies under it.
            while at < bytes.len() {
                let part = &bytes[at..(at + PART).min(bytes.len())];
                match blobs.try_patch(id, at as u64, part).await {
                    Ok(answer) if answer.status == 204 => {
                        at = offset(&answer).expect("PATCH says where it stands") as usize;
                    }
                    _ => return,
                }
            }
        })
    };
    poll_until(
        "a third of the upload to be held",
        CLEANUP_PATIENCE,
        || async {
            let held = offset(&blobs.head(id).await)?;
            (held as usize >= CUT_UPLOAD / 3).then_some(())
        },
    )
    .await
    .unwrap();
    server.kill();
    uploading.await.unwrap();

    // What a crash between a part's write and its record leaves (bytes past the recorded
    // offset), and between a row's deletion and its file's (a file without a row).
    let file = blob_file(&data, id);
    let mut on_disk = std::fs::read(&file).unwrap();
    on_disk.extend_from_slice(&[0xee; 1000]);
    std::fs::write(&file, &on_disk).unwrap();
    let stray = blob_file(&data, blob_id(9));
    std::fs::write(&stray, b"nobody's").unwrap();

    server.restart().await.unwrap();
    let held = offset(&blobs.head(id).await).expect("the upload is still there") as usize;
    assert!((CUT_UPLOAD / 3..CUT_UPLOAD).contains(&held), "held {held}");
    assert_eq!(held % PART, 0, "a part is held whole or not at all");
    assert!(!stray.exists(), "a file without a row is deleted at start");

    // The unrecorded tail is cut by the next part, under the file's lock (at start another
    // process sharing the directory could be writing it): none of it is served.
    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
    assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, CUT_UPLOAD);
    // Only the rest crossed the wire again: the upload resumed, it did not start over.
    let metrics = server.metrics().await.unwrap();
    assert_eq!(
        metrics.get("merpati_blob_bytes_received_total"),
        Some(&((CUT_UPLOAD - held) as f64))
    );
}
