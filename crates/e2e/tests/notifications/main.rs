//! Notifications of new messages: turned on in the settings (the browser's permission
//! granted beforehand, as a person answering its prompt would), a message in a chat the
//! person is not looking at shows a notification with the sender and the text, or "New
//! message" when the text is hidden; a message in the chat on screen shows none, nor one in a
//! chat muted in this browser (kept across a reload). Once there is a chat, the chat list
//! offers to turn them on; "Not now" is kept by the browser.
//!
//! Read back through the service worker that shows them (`getNotifications`). A click itself
//! is not driven here (headless Chromium has no notification to click), but both things it
//! leads to are (`public/sw.js`): the service worker's `{ openChat }` to the tab it focuses,
//! and the app opened at `#chat=<id>` when no tab was open; each opens that chat. Of two tabs
//! of one browser, the one behind leaves notifying to the one in front, where a chat open is
//! read and flashes no notification; a chat muted, or the text hidden, in one tab holds in the
//! other at once. A message that came while the connection was down is notified once the
//! reconnect has caught up.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

// Two tabs of one browser, and a reconnect's catch-up.
mod tabs;

use merpati_e2e::{Browser, ChromedriverCommand, HarnessError, Meeting, PASSPHRASE, testid};

/// The notifications showing now: (title, body, tag).
async fn notifications(browser: &Browser) -> Result<Vec<(String, String, String)>, HarnessError> {
    let shown = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.serviceWorker.ready
                .then((registration) => registration.getNotifications())
                .then((list) => done(list.map((n) => [n.title, n.body, n.tag])))
                .catch((error) => done(String(error)));",
            vec![],
        )
        .await?;
    let list: Vec<(String, String, String)> = serde_json::from_value(shown.clone())
        .map_err(|_| format!("the notifications could not be read: {shown}"))?;
    Ok(list)
}

/// The bodies of the notifications showing now from the chat titled `title`.
async fn bodies_from(browser: &Browser, title: &str) -> Result<Vec<String>, HarnessError> {
    Ok(notifications(browser)
        .await?
        .into_iter()
        .filter(|(shown, _, _)| shown == title)
        .map(|(_, body, _)| body)
        .collect())
}

async fn wait_notification(
    browser: &Browser,
    title: &str,
    body: &str,
) -> Result<String, HarnessError> {
    browser
        .eventually(&format!("a notification \"{title}: {body}\""), || async {
            Ok(notifications(browser)
                .await?
                .into_iter()
                .find(|(t, b, _)| t == title && b == body)
                .map(|(_, _, tag)| tag))
        })
        .await
}

/// Waits until no notification from the chat titled `title` is showing: within less than the
/// 20-odd seconds after which headless Chromium drops one of its own accord (a wait that long
/// would pass without the app closing anything).
async fn wait_none_from(browser: &Browser, title: &str) -> Result<(), HarnessError> {
    browser
        .eventually_within(
            &format!("no notification from {title}"),
            std::time::Duration::from_secs(8),
            || async { Ok(bodies_from(browser, title).await?.is_empty().then_some(())) },
        )
        .await
}

/// From now on (until the page reloads), each notification the page shows is recorded as well,
/// and each it asks the service worker to have shown (`notify::show`: `[title, options]`): a
/// test can then tell "none shown" from "shown and closed at once", and see that a tab heard a
/// message it did not show. Kept in localStorage under `tab`, where another tab of the browser
/// reads them too: a tab WebDriver switches to comes to the front, which sends the others
/// behind it.
async fn record_shown(browser: &Browser, tab: &str) -> Result<(), HarnessError> {
    browser
        .client()
        .execute(
            "const key = arguments[0];
             localStorage.setItem(key, JSON.stringify({ asked: [], shown: [] }));
             const record = (list, title, options) => {
                 const kept = JSON.parse(localStorage.getItem(key));
                 kept[list].push([title, options.body]);
                 localStorage.setItem(key, JSON.stringify(kept));
             };
             const show = ServiceWorkerRegistration.prototype.showNotification;
             ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
                 record('shown', title, options);
                 return show.call(this, title, options);
             };
             const post = ServiceWorker.prototype.postMessage;
             ServiceWorker.prototype.postMessage = function (message, ...rest) {
                 if (Array.isArray(message)) record('asked', message[0], message[1]);
                 return post.call(this, message, ...rest);
             };",
            vec![serde_json::json!(tab)],
        )
        .await?;
    Ok(())
}

