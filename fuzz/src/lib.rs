//! What Merpati's fuzz targets share: the device they decode against and how an input names
//! what it holds.
//!
//! Several decoders only show what they do inside a device's state: a to-device message
//! opens only with the Olm session it was sent on, a Megolm body only with its session, a
//! backup entry only under the account's backup key. [`DeviceFixture`] is such a state, made
//! once by `examples/seed_corpora/` from two real devices talking to each other and
//! committed as `fixtures/device.postcard`; the seeds in `corpus/` were made in the same run,
//! so they are valid against it. Every input meets the fixture's state: `client_store`
//! restores an engine from it for each input; `keys` and `backup`, for which rebuilding the
//! device would cost more than the input, keep one and rebuild it after any input that may
//! have changed it. So an input's outcome never depends on the inputs before it, and a crash
//! replays alone.
//!
//! A target that feeds more than one decoder takes the first input byte as a selector
//! ([`KeysInput`], [`BackupInput`], [`StoreKind`]); the rest is what that decoder reads.
//!
//! # Layout
//! - [`DeviceFixture`]: device A (user 1) of chat 7 with device B (user 2), as A's store
//!   keeps it.
//! - [`KeysInput`], [`BackupInput`]: the selectors of the `keys` and `backup` targets.
//! - [`StoreKind`]: the object stores of the app's IndexedDB store and the record each holds.
//! - [`ServerRow`]: a row of the server's SQLite tables, as its queries select it.

use merpati_core::e2e::{CryptoRecord, DeviceCrypto, StoredCryptoRecord};
use merpati_core::{AccountRecord, ChatRecord, MessageRecord, StoredState};
use merpati_protocol::keys::DeviceRef;
use serde::{Deserialize, Serialize};

/// The context a backup entry is sealed under (`crates/core/src/e2e/backup.rs`): part of the
/// stored format, so it cannot change without making every backup unreadable.
pub const BACKUP_CONTEXT: &[u8] = b"merpati/key-backup/v1";

/// The key the `client_store` target seals records with (any key does: the store's is random).
pub const STORE_KEY: [u8; 32] = [0x5a; 32];

/// Device A's username and passphrase: what its passphrase-derived keys come from, with
/// `KdfParams::FAST_INSECURE`.
pub const FIXTURE_CREDENTIALS: (&str, &str) = ("sari", "sari's long passphrase");

/// Device A's stored state after it met device B in chat 7: A verified B's keys, received
/// B's Megolm session over Olm, and holds B's first messages.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceFixture {
    /// Who is signed in on A, with the account's secrets (the backup key among them).
    pub account: AccountRecord,
    /// A's end-to-end key state, as its store keeps it.
    pub crypto: Vec<StoredCryptoRecord>,
    /// The chats A holds (chat 7, with A and B).
    pub chats: Vec<ChatRecord>,
    /// B's messages in chat 7, as the server sent them.
    pub messages: Vec<MessageRecord>,
    /// Device B: the sender of the seeds' to-device messages.
    pub peer: DeviceRef,
}

impl DeviceFixture {
    /// Reads the committed fixture. Panics if it does not decode: the harness is broken then,
    /// not the code under test (run `examples/seed_corpora/` again).
    pub fn decode(bytes: &[u8]) -> DeviceFixture {
        postcard::from_bytes(bytes).expect("fixtures/device.postcard decodes")
    }

    /// The fixture's bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A's end-to-end key records.
    pub fn crypto_records(&self) -> Vec<CryptoRecord> {
        self.crypto
            .iter()
            .cloned()
            .filter_map(|record| CryptoRecord::try_from(record).ok())
            .collect()
    }

    /// Device A, rebuilt from its records as the app rebuilds it on opening.
    pub fn device(&self) -> DeviceCrypto {
        DeviceCrypto::restore(self.crypto_records()).expect("the fixture holds an account record")
    }

    /// A's key backup key.
    pub fn backup_key(&self) -> [u8; 32] {
        self.account.secrets.backup_key
    }

