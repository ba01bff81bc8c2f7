//! Two tabs of one browser profile share the sealed store and its outbox: a file sent in one
//! is uploaded by that tab (it holds the upload's lock, and the file's sealed copy), while
//! the other shows the message too, waiting its turn. Cancelling the upload in either tab
//! stops it: the message never reaches the other person (a text sent after it arrives, and
//! alone), and neither tab shows it failed — each takes the message back. A file uploaded
//! but not yet sent (the tabs offline) and cancelled in the other tab is never sent either;
//! and one sent from a tab cannot be cancelled in another: the cancel is refused in words, and
//! the file arrives. A tab whose turn to go on with the upload comes after another tab sent the
//! file asks the server nothing about it, and goes on showing it, sent — also when the other
//! tab heard it delivered and this one did not. And one sent from a tab and deleted for
//! everyone in another is deleted for the other person too, not only taken back; while a text
//! written offline and deleted before it went is never sent by the other tab, which had taken
//! it in.
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

/// Holds the turn to go on with the upload that the uploading tab holds, from the page of
/// `browser`'s tab shown: the page takes the upload's lock over (`steal`: the uploading tab
/// goes on uploading, unaware), so the tab waiting for that lock gets its turn only once
/// [`give_the_turn_back`], in the same tab, lets it go.
async fn hold_the_upload_turn(browser: &Browser) -> Result<(), HarnessError> {
    let held = browser
        .client()
        .execute_async(
            "const done = arguments[0];
             navigator.locks.query().then((state) => {
               const upload = state.held.find((lock) => lock.name.startsWith('merpati-upload/'));
               if (!upload) { done(false); return; }
               const holding = () => new Promise((release) => {
                 window.merpatiUploadTurn = release;
                 done(true);
               });
               navigator.locks.request(upload.name, { steal: true }, holding);
             }, () => done(false));",
            vec![],
        )
        .await?;
    if held != serde_json::Value::Bool(true) {
        return Err("no upload's lock held to take over".to_owned().into());
    }
    Ok(())
}

/// Lets go of the turn [`hold_the_upload_turn`] held, from the same tab.
async fn give_the_turn_back(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .client()
        .execute("window.merpatiUploadTurn();", vec![])
        .await?;
    Ok(())
}

/// Waits until `browser`'s tab shown no longer offers to cancel the file's upload: its turn
/// to go on with it came and went.
async fn turn_taken(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .eventually_within("the other tab's turn taken", SLOWER_UPLOAD, || async {
            let cancels = browser
                .client()
                .find_all(testid("attachment-cancel"))
                .await?;
            Ok(cancels.is_empty().then_some(()))
        })
        .await
}

/// Sends a text from `browser`'s tab shown, and waits until it is acknowledged there (the file
/// before it still on its way): it takes the tab's key for the chat to every device, so that a
/// message from this tab needs no answer from the server to go out.
async fn text_acknowledged(browser: &Browser, text: &str) -> Result<(), HarnessError> {
    browser.send(text).await?;
    browser
        .eventually("the text acknowledged", || async {
            let statuses = browser.message_statuses().await?;
            let acknowledged = statuses.iter().any(|status| status != "pending");
            Ok((statuses.len() == 2 && acknowledged).then_some(()))
        })
        .await
}

/// Waits until bob has the two messages, the text and the file: none twice.
async fn bob_has_both(bob: &Browser) -> Result<(), HarnessError> {
    bob.open_chat("alice").await?;
    bob.eventually_within("bob shown the file", SLOWER_UPLOAD, || async {
        Ok((bob.client().find_all(testid("attachment")).await?.len() == 1).then_some(()))
    })
    .await?;
    bob.eventually("bob shown both messages", || async {
        Ok((bob.message_count().await? == 2).then_some(()))
    })
    .await?;
    assert_eq!(
        bob.client().find_all(testid("attachment")).await?.len(),
        1,
        "bob has the file once"
    );
    Ok(())
}

