//! A native swarm of real Merpati clients, for load, surge and fault tests.
//!
//! Each client is the same `merpati-core` engine the browser app runs, over a real WebSocket
//! to a real server, with an in-memory store. Tests use the library; people use the
//! `merpati-loadgen` command.
//!
//! # Layout
//! - [`client`]: one client task (engine + socket + reconnect) and its handle.
//! - [`scenario`]: swarms that sign up, form groups, send, and check what everyone holds.
//! - [`history`]: the history checker: what every client saw, against what storage holds.

pub mod client;
pub mod history;
pub mod scenario;

pub use client::{
    Acked, ClientOptions, Join, Snapshot, Status, StoredSession, SwarmClient, Writing,
};