/// What [`record_shown`] kept for `tab`: the notifications (title, body) it asked for, and those
/// it showed.
async fn recorded(
    browser: &Browser,
    tab: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), HarnessError> {
    let kept = browser
        .client()
        .execute(
            "const kept = JSON.parse(localStorage.getItem(arguments[0]));
             return [kept.asked, kept.shown];",
            vec![serde_json::json!(tab)],
        )
        .await?;
    Ok(serde_json::from_value(kept.clone())
        .map_err(|_| format!("the recorded notifications could not be read: {kept}"))?)
}

/// The notifications (title, body) `tab` showed since [`record_shown`].
async fn shown_since_recording(
    browser: &Browser,
    tab: &str,
) -> Result<Vec<(String, String)>, HarnessError> {
    Ok(recorded(browser, tab).await?.1)
}

async fn allow_notifications(browser: &Browser, origin: &str) -> Result<(), HarnessError> {
    browser
        .client()
        .issue_cmd(ChromedriverCommand {
            path: "goog/cdp/execute",
            body: serde_json::json!({
                "cmd": "Browser.grantPermissions",
                "params": { "permissions": ["notifications"], "origin": origin },
            }),
        })
        .await?;
    Ok(())
}

/// Waits until the settings' switch (open) shows notifications on.
async fn wait_notifications_on(browser: &Browser, what: &str) -> Result<(), HarnessError> {
    browser
        .eventually(what, || async {
            let on = browser
                .find("setting-notifications")
                .await?
                .prop("checked")
                .await?;
            Ok((on.as_deref() == Some("true")).then_some(()))
        })
        .await
}

/// Turns notifications on in the settings, the browser's permission granted beforehand (as a
/// person answering its prompt would); the settings stay open.
async fn turn_notifications_on(browser: &Browser, meeting: &Meeting) -> Result<(), HarnessError> {
    allow_notifications(browser, meeting.url.trim_end_matches('/')).await?;
    browser.click("settings").await?;
    browser.click("setting-notifications").await?;
    wait_notifications_on(browser, "notifications on").await
}

#[tokio::test]
async fn a_message_out_of_sight_is_notified_with_its_sender_and_text_or_without_the_text_unless_muted()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let ayu = meeting.sign_up("ayu").await?;
    let bima = meeting.sign_up("bima").await?;
    let citra = meeting.sign_up("citra").await?;
    turn_notifications_on(&bima, &meeting).await?;

    // A new chat's first message, with no chat open.
    ayu.start_chat("bima").await?;
    ayu.send("Makan siang?").await?;
    let ayu_tag = wait_notification(&bima, "ayu", "Makan siang?").await?;

    // The text hidden: the same chat's notification is replaced, without it.
    bima.click("setting-notifications-text").await?;
    ayu.send("Jam berapa?").await?;
    let hidden_tag = wait_notification(&bima, "ayu", "New message").await?;
    assert_eq!(hidden_tag, ayu_tag, "one notification per chat");

    // Opening the chat reads it, and its notification goes. Then, the chat on screen:
    // nothing for it. Citra's message elsewhere is the sentinel: once hers is shown, ayu's
    // would have been too. What the page shows from here is recorded, since one shown and at
    // once closed by the read would leave nothing to see.
    bima.click("setting-notifications-text").await?;
    bima.click("settings").await?;
    bima.open_chat("ayu").await?;
    wait_none_from(&bima, "ayu").await?;
    record_shown(&bima, "bima").await?;
    ayu.send("Tiga").await?;
    bima.wait_messages(&["Makan siang?", "Jam berapa?", "Tiga"])
        .await?;
    citra.start_chat("bima").await?;
    citra.send("Halo Bima").await?;
    wait_notification(&bima, "citra", "Halo Bima").await?;
    assert_eq!(
        shown_since_recording(&bima, "bima").await?,
        [("citra".to_owned(), "Halo Bima".to_owned())],
        "nothing for the chat on screen"
    );

    // Muted (the bell in the chat's header), kept across a reload: ayu's next message out of
    // sight is not notified. Citra's, after it, is the sentinel again.
    bima.click("chat-mute").await?;
    bima.find_css("[data-testid=\"chat-mute\"][aria-pressed=\"true\"]")
        .await?;
    bima.reload().await?;
    bima.find_css(
        "[data-testid=\"chat-list-item\"][data-title=\"ayu\"] [data-testid=\"chat-muted\"]",
    )
    .await?;
    bima.wait_connection("online").await?;
    // No chat on screen after the reload: ayu's is out of sight.
    bima.find_css(".main-screen:not(.chat-open)").await?;
    ayu.send("Empat").await?;
    citra.send("Lagi").await?;
    wait_notification(&bima, "citra", "Lagi").await?;
    assert!(
        bodies_from(&bima, "ayu").await?.is_empty(),
        "nothing for the muted chat"
    );

    for browser in [ayu, bima, citra] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_clicked_notifications_chat_opens_in_the_tab_it_comes_to_or_the_app_it_opens()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let ayu = meeting.sign_up("ayu").await?;
    let bima = meeting.sign_up("bima").await?;
    ayu.start_chat("bima").await?;
    ayu.send("Makan siang?").await?;
    let item = bima
        .find_css("[data-testid=\"chat-list-item\"][data-title=\"ayu\"]")
        .await?;
    let chat: u64 = item
        .attr("data-chat-id")
        .await?
        .and_then(|id| id.parse().ok())
        .ok_or("the chat has no data-chat-id")?;

    // The tab the service worker brings forward hears which chat to open.
    bima.client()
        .execute(
            "navigator.serviceWorker.dispatchEvent(
                 new MessageEvent('message', { data: { openChat: arguments[0] } }));",
            vec![serde_json::json!(chat)],
        )
        .await?;
    chat_on_screen(&bima, "ayu").await?;

    // With no tab, the app opens at the chat's address, which then leaves the address.
    bima.open(&format!("{}#chat={chat}", meeting.url)).await?;
    bima.reload().await?;
    chat_on_screen(&bima, "ayu").await?;
    let address: String = serde_json::from_value(
        bima.client()
            .execute("return location.href;", vec![])
            .await?,
    )
    .map_err(|_| "no address")?;
    assert!(!address.contains('#'), "the chat stays in {address}");

    for browser in [ayu, bima] {
        browser.close().await?;
    }
    Ok(())
}

