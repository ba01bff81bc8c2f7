//! Durable state: accounts (with their privacy settings and blocks), sessions, chats, members
//! (with their roles and receipts) and messages, and for end-to-end encryption the key
//! directory, to-device messages and key backups (public keys and ciphertext only).
//!
//! A small domain API, not a database layer: each method is one thing the gateway needs
//! (`register`, `append`, `read_after`, ...), on either of two backends:
//! - **SQLite** ([`sqlite`]), the embedded default: `<data>/merpati.db` in WAL mode. Writes go
//!   to the single writer thread, which commits them in groups and answers only after the
//!   commit ([`writer`]); reads use a pool of read-only connections ([`readers`]). The schema
//!   is versioned by [`schema`], and the SQL lives in [`sql`], one file per domain.
//! - **PostgreSQL** ([`postgres`]), for several server processes sharing one database: each
//!   operation one transaction, answered after its commit; the SQL in one file per domain
//!   beside its own schema, returning the same types.
//!
//! # Layout
//! - this file: the types every domain shares, opening either backend.
//! - [`accounts`]: accounts and sessions. [`chats`]: chats, groups and their members.
//!   [`messages`]: appending and reading messages.
//! - [`snapshot`]: a chat as read, and the `ChatInfo` each member is told of it.
//! - [`conversation`]: receipts, privacy settings, blocks and when accounts were last seen.
//! - [`directory`]: the key directory, to-device messages and the key backup.
//! - [`blobs`]: uploaded files' rows, and the session an HTTP request is made in.

mod accounts;
mod blobs;
mod chats;
mod conversation;
mod directory;
mod fence;
mod messages;
pub(crate) mod postgres;
mod readers;
mod schema;
mod snapshot;
mod sql;
mod sqlite;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use merpati_protocol::{
    BlobId, ChatId, ClientMsgId, Epoch, ErrorCode, Member, MessageFrame, Seq, UserId, Username,
};

use crate::Error;
use crate::config::Durability;
use crate::privacy::Privacy;
use conversation::LastSeenBook;
pub(crate) use conversation::{ChangedPrivacy, Moved, Position, PresenceFacts};
pub(crate) use messages::Reader;
/// How long a session may go unused before it ends: its token is refused (`SessionExpired`)
/// and the browser must sign in with the passphrase again.
pub(crate) const SESSION_IDLE_LIMIT_MS: i64 = 30 * 24 * 60 * 60 * 1000;

pub(crate) use blobs::{BlobRow, Created, NewBlob};
pub(crate) use directory::{
    BackupPage, Claimed, DevicesChanged, Published, QueuedToDevice, ToDeviceOutcome,
    WaitingToDevice,
};
pub(crate) use fence::AppendFence;
use postgres::Postgres;
pub(crate) use snapshot::{ChatJoined, ChatSnapshot, ChatUpdate, MemberState, MembersAt};
pub(crate) use sql::chats::Joined;
pub(crate) use sql::sessions::EndedSession;
use sqlite::Sqlite;
pub(crate) use writer::{Queued, WriterStats, WriterThread, now_ms};

/// The name of the database file inside the data directory.
pub(crate) const DATABASE_FILE: &str = "merpati.db";

/// A session a client resumed ([`Storage::resume_session`]).
#[derive(Debug, Clone)]
pub(crate) struct ResumedSession {
    pub(crate) member: Member,
    pub(crate) privacy: Privacy,
    /// The session's name (its first token's hash).
    pub(crate) session: [u8; 32],
    /// The token to resume with from now on, if not the one presented.
    pub(crate) new_token: Option<[u8; 32]>,
}

/// An account as storage knows it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) member: Member,
    pub(crate) public_key: [u8; 32],
    /// The random part of its passphrase salt; `None` from before salts.
    pub(crate) kdf_salt: Option<[u8; 16]>,
}

/// The outcome of an append ([`Storage::queue_append`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) seq: Seq,
    pub(crate) sent_at_ms: u64,
    /// `false` when this `client_msg_id` had been stored before: a resend.
    pub(crate) newly_stored: bool,
    /// The line of the chat's last change of members before it (`Seq(0)`: none known, or a
    /// resend): a member list cached as of an older head is not the one it goes to.
    pub(crate) members_at: Seq,
}

/// A message to append ([`Storage::queue_append`]): [`sql::messages::Outgoing`] with its
/// body shared with the session, so that the writer does not copy it.
#[derive(Debug, Clone)]
pub(crate) struct NewMessage {
    pub(crate) client_msg_id: ClientMsgId,
    pub(crate) sender: UserId,
    pub(crate) body: Arc<Vec<u8>>,
    /// What it deletes or carries, done in the same transaction.
    pub(crate) refers: Refers,
    /// What to do if it was not stored before.
    pub(crate) if_new: IfNew,
}

