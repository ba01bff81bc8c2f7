//! Merpati walks: people sign up, chat 1:1 and in groups in real time, reload, sign in from
//! another browser profile, and sign out — in real headless Chromium sessions against the
//! real server process serving the real release build.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use merpati_e2e::{Chromedriver, HarnessError, serve_release_build, testid};

const PASSPHRASE: &str = "correct horse battery staple";

/// Run before the page's own scripts: notes, each time the page creates a worker, whether
/// the sign-in form was on the page by then (`window.__formWhenWorkerStarted`).
const WATCH_WORKER_START: &str = r#"
(() => {
  const Original = window.Worker;
  window.Worker = function (...args) {
    window.__formWhenWorkerStarted =
      document.querySelector('[data-testid="auth-login"]') !== null;
    return new Original(...args);
  };
  window.Worker.prototype = Original.prototype;
  const container = navigator.serviceWorker;
  const register = container.register.bind(container);
  container.register = (...args) => {
    window.__screenWhenServiceWorkerRegistered =
      document.querySelector('[data-testid="auth-login"], .loading') !== null;
    return register(...args);
  };
})();
"#;

#[tokio::test(flavor = "multi_thread")]
async fn two_people_chat_both_ways_a_group_delivers_and_history_survives_a_reload()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (ani, budi, citra) = (
        driver.browser().await?,
        driver.browser().await?,
        driver.browser().await?,
    );
    ani.sign_up(&url, "ani", PASSPHRASE).await?;
    budi.sign_up(&url, "budi", PASSPHRASE).await?;
    citra.sign_up(&url, "citra", PASSPHRASE).await?;

    // 1:1, both ways, live.
    ani.start_chat("budi").await?;
    ani.send("Halo Budi!").await?;
    ani.wait_messages(&["Halo Budi!"]).await?;
    // budi is online, so his browser takes it at once: "sent" may last only a moment, and
    // "delivered" is where it settles until he opens the chat.
    ani.eventually("ani's message to be delivered", || async {
        Ok((ani.message_statuses().await? == ["delivered"]).then_some(()))
    })
    .await?;
    budi.open_chat("ani").await?;
    budi.wait_messages(&["Halo Budi!"]).await?;
    budi.send("Halo Ani, apa kabar?").await?;
    ani.wait_messages(&["Halo Budi!", "Halo Ani, apa kabar?"])
        .await?;
    let own: Vec<Option<String>> = {
        let mut own = Vec::new();
        for element in ani.client().find_all(testid("message")).await? {
            own.push(element.attr("data-own").await?);
        }
        own
    };
    assert_eq!(own, [Some("true".to_owned()), Some("false".to_owned())]);

    // A group of three delivers to every member.
    ani.create_group("Keluarga", "budi, citra").await?;
    ani.send("Makan malam jam 7").await?;
    for member in [&budi, &citra] {
        member.open_chat("Keluarga").await?;
        member.wait_messages(&["Makan malam jam 7"]).await?;
    }
    citra.send("Siap!").await?;
    ani.wait_messages(&["Makan malam jam 7", "Siap!"]).await?;
    budi.wait_messages(&["Makan malam jam 7", "Siap!"]).await?;

    // The chat list puts the group (latest activity) first for budi.
    let first = budi.find("chat-list-item").await?;
    assert_eq!(first.attr("data-title").await?.as_deref(), Some("Keluarga"));

    // Reload: still signed in, history from the browser's own store and the server.
    budi.reload().await?;
    budi.open_chat("ani").await?;
    budi.wait_messages(&["Halo Budi!", "Halo Ani, apa kabar?"])
        .await?;
    budi.wait_connection("online").await?;

    for browser in [ani, budi, citra] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_browser_shows_the_form_before_starting_the_engine_and_a_returning_one_does_not_wait()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let browser = driver.browser().await?;
    browser.run_before_each_document(WATCH_WORKER_START).await?;
    // What the watch script noted in the page: `Some(true)` or `Some(false)`, `None` if not yet.
    let page = &browser;
    let noted = |flag: &'static str| async move {
        let value = page
            .client()
            .execute(&format!("return window.{flag} ?? null;"), Vec::new())
            .await?;
        Ok::<_, HarnessError>(value.as_bool())
    };
    let started_with_form = || noted("__formWhenWorkerStarted");
    let registered_after_a_screen = || noted("__screenWhenServiceWorkerRegistered");

    // Nothing stored: the form shows first, and the engine (which signing up needs) starts
    // after it. The service worker, whose install fetches every file of the app, is
    // registered only once a first screen is drawn.
    browser.sign_up(&url, "fajar", PASSPHRASE).await?;
    assert_eq!(started_with_form().await?, Some(true));
    assert_eq!(registered_after_a_screen().await?, Some(true));
    // Stored: the engine starts at once, before any screen but the loading one, since the
    // chats wait on it.
    browser.reload().await?;
    browser.wait_connection("online").await?;
    assert_eq!(started_with_form().await?, Some(false));
    assert_eq!(registered_after_a_screen().await?, Some(true));
    browser.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_opens_in_another_profile_and_refuses_a_wrong_passphrase()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let first = driver.browser().await?;
    first.sign_up(&url, "dewi", PASSPHRASE).await?;
    let friend = driver.browser().await?;
    friend.sign_up(&url, "eko", PASSPHRASE).await?;
    first.start_chat("eko").await?;
    first.send("pesan pertama").await?;
    first.wait_messages(&["pesan pertama"]).await?;

    // The same name cannot be registered twice.
    let other = driver.browser().await?;
    other.open(&url).await?;
    other.type_into("auth-username", "dewi").await?;
    other.type_into("auth-passphrase", PASSPHRASE).await?;
    other.click("auth-register").await?;
    let error = other.find("auth-error").await?;
    assert!(error.text().await?.to_lowercase().contains("taken"));

    // A wrong passphrase is refused with words a person understands.
    other
        .type_into("auth-passphrase", "not the right passphrase")
        .await?;
    other.click("auth-login").await?;
    other
        .eventually("the wrong-passphrase error", || async {
            let text = other.find("auth-error").await?.text().await?;
            Ok(text
                .to_lowercase()
                .contains("wrong passphrase")
                .then_some(()))
        })
        .await?;

    // Too short a passphrase never leaves the page.
    other.type_into("auth-passphrase", "short").await?;
    other.click("auth-login").await?;
    other
        .eventually("the too-short error", || async {
            let text = other.find("auth-error").await?.text().await?;
            Ok(text.contains("at least").then_some(()))
        })
        .await?;

    // The right passphrase opens the account and its history in the new profile.
    other.sign_in(&url, "dewi", PASSPHRASE).await?;
    other.open_chat("eko").await?;
    other.wait_messages(&["pesan pertama"]).await?;
    for browser in [first, friend, other] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tabs_of_one_person_both_see_messages_and_signing_out_leaves_nothing_readable()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let fajar = driver.browser().await?;
    fajar.sign_up(&url, "fajar", PASSPHRASE).await?;
    let gita = driver.browser().await?;
    gita.sign_up(&url, "gita", PASSPHRASE).await?;
    gita.start_chat("fajar").await?;

    // A second tab of the same profile: signed in through the device's store.
    let client = fajar.client();
    let first_tab = client.window().await?;
    let second_tab = client.new_window(true).await?;
    client.switch_to_window(second_tab.handle).await?;
    fajar.open(&url).await?;
    fajar.open_chat("gita").await?;

    gita.send("untuk dua tab").await?;
    fajar.wait_messages(&["untuk dua tab"]).await?;
    client.switch_to_window(first_tab).await?;
    fajar.open_chat("gita").await?;
    fajar.wait_messages(&["untuk dua tab"]).await?;

    // Sign out: once the server has heard it (the sign-out proof waits in a database of its
    // own until then), the browser keeps no database, and shows the sign-in screen after a
    // reload.
    fajar.click("logout").await?;
    fajar.find("auth-username").await?;
    fajar
        .eventually("no IndexedDB database to remain", || async {
            let databases = client
                .execute_async(
                    "const done = arguments[0]; \
                     indexedDB.databases().then(dbs => done(dbs.map(d => d.name)));",
                    vec![],
                )
                .await?;
            Ok((databases == serde_json::json!([])).then_some(()))
        })
        .await?;
    fajar.reload().await?;
    fajar.find("auth-username").await?;
    for browser in [fajar, gita] {
        browser.close().await?;
    }
    Ok(())
}
