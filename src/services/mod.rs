//! Services: the engine worker's I/O — IndexedDB, WebCrypto, the WebSocket, timers and the
//! clock. (The page's own I/O is its link to this worker and the service worker, in
//! `crates/page`.)
//!
//! - [`idb_store`]: the sealed IndexedDB [`merpati_core::Store`].
//! - [`device_key`]: the store key's passphrase and device wrappings.
//! - [`sign_in_store`]: the store a passphrase sign-in gets: joined, or made anew.
//! - [`device_slot`]: which end-to-end device this tab is (one per open tab).
//! - [`web_locks`]: locks the tabs of this browser take turns with (a device slot, a file's
//!   upload).
//! - [`connection`]: the socket, reconnect timing, and the engine driver ([`connection::Client`]).
//! - [`sign_out_queue`]: sign-outs kept until the server has heard them.
//! - [`files`]: photos and files: sealed, kept, uploaded with resume; downloaded and checked.
//! - [`taking_back`]: deleting for everyone a message this tab holds unsent, as the outbox
//!   the tabs share decides.
//! - [`exchange`]: one request on a connection of its own (a salt lookup, a sign-out).
//! - [`clock`]: the time now, and local clock times and dates for messages.

pub mod clock;
pub mod connection;
pub mod device_key;
pub mod device_slot;
pub mod exchange;
pub mod files;
pub mod idb_store;
pub mod sign_in_store;
pub mod sign_out_queue;
pub mod taking_back;
pub mod web_locks;