/// The file goes out from the uploading tab while the other, shown, still waits its turn for
/// the upload and hears nothing from the server: it holds the file as not sent, though bob has
/// it. Answers alice, bob, the uploading tab and the other; the gate is deafened and the
/// other tab's turn held ([`give_the_turn_back`] and `gate.hear()` end both).
async fn sent_while_the_other_tab_waits(
    meeting: &Meeting,
    gate: &NetworkGate,
) -> Result<(Browser, Browser, WindowHandle, WindowHandle), HarnessError> {
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(meeting, &gate.http_url()).await?;
    // The other tab's turn to go on with the upload waits for the test, so what the test
    // does there lands while it still waits for it.
    hold_the_upload_turn(&alice).await?;

    // A text the uploading tab sends meanwhile takes its key for the chat to bob and to the
    // other tab, a device new since, so the file needs no answer from the server to go out.
    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    text_acknowledged(&alice, "meanwhile").await?;
    alice.client().switch_to_window(other_tab.clone()).await?;
    // alice's tabs hear nothing from the server from now on, so neither learns that the file
    // went out: the uploading tab sends it once uploaded, and bob gets it.
    gate.deafen();
    bob_has_both(&bob).await?;
    Ok((alice, bob, uploading_tab, other_tab))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_sent_from_one_tab_cannot_be_cancelled_in_another() -> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED_SLOWER]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, uploading_tab, other_tab) =
        sent_while_the_other_tab_waits(&meeting, &gate).await?;
    alice.click("attachment-cancel").await?;
    let refusal = alice.find("composer-error").await?.text().await?;
    assert_eq!(refusal, "Already sent from another tab");
    assert_eq!(
        alice.client().find_all(testid("attachment")).await?.len(),
        1,
        "the other tab still shows the file"
    );
    give_the_turn_back(&alice).await?;

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

