//! The composer: Enter and the send button send (the text keeps the focus), blank text and
//! Shift+Enter do not, a refused message stays with its reason.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::views::composer::Composer;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

use crate::dom::{container, find, text};

fn type_into(textarea: &HtmlTextAreaElement, value: &str) {
    textarea.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    textarea.dispatch_event(&event).expect("dispatched");
}

fn press_enter(target: &Element, shift: bool) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Enter");
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched")
}

/// Mounts a composer whose send callback records what it was given and answers `answer`.
fn mounted_composer(
    answer: Result<(), String>,
) -> (HtmlElement, Arc<Mutex<Vec<String>>>, impl Sized) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    let on_send = Callback::new(move |text: String| {
        record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
        answer.clone()
    });
    let root = container();
    let handle = mount_to(root.clone(), move || view! { <Composer on_send/> });
    (root, sent, handle)
}

fn sent_texts(sent: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn textarea(root: &Element) -> HtmlTextAreaElement {
    find(root, "composer-input").dyn_into().expect("a textarea")
}

#[wasm_bindgen_test]
async fn enter_sends_the_text_and_clears_the_composer() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "Halo, apa kabar?");
    leptos::task::tick().await;
    let not_cancelled = press_enter(&input, false);
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent), vec!["Halo, apa kabar?".to_owned()]);
    assert!(!not_cancelled, "Enter must not also insert a newline");
    assert_eq!(input.value(), "", "the composer clears after sending");
}

#[wasm_bindgen_test]
async fn the_send_button_sends_the_text_and_clears_the_composer() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "dari tombol");
    leptos::task::tick().await;
    // A tap or a click focuses the button before it sends.
    let button = find(&root, "composer-send").unchecked_into::<HtmlElement>();
    button.focus().expect("the send button takes the focus");
    button.click();
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent), vec!["dari tombol".to_owned()]);
    assert_eq!(input.value(), "");
    let focused = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.active_element());
    assert_eq!(
        focused.as_ref(),
        Some(input.unchecked_ref::<Element>()),
        "the text takes the focus back, for the next message"
    );
}

#[wasm_bindgen_test]
async fn an_empty_or_blank_message_is_not_sent() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    press_enter(&input, false);
    find(&root, "composer-send")
        .unchecked_into::<HtmlElement>()
        .click();
    type_into(&input, "   \n  ");
    leptos::task::tick().await;
    press_enter(&input, false);
    find(&root, "composer-send")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    assert!(
        sent_texts(&sent).is_empty(),
        "nothing to send, nothing sent"
    );
}

#[wasm_bindgen_test]
async fn shift_enter_does_not_send() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "baris satu");
    leptos::task::tick().await;
    let not_cancelled = press_enter(&input, true);
    leptos::task::tick().await;
    assert!(sent_texts(&sent).is_empty());
    assert!(
        not_cancelled,
        "Shift+Enter is left to the textarea (a new line)"
    );
    assert_eq!(input.value(), "baris satu");
}

#[wasm_bindgen_test]
async fn a_refused_message_stays_and_the_reason_shows() {
    let (root, sent, _handle) = mounted_composer(Err(
        "The message is too long (at most 16384 bytes)".to_owned(),
    ));
    let input = textarea(&root);
    type_into(&input, "terlalu panjang");
    leptos::task::tick().await;
    press_enter(&input, false);
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent).len(), 1);
    assert_eq!(
        input.value(),
        "terlalu panjang",
        "the text is kept to be shortened"
    );
    assert!(text(&find(&root, "composer-error")).contains("too long"));
}
