//! One `PATCH`'s part as it travels (docs/protocol.md "Files"): its bytes reach the file as
//! they arrive rather than after the whole part; a part cut off, stalled or ended by the
//! server stopping keeps what arrived and the upload goes on from there; a part refused
//! half-way, or that the disk cannot take, keeps nothing of itself.

use std::time::Duration;

use merpati_testkit::poll::poll_until;

use crate::support::{BlobClient, TestServer, blob_file, blob_id, ciphertext, data_dir, offset};

/// How long the server may take to act on what a test's connection did.
const PATIENCE: Duration = Duration::from_secs(10);

/// The upload these tests send, the part they open, and how much of it goes first.
const UPLOAD: usize = 2_000;
const PART: usize = 1_500;
const FIRST: usize = 600;

#[tokio::test]
async fn a_part_reaches_the_file_as_it_arrives_and_is_recorded_once_whole() {
    let (_dir, data) = data_dir();
    let server = TestServer::start_in_configured(&data, |_| {}).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);

    let length = PART.to_string();
    let mut part = blobs
        .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..FIRST])
        .await;
    let file = blob_file(&data, id);
    poll_until("the part's first bytes on disk", PATIENCE, || async {
        let holds = std::fs::metadata(&file).map(|file| file.len()).ok()?;
        (holds == FIRST as u64).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        offset(&blobs.head(id).await),
        Some(0),
        "not recorded before the part is whole"
    );

    part.send(&bytes[FIRST..PART]).await.unwrap();
    let answer = part.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (204, Some(PART as u64)));
    assert_eq!(offset(&blobs.head(id).await), Some(PART as u64));
}

#[tokio::test]
async fn a_part_cut_off_keeps_what_arrived_and_the_upload_goes_on_from_there() {
    let server = TestServer::start().await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);

    let length = PART.to_string();
    let part = blobs
        .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..FIRST])
        .await;
    drop(part);
    poll_until("what arrived to be recorded", PATIENCE, || async {
        (offset(&blobs.head(id).await)? == FIRST as u64).then_some(())
    })
    .await
    .unwrap();

    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("merpati_blob_bytes_received_total"),
        Some(&(UPLOAD as f64)),
        "no byte was taken twice"
    );
}

#[tokio::test]
async fn a_stalled_part_is_answered_408_and_keeps_what_arrived() {
    let server = TestServer::start_configured(|config| config.blob_part_idle_ms = 1_000).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);

    let length = PART.to_string();
    let part = blobs
        .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..FIRST])
        .await;
    // The rest never comes; the connection stays open.
    let answer = part.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (408, Some(FIRST as u64)));
    assert_eq!(offset(&blobs.head(id).await), Some(FIRST as u64));

    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
}

#[tokio::test]
async fn a_part_refused_half_way_keeps_nothing_of_itself() {
    let (_dir, data) = data_dir();
    let server = TestServer::start_in_configured(&data, |_| {}).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);
    assert_eq!(blobs.patch(id, 0, &bytes[..FIRST]).await.status, 204);

    // Chunked, so no length announces that it will run past the upload's end.
    let chunk = |bytes: &[u8]| {
        let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
        chunk.extend_from_slice(bytes);
        chunk.extend_from_slice(b"\r\n");
        chunk
    };
    let mut part = blobs
        .open_patch(
            id,
            FIRST as u64,
            &[("Transfer-Encoding", "chunked")],
            &chunk(&bytes[FIRST..2 * FIRST]),
        )
        .await;
    let file = blob_file(&data, id);
    poll_until("the part's first chunk on disk", PATIENCE, || async {
        let holds = std::fs::metadata(&file).map(|file| file.len()).ok()?;
        (holds == 2 * FIRST as u64).then_some(())
    })
    .await
    .unwrap();
    let past_the_end = vec![7u8; UPLOAD];
    // The server may answer and close before it reads all of this.
    let _ = part.send(&chunk(&past_the_end)).await;
    let answer = part.answer().await.unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(offset(&blobs.head(id).await), Some(FIRST as u64));
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        FIRST as u64,
        "the file is cut back to what the upload held"
    );

    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
}

#[tokio::test]
async fn a_part_arriving_when_the_server_stops_keeps_what_arrived() {
    let (_dir, data) = data_dir();
    let mut server = TestServer::start_in_configured(&data, |_| {}).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);

    let length = PART.to_string();
    let part = blobs
        .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..FIRST])
        .await;
    let file = blob_file(&data, id);
    poll_until("the part's first bytes on disk", PATIENCE, || async {
        let holds = std::fs::metadata(&file).map(|file| file.len()).ok()?;
        (holds == FIRST as u64).then_some(())
    })
    .await
    .unwrap();
    server.trigger_stop();
    let answer = part.answer().await.unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("5"));
    server.stopped().await.unwrap();

    let server = TestServer::start_in(&data).await;
    let blobs = BlobClient::new(server.addr, token);
    assert_eq!(offset(&blobs.head(id).await), Some(FIRST as u64));
    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
}

#[tokio::test]
async fn a_part_the_disk_cannot_take_is_refused_with_507_and_the_upload_goes_on_later() {
    let (_dir, data) = data_dir();
    let server = TestServer::start_in_configured(&data, |_| {}).await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let id = blob_id(1);
    let bytes = ciphertext(UPLOAD);
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);

    // The kernel's full disk: every write to /dev/full fails with ENOSPC.
    let file = blob_file(&data, id);
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    let full = blobs.patch(id, 0, &bytes[..PART]).await;
    assert_eq!(full.status, 507);
    assert!(
        String::from_utf8_lossy(&full.body).contains("disk is full"),
        "{full:?}"
    );
    assert_eq!(offset(&blobs.head(id).await), Some(0), "nothing recorded");

    // Space again: the upload goes on from where it stood.
    std::fs::remove_file(&file).unwrap();
    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
}
