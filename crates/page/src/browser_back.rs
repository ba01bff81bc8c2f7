//! The browser's Back — a phone's back gesture or button, or the browser's own — closes what
//! is open over the chat list, innermost first: a photo open in the viewer, then the chat, as
//! the viewer's close button and the chat's back button (`chat-back`) do, instead of leaving
//! the app.
//!
//! While one of these [`Layer`]s is on screen the tab's history has an entry of its own for
//! it on top, marked with the layer's name: added when it opens (unless it is already there:
//! after Forward, or a reload while a chat was open), taken off when it closes any other way
//! (a close or back button, a group left, signing out). Back pops the innermost, and that
//! layer closes. So one Back always closes one thing, and switching chats adds nothing. The
//! address stays `/`: a reload opens the chat list, as it always has.
//!
//! Taking an entry off is `history.back()`, which the browser carries out after the call
//! returns: until its `popstate` the entry on top is still the layer's. So while one of ours
//! is on its way nothing else is popped (a second would leave the app), and a layer opened
//! meanwhile gets its entry once it has landed.

use std::cell::Cell;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// What Back closes, outermost first: each one opens only over the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// A chat's view, over the chat list (on a phone, instead of it).
    Chat,
    /// A photo at full size, over the chat.
    Photo,
}

/// Every layer, outermost first.
const LAYERS: [Layer; 2] = [Layer::Chat, Layer::Photo];

impl Layer {
    /// The state of the history entry the layer adds.
    fn state(self) -> &'static str {
        match self {
            Layer::Chat => "chat",
            Layer::Photo => "photo",
        }
    }

    /// What closes the layer, while it is on screen.
    fn closer(self) -> &'static std::thread::LocalKey<Cell<Option<Callback<()>>>> {
        match self {
            Layer::Chat => &OPEN_CHAT,
            Layer::Photo => &OPEN_PHOTO,
        }
    }
}

thread_local! {
    /// What closes the chat view on screen, if one is.
    static OPEN_CHAT: Cell<Option<Callback<()>>> = const { Cell::new(None) };
    /// What closes the photo open over it, if one is.
    static OPEN_PHOTO: Cell<Option<Callback<()>>> = const { Cell::new(None) };
    /// Whether a `history.back()` of ours has not landed yet.
    static POPPING: Cell<bool> = const { Cell::new(false) };
    /// Whether the page listens for `popstate` (once, for its life).
    static LISTENING: Cell<bool> = const { Cell::new(false) };
}

fn history() -> Option<web_sys::History> {
    web_sys::window()?.history().ok()
}

/// The layer whose entry is on top of the history, if one of ours is.
fn on_top(history: &web_sys::History) -> Option<Layer> {
    let state = history.state().ok()?.as_string()?;
    LAYERS.into_iter().find(|layer| layer.state() == state)
}

/// For the life of the reactive owner it is called in (the layer's view): gives `layer` its
/// history entry, and calls `close` when Back pops it. Failures of the history API leave
/// Back as it was, out of the app: nothing the person could act on.
pub fn while_open(layer: Layer, close: Callback<()>) {
    listen();
    layer.closer().set(Some(close));
    if !POPPING.get() {
        add_entries();
    }
    on_cleanup(move || {
        layer.closer().set(None);
        if POPPING.get() {
            return;
        }
        if let Some(history) = history().filter(|history| on_top(history) == Some(layer)) {
            POPPING.set(true);
            let _ = history.back();
        }
    });
}

/// Gives each open layer its entry, on top of the ones before it. (An entry of a deeper
/// layer on top, left by a reload while a photo was open, stands for the chat's.)
fn add_entries() {
    let Some(history) = history() else {
        return;
    };
    for layer in LAYERS {
        if layer.closer().get().is_some() && on_top(&history) < Some(layer) {
            let _ = history.push_state(&JsValue::from_str(layer.state()), "");
        }
    }
}

/// Listens for `popstate`: our own Back landing, or the person's.
fn listen() {
    let Some(window) = web_sys::window().filter(|_| !LISTENING.replace(true)) else {
        return;
    };
    let popped = Closure::<dyn FnMut()>::new(|| {
        if POPPING.replace(false) {
            add_entries();
            return;
        }
        // Back: what lies above the entry now on top closes, innermost first.
        let top = history().and_then(|history| on_top(&history));
        for layer in LAYERS.into_iter().rev().filter(|layer| Some(*layer) > top) {
            if let Some(close) = layer.closer().get() {
                close.run(());
            }
        }
    });
    let _ = window.add_event_listener_with_callback("popstate", popped.as_ref().unchecked_ref());
    popped.forget();
}
