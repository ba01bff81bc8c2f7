//! [`IdbStore`]: the device's [`Store`] over IndexedDB, with every record sealed.
//!
//! One database per origin (the app names it `"merpati"`; tests give each store its own name)
//! holds twelve object stores, all with out-of-line keys:
//!
//! | store      | key                                   | value                          |
//! |------------|---------------------------------------|--------------------------------|
//! | `account`  | keyed hash (hex)                      | sealed [`AccountRecord`]       |
//! | `chats`    | keyed hash of the chat id (hex)       | sealed [`ChatRecord`]          |
//! | `message_pages` | `[keyed hash of the chat id, seq / 64]` | sealed `Vec<MessageRecord>` (`pages`) |
//! | `messages` | `[keyed hash of the chat id, seq]`    | sealed [`MessageRecord`] (schema ≤ 4; read, no longer written) |
//! | `outbox`   | keyed hash of the client message id   | sealed [`OutboxRecord`]        |
//! | `crypto`   | `[keyed hash of the device slot, keyed hash of the record's key]` | sealed [`StoredCryptoRecord`] |
//! | `keys`     | purpose name                          | wrapped store keys, device key |
//! | `drafts`   | keyed hash of the chat id (hex)       | sealed [`DraftRecord`]         |
//! | `hidden`   | keyed hash of the chat id and message id (hex) | sealed [`HiddenRecord`] |
//! | `settings` | keyed hash (hex): the account's, this browser's | sealed [`SettingsRecord`], [`DeviceSettings`] (sealed as `settings/device`) |
//! | `search`   | `[keyed hash of the device slot, segment id]` | sealed [`SearchSegment`] |
//! | `uploads`  | keyed hashes of the blob id (hex)     | a file's ciphertext as a `Blob`, and the bytes the server held (`uploads`) |
//!
//! Sealed values are `Uint8Array`s from [`StoreCipher::seal_value`] with the object store's
//! name as context, so a value cannot be moved between stores unnoticed. Keys are keyed hashes
//! so they do not reveal which chats or messages a device holds; only `messages` keeps the
//! sequence number (or its page) in the clear, because history is read by a key range over it. The outbox
//! order lives inside the sealed record and is sorted after reading. A `crypto` record is
//! sealed whole, its key in its stored form included, so the end-to-end key state (Olm
//! account and session pickles, Megolm sessions, pinned account keys) comes back without any
//! name in the clear; a record whose key this version does not read (a newer version wrote
//! it) is skipped, not fatal (see [`merpati_core::e2e::CryptoRecordKey`]).
//! Each open tab is a device of its own ([`crate::services::device_slot`]), so the key state
//! is kept per device slot; [`Store::crypto`] reads only this store's slot. So is the local
//! search index, whose segments are numbered by the device that writes them.
//! The `keys` store is managed by [`crate::services::device_key`].
//!
//! A draft is keyed by the same hash as its chat, as messages are: it reveals no more than the
//! `chats` store already does. A hidden message's key hashes its chat and its id together, so
//! putting it twice keeps one record.
//!
//! Schema versions: 1 created the first five stores; 2 adds `crypto`; 3 adds `drafts`,
//! `hidden` and `settings`. A database of version 1 holds no end-to-end keys, so the engine
//! asks that device to sign in again; one of version 2 simply has no drafts, hidden messages
//! or settings yet (the defaults); 4 adds `search` (a device of version 3 indexes what it
//! opens from then on); 5 adds `message_pages`, where messages are written from then on
//! (`pages`; what `messages` holds stays readable); 6 adds `uploads`, the files being sent,
//! whose values are not sealed again: they are a file's ciphertext under its own key, which
//! only the sealed outbox holds.

use indexed_db_futures::KeyRange;
use indexed_db_futures::database::Database;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_core::crypto::{CryptoError, StoreCipher};
use merpati_core::e2e::{CryptoRecord, CryptoRecordKey, StoredCryptoRecord};
use merpati_core::search::SearchSegment;
use merpati_core::{
    AccountRecord, ChatRecord, DeviceSettings, DraftRecord, HiddenRecord, MessageRecord,
    OutboxRecord, SettingsRecord, Store, StoreWrite,
};
use merpati_protocol::{ChatId, ClientMsgId, Seq};
use merpati_words::SkinTone;
use wasm_bindgen::{JsCast, JsValue};

mod browser;
mod pages;
mod schema;
mod shared_outbox;
mod uploads;

