//! Phone and desktop: on a phone-sized screen (390 × 844) the chat list and a chat are
//! separate screens, a chat has a back button (`chat-back`), and nothing is wider than the
//! screen — not a long unbroken word, not the settings; with no chat yet the words saying so
//! sit under the search box; on a desktop the list and the chat sit side by side. The
//! keyboard's focus follows the screens: a chat opened on a phone takes it on its title, and
//! the back button gives it to that chat in the list. The phone's own back
//! gesture (the browser's Back) leaves a chat for the list as the button does, not the app,
//! and closes a photo open over the chat before the chat; the chat's row takes the focus back
//! even on a device whose engine worker answers slowly. The message box grows with what is
//! written in it, line by line up to a limit past which it scrolls, and shrinks back once
//! the message is sent — in every browser, not only those with CSS `field-sizing`. A window
//! just wide enough for both keeps the chat a phone's width at least, and a short one the
//! settings within it. A chat's details, folded once, stay folded. (The longest names on a
//! phone: `long_names.rs`.)
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use merpati_e2e::attachments::{png_photo, write_file};
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE};
use serde_json::Value;

/// Holds back every message the page sends its engine worker by 300 ms, in order: a slow
/// device, on which the worker's answer comes several paints after what the person did.
const SLOW_WORKER: &str = "const post = Worker.prototype.postMessage;
     Worker.prototype.postMessage = function (...args) {
         setTimeout(() => post.apply(this, args), 300);
     };";

/// Opens the chat called `title` and leaves it with the browser's Back: the list shows, and
/// the chat's row has the focus.
async fn back_from_chat(phone: &Browser, title: &str) -> Result<(), HarnessError> {
    phone.open_chat(title).await?;
    phone.wait_focus_on("[data-testid=chat-title]").await?;
    phone.client().back().await?;
    phone.find_css(".main-screen:not(.chat-open)").await?;
    phone
        .wait_focus_on(&format!("[data-testid=chat-list-item][data-title={title}]"))
        .await
}

