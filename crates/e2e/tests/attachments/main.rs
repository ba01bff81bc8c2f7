//! Photos and files between two people: a photo arrives with a preview and opens at full
//! size; a 10 MB file arrives with its name and size and downloads byte for byte; the server
//! holds only ciphertext. An upload cut by a server restart or a reload resumes where it
//! stopped (a page reloaded during an outage shows it where it stood), and one completed before a reload is sent after it, with or without the browser's
//! copy, which goes with its message's acknowledgement; a download cut part-way goes on from
//! where it stopped; a cancelled one never reaches the other person; files picked together
//! arrive in the order picked; a file over the cap is refused before it is
//! sent, with words that stay while the files picked with it go; a file changed on the server
//! is refused, not saved.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives two browsers.

use std::path::PathBuf;
use std::time::Duration;

use merpati_e2e::attachments::{
    files_under, plaintext_found_under, png_photo, pseudo_random_bytes, sha256_hex,
    text_found_under, within_attachment, write_file,
};
use merpati_e2e::network_gate::{NetworkGate, range_start};
use merpati_e2e::{Browser, HarnessError, Meeting};
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len};

/// "A 10 MB file": big enough to take 160 encrypted chunks and ten upload parts.
const FILE_LEN: usize = 10_000_000;

/// The server's pace for one account's uploads, in bytes per second: a 10 MB upload then
/// takes about five seconds, long enough to cut or cancel it half-way.
const PACED: (&str, &str) = ("MERPATI_BLOB_UPLOAD_BYTES_PER_SEC", "2000000");

/// How long a 10 MB file may take to be encrypted, uploaded (paced) and announced, or
/// downloaded, decrypted, checked and saved: slow by nature, so longer than a step.
const FILE_PATIENCE: Duration = Duration::from_secs(90);

/// The counter of the ciphertext bytes a server process took in uploads since it started.
const BYTES_RECEIVED: &str = "merpati_blob_bytes_received_total";

// Uploads cut by a server restart, a reload or an outage, and going on.
mod resuming;

/// alice and bob, signed up; bob's browser keeps what he downloads; alice's 1:1 chat with bob
/// is open.
async fn alice_and_bob(meeting: &Meeting) -> Result<(Browser, Browser), HarnessError> {
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up_downloading("bob").await?;
    alice.start_chat("bob").await?;
    Ok((alice, bob))
}

/// Sends `report` as `survey.dat` from `browser` and waits until the server holds part of
/// it; answers the progress then shown (bytes held, of all of them).
async fn start_upload(
    browser: &Browser,
    dir: &std::path::Path,
    report: &[u8],
) -> Result<(f64, f64), HarnessError> {
    browser
        .attach(&write_file(dir, "survey.dat", report)?)
        .await?;
    browser
        .eventually_within(
            "the server to hold part of the upload",
            FILE_PATIENCE,
            || async {
                Ok(browser
                    .attachment_progress()
                    .await?
                    .filter(|(held, _)| *held > 0.0))
            },
        )
        .await
}

