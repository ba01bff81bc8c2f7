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
//! the message is sent — in every browser, not only those with CSS `field-sizing`. The
//! longest names change none of it on a phone: a group's members with an admin's buttons,
//! a reply's quote above the message box and the chats to forward to stay within the screen,
//! a chat's title on one line there, buttons ("Add member", "Remove admin", "Retry now"
//! while offline) and times (beside "Not sent: …", in a message found, "Read 9:41 AM" in a
//! message's details) keep their words on one line, and in the list a chat's time, unread
//! count and muted bell keep to the row's end. What is typed in a form's field is not in
//! its label's bold.
//! A window just wide enough for both keeps the chat a phone's width at least, and a short
//! one the settings within it. A chat's details, folded once, stay folded.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use merpati_e2e::attachments::{png_photo, write_file};
use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE};
use serde_json::Value;

/// Holds back every message the page sends its engine worker by 300 ms, in order: a slow
/// device, on which the worker's answer comes several paints after what the person did.
const SLOW_WORKER: &str = "const post = Worker.prototype.postMessage;
     Worker.prototype.postMessage = function (...args) {
         setTimeout(() => post.apply(this, args), 300);
     };";

/// Whether anything makes the page, or any part of it that scrolls (the message list, the
/// chat list), scroll sideways: something too wide inside a part that scrolls up and down
/// would scroll it sideways too, and the page's own width would not show it.
async fn overflows_sideways(browser: &Browser) -> Result<bool, HarnessError> {
    let value = browser
        .client()
        .execute(
            "if (document.documentElement.scrollWidth > window.innerWidth) return 'the page';
             for (const element of document.querySelectorAll('body *')) {
                 if (element.getClientRects().length === 0) continue;
                 const overflow = getComputedStyle(element).overflowX;
                 if ((overflow === 'auto' || overflow === 'scroll')
                     && element.scrollWidth > element.clientWidth + 1) {
                     return element.className || element.tagName;
                 }
             }
             return null;",
            vec![],
        )
        .await?;
    if !value.is_null() {
        eprintln!("scrolls sideways: {value}");
    }
    Ok(!value.is_null())
}

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
    assert!(!overflows_sideways(&phone).await?);
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
        !overflows_sideways(&phone).await?,
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
        !overflows_sideways(&phone).await?,
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
    assert!(!overflows_sideways(&phone).await?);
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
    assert!(!overflows_sideways(&desk).await?);

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
/// with every chat opened. Another browser's start open still.
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

/// How many lines the words of the first element `css` finds take on screen (the distinct
/// tops of their boxes): a button squeezed into two lines says 2.
async fn lines_of(browser: &Browser, css: &str) -> Result<usize, HarnessError> {
    let tops = browser
        .client()
        .execute(
            "const range = document.createRange();
             range.selectNodeContents(document.querySelector(arguments[0]));
             const tops = [...range.getClientRects()].map((rect) => Math.round(rect.top));
             return new Set(tops).size;",
            vec![Value::from(css)],
        )
        .await?;
    tops.as_u64()
        .and_then(|lines| usize::try_from(lines).ok())
        .ok_or_else(|| format!("{css} has no words on screen").into())
}

/// How far the part `part` (a testid) of the row `row` ends before the end of the row's
/// content box, in pixels.
async fn room_after(browser: &Browser, row: &str, part: &str) -> Result<f64, HarnessError> {
    let room = browser
        .client()
        .execute(
            "const row = document.querySelector(arguments[0]);
             const style = getComputedStyle(row);
             const end = row.getBoundingClientRect().right - parseFloat(style.paddingRight)
                 - parseFloat(style.borderRightWidth);
             const part = row.querySelector(`[data-testid=${arguments[1]}]`);
             return end - part.getBoundingClientRect().right;",
            vec![Value::from(row), Value::from(part)],
        )
        .await?;
    room.as_f64()
        .ok_or_else(|| format!("{row} has no {part}").into())
}