#[tokio::test]
async fn a_phone_shows_the_list_or_a_chat_with_a_way_back_and_a_desktop_shows_both()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let phone = meeting.driver.browser().await?;
    phone.emulate_phone().await?;
    phone.sign_up(&meeting.url, "ponsel", PASSPHRASE).await?;
    let desk = meeting.sign_up("meja").await?;
    let width = phone
        .client()
        .execute("return window.innerWidth", vec![])
        .await?;
    assert_eq!(
        width,
        Value::from(390),
        "the phone's viewport, as wide as its screen"
    );

    // The list alone.
    assert!(!phone.overflows_sideways().await?);
    // No chat yet: the words saying so sit under the search box, not at the screen's foot.
    let gap = phone
        .client()
        .execute(
            "const hint = document.querySelector('.sidebar .empty-hint');
             const search = document.querySelector('[data-testid=search-input]');
             return hint.getBoundingClientRect().top - search.getBoundingClientRect().bottom;",
            vec![],
        )
        .await?;
    assert!(
        gap.as_f64().is_some_and(|gap| gap < 48.0),
        "\"No chats yet\" is {gap} px below the search box"
    );
    assert!(!phone.shown_box(".sidebar").await?.is_null());
    assert!(phone.shown_box(".conversation").await?.is_null());

    // A chat alone, with a long unbroken word in it and the settings open.
    phone.start_chat("meja").await?;
    phone.wait_focus_on("[data-testid=chat-title]").await?;
    assert!(phone.shown_box(".sidebar").await?.is_null());
    assert!(
        !phone
            .shown_box("[data-testid=\"chat-back\"]")
            .await?
            .is_null()
    );
    let long_word = format!("https://example.org/{}", "panjang".repeat(40));
    phone.send(&long_word).await?;
    phone.wait_messages(&[&long_word]).await?;
    phone.click("settings").await?;
    phone.find("theme-select").await?;
    assert!(
        !phone.overflows_sideways().await?,
        "the chat screen scrolls sideways"
    );
    // Each setting's checkbox sits beside its words, not across the panel above them.
    for setting in ["setting-read-receipts", "setting-notifications"] {
        let checkbox = phone.shown_box(&format!("[data-testid={setting}]")).await?;
        assert!(
            checkbox[2].as_f64().is_some_and(|width| width < 40.0),
            "{setting}: {checkbox}"
        );
    }
    // The panel stands clear of both edges of the screen alike.
    let panel = phone.shown_box("[data-testid=settings-panel]").await?;
    let margins = panel[0]
        .as_f64()
        .zip(panel[1].as_f64())
        .map(|(left, right)| (left, 390.0 - right));
    assert!(
        margins.is_some_and(|(left, right)| left >= 4.0 && (left - right).abs() < 1.0),
        "the settings' margins (left, right): {margins:?}"
    );
    // The theme's and the language's choices are in the type of the words beside them, as
    // the page's fields are, not the browser's default for a select, and on their line: the
    // words' middle level with the select's, not at its top.
    for select in ["theme-select", "language-select"] {
        let measured = phone
            .client()
            .execute(
                "const select = document.querySelector(`[data-testid=${arguments[0]}]`);
                 const font = (element) => {
                     const style = getComputedStyle(element);
                     return `${style.fontSize} ${style.fontFamily}`;
                 };
                 const words = document.createRange();
                 words.selectNodeContents(select.parentElement.firstChild);
                 const middle = (edges) => (edges.top + edges.bottom) / 2;
                 return [
                     font(select),
                     font(select.parentElement),
                     middle(words.getBoundingClientRect()) - middle(select.getBoundingClientRect()),
                 ];",
                vec![Value::from(select)],
            )
            .await?;
        assert_eq!(measured[0], measured[1], "{select}: its font, its words'");
        assert!(
            measured[2]
                .as_f64()
                .is_some_and(|offset| offset.abs() < 2.0),
            "{select}: its words' middle less its own, in px: {}",
            measured[2]
        );
    }

    // Settings closed (they lie over the chat's header), the emoji picker open over the
    // chat, its skin tones out: within the screen too.
    phone.click("settings").await?;
    phone.click("emoji-picker-button").await?;
    phone.find("emoji-picker-option").await?;
    phone.click("emoji-picker-tone").await?;
    phone.find("emoji-picker-tone-option").await?;
    assert!(
        !phone.overflows_sideways().await?,
        "the emoji picker scrolls the chat sideways"
    );
    let picker = phone.shown_box("[data-testid=\"emoji-picker\"]").await?;
    let inside = picker.as_array().is_some_and(|edges| {
        edges[0].as_f64().is_some_and(|left| left >= 0.0)
            && edges[1].as_f64().is_some_and(|right| right <= 390.0)
    });
    assert!(inside, "the emoji picker leaves the screen: {picker}");
    phone.click("emoji-picker-button").await?;

    // Back to the list.
    phone.click("chat-back").await?;
    // The chat list's rows are in the page (hidden) while a chat is open, so finding one proves
    // nothing; the screen has switched once the worker's view says no chat is open.
    phone.find_css(".main-screen:not(.chat-open)").await?;
    phone
        .find_css(".sidebar [data-testid=\"chat-list-item\"]")
        .await?;
    phone
        .wait_focus_on("[data-testid=chat-list-item][data-title=meja]")
        .await?;
    assert!(phone.shown_box(".conversation").await?.is_null());
    assert!(!phone.overflows_sideways().await?);
    // The button took the history entry the open chat had added off again.
    phone
        .eventually("the chat's history entry gone", || async {
            let state = phone
                .client()
                .execute("return history.state", vec![])
                .await?;
            Ok(state.is_null().then_some(()))
        })
        .await?;

    // The phone's own back gesture (the browser's Back) leaves the chat for the list too,
    // instead of leaving the app.
    back_from_chat(&phone, "meja").await?;
    assert!(phone.shown_box(".conversation").await?.is_null());

    // With a photo open over the chat, Back closes the photo and leaves the chat open; the
    // next Back closes the chat.
    phone.open_chat("meja").await?;
    let files = tempfile::tempdir()?;
    phone
        .attach(&write_file(
            files.path(),
            "pantai.png",
            &png_photo(64, 48, 5),
        )?)
        .await?;
    phone.wait_acknowledged(2).await?;
    phone.click("attachment-open").await?;
    phone.find("attachment-full").await?;
    phone.client().back().await?;
    phone
        .eventually("the photo closed", || async {
            let viewer = phone
                .shown_box("[data-testid=\"attachment-viewer\"]")
                .await?;
            Ok(viewer.is_null().then_some(()))
        })
        .await?;
    phone.find_css(".main-screen.chat-open").await?;
    assert!(!phone.shown_box(".conversation").await?.is_null());
    phone.client().back().await?;
    phone.find_css(".main-screen:not(.chat-open)").await?;

    // On a slow device, where the engine worker answers well after the next paint, the chat
    // closed with Back still gives its row the focus: the row, hidden until the list shows,
    // takes it once the list is on screen.
    phone.run_before_each_document(SLOW_WORKER).await?;
    phone.reload().await?;
    back_from_chat(&phone, "meja").await?;

    // A desktop: the list and the open chat side by side, no back button.
    desk.open_chat("ponsel").await?;
    desk.wait_messages(&[&long_word]).await?;
    let list = desk.shown_box(".sidebar").await?;
    let chat = desk.shown_box(".conversation").await?;
    let list_right = list[1].as_f64().ok_or("the list is shown")?;
    let chat_left = chat[0].as_f64().ok_or("the chat is shown")?;
    assert!(list_right <= chat_left, "side by side: {list} then {chat}");
    assert!(
        desk.shown_box("[data-testid=\"chat-back\"]")
            .await?
            .is_null()
    );
    assert!(!desk.overflows_sideways().await?);

    phone.close().await?;
    desk.close().await?;
    Ok(())
}