impl NewMessage {
    /// The message as the SQL of either backend takes it.
    pub(crate) fn outgoing(&self) -> sql::messages::Outgoing<'_> {
        sql::messages::Outgoing {
            client_msg_id: self.client_msg_id,
            sender: self.sender,
            body: &self.body,
            refers: self.refers,
            if_new: self.if_new,
        }
    }
}

/// What an appended message refers to, acted on in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refers {
    Nothing,
    /// An earlier message of the sender's, deleted for everyone (`SendDeletion`).
    Deletes(ClientMsgId),
    /// The sender's complete upload, kept from now on as long as the message.
    Carries(BlobId),
}

/// What an append does with a message not stored before. A resend of the sender's own stored
/// message is acknowledged either way, whatever has changed since it was stored: it is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfNew {
    /// Store it, if the sender may send to the chat.
    Store,
    /// Refuse it with this code (the sender's stored bytes of the day are spent).
    Refuse(ErrorCode),
}

/// Consecutive messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) messages: Vec<MessageFrame>,
    /// Whether more messages lie beyond the page in the direction asked for.
    pub(crate) more: bool,
}

/// Runs one domain function on whichever backend `$storage` has: `sql::$domain::$function`
/// on SQLite's writer (`write`) or a reader (`read`), or `postgres::$domain::$function` in a
/// transaction, with the same arguments after the connection. `$now` names the time of the
/// write for arguments that use it. Evaluates to a future of the function's result.
macro_rules! on_backend {
    ($storage:expr, write |$now:ident| $domain:ident::$function:ident($($arg:expr),* $(,)?)) => {
        match &$storage.backend {
            $crate::storage::Backend::Sqlite(sqlite) => futures_util::future::Either::Left(
                sqlite.write(move |conn, $now| {
                    $crate::storage::sql::$domain::$function(conn, $($arg),*)
                }),
            ),
            $crate::storage::Backend::Postgres(pg) => futures_util::future::Either::Right(
                $crate::storage::postgres::transaction!(pg, true, |tx, $now| {
                    $crate::storage::postgres::$domain::$function(&tx, $($arg),*).await
                }),
            ),
        }
    };
    ($storage:expr, read $domain:ident::$function:ident($($arg:expr),* $(,)?)) => {
        match &$storage.backend {
            $crate::storage::Backend::Sqlite(sqlite) => futures_util::future::Either::Left(
                sqlite.read(move |conn| $crate::storage::sql::$domain::$function(conn, $($arg),*)),
            ),
            $crate::storage::Backend::Postgres(pg) => futures_util::future::Either::Right(
                $crate::storage::postgres::transaction!(pg, false, |tx, _now| {
                    $crate::storage::postgres::$domain::$function(&tx, $($arg),*).await
                }),
            ),
        }
    };
}
use on_backend;

/// The handle to storage; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    backend: Backend,
    /// The storage epoch; on PostgreSQL it moves on if the database is restored or fails
    /// over while the process runs (`recheck_epoch`).
    epoch: Arc<AtomicU64>,
    /// Makes up a passphrase salt for a name nobody has (`kdf_salt`).
    salt_secret: [u8; 32],
    /// When accounts were last seen, waiting to be written.
    last_seen: Arc<LastSeenBook>,
    /// Transactions committed and requests run.
    stats: Arc<WriterStats>,
}

/// Where the state is kept.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

impl Storage {
    /// Opens (creating if needed) the SQLite database in `data`, migrates it and starts the
    /// writer.
    ///
    /// The writer thread stops once every clone of the returned `Storage` is dropped and the
    /// queued requests are committed; join the [`WriterThread`] to wait for that.
    pub(crate) fn open(
        data: &Path,
        durability: Durability,
    ) -> Result<(Storage, WriterThread), Error> {
        let opened = Sqlite::open(data, durability)?;
        let storage = Storage::new(
            Backend::Sqlite(opened.sqlite),
            opened.epoch,
            opened.salt_secret,
            opened.writer.stats(),
        );
        Ok((storage, opened.writer))
    }

    /// Connects to the PostgreSQL database at `url`, migrating it if this is the first
    /// process to use it; an operation that takes longer than `timeout` is given up.
    pub(crate) async fn open_postgres(url: &str, timeout: Duration) -> Result<Storage, Error> {
        let opened = Postgres::open(url, timeout).await?;
        let stats = opened.postgres.stats();
        Ok(Storage::new(
            Backend::Postgres(opened.postgres),
            opened.epoch,
            opened.salt_secret,
            stats,
        ))
    }

