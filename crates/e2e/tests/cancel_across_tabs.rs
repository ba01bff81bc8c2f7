//! Two tabs of one browser profile share the sealed store and its outbox: a file sent in one
//! is uploaded by that tab (it holds the upload's lock, and the file's sealed copy), while
//! the other shows the message too, waiting its turn. Cancelling the upload in either tab
//! stops it: the message never reaches the other person (a text sent after it arrives, and
//! alone), and neither tab shows it failed — each takes the message back. A file uploaded
//! but not yet sent (the tabs offline) and cancelled in the other tab is never sent either;
//! and one sent from a tab cannot be cancelled in another: the cancel is refused in words, and
//! the file arrives.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives two browsers.

use std::time::Duration;

use fantoccini::wd::WindowHandle;
use merpati_e2e::attachments::{pseudo_random_bytes, write_file};
use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE, testid};

/// The server's pace for one account's uploads, in bytes per second: the file below then
/// takes fifteen seconds, parts of a quarter of a megabyte landing about once a second, so
/// the cancel lands mid-upload.
const PACED: (&str, &str) = ("MERPATI_BLOB_UPLOAD_BYTES_PER_SEC", "200000");

/// [`PACED`], slower: the file then takes thirty seconds, for a test that sends a text and
/// waits for it before the file is uploaded.
const PACED_SLOWER: (&str, &str) = ("MERPATI_BLOB_UPLOAD_BYTES_PER_SEC", "100000");

/// How long the upload at [`PACED_SLOWER`] may take.
const SLOWER_UPLOAD: Duration = Duration::from_secs(60);

/// The file's length.
const FILE_LEN: usize = 3_000_000;

/// alice, in her first tab, sends a file to bob and the server holds part of it; a second
/// tab of her browser then shows the message, waiting to be uploaded. alice opens the app at
/// `url` (the meeting's, or a gate's in front of it); bob at the meeting's. Answers alice,
/// bob, the uploading tab and the other, which is the one shown.
async fn uploading_with_another_tab_open(
    meeting: &Meeting,
    url: &str,
) -> Result<(Browser, Browser, WindowHandle, WindowHandle), HarnessError> {
    let alice = meeting.driver.browser().await?;
    alice.sign_up(url, "alice", PASSPHRASE).await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    let files = tempfile::tempdir()?;
    alice
        .attach(&write_file(
            files.path(),
            "survey.dat",
            &pseudo_random_bytes(FILE_LEN, 0x7ab5_ca9c),
        )?)
        .await?;
    alice
        .eventually("the server to hold part of the upload", || async {
            Ok(alice
                .attachment_progress()
                .await?
                .filter(|(held, _)| *held > 0.0))
        })
        .await?;

    let client = alice.client();
    let uploading_tab = client.window().await?;
    let other_tab = client.new_window(true).await?.handle;
    client.switch_to_window(other_tab.clone()).await?;
    client.goto(url).await?;
    alice.open_chat("bob").await?;
    alice.find("attachment-cancel").await?;
    Ok((alice, bob, uploading_tab, other_tab))
}

/// Waits until `tab` of `browser` shows no message in its open chat: the file's message
/// taken back there.
async fn taken_back_in(browser: &Browser, tab: WindowHandle) -> Result<(), HarnessError> {
    browser.client().switch_to_window(tab).await?;
    let waited = browser
        .eventually("the message taken back", || async {
            Ok((browser.message_count().await? == 0).then_some(()))
        })
        .await;
    if let Err(error) = waited {
        let statuses = browser.message_statuses().await?;
        return Err(format!("{error}; the tab shows messages {statuses:?}").into());
    }
    Ok(())
}

