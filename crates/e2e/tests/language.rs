//! English and Bahasa Indonesia in real Chromium: a browser set to Indonesian gets the whole
//! app in Indonesian — `<html lang>`, the page's words and the engine worker's (system
//! lines, refusals, dates) — with not one of the English catalogue's texts, nor any word only
//! English has, left on any screen; a browser set to English, in the same group, reads the
//! same events in English; the emoji picker names its emoji in Indonesian and finds them by
//! their Indonesian names; and a language chosen in the settings replaces the browser's at
//! once and stays across a reload.
//!
//! The screens swept: sign-in and its refusal, the chat list with the offer of notifications,
//! the new-chat and new-group forms, a 1:1 chat with its safety number and the other person
//! online, someone typing, a message's menu with its reactions and forward list, a message's
//! receipts, the emoji picker, search results and no results, a group with its members and a
//! refusal, a photo and a file message with the photo open, a file uploading, a blocked chat
//! and a message refused for it, the connection lost with a message waiting, a security key
//! changed (with its day), the other person last seen, and the settings with the devices and
//! their dates.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use std::time::Duration;

use fantoccini::key::Key;
use merpati_e2e::attachments::{png_photo, pseudo_random_bytes, within_attachment, write_file};
use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, HarnessError, INDONESIAN, Meeting, PASSPHRASE, testid, workspace_root};
use merpati_words::english::MONTHS;
use merpati_words::{Catalogue, Count, Language, PluralForm, Text};
use serde_json::Value;

/// The server's pace for one account's uploads, in bytes per second: a 10 MB upload then
/// takes about five seconds, long enough to look at it under way.
const PACED: (&str, &str) = ("MERPATI_BLOB_UPLOAD_BYTES_PER_SEC", "2000000");

/// How long a photo may take to be downloaded, decrypted and checked before the viewer shows
/// it: slow by nature, so longer than a step.
const FILE_PATIENCE: Duration = Duration::from_secs(90);

/// Every text the page shows a person or a screen reader: text nodes, and the labels,
/// placeholders, titles and alternatives of elements.
const SHOWN_WORDS: &str = "
    const shown = [document.title];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const text = walker.currentNode.textContent.trim();
        if (text) shown.push(text);
    }
    for (const element of document.body.querySelectorAll('*')) {
        for (const name of ['aria-label', 'placeholder', 'title', 'alt']) {
            const value = (element.getAttribute(name) || '').trim();
            if (value) shown.push(value);
        }
    }
    return shown;";

/// What gives English away: each English text whose Indonesian differs, whole when it has
/// no placeholders, else each piece between them long enough to be words of its own.
fn english_tells() -> Result<Vec<String>, HarnessError> {
    let path = workspace_root().join("public/locales/id.txt");
    let indonesian = Catalogue::parse(Language::Indonesian, &std::fs::read_to_string(path)?)
        .map_err(|error| error.to_string())?;
    let mut tells = Vec::new();
    let mut add = |english: &str, translated: &str| {
        if english == translated {
            return;
        }
        if !english.contains('{') {
            tells.push(english.to_owned());
            return;
        }
        for piece in english.split(['{', '}']).step_by(2) {
            if piece.trim().chars().count() >= 6 {
                tells.push(piece.trim().to_owned());
            }
        }
    };
    for text in Text::ALL {
        add(text.english(), indonesian.text(*text));
    }
    for count in Count::ALL {
        for form in [PluralForm::One, PluralForm::Other] {
            add(count.english(form), indonesian.count(*count, 2));
        }
    }
    Ok(tells)
}

/// English words that are no Indonesian word: a text holding one was written in English,
/// even one that never went through the catalogue (a label hard-coded in a view).
const ENGLISH_ONLY_WORDS: [&str; 16] = [
    "the", "you", "your", "is", "are", "and", "with", "this", "that", "of", "to", "for", "not",
    "from", "has", "will",
];

