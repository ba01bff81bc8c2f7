//! The single writer: one OS thread owns the write connection and commits in groups.
//!
//! Requests arrive through a bounded channel. The thread takes whatever is queued (up to
//! [`MAX_BATCH`]) and runs it all in one transaction, each request under its own savepoint
//! so that a refused one leaves no trace — except requests that check everything before they
//! write (appends, by far the most frequent): they run without one, a refusal of theirs has
//! written nothing, and a failure after a write fails the whole batch (every request in it is
//! answered with the failure, and clients retry). Only after the commit does it answer the
//! requests, so an acknowledgement always means "durable"; an append that failed holds back
//! its connection's later ones ([`AppendFence`]). One fsync thus covers a whole batch: under
//! load the batches grow by themselves, and throughput with them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::AppendFence;
use crate::Error;

/// The most requests committed in one transaction, so one batch cannot delay its answers
/// without bound (4,096 appends run in about 80 ms here). Larger batches mean fewer commits
/// (each one an fsync) per message: 512 → 4,096 took durable messages/s from about 25,000
/// to 30,600 (bench/NOTES.md).
pub(crate) const MAX_BATCH: usize = 4096;

/// How many requests may wait for the writer before senders wait in turn.
pub(crate) const QUEUE_DEPTH: usize = 4096;

/// How a request went inside the batch transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// Done; its writes stay.
    Done,
    /// Refused (`Error::Refused`): undo whatever it wrote.
    Refused,
    /// Failed otherwise (I/O, a constraint it did not expect): undo whatever it wrote.
    Failed,
}

/// One request to the writer: runs inside the batch transaction, answers after the commit.
pub(crate) trait Job: Send {
    /// Runs the request.
    fn run(&mut self, conn: &Connection, now_ms: i64) -> Ran;
    /// Whether it needs a savepoint: `false` only for a request that checks everything
    /// before it writes, so that a refusal of its own has written nothing.
    fn needs_savepoint(&self) -> bool;
    /// Answers the requester: with the outcome if the batch committed, else with `failure`.
    fn answer(self: Box<Self>, failure: Option<&str>);
}

/// A job built from a closure, answered through a oneshot channel.
pub(crate) struct Work<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, Error>>,
    reply: oneshot::Sender<Result<T, Error>>,
    savepoint: bool,
    /// An append's connection ([`AppendFence`]): broken when this job fails, and checked
    /// before it runs.
    fence: Option<AppendFence>,
}

impl<T, F> Work<T, F>
where
    T: Send,
    F: FnOnce(&Connection, i64) -> Result<T, Error> + Send,
{
    pub(crate) fn new(work: F) -> (Self, Queued<T>) {
        let (reply, answer) = oneshot::channel();
        let job = Work {
            work: Some(work),
            outcome: None,
            reply,
            savepoint: true,
            fence: None,
        };
        (job, Queued(answer))
    }

    /// A job that refuses only before it writes: it runs without a savepoint (see the
    /// module documentation).
    pub(crate) fn checked_first(work: F) -> (Self, Queued<T>) {
        let (mut job, answer) = Work::new(work);
        job.savepoint = false;
        (job, answer)
    }

    /// A connection's append: checked first, as [`Work::checked_first`], and behind the
    /// connection's `fence`.
    pub(crate) fn append(work: F, fence: AppendFence) -> (Self, Queued<T>) {
        let (mut job, answer) = Work::checked_first(work);
        job.fence = Some(fence);
        (job, answer)
    }
}

