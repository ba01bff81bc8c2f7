//! The database's layout: its object stores, its schema version and the upgrade from each
//! older one, and opening and deleting it. What each store holds is in the parent module's
//! table.

use indexed_db_futures::database::{Database, VersionChangeEvent};
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;

use super::StoreError;

/// The schema version; bump it (and migrate in `upgrade`) when the layout changes.
const SCHEMA_VERSION: u8 = 6;

/// Object store: who is signed in.
pub const ACCOUNT: &str = "account";
/// Object store: the chats.
pub const CHATS: &str = "chats";
/// Object store: the messages, keyed by `[chat hash, seq]`.
pub const MESSAGES: &str = "messages";
/// Object store: messages written here and not yet acknowledged.
pub const OUTBOX: &str = "outbox";
/// Object store: the wrapped store key and the device key.
pub const KEYS: &str = "keys";
/// Object store: the device's end-to-end key state ([`CryptoRecord`](merpati_core::e2e::CryptoRecord)s).
pub const CRYPTO: &str = "crypto";
/// Object store: what the person typed in each chat and has not sent.
pub const DRAFTS: &str = "drafts";
/// Object store: the messages deleted for this account only.
pub const HIDDEN: &str = "hidden";
/// Object store: the account's settings (privacy, whom it blocks).
pub const SETTINGS: &str = "settings";

/// The local search index's segments, per device slot.
pub const SEARCH: &str = "search";
/// Messages, a page of sequence numbers per record.
pub const MESSAGE_PAGES: &str = "message_pages";

/// Files being sent: their ciphertext until the server holds it (`uploads`).
pub const UPLOADS: &str = "uploads";

/// Every object store of the database.
pub const ALL_STORES: [&str; 12] = [
    ACCOUNT,
    CHATS,
    MESSAGES,
    OUTBOX,
    KEYS,
    CRYPTO,
    DRAFTS,
    HIDDEN,
    SETTINGS,
    SEARCH,
    MESSAGE_PAGES,
    UPLOADS,
];

/// Opens (creating or upgrading as needed) the database called `name`.
pub async fn open_database(name: &str) -> Result<Database, StoreError> {
    let db = Database::open(name)
        .with_version(SCHEMA_VERSION)
        .with_on_upgrade_needed(upgrade)
        .await?;
    Ok(db)
}

fn upgrade(event: VersionChangeEvent, db: Database) -> indexed_db_futures::Result<()> {
    if event.old_version() < 1.0 {
        for store in [ACCOUNT, CHATS, MESSAGES, OUTBOX, KEYS] {
            db.create_object_store(store).build()?;
        }
    }
    if event.old_version() < 2.0 {
        db.create_object_store(CRYPTO).build()?;
    }
    if event.old_version() < 3.0 {
        for store in [DRAFTS, HIDDEN, SETTINGS] {
            db.create_object_store(store).build()?;
        }
    }
    if event.old_version() < 4.0 {
        db.create_object_store(SEARCH).build()?;
    }
    if event.old_version() < 5.0 {
        db.create_object_store(MESSAGE_PAGES).build()?;
    }
    if event.old_version() < 6.0 {
        db.create_object_store(UPLOADS).build()?;
    }
    Ok(())
}

/// Deletes the database called `name` with everything in it. Waits until every other tab has
/// closed its connection (they do so on `versionchange`).
pub async fn delete_database(name: &str) -> Result<(), StoreError> {
    Database::delete_by_name(name)?.await?;
    Ok(())
}

/// Deletes every record of every object store, keys included, in one transaction.
pub async fn clear_all(db: &Database) -> Result<(), StoreError> {
    let tx = db
        .transaction(ALL_STORES)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    for name in ALL_STORES {
        let _request = tx.object_store(name)?.clear()?;
    }
    tx.commit().await?;
    Ok(())
}