    /// Everything A's store holds, as the engine restores from it.
    pub fn stored_state(&self) -> StoredState {
        StoredState {
            account: Some(self.account.clone()),
            chats: self.chats.clone(),
            messages: self.messages.clone(),
            crypto: self.crypto_records(),
            ..StoredState::default()
        }
    }
}

/// What the rest of a `keys` input is, by its first byte (taken modulo the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysInput {
    /// A `ServerFrame`: key directory answers (`Keys`, `ClaimedKeys`), a `ToDevice`
    /// message, a `Message` or `Page` whose bodies A opens.
    ServerFrame,
    /// A `RoomKey`, as an Olm message from B decrypts to it.
    RoomKey,
}

impl KeysInput {
    /// Every kind, in selector order.
    pub const ALL: [KeysInput; 2] = [KeysInput::ServerFrame, KeysInput::RoomKey];

    /// The kind a selector byte names.
    pub fn from_selector(byte: u8) -> KeysInput {
        Self::ALL[usize::from(byte) % Self::ALL.len()]
    }

    /// The selector byte of this kind.
    pub fn selector(self) -> u8 {
        selector_of(&Self::ALL, self)
    }
}

/// What the rest of a `backup` input is, by its first byte (taken modulo the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupInput {
    /// What one entry seals (the chat, the sender, the exported session): the target seals
    /// it with A's backup key, as A's other devices would have.
    Payload,
    /// A `ServerFrame::Backup` answer as the server sends it.
    ServerFrame,
}

impl BackupInput {
    /// Every kind, in selector order.
    pub const ALL: [BackupInput; 2] = [BackupInput::Payload, BackupInput::ServerFrame];

    /// The kind a selector byte names.
    pub fn from_selector(byte: u8) -> BackupInput {
        Self::ALL[usize::from(byte) % Self::ALL.len()]
    }

    /// The selector byte of this kind.
    pub fn selector(self) -> u8 {
        selector_of(&Self::ALL, self)
    }
}

/// An object store of the app's IndexedDB store (`src/services/idb_store.rs`, which builds
/// only for the browser, so the names are repeated here): each holds values sealed with the
/// store's name as context, and one kind of record inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `account`: an `AccountRecord`.
    Account,
    /// `chats`: a `ChatRecord`.
    Chats,
    /// `message_pages`: a `Vec<MessageRecord>`, one page of 64 sequence numbers.
    MessagePages,
    /// `messages`: one `MessageRecord` (written by schema 4 and before, still read).
    Messages,
    /// `outbox`: an `OutboxRecord`.
    Outbox,
    /// `crypto`: a `StoredCryptoRecord` (a record key in its stored form, and the value).
    Crypto,
    /// `drafts`: a `DraftRecord`.
    Drafts,
    /// `hidden`: a `HiddenRecord`.
    Hidden,
    /// `settings`: a `SettingsRecord`.
    Settings,
    /// `search`: a `SearchSegment`.
    Search,
    /// `keys`: the store key wrapped by the passphrase-derived key.
    Keys,
}

impl StoreKind {
    /// Every object store, in selector order.
    pub const ALL: [StoreKind; 11] = [
        StoreKind::Account,
        StoreKind::Chats,
        StoreKind::MessagePages,
        StoreKind::Messages,
        StoreKind::Outbox,
        StoreKind::Crypto,
        StoreKind::Drafts,
        StoreKind::Hidden,
        StoreKind::Settings,
        StoreKind::Search,
        StoreKind::Keys,
    ];

    /// The object store a selector byte names.
    pub fn from_selector(byte: u8) -> StoreKind {
        Self::ALL[usize::from(byte) % Self::ALL.len()]
    }

    /// The selector byte of this object store.
    pub fn selector(self) -> u8 {
        selector_of(&Self::ALL, self)
    }

