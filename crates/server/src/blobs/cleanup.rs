//! Deleting what is due, and the check at start.
//!
//! A pass deletes the rows whose `expires_ms` has come (uploads no message carried within the
//! orphan window, and uploads whose message was deleted for everyone) in one transaction,
//! then their files: a crash in between leaves files without rows, which the check at start
//! deletes. The check at start also cuts files longer than their rows record and lowers the
//! rows of files found shorter, so that every upload resumes from bytes its file holds.

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
        let paths: Vec<_> = due.iter().map(|id| self.path(*id)).collect();
        tokio::task::spawn_blocking(move || {
            for path in &paths {
                if let Err(error) = files::remove(path) {
                    // Its row is gone: the check at the next start deletes it.
                    tracing::warn!(file = %path.display(), %error, "cannot delete a blob file");
                }
            }
        })
        .await?;
        tracing::debug!(deleted = due.len(), "blobs deleted");
        Ok(due.len())
    }

    /// Brings the blob files in line with the database before this process serves: a pass,
    /// then [`files::check`]; the files of strays whose rows are still missing when read
    /// again are deleted, and the rows of files found shorter lowered to what they hold.
    /// Other processes sharing the directory may be serving meanwhile, which is why the
    /// strays' rows are read again: an upload created since the first reading is no stray.
    pub(crate) async fn check_at_start(&self) -> Result<(), Error> {
        self.delete_due().await?;
        let received: HashMap<BlobId, u64> =
            self.storage.blobs_received().await?.into_iter().collect();
        let dir = self.dir().to_owned();
        let checked = tokio::task::spawn_blocking(move || files::check(&dir, &received)).await??;
        let mut deleted = 0;
        for id in checked.strays {
            if self.storage.blob(id).await?.is_none() {
                let path = self.path(id);
                tokio::task::spawn_blocking(move || files::remove(&path)).await??;
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
