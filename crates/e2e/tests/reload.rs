//! Reloading a signed-in page: it opens from the device and is online again within the
//! product's promise, every time — not only on average.
//!
//! A reload that has nothing to catch up on is the hard case: the server's `SyncDone` is then
//! the last frame, and it only moves the engine online, with nothing to store or send.
//!
//! A page whose database a newer app upgraded (in another tab) stops, saying to reload, and
//! the same app loaded again will not use that database: an app going on without its store
//! would send what it cannot keep.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use std::time::{Duration, Instant};

use merpati_e2e::{Browser, Chromedriver, HarnessError, STEP_TIMEOUT, serve_release_build};

const PASSPHRASE: &str = "correct horse battery staple";

/// How many reloads in a row: a stall that hits one reload in a few shows up here.
const RELOADS: usize = 20;

/// The product's promise: a reloaded, signed-in page shows `online` within this long.
const ONLINE_AFTER_RELOAD: Duration = Duration::from_secs(5);

/// Reloads `browser` and returns how long, from the reload command, its connection indicator
/// took to say `online` (waiting at most [`STEP_TIMEOUT`], so that a stall is measured, not
/// only noticed), with the last state it showed.
async fn reload_until_online(browser: &Browser) -> Result<(Duration, String), HarnessError> {
    let started = Instant::now();
    browser.reload().await?;
    loop {
        let state = browser.connection_state().await?;
        if state == "online" || started.elapsed() > STEP_TIMEOUT {
            return Ok((started.elapsed(), state));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reloads `browser` [`RELOADS`] times, printing how long each took to be online; fails on the
/// first one that was not online within [`ONLINE_AFTER_RELOAD`].
async fn reload_repeatedly(browser: &Browser) -> Result<(), HarnessError> {
    for reload in 1..=RELOADS {
        let (took, state) = reload_until_online(browser).await?;
        eprintln!("reload {reload:2}: {state} after {} ms", took.as_millis());
        assert!(
            state == "online" && took <= ONLINE_AFTER_RELOAD,
            "reload {reload} showed {state:?} after {} ms; the promise is online within {} ms",
            took.as_millis(),
            ONLINE_AFTER_RELOAD.as_millis()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_page_with_a_chat_is_online_within_five_seconds_of_every_reload()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (ani, budi) = (driver.browser().await?, driver.browser().await?);
    ani.sign_up(&url, "ani", PASSPHRASE).await?;
    budi.sign_up(&url, "budi", PASSPHRASE).await?;
    budi.start_chat("ani").await?;
    budi.send("sebelum dimuat ulang").await?;
    budi.wait_acknowledged(1).await?;
    budi.wait_connection("online").await?;

    reload_repeatedly(&budi).await?;

    // Still the same device, with the chat and its history.
    budi.open_chat("ani").await?;
    budi.wait_messages(&["sebelum dimuat ulang"]).await?;
    for browser in [ani, budi] {
        browser.close().await?;
    }
    Ok(())
}

/// Opens this origin's database `merpati` at the next version, as a newer app in another tab
/// does; answers once the upgrade went through (every other connection let go).
async fn upgrade_database_as_a_newer_app(browser: &Browser) -> Result<(), HarnessError> {
    let answer = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             indexedDB.databases().then((all) => {
                 const current = all.find((db) => db.name === 'merpati');
                 if (!current) return done('no database');
                 const request = indexedDB.open('merpati', current.version + 1);
                 request.onsuccess = () => { request.result.close(); done('upgraded'); };
                 request.onerror = () => done(String(request.error));
             });",
            vec![],
        )
        .await?;
    if answer != "upgraded" {
        return Err(format!("the database was not upgraded: {answer}").into());
    }
    Ok(())
}

/// Waits until the sign-in screen says this page's app was updated in another tab.
async fn wait_told_updated(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .eventually("the sign-in screen to say Merpati was updated", || async {
            let words = browser.find("auth-error").await?.text().await?;
            Ok(words.contains("updated in another tab").then_some(()))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_whose_database_a_newer_app_upgraded_stops_and_says_to_reload()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let dewi = driver.browser().await?;
    dewi.sign_up(&server.http_url(), "dewi", PASSPHRASE).await?;
    dewi.wait_connection("online").await?;

    upgrade_database_as_a_newer_app(&dewi).await?;
    wait_told_updated(&dewi).await?;
    // Loaded again, the same (older) app finds the newer database and stays out of it.
    dewi.reload().await?;
    wait_told_updated(&dewi).await?;

    dewi.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_page_with_nothing_to_catch_up_is_online_within_five_seconds_of_every_reload()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let citra = driver.browser().await?;
    citra
        .sign_up(&server.http_url(), "citra", PASSPHRASE)
        .await?;
    citra.wait_connection("online").await?;

    reload_repeatedly(&citra).await?;

    citra.close().await?;
    Ok(())
}
