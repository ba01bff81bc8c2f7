//! One `PATCH`'s part, received: its bytes go to the upload's file as they arrive, so a
//! request holds no more than the chunk in hand whatever its part's size, and a slow or
//! stalled sender costs the server a connection, not memory.
//!
//! What is kept:
//! - a part that arrives whole is flushed to disk (`fsync`), then recorded;
//! - a part that breaks off (the connection drops), stalls (its sender falls below the store's
//!   `part_rate`: nothing for its grace, or less on average than its least rate beyond that
//!   grace, `least_rate`) or is ended because the server is stopping
//!   keeps what arrived, flushed and recorded the same way, so a large part cut by an outage
//!   is not sent again;
//! - a part refused on the way (past the part cap, or past the upload's length), or that the
//!   disk cannot take, keeps nothing: the file is cut back to where the upload stood.

use std::io;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use merpati_protocol::blobs::MAX_UPLOAD_PART_BYTES;
use merpati_protocol::{BlobId, UserId};
use tokio::io::AsyncWriteExt;

use super::BlobStore;
use super::files::{self, AppendError};
use crate::Error;

/// Where a part goes: whose upload, at which offset, and how long the upload is.
#[derive(Debug, Clone, Copy)]
pub(super) struct PartAt {
    pub(super) id: BlobId,
    pub(super) account: UserId,
    pub(super) offset: u64,
    pub(super) upload_length: u64,
}

/// How a part ended, with what the upload now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// The whole body arrived.
    Whole { held: u64 },
    /// The body broke off: what arrived is kept.
    BrokenOff { held: u64 },
    /// The body fell behind the store's `part_rate`: what arrived is kept.
    Stalled { held: u64 },
    /// The server began to stop while the part arrived: what arrived is kept.
    ShuttingDown { held: u64 },
}

/// Why a part kept nothing.
#[derive(Debug)]
pub(super) enum PartError {
    /// The body grew past [`MAX_UPLOAD_PART_BYTES`].
    TooLarge,
    /// The body ran past the upload's declared length.
    PastTheEnd,
    /// The upload was deleted meanwhile (a cleanup pass), or fell due for deletion.
    Deleted,
    /// The upload holds `held` bytes, not the offset the part was sent at: another request
    /// recorded a part since the caller read the row.
    Moved { held: u64 },
    /// The file could not take the bytes.
    Append(AppendError),
    /// A fault of the server.
    Internal(Error),
}

impl From<Error> for PartError {
    fn from(error: Error) -> PartError {
        PartError::Internal(error)
    }
}

impl From<io::Error> for PartError {
    fn from(error: io::Error) -> PartError {
        PartError::Append(error.into())
    }
}

/// How reading the body stopped.
enum Ending {
    Whole,
    BrokenOff,
    Stalled,
    ShuttingDown,
}

/// Receives `body` into the upload at `at`, as the module says, once the upload's file is
/// locked and its row, read again under the lock, still holds `at.offset` bytes.
pub(super) async fn receive(
    store: &BlobStore,
    at: PartAt,
    body: Body,
) -> Result<Received, PartError> {
    let outcome = receive_locked(store, at, body).await;
    // A pass that deletes the upload's row, or a PUT that replaces a due one, while the part
    // holds the file leaves the file to the part (`BlobStore::settle_file`). A part that kept
    // bytes learns the row is gone or replaced when it records them, and settles the file
    // then (a row taken after that, before the part lets go, is the next pass's to settle);
    // one that kept nothing must look now, the lock let go, or the file stays, named by no
    // row and counted in no quota, until the next start.
    if kept_nothing(&outcome, at.offset)
        && let Err(error) = store.settle_file(at.id).await
    {
        tracing::warn!(blob = %at.id.to_hex(), %error, "cannot delete a blob file");
    }
    outcome
}

/// Whether a part's outcome left the file as it found it, having held its lock.
fn kept_nothing(outcome: &Result<Received, PartError>, offset: u64) -> bool {
    match outcome {
        Ok(received) => received.held() == offset,
        // Deleted: the file was settled already. Moved and Busy: another part holds or
        // held the upload, which lives.
        Err(
            PartError::Deleted | PartError::Moved { .. } | PartError::Append(AppendError::Busy),
        ) => false,
        Err(_) => true,
    }
}

impl Received {
    /// What the upload holds now.
    fn held(self) -> u64 {
        match self {
            Received::Whole { held }
            | Received::BrokenOff { held }
            | Received::Stalled { held }
            | Received::ShuttingDown { held } => held,
        }
    }
}

