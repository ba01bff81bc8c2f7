//! The presentational components, mounted alone in Chromium and driven like a person would.
//! One module per component or concern; the real engine the chat view is driven by lives in
//! `engine`.

use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "../support/dom.rs"]
mod dom;
#[path = "../support/focus.rs"]
mod focus;
#[path = "../support/rows.rs"]
mod rows;
#[path = "../support/mod.rs"]
mod support;

mod chat_header;
mod chat_list;
mod composer;
mod connection_status;
mod day_lines;
mod encryption;
mod engine;
mod first_screen;
mod links;
mod looked_at;
mod membership;
mod message_list;
mod mute;
mod panels;
