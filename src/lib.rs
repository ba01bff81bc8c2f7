//! Merpati's engine worker: the sans-I/O engine of `merpati-core`, driven in a dedicated Web
//! Worker with the browser's I/O around it.
//!
//! The browser app is two WebAssembly modules. The page's (`crates/page`, the initial
//! download: the views and one app context) starts this one (`merpati-worker`) beside it and
//! talks to it in `merpati_bridge` messages: the page sends what the person did; the worker
//! runs it through the engine, keeps the store and the socket, and after every change sends
//! the page what to show, converted from the engine's types into the bridge's, so that the
//! page links none of the engine's code. Argon2id runs here too, so stretching a passphrase
//! never freezes the page.
//!
//! # Layout
//! - [`worker`]: the engine worker: runs commands through the client, sends views.
//! - [`engine_view`]: the engine's state as the page shows it (the bridge's `View`).
//! - [`services`]: IndexedDB store, device key, device slot, connection and engine driver,
//!   and the clock.

pub mod engine_view;
pub mod services;
pub mod worker;