/// Waits until the chat on screen is the one titled `title`.
async fn chat_on_screen(browser: &Browser, title: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("{title}'s chat on screen"), || async {
            let shown = browser.find("chat-title").await?.text().await?;
            Ok((shown == title).then_some(()))
        })
        .await
}

/// Whether the offer to turn notifications on is on screen.
async fn offered(browser: &Browser) -> Result<bool, HarnessError> {
    Ok(!browser
        .client()
        .find_all(testid("notifications-offer"))
        .await?
        .is_empty())
}

async fn wait_offer_gone(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .eventually("the offer gone", || async {
            Ok((!offered(browser).await?).then_some(()))
        })
        .await
}

#[tokio::test]
async fn notifications_are_offered_once_there_is_a_chat_and_the_answer_is_kept()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let dewi = meeting.sign_up("dewi").await?;
    let eka = meeting.sign_up("eka").await?;
    // No chat yet, nothing to hear from: no offer on the (empty) chat list.
    dewi.find_css(".empty-hint").await?;
    assert!(!offered(&dewi).await?, "offered with no chat");

    // A chat: the offer. "Turn on" asks the browser, which says yes (granted here as a
    // person answering its prompt would), and notifications are on.
    allow_notifications(&dewi, meeting.url.trim_end_matches('/')).await?;
    dewi.start_chat("eka").await?;
    dewi.send("Halo Eka").await?;
    dewi.click("notifications-offer-accept").await?;
    wait_offer_gone(&dewi).await?;
    dewi.click("settings").await?;
    // The switch shows on once this browser's store has kept the choice.
    wait_notifications_on(&dewi, "notifications on from the offer").await?;
    // Kept by this browser, in its sealed store (nothing in localStorage), across a reload.
    dewi.reload().await?;
    dewi.find("chat-list-item").await?;
    dewi.click("settings").await?;
    wait_notifications_on(&dewi, "notifications still on after a reload").await?;
    let kept = dewi
        .client()
        .execute("return Object.keys(localStorage).join(' ')", vec![])
        .await?;
    assert!(
        !kept.as_str().unwrap_or_default().contains("notif"),
        "in localStorage: {kept}"
    );

    // "Not now": gone, and still gone after a reload, once the chat list is back.
    eka.find("chat-list-item").await?;
    eka.find("notifications-offer").await?;
    eka.click("notifications-offer-dismiss").await?;
    wait_offer_gone(&eka).await?;
    eka.reload().await?;
    eka.find("chat-list-item").await?;
    assert!(!offered(&eka).await?, "offered again after \"Not now\"");

    dewi.close().await?;
    eka.close().await?;
    Ok(())
}

