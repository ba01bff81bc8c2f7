//! The message menu between two real browsers: alice and bob reply, edit, delete for everyone
//! and for themselves, react and take a reaction back, and forward, in a 1:1 chat and a
//! group; a web address shows as a link; a draft stays in its chat across switching chats
//! and a reload; and a text refused as too long says why until it is changed.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use merpati_e2e::{Browser, HarnessError, Meeting, testid};

const DELETED: &str = "This message was deleted";

/// Waits until `browser`'s open chat shows the message `text` with `inner` inside it.
async fn wait_has(browser: &Browser, text: &str, inner: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("“{text}” with {inner}"), || async {
            Ok(browser.message_has(text, inner).await?.then_some(()))
        })
        .await
}

/// Waits until `browser`'s open chat shows the message `text` without `inner` inside it.
async fn wait_lacks(browser: &Browser, text: &str, inner: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("“{text}” without {inner}"), || async {
            browser.message_with_text(text).await?;
            Ok((!browser.message_has(text, inner).await?).then_some(()))
        })
        .await
}

/// Chooses `emoji` in the reaction choice of the message `text`.
async fn react(browser: &Browser, text: &str, emoji: &str) -> Result<(), HarnessError> {
    browser.choose_in_menu(text, "message-react").await?;
    browser
        .click_css(&format!(
            "[data-testid=\"emoji-option\"][data-emoji=\"{emoji}\"]"
        ))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_edits_deletions_and_reactions_show_on_both_sides() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Jam berapa besok?").await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["Jam berapa besok?"]).await?;

    // Reply: the composer quotes the message; the reply shows the quote on both sides.
    bob.choose_in_menu("Jam berapa besok?", "message-reply")
        .await?;
    bob.eventually("the composer quoting the message", || async {
        let quoted = bob.find("composer-reply").await?.text().await?;
        Ok(quoted.contains("Jam berapa besok?").then_some(()))
    })
    .await?;
    bob.send("Jam tujuh").await?;
    let quote = "*[@data-testid='message-quote'][contains(., 'Jam berapa besok?')]";
    for browser in [&alice, &bob] {
        browser
            .wait_messages(&["Jam berapa besok?", "Jam tujuh"])
            .await?;
        wait_has(browser, "Jam tujuh", quote).await?;
    }
    assert!(
        bob.client()
            .find_all(testid("composer-reply"))
            .await?
            .is_empty()
    );

    // Edit: the new text and "edited" on both sides.
    alice.send("Sampai jumpa di stasiun").await?;
    bob.message_with_text("Sampai jumpa di stasiun").await?;
    alice
        .choose_in_menu("Sampai jumpa di stasiun", "message-edit")
        .await?;
    alice.find("composer-editing").await?;
    alice
        .type_into("composer-input", "Sampai jumpa di terminal")
        .await?;
    alice.click("composer-send").await?;
    for browser in [&alice, &bob] {
        wait_has(
            browser,
            "Sampai jumpa di terminal",
            "*[@data-testid='message-edited']",
        )
        .await?;
    }

    // React, then the same emoji again takes it back, on both sides.
    let thumbs = "*[@data-testid='reaction'][@data-emoji='👍'][@data-count='1']";
    react(&bob, "Sampai jumpa di terminal", "👍").await?;
    for browser in [&alice, &bob] {
        wait_has(browser, "Sampai jumpa di terminal", thumbs).await?;
    }
    react(&bob, "Sampai jumpa di terminal", "👍").await?;
    for browser in [&alice, &bob] {
        wait_lacks(
            browser,
            "Sampai jumpa di terminal",
            "*[@data-testid='reaction']",
        )
        .await?;
    }

    // Delete for everyone: the deleted words on both sides, the text nowhere in bob's page.
    alice.send("Kode pintu 4711").await?;
    bob.message_with_text("Kode pintu 4711").await?;
    alice
        .choose_in_menu("Kode pintu 4711", "message-delete")
        .await?;
    for browser in [&alice, &bob] {
        browser
            .eventually("the deleted message marked deleted", || async {
                let deleted = browser.message_with_text(DELETED).await?;
                let marked = deleted.attr("data-deleted").await?;
                Ok((marked.as_deref() == Some("true")).then_some(()))
            })
            .await?;
    }
    bob.eventually("the deleted text to be gone from bob's page", || async {
        Ok((!bob.client().source().await?.contains("Kode pintu 4711")).then_some(()))
    })
    .await?;

    // Delete for me: gone on alice's side only.
    alice
        .choose_in_menu("Jam tujuh", "message-delete-mine")
        .await?;
    alice
        .wait_messages(&["Jam berapa besok?", "Sampai jumpa di terminal", DELETED])
        .await?;
    bob.wait_messages(&[
        "Jam berapa besok?",
        "Jam tujuh",
        "Sampai jumpa di terminal",
        DELETED,
    ])
    .await?;

    // A web address is a link on both sides, to exactly what it shows; the full stop after
    // it is the sentence's.
    let with_link = "Peta: https://peta.example/stasiun?pintu=2.";
    alice.send(with_link).await?;
    let link = "*[@data-testid='message-link'][@href='https://peta.example/stasiun?pintu=2']\
                [.='https://peta.example/stasiun?pintu=2'][@rel='noopener noreferrer']";
    for browser in [&alice, &bob] {
        wait_has(browser, with_link, link).await?;
    }

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forward_arrives_marked_in_a_group_and_a_draft_survives_switching_and_a_reload()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.create_group("Keluarga", "bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Kereta jam 8").await?;
    alice.message_with_text("Kereta jam 8").await?;

    // Forward from the 1:1 chat into the group: it arrives there marked forwarded.
    alice
        .choose_in_menu("Kereta jam 8", "message-forward")
        .await?;
    alice.find_css("[data-testid=\"forward-target\"]").await?;
    let target = alice
        .client()
        .find(fantoccini::Locator::XPath(
            "//*[@data-testid='forward-target'][normalize-space()='Keluarga']",
        ))
        .await?;
    target.click().await?;
    bob.open_chat("Keluarga").await?;
    wait_has(&bob, "Kereta jam 8", "*[@data-testid='message-forwarded']").await?;
    alice.open_chat("Keluarga").await?;
    wait_has(
        &alice,
        "Kereta jam 8",
        "*[@data-testid='message-forwarded']",
    )
    .await?;

    // In the group too, a reaction shows on both sides.
    react(&bob, "Kereta jam 8", "🙏").await?;
    let praying = "*[@data-testid='reaction'][@data-emoji='🙏'][@data-count='1']";
    wait_has(&alice, "Kereta jam 8", praying).await?;
    wait_has(&bob, "Kereta jam 8", praying).await?;

    // A draft: typed in the 1:1 chat, not sent.
    alice.open_chat("bob").await?;
    alice
        .find("composer-input")
        .await?
        .send_keys("Nanti aku kabari")
        .await?;
    alice.open_chat("Keluarga").await?;
    let draft_in_list =
        "[data-testid=\"chat-list-item\"][data-title=\"bob\"] [data-testid=\"chat-draft\"]";
    let shown = alice.find_css(draft_in_list).await?.text().await?;
    assert_eq!(shown, "Draft: Nanti aku kabari");
    assert_eq!(
        alice
            .find("composer-input")
            .await?
            .prop("value")
            .await?
            .as_deref(),
        Some(""),
        "the draft stays in its own chat"
    );
    alice.open_chat("bob").await?;
    alice
        .eventually("the draft back in bob's composer", || async {
            let value = alice.find("composer-input").await?.prop("value").await?;
            Ok((value.as_deref() == Some("Nanti aku kabari")).then_some(()))
        })
        .await?;

    // A reload keeps it (sealed in the store).
    alice.reload().await?;
    let shown = alice.find_css(draft_in_list).await?.text().await?;
    assert_eq!(shown, "Draft: Nanti aku kabari");
    alice.open_chat("bob").await?;
    alice
        .eventually("the draft in the composer after a reload", || async {
            let value = alice.find("composer-input").await?.prop("value").await?;
            Ok((value.as_deref() == Some("Nanti aku kabari")).then_some(()))
        })
        .await?;

    // Sending it clears the draft.
    alice.click("composer-send").await?;
    alice.message_with_text("Nanti aku kabari").await?;
    alice
        .eventually("the draft gone from the chat list", || async {
            Ok(alice
                .client()
                .find_all(fantoccini::Locator::Css(draft_in_list))
                .await?
                .is_empty()
                .then_some(()))
        })
        .await?;

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}

