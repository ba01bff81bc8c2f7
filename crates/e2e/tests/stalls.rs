//! A connection gone silent — a NAT that dropped its state, Wi-Fi handing over, a proxy that
//! hangs: nothing the server says arrives, and nothing tells the browser so. A message sent
//! on it is acknowledged all the same: the app asks a silent server whether it is there,
//! hears nothing, gives the connection up and sends again on a new one.
//!
//! A file's transfer whose connection goes silent part-way — a NAT that dropped its state,
//! Wi-Fi handing over, a proxy that hangs: nothing passes either way, and nothing tells the
//! browser so — still completes, with the same bytes: once nothing came for the request's
//! deadline, the app gives the request up as unanswered and goes on from where it stopped, a
//! download asking for the rest with a `Range`, an upload from what the server holds. Without
//! the deadline the request waits for the operating system to give up, which takes minutes,
//! and these tests time out. A download clicked again meanwhile is not asked for again.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives two browsers.

use std::time::Duration;

use merpati_e2e::attachments::{pseudo_random_bytes, write_file};
use merpati_e2e::network_gate::{NetworkGate, header_number, range_start};
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE};
use merpati_protocol::blobs::UPLOAD_OFFSET;

/// How long a stalled transfer may take to complete: the app's deadline for it (15 s without
/// a byte; for a part of the files here, 15 s and its time at 32 KiB/s), a retry, and the
/// rest of the file; far less than the minutes an operating system waits on a silent
/// connection.
const STALLED_PATIENCE: Duration = Duration::from_secs(45);

