//! Durable state in SQLite: accounts, sessions, chats, members and messages, and for
//! end-to-end encryption the key directory, to-device messages and key backups (public keys
//! and ciphertext only).
//!
//! A small domain API, not a database layer: each method is one thing the gateway needs
//! (`register`, `append`, `read_after`, ...). Writes go to the single writer thread, which
//! commits them in groups and answers only after the commit ([`writer`]); reads use a pool of
//! read-only connections ([`readers`]). The database is `<data>/merpati.db` in WAL mode; its
//! schema is versioned by [`schema`], and the SQL itself lives in [`sql`], one file per domain.

mod readers;
mod schema;
mod sql;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use merpati_protocol::keys::{
    BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
    UserKeys,
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Epoch, Member, MessageFrame, Seq, UserId, Username,
};
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::Error;
use crate::config::Durability;
use readers::Readers;
use writer::{Job, Work};
pub(crate) use writer::{Queued, WriterStats, WriterThread};

/// The name of the database file inside the data directory.
pub(crate) const DATABASE_FILE: &str = "merpati.db";

/// An account as storage knows it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) member: Member,
    pub(crate) public_key: [u8; 32],
}

/// A chat with every member's read position, from which each member's [`ChatInfo`] is cut.
#[derive(Debug, Clone)]
pub(crate) struct ChatSnapshot {
    pub(crate) id: ChatId,
    pub(crate) kind: ChatKind,
    pub(crate) title: String,
    pub(crate) created_ms: u64,
    pub(crate) head: Seq,
    /// The members, ordered by id, each with how far they have read.
    pub(crate) members: Vec<(Member, Seq)>,
}

impl ChatSnapshot {
    pub(crate) fn has_member(&self, user: UserId) -> bool {
        self.members.iter().any(|(member, _)| member.id == user)
    }

    pub(crate) fn member_ids(&self) -> Vec<UserId> {
        self.members.iter().map(|(member, _)| member.id).collect()
    }

    /// The chat as `viewer` is told about it: their own read position.
    pub(crate) fn info_for(&self, viewer: UserId) -> ChatInfo {
        let read = self
            .members
            .iter()
            .find(|(member, _)| member.id == viewer)
            .map_or(Seq(0), |(_, read)| *read);
        ChatInfo {
            id: self.id,
            kind: self.kind,
            title: self.title.clone(),
            members: self
                .members
                .iter()
                .map(|(member, _)| member.clone())
                .collect(),
            head: self.head,
            read,
            created_ms: self.created_ms,
        }
    }
}

/// The outcome of an append ([`Storage::queue_append`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) seq: Seq,
    pub(crate) sent_at_ms: u64,
    /// `false` when this `client_msg_id` had been stored before: a resend.
    pub(crate) newly_stored: bool,
}

/// Consecutive messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) messages: Vec<MessageFrame>,
    /// Whether more messages lie beyond the page in the direction asked for.
    pub(crate) more: bool,
}

/// The outcome of [`Storage::publish_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Published {
    /// How many unclaimed one-time keys the device has now.
    pub(crate) one_time_keys: u32,
    /// Whether the device was not in the directory before.
    pub(crate) new_device: bool,
}

/// A to-device message waiting for its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedToDevice {
    pub(crate) id: u64,
    pub(crate) sender: DeviceRef,
    pub(crate) body: Vec<u8>,
}

/// Backup entries with their positions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupPage {
    pub(crate) entries: Vec<(u64, BackupEntry)>,
    /// Whether more entries follow.
    pub(crate) more: bool,
}

