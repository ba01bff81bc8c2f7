//! Services: the only code that touches the browser's I/O — IndexedDB, WebCrypto, the
//! WebSocket, timers and the clock. Views never call them; the app context does.
//!
//! - [`idb_store`]: the sealed IndexedDB [`merpati_core::Store`].
//! - [`device_key`]: the store key's passphrase and device wrappings.
//! - [`device_slot`]: which end-to-end device this tab is (one per open tab).
//! - [`connection`]: the socket, reconnect timing, and the engine driver ([`connection::Client`]).
//! - [`engine_link`]: the page's side of the engine worker.
//! - [`clock`]: the time now, local clock times, and yielding to the browser.
//! - [`offline`]: the service worker that lets the app open without the server.

pub mod clock;
pub mod connection;
pub mod device_key;
pub mod device_slot;
pub mod engine_link;
pub mod idb_store;
pub mod offline;
