//! Working through an outage: messages written while the server is down wait in the outbox,
//! survive a reload (the app itself opens from the service worker's cache), and go out once
//! the server is back — delivered once each, in order, from another tab of the browser too
//! if the one they were written in was closed; and a server killed with SIGKILL in the middle
//! of a burst loses and doubles none. Signing out while messages wait asks first, since it
//! would lose them.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use merpati_e2e::{
    Browser, Chromedriver, HarnessError, ServerProcess, serve_release_build, sessions_of,
};

const PASSPHRASE: &str = "correct horse battery staple";

/// Two people with a 1:1 chat open on both sides.
async fn pair(
    server: &ServerProcess,
    driver: &Chromedriver,
) -> Result<(Browser, Browser), HarnessError> {
    let url = server.http_url();
    let (ani, budi) = (driver.browser().await?, driver.browser().await?);
    ani.sign_up(&url, "ani", PASSPHRASE).await?;
    budi.sign_up(&url, "budi", PASSPHRASE).await?;
    ani.start_chat("budi").await?;
    ani.send("sebelum").await?;
    ani.wait_acknowledged(1).await?;
    budi.open_chat("ani").await?;
    budi.wait_messages(&["sebelum"]).await?;
    Ok((ani, budi))
}

/// After the server is back: ask to reconnect now rather than wait out the backoff.
async fn retry_now(browser: &Browser) -> Result<(), HarnessError> {
    if browser.connection_state().await? == "offline" {
        // The button hides itself once connected; a click that races the reconnect is fine.
        let _ = browser.click("connection-retry").await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_written_offline_survive_a_reload_and_arrive_once_in_order()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let (ani, budi) = pair(&server, &driver).await?;

    server.kill();
    ani.wait_connection("offline").await?;
    for text in ["satu", "dua", "tiga"] {
        ani.send(text).await?;
    }
    ani.wait_messages(&["sebelum", "satu", "dua", "tiga"])
        .await?;
    assert_eq!(
        ani.message_statuses().await?,
        ["read", "pending", "pending", "pending"]
    );
    let status = ani.find("connection-status").await?.text().await?;
    assert!(
        status.contains("3 messages will be sent"),
        "status says: {status}"
    );

    // Reload with no server at all: the app opens from the device, history and outbox intact.
    ani.reload().await?;
    ani.open_chat("budi").await?;
    ani.wait_messages(&["sebelum", "satu", "dua", "tiga"])
        .await?;
    // Still acknowledged (whether "read" survives a reload offline is not promised: read
    // receipts arrive live), and still pending.
    let statuses = ani.message_statuses().await?;
    assert!(
        ["sent", "delivered", "read"].contains(&statuses[0].as_str()),
        "{statuses:?}"
    );
    assert_eq!(statuses[1..], ["pending", "pending", "pending"]);

    server.restart().await?;
    retry_now(&ani).await?;
    ani.wait_acknowledged(4).await?;
    retry_now(&budi).await?;
    budi.wait_messages(&["sebelum", "satu", "dua", "tiga"])
        .await?;

    for browser in [ani, budi] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_mid_burst_loses_and_doubles_no_message() -> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let (ani, budi) = pair(&server, &driver).await?;

    let texts: Vec<String> = (1..=30).map(|n| format!("pesan {n:02}")).collect();
    for (index, text) in texts.iter().enumerate() {
        ani.send(text).await?;
        if index == 11 {
            // Mid-burst: some messages are acknowledged, some in flight, the rest unsent.
            server.kill();
        }
    }
    server.restart().await?;
    retry_now(&ani).await?;
    ani.wait_acknowledged(31).await?;
    retry_now(&budi).await?;
    let mut expected = vec!["sebelum"];
    expected.extend(texts.iter().map(String::as_str));
    budi.wait_messages(&expected).await?;
    ani.wait_messages(&expected).await?;

    for browser in [ani, budi] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_left_by_a_tab_closed_during_the_outage_goes_out_from_another_tab()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let (ani, budi) = pair(&server, &driver).await?;

    // A second tab of ani's browser: the same account and store, a device of its own (which
    // cannot open what ani sent from the first before it existed, so it is not waited for).
    let client = ani.client();
    let first_tab = client.window().await?;
    let second_tab = client.new_window(true).await?.handle;
    client.switch_to_window(second_tab).await?;
    client.goto(&server.http_url()).await?;
    ani.open_chat("budi").await?;
    ani.wait_connection("online").await?;

    // The server goes down; the second tab writes, and is closed before it could send.
    server.kill();
    ani.wait_connection("offline").await?;
    ani.send("dari tab kedua").await?;
    ani.eventually(
        "the second tab to hold its message in the outbox",
        || async {
            let status = ani.find("connection-status").await?.text().await?;
            Ok(status.contains("1 message will be sent").then_some(()))
        },
    )
    .await?;
    client.close_window().await?;
    client.switch_to_window(first_tab).await?;

    // The first tab, open throughout, sends it once the server is back.
    server.restart().await?;
    retry_now(&ani).await?;
    retry_now(&budi).await?;
    budi.wait_messages(&["sebelum", "dari tab kedua"]).await?;
    ani.wait_messages(&["sebelum", "dari tab kedua"]).await?;
    ani.wait_acknowledged(2).await?;

    for browser in [ani, budi] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_with_a_message_waiting_asks_first_and_cancel_keeps_it()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let (ani, budi) = pair(&server, &driver).await?;

    // Nothing waits: no question (signing out would act at once; the other tests do).
    assert!(ani.shown_box(".top-bar .question").await?.is_null());
    server.kill();
    ani.wait_connection("offline").await?;
    ani.send("belum terkirim").await?;
    ani.eventually("the message waiting in the outbox", || async {
        let status = ani.find("connection-status").await?.text().await?;
        Ok(status.contains("1 message will be sent").then_some(()))
    })
    .await?;

    // Signing out now would lose it: the top bar asks first, below itself and within the
    // screen, leaving the bar as it was — on a phone's screen, where the bar has the least
    // room (and the connection's words give way).
    ani.emulate_phone().await?;
    let name = ani.shown_box(".top-bar .me").await?;
    // The bar is at its fullest (the dot, Retry now, the name, two buttons): its dot stays a
    // dot, not squeezed into a sliver.
    let dot = ani
        .client()
        .execute(
            "const r = document.querySelector('.top-bar .connection-status .dot')
                 .getBoundingClientRect();
             return [r.width, r.height];",
            vec![],
        )
        .await?;
    assert!(
        dot[0]
            .as_f64()
            .zip(dot[1].as_f64())
            .is_some_and(|(w, h)| (w - h).abs() < 0.5),
        "the connection's dot is {dot} (width, height)"
    );
    ani.click("logout").await?;
    let question = ani.find("logout-question").await?.text().await?;
    assert!(
        question.starts_with("1 message waiting to be sent is lost if you sign out now"),
        "{question}"
    );
    // The question names the group of its answers, for a screen reader.
    let group_name = ani
        .client()
        .execute(
            "const group = document.querySelector('.top-bar .question');
             return document.getElementById(group.getAttribute('aria-labelledby')).textContent;",
            vec![],
        )
        .await?;
    assert_eq!(group_name.as_str().map(str::trim), Some(question.as_str()));
    let shown = ani.shown_box(".top-bar .question").await?;
    let within =
        |edge: &serde_json::Value| edge.as_f64().is_some_and(|x| (0.0..=390.0).contains(&x));
    assert!(within(&shown[0]) && within(&shown[1]), "{shown}");
    assert_eq!(ani.shown_box(".top-bar .me").await?, name);

    // Cancel: still signed in, and the message goes once the server is back.
    ani.click("logout-cancel").await?;
    assert!(ani.shown_box(".top-bar .question").await?.is_null());
    server.restart().await?;
    retry_now(&ani).await?;
    retry_now(&budi).await?;
    budi.wait_messages(&["sebelum", "belum terkirim"]).await?;
    ani.wait_acknowledged(2).await?;

    for browser in [ani, budi] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_while_offline_ends_the_session_once_the_server_is_back()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let ani = driver.browser().await?;
    ani.sign_up(&url, "ani", PASSPHRASE).await?;
    ani.wait_connection("online").await?;
    assert_eq!(sessions_of(&server, "ani")?, 1);

    server.kill();
    ani.wait_connection("offline").await?;
    ani.click("logout").await?;
    ani.find("auth-username").await?;
    // Signed out here at once, the server unreachable: its session is still there.
    assert_eq!(sessions_of(&server, "ani")?, 1);

    // Back online, the page left on the sign-in screen tells the server by itself: the
    // session is gone, and with it every token it was ever resumed with.
    server.restart().await?;
    ani.eventually("the server to end the signed-out session", || async {
        Ok((sessions_of(&server, "ani")? == 0).then_some(()))
    })
    .await?;
    ani.close().await?;
    Ok(())
}
