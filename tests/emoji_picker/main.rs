//! The emoji picker, mounted in Chromium with the shipped English emoji file and driven like a
//! person would: in the composer, open it, browse a group, search, choose an emoji into the
//! middle of a message, send; what it shows while the emoji load or when they cannot be
//! loaded. The skin tones are in [`tones`], reactions chosen from every emoji through a
//! message's menu in [`reactions`].

mod reactions;
mod tones;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::views::composer::{Composer, splice_utf16};
use merpati_page::views::emoji_picker::{EmojiLoad, EmojiSource};
use merpati_words::{EmojiSet, SkinTone};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "../support/dom.rs"]
mod dom;
use dom::{attr, container, document, find, find_all, text};

const COFFEE: &str = "\u{2615}\u{fe0f}";

fn shipped_emoji() -> Arc<EmojiSet> {
    Arc::new(EmojiSet::parse(include_str!("../../public/emoji/en.txt")).expect("en.txt reads"))
}

/// A composer under an emoji source whose emoji are `emoji`; the count is how often the
/// composer asked for them to load; the list is what was sent.
struct Mounted {
    root: HtmlElement,
    emoji: RwSignal<EmojiLoad>,
    asked: Arc<AtomicUsize>,
    chosen: RwSignal<Vec<String>>,
    tone: RwSignal<SkinTone>,
    sent: RwSignal<Vec<String>>,
    _handle: Box<dyn std::any::Any>,
}

/// An emoji source whose emoji are `emoji` and those chosen lately `recent`, counting how
/// often it is asked to load them, noting each emoji chosen in `chosen`, and keeping the skin
/// tone chosen in `tone` (as the engine would).
struct Source {
    source: EmojiSource,
    emoji: RwSignal<EmojiLoad>,
    asked: Arc<AtomicUsize>,
    chosen: RwSignal<Vec<String>>,
    tone: RwSignal<SkinTone>,
}

fn counting_source(emoji: EmojiLoad, recent: &[&str]) -> Source {
    let emoji = RwSignal::new(emoji);
    let asked = Arc::new(AtomicUsize::new(0));
    let chosen = RwSignal::new(Vec::<String>::new());
    let tone = RwSignal::new(SkinTone::Default);
    let count = asked.clone();
    let recent: Vec<String> = recent.iter().map(|emoji| (*emoji).to_owned()).collect();
    let source = EmojiSource {
        emoji: emoji.into(),
        load: Callback::new(move |()| {
            count.fetch_add(1, Ordering::SeqCst);
        }),
        recent: Signal::stored(recent),
        used: Callback::new(move |emoji| chosen.update(|chosen| chosen.push(emoji))),
        tone: tone.into(),
        set_tone: Callback::new(move |chosen| tone.set(chosen)),
    };
    Source {
        source,
        emoji,
        asked,
        chosen,
        tone,
    }
}

fn mounted(emoji: EmojiLoad) -> Mounted {
    mounted_with(emoji, &[])
}

fn mounted_with(emoji: EmojiLoad, recent: &[&str]) -> Mounted {
    let Source {
        source,
        emoji,
        asked,
        chosen,
        tone,
    } = counting_source(emoji, recent);
    let sent = RwSignal::new(Vec::<String>::new());
    let root = container();
    let handle = mount_to(root.clone(), move || {
        provide_context(source);
        let on_send = Callback::new(move |message: String| {
            sent.update(|sent| sent.push(message));
            Ok(())
        });
        view! { <Composer on_send/> }
    });
    Mounted {
        root,
        emoji,
        asked,
        chosen,
        tone,
        sent,
        _handle: Box::new(handle),
    }
}

fn button(root: &Element, testid: &str) -> HtmlElement {
    find(root, testid).dyn_into().expect("a button")
}

fn options(root: &Element) -> Vec<String> {
    find_all(root, "emoji-picker-option")
        .iter()
        .map(|option| attr(option, "data-emoji"))
        .collect()
}

