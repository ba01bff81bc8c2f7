//! The server's behaviour, tested over real sockets against a real SQLite file.
//!
//! Each test starts its own server on `127.0.0.1:0` with a temporary data directory and its
//! own shutdown trigger (or, to kill it for real, the binary as a process), and talks to it
//! like the app does: binary WebSocket frames encoded with `merpati_protocol::encode`.

#![allow(clippy::unwrap_used)]

// Starting servers in this process, and the test vocabulary spoken to them over the test
// kit's raw protocol client (crates/testkit).
mod support;

// Register, login, resume, logout, and what is refused before or instead of signing in.
mod auth;
// 1:1 chats and groups: creation, deduplication, membership, live updates.
mod chats;
// Sending, acknowledgement, fan-out, idempotent resends, paging, sync and read positions.
mod messages;
// Bad input and limits: malformed, text and oversized frames, big bodies, foreign origins,
// a flood of requests about chats one is not in.
mod limits;
// One client against everyone else: half-open connections, caps per address and account.
mod hostile;
// Sessions: idle expiry, listing and ending them, token rotation, sign-out proofs.
mod sessions;
// When each session was last active: now while connected, then until it closed.
mod last_active;
// Filling the disk: stored bytes per account and day, sign-ups per address.
mod quotas;
// The HTTP side: health check and the web app's files.
mod http;
// Graceful shutdown, and data surviving a restart.
mod shutdown;
// No input panics a session: a property test over real sockets.
mod robustness;
// Crash safety: the real binary killed with SIGKILL while clients send.
mod crash;
// The binary starts itself again with a malloc tunable set.
mod process;
// Admission control: the connection cap, the handshake rate, per-session send rates, metrics.
mod admission;
// The key directory and to-device messages of end-to-end encryption.
mod keys;
// The key backup: put, paged fetch, replacement.
mod backup;
// Files over HTTP: uploads that resume, limits, quota, the cap of uploads no message carries,
// each account's request allowance, who may do what, messages carrying them, cleanup, and an
// upload cut by SIGKILL.
mod blobs;
// One upload part as it travels: written as it arrives, kept when cut off or stalled,
// refused whole when the disk is full.
mod blob_parts;
// One download as it travels: a client taking it below the least rate is cut off.
mod blob_downloads;
// Uploads due for deletion, gone before a pass deletes them: not found, not served, given no
// part, created anew with an empty file.
mod blob_due;
// Removing members from groups, and leaving.
mod members;
// A connection's messages share transactions while they wait for their commit.
mod memory;
mod pipelining;
// Two server processes on one PostgreSQL database, waking each other through NATS.
mod cluster;