/// bob downloads `survey.dat` from his chat with alice, within `patience`, and it is the
/// bytes `report` was (checked by SHA-256). Closes both browsers.
async fn bob_saves_the_same_survey(
    alice: Browser,
    bob: Browser,
    report: &[u8],
    patience: Duration,
) -> Result<(), HarnessError> {
    bob.saves_what_was_sent("alice", "survey.dat", report, patience)
        .await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// Bytes of a first download's answer, head included, that reach bob's browser.
const DOWNLOAD_STALL_AFTER: u64 = 300_000;

/// What a download test starts from: alice has sent bob `survey.dat` (the bytes answered),
/// and bob's browser (which saves downloads) opens the app through the gate answered.
struct SurveySent {
    meeting: Meeting,
    gate: NetworkGate,
    alice: Browser,
    bob: Browser,
    report: Vec<u8>,
}

async fn survey_sent_to_bob_behind_a_gate() -> Result<SurveySent, HarnessError> {
    let meeting = Meeting::start().await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.driver.browser_downloading().await?;
    bob.sign_up(&gate.http_url(), "bob", PASSPHRASE).await?;
    alice.start_chat("bob").await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(1_000_000, 0x057a_11ed);
    alice
        .attach(&write_file(files.path(), "survey.dat", &report)?)
        .await?;
    alice.wait_acknowledged(1).await?;
    Ok(SurveySent {
        meeting,
        gate,
        alice,
        bob,
        report,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_stalled_part_way_goes_on_from_where_it_stopped() -> Result<(), HarnessError> {
    let SurveySent {
        meeting: _meeting,
        gate,
        alice,
        bob,
        report,
    } = survey_sent_to_bob_behind_a_gate().await?;
    // bob's first download stalls part-way.
    gate.stall_next_download_after(DOWNLOAD_STALL_AFTER);
    bob_saves_the_same_survey(alice, bob, &report, STALLED_PATIENCE).await?;
    assert_eq!(gate.stalled(), 1, "the first download stalled");
    // Two requests: the first stalled, the second asking only for what had not arrived.
    let downloads = gate.downloads();
    assert_eq!(downloads.len(), 2, "{downloads:#?}");
    let second = &downloads[1];
    let from = range_start(second)
        .ok_or_else(|| format!("the second download asked for the whole file: {second}"))?;
    assert!(
        from > 0 && from < DOWNLOAD_STALL_AFTER,
        "went on from byte {from}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_clicked_again_while_it_runs_is_asked_for_once() -> Result<(), HarnessError> {
    let SurveySent {
        meeting: _meeting,
        gate,
        alice,
        bob,
        report,
    } = survey_sent_to_bob_behind_a_gate().await?;
    gate.stall_next_download_after(DOWNLOAD_STALL_AFTER);
    bob.open_chat("alice").await?;
    bob.click_download("survey.dat").await?;
    bob.eventually("the download to stall", || async {
        Ok((gate.stalled() == 1).then_some(()))
    })
    .await?;
    // Impatient, bob clicks again: the download under way goes on, no second one starts.
    bob.click_download("survey.dat").await?;
    let saved = bob.wait_download("survey.dat", STALLED_PATIENCE).await?;
    assert!(saved == report, "survey.dat saved is not what was sent");
    // The stalled request, then the rest of it: never the whole file again.
    let downloads = gate.downloads();
    assert_eq!(downloads.len(), 2, "{downloads:#?}");
    assert!(
        range_start(&downloads[1]).is_some_and(|from| from > 0),
        "{downloads:#?}"
    );
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_part_stalled_part_way_goes_on_from_what_the_server_holds()
-> Result<(), HarnessError> {
    /// The file's length: one part.
    const FILE_LEN: usize = 100_000;
    /// Bytes of the first part's request, head included, that reach the server.
    const STALL_AFTER: u64 = 40_000;
    // The server gives up on the stalled part's sender after 2 s (30 s by default), keeping
    // what arrived, so its upload is free again long before the app's deadline for the part.
    let meeting = Meeting::start_with_env(&[("MERPATI_BLOB_PART_IDLE_MS", "2000")]).await?;
    // alice opens the app through a gate that stalls her first upload part part-way.
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let alice = meeting.driver.browser().await?;
    alice.sign_up(&gate.http_url(), "alice", PASSPHRASE).await?;
    let bob = meeting.sign_up_downloading("bob").await?;
    alice.start_chat("bob").await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(FILE_LEN, 0x057a_11ed);

    gate.stall_next_upload_part_after(STALL_AFTER);
    alice
        .attach(&write_file(files.path(), "survey.dat", &report)?)
        .await?;
    alice.wait_acknowledged_within(1, STALLED_PATIENCE).await?;
    assert_eq!(gate.stalled(), 1, "the first part stalled");
    // Two parts: the first stalled, the second from what the server kept of it, to the end.
    let parts = gate.upload_parts();
    let offsets: Vec<Option<u64>> = parts
        .iter()
        .map(|head| header_number(head, UPLOAD_OFFSET))
        .collect();
    assert_eq!(offsets.len(), 2, "{parts:#?}");
    assert_eq!(offsets[0], Some(0), "the first part starts the file");
    let from = offsets[1].ok_or("the second part has no offset")?;
    assert!(from > 0 && from < STALL_AFTER, "went on from byte {from}");

    bob_saves_the_same_survey(alice, bob, &report, merpati_e2e::STEP_TIMEOUT).await
}

/// How long a message sent on a silent connection may take to be acknowledged: the app asks
/// after 15 s without a word while a message waits (`merpati_core::OWED_PROBE_MS`), gives up
/// 20 s later (`ANSWER_MS`), then reconnects after backoff and sends again.
const SILENT_PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_message_sent_on_a_connection_gone_silent_is_acknowledged_on_the_next()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let bob = meeting.sign_up("bob").await?;
    let alice = meeting.driver.browser().await?;
    alice.sign_up(&gate.http_url(), "alice", PASSPHRASE).await?;
    alice.start_chat("bob").await?;
    alice.send("satu").await?;
    alice.wait_acknowledged(1).await?;

    // Every socket open now goes silent; the next one the app opens is heard.
    let opened = gate.sockets_opened();
    for socket in 0..opened {
        gate.deafen_socket(socket);
    }
    alice.send("dua").await?;
    alice.wait_acknowledged_within(2, SILENT_PATIENCE).await?;
    assert!(gate.sockets_opened() > opened, "on a new connection");
    bob.open_chat("alice").await?;
    bob.wait_messages(&["satu", "dua"]).await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
