//! The outbox the tabs of one browser share, as the one place that decides whether a message
//! with a file goes out. Each tab's engine keeps its own copy of the outbox, read from here
//! when it starts and when a connection opens, so two tabs may each hold the same message: one
//! about to send it, the other about to take it back (cancel its upload). Sending claims it
//! here first, in one transaction that finds it still in the outbox and marks it sent
//! ([`IdbStore::claim_for_sending`]); a message gone from here by then was taken back in
//! another tab, and is not sent — or was delivered (sent from another tab and heard stored
//! there), and stays on its way. Taking back is decided here too, in one transaction that
//! removes the message only if no tab claimed it ([`IdbStore::take_back_unsent`]). A message
//! gone is told delivered or taken back by the chat's stored messages: the tab that hears one
//! stored writes it there in the transaction that removes it from the outbox. A tab whose turn
//! to go on with an upload comes asks here first where its message stands
//! ([`IdbStore::standing`]): one claimed or delivered needs no upload from it.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{Transaction, TransactionMode};
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

/// Where a message with a file stands in the shared outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// In the outbox, waiting for its upload: no tab claimed it.
    Waiting,
    /// In the outbox, claimed for sending by a tab (marked sent).
    Claimed,
    /// Gone from the outbox into its chat's stored messages: a tab heard it was stored.
    Delivered,
    /// Gone, and not among its chat's stored messages: a tab took it back.
    TakenBack,
}

impl IdbStore {
    /// Claims message `id` of `chat` for sending: in one transaction, finds it still in the
    /// shared outbox and keeps it marked sent — as `as_sent` says, the engine's record of it if
    /// the step sending it changed it, or as stored with `sent` set. From then on a cancel in
    /// any tab is refused. Answers where it stands after the claim: [`Standing::Claimed`], or,
    /// gone, [`Standing::Delivered`] (it may go again: the server acknowledges a stored
    /// message again) or [`Standing::TakenBack`] (it must not go) — either way its record
    /// is not written back.
    pub async fn claim_for_sending(
        &self,
        chat: ChatId,
        id: ClientMsgId,
        as_sent: Option<&OutboxRecord>,
    ) -> Result<Standing, StoreError> {
        let tx = self
            .db
            .transaction([OUTBOX, MESSAGE_PAGES])
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(OUTBOX)?;
        let key = self.outbox_key(&id);
        let stored: Option<JsValue> = store.get(key.clone()).primitive()?.await?;
        let Some(stored) = stored else {
            return self.gone_as(&tx, chat, id).await;
        };
        let record = match as_sent {
            Some(record) => record.clone(),
            None => {
                let mut record: OutboxRecord = self.open_value(OUTBOX, &stored)?;
                if record.sent {
                    return Ok(Standing::Claimed);
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
        Ok(Standing::Claimed)
    }

    /// Where message `id` of `chat` stands in the shared outbox now.
    pub async fn standing(&self, chat: ChatId, id: ClientMsgId) -> Result<Standing, StoreError> {
        let tx = self.db.transaction([OUTBOX, MESSAGE_PAGES]).build()?;
        let stored: Option<JsValue> = tx
            .object_store(OUTBOX)?
            .get(self.outbox_key(&id))
            .primitive()?
            .await?;
        match stored {
            Some(stored) => {
                let record: OutboxRecord = self.open_value(OUTBOX, &stored)?;
                Ok(if record.sent {
                    Standing::Claimed
                } else {
                    Standing::Waiting
                })
            }
            None => self.gone_as(&tx, chat, id).await,
        }
    }

    /// Stores `record` in place of the shared outbox's record of its message, in one
    /// transaction, only if the outbox still holds that message: a record another tab removed
    /// (taking the message back, or hearing it delivered) is not put back. Answers whether it
    /// was stored.
    pub async fn rewrite_if_held(&self, record: &OutboxRecord) -> Result<bool, StoreError> {
        let tx = self
            .db
            .transaction(OUTBOX)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(OUTBOX)?;
        let key = self.outbox_key(&record.client_msg_id);
        let stored: Option<JsValue> = store.get(key.clone()).primitive()?.await?;
        if stored.is_none() {
            return Ok(false);
        }
        store
            .put(self.seal(OUTBOX, record)?)
            .with_key(key)
            .without_key_type()
            .primitive()?;
        tx.commit().await?;
        Ok(true)
    }

    /// How message `id` of `chat`, which the outbox no longer holds within `tx` (spanning
    /// `message_pages` too), left it: delivered if the chat's stored messages hold it.
    async fn gone_as(
        &self,
        tx: &Transaction<'_>,
        chat: ChatId,
        id: ClientMsgId,
    ) -> Result<Standing, StoreError> {
        Ok(if self.pages_hold(tx, chat, id).await? {
            Standing::Delivered
        } else {
            Standing::TakenBack
        })
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
            None => match self.gone_as(&tx, chat, id).await? {
                Standing::Delivered => TakingBack::AlreadySent,
                _ => TakingBack::Gone,
            },
        };
        tx.commit().await?;
        Ok(found)
    }
}
