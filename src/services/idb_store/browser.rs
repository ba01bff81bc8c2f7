//! This browser's own records in the `settings` store, beside the account's settings: its
//! notification settings, the emoji it chose lately, its skin tone and the chats it mutes,
//! whether a privacy change made here waits for the server, and why its store is being
//! deleted. Each is sealed under a context of its own and kept
//! under a key hashed from its name.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_bridge::SignOutReason;

use super::{IdbStore, SETTINGS, StoreError, hex};

/// One of this browser's own records: the context it is sealed under, so that no record can
/// be passed off as another, and the name its key is hashed from.
#[derive(Clone, Copy)]
pub(super) struct BrowserRecord {
    /// The context it is sealed under.
    pub(super) context: &'static str,
    /// The name its key is hashed from.
    name: &'static [u8],
}

/// This browser's own settings (notifications).
pub(super) const DEVICE_SETTINGS: BrowserRecord = BrowserRecord {
    context: "settings/device",
    name: b"device",
};

/// The emoji this browser chose lately.
pub(super) const RECENT_EMOJI: BrowserRecord = BrowserRecord {
    context: "settings/recent-emoji",
    name: b"recent-emoji",
};

/// This browser's emoji skin tone (its place in `SkinTone::ALL`).
pub(super) const SKIN_TONE: BrowserRecord = BrowserRecord {
    context: "settings/skin-tone",
    name: b"skin-tone",
};

/// Whether a privacy change made in this browser waits for the server's answer.
pub(super) const PRIVACY_PENDING: BrowserRecord = BrowserRecord {
    context: "settings/privacy-pending",
    name: b"privacy-pending",
};

/// The chats this browser does not notify of.
pub(super) const MUTED_CHATS: BrowserRecord = BrowserRecord {
    context: "settings/muted-chats",
    name: b"muted-chats",
};

/// Why the tab deleting this browser's store deletes it.
const WHY_DELETED: BrowserRecord = BrowserRecord {
    context: "settings/why-deleted",
    name: b"why-deleted",
};

impl IdbStore {
    /// Notes why this tab is about to delete the store: the other tabs, told only that it is
    /// being deleted, read it ([`IdbStore::why_deleted`]) before they let go of it, and say
    /// why they are signed out — whether the person signed out or the server ended the
    /// session. It goes with the store.
    pub async fn note_why_deleted(&self, reason: SignOutReason) -> Result<(), StoreError> {
        let tx = self
            .db
            .transaction(SETTINGS)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(SETTINGS)?
            .put(self.seal(WHY_DELETED.context, &reason)?)
            .with_key(self.browser_record_key(WHY_DELETED))
            .without_key_type()
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// Why the tab deleting the store deletes it, if it said.
    pub async fn why_deleted(&self) -> Result<Option<SignOutReason>, StoreError> {
        self.browser_record(WHY_DELETED).await
    }

    /// Where one of this browser's own records is kept.
    pub(super) fn browser_record_key(&self, record: BrowserRecord) -> String {
        hex(&self.cipher.keyed_hash(SETTINGS.as_bytes(), record.name))
    }

    /// One of this browser's own records, opened.
    pub(super) async fn browser_record<T: serde::de::DeserializeOwned>(
        &self,
        record: BrowserRecord,
    ) -> Result<Option<T>, StoreError> {
        let key = self.browser_record_key(record);
        self.read_one(SETTINGS, key, record.context).await
    }
}