/// Adds to `found` each English text shown on `browser`'s screen (`screen` names it): one of
/// the catalogue's English texts, or any text with a word only English has.
async fn english_left(
    browser: &Browser,
    tells: &[String],
    screen: &str,
    found: &mut Vec<String>,
) -> Result<(), HarnessError> {
    let shown = browser.client().execute(SHOWN_WORDS, vec![]).await?;
    for words in shown
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(why) = english_in(words, tells) {
            found.push(format!("{screen}: “{words}” ({why})"));
        }
    }
    Ok(())
}

/// Why `words` (one text shown) is English, if it is: it is one of the catalogue's English
/// texts, holds one of several words or a month's name, or holds a word only English has.
fn english_in(words: &str, tells: &[String]) -> Option<String> {
    let english = tells.iter().find(|tell| {
        words == tell.as_str()
            || ((tell.contains(' ') || is_month(tell)) && contains_words(words, tell))
    });
    if let Some(tell) = english {
        return Some(format!("English “{tell}”"));
    }
    words
        .split(|c: char| !c.is_alphabetic())
        .map(str::to_lowercase)
        .find(|word| ENGLISH_ONLY_WORDS.contains(&word.as_str()))
        .map(|word| format!("the English word “{word}”"))
}

/// Whether `tell` is the English name of a month, which a date holds as a word of its own
/// ("Signed in 6 Dec 2026").
fn is_month(tell: &str) -> bool {
    MONTHS.iter().any(|month| month.english() == tell)
}

