//! Starting a real server in this process, and what the tests say to it: a [`Client`] over the
//! test kit's raw protocol client (`merpati_testkit::RawClient`) that panics with the reason
//! when the server does not answer as a test expects, the conversation's frames of protocol
//! version 3 (`conversation`: lines, receipts, a whole `Sync` read in order), an Olm
//! [`Device`], and a [`BlobClient`] for files over HTTP with the messages that carry them
//! (`blobs`).
//!
//! "Nothing arrives" is never shown by waiting: a test makes the server send something after
//! the frames in question (a sentinel) and asserts that the sentinel comes next. The server
//! handles a connection's frames in order, and each session receives what is fanned out to it
//! in the order it was handed over; so a sentinel caused by the same session as the action,
//! after it, arrives after anything the action caused.
//!
//! By responsibility: `server` starts and stops the server, `client` connects and signs in,
//! `chats` and `keys` are what the tests say about chats and messages and about the key
//! directory, `names` the names the tests give things; `conversation`, `device` and `blobs` as
//! above. Everything is used as `support::…`, re-exported here.

mod blobs;
mod chats;
mod client;
mod conversation;
mod device;
mod keys;
mod names;
mod server;

pub(crate) use blobs::{
    BlobClient, blob_file, blob_id, ciphertext, delete_for_everyone, offset, send_file, send_with,
};
pub(crate) use client::{Client, refused_handshake};
pub(crate) use device::Device;
pub(crate) use names::{key, msg_id, username};
pub(crate) use server::{TestServer, data_dir};
