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

/// What [`BlobStore::settle_file`] did with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// Deleted: no row names it, or only one due for deletion.
    Deleted,
    /// Kept, cut to what its row records; or there was no file.
    Kept,
    /// A part holds it.
    Held,
}

impl BlobStore {
    /// Deletes the uploads due for deletion, rows first; how many. The files of those whose
    /// rows it takes while a part holds them are settled again by the next pass: a part that
    /// recorded its bytes before the row was taken does not know to (`part::receive`), and the
    /// file would stay, named by no row and counted in no quota, until the next start.
    pub(crate) async fn delete_due(&self) -> Result<usize, Error> {
        let due = self.storage.take_due_blobs().await?;
        let left = std::mem::take(&mut *self.left_to_parts());
        let mut held = Vec::new();
        for id in due.iter().chain(&left) {
            match self.settle_file(*id).await {
                Ok(Settled::Held) => held.push(*id),
                Ok(Settled::Deleted | Settled::Kept) => {}
                Err(error) => {
                    // Its row is gone: the check at the next start deletes it.
                    tracing::warn!(blob = %id.to_hex(), %error, "cannot delete a blob file");
                }
            }
        }
        self.left_to_parts().extend(held);
        if !due.is_empty() {
            tracing::debug!(deleted = due.len(), "blobs deleted");
        }
        Ok(due.len())
    }

    /// The files the last pass found held by a part.
    fn left_to_parts(&self) -> std::sync::MutexGuard<'_, Vec<BlobId>> {
        // A panic while holding it left a list of ids: still a list of ids.
        self.left_to_parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    /// upload gone or replaced — and to the next pass, when a pass took its row.
    pub(super) async fn settle_file(&self, id: BlobId) -> Result<Settled, Error> {
        let path = self.path(id);
        let locked = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || files::lock_to_remove(&path)).await??
        };
        let file = match locked {
            files::ToRemove::Locked(file) => file,
            files::ToRemove::Busy => return Ok(Settled::Held),
            files::ToRemove::Absent => return Ok(Settled::Kept),
        };
        if let Some(row) = self.storage.blob(id).await? {
            tokio::task::spawn_blocking(move || files::cut_to(&file, row.received)).await??;
            return Ok(Settled::Kept);
        }
        tokio::task::spawn_blocking(move || {
            let removed = files::remove(&path);
            drop(file);
            removed
        })
        .await??;
        Ok(Settled::Deleted)
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
            if self.settle_file(id).await? == Settled::Deleted {
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

    /// A part recorded its bytes, and a pass took the upload's row (its orphan window ended)
    /// before the part let go of the file: the part, having recorded, does not look again,
    /// so the next pass deletes the file.
    #[tokio::test]
    async fn a_file_a_part_held_when_a_pass_took_its_row_goes_at_the_next_pass() -> TestResult {
        let test = TestStore::new().await?;
        let store = &test.store;
        let id = BlobId([7; 16]);
        test.holding(id, 10, b"0123456789").await?;
        let part = files::open_locked(&store.path(id)).map_err(|error| format!("{error:?}"))?;
        store.storage.make_blob_due(id).await?;
        assert_eq!(store.delete_due().await?, 1);
        assert!(store.path(id).exists(), "a part holds it");
        drop(part);

        assert_eq!(store.delete_due().await?, 0, "no row left to take");
        assert!(!store.path(id).exists(), "deleted by the next pass");
        // Settled once: the pass after has nothing left of it.
        assert!(store.left_to_parts().is_empty());
        test.join();
        Ok(())
    }
}