impl<T, F> Job for Work<T, F>
where
    T: Send,
    F: FnOnce(&Connection, i64) -> Result<T, Error> + Send,
{
    fn run(&mut self, conn: &Connection, now_ms: i64) -> Ran {
        let Some(work) = self.work.take() else {
            return Ran::Done;
        };
        if self.fence.as_ref().is_some_and(AppendFence::is_broken) {
            // Nothing written: the rest of the batch goes on.
            self.outcome = Some(Err(AppendFence::failure()));
            return Ran::Refused;
        }
        let outcome = work(conn, now_ms);
        let ran = match &outcome {
            Ok(_) => Ran::Done,
            Err(Error::Refused { .. }) => Ran::Refused,
            Err(_) => Ran::Failed,
        };
        self.outcome = Some(outcome);
        ran
    }

    fn needs_savepoint(&self) -> bool {
        self.savepoint
    }

    fn answer(self: Box<Self>, failure: Option<&str>) {
        let outcome = match (failure, self.outcome) {
            (Some(failure), _) => Err(Error::Commit(failure.to_owned())),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(Error::Commit("the request never ran".to_owned())),
        };
        // Here, on the writer's thread, before the next batch runs.
        if let (Some(fence), Err(error)) = (&self.fence, &outcome)
            && !matches!(error, Error::Refused { .. })
        {
            fence.break_it();
        }
        // The requester may have gone away (its connection closed): nothing to tell then.
        let _ = self.reply.send(outcome);
    }
}

/// Counts of the writer's work, for logs and tests.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    /// Transactions committed.
    pub(crate) commits: AtomicU64,
    /// Requests run.
    pub(crate) jobs: AtomicU64,
}

/// The running writer thread.
#[derive(Debug)]
pub(crate) struct WriterThread {
    handle: thread::JoinHandle<()>,
    stats: Arc<WriterStats>,
}

impl WriterThread {
    /// Starts the thread; it runs until every sender of `queue` is dropped and the queue is
    /// drained, so queued requests are always committed and answered.
    pub(crate) fn start(
        conn: Connection,
        queue: mpsc::Receiver<Box<dyn Job>>,
        stats: Arc<WriterStats>,
    ) -> Result<WriterThread, Error> {
        let counted = Arc::clone(&stats);
        let handle = thread::Builder::new()
            .name("merpati-writer".to_owned())
            .spawn(move || write_loop(conn, queue, &counted))?;
        Ok(WriterThread { handle, stats })
    }

    /// The writer's counts, for the metrics.
    pub(crate) fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// Waits until the thread has committed everything queued and stopped.
    pub(crate) fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the storage writer thread panicked");
            return;
        }
        tracing::info!(
            commits = self.stats.commits.load(Ordering::Relaxed),
            requests = self.stats.jobs.load(Ordering::Relaxed),
            "storage writer stopped"
        );
    }
}

fn write_loop(conn: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(job) = queue.blocking_recv() {
        batch.push(job);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch, stats);
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, stats: &WriterStats) {
    let failure = match run_batch(conn, batch) {
        Ok(()) => None,
        Err(error) => {
            tracing::error!(%error, requests = batch.len(), "a storage batch failed to commit");
            // Leave no transaction open for the next batch; if none is open this fails
            // harmlessly.
            let _ = conn.execute_batch("ROLLBACK");
            Some(error.to_string())
        }
    };
    if failure.is_none() {
        stats.commits.fetch_add(1, Ordering::Relaxed);
    }
    stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    for job in batch.drain(..) {
        job.answer(failure.as_deref());
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    let now_ms = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    // Cached statements: these run for every request, and parsing them showed in profiles.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(|_| ());
    run("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        if !job.needs_savepoint() {
            // A savepoint per append was a statement pair and an allocation each (perf:
            // glibc trimming the writer's heap after every release).
            if run_job(job.as_mut(), conn, now_ms) == Ran::Failed {
                // It may have written part of itself: nothing of this batch may commit.
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("a request failed after it began writing".to_owned()),
                ));
            }
            continue;
        }
        run("SAVEPOINT job")?;
        if run_job(job.as_mut(), conn, now_ms) != Ran::Done {
            run("ROLLBACK TO job")?;
        }
        run("RELEASE job")?;
    }
    run("COMMIT")
}

/// Runs one request; one that panics (a bug of the server's) fails as a request that failed
/// after it began writing, rather than ending the one thread every write goes through: the
/// thread would be gone for good, and every write after it refused while the server ran on.
fn run_job(job: &mut dyn Job, conn: &Connection, now_ms: i64) -> Ran {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn, now_ms))).unwrap_or_else(
        |_| {
            tracing::error!("a storage request panicked; it is answered as failed");
            Ran::Failed
        },
    )
}

