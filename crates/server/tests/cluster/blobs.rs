//! Uploads on two processes sharing one blob directory (README.md: on one box, or one
//! mounted directory): a part arriving at one process is not cut back by a part of the same
//! upload sent to the other.

use merpati_testkit::poll::poll_until;

use super::Shared;
use crate::support::{BlobClient, blob_file, blob_id, ciphertext, data_dir, offset};

#[tokio::test]
async fn a_part_sent_to_one_process_while_another_takes_one_in_waits_its_turn() {
    let shared = Shared::start().await;
    let (_dir, data) = data_dir();
    let one = shared
        .process_with(|config| config.data = data.clone())
        .await;
    let other = shared
        .process_with(|config| config.data = data.clone())
        .await;
    let (_alice, _, token) = one.signed_up("alice").await;
    let (at_one, at_other) = (
        BlobClient::new(one.addr, token),
        BlobClient::new(other.addr, token),
    );
    let (id, bytes) = (blob_id(1), ciphertext(2_000));
    assert_eq!(at_one.put(id, bytes.len() as u64).await.status, 201);

    let part = 1_500;
    let mut first = at_one
        .open_patch(
            id,
            0,
            &[("Content-Length", &part.to_string())],
            &bytes[..600],
        )
        .await;
    let file = blob_file(&data, id);
    poll_until(
        "the first part's bytes in the file",
        std::time::Duration::from_secs(10),
        || async { (std::fs::metadata(&file).ok()?.len() == 600).then_some(()) },
    )
    .await
    .unwrap();

    // The browser gave up on the first part and sends it again, landing on the other process.
    let again = at_other.patch(id, 0, &bytes[..part]).await;
    assert_eq!((again.status, offset(&again)), (409, Some(0)), "{again:?}");

    first.send(&bytes[600..part]).await.unwrap();
    let answer = first.answer().await.unwrap();
    assert_eq!((answer.status, offset(&answer)), (204, Some(part as u64)));
    at_other.upload_in_parts(id, &bytes, part).await;
    assert_eq!(at_other.get(id).await.body, bytes, "byte for byte");
}