/// [`receive`], with the file locked until it returns.
async fn receive_locked(store: &BlobStore, at: PartAt, body: Body) -> Result<Received, PartError> {
    let offset = at.offset;
    let mut opened = open_locked(store, at.id).await?;
    // Under the lock no other request appends, and the one before recorded what it kept
    // before letting go: the row read now is where the upload stands (the caller's reading
    // may predate another process's part), and a longer file's tail was never recorded.
    match store.storage.blob(at.id).await? {
        Some(row) if row.owner != at.account => return Err(PartError::Deleted),
        Some(row) if row.received != offset => {
            return Err(PartError::Moved { held: row.received });
        }
        Some(_) => {}
        None => {
            // Deleted meanwhile (a cleanup pass), or due for deletion: the file just opened
            // is no one's.
            drop(opened);
            store.settle_file(at.id).await?;
            return Err(PartError::Deleted);
        }
    }
    let placed =
        tokio::task::spawn_blocking(move || files::seek_to(&mut opened, offset).map(|()| opened))
            .await
            .map_err(Error::from)?
            .map_err(PartError::Append)?;
    let mut file = tokio::fs::File::from_std(placed);
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    let mut waited = Duration::ZERO;
    let ending = loop {
        // Only the time spent waiting on the sender counts: the server's own writing and
        // pacing are not the sender's doing.
        let patience = store.part_rate.patience(waited, received);
        let asked = tokio::time::Instant::now();
        let next = tokio::select! {
            next = tokio::time::timeout(patience, stream.next()) => next,
            () = store.shutdown.triggered() => break Ending::ShuttingDown,
        };
        waited = waited.saturating_add(asked.elapsed());
        let chunk = match next {
            Err(_) => break Ending::Stalled,
            Ok(None) => break Ending::Whole,
            Ok(Some(Err(_))) => break Ending::BrokenOff,
            Ok(Some(Ok(chunk))) => chunk,
        };
        let bytes = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        received = received.saturating_add(bytes);
        let refused = if received > MAX_UPLOAD_PART_BYTES {
            Some(PartError::TooLarge)
        } else if offset.saturating_add(received) > at.upload_length {
            Some(PartError::PastTheEnd)
        } else {
            None
        };
        if let Some(refused) = refused {
            cut_back(file, offset).await;
            return Err(refused);
        }
        if let Err(error) = file.write_all(&chunk).await {
            cut_back(file, offset).await;
            return Err(error.into());
        }
        // Not reading on until the account's pace allows is what holds a fast sender back.
        let now = tokio::time::Instant::now();
        let until = store.pacer.charge(at.account, bytes, now);
        // Only a wait that lies ahead: tokio's timer rounds up to the next millisecond, so a
        // sleep until now would cost a millisecond a chunk.
        if until > now {
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = store.shutdown.triggered() => break Ending::ShuttingDown,
            }
        }
    };
    let held = offset + received;
    if received > 0 {
        keep(store, at, file, held).await?;
    }
    Ok(match ending {
        Ending::Whole => Received::Whole { held },
        Ending::BrokenOff => Received::BrokenOff { held },
        Ending::Stalled => Received::Stalled { held },
        Ending::ShuttingDown => Received::ShuttingDown { held },
    })
}