fn option(root: &Element, emoji: &str) -> HtmlElement {
    find_all(root, "emoji-picker-option")
        .into_iter()
        .find(|option| attr(option, "data-emoji") == emoji)
        .unwrap_or_else(|| panic!("no option {emoji}"))
        .dyn_into()
        .expect("a button")
}

fn group(root: &Element, code: &str) -> HtmlElement {
    find_all(root, "emoji-picker-group")
        .into_iter()
        .find(|group| attr(group, "data-group") == code)
        .unwrap_or_else(|| panic!("no group {code}"))
        .dyn_into()
        .expect("a button")
}

fn type_into(input: &HtmlElement, value: &str) {
    if let Some(field) = input.dyn_ref::<HtmlInputElement>() {
        field.set_value(value);
    } else if let Some(field) = input.dyn_ref::<HtmlTextAreaElement>() {
        field.set_value(value);
    }
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    input.dispatch_event(&event).expect("dispatched");
}

fn key(target: &Element, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched");
}

fn textarea(root: &Element) -> HtmlTextAreaElement {
    find(root, "composer-input").dyn_into().expect("a textarea")
}

#[wasm_bindgen_test]
async fn a_chosen_emoji_goes_where_the_caret_is_and_is_sent_with_the_text() {
    let page = mounted(EmojiLoad::NotAsked);
    let root = &page.root;
    assert!(find_all(root, "emoji-picker").is_empty());
    assert_eq!(
        page.asked.load(Ordering::SeqCst),
        0,
        "nothing loads before the picker opens"
    );

    let toggle = button(root, "emoji-picker-button");
    assert_eq!(attr(&toggle, "aria-expanded"), "false");
    toggle.click();
    leptos::task::tick().await;
    assert_eq!(
        page.asked.load(Ordering::SeqCst),
        1,
        "opening asks for the emoji"
    );
    assert_eq!(attr(&toggle, "aria-expanded"), "true");
    assert_eq!(text(&find(root, "emoji-picker-status")), "Loading emoji…");
    let search: HtmlElement = find(root, "emoji-picker-search")
        .dyn_into()
        .expect("an input");
    assert_eq!(
        document().active_element().as_ref(),
        Some(search.unchecked_ref::<Element>()),
        "the search field takes the focus"
    );

    page.emoji.set(EmojiLoad::Ready(shipped_emoji()));
    leptos::task::tick().await;
    assert!(find_all(root, "emoji-picker-status").is_empty());
    // The first group is shown, and said to be.
    assert_eq!(options(root)[0], "😀");
    assert_eq!(attr(&group(root, "smileys"), "aria-pressed"), "true");
    assert_eq!(attr(&option(root, "😀"), "aria-label"), "grinning face");

    // Another group.
    group(root, "food").click();
    leptos::task::tick().await;
    assert_eq!(attr(&group(root, "food"), "aria-pressed"), "true");
    assert_eq!(attr(&group(root, "smileys"), "aria-pressed"), "false");
    assert!(options(root).contains(&COFFEE.to_owned()));
    assert!(!options(root).contains(&"😀".to_owned()));

    // A search across the groups; a name that begins with it comes first.
    type_into(&search, "hot bev");
    leptos::task::tick().await;
    assert_eq!(options(root), [COFFEE]);
    type_into(&search, "zzzqqq");
    leptos::task::tick().await;
    assert!(options(root).is_empty());
    assert_eq!(text(&find(root, "emoji-picker-status")), "No emoji found");
    type_into(&search, "coffee");
    leptos::task::tick().await;
    assert_eq!(options(root)[0], COFFEE);

    // Into the middle of what is written, in place of the selection.
    let field = textarea(root);
    type_into(field.unchecked_ref(), "I want  now");
    leptos::task::tick().await;
    field.set_selection_range(7, 7).expect("a caret");
    option(root, COFFEE).click();
    leptos::task::tick().await;
    assert_eq!(field.value(), format!("I want {COFFEE} now"));
    assert_eq!(
        page.chosen.get_untracked(),
        [COFFEE],
        "it goes among the recent ones"
    );
    // After it: the coffee is two UTF-16 units.
    assert_eq!(field.selection_start().ok().flatten(), Some(9));
    assert!(
        !find_all(root, "emoji-picker").is_empty(),
        "the picker stays open for more"
    );

    key(field.unchecked_ref(), "Enter");
    leptos::task::tick().await;
    assert_eq!(page.sent.get_untracked(), [format!("I want {COFFEE} now")]);
    assert!(
        find_all(root, "emoji-picker").is_empty(),
        "sending closes the picker"
    );
}

