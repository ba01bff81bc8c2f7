//! The engine worker's file sealing and opening, in Chromium: the browser's own SHA-256 is the
//! one every client takes (`merpati_files::sha256`); a file sealed as it is read by WebCrypto
//! is AES-256-GCM of each chunk under the nonce `merpati_files` documents (checked against
//! RustCrypto's `aes-gcm`); a blob opens as it arrives in pieces of any size, sealed with
//! either cipher, and does not open changed, reordered, cut short or grown, nor is it handed
//! over if it opens but is not the file its message names (its hash); and an upload
//! reading a ciphertext still being sealed gets exactly the bytes it asks for — once they are
//! sealed, across pieces — or hears that they will never come.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use futures::FutureExt;
use merpati_app::services::files::download::{BlobOpener, the_file_sent};
use merpati_app::services::files::hash;
use merpati_app::services::files::sealing::{Ciphertext, Sealing, seal_file};
use merpati_core::upload_parts::SMALLEST_PART_BYTES;
use merpati_protocol::BlobId;
use merpati_protocol::blobs::{CHUNK_PLAIN_BYTES, CHUNK_TAG_BYTES, chunk_count};
use merpati_protocol::content::{Attachment, FileCipher, FileKey};
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

/// The blob of `content` by the file format's definition, with another implementation of
/// AES-256-GCM than the browser's: each chunk sealed under `merpati_files::chunk_nonce`, its
/// ciphertext then its tag.
fn reference_aes_gcm_blob(key: &FileKey, content: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new((&key.0).into());
    let count = chunk_count(content.len() as u64);
    let chunks: Vec<&[u8]> = if content.is_empty() {
        vec![&[]]
    } else {
        content.chunks(CHUNK_PLAIN_BYTES as usize).collect()
    };
    assert_eq!(chunks.len() as u64, count);
    chunks
        .into_iter()
        .enumerate()
        .flat_map(|(index, chunk)| {
            let nonce = merpati_files::chunk_nonce(index as u64, index as u64 + 1 == count);
            cipher.encrypt(&Nonce::from(nonce), chunk).expect("sealed")
        })
        .collect()
}

/// The blob of `content` sealed with `cipher`.
async fn sealed_blob(cipher: FileCipher, content: &[u8]) -> Vec<u8> {
    match cipher {
        FileCipher::Aes256Gcm => {
            let sealing = Sealing::default();
            let (blob, _) = seal_file(&file_of(content), &KEY, content.len() as u64, &sealing)
                .await
                .expect("sealed");
            blob_bytes(&blob).await
        }
        FileCipher::ChaCha20Poly1305 => merpati_files::seal(&KEY, content).ciphertext,
    }
}

/// Opens `blob`, handed over in pieces of `piece` bytes, as a file of `size` bytes; `None` if
/// it does not open.
async fn open_blob(cipher: FileCipher, size: u64, blob: &[u8], piece: usize) -> Option<Vec<u8>> {
    let mut opener = BlobOpener::new(cipher, &KEY, size)
        .await
        .expect("an opener");
    for part in blob.chunks(piece) {
        opener.push(&js_sys::Uint8Array::from(part)).await?;
    }
    Some(opener.finish().await?.to_vec())
}

const CIPHERS: [FileCipher; 2] = [FileCipher::Aes256Gcm, FileCipher::ChaCha20Poly1305];

#[wasm_bindgen_test]
async fn a_file_sealed_as_it_is_read_is_aes_256_gcm_of_each_chunk_under_its_nonce() {
    // Empty, within one read, and across three reads of the file (4 MiB each) with a
    // chunk cut at each boundary.
    for len in [0, 1, CHUNK_PLAIN_BYTES as usize + 5, 9 * 1024 * 1024 + 17] {
        let content = bytes(len);
        let sealing = Sealing::default();
        let (ciphertext, sha256) = seal_file(&file_of(&content), &KEY, len as u64, &sealing)
            .await
            .unwrap_or_else(|words| panic!("{len} bytes not sealed: {words}"));
        let expected = reference_aes_gcm_blob(&KEY, &content);
        assert_eq!(
            sha256,
            merpati_files::sha256(&content),
            "{len} bytes: the hash"
        );
        assert!(
            blob_bytes(&ciphertext).await == expected,
            "{len} bytes: the blob"
        );
        assert!(
            blob_bytes(&sealing.whole().expect("whole")).await == expected,
            "{len} bytes: what the upload reads"
        );
    }
}

#[wasm_bindgen_test]
async fn a_blob_sealed_with_either_cipher_opens_as_it_arrives_in_pieces_of_any_size() {
    let chunk = CHUNK_PLAIN_BYTES as usize;
    for cipher in CIPHERS {
        for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 17] {
            let content = bytes(len);
            let blob = sealed_blob(cipher, &content).await;
            for piece in [7, 4096, chunk + 3, blob.len().max(1)] {
                assert!(
                    open_blob(cipher, len as u64, &blob, piece).await == Some(content.clone()),
                    "{cipher:?}: {len} bytes in pieces of {piece}"
                );
            }
        }
    }
}

