//! Notifications with two tabs of one browser open: which tab notifies, the browser's own
//! settings shared between them, and a reconnect's catch-up.

use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, ChromedriverCommand, HarnessError, Meeting, PASSPHRASE};

use super::{
    allow_notifications, ayu_writes_to_bima, record_shown, recorded, shown_since_recording,
    wait_last_status, wait_notification, wait_notifications_on, window_focus,
};

/// Brings the tab WebDriver is on to the front of its window, focused, as a person clicking it
/// would: switching to a tab alone leaves its page without the focus.
async fn bring_to_front(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .client()
        .issue_cmd(ChromedriverCommand {
            path: "goog/cdp/execute",
            body: serde_json::json!({ "cmd": "Page.bringToFront", "params": {} }),
        })
        .await?;
    Ok(())
}

/// Two tabs of one browser: a message in the chat open in the tab in front is read there and
/// notified by neither, although the tab behind, where no chat is open, hears it; a message in
/// a chat on screen nowhere is notified once, by the tab in front. Headless Chromium tells
/// every page it is visible, but its service worker sees tabs as a person would have them —
/// the one last brought forward on screen and focused, the other hidden — and the tab behind
/// is behind in the service worker's eyes, as it would be on a real screen.
#[tokio::test]
async fn a_chat_read_in_the_tab_in_front_is_not_notified_by_the_tab_behind_it()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (ayu, bima) = ayu_writes_to_bima(&meeting).await?;
    let citra = meeting.sign_up("citra").await?;
    wait_notification(&bima, "ayu", "Satu").await?;
    record_shown(&bima, "behind").await?;

    // A second tab of bima's browser (a device of its own, to which "Satu" was never sent)
    // comes to the front, with ayu's chat open and read.
    let client = bima.client();
    let behind = client.window().await?;
    let front = client.new_window(true).await?.handle;
    client.switch_to_window(front).await?;
    client.goto(&meeting.url).await?;
    bima.find("chat-list-item").await?;
    record_shown(&bima, "front").await?;
    bring_to_front(&bima).await?;
    bima.open_chat("ayu").await?;
    wait_last_status(&ayu, "read").await?;

    // ayu's next message is read in front; citra's first, in a chat on screen in neither tab,
    // is notified. Once the tab behind has heard citra's message (asked about it, or shown
    // it), it had heard ayu's.
    ayu.send("Dua").await?;
    bima.message_with_text("Dua").await?;
    wait_last_status(&ayu, "read").await?;
    citra.start_chat("bima").await?;
    citra.send("Halo Bima").await?;
    wait_notification(&bima, "citra", "Halo Bima").await?;
    let citras = ("citra".to_owned(), "Halo Bima".to_owned());
    let (asked, shown) = bima
        .eventually("the tab behind to hear citra's message", || async {
            let (asked, shown) = recorded(&bima, "behind").await?;
            let heard = asked.contains(&citras) || shown.contains(&citras);
            Ok(heard.then_some((asked, shown)))
        })
        .await?;
    assert_eq!(
        shown,
        [],
        "the tab behind showed notifications (it asked for {asked:?})"
    );
    assert!(
        asked.contains(&("ayu".to_owned(), "Dua".to_owned())),
        "the tab behind did not hear ayu's message: {asked:?}"
    );
    assert_eq!(
        shown_since_recording(&bima, "front").await?,
        [citras],
        "the tab in front did not notify citra's message alone"
    );

    // The tab behind comes to the front in its turn, the other left as it was, ayu's chat open:
    // ayu's next message, now out of sight in every tab, is notified by the tab in front.
    window_focus(&bima, false).await?;
    client.switch_to_window(behind).await?;
    bring_to_front(&bima).await?;
    ayu.send("Tiga").await?;
    wait_notification(&bima, "ayu", "Tiga").await?;
    let shown = shown_since_recording(&bima, "behind").await?;
    assert!(
        shown.contains(&("ayu".to_owned(), "Tiga".to_owned())),
        "the tab now in front did not notify: {shown:?}"
    );

    for browser in [ayu, bima, citra] {
        browser.close().await?;
    }
    Ok(())
}