    /// The object store's name: the context its values are sealed under.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Account => "account",
            StoreKind::Chats => "chats",
            StoreKind::MessagePages => "message_pages",
            StoreKind::Messages => "messages",
            StoreKind::Outbox => "outbox",
            StoreKind::Crypto => "crypto",
            StoreKind::Drafts => "drafts",
            StoreKind::Hidden => "hidden",
            StoreKind::Settings => "settings",
            StoreKind::Search => "search",
            StoreKind::Keys => "keys",
        }
    }
}

/// One row of the server's SQLite tables, its columns as the server's queries select them
/// (`crates/server/src/storage/sql/`): SQLite hands back integers as `i64`, text and blobs
/// as they were written, whatever wrote them. The `server_store` target turns a row into
/// what the server sends from it, as the server does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerRow {
    /// `accounts` (`id, username, public_key`), with the signature a client answers the
    /// sign-in challenge with (checked against the stored key) and the challenge's nonce.
    Account {
        /// `id`.
        id: i64,
        /// `username`.
        username: String,
        /// `public_key`.
        public_key: Vec<u8>,
        /// The client's signature.
        signature: Vec<u8>,
        /// The challenge's nonce.
        nonce: [u8; 32],
    },
    /// A chat with one member (`SNAPSHOT_COLUMNS` in `storage/sql/chats.rs`).
    ChatMember {
        /// `c.id`.
        chat: i64,
        /// `c.kind`: `"group"` or anything else (a 1:1 chat).
        kind: String,
        /// `c.title`.
        title: String,
        /// `c.created_ms`.
        created_ms: i64,
        /// `c.head_seq`.
        head: i64,
        /// `m.account_id`.
        user: i64,
        /// `a.username`.
        username: String,
        /// `m.admin`.
        admin: bool,
        /// `m.delivered_seq`.
        delivered: i64,
        /// `m.read_seq`.
        read: i64,
        /// `m.read_at_ms`.
        read_at_ms: i64,
    },
    /// `messages` (`seq, client_msg_id, sender, sent_at_ms, body`) of one chat.
    Message {
        /// The chat asked for.
        chat: i64,
        /// `seq`.
        seq: i64,
        /// `client_msg_id`.
        client_msg_id: Vec<u8>,
        /// `sender`.
        sender: i64,
        /// `sent_at_ms`.
        sent_at_ms: i64,
        /// `body`.
        body: Vec<u8>,
    },
    /// `devices` (`device_key, ed25519, signature`) of an account with its `public_key`.
    Device {
        /// The account.
        user: i64,
        /// The account's `public_key`.
        account_key: Vec<u8>,
        /// `device_key`.
        device: Vec<u8>,
        /// `ed25519`.
        ed25519: Vec<u8>,
        /// `signature`.
        signature: Vec<u8>,
    },
    /// `one_time_keys` (`key, fallback, signature`) of a device.
    OneTimeKey {
        /// The device's account.
        user: i64,
        /// The device.
        device: Vec<u8>,
        /// `key`.
        key: Vec<u8>,
        /// `fallback`.
        fallback: bool,
        /// `signature`.
        signature: Vec<u8>,
    },
    /// `to_device` (`id, sender_account, sender_device, body`).
    ToDevice {
        /// `id`.
        id: i64,
        /// `sender_account`.
        sender: i64,
        /// `sender_device`.
        sender_device: Vec<u8>,
        /// `body`.
        body: Vec<u8>,
    },
    /// `backup` (`position, entry_id, sealed`).
    Backup {
        /// `position`.
        position: i64,
        /// `entry_id`.
        entry_id: Vec<u8>,
        /// `sealed`.
        sealed: Vec<u8>,
    },
}

fn selector_of<T: PartialEq>(all: &[T], kind: T) -> u8 {
    let index = all.iter().position(|each| *each == kind).unwrap_or(0);
    u8::try_from(index).unwrap_or(0)
}

/// Splits an input into its selector byte and the rest; `None` for an empty input.
pub fn split_selector(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}