/// alice sends "after", and it is the only message either of them sees: nothing sent before
/// it reached anyone (the sentinel that proves what did not arrive). Closes both browsers.
async fn after_is_the_only_message(alice: Browser, bob: Browser) -> Result<(), HarnessError> {
    alice.send("after").await?;
    alice.wait_acknowledged(1).await?;
    alice.wait_only_message("after").await?;
    bob.open_chat("alice").await?;
    bob.wait_only_message("after").await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// The ciphertext bytes the server process took in uploads since it started.
async fn bytes_received(meeting: &Meeting) -> Result<f64, HarnessError> {
    let metrics = meeting.server.metrics().await?;
    Ok(*metrics
        .get(BYTES_RECEIVED)
        .ok_or_else(|| format!("no {BYTES_RECEIVED} in /metrics"))?)
}

/// bob downloads `survey.dat` from his chat with alice and saves the bytes `report` was,
/// checked by SHA-256. Closes both browsers.
async fn bob_saves_the_same_survey(
    alice: Browser,
    bob: Browser,
    report: &[u8],
) -> Result<(), HarnessError> {
    bob.saves_what_was_sent("alice", "survey.dat", report, FILE_PATIENCE)
        .await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// Waits, within `patience`, until the open chat shows `count` messages, every one
/// acknowledged by the server (reconnecting now if the server dropped it).
async fn wait_sent_within(
    browser: &Browser,
    count: usize,
    patience: Duration,
) -> Result<(), HarnessError> {
    browser
        .eventually_within(&format!("{count} messages sent"), patience, || async {
            retry_if_offline(browser).await?;
            let statuses = browser.message_statuses().await?;
            let sent = statuses
                .iter()
                .all(|status| ["sent", "delivered", "read"].contains(&status.as_str()));
            Ok((statuses.len() == count && sent).then_some(()))
        })
        .await
}

/// A browser the server dropped reconnects now instead of waiting out its backoff, as a
/// person pressing "Retry now" would.
async fn retry_if_offline(browser: &Browser) -> Result<(), HarnessError> {
    if browser.connection_state().await? == "offline" {
        // The button hides itself once connected: a click that races that is fine.
        let _ = browser.click("connection-retry").await;
    }
    Ok(())
}

/// Waits until `browser` is online again after a server restart.
async fn wait_online_again(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .eventually("online again", || async {
            retry_if_offline(browser).await?;
            Ok((browser.connection_state().await? == "online").then_some(()))
        })
        .await
}

/// The stored blobs under the server's data directory, with their lengths.
fn stored_blobs(meeting: &Meeting) -> Result<Vec<(PathBuf, u64)>, HarnessError> {
    let mut blobs = Vec::new();
    for path in files_under(&meeting.server.data_dir().join("blobs"))? {
        let length = std::fs::metadata(&path)?.len();
        blobs.push((path, length));
    }
    Ok(blobs)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_and_a_10_mb_file_arrive_open_and_download_intact_and_the_server_holds_neither()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;

    // A photo: bob sees its preview, opens it, and the full photo is the one sent.
    let photo = png_photo(640, 480, 0x0f07_0a1e);
    alice
        .attach(&write_file(files.path(), "sunset.png", &photo)?)
        .await?;
    alice.wait_acknowledged(1).await?;
    bob.open_chat("alice").await?;
    bob.wait_photo_preview().await?;
    let size = bob.open_photo(FILE_PATIENCE).await?;
    assert_eq!(size, (640.0, 480.0), "the photo at full size");
    bob.close_photo().await?;

    // A 10 MB file: bob sees its name and size, downloads it, and has the very bytes.
    let report = pseudo_random_bytes(FILE_LEN, 0x5eed_f11e);
    alice
        .attach(&write_file(files.path(), "survey.dat", &report)?)
        .await?;
    wait_sent_within(&alice, 2, FILE_PATIENCE).await?;
    // bob comes back to the app, as a returning person does: his page, and the engine worker
    // it starts, now run under the service worker, which keeps the app and nothing else.
    bob.service_worker_ready().await?;
    bob.reload().await?;
    bob.open_chat("alice").await?;
    let name = bob
        .find_css(&within_attachment("file", "attachment-name"))
        .await?
        .text()
        .await?;
    assert_eq!(name, "survey.dat");
    let size = bob
        .find_css(&within_attachment("file", "attachment-size"))
        .await?
        .text()
        .await?;
    // Megabytes of 1,024 KB, as file managers count them (`merpati_words::file_size`).
    assert_eq!(size, "9.5 MB");
    bob.click_css(&within_attachment("file", "attachment-download"))
        .await?;
    let saved = bob.wait_download("survey.dat", FILE_PATIENCE).await?;
    assert_eq!(saved.len(), report.len());
    assert_eq!(sha256_hex(&saved), sha256_hex(&report));
    let cached_blobs: Vec<String> = bob
        .cached_urls()
        .await?
        .into_iter()
        .filter(|url| url.contains("/blobs/"))
        .collect();
    assert!(
        cached_blobs.is_empty(),
        "the service worker kept downloaded blobs: {cached_blobs:?}"
    );

    // The server holds the whole ciphertext, and not one window of either plaintext.
    let blobs = stored_blobs(&meeting)?;
    let whole = ciphertext_len(FILE_LEN as u64);
    assert!(
        blobs.iter().any(|(_, length)| *length == whole),
        "the file's ciphertext ({whole} bytes) is stored: {blobs:?}"
    );
    let found = plaintext_found_under(meeting.server.data_dir(), &[&photo, &report])?;
    assert!(found.is_empty(), "plaintext on the server: {found:#?}");
    for name in ["sunset.png", "survey.dat"] {
        let found = text_found_under(meeting.server.data_dir(), name)?;
        assert!(found.is_empty(), "a file's name on the server: {found:#?}");
    }

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_cut_part_way_goes_on_from_where_it_stopped() -> Result<(), HarnessError> {
    /// Bytes of the first download's answer, head included, that reach bob's browser.
    const CUT_AFTER: u64 = 1_000_000;
    let meeting = Meeting::start().await?;
    // bob opens the app through a gate that cuts his first download part-way.
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.driver.browser_downloading().await?;
    bob.sign_up(&gate.http_url(), "bob", merpati_e2e::PASSPHRASE)
        .await?;
    alice.start_chat("bob").await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(3_000_000, 0x0c07_0ad5);
    alice
        .attach(&write_file(files.path(), "survey.dat", &report)?)
        .await?;
    alice.wait_acknowledged(1).await?;

    gate.cut_next_download_after(CUT_AFTER);
    bob_saves_the_same_survey(alice, bob, &report).await?;
    // Two requests: the first cut, the second asking only for what had not arrived.
    let downloads = gate.downloads();
    let ranges: Vec<Option<u64>> = downloads.iter().map(|head| range_start(head)).collect();
    assert_eq!(ranges.len(), 2, "{downloads:#?}");
    assert_eq!(ranges[0], None, "the first asks for the whole file");
    let from = ranges[1].ok_or("the second download asked for the whole file again")?;
    assert!(from > 0 && from < CUT_AFTER, "went on from byte {from}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_upload_never_reaches_the_other_person() -> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;

    alice
        .attach(&write_file(
            files.path(),
            "survey.dat",
            &pseudo_random_bytes(FILE_LEN, 0x00ca_9ce1),
        )?)
        .await?;
    alice
        .eventually("the upload's progress", || async {
            alice.attachment_progress().await
        })
        .await?;
    alice.click("attachment-cancel").await?;
    alice
        .eventually("the cancelled message gone", || async {
            Ok((alice.message_count().await? == 0).then_some(()))
        })
        .await?;

    after_is_the_only_message(alice, bob).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_over_the_cap_is_refused_before_it_is_sent() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    // Sparse: a file of that length at once, without writing 100 MiB.
    let too_big = std::path::absolute(files.path().join("too-big.dat"))?;
    std::fs::File::create(&too_big)?.set_len(MAX_FILE_BYTES + 1)?;

    alice.attach(&too_big).await?;
    let words = alice
        .eventually("the composer to say why", || async {
            let Some(error) = alice.first_css("[data-testid=\"composer-error\"]").await? else {
                return Ok(None);
            };
            let words = error.text().await?;
            Ok((!words.trim().is_empty()).then_some(words))
        })
        .await?;
    assert!(
        words.contains("100 MB"),
        "the words say what the cap is: {words}"
    );
    assert_eq!(
        bytes_received(&meeting).await?,
        0.0,
        "no byte of it was uploaded"
    );

    after_is_the_only_message(alice, bob).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_over_the_cap_picked_with_another_is_refused_in_words_and_the_other_sent()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    let too_big = std::path::absolute(files.path().join("too-big.dat"))?;
    std::fs::File::create(&too_big)?.set_len(MAX_FILE_BYTES + 1)?;
    let small = write_file(
        files.path(),
        "small.dat",
        &pseudo_random_bytes(2_000, 0x5a11),
    )?;

    alice.attach_together(&[&too_big, &small]).await?;
    alice.wait_acknowledged(1).await?;
    let words = alice.find("composer-error").await?.text().await?;
    assert!(words.contains("100 MB"), "the refusal stays said: {words}");
    // Until the next message goes: the words are about the file, not about that.
    alice.send("yang kecil saja").await?;
    alice.wait_acknowledged(2).await?;
    assert!(
        alice
            .first_css("[data-testid=\"composer-error\"]")
            .await?
            .is_none(),
        "the refusal goes with the next message sent"
    );
    bob.open_chat("alice").await?;
    let name = bob
        .find_css(&within_attachment("file", "attachment-name"))
        .await?
        .text()
        .await?;
    assert_eq!(name, "small.dat");
    // Files picked together go in the order picked: had the big one gone, it would be here.
    assert_eq!(
        bob.message_count().await?,
        2,
        "the small file alone, and the text"
    );

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_on_the_server_is_refused_and_not_saved() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    let notes = pseudo_random_bytes(300_000, 0x0bad_f11e);

    alice
        .attach(&write_file(files.path(), "notes.dat", &notes)?)
        .await?;
    alice.wait_acknowledged(1).await?;
    // One bit flipped in the middle of the stored ciphertext, as a hostile server could.
    let whole = ciphertext_len(notes.len() as u64);
    let blobs = stored_blobs(&meeting)?;
    let (blob, _) = blobs
        .iter()
        .find(|(_, length)| *length == whole)
        .ok_or_else(|| format!("no stored blob of {whole} bytes: {blobs:?}"))?;
    let mut stored = std::fs::read(blob)?;
    let middle = stored.len() / 2;
    stored[middle] ^= 0x01;
    std::fs::write(blob, &stored)?;

    bob.open_chat("alice").await?;
    bob.click_css(&within_attachment("file", "attachment-download"))
        .await?;
    bob.find_css(
        "[data-testid=\"attachment\"][data-kind=\"file\"] [data-testid=\"attachment-error\"]",
    )
    .await?;
    // The check failed before anything was handed to the browser to save.
    assert_eq!(bob.downloaded_names().await?, Vec::<String>::new());

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// Each attachment the open chat shows, in display order: a photo by its shape ("width /
/// height", as its preview is drawn), a file by its name.
async fn attachment_labels(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let labels = browser
        .client()
        .execute(
            "return [...document.querySelectorAll('[data-testid=attachment]')].map((row) => {
                 const name = row.querySelector('[data-testid=attachment-name]');
                 const preview = row.querySelector('[data-testid=attachment-preview]');
                 return name ? name.textContent : preview ? preview.style.aspectRatio : '';
             });",
            vec![],
        )
        .await?;
    serde_json::from_value(labels.clone())
        .map_err(|_| format!("the attachments could not be read: {labels}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn photos_picked_together_arrive_in_the_order_picked_whatever_their_sizes()
-> Result<(), HarnessError> {
    // Paced as a real network is: the large photo's upload takes a few seconds, the small
    // one's a moment.
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    // Large, small, medium (about 3.9 MB, 80 KB and 1 MB), each of its own shape.
    let steps = [
        write_file(
            files.path(),
            "step1.png",
            &png_photo(1300, 1000, 0x57e9_0001),
        )?,
        write_file(files.path(), "step2.png", &png_photo(160, 165, 0x57e9_0002))?,
        write_file(
            files.path(),
            "step3.png",
            &png_photo(300, 1100, 0x57e9_0003),
        )?,
    ];
    alice
        .attach_together(&steps.each_ref().map(PathBuf::as_path))
        .await?;
    wait_sent_within(&alice, 3, FILE_PATIENCE).await?;

    bob.open_chat("alice").await?;
    let labels = bob
        .eventually("the three photos", || async {
            let labels = attachment_labels(&bob).await?;
            Ok((labels.len() == 3).then_some(labels))
        })
        .await?;
    assert_eq!(labels, ["1300 / 1000", "160 / 165", "300 / 1100"]);
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
