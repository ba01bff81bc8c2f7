//! How the message menu opens (right-click, the keyboard, its "⋯" button, a long press), what
//! it offers on own and others' messages, and how it closes.

use leptos::prelude::Update;
use merpati_bridge::LinkSpan;
use merpati_page::views::message::LONG_PRESS_MS;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Element;

use crate::fixture::{OTHER_ID, OWN_ID, menu_open, mounted_chat};
use crate::page::{
    composer, document, find, find_all, find_in, focused_testid, key, message, mouse, pointer,
    until,
};

#[wasm_bindgen_test]
async fn a_right_click_opens_the_menu_with_every_item_on_an_own_message() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    assert!(!menu_open(&chat.root), "closed until asked for");
    let not_cancelled = mouse(&own, "contextmenu");
    leptos::task::tick().await;
    assert!(!not_cancelled, "the browser's own menu does not show");
    let menu = find(&own, "message-actions");
    assert_eq!(menu.get_attribute("role").as_deref(), Some("menu"));
    // In this order; the two that open a choice of their own say so, the two that delete look
    // it.
    let items = menu
        .query_selector_all("[role=menuitem]")
        .expect("a valid selector");
    let items: Vec<(String, Option<String>, bool)> = (0..items.length())
        .filter_map(|index| items.item(index)?.dyn_into::<Element>().ok())
        .map(|item| {
            (
                item.get_attribute("data-testid").unwrap_or_default(),
                item.get_attribute("aria-haspopup"),
                item.class_list().contains("danger"),
            )
        })
        .collect();
    let menu_opener = || Some("menu".to_owned());
    assert_eq!(
        items,
        [
            ("message-reply".to_owned(), None, false),
            ("message-edit".to_owned(), None, false),
            ("message-copy".to_owned(), None, false),
            ("message-react".to_owned(), menu_opener(), false),
            ("message-forward".to_owned(), menu_opener(), false),
            ("message-delete".to_owned(), None, true),
            ("message-delete-mine".to_owned(), None, true),
        ]
    );
    assert_eq!(focused_testid().as_deref(), Some("message-reply"));
    key(&menu, "ArrowDown", false);
    assert_eq!(focused_testid().as_deref(), Some("message-edit"));
}

#[wasm_bindgen_test]
async fn an_other_persons_message_cannot_be_edited_or_deleted_for_everyone() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    mouse(&other, "contextmenu");
    leptos::task::tick().await;
    let menu = find(&other, "message-actions");
    for offered in [
        "message-reply",
        "message-copy",
        "message-react",
        "message-forward",
        "message-delete-mine",
    ] {
        find(&menu, offered);
    }
    assert!(find_in(&menu, "message-edit").is_none());
    assert!(find_in(&menu, "message-delete").is_none());
}

#[wasm_bindgen_test]
async fn escape_and_a_press_outside_close_the_menu_and_the_message_takes_the_focus_back() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    key(&find(&own, "message-actions"), "Escape", false);
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));
    assert_eq!(focused_testid().as_deref(), Some("message"));
    assert_eq!(
        document()
            .active_element()
            .and_then(|element| element.get_attribute("data-msg-id"))
            .as_deref(),
        Some(OWN_ID)
    );

    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    assert!(menu_open(&chat.root));
    pointer(&composer(&chat.root), "pointerdown", "mouse");
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root), "a press outside closes it");
}

#[wasm_bindgen_test]
async fn the_keyboard_and_the_menu_button_open_the_menu() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    other.focus().expect("focusable");
    assert_eq!(other.get_attribute("tabindex").as_deref(), Some("0"));
    key(&other, "ContextMenu", false);
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "the ContextMenu key opens it");
    assert_eq!(focused_testid().as_deref(), Some("message-reply"));
    key(&find(&other, "message-actions"), "Escape", false);
    leptos::task::tick().await;

    key(&other, "F10", false);
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root), "F10 alone is not the menu key");
    key(&other, "F10", true);
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "Shift+F10 opens it");
    key(&find(&other, "message-actions"), "Escape", false);
    leptos::task::tick().await;

    let button = find(&other, "message-menu");
    assert_eq!(
        button.get_attribute("aria-expanded").as_deref(),
        Some("false")
    );
    button.click();
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "the ⋯ button opens it");
    assert_eq!(
        button.get_attribute("aria-expanded").as_deref(),
        Some("true")
    );
}

#[wasm_bindgen_test]
async fn a_long_touch_opens_the_menu() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    let pressed_at = js_sys::Date::now();
    pointer(&other, "pointerdown", "touch");
    until("the menu after a long press", 5_000.0, || {
        menu_open(&chat.root)
    })
    .await;
    assert!(
        js_sys::Date::now() - pressed_at >= LONG_PRESS_MS as f64,
        "not before the press is long"
    );
    pointer(&other, "pointerup", "touch");
}

#[wasm_bindgen_test]
async fn a_right_click_on_a_link_gives_the_browsers_menu_not_the_messages() {
    let chat = mounted_chat(Ok(()));
    let said = "lihat https://example.com ya";
    chat.rows.update(|rows| {
        rows[1].text = said.to_owned();
        rows[1].links = vec![LinkSpan {
            start: 6,
            end: 25,
            href: "https://example.com".to_owned(),
        }];
    });
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    let link = find(&other, "message-link");
    assert!(
        mouse(&link, "contextmenu"),
        "the browser's own menu shows, to copy the address"
    );
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));
    // Elsewhere on the message, the message's menu.
    mouse(&find(&other, "message-text"), "contextmenu");
    leptos::task::tick().await;
    assert!(menu_open(&chat.root));
}

/// A choice made from the keyboard that stays with the message (a reaction, a deletion) gives
/// the focus back to it, as Escape does: the next Tab goes on from there, not from the top of
/// the page.
#[wasm_bindgen_test]
async fn a_reaction_chosen_from_the_keyboard_gives_the_focus_back_to_the_message() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    other.focus().expect("focusable");
    key(&other, "ContextMenu", false);
    leptos::task::tick().await;
    assert!(menu_open(&chat.root));
    find(&other, "message-react").click();
    leptos::task::tick().await;
    find_all(&other, "emoji-option")[0].click();
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));
    assert_eq!(
        document()
            .active_element()
            .and_then(|element| element.get_attribute("data-msg-id"))
            .as_deref(),
        Some(OTHER_ID)
    );
}
