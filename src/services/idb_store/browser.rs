//! This browser's own records in the `settings` store, beside the account's settings: its
//! notification settings, the emoji it chose lately, its skin tone and the chats it mutes.
//! Each is sealed under a context of its own and kept under a key hashed from its name.

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

/// The chats this browser does not notify of.
pub(super) const MUTED_CHATS: BrowserRecord = BrowserRecord {
    context: "settings/muted-chats",
    name: b"muted-chats",
};

impl IdbStore {
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
