//! The devices screen: a person signed in in two browsers sees both in the settings, this one
//! marked, and signs the other out from there — that browser shows the sign-in screen at once,
//! with words saying why, and its session is gone from the list. Every tab of that browser
//! says the session ended, also one that only learns it from another tab deleting the store;
//! and signing out in one tab signs the others out, saying so.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use fantoccini::Locator;
use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE};

/// The rows of the devices list: (`data-current`, text).
async fn device_items(browser: &Browser) -> Result<Vec<(String, String)>, HarnessError> {
    let mut rows = Vec::new();
    for item in browser
        .client()
        .find_all(Locator::Css("[data-testid=\"device-item\"]"))
        .await?
    {
        let current = item.attr("data-current").await?.unwrap_or_default();
        rows.push((current, item.text().await?));
    }
    Ok(rows)
}

async fn wait_device_count(browser: &Browser, count: usize) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("{count} devices listed"), || async {
            Ok((device_items(browser).await?.len() == count).then_some(()))
        })
        .await
}

#[tokio::test]
async fn signing_out_another_browser_from_the_devices_screen_ends_it_at_once()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let laptop = meeting.sign_up("dewi").await?;
    let phone = meeting.driver.browser().await?;
    phone.sign_in(&meeting.url, "dewi", PASSPHRASE).await?;

    laptop.click("settings").await?;
    laptop.find("devices").await?;
    wait_device_count(&laptop, 2).await?;
    let rows = device_items(&laptop).await?;
    let current: Vec<&(String, String)> = rows.iter().filter(|(c, _)| c == "true").collect();
    assert_eq!(current.len(), 1, "one row is this browser: {rows:?}");
    assert!(current[0].1.contains("This browser"), "{rows:?}");
    // Each is named by the browser and system it signed in from (headless Chromium here).
    assert!(
        rows.iter()
            .all(|(_, text)| text.contains("Chrome on Linux")),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|(_, text)| text.contains("Active today")),
        "{rows:?}"
    );
    let sign_outs = laptop
        .client()
        .find_all(Locator::Css("[data-testid=\"device-signout\"]"))
        .await?;
    assert_eq!(
        sign_outs.len(),
        1,
        "only the other browser can be signed out"
    );

    sign_outs[0].click().await?;

    // The phone is signed out at once, and says why.
    let error = phone.find("auth-error").await?;
    let words = error.text().await?;
    assert!(
        words.contains("signed out"),
        "the sign-in screen says why: {words}"
    );
    phone.find("auth-login").await?;
    // The laptop's list is the server's again: only this browser.
    wait_device_count(&laptop, 1).await?;
    assert_eq!(device_items(&laptop).await?[0].0, "true");

    // The phone can sign in again, as a new session.
    phone.sign_in(&meeting.url, "dewi", PASSPHRASE).await?;

    laptop.close().await?;
    phone.close().await?;
    Ok(())
}

#[tokio::test]
async fn every_tab_of_a_browser_signed_out_from_another_says_its_session_ended()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let laptop = meeting.sign_up("sari").await?;
    let phone = meeting.driver.browser().await?;
    phone.sign_in(&gate.http_url(), "sari", PASSPHRASE).await?;
    // A second tab of the phone's browser, on the same session.
    let client = phone.client();
    let first_tab = client.window().await?;
    let sockets_before = gate.sockets_opened();
    let second_tab = client.new_window(true).await?.handle;
    client.switch_to_window(second_tab.clone()).await?;
    client.goto(&gate.http_url()).await?;
    phone.wait_connection("online").await?;
    // It never hears the server end the session: only the first tab's deleting the store
    // tells it. Its socket is the one the gate let through since (the first tab's stayed
    // open: one more socket, not two).
    assert_eq!(gate.sockets_opened(), sockets_before + 1);
    gate.deafen_socket(sockets_before);

    laptop.click("settings").await?;
    laptop.find("devices").await?;
    wait_device_count(&laptop, 2).await?;
    laptop.click("device-signout").await?;

    for tab in [first_tab, second_tab] {
        client.switch_to_window(tab).await?;
        let words = phone.find("auth-error").await?.text().await?;
        assert!(
            words.contains("from another of your devices"),
            "each tab says the session ended, not that it signed out in another tab: {words}"
        );
    }
    laptop.close().await?;
    phone.close().await?;
    Ok(())
}

#[tokio::test]
async fn signing_out_in_one_tab_signs_out_the_others_saying_so() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let browser = meeting.sign_up("wulan").await?;
    let client = browser.client();
    let first_tab = client.window().await?;
    let second_tab = client.new_window(true).await?.handle;
    client.switch_to_window(second_tab).await?;
    client.goto(&meeting.url).await?;
    browser.wait_connection("online").await?;

    browser.click("logout").await?;
    browser.find("auth-login").await?;
    client.switch_to_window(first_tab).await?;
    let words = browser.find("auth-error").await?.text().await?;
    assert_eq!(words, "You signed out in another tab");
    browser.close().await?;
    Ok(())
}
