//! Uploads that go on: cut by a server restart or a reload, they resume where they stopped; a
//! page reloaded during an outage shows one where it stood; files uploaded whole before a
//! reload are sent after it, with or without the browser's kept copy.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cut_by_a_server_restart_resumes_where_it_stopped() -> Result<(), HarnessError> {
    let mut meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(FILE_LEN, 0x000f_f1ce);
    let whole = ciphertext_len(FILE_LEN as u64) as f64;

    let (held, total) = start_upload(&alice, files.path(), &report).await?;
    meeting.server.kill();
    assert_eq!(total, whole, "the progress counts the ciphertext");
    assert!(held < total, "cut half-way: {held} of {total}");

    meeting.server.restart().await?;
    wait_sent_within(&alice, 1, FILE_PATIENCE).await?;
    // The new process took only what the old one had not — at most what was left past what
    // the page last showed held (the old one may have kept more): the upload resumed.
    eprintln!("cut at {held} of {total} bytes");
    let received = bytes_received(&meeting).await?;
    eprintln!("the restarted server received {received} bytes");
    assert!(
        received > 0.0 && received <= whole - held,
        "after the restart the server received {received} of {whole} bytes; {held} were held"
    );

    wait_online_again(&bob).await?;
    bob_saves_the_same_survey(alice, bob, &report).await
}

/// A page reloaded while the server cannot be reached shows the upload where the server last
/// said it stood, not at nothing (it may be a long outage); once the server is back the upload
/// goes on and completes.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_reloaded_during_an_outage_shows_where_it_stood() -> Result<(), HarnessError> {
    let mut meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    alice.service_worker_ready().await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(FILE_LEN, 0x0ff1_1e00);

    let (held, total) = start_upload(&alice, files.path(), &report).await?;
    meeting.server.kill();
    alice.reload().await?;
    alice.wait_connection("offline").await?;
    alice.open_chat("bob").await?;
    let (shown, _) = alice
        .eventually("the upload shown where it stood", || async {
            Ok(alice
                .attachment_progress()
                .await?
                .filter(|(shown, _)| *shown > 0.0))
        })
        .await?;
    assert!(
        held <= shown && shown < total,
        "{shown} of {total} shown offline; {held} were shown before"
    );

    meeting.server.restart().await?;
    wait_sent_within(&alice, 1, FILE_PATIENCE).await?;
    wait_online_again(&bob).await?;
    bob_saves_the_same_survey(alice, bob, &report).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cut_by_a_reload_resumes_from_the_browsers_kept_copy() -> Result<(), HarnessError>
{
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    let (alice, bob) = alice_and_bob(&meeting).await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(FILE_LEN, 0x0e10_ad00);
    let whole = ciphertext_len(FILE_LEN as u64) as f64;

    let (held, _) = start_upload(&alice, files.path(), &report).await?;
    alice.reload().await?;
    alice.open_chat("bob").await?;
    wait_sent_within(&alice, 1, FILE_PATIENCE).await?;
    assert_eq!(
        alice.message_count().await?,
        1,
        "the same message, not a second one"
    );

    // The reloaded page went on from its kept ciphertext under the same name: the server
    // records each byte once (a part cut by the reload keeps what arrived, and one sent at an
    // offset already held, or while the cut one still arrives, is refused before it counts).
    // A page that sealed the file again would have uploaded all of it anew, and counted past
    // the whole.
    let received = bytes_received(&meeting).await?;
    eprintln!("reloaded at {held} of {whole} bytes; the server received {received} in all");
    assert_eq!(received, whole, "every byte of the upload taken once");

    bob_saves_the_same_survey(alice, bob, &report).await
}

#[tokio::test(flavor = "multi_thread")]
async fn files_uploaded_whole_before_a_reload_are_sent_after_it_kept_copy_or_not()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    // alice opens the app through a gate that can shut her socket out while HTTP goes on.
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let alice = meeting.driver.browser().await?;
    alice
        .sign_up(&gate.http_url(), "alice", merpati_e2e::PASSPHRASE)
        .await?;
    let bob = meeting.sign_up_downloading("bob").await?;
    alice.start_chat("bob").await?;
    let files = tempfile::tempdir()?;
    let report = pseudo_random_bytes(100_000, 0x0a11_0ad5);
    let notes = pseudo_random_bytes(50_000, 0x0b0b_0ad5);
    let whole = |file: &[u8]| ciphertext_len(file.len() as u64) as f64;

    // Her socket is cut and cannot connect again: her files upload, and their messages wait.
    gate.shut();
    alice
        .eventually("alice offline", || async {
            Ok((alice.connection_state().await? != "online").then_some(()))
        })
        .await?;
    // The upload starts while the file is still being sealed; its message is shown once the
    // ciphertext is kept, so both together say the copy is kept and the server holds it all.
    let uploaded_whole = |bytes: f64, messages: usize| {
        let (alice, meeting) = (&alice, &meeting);
        async move {
            alice
                .eventually("the whole upload held and its message queued", || async {
                    let held = bytes_received(meeting).await? == bytes;
                    Ok((held && alice.message_count().await? == messages).then_some(()))
                })
                .await
        }
    };
    alice
        .attach(&write_file(files.path(), "survey.dat", &report)?)
        .await?;
    uploaded_whole(whole(&report), 1).await?;
    // The first file's copy goes, as the app before this one let it go once uploaded.
    assert_eq!(alice.drop_kept_uploads().await?, 1, "kept though uploaded");
    alice
        .attach(&write_file(files.path(), "notes.dat", &notes)?)
        .await?;
    uploaded_whole(whole(&report) + whole(&notes), 2).await?;
    assert_eq!(alice.message_statuses().await?, ["pending", "pending"]);
    assert_eq!(alice.kept_uploads().await?, 1, "the second file's copy");

    // After the reload the second file goes on from its copy, which says it is complete;
    // the first has none, and the server says it holds all of it. Both go once the socket
    // does, and each copy goes with its message's acknowledgement.
    alice.reload().await?;
    alice.open_chat("bob").await?;
    gate.open();
    wait_sent_within(&alice, 2, FILE_PATIENCE).await?;
    assert_eq!(
        bytes_received(&meeting).await?,
        whole(&report) + whole(&notes),
        "nothing uploaded again"
    );
    alice
        .eventually("no copy kept once both are sent", || async {
            Ok((alice.kept_uploads().await? == 0).then_some(()))
        })
        .await?;

    bob_saves_the_same_survey(alice, bob, &report).await
}