#[wasm_bindgen_test]
async fn the_picker_opens_on_the_emoji_chosen_lately_named_as_the_file_names_them() {
    let page = mounted_with(EmojiLoad::Ready(shipped_emoji()), &["🎉", COFFEE]);
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    assert_eq!(attr(&group(root, "recent"), "aria-pressed"), "true");
    assert_eq!(attr(&group(root, "recent"), "aria-label"), "Recently used");
    assert_eq!(options(root), ["🎉", COFFEE]);
    assert_eq!(attr(&option(root, "🎉"), "aria-label"), "party popper");
    group(root, "smileys").click();
    leptos::task::tick().await;
    assert_eq!(attr(&group(root, "recent"), "aria-pressed"), "false");
    assert_eq!(options(root)[0], "😀");

    // With none chosen yet, there is no such group and the first is shown.
    let fresh = mounted(EmojiLoad::Ready(shipped_emoji()));
    button(&fresh.root, "emoji-picker-button").click();
    leptos::task::tick().await;
    assert!(
        find_all(&fresh.root, "emoji-picker-group")
            .iter()
            .all(|group| attr(group, "data-group") != "recent")
    );
    assert_eq!(attr(&group(&fresh.root, "smileys"), "aria-pressed"), "true");
}

#[wasm_bindgen_test]
async fn escape_closes_the_picker_and_gives_the_button_the_focus_back() {
    let page = mounted(EmojiLoad::Ready(shipped_emoji()));
    let root = &page.root;
    let toggle = button(root, "emoji-picker-button");
    toggle.click();
    leptos::task::tick().await;
    key(&find(root, "emoji-picker-search"), "Escape");
    leptos::task::tick().await;
    assert!(find_all(root, "emoji-picker").is_empty());
    assert_eq!(attr(&toggle, "aria-expanded"), "false");
    assert_eq!(
        document().active_element().as_ref(),
        Some(toggle.unchecked_ref::<Element>())
    );
    // Opening asks the source each time; it knows whether it has them already.
    assert_eq!(page.asked.load(Ordering::SeqCst), 1);
}

/// The `data-emoji` of the focused element.
fn focused_emoji() -> Option<String> {
    document().active_element()?.get_attribute("data-emoji")
}

/// The emoji that Tab stops at (tabindex 0).
fn tab_stops(root: &Element) -> Vec<String> {
    find_all(root, "emoji-picker-option")
        .iter()
        .filter(|option| attr(option, "tabindex") == "0")
        .map(|option| attr(option, "data-emoji"))
        .collect()
}

#[wasm_bindgen_test]
async fn the_arrow_keys_move_among_the_emoji_which_are_one_stop_for_tab() {
    let page = mounted(EmojiLoad::Ready(shipped_emoji()));
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    let shown = options(root);
    assert_eq!(tab_stops(root), [shown[0].clone()]);

    // From the search field into the grid, then along a row and down a column.
    key(&find(root, "emoji-picker-search"), "ArrowDown");
    assert_eq!(focused_emoji().as_deref(), Some(shown[0].as_str()));
    let grid = find(root, "emoji-picker-option")
        .parent_element()
        .expect("the grid");
    key(&grid, "ArrowRight");
    assert_eq!(focused_emoji().as_deref(), Some(shown[1].as_str()));
    assert_eq!(
        tab_stops(root),
        [shown[1].clone()],
        "Tab comes back to the last one focused"
    );
    key(&grid, "ArrowLeft");
    key(&grid, "ArrowLeft");
    assert_eq!(
        focused_emoji().as_deref(),
        Some(shown[0].as_str()),
        "nothing before the first"
    );
    // A row holds as many as are level with the first (the picker is 22rem wide).
    let tops: Vec<i32> = find_all(root, "emoji-picker-option")
        .iter()
        .map(|option| option.unchecked_ref::<HtmlElement>().offset_top())
        .collect();
    let columns = tops.iter().take_while(|top| **top == tops[0]).count();
    assert!(columns > 1 && columns < shown.len(), "{columns} a row");
    key(&grid, "ArrowDown");
    assert_eq!(focused_emoji().as_deref(), Some(shown[columns].as_str()));
    key(&grid, "ArrowUp");
    assert_eq!(focused_emoji().as_deref(), Some(shown[0].as_str()));
    key(&grid, "End");
    assert_eq!(focused_emoji().as_deref(), shown.last().map(String::as_str));
    key(&grid, "ArrowDown");
    assert_eq!(
        focused_emoji().as_deref(),
        shown.last().map(String::as_str),
        "nothing after the last"
    );
    key(&grid, "Home");
    assert_eq!(focused_emoji().as_deref(), Some(shown[0].as_str()));
}