/// The message box's height and how far its text reaches: (height, scroll height), in pixels.
async fn message_box_height(browser: &Browser) -> Result<(f64, f64), HarnessError> {
    let sizes = browser
        .client()
        .execute(
            "const box = document.querySelector('[data-testid=composer-input]');
             return [box.getBoundingClientRect().height, box.scrollHeight];",
            vec![],
        )
        .await?;
    let size = |at: usize| sizes[at].as_f64().ok_or("the message box has no size");
    Ok((size(0)?, size(1)?))
}

#[tokio::test]
async fn the_message_box_grows_with_its_text_up_to_a_limit_and_back_once_sent()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let _tari = meeting.sign_up("tari").await?;
    let umar = meeting.sign_up("umar").await?;
    umar.start_chat("tari").await?;
    let (empty, _) = message_box_height(&umar).await?;

    // A few lines' worth, wrapped by the box's width: all of it shows, nothing scrolls.
    let input = umar.find("composer-input").await?;
    input
        .send_keys(&"sampai jumpa besok pagi ".repeat(8))
        .await?;
    let (grown, reach) = umar
        .eventually("the box grown to its text", || async {
            let (height, reach) = message_box_height(&umar).await?;
            Ok((height > 1.8 * empty).then_some((height, reach)))
        })
        .await?;
    assert!(reach <= grown + 1.0, "the text is cut: {reach} in {grown}");

    // Far more: the box stops growing and its text scrolls within it.
    input
        .send_keys(&"sampai jumpa besok pagi ".repeat(60))
        .await?;
    let (tallest, reach) = umar
        .eventually("the box at its limit", || async {
            let (height, reach) = message_box_height(&umar).await?;
            Ok((reach > height + 1.0).then_some((height, reach)))
        })
        .await?;
    assert!(tallest > grown, "{tallest} after {grown}");
    assert!(
        tallest < 844.0 / 4.0,
        "the box takes more than a quarter of a phone's screen: {tallest} px for {reach} px of text"
    );

    // Sent: one line again.
    input
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await?;
    umar.wait_acknowledged(1).await?;
    umar.eventually("the box one line again", || async {
        let (height, _) = message_box_height(&umar).await?;
        Ok(((height - empty).abs() < 1.0).then_some(()))
    })
    .await?;
    Ok(())
}