/// The current time in milliseconds since the Unix epoch: the clock of every stored time
/// (and of `Presence::LastSeen`, which is stored too).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A writer held by a test inside a request of its own (`Storage::hold_the_writer`), until
/// [`WriterGate::open`].
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct WriterGate {
    open: std::sync::mpsc::Sender<()>,
    done: Queued<()>,
}

#[cfg(test)]
impl WriterGate {
    pub(crate) fn new(open: std::sync::mpsc::Sender<()>, done: Queued<()>) -> WriterGate {
        WriterGate { open, done }
    }

    /// Lets the writer go on, and waits until the request that held it has committed.
    pub(crate) async fn open(self) {
        self.open.send(()).expect("the writer waits at the gate");
        self.done.await.expect("the gate's request commits");
    }
}

/// A queued write's outcome, available once its transaction committed (or failed).
#[derive(Debug)]
pub(crate) struct Queued<T>(tokio::sync::oneshot::Receiver<Result<T, Error>>);

impl<T> Queued<T> {
    /// A queued write's outcome and where to send it.
    pub(crate) fn channel() -> (oneshot::Sender<Result<T, Error>>, Queued<T>) {
        let (reply, answer) = oneshot::channel();
        (reply, Queued(answer))
    }
}

impl<T> std::future::Future for Queued<T> {
    type Output = Result<T, Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|answer| {
            answer
                .map_err(|_| Error::WriterStopped)
                .and_then(|outcome| outcome)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over a database in memory with one table, and the queue it reads.
    fn started() -> (mpsc::Sender<Box<dyn Job>>, WriterThread) {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        conn.execute_batch("CREATE TABLE notes (text TEXT NOT NULL)")
            .expect("the table");
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let writer = WriterThread::start(conn, jobs, Arc::default()).expect("the writer starts");
        (queue, writer)
    }

    fn note(text: &'static str) -> impl FnOnce(&Connection, i64) -> Result<usize, Error> + Send {
        move |conn, _| Ok(conn.execute("INSERT INTO notes (text) VALUES (?1)", [text])?)
    }

    fn count() -> impl FnOnce(&Connection, i64) -> Result<i64, Error> + Send {
        |conn, _| Ok(conn.query_row("SELECT count(*) FROM notes", [], |row| row.get(0))?)
    }

    async fn queue<T: Send + 'static>(
        queue: &mpsc::Sender<Box<dyn Job>>,
        (job, answer): (
            Work<T, impl FnOnce(&Connection, i64) -> Result<T, Error> + Send + 'static>,
            Queued<T>,
        ),
    ) -> Queued<T> {
        queue.send(Box::new(job)).await.expect("the writer runs");
        answer
    }

    #[tokio::test]
    async fn a_request_that_panics_fails_alone_and_the_writer_goes_on() {
        let (jobs, writer) = started();
        let before = queue(&jobs, Work::new(note("before"))).await;
        let panics = queue(
            &jobs,
            Work::new(|conn: &Connection, _| -> Result<(), Error> {
                conn.execute("INSERT INTO notes (text) VALUES ('half')", [])?;
                panic!("a bug in a request");
            }),
        )
        .await;
        let after = queue(&jobs, Work::new(note("after"))).await;
        assert!(before.await.is_ok());
        assert!(matches!(panics.await, Err(Error::Commit(_))));
        assert!(after.await.is_ok());

        // A request that runs without a savepoint fails its whole batch; the next one commits.
        let unguarded = queue(
            &jobs,
            Work::checked_first(|_: &Connection, _| -> Result<(), Error> {
                panic!("a bug in an append")
            }),
        )
        .await;
        assert!(unguarded.await.is_err());
        let later = queue(&jobs, Work::new(note("later"))).await;
        assert!(later.await.is_ok());
        let counted = queue(&jobs, Work::new(count())).await;
        assert_eq!(
            counted.await.expect("counted"),
            3,
            "the half-written note is gone"
        );
        drop(jobs);
        writer.join();
    }
}
