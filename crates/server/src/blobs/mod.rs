//! Uploaded files: the ciphertext of attachments ("blobs"), which the browser encrypts before
//! it uploads and decrypts after it downloads, stored as one file each in `<data>/blobs/`
//! (named by the id's 32 hex digits) with a row each in the database (`storage::sql::blobs`).
//!
//! The contract is `merpati_protocol::blobs` and `docs/protocol.md` ("Files"): `PUT` creates
//! an upload within the account's quota and its cap of uploads no message carries yet, `HEAD`
//! says how far it got, `PATCH` appends a part at
//! exactly that offset, `GET` serves a complete blob to any signed-in session. A `Send` naming
//! the upload links it to its message; an upload no message carries, or whose message was
//! deleted for everyone, is deleted by the next cleanup pass. Each account's requests, all
//! four methods together, are limited to a rate (429 past it).
//!
//! What is durable: a part is written and `fsync`ed before its new offset is recorded, so the
//! recorded offset never exceeds what the file durably holds, whenever the process dies. A
//! tail past the recorded offset (bytes whose recording never happened) is cut before the
//! next part is written, with the file locked: processes sharing the directory (a cluster)
//! never cut each other's part. A part is written as it arrives, so what a request holds in
//! memory does not grow with its part. A row is deleted before its file, a file only under its
//! lock and while no row names it (one a part held when its row went is deleted by the part
//! or the next pass), and files without a row are deleted at start.
//!
//! # Layout
//! - this file: [`BlobStore`], what the routes, the cleanup and the start share.
//! - `routes`: the HTTP side: authentication, the four methods, and their status codes.
//! - `part`: one `PATCH`'s bytes, streamed into the file, and what is kept when it breaks off.
//! - `files`: the files themselves: opening one for a part, checking them against the rows.
//! - `cleanup`: the check at start and the periodic pass that deletes what is due.
//! - `pacing`: how fast one account's upload bytes are taken, when the operator paces them.
//! - `testing` (tests only): a store on a real database in a temporary directory.

mod cleanup;
mod files;
mod pacing;
mod part;
mod routes;
#[cfg(test)]
mod testing;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use merpati_protocol::{BlobId, UserId};

use crate::Error;
use crate::config::Config;
use crate::least_rate::LeastRate;
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::storage::Storage;
use crate::throttle::{Rate, TABLE_CAPACITY, Throttle};

pub(crate) use cleanup::run_passes;
pub(crate) use routes::blob_routes;

/// The directory of the blob files, inside the data directory.
pub(crate) const BLOBS_DIR: &str = "blobs";

/// What every blob request, the cleanup and the check at start share.
#[derive(Debug)]
pub(crate) struct BlobStore {
    storage: Storage,
    dir: PathBuf,
    /// The most bytes one account's uploads may hold together.
    quota: u64,
    /// The most uploads no message carries one account may hold at once (0: no cap).
    open_cap: u64,
    /// Every request of one account, all methods together: each costs the server a read or a
    /// write, and a part an `fsync` too.
    requests: Throttle<UserId>,
    /// How long an upload no message carries is kept, from its creation.
    orphan_ms: u64,
    pacer: pacing::UploadPacer,
    /// How slowly a part may arrive before it is ended, keeping what arrived: nothing for
    /// `blob_part_idle_ms`, or less than the least rate beyond it.
    part_rate: LeastRate,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    /// Files a cleanup pass found held by a part after it took their rows: settled again by
    /// the next pass (`cleanup`).
    left_to_parts: std::sync::Mutex<Vec<BlobId>>,
}

impl BlobStore {
    /// The store of the data directory `config.data` (its `blobs/` made if missing).
    pub(crate) fn open(
        storage: Storage,
        config: &Config,
        counters: Arc<Counters>,
        shutdown: Shutdown,
    ) -> Result<BlobStore, Error> {
        let dir = config.data.join(BLOBS_DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(BlobStore {
            storage,
            dir,
            quota: config.blob_quota_bytes,
            open_cap: config.blob_open_uploads,
            requests: Throttle::new(
                Rate {
                    per_minute: config.blob_requests_per_minute,
                    burst: config.blob_request_burst,
                },
                TABLE_CAPACITY,
            ),
            orphan_ms: config.blob_orphan_secs.saturating_mul(1000),
            pacer: pacing::UploadPacer::new(config.blob_upload_bytes_per_sec),
            part_rate: LeastRate {
                grace: Duration::from_millis(config.blob_part_idle_ms),
                bytes_per_sec: config.least_transfer_bytes_per_sec,
            },
            counters,
            shutdown,
            left_to_parts: std::sync::Mutex::default(),
        })
    }

    /// The file of a blob.
    fn path(&self, id: BlobId) -> PathBuf {
        self.dir.join(id.to_hex())
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}