use browser::{
    BrowserRecord, DEVICE_SETTINGS, MUTED_CHATS, PRIVACY_PENDING, RECENT_EMOJI, SKIN_TONE,
};
pub use schema::{
    ACCOUNT, ALL_STORES, CHATS, CRYPTO, DRAFTS, HIDDEN, KEYS, MESSAGE_PAGES, MESSAGES, OUTBOX,
    SEARCH, SETTINGS, UPLOADS, clear_all, delete_database, open_database,
};
pub use shared_outbox::{Standing, TakingBack};

/// What can go wrong with the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// IndexedDB refused or failed a request.
    #[error("IndexedDB: {0}")]
    Idb(String),
    /// A record did not seal or open (wrong key, or changed bytes).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stored value was not of the expected shape.
    #[error("unexpected data in the `{0}` store")]
    Corrupt(&'static str),
    /// WebCrypto failed.
    #[error("WebCrypto: {0}")]
    WebCrypto(String),
    /// The database is of a newer schema than this app's: a newer Merpati, in another tab,
    /// upgraded it. This app must not use it, and the page must be reloaded.
    #[error("a newer Merpati upgraded this browser's database")]
    NewerApp,
}

impl From<indexed_db_futures::error::Error> for StoreError {
    fn from(error: indexed_db_futures::error::Error) -> Self {
        StoreError::Idb(error.to_string())
    }
}

impl From<indexed_db_futures::error::OpenDbError> for StoreError {
    fn from(error: indexed_db_futures::error::OpenDbError) -> Self {
        use indexed_db_futures::error::{DomException, Error, OpenDbError};
        match error {
            // Opening with a lower version than the database's own.
            OpenDbError::Base(Error::DomException(DomException::Other(exception)))
                if exception.name() == "VersionError" =>
            {
                StoreError::NewerApp
            }
            error => StoreError::Idb(error.to_string()),
        }
    }
}

/// The device's [`Store`] over one IndexedDB database. See the module documentation.
pub struct IdbStore {
    db: Database,
    cipher: StoreCipher,
    /// The keyed hash of this tab's device slot: the first half of every `crypto` key.
    slot: String,
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore")
            .field("db", &self.db.name())
            .finish_non_exhaustive()
    }
}

// A connection left open would block deleting the database (signing out) until it is
// garbage-collected, so a store closes its connection when it goes away.
impl Drop for IdbStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl IdbStore {
    /// Opens the database called `name`, sealing with `cipher`.
    pub async fn open(name: &str, cipher: StoreCipher) -> Result<IdbStore, StoreError> {
        Ok(IdbStore::from_parts(open_database(name).await?, cipher))
    }

    /// A store over an already opened database.
    pub fn from_parts(db: Database, cipher: StoreCipher) -> IdbStore {
        let slot = slot_key(&cipher, 0);
        IdbStore { db, cipher, slot }
    }

    /// The same store, keeping end-to-end key state under device slot `slot` (a store starts
    /// in slot 0).
    pub fn with_device_slot(mut self, slot: u32) -> IdbStore {
        self.slot = slot_key(&self.cipher, slot);
        self
    }

