//! Deleting what is due, and the check at start.
//!
//! A pass deletes the rows whose `expires_ms` has come (uploads no message carried within the
//! orphan window, and uploads whose message was deleted for everyone) in one transaction,
//! then their files: a crash in between leaves files without rows, which the check at start
//! deletes. The check at start also lowers the rows of files found shorter, so that every
//! upload resumes from bytes its file holds (a file longer than its row is cut by its next
//! part). A file is deleted or cut only with its lock held, deleted if no row names it but
//! one due for deletion, else cut to what its row records ([`BlobStore::settle_file`]): an
//! upload made again under the same id meanwhile keeps it, without the old bytes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use merpati_protocol::BlobId;

use super::{BlobStore, files};
use crate::Error;

impl BlobStore {
    /// Deletes the uploads due for deletion, rows first; how many.
    pub(crate) async fn delete_due(&self) -> Result<usize, Error> {
        let due = self.storage.take_due_blobs().await?;
        if due.is_empty() {
            return Ok(0);
        }
        for id in &due {
            if let Err(error) = self.settle_file(*id).await {
                // Its row is gone: the check at the next start deletes it.
                tracing::warn!(blob = %id.to_hex(), %error, "cannot delete a blob file");
            }
        }
        tracing::debug!(deleted = due.len(), "blobs deleted");
        Ok(due.len())
    }

    /// Brings an upload's file in line with its row: deletes it if no row names it, or only
    /// one due for deletion (whose next pass deletes the row; `Storage::blob`), and cuts it to
    /// what the row records if it holds more. Both under the file's lock, the row read then:
    /// no part is written to it meanwhile, and a part records what it kept before it lets go,
    /// so what the file holds past the row is bytes no one recorded — such as those of a due
    /// upload that a new one of the same id replaced (`storage::sql::blobs::create`), counted
    /// by no quota. An upload made again under the same id (a client whose upload was deleted
    /// as an orphan starts it anew) so keeps its file, without the old bytes. A file a part
    /// holds is left to the part, which calls this itself once it kept nothing or found its
    /// upload gone or replaced. Answers whether it deleted the file.
    pub(super) async fn settle_file(&self, id: BlobId) -> Result<bool, Error> {
        let path = self.path(id);
        let locked = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || files::lock_to_remove(&path)).await??
        };
        let files::ToRemove::Locked(file) = locked else {
            return Ok(false);
        };
        if let Some(row) = self.storage.blob(id).await? {
            tokio::task::spawn_blocking(move || files::cut_to(&file, row.received)).await??;
            return Ok(false);
        }
        tokio::task::spawn_blocking(move || {
            let removed = files::remove(&path);
            drop(file);
            removed
        })
        .await??;
        Ok(true)
    }

    /// Brings the blob files in line with the database before this process serves: a pass,
    /// then [`files::check`]; the files of strays whose rows are still missing when read
    /// again are deleted, and the rows of files found shorter lowered to what they hold.
    /// Other processes sharing the directory may be serving meanwhile, which is why the
    /// strays' rows are read again, under each file's lock: an upload created since the first
    /// reading is no stray.
    pub(crate) async fn check_at_start(&self) -> Result<(), Error> {
        self.delete_due().await?;
        let received: HashMap<BlobId, u64> =
            self.storage.blobs_received().await?.into_iter().collect();
        let dir = self.dir().to_owned();
        let checked = tokio::task::spawn_blocking(move || files::check(&dir, &received)).await??;
        let mut deleted = 0;
        for id in checked.strays {
            if self.settle_file(id).await? {
                deleted += 1;
            }
        }
        for (id, holds) in &checked.shorter {
            tracing::warn!(
                blob = %id.to_hex(),
                holds,
                "a blob file holds less than recorded; the rest will be uploaded again"
            );
            self.storage.lower_blob_received(*id, *holds).await?;
        }
        if deleted > 0 {
            tracing::info!(deleted, "blob files without rows deleted");
        }
        Ok(())
    }
}

/// Runs a pass every `interval` until shutdown.
pub(crate) async fn run_passes(store: Arc<BlobStore>, interval: Duration) {
    let shutdown = store.shutdown.clone();
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = store.delete_due().await {
            tracing::warn!(%error, "a blob cleanup pass failed; the next one tries again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::testing::{TestResult, TestStore};

    /// A pass took the row of an orphan, and its client made the upload again under the same
    /// id before the pass reached the file: the new upload keeps the file. A file a part is
    /// being written to is left until the part lets go.
    #[tokio::test]
    async fn a_file_is_deleted_only_unlocked_and_named_by_no_row() -> TestResult {
        let test = TestStore::new().await?;
        let store = &test.store;
        let id = BlobId([9; 16]);
        test.create(id, 10, 0).await?;
        std::fs::write(store.path(id), b"old")?;
        assert_eq!(store.storage.take_due_blobs().await?, vec![id]);
        test.create(id, 10, 86_400_000).await?;
        store.settle_file(id).await?;
        assert!(store.path(id).exists(), "the upload made again keeps it");

        // A part holds the file of an upload whose row a pass took: left to the part, then
        // deleted once it lets go.
        let held = BlobId([8; 16]);
        test.create(held, 1, 0).await?;
        let part = files::open_locked(&store.path(held)).map_err(|error| format!("{error:?}"))?;
        assert_eq!(store.storage.take_due_blobs().await?, vec![held]);
        store.settle_file(held).await?;
        assert!(store.path(held).exists(), "a part holds it");
        drop(part);
        store.settle_file(held).await?;
        assert!(!store.path(held).exists(), "no row, no part: deleted");
        test.join();
        Ok(())
    }
}
