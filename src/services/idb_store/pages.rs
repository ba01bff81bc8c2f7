//! Messages in pages: one sealed record holds the stored messages of a chat whose sequence
//! numbers share a page (`seq / PAGE`), so a catch-up page of 500 messages costs a handful of
//! IndexedDB records instead of 500 — IndexedDB's cost per record is most of what storing
//! messages costs (bench/NOTES.md).
//!
//! Writing merges into the page's record inside the batch's transaction (read, replace by
//! sequence, write back), so a message put again replaces the stored one, as before. Stores
//! written by schema 4 and older kept one record per message in `messages`; they are still
//! read, and a message in a page wins over the same message there (pages are written later).
//! Erasing a message the engine knows by its id alone (deleted for everyone, not loaded) opens
//! every page of its chat, and its chat's records of older schemas, to find it; deletions are
//! rare. Removing every message (the
//! server's storage epoch changed) clears both stores, before the batch's messages go in.

use std::collections::BTreeMap;

use indexed_db_futures::KeyRange;
use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use merpati_core::{MessageRecord, StoreWrite};
use merpati_protocol::content::is_system_body;
use merpati_protocol::{ChatId, ClientMsgId, Seq, UserId};
use wasm_bindgen::JsValue;

use super::{IdbStore, MESSAGE_PAGES, MESSAGES, StoreError, message_key};

/// How many sequence numbers one page record spans.
const PAGE: u64 = 64;

fn page_of(seq: Seq) -> u64 {
    seq.0 / PAGE
}

/// The store a batch needs besides the ones its writes name: `messages`, whose records of
/// older schemas `StoreWrite::RemoveAllMessages` and `StoreWrite::EraseMessage` delete too.
pub(super) fn legacy_scope(batch: &[StoreWrite]) -> Option<&'static str> {
    batch
        .iter()
        .any(|write| {
            matches!(
                write,
                StoreWrite::RemoveAllMessages | StoreWrite::EraseMessage { .. }
            )
        })
        .then_some(MESSAGES)
}

/// Deletes, within `tx` (which spans `message_pages` and `messages`), every stored message
/// (`StoreWrite::RemoveAllMessages`). Requests run in order: the batch's own messages, put
/// into their pages after its other writes, stay.
pub(super) fn remove_all_messages(tx: &Transaction<'_>) -> Result<(), StoreError> {
    for name in [MESSAGE_PAGES, MESSAGES] {
        let _request = tx.object_store(name)?.clear()?;
    }
    Ok(())
}

impl IdbStore {
    fn page_key(&self, chat: ChatId, page: u64) -> JsValue {
        message_key(&self.chat_key(chat), page as f64)
    }

    /// Writes `messages` into their pages within `tx` (which spans `message_pages`); later
    /// messages of the batch replace earlier ones with the same sequence number.
    pub(super) async fn put_in_pages(
        &self,
        tx: &Transaction<'_>,
        messages: Vec<MessageRecord>,
    ) -> Result<(), StoreError> {
        let mut pages: BTreeMap<(ChatId, u64), Vec<MessageRecord>> = BTreeMap::new();
        for message in messages {
            pages
                .entry((message.chat_id, page_of(message.seq)))
                .or_default()
                .push(message);
        }
        let store = tx.object_store(MESSAGE_PAGES)?;
        for ((chat, page), added) in pages {
            let key = self.page_key(chat, page);
            let held: Option<JsValue> = store.get(key.clone()).primitive()?.await?;
            let mut by_seq: BTreeMap<Seq, MessageRecord> = match held {
                Some(value) => merpati_core::sorting::map_from(
                    self.open_value::<Vec<MessageRecord>>(MESSAGE_PAGES, &value)?
                        .into_iter()
                        .map(|message| (message.seq, message)),
                ),
                None => BTreeMap::new(),
            };
            for message in added {
                by_seq.insert(message.seq, message);
            }
            let records: Vec<MessageRecord> = by_seq.into_values().collect();
            let value = self.seal(MESSAGE_PAGES, &records)?;
            store
                .put(value)
                .with_key(key)
                .without_key_type()
                .primitive()?;
        }
        Ok(())
    }

    /// Empties, within `tx` (which spans `message_pages` and `messages`), the body of each
    /// message named `(chat, id, sender)` in `erased` that `sender` sent, wherever in its
    /// chat's pages it is (`StoreWrite::EraseMessage`). One an older schema stored in a record
    /// of its own is written, emptied, into its page, and its record deleted: its ciphertext
    /// is kept nowhere.
    pub(super) async fn erase_in_pages(
        &self,
        tx: &Transaction<'_>,
        erased: Vec<(ChatId, ClientMsgId, UserId)>,
    ) -> Result<(), StoreError> {
        let pages = tx.object_store(MESSAGE_PAGES)?;
        for (chat, id, sender) in erased {
            let range = KeyRange::Bound(
                self.page_key(chat, 0),
                false,
                self.page_key(chat, page_of(Seq(u64::MAX))),
                false,
            );
            let mut emptied = Vec::new();
            if let Some(mut cursor) = pages
                .open_cursor()
                .with_query::<JsValue, _>(range)
                .with_direction(CursorDirection::Next)
                .primitive()?
                .await?
            {
                while let Some(value) = cursor.next_record::<JsValue>().await? {
                    let page: Vec<MessageRecord> = self.open_value(MESSAGE_PAGES, &value)?;
                    emptied.extend(
                        page.into_iter()
                            .filter(|message| {
                                message.client_msg_id == id
                                    && message.sender == sender
                                    && !message.body.is_empty()
                                    && !is_system_body(&message.body)
                            })
                            .map(|message| MessageRecord {
                                body: Vec::new(),
                                ..message
                            }),
                    );
                }
            }
            self.erase_of_older_schema(tx, chat, id, sender, &mut emptied)
                .await?;
            if !emptied.is_empty() {
                self.put_in_pages(tx, emptied).await?;
            }
        }
        Ok(())
    }

