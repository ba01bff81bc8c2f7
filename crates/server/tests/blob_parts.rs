//! One `PATCH`'s part as it travels (docs/protocol.md "Files"): its bytes reach the file as
//! they arrive rather than after the whole part; a part cut off, stalled or ended by the
//! server stopping keeps what arrived and the upload goes on from there; a part refused
//! half-way, or that the disk cannot take, keeps nothing of itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use merpati_protocol::BlobId;
use merpati_server::Config;
use merpati_testkit::http::OpenRequest;
use merpati_testkit::poll::poll_until;
use merpati_testkit::{ServerOptions, ServerProcess};
use tempfile::TempDir;

use crate::support::{
    BlobClient, Client, TestServer, blob_file, blob_id, ciphertext, data_dir, offset,
};

/// How long the server may take to act on what a test's connection did.
const PATIENCE: Duration = Duration::from_secs(10);

/// The upload these tests send, the part they open, and how much of it goes first.
const UPLOAD: usize = 2_000;
const PART: usize = 1_500;
const FIRST: usize = 600;

/// alice's upload of [`UPLOAD`] bytes, created, on a server whose data directory the test
/// can look into.
struct Uploading {
    server: TestServer,
    blobs: BlobClient,
    token: [u8; 32],
    id: BlobId,
    bytes: Vec<u8>,
    data: PathBuf,
    _dir: TempDir,
}

impl Uploading {
    /// The upload, on a server configured as the defaults changed by `change`.
    async fn start(change: impl FnOnce(&mut Config)) -> Uploading {
        let (dir, data) = data_dir();
        let server = TestServer::start_in_configured(&data, change).await;
        let (_alice, _, token) = server.signed_up("alice").await;
        let blobs = BlobClient::new(server.addr, token);
        let id = blob_id(1);
        assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);
        Uploading {
            server,
            blobs,
            token,
            id,
            bytes: ciphertext(UPLOAD),
            data,
            _dir: dir,
        }
    }

    /// A `PATCH` at `at` announcing a part up to [`PART`], whose first bytes (up to `sent`)
    /// are sent; the rest is the test's.
    async fn open_part(&self, at: usize, sent: usize) -> OpenRequest {
        let length = (PART - at).to_string();
        self.blobs
            .open_patch(
                self.id,
                at as u64,
                &[("Content-Length", &length)],
                &self.bytes[at..sent],
            )
            .await
    }

    /// What the server holds of the upload, by its `HEAD`.
    async fn held(&self) -> Option<u64> {
        offset(&self.blobs.head(self.id).await)
    }

    /// Sends the rest from where the upload stands and checks the blob byte for byte.
    async fn complete(&self) {
        self.blobs.upload_in_parts(self.id, &self.bytes, PART).await;
        assert_eq!(
            self.blobs.get(self.id).await.body,
            self.bytes,
            "byte for byte"
        );
    }

    /// [`Uploading::complete`], and the server took each byte of the upload once: what a
    /// part cut short kept was not sent again.
    async fn complete_taking_each_byte_once(&self) {
        self.complete().await;
        let metrics = self.server.metrics().await;
        assert_eq!(
            metrics.get("merpati_blob_bytes_received_total"),
            Some(&(UPLOAD as f64)),
            "no byte was taken twice"
        );
    }
}

/// Waits until the file at `file` holds `len` bytes: what arrived of a part, written.
async fn file_holds(file: &Path, len: usize) {
    poll_until("the part's bytes in the file", PATIENCE, || async {
        let holds = std::fs::metadata(file).map(|file| file.len()).ok()?;
        (holds == len as u64).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_part_reaches_the_file_as_it_arrives_and_is_recorded_once_whole() {
    let upload = Uploading::start(|_| {}).await;
    let mut part = upload.open_part(0, FIRST).await;
    file_holds(&blob_file(&upload.data, upload.id), FIRST).await;
    assert_eq!(
        upload.held().await,
        Some(0),
        "not recorded before the part is whole"
    );

    part.send(&upload.bytes[FIRST..PART]).await.unwrap();
    let answer = part.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (204, Some(PART as u64)));
    assert_eq!(upload.held().await, Some(PART as u64));
}

/// On the real binary in a process of its own: a request that blocks a thread of the server
/// then fails this test, by the patience it is given, instead of stopping it.
#[tokio::test]
async fn a_part_sent_while_another_arrives_is_told_where_the_upload_stands() {
    let (_dir, data) = data_dir();
    let server = ServerProcess::start(ServerOptions::new().data_dir(&data))
        .await
        .unwrap();
    let (_alice, _, token) = Client::signed_up(&server.endpoint(), "alice").await;
    let blobs = BlobClient::new(server.addr(), token);
    let (id, bytes) = (blob_id(1), ciphertext(UPLOAD));
    assert_eq!(blobs.put(id, UPLOAD as u64).await.status, 201);
    let length = PART.to_string();
    let mut first = blobs
        .open_patch(id, 0, &[("Content-Length", &length)], &bytes[..FIRST])
        .await;
    file_holds(&blob_file(&data, id), FIRST).await;

    // A browser that gave up on the first part (a reload) sends it again: twice, so that the
    // first refusal is seen to have left the first part's claim on the upload in place.
    for _ in 0..2 {
        let again = tokio::time::timeout(PATIENCE, blobs.patch(id, 0, &bytes[..PART]))
            .await
            .expect("the server answers a part while another of the upload arrives");
        assert_eq!((again.status, offset(&again)), (409, Some(0)));
    }

    first.send(&bytes[FIRST..PART]).await.unwrap();
    let answer = first.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (204, Some(PART as u64)));
    blobs.upload_in_parts(id, &bytes, PART).await;
    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
}

#[tokio::test]
async fn a_part_cut_off_keeps_what_arrived_and_the_upload_goes_on_from_there() {
    let upload = Uploading::start(|_| {}).await;
    drop(upload.open_part(0, FIRST).await);
    poll_until("what arrived to be recorded", PATIENCE, || async {
        (upload.held().await? == FIRST as u64).then_some(())
    })
    .await
    .unwrap();

    upload.complete_taking_each_byte_once().await;
}

#[tokio::test]
async fn a_part_whose_client_leaves_while_the_server_takes_it_in_keeps_what_arrived() {
    // Paced, so the server is still taking the part in when the connection closes.
    let upload = Uploading::start(|config| config.blob_upload_bytes_per_sec = 1_000).await;
    let mut part = upload.open_part(0, FIRST).await;
    file_holds(&blob_file(&upload.data, upload.id), FIRST).await;
    part.send(&upload.bytes[FIRST..PART]).await.unwrap();
    drop(part);
    // hyper drops the request's handler when it sees the connection end; the part is still
    // flushed and recorded (how much of the rest it had read is its own affair), and no
    // other request may cut the file back before it is.
    poll_until("what arrived to be recorded", PATIENCE, || async {
        (upload.held().await? >= FIRST as u64).then_some(())
    })
    .await
    .unwrap();

    upload.complete_taking_each_byte_once().await;
}

#[tokio::test]
async fn a_stalled_part_is_answered_408_and_keeps_what_arrived() {
    let upload = Uploading::start(|config| config.blob_part_idle_ms = 1_000).await;
    // The rest never comes; the connection stays open.
    let answer = upload.open_part(0, FIRST).await.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (408, Some(FIRST as u64)));
    assert_eq!(upload.held().await, Some(FIRST as u64));
    upload.complete().await;
}

