//! Durable state in PostgreSQL, for several server processes (on one box or many) sharing one
//! database: the same domain operations as the SQLite backend, behind the same `Storage`.
//!
//! Each operation is one transaction on a pooled connection (`deadpool-postgres`). Most writes
//! run `SERIALIZABLE`, so that the domain code's check-then-write steps (a chat not yet
//! created, a key not yet claimed) hold as they do under SQLite's single writer even with
//! other processes writing at once; the frequent ones — appends, receipts, sign-ups — run
//! `READ COMMITTED` and take the row lock they need first ([`Isolation::Locking`]). A
//! transaction PostgreSQL aborts as a serialization failure or deadlock is run again from the
//! start (at most [`RETRIES`] times). Reads run `REPEATABLE READ`, one snapshot for the few
//! statements a read makes. An acknowledgement
//! still means durable: the server answers after `COMMIT`, with `synchronous_commit = on`.
//!
//! The SQL lives in one file per domain, as SQLite's does in `storage::sql`, and returns the
//! same types; integers are `BIGINT`, so `sql::int` and `sql::uint` convert for both.
//!
//! A database that stops answering without closing its connections (a paused host, a network
//! cut) would hold every operation, and with them the sessions waiting on them, for ever: each
//! wait for a connection, each connect and each transaction is given up after the process's
//! timeout (`MERPATI_DATABASE_TIMEOUT_MS`) and answered as a storage failure, and the
//! connection it ran on is closed rather than handed to the next operation. TCP keepalives
//! close connections to a host that went away.

pub(crate) mod accounts;
mod appender;
pub(crate) mod backup;
pub(crate) mod blobs;
pub(crate) mod blocks;
pub(crate) mod chats;
pub(crate) mod groups;
pub(crate) mod keys;
pub(crate) mod messages;
pub(crate) mod receipts;
pub(crate) mod schema;
pub(crate) mod sessions;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

use super::WriterStats;
use crate::Error;
use appender::{Appender, Pending};

/// The transaction every domain function runs in.
pub(crate) type Tx<'c> = deadpool_postgres::Transaction<'c>;

/// How many times a transaction PostgreSQL aborted for a conflict is run again.
pub(crate) const RETRIES: u32 = 20;

/// How many connections one server process keeps to the database. Each holds a PostgreSQL
/// backend process; with N server processes the database sees N times this.
const POOL_SIZE: usize = 16;

/// The connection pool, with the database's epoch and salt secret read at start.
#[derive(Clone)]
pub(crate) struct Postgres {
    pool: Pool,
    /// Transactions committed and operations run, counted as the SQLite writer counts them.
    stats: Arc<WriterStats>,
    /// Appends waiting for their chat's next transaction.
    appender: Arc<Appender>,
    /// How long one operation may take ([`Postgres::within_timeout`]).
    timeout: Duration,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// What opening the database found: the handle, the epoch and the salt secret.
pub(crate) struct Opened {
    pub(crate) postgres: Postgres,
    pub(crate) epoch: u64,
    pub(crate) salt_secret: [u8; 32],
}

impl Postgres {
    /// Connects to the database at `url` (a libpq connection string or URL), migrates it and
    /// reads its epoch.
    pub(crate) async fn open(url: &str, timeout: Duration) -> Result<Opened, Error> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| Error::Config(format!("MERPATI_DATABASE_URL: {error}")))?;
        config.application_name("merpati-server");
        config.connect_timeout(timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.keepalives_interval(Duration::from_secs(10));
        config.keepalives_retries(3);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection the database dropped (a restart) is found at checkout, not by
                // the next request on it.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|error| Error::Config(format!("PostgreSQL pool: {error}")))?;
        let postgres = Postgres {
            pool,
            stats: Arc::default(),
            appender: Arc::default(),
            timeout,
        };
        let mut client = postgres.client().await?;
        schema::migrate(&mut client).await?;
        let read = postgres.within_timeout(schema::meta(&mut client)).await;
        let (epoch, salt_secret) = postgres.answered(client, read)?;
        tracing::info!(epoch, "PostgreSQL storage open");
        Ok(Opened {
            postgres,
            epoch,
            salt_secret,
        })
    }

    /// The counts of transactions committed.
    pub(crate) fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// Counts a committed transaction that ran `operations` operations.
    pub(crate) fn count_commit(&self, operations: u64) {
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.count_operations(operations);
    }

    /// Counts operations run in a transaction already counted.
    pub(crate) fn count_operations(&self, operations: u64) {
        self.stats.jobs.fetch_add(operations, Ordering::Relaxed);
    }

    /// Queues an append to its chat's next transaction ([`appender`]).
    pub(crate) fn queue_append(
        &self,
        chat: merpati_protocol::ChatId,
        message: super::NewMessage,
        fence: super::AppendFence,
    ) -> super::Queued<super::Appended> {
        let (append, answer) = Pending::new(message, fence);
        Appender::queue(self, chat, append);
        answer
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, Error> {
        self.pool
            .get()
            .await
            .map_err(|error| Error::Commit(format!("no PostgreSQL connection: {error}")))
    }

    /// Runs `operation` (on a connection of this pool), for at most the operation timeout;
    /// [`Postgres::answered`] says what came of it.
    pub(crate) async fn within_timeout<T>(
        &self,
        operation: impl Future<Output = Result<T, Error>>,
    ) -> Result<Result<T, Error>, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.timeout, operation).await
    }

    /// What an operation run on `client` [within the timeout](Postgres::within_timeout) came
    /// to. One that ran out of time may still have a query waiting on the connection, which
    /// is closed rather than handed to the next operation.
    pub(crate) fn answered<T>(
        &self,
        client: Object,
        timed: Result<Result<T, Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, Error> {
        timed.unwrap_or_else(|_| {
            drop(Object::take(client));
            Err(Error::Commit(format!(
                "PostgreSQL did not answer within {} ms",
                self.timeout.as_millis()
            )))
        })
    }
}

