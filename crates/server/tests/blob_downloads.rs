//! A download as it travels (docs/protocol.md "Files"): a client that takes a blob's bytes
//! more slowly than the least rate, each read well within the write-stall timeout, is cut
//! off after the grace, whole or ranged, while a client that reads is served to the end.

use std::time::Duration;

use merpati_protocol::blobs::{MAX_UPLOAD_PART_BYTES, range_from};

use crate::support::{BlobClient, TestServer, blob_id, ciphertext};

/// The blob these tests download: larger than what the kernel's buffers on both ends of a
/// loopback connection take at once, so that the server's writes wait on the client.
const BLOB: usize = 2 * MAX_UPLOAD_PART_BYTES as usize;

/// What the trickling client reads at a time, and how often: 320 KiB a second at most,
/// enough that each of the server's writes goes on long before the write-stall timeout.
const TRICKLE: usize = 32 * 1024;
const TRICKLE_EVERY: Duration = Duration::from_millis(50);

/// A byte now and then does not hold a download open: a client taking less than the least
/// rate (set far above the trickle here, 4 MiB a second) is cut off once the grace (the
/// write-stall timeout, 5 s here) is used up, whole or ranged, though no write of the
/// server's ever waits the whole timeout. It held the connection, the open file and the
/// response's buffers for as long as it liked.
#[tokio::test]
async fn a_download_taken_below_the_least_rate_is_cut_off_and_one_read_is_served_whole() {
    let server = TestServer::start_configured(|config| {
        config.write_stall_timeout_ms = 8_000;
        config.least_transfer_bytes_per_sec = 4 * 1024 * 1024;
    })
    .await;
    let (_alice, _, token) = server.signed_up("alice").await;
    let blobs = BlobClient::new(server.addr, token);
    let (id, bytes) = (blob_id(1), ciphertext(BLOB));
    blobs.upload(id, &bytes).await;

    let ranged = range_from(4096);
    for range in [None, Some(ranged.as_str())] {
        let headers: Vec<(&str, &str)> = range.map(|range| ("Range", range)).into_iter().collect();
        let mut trickle = blobs.open_get(id, &headers).await;
        let mut took = 0;
        let mut every = tokio::time::interval(TRICKLE_EVERY);
        while let Some(read) = trickle.receive(TRICKLE).await.unwrap() {
            took += read.len();
            assert!(
                took < BLOB * 3 / 4,
                "a download trickling out ({range:?}) is still served after {took} bytes"
            );
            every.tick().await;
        }
        assert!(took < BLOB, "cut off ({range:?}) after {took} bytes");
    }

    assert_eq!(blobs.get(id).await.body, bytes, "byte for byte");
    assert_eq!(blobs.get_range(id, &ranged).await.body, bytes[4096..]);
}
