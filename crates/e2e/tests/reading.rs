//! Coming back to a chat, in real headless Chromium against the real server and the real
//! release build: a chat opened with unread messages opens where they begin, under a divider
//! saying how many, and each day's first message has its day above it; a message's details
//! left open in it are closed.
//!
//! Run with `--test-threads=1`: the test drives two browsers.

use merpati_e2e::{Browser, HarnessError, Meeting, testid};

/// More than a screen of messages.
const UNREAD: usize = 40;

/// Whether the unread divider stands in the message list's view and the newest message below
/// it, out of view.
const DIVIDER_IN_VIEW: &str = "
    const list = document.querySelector('.message-list').getBoundingClientRect();
    const divider = document.querySelector('[data-testid=unread-divider]');
    const rows = document.querySelectorAll('[data-testid=message]');
    if (!divider || rows.length === 0) return false;
    const line = divider.getBoundingClientRect();
    const newest = rows[rows.length - 1].getBoundingClientRect();
    return line.top >= list.top && line.bottom <= list.bottom && newest.top >= list.bottom;
";

async fn divider_in_view(browser: &Browser) -> Result<bool, HarnessError> {
    let seen = browser.client().execute(DIVIDER_IN_VIEW, vec![]).await?;
    Ok(seen.as_bool() == Some(true))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_opened_with_unread_messages_opens_where_they_begin() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Sudah dibaca").await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["Sudah dibaca"]).await?;

    // bob is in another chat while alice writes on.
    bob.create_group("Kantor", "alice").await?;
    for n in 1..=UNREAD {
        alice.send(&format!("pesan {n}")).await?;
    }
    alice.wait_acknowledged(UNREAD + 1).await?;
    let badge = "[data-testid=chat-list-item][data-title=alice] [data-testid=unread-badge]";
    bob.eventually(&format!("{UNREAD} unread from alice"), || async {
        Ok(match bob.first_css(badge).await? {
            Some(badge) => (badge.text().await? == UNREAD.to_string()).then_some(()),
            None => None,
        })
    })
    .await?;

    bob.open_chat("alice").await?;
    let divider = bob.find("unread-divider").await?;
    assert_eq!(divider.text().await?, format!("{UNREAD} unread messages"));
    let after_divider = bob
        .client()
        .find(fantoccini::Locator::Css(
            "[data-testid=unread-divider] + [data-testid=message]",
        ))
        .await?;
    assert!(after_divider.text().await?.contains("pesan 1"));
    bob.eventually("the divider in view, the newest out of it", || async {
        Ok(divider_in_view(&bob).await?.then_some(()))
    })
    .await?;
    // And it stays there once the list has laid out and painted again (a list that went on to
    // the newest would have by then).
    bob.client()
        .execute_async(
            "const done = arguments[0];
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            vec![],
        )
        .await?;
    assert!(divider_in_view(&bob).await?, "still at the divider");
    assert!(
        bob.find("jump-to-newest").await?.is_displayed().await?,
        "a jump to the newest is offered"
    );

    // Every message here was written today: one day line, above the first.
    let days = bob.client().find_all(testid("day-separator")).await?;
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].text().await?, "Today");

    // Closed (the browser's Back) and opened again: read is read, no divider.
    bob.client().back().await?;
    bob.find_css("[data-testid=chat-list-item][data-title=alice]")
        .await?;
    bob.eventually("the chat closed", || async {
        Ok(bob
            .client()
            .find_all(testid("chat-title"))
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    bob.open_chat("alice").await?;
    bob.message_with_text(&format!("pesan {UNREAD}")).await?;
    assert!(
        bob.client()
            .find_all(testid("unread-divider"))
            .await?
            .is_empty(),
        "no divider once read"
    );

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

/// A message's details are closed by leaving the chat: coming back shows the chat, not the
/// details again, unasked.
#[tokio::test(flavor = "multi_thread")]
async fn details_left_open_in_a_chat_are_closed_on_coming_back() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let _bob = meeting.sign_up("bob").await?;
    let alice = meeting.sign_up("alice").await?;
    alice.start_chat("bob").await?;
    alice.send("halo").await?;
    alice.wait_acknowledged(1).await?;
    alice.click("message-info").await?;
    alice.find("message-receipts").await?;

    alice.create_group("Kantor", "bob").await?;
    alice.open_chat("bob").await?;
    alice.wait_messages(&["halo"]).await?;
    let details = alice.client().find_all(testid("message-receipts")).await?;
    assert!(details.is_empty(), "the details stayed closed");
    alice.close().await?;
    Ok(())
}
