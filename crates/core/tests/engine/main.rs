//! The client engine, driven frame by frame as the app drives it: what it sends, what it
//! stores and what it shows.
//!
//! Most tests leave the device's keys unpublished, so the end-to-end flow stays out of the
//! way of what they check; those about sending and reading words go through
//! `support::alice::Net`, which answers key frames like the server's directory and plays
//! bob's device.

#[path = "../support/mod.rs"]
mod support;

// Signing up, in and back: the challenge, the phases, what a sign-in stores, and which
// failed sign-ins keep the credentials.
mod session;
// The step contract: each frame comes with the writes it relies on.
mod step;
// The outbox: from pending to sent, written offline, refused and retried, refused up front.
mod sending;
// Photos and files: a message waits for its file's upload, after a reload too; cancel, refusal.
mod attachments;
// Messages arriving: once each in sequence order, gaps, resync, epochs, keys that come later.
mod receiving;
// What the person asks: new chats, read positions, older history; the chat list's order.
mod requests;
// The end-to-end key flow's own rules: refusals, the backup, publishing keys.
mod key_flow;
// Refused for now while catching up: the first publish sent again, a sync asked again.
mod refused_for_now;
// To-device messages acknowledged in batches, each after its key is stored, none lost.
mod to_device_done;
// A new device reads the key backup through before it trusts anyone's keys.
mod backup_reading;
// A group of more devices than one key request may name.
mod big_groups;
// What the person does to a message: reply, edit, react, forward, and the refusals.
mod actions;
// Deleting a message for everyone or only here, in whichever order it arrives; one that has
// not left the device is taken back, one that may have is deleted after it.
mod deletions;
// Delivered and read: reported, learnt, shown at once, kept.
mod receipts;
// The unread count, and where a chat's unread messages began.
mod unread;
// Typing, presence, the privacy settings and blocking.
mod signals;
// A silent server asked whether it is there, and a dead connection given up.
mod liveness;
// The browser's own choices, shared by its tabs.
mod tabs;
// Local search: found by word beginnings, edits and deletions, the index stored and read back.
mod search;
// What the person typed and has not sent.
mod drafts;
// Group administration: who may add, remove, rename and promote.
mod groups;