    /// Deletes, within `tx`, the record an older schema kept of message `id` of `chat`, if
    /// `sender` sent it, adding it emptied to `emptied`.
    async fn erase_of_older_schema(
        &self,
        tx: &Transaction<'_>,
        chat: ChatId,
        id: ClientMsgId,
        sender: UserId,
        emptied: &mut Vec<MessageRecord>,
    ) -> Result<(), StoreError> {
        let chat_hash = self.chat_key(chat);
        let range = KeyRange::Bound(
            message_key(&chat_hash, 0.0),
            false,
            message_key(&chat_hash, u64::MAX as f64),
            false,
        );
        let legacy = tx.object_store(MESSAGES)?;
        let mut found = None;
        if let Some(mut cursor) = legacy
            .open_cursor()
            .with_query::<JsValue, _>(range)
            .primitive()?
            .await?
        {
            while let Some(value) = cursor.next_record::<JsValue>().await? {
                let message: MessageRecord = self.open_value(MESSAGES, &value)?;
                if message.client_msg_id == id && message.sender == sender {
                    found = Some(message);
                    break;
                }
            }
        }
        if let Some(message) = found {
            legacy
                .delete(message_key(&chat_hash, message.seq.0 as f64))
                .primitive()?;
            emptied.push(MessageRecord {
                body: Vec::new(),
                ..message
            });
        }
        Ok(())
    }

    /// Whether, within `tx` (which spans `message_pages`), a page of `chat` holds message
    /// `id`: it was delivered. Newest page first, where a message just delivered is.
    pub(super) async fn pages_hold(
        &self,
        tx: &Transaction<'_>,
        chat: ChatId,
        id: ClientMsgId,
    ) -> Result<bool, StoreError> {
        let range = KeyRange::Bound(
            self.page_key(chat, 0),
            false,
            self.page_key(chat, page_of(Seq(u64::MAX))),
            false,
        );
        let pages = tx.object_store(MESSAGE_PAGES)?;
        let Some(mut cursor) = pages
            .open_cursor()
            .with_query::<JsValue, _>(range)
            .with_direction(CursorDirection::Prev)
            .primitive()?
            .await?
        else {
            return Ok(false);
        };
        while let Some(value) = cursor.next_record::<JsValue>().await? {
            let page: Vec<MessageRecord> = self.open_value(MESSAGE_PAGES, &value)?;
            if page.iter().any(|message| message.client_msg_id == id) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Up to `limit` messages of `chat` below `before`, the newest such, in ascending order:
    /// from the pages, and from the per-message records of older schemas.
    pub(super) async fn read_pages_before(
        &self,
        chat: ChatId,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let below = Seq(before.0 - 1);
        let tx = self.db.transaction([MESSAGE_PAGES, MESSAGES]).build()?;
        let mut found: BTreeMap<Seq, MessageRecord> = BTreeMap::new();
        let pages = tx.object_store(MESSAGE_PAGES)?;
        let range = KeyRange::Bound(
            self.page_key(chat, 0),
            false,
            self.page_key(chat, page_of(below)),
            false,
        );
        // Newest page first; every page below the limit-th message found can stop the walk.
        if let Some(mut cursor) = pages
            .open_cursor()
            .with_query::<JsValue, _>(range)
            .with_direction(CursorDirection::Prev)
            .primitive()?
            .await?
        {
            while found.len() < limit {
                let Some(value) = cursor.next_record::<JsValue>().await? else {
                    break;
                };
                let page: Vec<MessageRecord> = self.open_value(MESSAGE_PAGES, &value)?;
                found.extend(
                    page.into_iter()
                        .filter(|message| message.seq < before)
                        .map(|message| (message.seq, message)),
                );
            }
        }
        let chat_hash = self.chat_key(chat);
        let legacy = KeyRange::Bound(
            message_key(&chat_hash, 0.0),
            false,
            message_key(&chat_hash, before.0 as f64),
            true,
        );
        let mut older_schema = 0;
        if let Some(mut cursor) = tx
            .object_store(MESSAGES)?
            .open_cursor()
            .with_query::<JsValue, _>(legacy)
            .with_direction(CursorDirection::Prev)
            .primitive()?
            .await?
        {
            while older_schema < limit {
                let Some(value) = cursor.next_record::<JsValue>().await? else {
                    break;
                };
                let message: MessageRecord = self.open_value(MESSAGES, &value)?;
                older_schema += 1;
                found.entry(message.seq).or_insert(message);
            }
        }
        let skip = found.len().saturating_sub(limit);
        Ok(found.into_values().skip(skip).collect())
    }
}
