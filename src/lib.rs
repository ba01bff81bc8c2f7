//! Merpati's browser app: a Leptos single-page app over the sans-I/O engine of
//! `merpati-core`.
//!
//! The app is a thin shell. Services own the browser's I/O (IndexedDB, WebCrypto, the
//! WebSocket, timers) and drive the engine; one app context turns the engine's state into
//! signals and people's actions into engine calls; views only render signals and report
//! clicks and keys through callbacks.
//!
//! # Layout
//! - [`services`]: IndexedDB store, device key, connection and engine driver, clock.
//! - [`state`]: the app context (`provide_app_context()` / `use_app()`).
//! - [`screens`]: the auth and main screens, wiring the context to the views.
//! - [`views`]: presentational components (auth form, chat list, chat view, composer, ...).

pub mod screens;
pub mod services;
pub mod state;
pub mod views;

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
