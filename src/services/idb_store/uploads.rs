//! Files being sent: each one's ciphertext, kept for as long as its message is in the outbox
//! (the engine's `StoreWrite::RemoveUpload` lets it go), so an upload cut by a reload resumes
//! from this browser's copy, and one whose blob the server lost can start again. The bytes are
//! already sealed under the file's own key (which only the sealed outbox holds), so they are
//! stored as the browser's `Blob` — on disk, not in the worker's memory — under a keyed hash of
//! the blob's id. The tabs of one browser share the outbox: the tab uploading a file asks it
//! whether the file's message is still there ([`IdbStore::outbox_holds`]), as another tab may
//! have taken it back. Beside each copy is how much of it the server last said it held, so
//! that a page reloaded while the server cannot be reached shows the upload where it stood.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{Transaction, TransactionMode};
use merpati_protocol::{BlobId, ClientMsgId};
use wasm_bindgen::{JsCast, JsValue};

use super::schema::{OUTBOX, UPLOADS};
use super::{IdbStore, StoreError, hex};

impl IdbStore {
    /// Keeps a file's ciphertext until its message leaves the outbox, or
    /// [`IdbStore::remove_upload`].
    pub async fn put_upload(
        &self,
        blob: BlobId,
        ciphertext: &web_sys::Blob,
    ) -> Result<(), StoreError> {
        let tx = self.uploads_writer()?;
        tx.object_store(UPLOADS)?
            .put(JsValue::from(ciphertext.clone()))
            .with_key(self.upload_key(blob))
            .without_key_type()
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the outbox the tabs of this browser share holds message `id`: not once any tab
    /// took it back (cancelled its upload), or it was acknowledged.
    pub async fn outbox_holds(&self, id: ClientMsgId) -> Result<bool, StoreError> {
        let tx = self.db.transaction(OUTBOX).build()?;
        let store = tx.object_store(OUTBOX)?;
        let value: Option<JsValue> = store.get(self.outbox_key(&id)).primitive()?.await?;
        Ok(value.is_some())
    }

    /// The ciphertext kept for `blob`, if this browser holds it.
    pub async fn upload(&self, blob: BlobId) -> Result<Option<web_sys::Blob>, StoreError> {
        let tx = self.db.transaction(UPLOADS).build()?;
        let store = tx.object_store(UPLOADS)?;
        let value: Option<JsValue> = store.get(self.upload_key(blob)).primitive()?.await?;
        Ok(value.and_then(|value| value.dyn_into::<web_sys::Blob>().ok()))
    }

    /// Notes that the server holds the first `held` bytes of `blob`'s upload — if its
    /// ciphertext is still kept: one let go of meanwhile (sent, or taken back) leaves nothing.
    pub async fn note_upload_held(&self, blob: BlobId, held: u64) -> Result<(), StoreError> {
        let tx = self.uploads_writer()?;
        let store = tx.object_store(UPLOADS)?;
        let kept: Option<JsValue> = store.get(self.upload_key(blob)).primitive()?.await?;
        if kept.is_some() {
            // A double holds every byte count an upload can have exactly.
            #[allow(clippy::cast_precision_loss)]
            let held = JsValue::from_f64(held as f64);
            store
                .put(held)
                .with_key(self.upload_held_key(blob))
                .without_key_type()
                .primitive()?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How much of `blob`'s upload the server last said it held, if noted.
    pub async fn upload_held(&self, blob: BlobId) -> Result<Option<u64>, StoreError> {
        let tx = self.db.transaction(UPLOADS).build()?;
        let store = tx.object_store(UPLOADS)?;
        let value: Option<JsValue> = store.get(self.upload_held_key(blob)).primitive()?.await?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(value
            .and_then(|value| value.as_f64())
            .filter(|held| held.is_finite() && *held >= 0.0)
            .map(|held| held as u64))
    }

    /// Forgets the ciphertext of `blob`, kept for an upload whose message never entered the
    /// outbox (once it has, the engine's `StoreWrite::RemoveUpload` does).
    pub async fn remove_upload(&self, blob: BlobId) -> Result<(), StoreError> {
        let tx = self.uploads_writer()?;
        self.forget_upload(&tx, blob)?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes, in `tx`, what is kept of `blob`'s upload: its ciphertext and how much of it
    /// the server held.
    pub(super) fn forget_upload(
        &self,
        tx: &Transaction<'_>,
        blob: BlobId,
    ) -> Result<(), StoreError> {
        let store = tx.object_store(UPLOADS)?;
        store.delete(self.upload_key(blob)).primitive()?;
        store.delete(self.upload_held_key(blob)).primitive()?;
        Ok(())
    }

    fn uploads_writer(&self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .db
            .transaction(UPLOADS)
            .with_mode(TransactionMode::Readwrite)
            .build()?)
    }

    pub(super) fn upload_key(&self, blob: BlobId) -> String {
        hex(&self.cipher.keyed_hash(b"upload", &blob.0))
    }

    fn upload_held_key(&self, blob: BlobId) -> String {
        hex(&self.cipher.keyed_hash(b"upload-held", &blob.0))
    }
}