/// Waits until the last message of the chat `browser` has open shows `status`.
async fn wait_last_status(browser: &Browser, status: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("the last message {status}"), || async {
            let statuses = browser.message_statuses().await?;
            Ok((statuses.last().map(String::as_str) == Some(status)).then_some(()))
        })
        .await
}

/// The page's window loses the focus to another app (`false`) or gets it back. Headless
/// Chromium keeps its one window focused whatever the driver does, so the document is made to
/// say so, and the window hears the event the browser would send.
async fn window_focus(browser: &Browser, focused: bool) -> Result<(), HarnessError> {
    let script = if focused {
        "delete document.hasFocus; window.dispatchEvent(new Event('focus'));"
    } else {
        "document.hasFocus = () => false; window.dispatchEvent(new Event('blur'));"
    };
    browser.client().execute(script, vec![]).await?;
    Ok(())
}

/// ayu and bima sign up, bima turns notifications on (and closes the settings again), and ayu
/// starts a chat with bima: "Satu".
async fn ayu_writes_to_bima(meeting: &Meeting) -> Result<(Browser, Browser), HarnessError> {
    let ayu = meeting.sign_up("ayu").await?;
    let bima = meeting.sign_up("bima").await?;
    turn_notifications_on(&bima, meeting).await?;
    bima.click("settings").await?;
    ayu.start_chat("bima").await?;
    ayu.send("Satu").await?;
    Ok((ayu, bima))
}

#[tokio::test]
async fn a_chat_left_open_in_a_window_behind_another_app_is_notified_and_read_once_back_and_signing_out_closes_the_notifications()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let (ayu, bima) = ayu_writes_to_bima(&meeting).await?;
    bima.open_chat("ayu").await?;
    bima.wait_messages(&["Satu"]).await?;
    wait_last_status(&ayu, "read").await?;

    // bima's window stays on screen with the chat open while he works in another app.
    window_focus(&bima, false).await?;
    ayu.send("Dua").await?;
    wait_notification(&bima, "ayu", "Dua").await?;
    wait_last_status(&ayu, "delivered").await?;
    assert_eq!(bima.client().title().await?, "(1) Merpati");

    // Back in the window: read now.
    window_focus(&bima, true).await?;
    wait_last_status(&ayu, "read").await?;

    // Away again, and a notification shows; signing out closes it, so that nobody using the
    // computer after bima reads his messages in the system's notifications.
    window_focus(&bima, false).await?;
    ayu.send("Tiga").await?;
    wait_notification(&bima, "ayu", "Tiga").await?;
    bima.click("logout").await?;
    bima.find("auth-username").await?;
    // Within less than the 20-odd seconds after which headless Chromium drops a notification
    // of its own accord (it would then pass without the app closing anything).
    bima.eventually_within(
        "no notification left",
        std::time::Duration::from_secs(8),
        || async { Ok(notifications(&bima).await?.is_empty().then_some(())) },
    )
    .await?;

    ayu.close().await?;
    bima.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_notification_closes_once_its_chat_is_read_on_another_device() -> Result<(), HarnessError>
{
    let meeting = Meeting::start().await?;
    let ayu = meeting.sign_up("ayu").await?;
    let laptop = meeting.sign_up("bima").await?;
    let phone = meeting.driver.browser().await?;
    phone.sign_in(&meeting.url, "bima", PASSPHRASE).await?;
    turn_notifications_on(&laptop, &meeting).await?;
    laptop.click("settings").await?;

    ayu.start_chat("bima").await?;
    ayu.send("Sudah sampai?").await?;
    wait_notification(&laptop, "ayu", "Sudah sampai?").await?;
    // bima reads it on his phone; the laptop hears his read position, and the notification
    // there is old news.
    phone.open_chat("ayu").await?;
    phone.wait_messages(&["Sudah sampai?"]).await?;
    wait_none_from(&laptop, "ayu").await?;
    laptop
        .find_css("[data-testid=\"chat-list-item\"][data-title=\"ayu\"]:not(:has([data-testid=\"unread-badge\"]))")
        .await?;

    for browser in [ayu, laptop, phone] {
        browser.close().await?;
    }
    Ok(())
}
