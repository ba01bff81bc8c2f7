//! The skin tone: chosen beside the search field, it shows people and hands in it (in a group,
//! a search and what goes into the message) and leaves the rest as they are; the emoji chosen
//! lately keep the tone they were chosen in.

use leptos::prelude::*;
use merpati_words::SkinTone;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Element, HtmlElement};

use super::{
    attr, button, document, find, find_all, group, mounted, mounted_with, option, options,
    shipped_emoji, text, textarea, type_into,
};
use merpati_page::views::emoji_picker::EmojiLoad;

const WAVING_MEDIUM: &str = "👋\u{1F3FD}";
const THUMBS_UP_DARK: &str = "👍\u{1F3FF}";

fn tone_option(root: &Element, code: &str) -> HtmlElement {
    find_all(root, "emoji-picker-tone-option")
        .into_iter()
        .find(|option| attr(option, "data-tone") == code)
        .unwrap_or_else(|| panic!("no tone {code}"))
        .dyn_into()
        .expect("a button")
}

#[wasm_bindgen_test]
async fn the_tone_chosen_shows_people_and_hands_in_it_and_goes_into_the_message() {
    let page = mounted(EmojiLoad::Ready(shipped_emoji()));
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    let tone = button(root, "emoji-picker-tone");
    assert_eq!(attr(&tone, "aria-label"), "Skin tone");
    assert_eq!(attr(&tone, "aria-expanded"), "false");
    assert_eq!(text(&tone), "✋");
    assert!(find_all(root, "emoji-picker-tone-option").is_empty());
    group(root, "people").click();
    leptos::task::tick().await;
    assert!(
        options(root).contains(&"👋".to_owned()),
        "yellow by default"
    );

    // The six tones come out; the one in use is pressed.
    tone.click();
    leptos::task::tick().await;
    assert_eq!(attr(&tone, "aria-expanded"), "true");
    let codes: Vec<String> = find_all(root, "emoji-picker-tone-option")
        .iter()
        .map(|option| attr(option, "data-tone"))
        .collect();
    assert_eq!(
        codes,
        [
            "default",
            "light",
            "medium-light",
            "medium",
            "medium-dark",
            "dark"
        ]
    );
    assert_eq!(attr(&tone_option(root, "default"), "aria-pressed"), "true");
    assert_eq!(
        attr(&tone_option(root, "medium"), "aria-label"),
        "Medium skin tone"
    );

    // Choosing one keeps it, puts the tones away and gives their button the focus back.
    tone_option(root, "medium").click();
    leptos::task::tick().await;
    assert_eq!(page.tone.get_untracked(), SkinTone::Medium);
    assert!(find_all(root, "emoji-picker-tone-option").is_empty());
    assert_eq!(attr(&tone, "aria-expanded"), "false");
    assert_eq!(text(&tone), "✋\u{1F3FD}");
    assert_eq!(
        document().active_element().as_ref(),
        Some(tone.unchecked_ref::<Element>())
    );

    // People and hands in it, named as before; what takes no tone as it is.
    let shown = options(root);
    assert!(shown.contains(&WAVING_MEDIUM.to_owned()));
    assert!(!shown.contains(&"👋".to_owned()));
    assert_eq!(
        attr(&option(root, WAVING_MEDIUM), "aria-label"),
        "waving hand"
    );
    assert!(shown.contains(&"👣".to_owned()), "footprints take no tone");
    group(root, "smileys").click();
    leptos::task::tick().await;
    assert_eq!(options(root)[0], "😀");

    // A search finds them in it too, and the toned one goes into the message.
    type_into(
        &find(root, "emoji-picker-search")
            .dyn_into()
            .expect("an input"),
        "waving",
    );
    leptos::task::tick().await;
    assert_eq!(options(root)[0], WAVING_MEDIUM);
    option(root, WAVING_MEDIUM).click();
    leptos::task::tick().await;
    assert_eq!(textarea(root).value(), WAVING_MEDIUM);
    assert_eq!(page.chosen.get_untracked(), [WAVING_MEDIUM]);

    // Escape puts the tones away, not the picker.
    tone.click();
    leptos::task::tick().await;
    super::key(&tone_option(root, "dark"), "Escape");
    leptos::task::tick().await;
    assert!(find_all(root, "emoji-picker-tone-option").is_empty());
    assert!(
        !find_all(root, "emoji-picker").is_empty(),
        "the picker stays"
    );
    assert_eq!(
        document().active_element().as_ref(),
        Some(tone.unchecked_ref::<Element>())
    );
    assert_eq!(
        page.tone.get_untracked(),
        SkinTone::Medium,
        "nothing chosen"
    );

    // Back to the default.
    tone.click();
    leptos::task::tick().await;
    tone_option(root, "default").click();
    leptos::task::tick().await;
    assert_eq!(page.tone.get_untracked(), SkinTone::Default);
    assert_eq!(options(root)[0], "👋");
}

#[wasm_bindgen_test]
async fn the_emoji_chosen_lately_keep_their_tone_and_their_name() {
    let page = mounted_with(EmojiLoad::Ready(shipped_emoji()), &[THUMBS_UP_DARK, "👍"]);
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    // Whatever the tone now: each as it was chosen.
    page.tone.set(SkinTone::Light);
    leptos::task::tick().await;
    assert_eq!(options(root), [THUMBS_UP_DARK, "👍"]);
    assert_eq!(
        attr(&option(root, THUMBS_UP_DARK), "aria-label"),
        "thumbs up"
    );
}
