//! The SQLite backend's plumbing: opening `<data>/merpati.db`, the single writer that commits
//! in groups ([`super::writer`]) and the pool of read-only connections ([`super::readers`]).
//! The SQL itself is in [`super::sql`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::readers::Readers;
use super::writer::{self, Job, Queued, Work, WriterStats, WriterThread};
use super::{DATABASE_FILE, schema};
use crate::Error;
use crate::config::Durability;

/// How many pages the WAL may hold before a commit copies them into the database (SQLite's
/// `wal_autocheckpoint`; its default is 1,000, 4 MB). Messages to many chats dirty a page or
/// two each in different places, so with 1,000 the writer checkpointed every few commits and
/// copied nearly every page it wrote a second time: under `merpati-bench latency` (20,000
/// messages/s over 500 chats) it wrote 258 MB/s and read 276 MB/s back. A page rewritten many
/// times between checkpoints is copied once: with 10,000 pages (a WAL of about 40 MB on disk),
/// 178 and 158 MB/s, and in runs of the same hour the median latency at that rate fell from
/// about 50 to 4–10 ms (bench/NOTES.md, item 9).
const WAL_CHECKPOINT_PAGES: u32 = 10_000;

/// The writer's queue and the readers; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pub(super) writer: mpsc::Sender<Box<dyn Job>>,
    readers: Arc<Readers>,
}

/// What opening the database found.
pub(crate) struct Opened {
    pub(crate) sqlite: Sqlite,
    pub(crate) writer: WriterThread,
    pub(crate) epoch: u64,
    pub(crate) salt_secret: [u8; 32],
}

impl Sqlite {
    /// Opens (creating if needed) the database in `data`, migrates it and starts the writer.
    pub(crate) fn open(data: &Path, durability: Durability) -> Result<Opened, Error> {
        std::fs::create_dir_all(data)?;
        let path = data.join(DATABASE_FILE);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL lets readers work during a write, and makes a commit one sequential append.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A message deleted for everyone must leave no ciphertext behind: SQLite then
        // overwrites what a write frees with zeros rather than leaving it in free space.
        // `ON`, not `FAST`: `FAST` leaves freed overflow pages (the rest of a body over about
        // 4 KB) as they were. Only the writer frees anything.
        conn.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut conn)?;
        let epoch = schema::epoch(&mut conn)?;
        let salt_secret = schema::salt_secret(&mut conn)?;

        let (writer, queue) = mpsc::channel(writer::QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let thread = WriterThread::start(conn, queue, stats)?;
        tracing::info!(path = %path.display(), epoch, ?durability, "storage open");
        Ok(Opened {
            sqlite: Sqlite {
                writer,
                readers: Arc::new(Readers::new(path)),
            },
            writer: thread,
            epoch,
            salt_secret,
        })
    }

    /// Runs `work` in the writer's next batch; the future resolves once it is committed.
    ///
    /// Not an `async fn`, nor are `Storage`'s methods: the job is boxed before the future is
    /// made, so a request waiting for the writer holds that box rather than its arguments
    /// once per nested `async fn` (a waiting `PublishKeys` held 1,840 bytes; during a
    /// sign-up surge thousands wait at once, and bench/NOTES.md counts what their peak costs
    /// every idle connection afterwards).
    pub(crate) fn write<T, F>(
        &self,
        work: F,
    ) -> impl Future<Output = Result<T, Error>> + use<'_, T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, Error> + Send + 'static,
    {
        let queued = self.queue_job(Work::new(work));
        async move { queued.await?.await }
    }

    /// Queues a job and resolves, once it is queued, to the future of its outcome. Jobs run
    /// and commit in the order they were queued, so a caller may queue several and wait for
    /// them in order (a session pipelining its sends).
    pub(crate) fn queue_job<T, F>(
        &self,
        (job, answer): (Work<T, F>, Queued<T>),
    ) -> impl Future<Output = Result<Queued<T>, Error>> + use<'_, T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, i64) -> Result<T, Error> + Send + 'static,
    {
        let job: Box<dyn Job> = Box::new(job);
        async move {
            self.writer
                .send(job)
                .await
                .map_err(|_| Error::WriterStopped)?;
            Ok(answer)
        }
    }

    /// Runs `query` on a reader; like [`Sqlite::write`], the query is boxed first.
    pub(crate) fn read<T, F>(
        &self,
        query: F,
    ) -> impl Future<Output = Result<T, Error>> + use<'_, T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.readers.read(Box::new(query))
    }
}