    /// Deletes this slot's end-to-end key state (a new device is about to take the slot);
    /// other slots' stay.
    pub async fn clear_device_slot(&self) -> Result<(), StoreError> {
        let tx = self
            .db
            .transaction([CRYPTO, SEARCH])
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(CRYPTO)?
            .delete::<JsValue, _>(self.slot_range())
            .primitive()?;
        tx.object_store(SEARCH)?
            .delete::<JsValue, _>(self.search_range())
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// Every `crypto` key of this slot: the second halves are hex, all below `"g"`.
    fn slot_range(&self) -> KeyRange<JsValue> {
        KeyRange::Bound(
            crypto_key(&self.slot, ""),
            false,
            crypto_key(&self.slot, "g"),
            true,
        )
    }

    /// Every `search` key of this slot.
    fn search_range(&self) -> KeyRange<JsValue> {
        KeyRange::Bound(self.search_key(0), false, self.search_key(u64::MAX), false)
    }

    fn search_key(&self, id: u64) -> JsValue {
        let slot = JsValue::from_str(&self.slot);
        // Segment ids stay far below 2^53, where f64 is exact.
        js_sys::Array::of2(&slot, &JsValue::from_f64(id as f64)).into()
    }

    /// The database, for the key records of [`crate::services::device_key`].
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The database's name.
    pub fn name(&self) -> String {
        self.db.name()
    }

    /// Sets the handler of `versionchange`: another tab wants to delete or upgrade the
    /// database and waits for this connection to close.
    pub fn on_version_change(&self, handler: Option<&js_sys::Function>) {
        self.db.as_sys().set_onversionchange(handler);
    }

    /// Closes this connection to the database (needed before it can be deleted).
    pub fn close(&self) {
        self.db.clone().close();
    }

    fn chat_key(&self, chat: ChatId) -> String {
        hex(&self.cipher.keyed_hash(b"chat", &chat.0.to_be_bytes()))
    }

    fn outbox_key(&self, id: &ClientMsgId) -> String {
        hex(&self.cipher.keyed_hash(OUTBOX.as_bytes(), &id.0))
    }

    fn account_key(&self) -> String {
        hex(&self.cipher.keyed_hash(ACCOUNT.as_bytes(), b"current"))
    }

    fn settings_key(&self) -> String {
        hex(&self.cipher.keyed_hash(SETTINGS.as_bytes(), b"current"))
    }

    fn hidden_key(&self, hidden: &HiddenRecord) -> String {
        let mut name = [0u8; 24];
        name[..8].copy_from_slice(&hidden.chat_id.0.to_be_bytes());
        name[8..].copy_from_slice(&hidden.client_msg_id.0);
        hex(&self.cipher.keyed_hash(HIDDEN.as_bytes(), &name))
    }

    /// The index key of a record: the hash of its key's stored form, as ever.
    fn crypto_key(&self, key: &CryptoRecordKey) -> JsValue {
        crypto_key(
            &self.slot,
            &hex(&self
                .cipher
                .keyed_hash(CRYPTO.as_bytes(), key.to_stored().as_bytes())),
        )
    }

    fn seal<T: serde::Serialize>(&self, store: &str, value: &T) -> Result<JsValue, StoreError> {
        let sealed = self.cipher.seal_value(store.as_bytes(), value)?;
        Ok(js_sys::Uint8Array::from(sealed.as_slice()).into())
    }

    fn open_value<T: serde::de::DeserializeOwned>(
        &self,
        store: &'static str,
        value: &JsValue,
    ) -> Result<T, StoreError> {
        let bytes = value
            .dyn_ref::<js_sys::Uint8Array>()
            .ok_or(StoreError::Corrupt(store))?;
        Ok(self.cipher.open_value(store.as_bytes(), &bytes.to_vec())?)
    }

    /// The one value under `key` in `store_name`, opened as sealed under `context`.
    async fn read_one<T: serde::de::DeserializeOwned>(
        &self,
        store_name: &'static str,
        key: String,
        context: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.transaction(store_name).build()?;
        let store = tx.object_store(store_name)?;
        let value: Option<JsValue> = store.get(key).primitive()?.await?;
        value
            .map(|value| self.open_value(context, &value))
            .transpose()
    }

    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        store_name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let tx = self.db.transaction(store_name).build()?;
        let store = tx.object_store(store_name)?;
        let values = store.get_all::<JsValue>().primitive()?.await?;
        values
            .map(|value| self.open_value(store_name, &value?))
            .collect::<Result<Vec<T>, StoreError>>()
    }
}

fn message_key(chat_hash: &str, seq: f64) -> JsValue {
    js_sys::Array::of2(&JsValue::from_str(chat_hash), &JsValue::from_f64(seq)).into()
}

fn crypto_key(slot: &str, key_hash: &str) -> JsValue {
    js_sys::Array::of2(&JsValue::from_str(slot), &JsValue::from_str(key_hash)).into()
}