/// Flushes the part's bytes to disk, then records that the upload holds `held` bytes.
async fn keep(
    store: &BlobStore,
    at: PartAt,
    mut file: tokio::fs::File,
    held: u64,
) -> Result<(), PartError> {
    let flushed = async {
        file.flush().await?;
        file.sync_data().await
    };
    if let Err(error) = flushed.await {
        cut_back(file, at.offset).await;
        return Err(error.into());
    }
    if at.offset == 0 {
        let dir = store.dir().to_owned();
        tokio::task::spawn_blocking(move || files::sync_dir(&dir))
            .await
            .map_err(Error::from)??;
    }
    if !store
        .storage
        .record_blob_received(at.id, at.account, at.offset, held)
        .await?
    {
        // Deleted meanwhile (a cleanup pass), fallen due for deletion while the part arrived,
        // or replaced once due by a new upload of the same id: the bytes just written belong
        // to no one, and go with the file or are cut from the new upload's.
        drop(file);
        store.settle_file(at.id).await?;
        return Err(PartError::Deleted);
    }
    store
        .counters
        .blob_bytes_received
        .fetch_add(held - at.offset, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Cuts the file back to `offset`, where the upload stood before this part. Best effort: if
/// this fails too, the next part or the next start cuts the tail, since it is past what the
/// upload records.
async fn cut_back(mut file: tokio::fs::File, offset: u64) {
    // A write still in flight must finish first, or it could land past the cut.
    let _ = file.flush().await;
    let _ = file.set_len(offset).await;
    let _ = file.sync_data().await;
}

/// The upload's file, opened and locked for this part (`files::open_locked`).
async fn open_locked(store: &BlobStore, id: BlobId) -> Result<std::fs::File, PartError> {
    let path = store.path(id);
    tokio::task::spawn_blocking(move || files::open_locked(&path))
        .await
        .map_err(Error::from)?
        .map_err(PartError::Append)
}

#[cfg(test)]
mod tests {
    use merpati_testkit::poll::poll_until;

    use super::*;
    use crate::blobs::testing::{TestResult, TestStore};

    /// How long a part may take to write what arrived of it.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A part sent at the offset its request read, while another process (sharing the
    /// directory and the database) recorded a part after that reading: the row read under
    /// the file's lock tells it where the upload stands, and the other part's bytes stay.
    #[tokio::test]
    async fn a_part_sent_at_an_offset_another_process_has_moved_on_from_keeps_its_bytes()
    -> TestResult {
        let test = TestStore::new().await?;
        let store = &test.store;
        let id = BlobId([5; 16]);
        // The other process's part: written, then recorded (and its lock let go).
        test.holding(id, 10, b"abcdef").await?;

        let at = |offset| PartAt {
            id,
            account: test.alice,
            offset,
            upload_length: 10,
        };
        let stale = receive(store, at(0), Body::from("xyz")).await;
        assert!(
            matches!(stale, Err(PartError::Moved { held: 6 })),
            "told where the upload stands: {stale:?}"
        );
        assert_eq!(std::fs::read(store.path(id))?, b"abcdef", "nothing cut");

        let next = receive(store, at(6), Body::from("ghij")).await;
        assert!(matches!(next, Ok(Received::Whole { held: 10 })), "{next:?}");
        assert_eq!(std::fs::read(store.path(id))?, b"abcdefghij");
        test.join();
        Ok(())
    }

    /// A part of an upload that falls due for deletion holds the file while its client
    /// creates the upload again under the same id: the new upload's `PUT` cannot cut the old
    /// bytes from a file a part holds. The part, finding its upload replaced when it records
    /// what it kept, cuts them itself: they stayed, counted by no quota, until the new
    /// upload's first part or the end of its orphan window.
    #[tokio::test]
    async fn a_part_whose_upload_was_replaced_while_it_arrived_leaves_no_old_bytes() -> TestResult {
        let test = TestStore::new().await?;
        let store = &test.store;
        let id = BlobId([6; 16]);
        test.holding(id, 10, b"abcd").await?;
        let (send, chunks) = tokio::sync::mpsc::channel::<&'static [u8]>(1);
        let body = Body::from_stream(futures_util::stream::unfold(
            chunks,
            |mut chunks| async move {
                let chunk = chunks.recv().await?;
                Some((Ok::<_, io::Error>(chunk), chunks))
            },
        ));
        let at = PartAt {
            id,
            account: test.alice,
            offset: 4,
            upload_length: 10,
        };

        let owner = &test;
        let replacing = async move {
            send.send(b"ef").await?;
            let file = store.path(id);
            poll_until("the part's bytes in the file", PATIENCE, || async {
                let holds = std::fs::metadata(&file).ok()?.len();
                (holds == 6).then_some(())
            })
            .await?;
            store.storage.make_blob_due(id).await?;
            owner.create(id, 10, 86_400_000).await?;
            // What the PUT does: the part holds the file.
            store.settle_file(id).await?;
            assert_eq!(std::fs::metadata(&file)?.len(), 6, "left to the part");
            drop(send);
            TestResult::Ok(())
        };
        let (part, replaced) = tokio::join!(receive(store, at, body), replacing);
        replaced?;
        assert!(matches!(part, Err(PartError::Deleted)), "{part:?}");
        let row = store.storage.blob(id).await?.map(|row| row.received);
        assert_eq!(row, Some(0), "the new upload's");
        assert_eq!(std::fs::metadata(store.path(id))?.len(), 0, "no old bytes");
        test.join();
        Ok(())
    }
}