/// Whether the open chat's details are unfolded, once those drawn are the ones whose summary
/// reads `summary` (a chat just opened may still show the last one's for a moment).
async fn details_open(browser: &Browser, summary: &str) -> Result<bool, HarnessError> {
    browser
        .eventually(&format!("the details “{summary}”"), || async {
            let open = browser
                .client()
                .execute(
                    "const details = document.querySelector('details.chat-info');
                     if (!details || !details.firstChild.textContent.includes(arguments[0])) {
                         return null;
                     }
                     return details.open;",
                    vec![Value::from(summary)],
                )
                .await?;
            Ok(open.as_bool())
        })
        .await
}

/// Folds or unfolds the open chat's details, and waits until the browser keeps the choice
/// (the page writes it when the browser says they toggled, a moment after the click).
async fn toggle_details(browser: &Browser, folded: bool) -> Result<(), HarnessError> {
    browser.click("chat-info").await?;
    browser
        .eventually("the details' fold kept", || async {
            let kept = browser
                .client()
                .execute(
                    "return localStorage.getItem('merpati.details-folded') === '1'",
                    vec![],
                )
                .await?;
            Ok((kept.as_bool() == Some(folded)).then_some(()))
        })
        .await
}

/// A chat's details — the safety number, a group's members — start open, as the UI test
/// contract says; folded once, they stay folded for every chat opened after, of either kind,
/// and after a reload, until unfolded: on a phone they would otherwise fill half the screen
/// with every chat opened. Another browser's start open still. The safety number shows in
/// three lines of four groups, on a desktop and a phone alike.
#[tokio::test]
async fn a_chats_details_folded_once_stay_folded_in_this_browser() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let lipat = meeting.sign_up("lipat").await?;
    let buka = meeting.sign_up("buka").await?;
    lipat.create_group("Lipatan", "buka").await?;
    assert!(details_open(&lipat, "Members").await?);
    lipat.start_chat("buka").await?;
    assert!(details_open(&lipat, "Verify safety number").await?);

    toggle_details(&lipat, true).await?;
    lipat.open_chat("Lipatan").await?;
    assert!(!details_open(&lipat, "Members").await?, "unfolded again");
    lipat.reload().await?;
    lipat.open_chat("buka").await?;
    assert!(
        !details_open(&lipat, "Verify safety number").await?,
        "unfolded after a reload"
    );

    toggle_details(&lipat, false).await?;
    lipat.open_chat("Lipatan").await?;
    assert!(details_open(&lipat, "Members").await?, "still folded");

    buka.open_chat("lipat").await?;
    assert!(details_open(&buka, "Verify safety number").await?);
    // The safety number in three lines of four groups, on a wide window as on a phone.
    for phone in [false, true] {
        if phone {
            buka.emulate_phone().await?;
        }
        let groups_a_line = buka
            .eventually("the safety number", || async {
                let counts = buka
                    .client()
                    .execute(
                        "const digits = document.querySelector('[data-testid=safety-number]');
                         const text = digits.firstChild;
                         if (!text || !/^[0-9 ]{71}$/.test(text.data)) return null;
                         const counts = new Map();
                         for (let at = 0; at < text.data.length; at += 6) {
                             const group = document.createRange();
                             group.setStart(text, at);
                             group.setEnd(text, at + 5);
                             const top = Math.round(group.getBoundingClientRect().top);
                             counts.set(top, (counts.get(top) || 0) + 1);
                         }
                         return [...counts.values()];",
                        vec![],
                    )
                    .await?;
                Ok((!counts.is_null()).then_some(counts))
            })
            .await?;
        assert_eq!(groups_a_line, Value::from(vec![4, 4, 4]), "phone: {phone}");
    }
    Ok(())
}