fn press(target: &Element) {
    let init = web_sys::PointerEventInit::new();
    init.set_bubbles(true);
    let event = web_sys::PointerEvent::new_with_event_init_dict("pointerdown", &init)
        .expect("a pointer event");
    target.dispatch_event(&event).expect("dispatched");
}

#[wasm_bindgen_test]
async fn a_press_outside_the_composer_closes_the_picker_and_one_in_its_text_does_not() {
    let page = mounted(EmojiLoad::Ready(shipped_emoji()));
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    press(textarea(root).unchecked_ref());
    leptos::task::tick().await;
    assert!(
        !find_all(root, "emoji-picker").is_empty(),
        "the text is the picker's company"
    );
    press(&document().body().expect("a body"));
    leptos::task::tick().await;
    assert!(find_all(root, "emoji-picker").is_empty());
}

#[wasm_bindgen_test]
async fn emoji_that_could_not_be_loaded_say_so_and_can_be_asked_for_again() {
    let page = mounted(EmojiLoad::Failed);
    let root = &page.root;
    button(root, "emoji-picker-button").click();
    leptos::task::tick().await;
    let status = find(root, "emoji-picker-status");
    assert_eq!(attr(&status, "role"), "alert");
    assert!(text(&status).contains("The emoji could not be loaded"));
    assert_eq!(page.asked.load(Ordering::SeqCst), 1);
    let retry: HtmlElement = status
        .query_selector("button")
        .expect("a selector")
        .expect("a retry button")
        .dyn_into()
        .expect("a button");
    retry.click();
    leptos::task::tick().await;
    assert_eq!(page.asked.load(Ordering::SeqCst), 2);
}

#[wasm_bindgen_test]
async fn without_an_emoji_source_the_composer_offers_no_picker() {
    let root = container();
    let _handle = mount_to(root.clone(), || {
        view! { <Composer on_send=Callback::new(|_: String| Ok(()))/> }
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "emoji-picker-button").is_empty());
}

#[wasm_bindgen_test]
fn a_splice_counts_the_selection_in_utf16_units() {
    // In place of a selection.
    assert_eq!(
        splice_utf16("abcd", Some(1), Some(3), "😀"),
        ("a😀d".to_owned(), 3)
    );
    // After an emoji (two units) and an accented letter (one).
    assert_eq!(
        splice_utf16("😀é", Some(3), Some(3), "x"),
        ("😀éx".to_owned(), 4)
    );
    assert_eq!(
        splice_utf16("😀é", Some(2), Some(2), "x"),
        ("😀xé".to_owned(), 3)
    );
    // No caret, or one past the end: at the end.
    assert_eq!(splice_utf16("ab", None, None, "!"), ("ab!".to_owned(), 3));
    assert_eq!(
        splice_utf16("ab", Some(9), Some(9), "!"),
        ("ab!".to_owned(), 3)
    );
    // A backwards range takes nothing away.
    assert_eq!(
        splice_utf16("abc", Some(2), Some(1), "-"),
        ("ab-c".to_owned(), 3)
    );
}