/// A stored username (validated again, like one from the network).
pub(crate) fn username(raw: String) -> Result<merpati_protocol::Username, Error> {
    merpati_protocol::Username::parse(&raw).map_err(|error| stored_value("username", error))
}

/// A stored 32-byte key (the schema only ever stores 32-byte keys there).
pub(crate) fn key32(raw: Vec<u8>) -> Result<[u8; 32], Error> {
    raw.try_into()
        .map_err(|raw: Vec<u8>| stored_value("key", format!("{} bytes, not 32", raw.len())))
}

/// A stored 16-byte value (client message ids, key prefixes).
pub(crate) fn bytes16(raw: Vec<u8>) -> Result<[u8; 16], Error> {
    raw.try_into()
        .map_err(|raw: Vec<u8>| stored_value("value", format!("{} bytes, not 16", raw.len())))
}

/// The error for a stored value that is not what the schema promises.
pub(crate) fn stored_value(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!(
        "a stored {what} is malformed: {why}"
    )))
}

/// How a transaction is isolated from the others running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// `SERIALIZABLE`: as if alone, for writes that check and then write (a free key to
    /// claim, a group's admins). PostgreSQL tracks what each read to find conflicts, at a
    /// cost per transaction and with false conflicts between neighbours in an index.
    Serializable,
    /// `READ COMMITTED`, for the frequent writes that take the one row lock they need
    /// themselves (an append locks its chat's row first, a receipt its member's row), and
    /// for a sign-up (one insert that a unique name decides): these would otherwise abort
    /// one another for nothing under a load, as `scripts/bench-cluster` measured.
    Locking,
    /// `REPEATABLE READ`, read-only: one snapshot for the few statements of a read.
    Read,
}

impl From<bool> for Isolation {
    /// A write (`true`) or a read.
    fn from(write: bool) -> Isolation {
        if write {
            Isolation::Serializable
        } else {
            Isolation::Read
        }
    }
}

/// Starts a transaction isolated as `isolation` says.
pub(crate) async fn begin(client: &mut Object, isolation: Isolation) -> Result<Tx<'_>, Error> {
    let builder = client.build_transaction();
    let builder = match isolation {
        Isolation::Serializable => builder.isolation_level(IsolationLevel::Serializable),
        Isolation::Locking => builder.isolation_level(IsolationLevel::ReadCommitted),
        Isolation::Read => builder
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true),
    };
    Ok(builder.start().await?)
}

/// Whether PostgreSQL aborted the transaction for a conflict with another, so that running it
/// again from the start may succeed.
pub(crate) fn is_conflict(error: &Error) -> bool {
    let Error::Postgres(error) = error else {
        return false;
    };
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Waits a little before running a conflicting transaction again: a few milliseconds, more
/// each time and never the same for two processes, so the conflict does not repeat in step.
pub(crate) async fn back_off(attempt: u32) {
    let mut jitter = [0u8; 1];
    let jitter = getrandom::fill(&mut jitter).map_or(0, |()| u64::from(jitter[0] % 8));
    let millis = u64::from(attempt.min(6)).saturating_mul(2) + jitter;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Runs `$body` (an expression using `$tx: &Tx` and `$now: i64`, the time in ms) in one
/// transaction on a connection of `$pg` — a write if `$write` — and commits it; runs it again
/// from the start when PostgreSQL aborts it for a conflict. Evaluates to the future of the
/// body's value. A macro rather than a function taking a closure: the body borrows the
/// transaction and the caller's arguments for as long as it runs.
macro_rules! transaction {
    ($pg:expr, $write:expr, |$tx:ident, $now:ident| $body:expr) => {{
        let postgres: $crate::storage::postgres::Postgres = $pg.clone();
        async move {
            let mut attempt = 0u32;
            loop {
                let outcome: Result<_, $crate::Error> = async {
                    let mut client = postgres.client().await?;
                    let run = async {
                        let $tx =
                            $crate::storage::postgres::begin(&mut client, $write.into()).await?;
                        let $now = i64::try_from($crate::storage::now_ms()).unwrap_or(i64::MAX);
                        let value = { $body }?;
                        $tx.commit().await?;
                        Ok(value)
                    };
                    let timed = postgres.within_timeout(run).await;
                    let value = postgres.answered(client, timed)?;
                    postgres.count_commit(1);
                    Ok(value)
                }
                .await;
                match outcome {
                    Err(error)
                        if attempt < $crate::storage::postgres::RETRIES
                            && $crate::storage::postgres::is_conflict(&error) =>
                    {
                        attempt += 1;
                        $crate::storage::postgres::back_off(attempt).await;
                    }
                    outcome => break outcome,
                }
            }
        }
    }};
}
pub(crate) use transaction;