/// Two tabs of one browser share its own settings: a chat muted, or the text hidden, in one
/// tab holds in the other at once — which notifies from then on accordingly — and the other
/// tab's next change keeps it (each tab read them when it opened, and writes them whole).
#[tokio::test]
async fn a_chat_muted_and_the_text_hidden_in_one_tab_hold_in_the_other_tab_at_once()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (ayu, bima) = ayu_writes_to_bima(&meeting).await?;
    let citra = meeting.sign_up("citra").await?;
    wait_notification(&bima, "ayu", "Satu").await?;
    citra.start_chat("bima").await?;
    citra.send("Halo Bima").await?;
    wait_notification(&bima, "citra", "Halo Bima").await?;
    record_shown(&bima, "first").await?;

    // A second tab comes to the front: there the text is hidden and ayu's chat muted.
    let client = bima.client();
    let first = client.window().await?;
    let second = client.new_window(true).await?.handle;
    client.switch_to_window(second).await?;
    client.goto(&meeting.url).await?;
    bima.find("chat-list-item").await?;
    bring_to_front(&bima).await?;
    bima.click("settings").await?;
    wait_notifications_on(&bima, "notifications on in the second tab").await?;
    bima.click("setting-notifications-text").await?;
    bima.click("settings").await?;
    bima.open_chat("ayu").await?;
    bima.click("chat-mute").await?;
    bima.find_css("[data-testid=\"chat-mute\"][aria-pressed=\"true\"]")
        .await?;

    // Back in the first tab, which shows it muted without a reload. ayu's next message is not
    // notified there, and citra's after it (the sentinel) is, without its text.
    client.switch_to_window(first).await?;
    bring_to_front(&bima).await?;
    let ayu_muted =
        "[data-testid=\"chat-list-item\"][data-title=\"ayu\"] [data-testid=\"chat-muted\"]";
    bima.find_css(ayu_muted).await?;
    ayu.send("Dua").await?;
    ayu.eventually("ayu's message delivered", || async {
        let statuses = ayu.message_statuses().await?;
        let last = statuses.last().map(String::as_str);
        Ok(matches!(last, Some("delivered" | "read")).then_some(()))
    })
    .await?;
    citra.send("Lagi").await?;
    wait_notification(&bima, "citra", "New message").await?;
    assert_eq!(
        shown_since_recording(&bima, "first").await?,
        [("citra".to_owned(), "New message".to_owned())],
        "the first tab notified as the second tab's settings say"
    );

    // The first tab mutes citra's chat: ayu's stays muted, also after a reload.
    bima.open_chat("citra").await?;
    bima.click("chat-mute").await?;
    bima.find_css("[data-testid=\"chat-mute\"][aria-pressed=\"true\"]")
        .await?;
    bima.reload().await?;
    bima.find_css(ayu_muted).await?;
    bima.find_css(
        "[data-testid=\"chat-list-item\"][data-title=\"citra\"] [data-testid=\"chat-muted\"]",
    )
    .await?;

    for browser in [ayu, bima, citra] {
        browser.close().await?;
    }
    Ok(())
}

/// A message that came while the connection was down is news once it is back: the catch-up
/// after a reconnect notifies it (where a page just opened takes its unread counts in silence,
/// `notify::watch`).
#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_came_while_the_connection_was_down_is_notified_once_it_is_back()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let ayu = meeting.sign_up("ayu").await?;
    let bima = meeting.driver.browser().await?;
    let url = gate.http_url();
    bima.sign_up(&url, "bima", PASSPHRASE).await?;
    allow_notifications(&bima, url.trim_end_matches('/')).await?;
    bima.click("settings").await?;
    bima.click("setting-notifications").await?;
    wait_notifications_on(&bima, "notifications on").await?;
    bima.click("settings").await?;
    ayu.start_chat("bima").await?;
    ayu.send("Satu").await?;
    wait_notification(&bima, "ayu", "Satu").await?;

    // bima's connection drops; ayu's next message is stored meanwhile.
    gate.shut();
    bima.eventually("bima offline", || async {
        Ok((bima.connection_state().await? != "online").then_some(()))
    })
    .await?;
    ayu.send("Dua").await?;
    wait_last_status(&ayu, "sent").await?;

    // Back: the catch-up brings it, and it is notified.
    gate.open();
    bima.wait_connection("online").await?;
    wait_notification(&bima, "ayu", "Dua").await?;

    ayu.close().await?;
    bima.close().await?;
    Ok(())
}