#[tokio::test]
async fn the_longest_names_leave_a_phone_s_screens_within_bounds_and_buttons_and_times_on_one_line()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    // The phone comes through a gate that can shut its socket out, to see it offline.
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let longest = "kusumawardhani_wulandari_pratiwi";
    assert_eq!(
        longest.len(),
        merpati_protocol::username::MAX_USERNAME_CHARS
    );
    let kusuma = meeting.sign_up(longest).await?;
    let phone = meeting.driver.browser().await?;
    phone.emulate_phone().await?;
    phone
        .sign_up(&gate.http_url(), "ponsel", PASSPHRASE)
        .await?;

    // The phone's person made the group and makes the longest name an admin: that member's
    // row then holds the name, "admin", "Remove admin" and "Remove".
    let title = concat!(
        "Keluarga besar Kusumawardhani dan Wulandari dari Yogyakarta, ",
        "Surabaya, Bandung, Medan, dan Makassar!"
    );
    assert_eq!(title.chars().count(), merpati_protocol::MAX_TITLE_CHARS);
    phone.create_group(title, longest).await?;
    let member = format!("[data-testid=chat-member][data-username={longest}]");
    phone
        .click_css(&format!("{member} [data-testid=member-admin]"))
        .await?;
    phone
        .find_css(&format!("{member}[data-admin=true]"))
        .await?;
    assert!(
        !overflows_sideways(&phone).await?,
        "the members' panel scrolls sideways"
    );
    for button in [
        "[data-testid=group-add-member-submit]".to_owned(),
        format!("{member} [data-testid=member-admin]"),
    ] {
        assert_eq!(lines_of(&phone, &button).await?, 1, "{button}");
    }

    // Replying to that member's long word: the quote is cut short, and its × on screen.
    let long_word = "panjang".repeat(40);
    kusuma.open_chat(title).await?;
    kusuma.send(&long_word).await?;
    phone.choose_in_menu(&long_word, "message-reply").await?;
    phone.find("composer-reply").await?;
    assert!(
        !overflows_sideways(&phone).await?,
        "the reply's quote widens the screen"
    );
    let cancel = phone
        .shown_box("[data-testid=composer-reply-cancel]")
        .await?;
    assert!(
        cancel[1].as_f64().is_some_and(|right| right <= 390.0),
        "the reply's × is off the screen: {cancel}"
    );
    phone.click("composer-reply-cancel").await?;

    // Read by that member: "Read 9:41 AM" in the message's details is one line, not split
    // after the longest name.
    phone.send("Sudah?").await?;
    phone
        .click_css("[data-testid=message][data-status=read] [data-testid=message-info]")
        .await?;
    let receipt = "[data-testid=message-receipt][data-state=read] .receipt-state";
    phone.find_css(receipt).await?;
    assert_eq!(lines_of(&phone, receipt).await?, 1, "the receipt's words");
    phone.click("message-receipts-close").await?;

    // In the list, a row's unread count and a muted chat's bell sit under its time, all at
    // the row's end (the bell in the count's place when there is none).
    phone.click("chat-mute").await?;
    phone.click("chat-back").await?;
    kusuma.start_chat("ponsel").await?;
    kusuma.send("Halo").await?;
    let unread = format!("[data-testid=chat-list-item][data-title={longest}]");
    phone
        .find_css(&format!("{unread} [data-testid=unread-badge]"))
        .await?;
    let muted = format!("[data-testid=chat-list-item][data-title=\"{title}\"]");
    phone
        .find_css(&format!("{muted} [data-testid=chat-muted]"))
        .await?;
    for (row, part) in [
        (&unread, "chat-time"),
        (&muted, "chat-time"),
        (&muted, "chat-muted"),
    ] {
        let room = room_after(&phone, row, part).await?;
        assert!(
            room.abs() < 1.0,
            "{part} stands {room} px in from the end of {row}"
        );
    }

    // Forwarding from there: the group's title is one line in the menu, within the screen.
    phone.open_chat(longest).await?;
    phone.choose_in_menu("Halo", "message-forward").await?;
    phone.find("forward-target").await?;
    assert_eq!(
        lines_of(&phone, "[data-testid=forward-target]").await?,
        1,
        "the title to forward to"
    );
    let menu = phone.shown_box("[data-testid=message-actions]").await?;
    assert!(
        menu[0].as_f64().is_some_and(|left| left >= 0.0)
            && menu[1].as_f64().is_some_and(|right| right <= 390.0),
        "the menu leaves the screen: {menu}"
    );

    // Refused by its reader: the time beside "Not sent: …" stays one line.
    phone
        .client()
        .active_element()
        .await?
        .send_keys(&fantoccini::key::Key::Escape.to_string())
        .await?;
    kusuma.click("block-user").await?;
    kusuma.find("chat-blocked").await?;
    phone.send("Halo?").await?;
    let refused = "[data-testid=message][data-status=failed] time";
    phone.find_css(refused).await?;
    assert_eq!(
        lines_of(&phone, refused).await?,
        1,
        "a refused message's time"
    );

    // Offline: "Retry now" beside the status stays one line.
    gate.shut();
    phone.wait_connection("offline").await?;
    assert_eq!(
        lines_of(&phone, "[data-testid=connection-retry]").await?,
        1,
        "Retry now"
    );

    // A message found, in the group of the longest title: its time on one line too.
    phone.click("chat-back").await?;
    phone.type_into("search-input", "panjang").await?;
    let found = "[data-testid=search-result] time";
    phone.find_css(found).await?;
    assert_eq!(lines_of(&phone, found).await?, 1, "a message found's time");

    // What is typed in the new chat's field is in the search box's weight, not its label's.
    phone.click("new-chat").await?;
    let weights = phone
        .client()
        .execute(
            "const weight = (id) => getComputedStyle(
                 document.querySelector(`[data-testid=${id}]`)).fontWeight;
             return [weight('new-chat-username'), weight('search-input')];",
            vec![],
        )
        .await?;
    assert_eq!(
        weights[0], weights[1],
        "the new chat's field, the search box"
    );

    phone.close().await?;
    kusuma.close().await?;
    Ok(())
}
