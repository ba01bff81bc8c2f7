//! A full disk loses nothing: while the browser's storage for the app is full, what arrives
//! and what the person writes is held — the connection indicator says this device cannot
//! save — and once there is room again it is stored, and only then sent on: every message
//! is there after a reload, in order and once, and a message written meanwhile reaches the
//! other side once. Signing out meanwhile abandons what waits, and is not held up by it; the
//! server hears of it, though the storage cannot keep it until then.
//!
//! The storage is made full for real, as DevTools does: `Storage.overrideQuotaForOrigin`
//! gives the app's origin a quota of one byte, so IndexedDB refuses the engine worker's
//! transactions with `QuotaExceededError` (the quota is the origin's, whichever of its pages
//! or workers writes); the same command without a size lifts it. Chromium's IndexedDB asks the
//! quota manager again only once the room it last heard of has run out or grown old (up to
//! 30 s), so the test first writes from the page until a write is refused: from then on
//! every write of the origin is.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use std::time::Duration;

use merpati_e2e::{Browser, ChromedriverCommand, HarnessError, Meeting, sessions_of};

/// How long the app may take to store again once there is room: a refused batch is tried again
/// after waits doubling up to 30 s (`merpati_core::store_retry`), so up to that after the room
/// came back, and the harness's usual bound on top.
const STORED_AGAIN_WITHIN: Duration = Duration::from_secs(60);

/// How long IndexedDB may go on taking writes once the quota is one byte: the room it last
/// heard of lasts up to 30 s, and the harness's usual bound on top.
const REFUSED_WITHIN: Duration = Duration::from_secs(60);

/// Gives the app's origin in `browser` a storage quota of `bytes`, or (`None`) its own again.
async fn set_storage_quota(
    browser: &Browser,
    app_url: &str,
    bytes: Option<u64>,
) -> Result<(), HarnessError> {
    let origin = app_url.trim_end_matches('/');
    let params = match bytes {
        Some(bytes) => serde_json::json!({ "origin": origin, "quotaSize": bytes }),
        None => serde_json::json!({ "origin": origin }),
    };
    browser
        .client()
        .issue_cmd(ChromedriverCommand {
            path: "goog/cdp/execute",
            body: serde_json::json!({ "cmd": "Storage.overrideQuotaForOrigin", "params": params }),
        })
        .await?;
    Ok(())
}

/// Puts a small value into a database of the test's own (`quota-probe`) from the page, and
/// returns how it went: `stored`, or the name of the error that refused it.
async fn probe_write(browser: &Browser) -> Result<String, HarnessError> {
    let answer = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('quota-probe', 1);
             open.onupgradeneeded = () => open.result.createObjectStore('probe');
             open.onerror = () => done(String(open.error && open.error.name));
             open.onsuccess = () => {
                 const db = open.result;
                 const tx = db.transaction('probe', 'readwrite');
                 tx.objectStore('probe').put('x'.repeat(1024), Date.now());
                 tx.oncomplete = () => { db.close(); done('stored'); };
                 tx.onabort = () => { db.close(); done(String(tx.error && tx.error.name)); };
             };",
            vec![],
        )
        .await?;
    Ok(answer.as_str().unwrap_or_default().to_owned())
}

/// Makes the app's storage full in `browser` and waits until IndexedDB refuses writes.
async fn fill_storage(browser: &Browser, app_url: &str) -> Result<(), HarnessError> {
    // Made while there is room: from now on the probe only writes.
    let first = probe_write(browser).await?;
    assert_eq!(first, "stored", "a probe write with room to spare");
    set_storage_quota(browser, app_url, Some(1)).await?;
    browser
        .eventually_within(
            "IndexedDB to refuse a write once the quota is one byte",
            REFUSED_WITHIN,
            || async { Ok((probe_write(browser).await? == "QuotaExceededError").then_some(())) },
        )
        .await
}

/// Waits until the connection indicator says `online` again after storing was refused, for as
/// long as the retry's waits may take ([`STORED_AGAIN_WITHIN`]).
async fn wait_stored_again(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .eventually_within(
            "the indicator online again once the storage has room",
            STORED_AGAIN_WITHIN,
            || async { Ok((browser.connection_state().await? == "online").then_some(())) },
        )
        .await
}

/// alice and bob signed up, and bob's first message, "before", on alice's screen.
async fn alice_reads_bobs_first_message(
    meeting: &Meeting,
) -> Result<(Browser, Browser), HarnessError> {
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    bob.start_chat("alice").await?;
    bob.send("before").await?;
    alice.open_chat("bob").await?;
    alice.wait_messages(&["before"]).await?;
    Ok((alice, bob))
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_that_arrive_while_the_storage_is_full_are_kept_once_it_has_room()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_reads_bobs_first_message(&meeting).await?;
    bob.wait_acknowledged(1).await?;
    alice.wait_connection("online").await?;

    fill_storage(&alice, &meeting.url).await?;
    for text in ["M1", "M2", "M3"] {
        bob.send(text).await?;
    }
    // The sentinel that alice's device refused to store what arrived.
    alice.wait_connection("unsaved").await?;
    let words = alice.find("connection-status").await?.text().await?;
    assert!(
        words.contains("free up storage space"),
        "the indicator says: {words}"
    );
    bob.wait_acknowledged(4).await?;
    // Written while nothing can be stored: kept in the held step, not sent before it is stored.
    alice.send("A1").await?;

    set_storage_quota(&alice, &meeting.url, None).await?;
    wait_stored_again(&alice).await?;
    bob.wait_messages(&["before", "M1", "M2", "M3", "A1"])
        .await?;
    bob.send("M4").await?;
    let everything = ["before", "M1", "M2", "M3", "A1", "M4"];
    alice.wait_messages(&everything).await?;
    alice.wait_acknowledged(everything.len()).await?;

    alice.reload().await?;
    alice.wait_connection("online").await?;
    alice.open_chat("bob").await?;
    alice.wait_messages(&everything).await?;
    bob.wait_messages(&everything).await?;

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_while_the_storage_is_full_abandons_what_waits_and_the_next_sign_in_works()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (alice, bob) = alice_reads_bobs_first_message(&meeting).await?;

    fill_storage(&alice, &meeting.url).await?;
    bob.send("M1").await?;
    alice.wait_connection("unsaved").await?;
    // Signing out does not wait for the storage: the sign-in screen comes at once. The
    // storage refuses to keep the sign-out for the server too, which hears it all the same
    // (from the engine worker's memory): the session is ended there, not left to live on.
    alice.click("logout").await?;
    alice.find("auth-username").await?;
    alice
        .eventually("the server to end the signed-out session", || async {
            Ok((sessions_of(&meeting.server, "alice")? == 0).then_some(()))
        })
        .await?;

    // In the same page (no reload: the same worker, whose flushes queue behind each other),
    // signing in again is not held up by the batch that waited.
    set_storage_quota(&alice, &meeting.url, None).await?;
    alice.type_into("auth-username", "alice").await?;
    alice
        .type_into("auth-passphrase", merpati_e2e::PASSPHRASE)
        .await?;
    alice.click("auth-login").await?;
    alice.find("new-chat").await?;
    alice.wait_connection("online").await?;
    bob.send("M2").await?;
    alice.open_chat("bob").await?;
    alice
        .eventually("M2 in the chat after signing in again", || async {
            let texts = alice.message_texts().await?;
            Ok(texts.iter().any(|text| text == "M2").then_some(()))
        })
        .await?;

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
