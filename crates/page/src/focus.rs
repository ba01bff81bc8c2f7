//! Where the keyboard's focus goes when the screen changes, so that a person on the keyboard
//! or a screen reader is taken to what just appeared instead of being left on `<body>` (or on
//! a button that went away):
//!
//! - the sign-in form: its username field;
//! - the main screen: the first chat, or "New chat" when there is none;
//! - a chat opened: its message box on a wide screen, its title on a phone (where the box
//!   would raise the on-screen keyboard over the messages), or the title where there is no
//!   box (a group one left);
//! - a chat closed with the back button: that chat in the list;
//! - the settings opened: their first control; closed: the button that opened them;
//! - the photo viewer opened: its close button; closed: what had the focus before.
//!
//! The focus moves once the view is drawn (after the next paint), to the first element that
//! one of the selectors given finds.

use wasm_bindgen::JsCast;

use crate::engine_link::after_next_paint;

/// The widest screen laid out as a phone (the stylesheet's breakpoint).
const PHONE_MAX_WIDTH_PX: f64 = 720.0;

/// After the next paint, focuses the first element the first of `selectors` that finds one
/// finds.
pub fn move_to(selectors: &'static [&'static str]) {
    after_next_paint(move || {
        if let Some(element) = selectors.iter().find_map(|selector| find(selector)) {
            // Focusing cannot fail in a way the person could act on.
            let _ = element.focus();
        }
    });
}

/// After the next paint, focuses the element `selector` finds (built at run time: a chat's
/// own row, say).
pub fn move_to_element(selector: String) {
    after_next_paint(move || {
        if let Some(element) = find(&selector) {
            let _ = element.focus();
        }
    });
}

/// After the next paint, gives the focus back to `element` if it is still on the page.
pub fn return_to(element: web_sys::HtmlElement) {
    after_next_paint(move || {
        if element.is_connected() {
            let _ = element.focus();
        }
    });
}

/// The element that has the focus now, if any.
pub fn current() -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .active_element()?
        .dyn_into::<web_sys::HtmlElement>()
        .ok()
}

/// Whether the screen is laid out as a phone's.
pub fn on_a_phone() -> bool {
    web_sys::window()
        .and_then(|window| window.inner_width().ok())
        .and_then(|width| width.as_f64())
        .is_some_and(|width| width <= PHONE_MAX_WIDTH_PX)
}

fn find(selector: &str) -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .query_selector(selector)
        .ok()??
        .dyn_into::<web_sys::HtmlElement>()
        .ok()
}
