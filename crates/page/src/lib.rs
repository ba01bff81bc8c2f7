//! Merpati's page: the app context and the views, in the module the browser loads first.
//!
//! The browser app is two WebAssembly modules. This one holds what the first screen needs —
//! the views and one app context — so it is the app's initial download; it starts the engine
//! worker's (the root package: the engine, end-to-end encryption and the browser's I/O) as a
//! dedicated Web Worker, and talks to it in `merpati_bridge` messages: the context turns
//! people's actions into commands and the worker's views into signals; views only render
//! signals and report clicks and keys through callbacks.
//!
//! This crate does not depend on the engine (`merpati-core`), so no engine code can reach
//! the page's download: what the page shows is the bridge's own types, converted by the
//! worker.
//!
//! # Layout
//! - [`state`]: the app context (`provide_app_context()` / `use_app()`).
//! - [`live`]: the context's part for typing, presence, receipts, settings, admins, blocking.
//! - [`message_actions`]: the context's actions on messages, drafts and the typing signal.
//! - [`search`]: the context's part for local search: the query and its results.
//! - [`attachments`]: the context's part for photos and files: sending, opening, saving.
//! - [`emoji`]: the emoji picker's emoji, fetched the first time it opens.
//! - [`screens`]: the auth and main screens, wiring the context to the views.
//! - [`focus`]: where the keyboard's focus goes when the screen changes.
//! - [`views`]: presentational components (auth form, chat list, chat view, composer, ...).
//! - [`engine_link`]: the page's side of the engine worker, and what only the page can see
//!   for it (the tab's visibility, the server's address).
//! - [`offline`]: the service worker that lets the app open without the server.
//! - [`notify`]: notifications of new messages while the person looks elsewhere.
//! - [`theme`]: light, dark or the system's, chosen per browser and shown from the first paint.
//! - [`language`]: English or Bahasa Indonesia, the browser's or chosen, spoken before the first
//!   paint (the words themselves are `merpati_words`).
//! - [`own_files`]: the app's own text files fetched when needed (words, emoji).

pub mod attachments;
pub mod browser_back;
pub mod emoji;
pub mod engine_link;
pub mod focus;
pub mod language;
pub mod live;
pub mod message_actions;
pub mod notify;
pub mod offline;
pub mod own_files;
pub mod screens;
pub mod search;
pub mod state;
pub mod theme;
pub mod views;

use leptos::prelude::*;

use crate::screens::{AuthScreen, MainScreen};
use crate::state::{Screen, provide_app_context};

/// This browser's `localStorage`, where the page keeps the few choices it needs before the
/// sealed store is open (the theme, the language) or that say nothing of any chat (the chat's
/// details folded). `None` where the browser refuses it (some private modes).
pub(crate) fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The root component: provides the app context and shows the current screen.
#[component]
pub fn App() -> impl IntoView {
    let app = provide_app_context();
    move || match app.screen().get() {
        Screen::Loading => view! {
            <div class="loading" aria-busy="true">
                <img src="/favicon.svg" alt="Merpati" width="64" height="64"/>
            </div>
        }
        .into_any(),
        Screen::Auth => view! { <AuthScreen/> }.into_any(),
        Screen::Main => view! { <MainScreen/> }.into_any(),
    }
}