/// How many pages the WAL may hold before a commit copies them into the database (SQLite's
/// `wal_autocheckpoint`; its default is 1,000, 4 MB). Messages to many chats dirty a page or
/// two each in different places, so with 1,000 the writer checkpointed every few commits and
/// copied nearly every page it wrote a second time: under `merpati-bench latency` (20,000
/// messages/s over 500 chats) it wrote 258 MB/s and read 276 MB/s back. A page rewritten many
/// times between checkpoints is copied once: with 10,000 pages (a WAL of about 40 MB on disk),
/// 178 and 158 MB/s, and in runs of the same hour the median latency at that rate fell from
/// about 50 to 4–10 ms (bench/NOTES.md, item 9).
const WAL_CHECKPOINT_PAGES: u32 = 10_000;

/// The handle to storage; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    writer: mpsc::Sender<Box<dyn Job>>,
    readers: Arc<Readers>,
    epoch: Epoch,
}

impl Storage {
    /// Opens (creating if needed) the database in `data`, migrates it and starts the writer.
    ///
    /// The writer thread stops once every clone of the returned `Storage` is dropped and the
    /// queued requests are committed; join the [`WriterThread`] to wait for that.
    pub(crate) fn open(
        data: &Path,
        durability: Durability,
    ) -> Result<(Storage, WriterThread), Error> {
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
        schema::migrate(&mut conn)?;
        let epoch = Epoch(schema::epoch(&mut conn)?);

        let (writer, queue) = mpsc::channel(writer::QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let thread = WriterThread::start(conn, queue, stats)?;
        tracing::info!(path = %path.display(), epoch = epoch.0, ?durability, "storage open");
        let storage = Storage {
            writer,
            readers: Arc::new(Readers::new(path)),
            epoch,
        };
        Ok((storage, thread))
    }

    /// The storage epoch: it changes only if the database is replaced.
    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Runs `work` in the writer's next batch; the future resolves once it is committed.
    ///
    /// Not an `async fn`, nor are the methods below: the job is boxed before the future is
    /// made, so a request waiting for the writer holds that box rather than its arguments
    /// once per nested `async fn` (a waiting `PublishKeys` held 1,840 bytes; during a
    /// sign-up surge thousands wait at once, and bench/NOTES.md counts what their peak costs
    /// every idle connection afterwards).
    fn write<T, F>(&self, work: F) -> impl Future<Output = Result<T, Error>> + use<'_, T, F>
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
    fn queue_job<T, F>(
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

    /// Runs `query` on a reader; like [`Storage::write`], the query is boxed first.
    fn read<T, F>(&self, query: F) -> impl Future<Output = Result<T, Error>> + use<'_, T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.readers.read(Box::new(query))
    }

    // ---- accounts and sessions ----

    /// Creates an account with its first session; `UsernameTaken` if the name exists.
    pub(crate) fn register(
        &self,
        username: Username,
        public_key: [u8; 32],
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Member, Error>> {
        self.write(move |conn, now| {
            sql::accounts::register(conn, &username, &public_key, &token_hash, now)
        })
    }

    /// Stores a new session for an account.
    pub(crate) fn create_session(
        &self,
        account: UserId,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, now| {
            sql::accounts::create_session(conn, sql::int(account.0), &token_hash, now)
        })
    }

    /// Forgets a session.
    pub(crate) fn delete_session(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, _| sql::accounts::delete_session(conn, &token_hash))
    }

    /// The account with this username, if any.
    pub(crate) fn account_by_name(
        &self,
        username: Username,
    ) -> impl Future<Output = Result<Option<Account>, Error>> {
        self.read(move |conn| sql::accounts::account_by_name(conn, &username))
    }

    /// The accounts with these usernames, in order; `NoSuchUser` naming the first missing one.
    pub(crate) fn accounts_by_names(
        &self,
        usernames: Vec<Username>,
    ) -> impl Future<Output = Result<Vec<Member>, Error>> {
        self.read(move |conn| {
            usernames
                .iter()
                .map(|name| {
                    sql::accounts::account_by_name(conn, name)?
                        .map(|account| account.member)
                        .ok_or_else(|| no_such_user(name))
                })
                .collect()
        })
    }