    fn new(
        backend: Backend,
        epoch: u64,
        salt_secret: [u8; 32],
        stats: Arc<WriterStats>,
    ) -> Storage {
        Storage {
            backend,
            epoch: Arc::new(AtomicU64::new(epoch)),
            salt_secret,
            last_seen: Arc::default(),
            stats,
        }
    }

    /// How many transactions were committed and requests run, on either backend.
    pub(crate) fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// The storage epoch: it changes only if the database is replaced.
    pub(crate) fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::Relaxed))
    }

    /// Reads the epoch again (on PostgreSQL, first making it new if the database was
    /// restored or failed over since it was chosen); from now on it is the one answered.
    pub(crate) async fn recheck_epoch(&self) -> Result<Epoch, Error> {
        if let Backend::Postgres(pg) = &self.backend {
            let client = pg.client().await?;
            let checked = pg
                .within_timeout(postgres::schema::check_epoch(&client))
                .await;
            let epoch = pg.answered(client, checked)?;
            self.epoch.store(epoch, Ordering::Relaxed);
        }
        Ok(self.epoch())
    }

    /// Chooses a new storage epoch (`merpati-server --new-epoch`): every client drops its
    /// positions and syncs afresh.
    pub(crate) async fn new_epoch(&self) -> Result<Epoch, Error> {
        let epoch = match &self.backend {
            Backend::Postgres(pg) => {
                let client = pg.client().await?;
                let chosen = pg
                    .within_timeout(postgres::schema::new_epoch(&client))
                    .await;
                pg.answered(client, chosen)?
            }
            Backend::Sqlite(sqlite) => sqlite.write(|conn, _now| schema::new_epoch(conn)).await?,
        };
        self.epoch.store(epoch, Ordering::Relaxed);
        Ok(self.epoch())
    }
}

/// The refusal for a username no account has.
pub(crate) fn no_such_user(name: &Username) -> Error {
    Error::refused(
        merpati_protocol::ErrorCode::NoSuchUser,
        format!("there is no user {name}"),
    )
}

/// The refusal for a chat that does not exist or that the account is not in: a stranger
/// cannot tell the two apart.
pub(crate) fn no_such_chat(chat: ChatId) -> Error {
    Error::refused(
        merpati_protocol::ErrorCode::NoSuchChat,
        format!("chat {} does not exist or you are not a member", chat.0),
    )
}

/// The refusal for a message to a 1:1 chat whose other person blocked the sender.
pub(crate) fn blocked_sender() -> Error {
    Error::refused(
        merpati_protocol::ErrorCode::Blocked,
        "the other person does not accept messages from you",
    )
}

/// The refusal for a message whose `client_msg_id` another sender's message has. Ids are 128
/// random bits, so a clash is an attack or a broken client; it is refused only after the
/// membership check, so that a stranger learns nothing of a chat's ids, and it must not
/// reveal or alias that message.
pub(crate) fn id_of_another_sender() -> Error {
    Error::refused(
        merpati_protocol::ErrorCode::Malformed,
        "client_msg_id already used by another sender",
    )
}

/// What tests do to the SQLite writer: hold it, and see what waits for it.
#[cfg(test)]
impl Storage {
    fn sqlite_writer(&self) -> &Sqlite {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite,
            Backend::Postgres(_) => panic!("the SQLite writer asked of PostgreSQL"),
        }
    }

    /// Keeps the writer thread busy inside a request of its own until the returned gate is
    /// opened, so that whatever is queued meanwhile waits, in order, and lands in the next
    /// batch together. (Holding SQLite's lock from another connection is not enough: the
    /// writer may take the first queued request alone and wait for the lock with it.)
    pub(crate) async fn hold_the_writer(&self) -> writer::WriterGate {
        let (started, running) = std::sync::mpsc::channel::<()>();
        let (open, opened) = std::sync::mpsc::channel::<()>();
        let done = self
            .sqlite_writer()
            .queue_job(writer::Work::new(move |_: &rusqlite::Connection, _| {
                let _ = started.send(());
                let _ = opened.recv();
                Ok(())
            }))
            .await
            .expect("the writer takes the gate");
        tokio::task::spawn_blocking(move || running.recv())
            .await
            .expect("waiting for the gate does not panic")
            .expect("the writer runs the gate");
        writer::WriterGate::new(open, done)
    }

    /// How many requests wait in the writer's queue (a held writer takes none).
    pub(crate) fn writes_waiting(&self) -> usize {
        let queue = &self.sqlite_writer().writer;
        queue.max_capacity() - queue.capacity()
    }
}

#[cfg(test)]
mod tests;