/// A small laptop or tablet, wide enough for the list and a chat side by side: the chat keeps
/// room for the message box's words on one line (just past the phone layout the list took so
/// much of the width that "Write a message" wrapped, and the box showed a scrollbar), and the
/// settings, taller than the window of a laptop with a 768 px screen (about 620 px once the
/// browser's own bars are drawn), scroll inside their panel, not the page under them.
#[tokio::test]
async fn a_narrow_or_short_desktop_keeps_the_message_box_and_the_settings_in_the_window()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let sempit = meeting.sign_up("sempit").await?;
    meeting.sign_up("lebar").await?;
    sempit.emulate_desktop(721, 900).await?;
    sempit.start_chat("lebar").await?;
    assert!(
        !sempit.shown_box(".sidebar").await?.is_null(),
        "the list beside the chat"
    );
    let hidden = sempit
        .client()
        .execute(
            "const box = document.querySelector('[data-testid=composer-input]');
             return box.scrollHeight - box.clientHeight;",
            vec![],
        )
        .await?;
    assert!(
        hidden.as_f64().is_some_and(|px| px <= 0.0),
        "the empty message box's words need {hidden} px more than it has"
    );

    sempit.emulate_desktop(1366, 620).await?;
    sempit.click("settings").await?;
    sempit.find("device-item").await?;
    let fits = sempit
        .client()
        .execute(
            "const panel = document.querySelector('[data-testid=settings-panel]');
             return [
                 document.documentElement.scrollHeight - window.innerHeight,
                 panel.getBoundingClientRect().bottom - window.innerHeight,
             ];",
            vec![],
        )
        .await?;
    let past = |at: usize| fits[at].as_f64().is_some_and(|px| px <= 0.0);
    assert!(
        past(0) && past(1),
        "the page, the panel past the window's bottom (px): {fits}"
    );
    Ok(())
}

/// On a phone the chat list gives way to the open chat, but a refusal of what was done in the
/// chat does not go with it: adding someone who does not exist says so over the chat, on the
/// screen.
#[tokio::test]
async fn a_refusal_in_a_chat_on_a_phone_shows_over_the_chat() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let _desk = meeting.sign_up("meja").await?;
    let phone = meeting.driver.browser().await?;
    phone.emulate_phone().await?;
    phone.sign_up(&meeting.url, "ponsel", PASSPHRASE).await?;
    phone.create_group("Kantor", "meja").await?;
    let folded = phone
        .client()
        .execute(
            "return !document.querySelector('details.chat-info').open",
            vec![],
        )
        .await?;
    if folded.as_bool() == Some(true) {
        phone.click("chat-info").await?;
    }
    phone.type_into("group-add-member-input", "nobody").await?;
    phone.click("group-add-member-submit").await?;
    let shown = phone
        .eventually("the refusal on the screen", || async {
            let shown = phone.shown_box("[data-testid=request-error]").await?;
            Ok((!shown.is_null()).then_some(shown))
        })
        .await?;
    let (left, right) = (shown[0].as_f64(), shown[1].as_f64());
    assert!(
        left.is_some_and(|left| left >= 0.0) && right.is_some_and(|right| right <= 390.0),
        "within the phone's screen: {shown}"
    );
    assert!(
        phone.shown_box(".chat-list").await?.is_null(),
        "the list stays hidden"
    );
    // Words about that chat do not follow the person out of it, nor into the next.
    phone.click("chat-back").await?;
    phone.find("chat-list-item").await?;
    assert!(
        phone
            .shown_box("[data-testid=request-error]")
            .await?
            .is_null()
    );
    phone.close().await?;
    Ok(())
}
