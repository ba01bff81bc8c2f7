//! The outbox the tabs of one browser share, as the one place that decides whether a message
//! with a file goes out. Each tab's engine keeps its own copy of the outbox, read from here
//! when it starts and when a connection opens, so two tabs may each hold the same message: one
//! about to send it, the other about to take it back (cancel its upload). Sending claims it
//! here first, in one transaction that finds it still in the outbox and marks it sent
//! ([`IdbStore::claim_for_sending`]); a message gone from here by then was taken back in
//! another tab (or sent and acknowledged there), and is not sent. Taking back is decided here
//! too, in one transaction that removes the message only if no tab claimed it
//! ([`IdbStore::take_back_unsent`]); a message gone by then was taken back in another tab, or
//! delivered — which the chat's stored messages tell apart.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_core::OutboxRecord;
use merpati_protocol::{ChatId, ClientMsgId};
use wasm_bindgen::JsValue;

use super::schema::{MESSAGE_PAGES, OUTBOX};
use super::{IdbStore, StoreError};

/// What taking back a message with a file found in the shared outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakingBack {
    /// It waited for its upload: it is taken back, and no tab sends it.
    TakenBack,
    /// A tab claimed it for sending, or it was delivered: it stays, on its way.
    AlreadySent,
    /// Another tab took it back already.
    Gone,
}

impl IdbStore {
    /// Claims message `id` for sending: in one transaction, finds it still in the shared
    /// outbox and keeps it marked sent — as `as_sent` says, the engine's record of it if the
    /// step sending it changed it, or as stored with `sent` set. From then on a cancel in any
    /// tab is refused. `Ok(false)`: it is gone, and must not go out (nor be written back).
    pub async fn claim_for_sending(
        &self,
        id: ClientMsgId,
        as_sent: Option<&OutboxRecord>,
    ) -> Result<bool, StoreError> {
        let tx = self
            .db
            .transaction(OUTBOX)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(OUTBOX)?;
        let key = self.outbox_key(&id);
        let stored: Option<JsValue> = store.get(key.clone()).primitive()?.await?;
        let Some(stored) = stored else {
            return Ok(false);
        };
        let record = match as_sent {
            Some(record) => record.clone(),
            None => {
                let mut record: OutboxRecord = self.open_value(OUTBOX, &stored)?;
                if record.sent {
                    return Ok(true);
                }
                record.sent = true;
                record
            }
        };
        store
            .put(self.seal(OUTBOX, &record)?)
            .with_key(key)
            .without_key_type()
            .primitive()?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes message `id` of `chat` back from the shared outbox, in one transaction, unless
    /// a tab claimed it for sending ([`IdbStore::claim_for_sending`]). One no longer there
    /// was delivered if the chat's stored messages hold it (the tab that heard so stored it in
    /// the transaction that removed it from the outbox), and was taken back otherwise.
    pub async fn take_back_unsent(
        &self,
        chat: ChatId,
        id: ClientMsgId,
    ) -> Result<TakingBack, StoreError> {
        let tx = self
            .db
            .transaction([OUTBOX, MESSAGE_PAGES])
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(OUTBOX)?;
        let key = self.outbox_key(&id);
        let stored: Option<JsValue> = store.get(key.clone()).primitive()?.await?;
        let found = match stored {
            Some(stored) => {
                let record: OutboxRecord = self.open_value(OUTBOX, &stored)?;
                if record.sent {
                    TakingBack::AlreadySent
                } else {
                    store.delete(key).primitive()?;
                    TakingBack::TakenBack
                }
            }
            None if self.pages_hold(&tx, chat, id).await? => TakingBack::AlreadySent,
            None => TakingBack::Gone,
        };
        tx.commit().await?;
        Ok(found)
    }
}