    /// The account a session token's hash belongs to, if the session exists.
    pub(crate) fn session(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<Member>, Error>> {
        self.read(move |conn| sql::accounts::session(conn, &token_hash))
    }

    // ---- chats ----

    /// The 1:1 chat of two accounts, created if needed; `true` if created now.
    pub(crate) fn create_direct(
        &self,
        me: UserId,
        other: UserId,
    ) -> impl Future<Output = Result<(ChatSnapshot, bool), Error>> {
        self.write(move |conn, now| sql::chats::create_direct(conn, me, other, now))
    }

    /// A new group of `creator` and `members`.
    pub(crate) fn create_group(
        &self,
        creator: UserId,
        title: String,
        members: Vec<UserId>,
    ) -> impl Future<Output = Result<ChatSnapshot, Error>> {
        self.write(move |conn, now| sql::chats::create_group(conn, creator, &title, &members, now))
    }

    /// Adds `account` to a group that `by` belongs to.
    pub(crate) fn add_member(
        &self,
        chat: ChatId,
        by: UserId,
        account: Member,
    ) -> impl Future<Output = Result<ChatSnapshot, Error>> {
        self.write(move |conn, _| sql::chats::add_member(conn, chat, by, &account))
    }

    /// Takes `user` out of a group `by` belongs to; the group afterwards and who left.
    pub(crate) fn remove_member(
        &self,
        chat: ChatId,
        by: UserId,
        user: UserId,
    ) -> impl Future<Output = Result<(ChatSnapshot, Member), Error>> {
        self.write(move |conn, _| sql::chats::remove_member(conn, chat, by, user))
    }

    /// Every account sharing a chat with `account`, and `account` itself.
    pub(crate) fn chat_partners(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        self.read(move |conn| sql::chats::chat_partners(conn, account))
    }

    /// A chat with its members, if it exists.
    pub(crate) fn chat(
        &self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Option<ChatSnapshot>, Error>> {
        self.read(move |conn| sql::chats::chat(conn, chat))
    }

    /// Every chat of an account.
    pub(crate) fn chats_of(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<ChatSnapshot>, Error>> {
        self.read(move |conn| sql::chats::chats_of(conn, account))
    }

    /// The ids of a chat's members.
    pub(crate) fn member_ids(
        &self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        self.read(move |conn| sql::chats::member_ids(conn, chat))
    }

    // ---- messages ----

    /// Appends a message to a chat the sender belongs to, idempotently on `client_msg_id`.
    /// Returns once the append is queued (waiting only for room in the writer's queue); the
    /// returned future completes once it is committed. Appends queued one after another
    /// commit in that order.
    pub(crate) fn queue_append(
        &self,
        chat: ChatId,
        client_msg_id: ClientMsgId,
        sender: UserId,
        body: Arc<Vec<u8>>,
    ) -> impl Future<Output = Result<Queued<Appended>, Error>> {
        // `sql::messages::append` refuses only before it writes (membership, a clashing id).
        self.queue_job(Work::checked_first(move |conn, now| {
            sql::messages::append(conn, chat, client_msg_id, sender, &body, now)
        }))
    }

    /// Moves a member's read position forward; the new position if it moved.
    pub(crate) fn mark_read(
        &self,
        chat: ChatId,
        account: UserId,
        seq: Seq,
    ) -> impl Future<Output = Result<Option<Seq>, Error>> {
        self.write(move |conn, _| sql::messages::mark_read(conn, chat, account, seq))
    }

    /// Messages after `after`, oldest first, for a member of the chat (else `NoSuchChat`).
    pub(crate) fn read_after(
        &self,
        chat: ChatId,
        reader: Option<UserId>,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        self.read(move |conn| {
            check_member(conn, chat, reader)?;
            sql::messages::read_after(conn, chat, after, limit)
        })
    }

    /// The newest `limit` messages before `before`, oldest first, for a member of the chat.
    pub(crate) fn read_before(
        &self,
        chat: ChatId,
        reader: Option<UserId>,
        before: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        self.read(move |conn| {
            check_member(conn, chat, reader)?;
            sql::messages::read_before(conn, chat, before, limit)
        })
    }

    // ---- the key directory ----

    /// An account's Ed25519 public key from registration, if the account exists.
    pub(crate) fn account_key(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Option<[u8; 32]>, Error>> {
        self.read(move |conn| sql::keys::account_key(conn, account))
    }

    /// Adds or updates a device whose signature the caller has verified, with its new keys.
    pub(crate) fn publish_keys(
        &self,
        device: DeviceKeys,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> impl Future<Output = Result<Published, Error>> {
        self.write(move |conn, now| {
            sql::keys::publish_keys(conn, &device, &one_time_keys, fallback_key.as_ref(), now)
        })
    }

    /// The keys of those of `users` that exist, in the order asked.
    pub(crate) fn user_keys(
        &self,
        users: Vec<UserId>,
    ) -> impl Future<Output = Result<Vec<UserKeys>, Error>> {
        self.read(move |conn| {
            let mut found = Vec::with_capacity(users.len());
            for user in users {
                found.extend(sql::keys::user_keys(conn, user)?);
            }
            Ok(found)
        })
    }

    /// Claims one key of each device that exists.
    pub(crate) fn claim_keys(
        &self,
        devices: Vec<DeviceRef>,
    ) -> impl Future<Output = Result<Vec<ClaimedKey>, Error>> {
        self.write(move |conn, _| {
            let mut claimed = Vec::with_capacity(devices.len());
            for device in &devices {
                claimed.extend(sql::keys::claim_key(conn, device)?);
            }
            Ok(claimed)
        })
    }

    /// Queues to-device messages; per message its id, `None` where the device does not exist.
    pub(crate) fn queue_to_device(
        &self,
        sender: DeviceRef,
        messages: Arc<Vec<ToDeviceMessage>>,
    ) -> impl Future<Output = Result<Vec<Option<u64>>, Error>> {
        self.write(move |conn, now| sql::keys::queue_to_device(conn, &sender, &messages, now))
    }

    /// Up to `limit` messages waiting for `device` after id `after`, by id.
    pub(crate) fn to_device_after(
        &self,
        device: DeviceKey,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<QueuedToDevice>, Error>> {
        self.read(move |conn| sql::keys::to_device_after(conn, &device, after, limit))
    }

    /// Deletes those of `ids` that wait for `device`.
    pub(crate) fn to_device_done(
        &self,
        device: DeviceKey,
        ids: Vec<u64>,
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, _| sql::keys::to_device_done(conn, &device, &ids))
    }

    /// Deletes a device of `account` with its keys and waiting messages; `true` if it existed.
    pub(crate) fn delete_device(
        &self,
        account: UserId,
        device: DeviceKey,
    ) -> impl Future<Output = Result<bool, Error>> {
        self.write(move |conn, _| sql::keys::delete_device(conn, account, &device))
    }

    // ---- key backup ----

    /// Stores (or replaces) backup entries of `account`.
    pub(crate) fn put_backup(
        &self,
        account: UserId,
        entries: Vec<BackupEntry>,
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, _| sql::backup::put_backup(conn, account, &entries))
    }

    /// Up to `limit` backup entries of `account` after position `after`.
    pub(crate) fn backup_after(
        &self,
        account: UserId,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<BackupPage, Error>> {
        self.read(move |conn| sql::backup::backup_after(conn, account, after, limit))
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

/// Refuses a reader who is not a member; `None` skips the check (the caller has checked).
fn check_member(conn: &Connection, chat: ChatId, reader: Option<UserId>) -> Result<(), Error> {
    match reader {
        Some(reader) if !sql::chats::is_member(conn, chat, reader)? => Err(no_such_chat(chat)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
