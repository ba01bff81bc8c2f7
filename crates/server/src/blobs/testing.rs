//! What the blob store's unit tests share: a store on a real SQLite database and blob
//! directory in a temporary directory, with one account to own uploads.

use std::sync::Arc;

use merpati_protocol::{BlobId, UserId, Username};

use super::BlobStore;
use crate::auth::SessionKeys;
use crate::config::{Config, Durability};
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::storage::{NewBlob, Storage, WriterThread};

/// A failure of a test's set-up or steps.
pub(super) type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A blob store and what it stands on; `join` when done, after dropping the store.
pub(super) struct TestStore {
    pub(super) store: BlobStore,
    /// The account that owns the test's uploads.
    pub(super) alice: UserId,
    writer: WriterThread,
    _data: tempfile::TempDir,
}

impl TestStore {
    pub(super) async fn new() -> TestResult<TestStore> {
        let data = tempfile::tempdir()?;
        let (storage, writer) = Storage::open(data.path(), Durability::Full)?;
        let store = BlobStore::open(
            storage.clone(),
            &Config::new(data.path(), data.path()),
            Arc::new(Counters::default()),
            Shutdown::new(),
        )?;
        let alice = storage
            .register(
                Username::parse("alice")?,
                [7; 32],
                None,
                SessionKeys::of(&[1; 32]),
                None,
            )
            .await?;
        Ok(TestStore {
            store,
            alice: alice.id,
            writer,
            _data: data,
        })
    }

    /// alice creates upload `id` of `length` bytes, due for deletion `orphan_ms` after now.
    pub(super) async fn create(&self, id: BlobId, length: u64, orphan_ms: u64) -> TestResult {
        self.store
            .storage
            .create_blob(NewBlob {
                id,
                owner: self.alice,
                length,
                quota: 100,
                open_cap: 0,
                orphan_ms,
            })
            .await?;
        Ok(())
    }

    /// alice's upload `id` of `length` bytes (kept a day) holding `bytes`, as a part that was
    /// written and recorded leaves it.
    pub(super) async fn holding(&self, id: BlobId, length: u64, bytes: &[u8]) -> TestResult {
        self.create(id, length, 86_400_000).await?;
        std::fs::write(self.store.path(id), bytes)?;
        let held = u64::try_from(bytes.len())?;
        if !self
            .store
            .storage
            .record_blob_received(id, self.alice, 0, held)
            .await?
        {
            return Err("the bytes were not recorded".into());
        }
        Ok(())
    }

    /// Ends the test: the store goes, then the database's writer thread.
    pub(super) fn join(self) {
        drop(self.store);
        self.writer.join();
    }
}