fn slot_key(cipher: &StoreCipher, slot: u32) -> String {
    hex(&cipher.keyed_hash(b"device-slot", &slot.to_be_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Store for IdbStore {
    type Error = StoreError;

    async fn apply(&self, batch: Vec<StoreWrite>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut scope: Vec<&str> = Vec::with_capacity(ALL_STORES.len());
        for write in &batch {
            let name = match write {
                StoreWrite::PutAccount(_) => ACCOUNT,
                StoreWrite::PutChat(_) => CHATS,
                StoreWrite::PutMessages(_)
                | StoreWrite::EraseMessage { .. }
                | StoreWrite::RemoveAllMessages => MESSAGE_PAGES,
                StoreWrite::PutOutbox(_) | StoreWrite::RemoveOutbox(_) => OUTBOX,
                StoreWrite::RemoveUpload(_) => UPLOADS,
                StoreWrite::PutCrypto(_) | StoreWrite::RemoveCrypto(_) => CRYPTO,
                StoreWrite::PutDraft(_) | StoreWrite::RemoveDraft(_) => DRAFTS,
                StoreWrite::HideMessage(_) => HIDDEN,
                StoreWrite::PutSettings(_)
                | StoreWrite::PutPrivacyPending(_)
                | StoreWrite::PutDeviceSettings(_)
                | StoreWrite::PutRecentEmoji(_)
                | StoreWrite::PutSkinTone(_)
                | StoreWrite::PutMutedChats(_) => SETTINGS,
                StoreWrite::PutSearchSegment(_) | StoreWrite::RemoveSearchSegments(_) => SEARCH,
            };
            if !scope.contains(&name) {
                scope.push(name);
            }
        }
        scope.extend(pages::legacy_scope(&batch));
        let tx = self
            .db
            .transaction(scope)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        // Requests go out as they are built; the transaction commits once, at the end, so the
        // batch lands whole or not at all (dropping `tx` on an error rolls it back).
        let mut to_pages = Vec::new();
        let mut to_erase = Vec::new();
        let put_browser_record =
            |record: BrowserRecord, value: JsValue| -> Result<(), StoreError> {
                tx.object_store(SETTINGS)?
                    .put(value)
                    .with_key(self.browser_record_key(record))
                    .without_key_type()
                    .primitive()?;
                Ok(())
            };
        for write in batch {
            match write {
                StoreWrite::PutAccount(account) => {
                    let value = self.seal(ACCOUNT, &account)?;
                    tx.object_store(ACCOUNT)?
                        .put(value)
                        .with_key(self.account_key())
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::PutChat(chat) => {
                    let value = self.seal(CHATS, &chat)?;
                    tx.object_store(CHATS)?
                        .put(value)
                        .with_key(self.chat_key(chat.info.id))
                        .without_key_type()
                        .primitive()?;
                }
                // Merged into their pages below, once the batch's other writes are out.
                StoreWrite::PutMessages(messages) => to_pages.extend(messages),
                // Looked for in the chat's pages last, once the batch's messages are in them.
                StoreWrite::EraseMessage {
                    chat_id,
                    client_msg_id,
                    sender,
                } => to_erase.push((chat_id, client_msg_id, sender)),
                StoreWrite::RemoveAllMessages => pages::remove_all_messages(&tx)?,
                StoreWrite::PutOutbox(entry) => {
                    let value = self.seal(OUTBOX, &entry)?;
                    tx.object_store(OUTBOX)?
                        .put(value)
                        .with_key(self.outbox_key(&entry.client_msg_id))
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::RemoveOutbox(id) => {
                    tx.object_store(OUTBOX)?
                        .delete(self.outbox_key(&id))
                        .primitive()?;
                }
                StoreWrite::RemoveUpload(blob) => self.forget_upload(&tx, blob)?,
                StoreWrite::PutCrypto(record) => {
                    let key = self.crypto_key(&record.key);
                    let value = self.seal(CRYPTO, &StoredCryptoRecord::from(record))?;
                    tx.object_store(CRYPTO)?
                        .put(value)
                        .with_key(key)
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::RemoveCrypto(key) => {
                    tx.object_store(CRYPTO)?
                        .delete(self.crypto_key(&key))
                        .primitive()?;
                }
                StoreWrite::PutDraft(draft) => {
                    let value = self.seal(DRAFTS, &draft)?;
                    tx.object_store(DRAFTS)?
                        .put(value)
                        .with_key(self.chat_key(draft.chat_id))
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::RemoveDraft(chat) => {
                    tx.object_store(DRAFTS)?
                        .delete(self.chat_key(chat))
                        .primitive()?;
                }
                StoreWrite::HideMessage(hidden) => {
                    let value = self.seal(HIDDEN, &hidden)?;
                    tx.object_store(HIDDEN)?
                        .put(value)
                        .with_key(self.hidden_key(&hidden))
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::PutSettings(settings) => {
                    let value = self.seal(SETTINGS, &settings)?;
                    tx.object_store(SETTINGS)?
                        .put(value)
                        .with_key(self.settings_key())
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::PutPrivacyPending(pending) => {
                    put_browser_record(
                        PRIVACY_PENDING,
                        self.seal(PRIVACY_PENDING.context, &pending)?,
                    )?;
                }
                StoreWrite::PutDeviceSettings(settings) => {
                    put_browser_record(
                        DEVICE_SETTINGS,
                        self.seal(DEVICE_SETTINGS.context, &settings)?,
                    )?;
                }
                StoreWrite::PutRecentEmoji(emoji) => {
                    put_browser_record(RECENT_EMOJI, self.seal(RECENT_EMOJI.context, &emoji)?)?;
                }
                StoreWrite::PutSkinTone(tone) => {
                    put_browser_record(SKIN_TONE, self.seal(SKIN_TONE.context, &tone.index())?)?;
                }
                StoreWrite::PutMutedChats(chats) => {
                    put_browser_record(MUTED_CHATS, self.seal(MUTED_CHATS.context, &chats)?)?;
                }
                StoreWrite::PutSearchSegment(segment) => {
                    let value = self.seal(SEARCH, &segment)?;
                    tx.object_store(SEARCH)?
                        .put(value)
                        .with_key(self.search_key(segment.id))
                        .without_key_type()
                        .primitive()?;
                }
                StoreWrite::RemoveSearchSegments(ids) => {
                    let store = tx.object_store(SEARCH)?;
                    for id in ids {
                        store.delete(self.search_key(id)).primitive()?;
                    }
                }
            }
        }
        if !to_pages.is_empty() {
            self.put_in_pages(&tx, to_pages).await?;
        }
        if !to_erase.is_empty() {
            self.erase_in_pages(&tx, to_erase).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn account(&self) -> Result<Option<AccountRecord>, StoreError> {
        self.read_one(ACCOUNT, self.account_key(), ACCOUNT).await
    }

    async fn chats(&self) -> Result<Vec<ChatRecord>, StoreError> {
        self.read_all(CHATS).await
    }

    async fn messages_before(
        &self,
        chat: ChatId,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if limit == 0 || before <= Seq(1) {
            return Ok(Vec::new());
        }
        self.read_pages_before(chat, before, limit).await
    }

    async fn outbox(&self) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut entries: Vec<OutboxRecord> = self.read_all(OUTBOX).await?;
        merpati_core::sorting::sort_by_key(&mut entries, |entry| entry.order);
        Ok(entries)
    }

    async fn crypto(&self) -> Result<Vec<CryptoRecord>, StoreError> {
        let tx = self.db.transaction(CRYPTO).build()?;
        let store = tx.object_store(CRYPTO)?;
        let values = store
            .get_all::<JsValue>()
            .with_query::<JsValue, _>(self.slot_range())
            .primitive()?
            .await?;
        let mut records = Vec::new();
        for value in values {
            let stored: StoredCryptoRecord = self.open_value(CRYPTO, &value?)?;
            // A key this version does not read (a newer version wrote it) skips its record
            // rather than failing the device: at worst a key is missing and its messages wait
            // for the backup.
            if let Ok(record) = CryptoRecord::try_from(stored) {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn drafts(&self) -> Result<Vec<DraftRecord>, StoreError> {
        self.read_all(DRAFTS).await
    }

    async fn hidden(&self) -> Result<Vec<HiddenRecord>, StoreError> {
        self.read_all(HIDDEN).await
    }

    async fn settings(&self) -> Result<Option<SettingsRecord>, StoreError> {
        self.read_one(SETTINGS, self.settings_key(), SETTINGS).await
    }

    async fn privacy_pending(&self) -> Result<bool, StoreError> {
        Ok(self.browser_record(PRIVACY_PENDING).await?.unwrap_or(false))
    }

    async fn device_settings(&self) -> Result<Option<DeviceSettings>, StoreError> {
        self.browser_record(DEVICE_SETTINGS).await
    }

    async fn recent_emoji(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.browser_record(RECENT_EMOJI).await?.unwrap_or_default())
    }

    async fn skin_tone(&self) -> Result<SkinTone, StoreError> {
        let kept: Option<u8> = self.browser_record(SKIN_TONE).await?;
        Ok(kept.map(SkinTone::from_index).unwrap_or_default())
    }

    async fn muted_chats(&self) -> Result<Vec<ChatId>, StoreError> {
        Ok(self.browser_record(MUTED_CHATS).await?.unwrap_or_default())
    }

    async fn search_segments(&self) -> Result<Vec<SearchSegment>, StoreError> {
        let tx = self.db.transaction(SEARCH).build()?;
        let values = tx
            .object_store(SEARCH)?
            .get_all::<JsValue>()
            .with_query::<JsValue, _>(self.search_range())
            .primitive()?
            .await?;
        values
            .map(|value| self.open_value(SEARCH, &value?))
            .collect()
    }

    /// Deletes every record, the wrapped keys included: this store no longer opens on reload.
    async fn clear(&self) -> Result<(), StoreError> {
        clear_all(&self.db).await
    }
}