#[tokio::test(flavor = "multi_thread")]
async fn a_file_sent_from_one_tab_and_deleted_in_another_is_deleted_for_the_other_person()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED_SLOWER]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, _, _) = sent_while_the_other_tab_waits(&meeting, &gate).await?;

    // Deleted for everyone there: the shared outbox says it was sent, so it is deleted as a
    // sent message is, not taken back as if it had never left.
    alice.choose_in_file_menu("message-delete").await?;
    give_the_turn_back(&alice).await?;
    gate.hear();
    bob.eventually_within("bob's file deleted", SLOWER_UPLOAD, || async {
        let deleted = bob
            .first_css("[data-testid=\"message\"][data-deleted=\"true\"]")
            .await?;
        let files = bob.client().find_all(testid("attachment")).await?;
        Ok((deleted.is_some() && files.is_empty()).then_some(()))
    })
    .await?;
    assert_eq!(
        bob.message_count().await?,
        2,
        "the text, and the file's place"
    );
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_another_tab_sent_is_not_uploaded_again_when_this_tabs_turn_comes()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED_SLOWER]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &gate.http_url()).await?;
    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    text_acknowledged(&alice, "meanwhile").await?;
    alice.client().switch_to_window(other_tab.clone()).await?;
    // Deafened, the uploading tab sends the file once uploaded (bob gets it) and hears
    // nothing: the message stays in the shared outbox, claimed, as the other tab's turn comes.
    let asks_before = gate.upload_asks();
    gate.deafen();
    bob_has_both(&bob).await?;
    turn_taken(&alice).await?;
    assert_eq!(
        gate.upload_asks(),
        asks_before,
        "the other tab asked the server about the upload of a file another tab sent"
    );
    assert_eq!(
        alice.client().find_all(testid("attachment")).await?.len(),
        1,
        "the other tab still shows the file"
    );

    gate.hear();
    for tab in [other_tab, uploading_tab] {
        alice.client().switch_to_window(tab).await?;
        alice.wait_acknowledged(2).await?;
    }
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// Has the tab shown note, from now on, whether its view of the chat ever holds no file.
async fn watch_for_the_file_leaving(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .client()
        .execute(
            "window.merpatiFileLeft = false;
             new MutationObserver(() => {
               if (!document.querySelector('[data-testid=\"attachment\"]')) {
                 window.merpatiFileLeft = true;
               }
             }).observe(document.body, { childList: true, subtree: true });",
            vec![],
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_delivered_from_one_tab_stays_shown_in_another_that_did_not_hear_so()
-> Result<(), HarnessError> {
    let meeting = Meeting::start_with_env(&[PACED_SLOWER]).await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let (alice, bob, uploading_tab, other_tab) =
        uploading_with_another_tab_open(&meeting, &gate.http_url()).await?;
    hold_the_upload_turn(&alice).await?;
    // A text from the other tab takes its key to every device, so that the file can go out
    // from there too without an answer; its socket is the newest the gate let through.
    text_acknowledged(&alice, "from the other tab").await?;
    let other_tabs_socket = gate
        .sockets_opened()
        .checked_sub(1)
        .ok_or_else(|| "no socket through the gate".to_owned())?;
    gate.deafen_socket(other_tabs_socket);

    // The uploading tab sends the file and hears it stored; the other tab hears nothing.
    alice
        .client()
        .switch_to_window(uploading_tab.clone())
        .await?;
    alice.wait_acknowledged_within(2, SLOWER_UPLOAD).await?;

    // The other tab's turn comes: it finds the message delivered, needs no upload, and keeps
    // showing the file, on its way from there too, until it hears how it went.
    alice.client().switch_to_window(other_tab.clone()).await?;
    watch_for_the_file_leaving(&alice).await?;
    give_the_turn_back(&alice).await?;
    turn_taken(&alice).await?;
    gate.hear();
    alice.wait_acknowledged(2).await?;
    let left = alice
        .client()
        .execute("return window.merpatiFileLeft;", vec![])
        .await?;
    assert_eq!(
        left,
        serde_json::Value::Bool(false),
        "the other tab dropped the file from view"
    );
    assert_eq!(
        alice.client().find_all(testid("attachment")).await?.len(),
        1,
        "the other tab shows the file once"
    );
    bob_has_both(&bob).await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_written_offline_and_deleted_before_it_went_is_not_sent_by_another_tab()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let alice = meeting.driver.browser().await?;
    alice.sign_up(&gate.http_url(), "alice", PASSPHRASE).await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    let client = alice.client();
    let writing_tab = client.window().await?;
    let other_tab = client.new_window(true).await?.handle;
    client.switch_to_window(other_tab.clone()).await?;
    client.goto(&gate.http_url()).await?;
    alice.open_chat("bob").await?;

    // Both tabs offline; alice writes in the first.
    gate.shut();
    client.switch_to_window(writing_tab.clone()).await?;
    alice
        .eventually("alice offline", || async {
            Ok((alice.connection_state().await? == "offline").then_some(()))
        })
        .await?;
    alice.send("tidak jadi").await?;
    // The other tab takes it in from the outbox the tabs share as it tries to connect.
    client.switch_to_window(other_tab.clone()).await?;
    alice
        .eventually("the other tab holding the text", || async {
            if alice.connection_state().await? == "offline" {
                let _ = alice.click("connection-retry").await;
            }
            let texts = alice.message_texts().await?;
            Ok((texts == ["tidak jadi"]).then_some(()))
        })
        .await?;
    // Deleted for everyone where it was written, before it went: taken back.
    client.switch_to_window(writing_tab.clone()).await?;
    alice.choose_in_menu("tidak jadi", "message-delete").await?;
    alice
        .eventually("the text taken back", || async {
            Ok((alice.message_count().await? == 0).then_some(()))
        })
        .await?;

    // Online again, the other tab goes first: it finds the text taken back, and sends nothing.
    gate.open();
    client.switch_to_window(other_tab.clone()).await?;
    alice.wait_online_retrying().await?;
    taken_back_in(&alice, other_tab.clone()).await?;
    client.switch_to_window(writing_tab.clone()).await?;
    alice.wait_online_retrying().await?;
    alice.send("sesudahnya").await?;
    alice.wait_only_message("sesudahnya").await?;
    bob.open_chat("alice").await?;
    bob.wait_only_message("sesudahnya").await?;
    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
