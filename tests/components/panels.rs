//! Escape closes a panel from anywhere in it, as its close button does: the settings, the
//! form of a new chat, a message's details.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{MessageReceipts, Privacy};
use merpati_page::theme::Theme;
use merpati_page::views::new_chat::{NewChat, NewChatMode};
use merpati_page::views::receipts::MessageReceiptsPanel;
use merpati_page::views::settings::SettingsPanel;
use merpati_words::Language;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Element;

use crate::dom::container;

fn press_escape(target: &Element) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    init.set_bubbles(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched");
}

/// A close callback, and how often it was called.
fn closer() -> (Callback<()>, Arc<Mutex<u32>>) {
    let closed = Arc::new(Mutex::new(0));
    let count = closed.clone();
    let on_close = Callback::new(move |()| {
        *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    });
    (on_close, closed)
}

fn times(closed: &Arc<Mutex<u32>>) -> u32 {
    *closed.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Presses Escape on the first element `inside` picks in `root`; whether that closed it once.
async fn escape_closes(root: &Element, inside: &str, closed: &Arc<Mutex<u32>>) -> bool {
    leptos::task::tick().await;
    let target = root
        .query_selector(inside)
        .expect("a valid selector")
        .unwrap_or_else(|| panic!("no {inside}"));
    press_escape(&target);
    leptos::task::tick().await;
    times(closed) == 1
}

#[wasm_bindgen_test]
async fn escape_closes_the_settings() {
    let (on_close, closed) = closer();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <SettingsPanel
                theme=Theme::System
                on_theme=Callback::new(|_| {})
                language=Language::English
                on_language=Callback::new(|_| {})
                privacy=Signal::stored(Privacy::default())
                on_change=Callback::new(|_| {})
                on_close
            />
        }
    });
    assert!(escape_closes(&root, "[data-testid=theme-select]", &closed).await);
}

#[wasm_bindgen_test]
async fn escape_closes_a_new_chats_form() {
    let (on_close, closed) = closer();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <NewChat
                mode=Signal::stored(NewChatMode::Direct)
                on_direct=Callback::new(|_| {})
                on_group=Callback::new(|_| {})
                on_mode=Callback::new(|_| {})
                on_close
            />
        }
    });
    assert!(escape_closes(&root, "input", &closed).await);
}

#[wasm_bindgen_test]
async fn escape_closes_a_messages_details() {
    let (on_close, closed) = closer();
    let receipts = MessageReceipts {
        id: "00".repeat(16),
        members: Vec::new(),
    };
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageReceiptsPanel receipts=Signal::stored(Some(receipts.clone())) on_close/> }
    });
    assert!(escape_closes(&root, "[data-testid=message-receipts-close]", &closed).await);
}