#[wasm_bindgen_test]
async fn a_blob_changed_reordered_cut_short_or_grown_does_not_open() {
    let chunk = CHUNK_PLAIN_BYTES as usize;
    let sealed_chunk = chunk + CHUNK_TAG_BYTES as usize;
    for cipher in CIPHERS {
        let content = bytes(3 * chunk);
        let size = content.len() as u64;
        let blob = sealed_blob(cipher, &content).await;
        assert!(open_blob(cipher, size, &blob, 50_000).await.is_some());

        let mut changed = blob.clone();
        changed[2 * sealed_chunk + 10] ^= 1;
        assert_eq!(
            open_blob(cipher, size, &changed, 50_000).await,
            None,
            "{cipher:?}"
        );

        let mut swapped = blob.clone();
        let (first, rest) = swapped.split_at_mut(sealed_chunk);
        first.swap_with_slice(&mut rest[..sealed_chunk]);
        assert_eq!(
            open_blob(cipher, size, &swapped, 50_000).await,
            None,
            "{cipher:?}"
        );

        let mut grown = blob.clone();
        grown.push(0);
        assert_eq!(
            open_blob(cipher, size, &grown, 50_000).await,
            None,
            "{cipher:?}"
        );

        let cut = &blob[..2 * sealed_chunk];
        assert_eq!(
            open_blob(cipher, size, cut, 50_000).await,
            None,
            "{cipher:?}"
        );
        // Even told the shorter size, the cut blob's last chunk does not say it is the last.
        let shorter = (2 * chunk) as u64;
        assert_eq!(
            open_blob(cipher, shorter, cut, 50_000).await,
            None,
            "{cipher:?}"
        );
    }
}

#[wasm_bindgen_test]
async fn a_blob_that_opens_is_handed_over_only_if_it_is_the_file_its_message_names() {
    let content = bytes(100_000);
    let blob = sealed_blob(FileCipher::Aes256Gcm, &content).await;
    let attachment = |sha256| Attachment {
        blob: BlobId([1; 16]),
        key: KEY,
        sha256,
        name: "survey.dat".to_owned(),
        media_type: "application/x-survey".to_owned(),
        size: content.len() as u64,
        preview: None,
    };
    let opened = |attachment: Attachment| {
        let blob = blob.clone();
        async move {
            let mut opener = BlobOpener::new(FileCipher::Aes256Gcm, &KEY, attachment.size)
                .await
                .expect("an opener");
            opener
                .push(&js_sys::Uint8Array::from(&blob[..]))
                .await
                .expect("it opens");
            the_file_sent(opener, &attachment).await
        }
    };
    let sha256 = merpati_files::sha256(&content);
    let file = opened(attachment(sha256)).await.expect("the file sent");
    assert_eq!(file.type_(), "application/x-survey");
    assert_eq!(blob_bytes(&file).await, content);
    // Another file sealed under the same key opens as well as this one: only the hash tells.
    let mut other = sha256;
    other[0] ^= 1;
    assert_eq!(
        opened(attachment(other)).await.err().as_deref(),
        Some("This file did not arrive as it was sent, so it was not opened")
    );
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
    let push = |piece: &[u8]| sealing.push(&js_sys::Uint8Array::from(piece));
    push(&sealed[..10]).expect("pushed");
    push(&sealed[10..20]).expect("pushed");
    assert!(
        (&mut wanted).now_or_never().is_none(),
        "20 of the 25 bytes sealed"
    );
    push(&sealed[20..]).expect("pushed");
    let part = wanted
        .now_or_never()
        .expect("all 25 sealed")
        .expect("the bytes");
    assert_eq!(blob_bytes(&part).await, sealed[5..25]);

    let within_one = ciphertext.slice(21, 23).await.expect("the bytes");
    assert_eq!(blob_bytes(&within_one).await, sealed[21..23]);
}

#[wasm_bindgen_test]
async fn a_file_being_sent_has_its_first_part_sealed_before_the_rest_of_a_slice() {
    // Larger than one full slice of 4 MiB, so that the old way sealed 4 MiB before the
    // upload's first part could go.
    let len = 9 * 1024 * 1024 + 17;
    let content = bytes(len);
    let sealing = Sealing::default();
    let ciphertext = Ciphertext::Sealing(sealing.clone());
    let first_part = async {
        let part = ciphertext.slice(0, SMALLEST_PART_BYTES).await;
        let sealed_then = sealing.whole().expect("the pieces").size();
        (part.is_some(), sealed_then)
    };
    let file = file_of(&content);
    let (sealed, (ready, sealed_then)) =
        futures::join!(seal_file(&file, &KEY, len as u64, &sealing), first_part);
    sealed.expect("sealed");
    assert!(ready, "the first part's bytes");
    // The first slice is four chunks, the first part's worth: the upload's first part was
    // ready with only that slice sealed.
    let first_slice = 4 * (CHUNK_PLAIN_BYTES + CHUNK_TAG_BYTES);
    assert!(first_slice >= SMALLEST_PART_BYTES);
    assert_eq!(sealed_then, first_slice as f64);
}

#[wasm_bindgen_test]
async fn an_upload_waiting_for_bytes_that_will_never_be_sealed_hears_so() {
    let sealing = Sealing::default();
    let ciphertext = Ciphertext::Sealing(sealing.clone());
    sealing
        .push(&js_sys::Uint8Array::from(bytes(10).as_slice()))
        .expect("pushed");
    let mut wanted = Box::pin(ciphertext.slice(0, 20));
    assert!((&mut wanted).now_or_never().is_none());
    sealing.stop();
    assert_eq!(wanted.await, None);
    // What was sealed before it stopped can still be read.
    assert!(ciphertext.slice(0, 10).await.is_some());
}
