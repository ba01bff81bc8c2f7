//! Where the keyboard's focus goes when the screen changes, so that a person on the keyboard
//! or a screen reader is taken to what just appeared instead of being left on `<body>` (or on
//! a button that went away):
//!
//! - the sign-in form: its username field;
//! - the main screen: the first chat, or "New chat" when there is none;
//! - a chat opened: its message box on a wide screen, its title on a phone (where the box
//!   would raise the on-screen keyboard over the messages), or the title where there is no
//!   box (a group one left);
//! - out of a group while in it (left, or taken out): its title, where the message box was;
//! - a chat closed with the back button or the browser's Back: that chat in the list;
//! - the settings opened: their first control; closed: the button that opened them;
//! - another browser signed out from the devices list: the list's heading, before the row goes;
//! - a member taken out of a group from its members list: the details' summary, which counts
//!   the members left;
//! - the photo viewer opened: its close button; closed: what had the focus before
//!   ([`into_dialog`], [`out_of_dialog`]).
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
    after_paint(Target::FirstOf(selectors));
}

/// After the next paint, focuses the element `selector` finds (built at run time: a chat's
/// own row, say).
pub fn move_to_element(selector: String) {
    after_paint(Target::Found(selector));
}

/// After the next paint, gives the focus back to `element` if it is still on the page.
pub fn return_to(element: web_sys::HtmlElement) {
    after_paint(Target::Element(element));
}

/// What to focus. One closure for every kind keeps one copy of the code that waits for the
/// paint in the page's module.
enum Target {
    FirstOf(&'static [&'static str]),
    Found(String),
    Element(web_sys::HtmlElement),
}

fn after_paint(target: Target) {
    after_next_paint(move || {
        let element = match target {
            Target::FirstOf(selectors) => selectors.iter().find_map(|selector| find(selector)),
            Target::Found(selector) => find(&selector),
            Target::Element(element) => Some(element).filter(|element| element.is_connected()),
        };
        if let Some(element) = element {
            // Focusing cannot fail in a way the person could act on.
            let _ = element.focus();
        }
    });
}

thread_local! {
    /// What had the focus when the dialog on screen opened.
    static BEFORE_DIALOG: std::cell::RefCell<Option<web_sys::HtmlElement>> =
        const { std::cell::RefCell::new(None) };
}

/// A dialog opens over the screen (the photo viewer): remembers what has the focus, and moves
/// it as [`move_to`] does.
pub fn into_dialog(selectors: &'static [&'static str]) {
    BEFORE_DIALOG.set(current());
    move_to(selectors);
}

/// The dialog closed: the focus goes back to what had it when the dialog opened.
pub fn out_of_dialog() {
    if let Some(element) = BEFORE_DIALOG.take() {
        return_to(element);
    }
}

/// The element that has the focus now, if any.
fn current() -> Option<web_sys::HtmlElement> {
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
