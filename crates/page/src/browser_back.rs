//! The browser's Back — a phone's back gesture or button, or the browser's own — takes an open
//! chat back to the chat list, as the chat's back button (`chat-back`) does, instead of
//! leaving the app.
//!
//! While a chat's view is on screen the tab's history has one entry of its own on top, marked
//! as a chat's: added when the view opens (unless it is already there: after Forward, or a
//! reload while a chat was open), taken off when the view closes any other way (the back
//! button, a group left, signing out). Back pops it, and the view closes. So one Back is
//! always enough, and switching chats adds nothing. The address stays `/`: a reload opens the
//! chat list, as it always has.

use leptos::prelude::*;
use wasm_bindgen::JsValue;

/// The state of the history entry an open chat added.
const CHAT_ENTRY: &str = "chat";

fn history() -> Option<web_sys::History> {
    web_sys::window()?.history().ok()
}

/// Whether the entry on top is the one an open chat added.
fn on_chat_entry(history: &web_sys::History) -> bool {
    history.state().ok().and_then(|state| state.as_string()) == Some(CHAT_ENTRY.to_owned())
}

/// For the life of the reactive owner it is called in (the open chat's view): gives the chat
/// its history entry, and calls `back` when Back pops it. Failures of the history API leave
/// Back as it was, out of the app: nothing the person could act on.
pub fn while_chat_open(back: Callback<()>) {
    if let Some(history) = history().filter(|history| !on_chat_entry(history)) {
        let _ = history.push_state(&JsValue::from_str(CHAT_ENTRY), "");
    }
    let popped = window_event_listener_untyped("popstate", move |_| {
        if history().is_some_and(|history| !on_chat_entry(&history)) {
            back.run(());
        }
    });
    on_cleanup(move || {
        popped.remove();
        if let Some(history) = history().filter(on_chat_entry) {
            let _ = history.back();
        }
    });
}
