//! The longest names change nothing of a phone's screens (390 × 844): a group's members with
//! an admin's buttons, a reply's quote above the message box and the chats to forward to stay
//! within the screen, a chat's title on one line there; buttons ("Add member", "Remove
//! admin", "Retry now" while offline) and times (beside "Not sent: …", in a message found,
//! "Read 9:41 AM" in a message's details) keep their words on one line; in the list a chat's
//! time, unread count and muted bell keep to the row's end. What is typed in a form's field
//! is not in its label's bold.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE};
use serde_json::Value;

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
        !phone.overflows_sideways().await?,
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
        !phone.overflows_sideways().await?,
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
