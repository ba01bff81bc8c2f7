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
//!
//! Taking the entry off is `history.back()`, which the browser carries out after the call
//! returns: until its `popstate` the entry on top is still the chat's. So while one of ours is
//! on its way nothing else is popped (a second would leave the app), and a chat opened
//! meanwhile gets its entry once it has landed.

use std::cell::Cell;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The state of the history entry an open chat added.
const CHAT_ENTRY: &str = "chat";

thread_local! {
    /// The way back of the chat view on screen, if one is.
    static OPEN_CHAT: Cell<Option<Callback<()>>> = const { Cell::new(None) };
    /// Whether a `history.back()` of ours has not landed yet.
    static POPPING: Cell<bool> = const { Cell::new(false) };
    /// Whether the page listens for `popstate` (once, for its life).
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

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
    listen();
    OPEN_CHAT.set(Some(back));
    if !POPPING.get() {
        add_entry();
    }
    on_cleanup(|| {
        OPEN_CHAT.set(None);
        if POPPING.get() {
            return;
        }
        if let Some(history) = history().filter(on_chat_entry) {
            POPPING.set(true);
            let _ = history.back();
        }
    });
}

fn add_entry() {
    if let Some(history) = history().filter(|history| !on_chat_entry(history)) {
        let _ = history.push_state(&JsValue::from_str(CHAT_ENTRY), "");
    }
}

/// Listens for `popstate`: our own Back landing, or the person's.
fn listen() {
    let Some(window) = web_sys::window().filter(|_| !LISTENING.replace(true)) else {
        return;
    };
    let popped = Closure::<dyn FnMut()>::new(|| {
        let open = OPEN_CHAT.get();
        if POPPING.replace(false) {
            if open.is_some() {
                add_entry();
            }
        } else if let Some(back) = open.filter(|_| history().is_some_and(|h| !on_chat_entry(&h))) {
            back.run(());
        }
    });
    let _ = window.add_event_listener_with_callback("popstate", popped.as_ref().unchecked_ref());
    popped.forget();
}
