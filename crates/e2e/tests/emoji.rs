//! The composer's emoji picker in real Chromium on the release build: the emoji file is
//! fetched the first time the picker opens and not before (neither by the page nor by the
//! service worker's install), then kept by the service worker; an emoji found by name goes
//! into the message where the caret is, and the other person reads it; any emoji found there
//! can be a reaction, through a message's menu; a skin tone chosen shows people and hands in it
//! and goes with what is sent; and the picker opens on the emoji chosen lately, in the tone
//! chosen, after a reload too.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use merpati_e2e::{Browser, HarnessError, Meeting};

const COFFEE: &str = "\u{2615}\u{fe0f}";
const WAVING_MEDIUM: &str = "👋\u{1F3FD}";

/// The addresses of the emoji files this page fetched, as the page's resource timing has them.
async fn emoji_fetched(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let names = browser
        .client()
        .execute(
            "return performance.getEntriesByType('resource')
                .map((entry) => entry.name)
                .filter((name) => new URL(name).pathname.startsWith('/emoji/'));",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(names)?)
}

/// The addresses of the emoji files in the origin's caches, once the service worker is
/// active (its install, which caches the app, is done by then).
async fn emoji_cached(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let urls = browser
        .client()
        .execute_async(
            "const done = arguments[0];
            navigator.serviceWorker.ready.then(async () => {
                const found = [];
                for (const name of await caches.keys()) {
                    const cache = await caches.open(name);
                    for (const request of await cache.keys()) {
                        if (new URL(request.url).pathname.startsWith('/emoji/')) found.push(request.url);
                    }
                }
                done(found);
            });",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(urls)?)
}

/// The emoji the picker shows now.
async fn options(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let shown = browser
        .client()
        .execute(
            "return [...document.querySelectorAll('[data-testid=emoji-picker-option]')]
                .map((option) => option.dataset.emoji);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(shown)?)
}

#[tokio::test]
async fn an_emoji_found_by_name_is_sent_or_reacted_with_and_its_file_loads_only_when_the_picker_opens()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;
    alice.start_chat("bob").await?;

    assert!(emoji_fetched(&alice).await?.is_empty());
    assert!(
        emoji_cached(&alice).await?.is_empty(),
        "the service worker's install does not fetch the emoji ahead"
    );

    alice.click("emoji-picker-button").await?;
    alice
        .eventually("the first group's emoji", || async {
            Ok(options(&alice)
                .await?
                .first()
                .filter(|first| *first == "😀")
                .map(|_| ()))
        })
        .await?;
    let fetched = emoji_fetched(&alice).await?;
    assert!(
        fetched.iter().any(|url| url.ends_with("/emoji/en.txt")),
        "{fetched:?}"
    );

    alice.type_into("composer-input", "Coffee? ").await?;
    alice.type_into("emoji-picker-search", "coffee").await?;
    alice
        .eventually("the coffee found", || async {
            Ok(options(&alice)
                .await?
                .first()
                .filter(|first| *first == COFFEE)
                .map(|_| ()))
        })
        .await?;
    alice
        .click_css(&format!(
            "[data-testid=\"emoji-picker-option\"][data-emoji=\"{COFFEE}\"]"
        ))
        .await?;
    alice.click("composer-send").await?;

    let sent = format!("Coffee? {COFFEE}");
    alice.wait_messages(&[sent.as_str()]).await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&[sent.as_str()]).await?;

    // A reaction from every emoji: bob finds one through the message's menu, alice sees it.
    bob.choose_in_menu(&sent, "message-react").await?;
    bob.click("message-react-more").await?;
    bob.type_into("emoji-picker-search", "party popper").await?;
    bob.click_css("[data-testid=\"emoji-picker-option\"][data-emoji=\"🎉\"]")
        .await?;
    let party = "*[@data-testid='reaction'][@data-emoji='🎉']";
    for browser in [&alice, &bob] {
        browser
            .eventually("the 🎉 reaction", || async {
                Ok(browser.message_has(&sent, party).await?.then_some(()))
            })
            .await?;
    }

    // A skin tone, chosen once: the waving hand found in it goes to bob as chosen.
    alice.click("emoji-picker-button").await?;
    alice.click("emoji-picker-tone").await?;
    alice
        .click_css("[data-testid=\"emoji-picker-tone-option\"][data-tone=\"medium\"]")
        .await?;
    alice
        .type_into("emoji-picker-search", "waving hand")
        .await?;
    alice
        .eventually("the waving hand in the tone chosen", || async {
            Ok(options(&alice)
                .await?
                .first()
                .filter(|first| *first == WAVING_MEDIUM)
                .map(|_| ()))
        })
        .await?;
    alice
        .click_css(&format!(
            "[data-testid=\"emoji-picker-option\"][data-emoji=\"{WAVING_MEDIUM}\"]"
        ))
        .await?;
    alice.click("composer-send").await?;
    bob.wait_messages(&[sent.as_str(), WAVING_MEDIUM]).await?;

    // The emoji chosen lately come first the next time, as chosen, and the tone stays: after
    // a reload too (sealed in the store, never sent).
    alice.reload().await?;
    alice.open_chat("bob").await?;
    alice.click("emoji-picker-button").await?;
    alice
        .eventually("the emoji chosen lately first", || async {
            Ok((options(&alice).await? == [WAVING_MEDIUM, COFFEE]).then_some(()))
        })
        .await?;
    let tone = alice.find("emoji-picker-tone").await?.text().await?;
    assert_eq!(tone, "✋\u{1F3FD}", "the tone chosen, kept");
    alice
        .click_css("[data-testid=\"emoji-picker-group\"][data-group=\"people\"]")
        .await?;
    alice
        .eventually("the people group in the tone chosen", || async {
            let shown = options(&alice).await?;
            Ok(
                (shown.contains(&WAVING_MEDIUM.to_owned()) && !shown.contains(&"👋".to_owned()))
                    .then_some(()),
            )
        })
        .await?;
    alice.click("emoji-picker-button").await?;

    // Kept for the next time, offline too.
    alice
        .eventually("the emoji kept by the service worker", || async {
            let cached = emoji_cached(&alice).await?;
            Ok(cached
                .iter()
                .any(|url| url.ends_with("/emoji/en.txt"))
                .then_some(()))
        })
        .await?;

    for browser in [alice, bob] {
        browser.close().await?;
    }
    Ok(())
}
