//! The outbox the tabs of one browser share, as the one place that decides whether a message
//! with a file goes out. Each tab's engine keeps its own copy of the outbox, read from here
//! when it starts and when a connection opens, so two tabs may each hold the same message: one
//! about to send it, the other about to take it back (cancel its upload). Sending claims it
//! here first, in one transaction that finds it still in the outbox and marks it sent
//! ([`IdbStore::claim_for_sending`]); a message gone from here by then was taken back in
//! another tab (or sent and acknowledged there), and is not sent.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_core::OutboxRecord;
use merpati_protocol::ClientMsgId;
use wasm_bindgen::JsValue;

use super::schema::OUTBOX;
use super::{IdbStore, StoreError};

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
}
