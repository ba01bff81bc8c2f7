//! The page as the message menu tests see it: elements found by testid, keys, mouse and
//! pointer events, typing, and waiting for the browser to paint.

use futures::channel::oneshot;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

pub(crate) fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a document")
}

pub(crate) fn container() -> HtmlElement {
    let element = document().create_element("div").expect("a div");
    document()
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}

pub(crate) fn find_in(root: &Element, testid: &str) -> Option<Element> {
    root.query_selector(&format!("[data-testid={testid}]"))
        .expect("a valid selector")
}

pub(crate) fn find(root: &Element, testid: &str) -> HtmlElement {
    find_in(root, testid)
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .unchecked_into()
}

pub(crate) fn find_all(root: &Element, testid: &str) -> Vec<HtmlElement> {
    let list = root
        .query_selector_all(&format!("[data-testid={testid}]"))
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

pub(crate) fn message(root: &Element, id: &str) -> HtmlElement {
    root.query_selector(&format!("[data-msg-id=\"{id}\"]"))
        .expect("a valid selector")
        .unwrap_or_else(|| panic!("no message {id}"))
        .unchecked_into()
}

pub(crate) fn text(element: &Element) -> String {
    element.text_content().unwrap_or_default()
}

/// The testid of the focused element, if it has one.
pub(crate) fn focused_testid() -> Option<String> {
    document().active_element()?.get_attribute("data-testid")
}

pub(crate) fn key(target: &Element, key: &str, shift: bool) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched")
}

/// Opens `message`'s menu with a right-click and chooses its item `testid`.
pub(crate) async fn choose(message: &Element, testid: &str) {
    mouse(message, "contextmenu");
    leptos::task::tick().await;
    find(message, testid).click();
    leptos::task::tick().await;
}

pub(crate) fn mouse(target: &Element, kind: &str) -> bool {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_button(2);
    let event =
        web_sys::MouseEvent::new_with_mouse_event_init_dict(kind, &init).expect("a mouse event");
    target.dispatch_event(&event).expect("dispatched")
}

pub(crate) fn pointer(target: &Element, kind: &str, pointer_type: &str) {
    let init = web_sys::PointerEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_pointer_type(pointer_type);
    let event =
        web_sys::PointerEvent::new_with_event_init_dict(kind, &init).expect("a pointer event");
    target.dispatch_event(&event).expect("dispatched");
}

pub(crate) fn type_into(textarea: &HtmlTextAreaElement, value: &str) {
    textarea.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    textarea.dispatch_event(&event).expect("dispatched");
}

pub(crate) fn composer(root: &Element) -> HtmlTextAreaElement {
    find(root, "composer-input").unchecked_into()
}

/// Waits for the browser to paint once.
pub(crate) async fn frame() {
    let (done, painted) = oneshot::channel();
    request_animation_frame(move || {
        let _ = done.send(());
    });
    let _ = painted.await;
}

/// Waits, frame by frame, until `ready` holds; fails after `limit_ms` of page time.
pub(crate) async fn until(what: &str, limit_ms: f64, ready: impl Fn() -> bool) {
    let started = js_sys::Date::now();
    while !ready() {
        assert!(
            js_sys::Date::now() - started < limit_ms,
            "waited {limit_ms} ms for {what}"
        );
        frame().await;
    }
}
