//! Read-only connections for queries, so reads never wait behind the writer.
//!
//! In WAL mode a reader sees the last commit and is not blocked by the transaction being
//! written. Queries run on tokio's blocking pool; a semaphore bounds how many run at once,
//! and idle connections are kept for reuse.

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
            let result = query(&conn);
            readers.put_back(conn);
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
