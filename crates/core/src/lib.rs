//! Merpati's client engine, sans I/O.
//!
//! The same engine runs in the browser app, in native tests and in the load generator: it
//! never touches a socket, a disk, a timer or `web_sys`. The shell around it pushes in what
//! happened and, after each push, takes one [`Step`]: events to handle, store writes to apply
//! and frames to send, in the order `Step` documents.
//!
//! # Layout
//! - [`engine`]: the state machine of one signed-in device (sign-in, sync, outbox, key flow,
//!   the person's actions on messages, receipts, typing and presence, privacy and blocking,
//!   groups, drafts, requests, queries), and the [`Step`] contract with its shell.
//! - [`annotations`]: the merge rules of edits, deletions and reactions: every device folds
//!   them into their target the same way, whatever order they arrived in.
//! - [`receipts`]: the other members' delivery and read positions per chat, merged in any
//!   order, with a bounded log of when each read.
//! - [`timeline`]: one chat's messages in sequence order, gap tracking, display items.
//! - [`store`]: the `Store` trait, its records, and the in-memory store.
//! - `store_suite`: the one test suite every `Store` implementation passes; test code,
//!   compiled for this crate's tests and, with the `store-suite` feature, for other crates'.
//! - [`crypto`]: passphrase-derived keys and the cipher that seals stored values.
//! - [`e2e`]: end-to-end encryption of one device: Olm, Megolm, the trusted key directory,
//!   the key backup and safety numbers, persisted as records under typed keys.
//! - [`reconnect`]: when to try again: exponential backoff with full jitter.
//! - [`store_retry`]: when a batch of store writes the store refused is applied again.
//! - [`upload_parts`]: how much of a file each upload request carries, following the link.
//! - [`download_retries`]: when a download cut short or refused tries again, and gives up.
//! - [`request_deadlines`]: how long a file's request may make no progress before it is
//!   given up as unanswered (a connection gone silent), and tried again.
//! - [`search`]: local search: the index of opened messages, its words and its segments.
//! - [`links`]: the web addresses in a message's text, shown as links.
//! - [`sorting`]: stable sorts and ordered sets and maps that share one copy of the standard
//!   sort in the browser's modules.

pub mod annotations;
pub mod crypto;
pub mod download_retries;
pub mod e2e;
pub mod engine;
pub mod links;
mod outbox_record;
pub mod receipts;
pub mod reconnect;
pub mod request_deadlines;
pub mod search;
pub mod sorting;
pub mod store;
pub mod store_retry;
#[cfg(any(test, feature = "store-suite"))]
pub mod store_suite;
pub mod timeline;
pub mod upload_parts;

pub use engine::{
    ANSWER_MS, AwaitedUpload, ChatSummary, ConnectionPhase, Engine, Event, IDLE_PROBE_MS,
    MemberReceipt, OWED_PROBE_MS, OlderWanted, RECENT_EMOJI, RequestError, SendError, Step,
    UnreadDivider,
};
pub use store::{
    AccountRecord, AccountSecrets, BrowserChoices, ChatRecord, DeviceSettings, DraftRecord,
    HiddenRecord, MemoryStore, MessageRecord, OutboxRecord, PrivacySettings, SettingsRecord, Store,
    StoreWrite, StoredState,
};
pub use timeline::{MessageLock, MessageStatus, Person, ReactionSummary, TimelineItem};
