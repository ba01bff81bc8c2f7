//! Merpati's browser app: a Leptos single-page app over the sans-I/O engine of
//! `merpati-core`.
//!
//! The app is a thin shell in two WebAssembly modules. The page's (`merpati-app`) holds the
//! views and one app context; the engine worker's (`merpati-worker`, a dedicated Web Worker)
//! holds the engine, end-to-end encryption and the browser's I/O (IndexedDB, WebCrypto, the
//! WebSocket, timers). The page's module is all the first screen needs, so it is the app's
//! initial download; the worker's arrives beside it. They talk in [`bridge`] messages: the
//! context turns people's actions into commands and the worker's views into signals; views
//! only render signals and report clicks and keys through callbacks.
//!
//! # Layout
//! - [`bridge`]: the commands and updates the page and the worker exchange.
//! - [`worker`]: the engine worker: runs commands through the client, sends views.
//! - [`services`]: IndexedDB store, device key, connection and engine driver, clock, and the
//!   page's link to the worker.
//! - [`state`]: the app context (`provide_app_context()` / `use_app()`).
//! - [`screens`]: the auth and main screens, wiring the context to the views.
//! - [`views`]: presentational components (auth form, chat list, chat view, composer, ...).

pub mod bridge;
pub mod screens;
pub mod services;
pub mod state;
pub mod views;
pub mod worker;

use leptos::prelude::*;

use crate::screens::{AuthScreen, MainScreen};
use crate::state::{Screen, provide_app_context};

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
