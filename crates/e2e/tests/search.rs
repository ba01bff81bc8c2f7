//! Local search in real headless Chromium against the real server and the real release
//! build: after a reload (everything is found again from the sealed store), a word's beginning
//! finds messages whatever the case and accents, in every chat, with the matched words
//! marked; choosing a result opens its chat at the message.
//!
//! Run with `--test-threads=1`: the test drives two browsers.

use merpati_e2e::{Browser, HarnessError, Meeting, testid};

/// Types `query` into the search box (replacing what was there).
async fn search(browser: &Browser, query: &str) -> Result<(), HarnessError> {
    let input = browser.find("search-input").await?;
    input.clear().await?;
    input.send_keys(query).await?;
    Ok(())
}

/// Waits until the results are `count` and returns their texts.
async fn wait_results(browser: &Browser, count: usize) -> Result<Vec<String>, HarnessError> {
    browser
        .eventually(&format!("{count} search results"), || async {
            let found = browser.client().find_all(testid("search-result")).await?;
            if found.len() != count {
                return Ok(None);
            }
            let mut texts = Vec::new();
            for result in found {
                texts.push(result.text().await?);
            }
            Ok(Some(texts))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_by_word_beginnings_after_a_reload_and_opens_the_message()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Ngopi di Kafé Tugu jam tujuh?").await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["Ngopi di Kafé Tugu jam tujuh?"])
        .await?;
    bob.send("Boleh, KAFE yang baru ya").await?;
    alice
        .wait_messages(&["Ngopi di Kafé Tugu jam tujuh?", "Boleh, KAFE yang baru ya"])
        .await?;
    alice.create_group("Kantor", "bob").await?;
    alice.send("rapat besok pagi, bukan di kafe").await?;
    alice.wait_acknowledged(1).await?;

    // After a reload, from the store alone: nothing is typed or received since.
    alice.reload().await?;
    alice.find("chat-list-item").await?;
    search(&alice, "kafe").await?;
    let found = wait_results(&alice, 3).await?;
    assert!(
        found[0].contains("rapat besok pagi") && found[0].contains("Kantor"),
        "{found:?}"
    );
    assert!(found[1].contains("Boleh, KAFE yang baru ya") && found[1].contains("bob"));
    assert!(found[2].contains("Ngopi di Kafé Tugu") && found[2].contains("You"));
    let marks = alice
        .client()
        .find_all(fantoccini::Locator::Css("[data-testid=search-result] mark"))
        .await?;
    let mut marked = Vec::new();
    for mark in marks {
        marked.push(mark.text().await?);
    }
    assert_eq!(marked, ["kafe", "KAFE", "Kafé"]);

    // Two words: both must begin words of the message; a word's middle finds nothing.
    search(&alice, "ngo tug").await?;
    wait_results(&alice, 1).await?;
    search(&alice, "afe").await?;
    alice
        .eventually("no results and words saying so", || async {
            let none = alice
                .client()
                .find_all(testid("search-result"))
                .await?
                .is_empty();
            let hint = alice
                .client()
                .find_all(fantoccini::Locator::Css(".search-results + .empty-hint"))
                .await?;
            Ok((none && !hint.is_empty()).then_some(()))
        })
        .await?;

    // Choosing a result opens its chat at the message.
    search(&alice, "tugu").await?;
    wait_results(&alice, 1).await?;
    alice.find("search-result").await?.click().await?;
    alice
        .eventually("the chat with bob open at the message", || async {
            let title = alice.find("chat-title").await?.text().await?;
            let shown = alice
                .client()
                .find_all(fantoccini::Locator::XPath(&Browser::message_xpath(
                    "Ngopi di Kafé Tugu jam tujuh?",
                )))
                .await?;
            Ok((title.contains("bob") && !shown.is_empty()).then_some(()))
        })
        .await?;

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

/// Results stay true while they are on screen: a message deleted for everyone leaves them at
/// once, its text with it, and one that comes and matches joins them.
#[tokio::test(flavor = "multi_thread")]
async fn results_on_screen_follow_a_deletion_for_everyone_and_a_new_message()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("Kode pintu 4711").await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["Kode pintu 4711"]).await?;

    search(&bob, "kode").await?;
    let found = wait_results(&bob, 1).await?;
    assert!(found[0].contains("Kode pintu 4711"), "{found:?}");

    alice
        .choose_in_menu("Kode pintu 4711", "message-delete")
        .await?;
    wait_results(&bob, 0).await?;
    bob.eventually("the deleted text gone from bob's page", || async {
        Ok((!bob.client().source().await?.contains("pintu 4711")).then_some(()))
    })
    .await?;

    alice.send("kode yang baru besok").await?;
    let found = wait_results(&bob, 1).await?;
    assert!(found[0].contains("kode yang baru besok"), "{found:?}");

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

/// Signing out takes the search with the account: the next person to sign in in the same tab
/// (no reload between) finds an empty box, not the last one's results and their messages'
/// text.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_account_signed_in_in_the_tab_sees_none_of_the_last_ones_search()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("kode pintu 4821").await?;
    alice.wait_acknowledged(1).await?;
    search(&alice, "kode").await?;
    wait_results(&alice, 1).await?;

    alice.click("logout").await?;
    alice.type_into("auth-username", "budi").await?;
    alice
        .type_into("auth-passphrase", merpati_e2e::PASSPHRASE)
        .await?;
    alice.click("auth-register").await?;
    alice.find("new-chat").await?;
    let query = alice.find("search-input").await?.prop("value").await?;
    assert_eq!(query.as_deref(), Some(""), "the box is empty");
    let results = alice.client().find_all(testid("search-result")).await?;
    assert!(results.is_empty(), "none of alice's results show");
    Ok(())
}