/// Whether `words` holds `tell` as whole words ("an admin" is not in "Jadikan admin").
fn contains_words(words: &str, tell: &str) -> bool {
    words.match_indices(tell).any(|(at, _)| {
        let before = words[..at].chars().next_back();
        let after = words[at + tell.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

async fn html_lang(browser: &Browser) -> Result<String, HarnessError> {
    let lang = browser
        .client()
        .execute("return document.documentElement.lang", vec![])
        .await?;
    Ok(lang.as_str().unwrap_or_default().to_owned())
}

async fn text_of(browser: &Browser, id: &str) -> Result<String, HarnessError> {
    Ok(browser.find(id).await?.text().await?)
}

/// Presses Escape where the keyboard's focus is.
async fn press_escape(browser: &Browser) -> Result<(), HarnessError> {
    browser
        .client()
        .active_element()
        .await?
        .send_keys(&Key::Escape.to_string())
        .await?;
    Ok(())
}

/// Waits until the page shows no element with the testid `id`.
async fn wait_gone(browser: &Browser, id: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("{id} gone"), || async {
            Ok(browser
                .client()
                .find_all(testid(id))
                .await?
                .is_empty()
                .then_some(()))
        })
        .await
}

/// Waits until the message whose text is `text` has one of the statuses `statuses`.
async fn wait_status(browser: &Browser, text: &str, statuses: &[&str]) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("“{text}” {statuses:?}"), || async {
            let message = browser.message_with_text(text).await?;
            let shown = message.attr("data-status").await?.unwrap_or_default();
            Ok(statuses.contains(&shown.as_str()).then_some(()))
        })
        .await
}

/// Waits until the element with the testid `id` says something other than `before`.
async fn wait_text_other_than(
    browser: &Browser,
    id: &str,
    before: &str,
) -> Result<String, HarnessError> {
    browser
        .eventually(
            &format!("{id} to say something else than “{before}”"),
            || async {
                let now = text_of(browser, id).await?;
                Ok((now != before).then_some(now))
            },
        )
        .await
}

#[test]
fn a_date_with_an_english_month_is_english_and_one_with_the_indonesian_is_not()
-> Result<(), HarnessError> {
    let tells = english_tells()?;
    assert!(english_in("Masuk 6 Dec 2026", &tells).is_some());
    assert!(english_in("Kunci keamanan bima berubah pada 6 Des 2026.", &tells).is_none());
    assert!(english_in("Signed in 6 Des 2026", &tells).is_some());
    Ok(())
}

/// Replaces `username`'s account key in the server's database with another valid one (the
/// Ed25519 base point), as a server that swapped it, or an account made anew, would serve it.
fn replace_account_key(meeting: &Meeting, username: &str) -> Result<(), HarnessError> {
    let db = rusqlite::Connection::open(meeting.server.data_dir().join("merpati.db"))?;
    // The server writes too, in its own transactions: wait for them rather than fail.
    db.busy_timeout(Duration::from_secs(10))?;
    let mut base_point = [0x66u8; 32];
    base_point[0] = 0x58;
    let changed = db.execute(
        "UPDATE accounts SET public_key = ?1 WHERE username = ?2",
        rusqlite::params![&base_point[..], username],
    )?;
    if changed != 1 {
        return Err(format!("no account {username} to change the key of").into());
    }
    Ok(())
}

#[tokio::test]
async fn an_indonesian_browser_gets_every_screen_in_indonesian_and_a_chosen_language_stays()
-> Result<(), HarnessError> {
    let tells = english_tells()?;
    let meeting = Meeting::start_with_env(&[PACED]).await?;
    // ayu opens the app through a gate that can shut her socket out, to see her offline.
    let gate = NetworkGate::start(meeting.server.addr()).await?;
    let files = tempfile::tempdir()?;
    let mut found = Vec::new();

    // Signing in, and a refusal in words, before any account.
    let visitor = meeting.driver.browser_with(INDONESIAN).await?;
    visitor.open(&meeting.url).await?;
    assert_eq!(text_of(&visitor, "auth-login").await?, "Masuk");
    assert_eq!(html_lang(&visitor).await?, "id");
    english_left(&visitor, &tells, "sign-in", &mut found).await?;
    visitor.type_into("auth-username", "ab").await?;
    visitor
        .type_into("auth-passphrase", "frasa sandi yang panjang")
        .await?;
    visitor.click("auth-login").await?;
    assert_eq!(
        text_of(&visitor, "auth-error").await?,
        "Nama pengguna minimal 3 karakter"
    );
    visitor.close().await?;

    let ayu = meeting.driver.browser_with(INDONESIAN).await?;
    ayu.sign_up(&gate.http_url(), "ayu", PASSPHRASE).await?;
    let bima = meeting.sign_up_with("bima", INDONESIAN).await?;
    let citra = meeting.sign_up("citra").await?;
    english_left(&ayu, &tells, "chat list", &mut found).await?;

    // The new-chat panel, with each of its forms.
    ayu.click("new-chat").await?;
    ayu.find("new-chat-username").await?;
    english_left(&ayu, &tells, "new chat", &mut found).await?;
    ayu.click("new-group").await?;
    ayu.find("group-name").await?;
    english_left(&ayu, &tells, "new group", &mut found).await?;

    ayu.start_chat("bima").await?;
    ayu.send("Halo Bima, sudah sampai?").await?;
    bima.open_chat("ayu").await?;
    bima.type_into("composer-input", "Sudah, terima kasih!")
        .await?;
    ayu.find("typing-indicator").await?;
    english_left(&ayu, &tells, "someone typing", &mut found).await?;
    english_left(&bima, &tells, "a message being written", &mut found).await?;
    bima.click("composer-send").await?;
    ayu.wait_messages(&["Halo Bima, sudah sampai?", "Sudah, terima kasih!"])
        .await?;
    // The chat's details with the safety number (digits once both keys are known), bima
    // online, and the offer of notifications above the chats.
    ayu.eventually("the safety number", || async {
        let number = text_of(&ayu, "safety-number").await?;
        Ok(number
            .starts_with(|c: char| c.is_ascii_digit())
            .then_some(()))
    })
    .await?;
    let online = text_of(&ayu, "presence").await?;
    ayu.find("notifications-offer").await?;
    english_left(&ayu, &tells, "1:1 chat", &mut found).await?;

    // The emoji picker: its words, and the emoji's names, which its own file for Indonesian
    // holds.
    ayu.click("emoji-picker-button").await?;
    ayu.find("emoji-picker-option").await?;
    english_left(&ayu, &tells, "emoji picker", &mut found).await?;
    ayu.type_into("emoji-picker-search", "kopi").await?;
    ayu.eventually("the hot drink found by its Indonesian name", || async {
        let label = ayu
            .client()
            .execute(
                "const option = document.querySelector(
                    '[data-testid=emoji-picker-option][data-emoji=\"\\u2615\\ufe0f\"]');
                return option && option.getAttribute('aria-label');",
                vec![],
            )
            .await?;
        Ok((label.as_str() == Some("minuman hangat")).then_some(()))
    })
    .await?;
    english_left(&ayu, &tells, "emoji found", &mut found).await?;
    ayu.click("emoji-picker-button").await?;

    // Search: messages found, and none.
    ayu.type_into("search-input", "terima").await?;
    ayu.find("search-result").await?;
    english_left(&ayu, &tells, "search results", &mut found).await?;
    ayu.type_into("search-input", "zzzz").await?;
    wait_gone(&ayu, "search-result").await?;
    ayu.find_css(".search-results ~ .empty-hint").await?;
    english_left(&ayu, &tells, "nothing found", &mut found).await?;
    press_escape(&ayu).await?;
    ayu.find("chat-list-item").await?;

    // A line about the group is the engine worker's words, in each reader's language; a
    // refusal from the server is in words too.
    ayu.create_group("Keluarga", "bima").await?;
    ayu.send("Makan malam jam tujuh").await?;
    ayu.type_into("group-add-member-input", "citra").await?;
    ayu.click("group-add-member-submit").await?;
    ayu.wait_system_line("ayu menambahkan citra").await?;
    citra.open_chat("Keluarga").await?;
    citra.wait_system_line("ayu added citra").await?;
    ayu.type_into("group-add-member-input", "nobody").await?;
    ayu.click("group-add-member-submit").await?;
    ayu.eventually("the refusal in words", || async {
        let shown = text_of(&ayu, "request-error").await?;
        Ok((shown == "Tidak ada akun dengan nama pengguna itu").then_some(()))
    })
    .await?;
    ayu.find("chat-member").await?;
    english_left(&ayu, &tells, "group and its members", &mut found).await?;

    // A message's menu, the reactions it offers, the chats it forwards to, and the receipts.
    ayu.open_chat("bima").await?;
    let own = "Halo Bima, sudah sampai?";
    ayu.open_menu(own).await?;
    english_left(&ayu, &tells, "message menu", &mut found).await?;
    ayu.click("message-react").await?;
    ayu.find("message-react-more").await?;
    english_left(&ayu, &tells, "message menu: reactions", &mut found).await?;
    press_escape(&ayu).await?;
    wait_gone(&ayu, "message-actions").await?;
    ayu.open_menu(own).await?;
    ayu.click("message-forward").await?;
    ayu.find("forward-target").await?;
    english_left(&ayu, &tells, "message menu: forward", &mut found).await?;
    press_escape(&ayu).await?;
    wait_gone(&ayu, "message-actions").await?;
    wait_status(&ayu, own, &["sent", "delivered", "read"]).await?;
    ayu.click("message-info").await?;
    ayu.find("message-receipt").await?;
    english_left(&ayu, &tells, "message receipts", &mut found).await?;
    ayu.click("message-receipts-close").await?;

    // A photo and a file: bima sees both, and the photo at full size.
    ayu.attach(&write_file(
        files.path(),
        "pantai.png",
        &png_photo(320, 240, 7),
    )?)
    .await?;
    ayu.attach(&write_file(
        files.path(),
        "catatan.dat",
        &pseudo_random_bytes(200_000, 7),
    )?)
    .await?;
    bima.wait_photo_preview().await?;
    bima.find_css(&within_attachment("file", "attachment-name"))
        .await?;
    bima.open_photo(FILE_PATIENCE).await?;
    english_left(&bima, &tells, "photo and file, the photo open", &mut found).await?;
    bima.close_photo().await?;

    // A file on its way (the server takes it slowly), and cancelled.
    let before = ayu.message_count().await?;
    ayu.attach(&write_file(
        files.path(),
        "besar.dat",
        &pseudo_random_bytes(10_000_000, 7),
    )?)
    .await?;
    ayu.eventually("the upload under way", || async {
        ayu.attachment_progress().await
    })
    .await?;
    english_left(&ayu, &tells, "a file uploading", &mut found).await?;
    ayu.click("attachment-cancel").await?;
    ayu.eventually("the cancelled file gone", || async {
        Ok((ayu.message_count().await? == before).then_some(()))
    })
    .await?;

    // bima blocks ayu: his chat says so, and her next message is refused, in words.
    bima.click("block-user").await?;
    bima.find("chat-blocked").await?;
    english_left(&bima, &tells, "a blocked chat", &mut found).await?;
    ayu.send("Halo lagi").await?;
    wait_status(&ayu, "Halo lagi", &["failed"]).await?;
    english_left(&ayu, &tells, "a message refused", &mut found).await?;
    bima.click("chat-unblock").await?;
    bima.find("composer-input").await?;

    // ayu's connection is lost: her next message waits, and the indicator says so.
    gate.shut();
    ayu.wait_connection("offline").await?;
    ayu.send("Nanti saja").await?;
    wait_status(&ayu, "Nanti saja", &["pending"]).await?;
    // " — " joins the state and the messages waiting, whatever the language.
    ayu.eventually("the messages waiting counted", || async {
        Ok(text_of(&ayu, "connection-status")
            .await?
            .contains(" — ")
            .then_some(()))
    })
    .await?;
    english_left(&ayu, &tells, "offline, a message waiting", &mut found).await?;
    // Meanwhile bima's account key changes on the server: back online, ayu's app says so,
    // with the day, and holds what she wrote until she has read it.
    replace_account_key(&meeting, "bima")?;
    gate.open();
    ayu.wait_online_retrying().await?;
    ayu.find("key-changed").await?;
    english_left(&ayu, &tells, "a security key changed", &mut found).await?;
    ayu.click("key-changed-ok").await?;
    wait_gone(&ayu, "key-changed").await?;
    wait_status(&ayu, "Nanti saja", &["sent", "delivered", "read"]).await?;

    // bima leaves: ayu sees when he was last seen.
    bima.close().await?;
    wait_text_other_than(&ayu, "presence", &online).await?;
    english_left(&ayu, &tells, "last seen", &mut found).await?;

    ayu.click("settings").await?;
    ayu.find("devices").await?;
    english_left(&ayu, &tells, "settings and devices", &mut found).await?;
    assert!(
        found.is_empty(),
        "English on an Indonesian screen:\n{}",
        found.join("\n")
    );

    // English chosen in the settings: the app starts again in it, and stays in it.
    ayu.find("language-select")
        .await?
        .select_by_value("en")
        .await?;
    ayu.eventually("the app to speak English", || async {
        let english = html_lang(&ayu).await? == "en"
            && text_of(&ayu, "logout").await? == Text::SignOut.english();
        Ok(english.then_some(()))
    })
    .await?;
    ayu.reload().await?;
    ayu.eventually("English after a reload", || async {
        let english = html_lang(&ayu).await? == "en"
            && text_of(&ayu, "logout").await? == Text::SignOut.english();
        Ok(english.then_some(()))
    })
    .await?;

    for browser in [ayu, citra] {
        browser.close().await?;
    }
    Ok(())
}
