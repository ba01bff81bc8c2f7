//! English and Bahasa Indonesia in real Chromium: a browser set to Indonesian gets the whole
//! app in Indonesian — `<html lang>`, the page's words and the engine worker's (system
//! lines, refusals) — with not one of the English catalogue's texts, nor any word only
//! English has, left on any screen; a browser set to English, in the same group, reads the
//! same events in English; the emoji picker names its emoji in Indonesian and finds them by
//! their Indonesian names; and a language chosen in the settings replaces the browser's at
//! once and stays across a reload.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use merpati_e2e::{Browser, HarnessError, INDONESIAN, Meeting, workspace_root};
use merpati_words::{Catalogue, Count, Language, PluralForm, Text};
use serde_json::Value;

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
        let english = tells.iter().find(|tell| {
            words == tell.as_str() || (tell.contains(' ') && contains_words(words, tell))
        });
        if let Some(tell) = english {
            found.push(format!("{screen}: “{words}” (English “{tell}”)"));
            continue;
        }
        let english_word = words
            .split(|c: char| !c.is_alphabetic())
            .map(str::to_lowercase)
            .find(|word| ENGLISH_ONLY_WORDS.contains(&word.as_str()));
        if let Some(word) = english_word {
            found.push(format!("{screen}: “{words}” (the English word “{word}”)"));
        }
    }
    Ok(())
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

#[tokio::test]
async fn an_indonesian_browser_gets_every_screen_in_indonesian_and_a_chosen_language_stays()
-> Result<(), HarnessError> {
    let tells = english_tells()?;
    let meeting = Meeting::start().await?;
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

    let ayu = meeting.sign_up_with("ayu", INDONESIAN).await?;
    let bima = meeting.sign_up_with("bima", INDONESIAN).await?;
    let citra = meeting.sign_up("citra").await?;
    english_left(&ayu, &tells, "chat list", &mut found).await?;

    ayu.start_chat("bima").await?;
    ayu.send("Halo Bima, sudah sampai?").await?;
    bima.open_chat("ayu").await?;
    bima.send("Sudah, terima kasih!").await?;
    ayu.wait_messages(&["Halo Bima, sudah sampai?", "Sudah, terima kasih!"])
        .await?;
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
    english_left(&ayu, &tells, "group", &mut found).await?;

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

    for browser in [ayu, bima, citra] {
        browser.close().await?;
    }
    Ok(())
}
