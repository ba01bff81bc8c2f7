//! Read-only connections for queries, so reads never wait behind the writer.
//!
//! In WAL mode a reader sees the last commit and is not blocked by the transaction being
//! written. Each query runs in a read transaction of its own, so that all its statements see
//! the same commit (a member's floor and the page read after it, say — as on PostgreSQL,
//! whose reads are one snapshot too). Queries run on tokio's blocking pool; a semaphore
//! bounds how many run at once, and idle connections are kept for reuse.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::Error;

/// How many queries run at once. SQLite reads are CPU-bound here; more than a few per core
/// would only queue inside the blocking pool.
const READERS: usize = 8;

/// The pool of read-only connections.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::with_capacity(READERS)),
            permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// Runs `query` on a read-only connection off the async threads.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|error| Error::Task(error.to_string()))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = match readers.take_idle() {
                Some(conn) => conn,
                None => readers.open()?,
            };
            let (result, ended) = in_one_snapshot(&conn, query);
            // One still in its transaction would fail every later read and hold its
            // snapshot of the WAL for good: it goes.
            if ended {
                readers.put_back(conn);
            }
            drop(permit);
            result
        })
        .await?
    }

    fn take_idle(&self) -> Option<Connection> {
        // A panic while the lock was held leaves the list intact, so poisoning is ignored.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn put_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
    }

    fn open(&self) -> Result<Connection, Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }
}

/// Runs `query` in a read transaction on `conn`: one snapshot for all its statements. It
/// writes nothing, so it ends with a rollback. Its result, and whether the transaction ended
/// (SQLite may have ended it already, after an I/O error).
fn in_one_snapshot<T>(
    conn: &Connection,
    query: impl FnOnce(&Connection) -> Result<T, Error>,
) -> (Result<T, Error>, bool) {
    if let Err(error) = conn.execute_batch("BEGIN DEFERRED") {
        return (Err(error.into()), conn.is_autocommit());
    }
    let result = query(conn);
    let ended = conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok();
    (result, ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_query_reads_in_one_transaction() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("db.sqlite");
        Connection::open(&path)
            .and_then(|conn| conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x)"))
            .expect("a database");
        let readers = Arc::new(Readers::new(path));
        // Twice: a connection put back is not left in its transaction.
        for _ in 0..2 {
            let in_transaction = readers
                .read(|conn| Ok(!conn.is_autocommit()))
                .await
                .expect("read");
            assert!(in_transaction, "each statement would see its own commit");
        }
    }
}
