//! The SQL behind each storage operation, as plain functions over a connection, one file per
//! domain.
//!
//! The write functions run inside the writer's batch transaction (each under its own
//! savepoint, so a refused request leaves no trace); the read functions run on a read-only
//! connection. Ids and sequence numbers are `u64` on the wire and `INTEGER` (i64) in SQLite:
//! values from the network that do not fit saturate to `i64::MAX`, which names nothing.
//!
//! - `accounts`: accounts, their privacy settings, when each was last seen.
//! - `sessions`: each account's sessions: finding, rotating, listing and ending them.
//! - `chats`: chats and their members, read back as snapshots; 1:1 chats.
//! - `groups`: changes to groups (members, title, admins) and the lines they write.
//! - `messages`: appending messages (and deleting one for everyone), reading pages of them.
//! - `receipts`: delivery and read positions.
//! - `blocks`: who blocks whom.
//! - `keys`: the key directory (devices, one-time and fallback keys) and to-device messages.
//! - `backup`: each account's sealed key backup.
//! - `blobs`: uploaded files' rows: quota, progress, the message carrying each, cleanup.
//!
//! This file holds the conversions between stored values and wire types they all use.

pub(super) mod accounts;
pub(super) mod backup;
pub(super) mod blobs;
pub(super) mod blocks;
pub(super) mod chats;
pub(super) mod groups;
pub(super) mod keys;
pub(super) mod messages;
pub(super) mod receipts;
pub(super) mod sessions;

use merpati_protocol::Username;

/// The bytes a `Page` or `Backup` frame needs besides its entries.
pub(crate) const PAGE_OVERHEAD: usize = 32;

/// A wire number as an SQLite integer.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An SQLite integer as a wire number (stored numbers are never negative).
pub(crate) fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A stored username (validated again, like one from the network).
pub(crate) fn username(raw: String) -> rusqlite::Result<Username> {
    Username::parse(&raw).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

/// A stored 32-byte key (the schema only ever stores 32-byte keys there).
pub(crate) fn key32(raw: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    raw.try_into().map_err(|raw: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            raw.len(),
            rusqlite::types::Type::Blob,
            "a stored key is not 32 bytes".into(),
        )
    })
}