/// A reply quotes a message further back than the app loads on opening: clicking the quote
/// loads older messages until it is there and brings it into sight.
#[tokio::test(flavor = "multi_thread")]
async fn a_quote_of_a_message_further_back_loads_it() -> Result<(), HarnessError> {
    // More than the newest page the app reads back from its store when it opens (50).
    const LATER: usize = 60;
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Yang paling awal").await?;
    for n in 1..=LATER {
        alice.send(&format!("isi {n}")).await?;
    }
    bob.open_chat("alice").await?;
    bob.message_with_text(&format!("isi {LATER}")).await?;
    bob.choose_in_menu("Yang paling awal", "message-reply")
        .await?;
    bob.send("Balasan untuk yang awal").await?;
    bob.wait_acknowledged(LATER + 2).await?;

    // Reopened, bob's app holds only the newest messages: the quoted one is not among them.
    bob.reload().await?;
    bob.open_chat("alice").await?;
    bob.message_with_text("Balasan untuk yang awal").await?;
    let first = Browser::message_xpath("Yang paling awal");
    assert!(
        bob.client()
            .find_all(fantoccini::Locator::XPath(&first))
            .await?
            .is_empty(),
        "the quoted message is not loaded after opening"
    );
    bob.message_with_text("Balasan untuk yang awal")
        .await?
        .find(testid("message-quote"))
        .await?
        .click()
        .await?;
    bob.message_with_text("Yang paling awal").await?;

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_puts_a_messages_text_on_the_clipboard() -> Result<(), HarnessError> {
    const TEXT: &str = "Kereta 08.15 dari Gambir, peron 3 ✓";
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send(TEXT).await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&[TEXT]).await?;
    bob.grant_clipboard().await?;

    bob.choose_in_menu(TEXT, "message-copy").await?;
    bob.eventually("the message's text on the clipboard", || async {
        let held = bob.clipboard_text().await?;
        Ok((held == TEXT).then_some(()))
    })
    .await?;
    assert!(
        bob.client()
            .find_all(testid("message-actions"))
            .await?
            .is_empty(),
        "the menu closed"
    );

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_refused_as_too_long_says_why_until_it_is_changed() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let _bob = meeting.sign_up("bob").await?;
    let alice = meeting.sign_up("alice").await?;
    alice.start_chat("bob").await?;

    // Past the limit of a message's body: three bytes a character.
    let too_long = "中".repeat(merpati_protocol::MAX_BODY_BYTES / 3 + 1);
    alice.send(&too_long).await?;
    alice.find("composer-error").await?;

    // Shortened: the words about the text before it go, and it is sent.
    alice.type_into("composer-input", "Pendek saja").await?;
    alice
        .eventually("the refusal gone", || async {
            let error = alice.first_css("[data-testid=composer-error]").await?;
            Ok(error.is_none().then_some(()))
        })
        .await?;
    alice.click("composer-send").await?;
    alice.wait_messages(&["Pendek saja"]).await?;

    alice.close().await?;
    Ok(())
}