/// alice sends "after" from her first tab, and it is the only message bob and that tab
/// show: the file never reached bob, nor came back failed; her other tab shows no file
/// either. Closes both browsers.
async fn after_is_the_only_message(
    alice: Browser,
    bob: Browser,
    tabs: [WindowHandle; 2],
) -> Result<(), HarnessError> {
    alice.client().switch_to_window(tabs[0].clone()).await?;
    alice.send("after").await?;
    alice.wait_acknowledged(1).await?;
    alice.wait_only_message("after").await?;
    bob.open_chat("alice").await?;
    bob.wait_only_message("after").await?;
    alice.client().switch_to_window(tabs[1].clone()).await?;
    let files_shown = alice.client().find_all(testid("attachment")).await?.len();
    assert_eq!(files_shown, 0, "the other tab shows the file again");
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_cancelled_in_another_tab_stops_uploading_and_never_arrives()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &meeting.url).await?;

    alice.click("attachment-cancel").await?;
    taken_back_in(&alice, other_tab.clone()).await?;
    // The tab uploading it stops, and takes it back too, instead of sending it once uploaded.
    taken_back_in(&alice, uploading_tab.clone()).await?;

    after_is_the_only_message(alice, bob, [uploading_tab, other_tab]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_cancelled_in_the_uploading_tab_is_not_shown_failed_in_another()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &meeting.url).await?;

    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    alice.click("attachment-cancel").await?;
    taken_back_in(&alice, uploading_tab.clone()).await?;
    // The other tab, whose turn to upload comes once the first lets go, finds the message
    // taken back, rather than its copy gone and the upload failed.
    taken_back_in(&alice, other_tab.clone()).await?;

    after_is_the_only_message(alice, bob, [uploading_tab, other_tab]).await
}

/// Waits until the first tab, done uploading, has let the upload go, and the other tab, its
/// turn to go on with the upload come, is held asking the server where it stands (the gate
/// stalls that): it still offers the cancel.
async fn other_tab_asking_where_the_upload_stands(
    browser: &Browser,
    gate: &NetworkGate,
) -> Result<(), HarnessError> {
    browser
        .eventually("the other tab's start of the upload stalled", || async {
            Ok((gate.stalled() == 1).then_some(()))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_offline_and_cancelled_in_another_tab_is_never_sent()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &gate.http_url()).await?;

    // Neither tab can send now; the upload goes on over HTTP, and ends with the message
    // waiting in the uploading tab's engine to be sent.
    gate.stall_next_upload_start();
    gate.shut();
    for tab in [&uploading_tab, &other_tab] {
        alice.client().switch_to_window(tab.clone()).await?;
        alice
            .eventually("alice offline", || async {
                Ok((alice.connection_state().await? != "online").then_some(()))
            })
            .await?;
    }
    other_tab_asking_where_the_upload_stands(&alice, &gate).await?;
    alice.click("attachment-cancel").await?;
    taken_back_in(&alice, other_tab.clone()).await?;

    // Connected again, the uploading tab finds the message taken back instead of sending it.
    gate.open();
    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    alice.wait_online_retrying().await?;
    taken_back_in(&alice, uploading_tab.clone()).await?;

    after_is_the_only_message(alice, bob, [uploading_tab, other_tab]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_sent_from_one_tab_cannot_be_cancelled_in_another() -> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED_SLOWER]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &gate.http_url()).await?;

    // A text the uploading tab sends meanwhile takes its key for the chat to bob and to the
    // other tab, a device new since, so the file needs no answer from the server to go out.
    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    alice.send("meanwhile").await?;
    alice
        .eventually("the text acknowledged", || async {
            let statuses = alice.message_statuses().await?;
            let acknowledged = statuses.iter().any(|status| status != "pending");
            Ok((statuses.len() == 2 && acknowledged).then_some(()))
        })
        .await?;
    alice.client().switch_to_window(other_tab.clone()).await?;
    // alice's tabs hear nothing from the server from now on, so neither learns that the file
    // went out: the uploading tab sends it once uploaded, and bob gets it.
    gate.stall_next_upload_start();
    gate.deafen();
    bob.open_chat("alice").await?;
    bob.eventually_within("bob shown the file", SLOWER_UPLOAD, || async {
        Ok((bob.client().find_all(testid("attachment")).await?.len() == 1).then_some(()))
    })
    .await?;
    other_tab_asking_where_the_upload_stands(&alice, &gate).await?;
    alice.click("attachment-cancel").await?;
    let refusal = alice.find("composer-error").await?.text().await?;
    assert_eq!(refusal, "Already sent from another tab");
    assert_eq!(
        alice.client().find_all(testid("attachment")).await?.len(),
        1,
        "the other tab still shows the file"
    );

    // Both tabs hear the server again: the file is on its way from each, and acknowledged.
    gate.hear();
    for tab in [other_tab, uploading_tab] {
        alice.client().switch_to_window(tab).await?;
        alice.wait_acknowledged(2).await?;
    }
    assert_eq!(
        bob.message_count().await?,
        2,
        "bob has the text and the file, once each"
    );
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