/// A byte at a time, each well within the idle time: a part that never stalls but arrives
/// far below the least rate (`least_transfer_bytes_per_sec`, 1 KiB a second) is ended as a stalled one is, or it
/// held its connection, its file and the file's lock for as long as its sender liked.
#[tokio::test]
async fn a_part_trickling_in_below_the_least_rate_is_answered_408_and_keeps_what_arrived() {
    let upload = Uploading::start(|config| config.blob_part_idle_ms = 1_000).await;
    let mut part = upload.open_part(0, 1).await;
    let mut trickle = tokio::time::interval(Duration::from_millis(100));
    let mut sent = 1;
    let kept = loop {
        trickle.tick().await;
        if let Some(kept) = upload.held().await.filter(|held| *held > 0) {
            break kept;
        }
        assert!(
            sent < 100,
            "a part trickling in is still read after {sent} bytes"
        );
        // The server may have answered and closed meanwhile.
        if part.send(&upload.bytes[sent..=sent]).await.is_ok() {
            sent += 1;
        }
    };
    assert!(kept <= sent as u64, "kept {kept} of the {sent} bytes sent");
    let answer = part.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (408, Some(kept)));
    upload.complete().await;
}

#[tokio::test]
async fn a_part_refused_half_way_keeps_nothing_of_itself() {
    let upload = Uploading::start(|_| {}).await;
    let (blobs, id, bytes) = (&upload.blobs, upload.id, &upload.bytes);
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
    let file = blob_file(&upload.data, id);
    file_holds(&file, 2 * FIRST).await;
    // The server may answer and close before it reads all of this.
    let _ = part.send(&chunk(&[7u8; UPLOAD])).await;
    let answer = part.answer().await.unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(upload.held().await, Some(FIRST as u64));
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        FIRST as u64,
        "the file is cut back to what the upload held"
    );
    upload.complete().await;
}

#[tokio::test]
async fn a_part_arriving_when_the_server_stops_keeps_what_arrived() {
    let upload = Uploading::start(|_| {}).await;
    let part = upload.open_part(0, FIRST).await;
    file_holds(&blob_file(&upload.data, upload.id), FIRST).await;
    let Uploading {
        mut server,
        token,
        id,
        bytes,
        data,
        _dir,
        ..
    } = upload;
    server.trigger_stop();
    let answer = part.answer().await.unwrap();
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("5"));
    server.stopped().await.unwrap();

    let server = TestServer::start_in(&data).await;
    let upload = Uploading {
        blobs: BlobClient::new(server.addr, token),
        server,
        token,
        id,
        bytes,
        data,
        _dir,
    };
    assert_eq!(upload.held().await, Some(FIRST as u64));
    upload.complete().await;
}

#[tokio::test]
async fn a_part_the_disk_cannot_take_is_refused_with_507_and_the_upload_goes_on_later() {
    let upload = Uploading::start(|_| {}).await;
    // The kernel's full disk: every write to /dev/full fails with ENOSPC.
    let file = blob_file(&upload.data, upload.id);
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    let full = upload
        .blobs
        .patch(upload.id, 0, &upload.bytes[..PART])
        .await;
    assert_eq!(full.status, 507);
    assert!(
        String::from_utf8_lossy(&full.body).contains("disk is full"),
        "{full:?}"
    );
    assert_eq!(upload.held().await, Some(0), "nothing recorded");

    // Space again: the upload goes on from where it stood.
    std::fs::remove_file(&file).unwrap();
    upload.complete().await;
}
