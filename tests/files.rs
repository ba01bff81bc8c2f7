//! The engine worker's file sealing, in Chromium: the browser's own SHA-256 is the one every
//! client takes (`merpati_files::sha256`), a file sealed as it is read is the blob
//! `merpati_files::seal` makes of the same bytes, and an upload reading a ciphertext still
//! being sealed gets exactly the bytes it asks for — once they are sealed, across pieces —
//! or hears that they will never come.

use futures::FutureExt;
use merpati_app::services::files::hash;
use merpati_app::services::files::sealing::{Ciphertext, Sealing, seal_file};
use merpati_protocol::blobs::CHUNK_PLAIN_BYTES;
use merpati_protocol::content::FileKey;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const KEY: FileKey = FileKey([7; 32]);

/// `len` bytes that differ from place to place (no run repeats within a chunk).
fn bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

async fn blob_bytes(blob: &web_sys::Blob) -> Vec<u8> {
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .expect("the blob reads");
    js_sys::Uint8Array::new(&buffer).to_vec()
}

fn file_of(content: &[u8]) -> web_sys::File {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(content));
    web_sys::File::new_with_u8_array_sequence(&parts, "survey.dat").expect("a file")
}

#[wasm_bindgen_test]
async fn the_browsers_sha256_is_the_one_every_client_takes() {
    let chunk = CHUNK_PLAIN_BYTES as usize;
    for len in [0, 1, 55, 56, 64, chunk + 1, 1_000_003] {
        let content = bytes(len);
        let by_browser = hash::sha256(&js_sys::Uint8Array::from(content.as_slice())).await;
        assert_eq!(
            by_browser,
            Some(merpati_files::sha256(&content)),
            "{len} bytes"
        );
    }
}

#[wasm_bindgen_test]
async fn a_file_sealed_as_it_is_read_is_the_blob_seal_makes_of_it() {
    // Empty, within one read, and across three reads of the file (4 MiB each) with a
    // chunk cut at each boundary.
    for len in [0, 1, CHUNK_PLAIN_BYTES as usize + 5, 9 * 1024 * 1024 + 17] {
        let content = bytes(len);
        let sealing = Sealing::default();
        let (ciphertext, sha256) = seal_file(&file_of(&content), &KEY, len as u64, &sealing)
            .await
            .unwrap_or_else(|words| panic!("{len} bytes not sealed: {words}"));
        let expected = merpati_files::seal(&KEY, &content);
        assert_eq!(sha256, expected.sha256, "{len} bytes: the hash");
        assert!(
            blob_bytes(&ciphertext).await == expected.ciphertext,
            "{len} bytes: the blob"
        );
        assert!(
            blob_bytes(&sealing.whole().expect("whole")).await == expected.ciphertext,
            "{len} bytes: what the upload reads"
        );
    }
}

#[wasm_bindgen_test]
async fn a_file_shorter_than_its_size_is_refused() {
    let content = bytes(1000);
    let sealed = seal_file(&file_of(&content), &KEY, 1001, &Sealing::default()).await;
    assert!(sealed.is_err(), "a file that changed while read");
}

#[wasm_bindgen_test]
async fn an_upload_waits_for_bytes_still_being_sealed_and_reads_across_pieces() {
    let sealing = Sealing::default();
    let ciphertext = Ciphertext::Sealing(sealing.clone());
    let mut wanted = Box::pin(ciphertext.slice(5, 25));
    assert!((&mut wanted).now_or_never().is_none(), "nothing sealed yet");

    let sealed = bytes(30);
    sealing.push(&sealed[..10]).expect("pushed");
    sealing.push(&sealed[10..20]).expect("pushed");
    assert!(
        (&mut wanted).now_or_never().is_none(),
        "20 of the 25 bytes sealed"
    );
    sealing.push(&sealed[20..]).expect("pushed");
    let part = wanted
        .now_or_never()
        .expect("all 25 sealed")
        .expect("the bytes");
    assert_eq!(blob_bytes(&part).await, sealed[5..25]);

    let within_one = ciphertext.slice(21, 23).await.expect("the bytes");
    assert_eq!(blob_bytes(&within_one).await, sealed[21..23]);
}

#[wasm_bindgen_test]
async fn an_upload_waiting_for_bytes_that_will_never_be_sealed_hears_so() {
    let sealing = Sealing::default();
    let ciphertext = Ciphertext::Sealing(sealing.clone());
    sealing.push(&bytes(10)).expect("pushed");
    let mut wanted = Box::pin(ciphertext.slice(0, 20));
    assert!((&mut wanted).now_or_never().is_none());
    sealing.stop();
    assert_eq!(wanted.await, None);
    // What was sealed before it stopped can still be read.
    assert!(ciphertext.slice(0, 10).await.is_some());
}
