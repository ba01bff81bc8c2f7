//! What storage keeps of uploaded files (their rows; the bytes are files, `crate::blobs`),
//! and the session an HTTP request is made in.
//!
//! Creating an upload, recording bytes made durable and deleting the due ones go through the
//! writer like every write, so that the quota check and the insert, or the deletion and what
//! it returns, are one transaction; the rest are reads.

use merpati_protocol::{BlobId, UserId};

use super::{SESSION_IDLE_LIMIT_MS, Storage, on_backend, sql, writer};
use crate::Error;
pub(crate) use sql::blobs::{BlobRow, Created, NewBlob};

impl Storage {
    /// The account whose session `token` is (its current token or the one before the last
    /// rotation, as a WebSocket resume accepts); `None` for an unknown, ended or expired
    /// session. Reads only: an HTTP request neither rotates the token nor counts as use.
    pub(crate) async fn account_of_token(&self, token: [u8; 32]) -> Result<Option<UserId>, Error> {
        let presented_hash = crate::auth::token_hash(&token);
        let found = self.find_session_only(presented_hash).await?;
        let now = i64::try_from(writer::now_ms()).unwrap_or(i64::MAX);
        Ok(found
            .filter(|found| now.saturating_sub(found.last_used_ms) <= SESSION_IDLE_LIMIT_MS)
            .map(|found| found.member.id))
    }

    /// Creates an upload, or says where the same account's upload of that id stands.
    pub(crate) fn create_blob(&self, new: NewBlob) -> impl Future<Output = Result<Created, Error>> {
        on_backend!(self, write | now | blobs::create(&new, now))
    }

    /// The upload of this id, if there is one not due for deletion: one due is gone to whoever
    /// reaches it, before a pass deletes it as after (`sql::blobs`).
    pub(crate) fn blob(&self, id: BlobId) -> impl Future<Output = Result<Option<BlobRow>, Error>> {
        let now = i64::try_from(writer::now_ms()).unwrap_or(i64::MAX);
        on_backend!(self, read blobs::find(id, now))
    }

    /// Records that `owner`'s upload's file durably holds `to` bytes, if it was recorded at
    /// `from`; `false` if it was not (or is gone, due for deletion, or another account's now).
    pub(crate) fn record_blob_received(
        &self,
        id: BlobId,
        owner: UserId,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<bool, Error>> {
        on_backend!(
            self,
            write | now | blobs::record_received(id, owner, from, to, now)
        )
    }

    /// Makes an upload due for deletion now, as the end of its orphan window would.
    #[cfg(test)]
    pub(crate) fn make_blob_due(&self, id: BlobId) -> impl Future<Output = Result<(), Error>> {
        on_backend!(self, write | now | blobs::make_due(id, now))
    }

    /// Deletes the rows of the uploads due for deletion; their ids (their files go next).
    pub(crate) fn take_due_blobs(&self) -> impl Future<Output = Result<Vec<BlobId>, Error>> {
        on_backend!(self, write | now | blobs::take_due(now))
    }

    /// Every upload with the bytes its file durably holds.
    pub(crate) fn blobs_received(&self) -> impl Future<Output = Result<Vec<(BlobId, u64)>, Error>> {
        on_backend!(self, read blobs::all_received())
    }

    /// Lowers what an upload is recorded to hold to `to` bytes (its file was found shorter).
    pub(crate) fn lower_blob_received(
        &self,
        id: BlobId,
        to: u64,
    ) -> impl Future<Output = Result<(), Error>> {
        on_backend!(self, write | _now | blobs::lower_received(id, to))
    }
}
