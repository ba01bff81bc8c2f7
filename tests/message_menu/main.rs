//! The message menu and what it does, mounted alone in Chromium: how it opens (right-click,
//! the keyboard, its "⋯" button, a long press), what it offers on own and others' messages,
//! how it closes, the actions it reports, the composer's reply and edit, and how a message
//! shows a quote, its marks, a deletion and its reactions.
//!
//! `page` finds, pokes and waits on elements; `fixture` mounts the chat view the tests drive.

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "../support/mod.rs"]
mod support;

mod actions;
mod display;
mod fixture;
mod opening;
mod page;
