//! Durable state in SQLite: accounts (with their privacy settings and blocks), sessions,
//! chats, members (with their roles and receipts) and messages, and for end-to-end
//! encryption the key directory, to-device messages and key backups (public keys and
//! ciphertext only).
//!
//! A small domain API, not a database layer: each method is one thing the gateway needs
//! (`register`, `append`, `read_after`, ...). Writes go to the single writer thread, which
//! commits them in groups and answers only after the commit ([`writer`]); reads use a pool of
//! read-only connections ([`readers`]). The database is `<data>/merpati.db` in WAL mode; its
//! schema is versioned by [`schema`], and the SQL itself lives in [`sql`], one file per domain.
//!
//! # Layout
//! - this file: opening the database, the writer and reader plumbing, accounts, chats and
//!   messages.
//! - [`snapshot`]: a chat as read, and the `ChatInfo` each member is told of it.
//! - [`conversation`]: receipts, privacy settings, blocks and when accounts were last seen.
//! - [`directory`]: the key directory, to-device messages and the key backup.
//! - [`blobs`]: uploaded files' rows, and the session an HTTP request is made in.

mod blobs;
mod conversation;
mod directory;
pub(crate) mod postgres;
mod readers;
mod schema;
mod snapshot;
mod sql;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{
    BlobId, ChatId, ClientMsgId, Epoch, Member, MessageFrame, Seq, UserId, Username,
};
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::Error;
use crate::auth::SessionKeys;
use crate::config::Durability;
use crate::privacy::Privacy;
use conversation::LastSeenBook;
pub(crate) use conversation::{Moved, Position, PresenceFacts};
use sql::sessions::NewSession;
/// How long a session may go unused before it ends: its token is refused (`SessionExpired`)
/// and the browser must sign in with the passphrase again.
pub(crate) const SESSION_IDLE_LIMIT_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How old a session's token, or its time of use, may be before a resume rotates it (which
/// notes the session used).
const ROTATE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

pub(crate) use blobs::{BlobRow, Created, NewBlob};
pub(crate) use directory::{BackupPage, Claimed, Published, QueuedToDevice, ToDeviceOutcome};
use readers::Readers;
pub(crate) use snapshot::{ChatSnapshot, ChatUpdate, MemberState};
pub(crate) use sql::sessions::EndedSession;
use sql::sessions::{FoundSession, Presented};
use writer::{Job, Work};
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

/// Consecutive messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) messages: Vec<MessageFrame>,
    /// Whether more messages lie beyond the page in the direction asked for.
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
    /// Makes up a passphrase salt for a name nobody has (`kdf_salt`).
    salt_secret: [u8; 32],
    /// When accounts were last seen, waiting to be written.
    last_seen: Arc<LastSeenBook>,
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
        // A message deleted for everyone must leave no ciphertext behind: SQLite then
        // overwrites what a write frees with zeros rather than leaving it in free space.
        // `ON`, not `FAST`: `FAST` leaves freed overflow pages (the rest of a body over about
        // 4 KB) as they were. Only the writer frees anything.
        conn.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut conn)?;
        let epoch = Epoch(schema::epoch(&mut conn)?);
        let salt_secret = schema::salt_secret(&mut conn)?;

        let (writer, queue) = mpsc::channel(writer::QUEUE_DEPTH);
        let stats = Arc::new(WriterStats::default());
        let thread = WriterThread::start(conn, queue, stats)?;
        tracing::info!(path = %path.display(), epoch = epoch.0, ?durability, "storage open");
        let storage = Storage {
            writer,
            readers: Arc::new(Readers::new(path)),
            epoch,
            salt_secret,
            last_seen: Arc::default(),
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
        kdf_salt: Option<[u8; 16]>,
        session: SessionKeys,
        client: Option<ClientKind>,
    ) -> impl Future<Output = Result<Member, Error>> {
        self.write(move |conn, now| {
            let new = NewSession {
                keys: &session,
                client: client.as_ref(),
            };
            sql::accounts::register(conn, &username, &public_key, kdf_salt, &new, now)
        })
    }

    /// The random part of `username`'s passphrase salt: the account's own (`None` for one
    /// from before salts), or — for a name nobody has — one made up from the server's secret,
    /// the same every time, so that the answer does not say whether the account exists.
    pub(crate) async fn kdf_salt(&self, username: Username) -> Result<Option<[u8; 16]>, Error> {
        let secret = self.salt_secret;
        let name = username.clone();
        let account = self
            .read(move |conn| sql::accounts::account_by_name(conn, &name))
            .await?;
        Ok(match account {
            Some(account) => account.kdf_salt,
            None => Some(crate::auth::made_up_salt(&secret, &username)),
        })
    }

    /// Stores a new session for an account.
    pub(crate) fn create_session(
        &self,
        account: UserId,
        session: SessionKeys,
        client: Option<ClientKind>,
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, now| {
            let new = NewSession {
                keys: &session,
                client: client.as_ref(),
            };
            sql::sessions::create_session(conn, sql::int(account.0), &new, now)
        })
    }

    /// Forgets a session (named by its first token's hash).
    pub(crate) fn delete_session(
        &self,
        session: [u8; 32],
    ) -> impl Future<Output = Result<(), Error>> {
        self.write(move |conn, _| sql::sessions::delete_session(conn, &session))
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

    /// An account's sessions, newest use first.
    pub(crate) fn sessions_of(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<sql::sessions::SessionRow>, Error>> {
        self.read(move |conn| sql::sessions::sessions_of(conn, account))
    }

    /// Ends one of `account`'s sessions (named by its token hash's first half); `None` if
    /// there is no such session.
    pub(crate) fn end_session(
        &self,
        account: UserId,
        prefix: [u8; 16],
    ) -> impl Future<Output = Result<Option<EndedSession>, Error>> {
        self.write(move |conn, _| sql::sessions::end_session(conn, account, &prefix))
    }

    /// Ends the session whose sign-out proof hashes to `proof_hash`; `None` if there is none.
    pub(crate) fn sign_out(
        &self,
        proof_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<EndedSession>, Error>> {
        self.write(move |conn, _| sql::sessions::sign_out(conn, &proof_hash))
    }

    /// The session a client resumes with `token`, if it exists and has been used within
    /// [`SESSION_IDLE_LIMIT_MS`]: its account, privacy and name, and the token to resume
    /// with from now on if that changed. One read, mostly: resuming is what a reconnecting
    /// crowd does, so the session is written only when its token is a day old (it rotates,
    /// which notes it used) or an expired one is deleted. The token before the last rotation
    /// is answered with the current one (see `sql::sessions`).
    pub(crate) async fn resume_session(
        &self,
        token: [u8; 32],
    ) -> Result<Option<ResumedSession>, Error> {
        let presented_hash = crate::auth::token_hash(&token);
        let found = self
            .read(move |conn| {
                let Some(found) = sql::sessions::find_session(conn, &presented_hash)? else {
                    return Ok(None);
                };
                let privacy = sql::accounts::privacy(conn, found.member.id)?;
                Ok(Some((found, privacy)))
            })
            .await?;
        let Some((found, privacy)) = found else {
            return Ok(None);
        };
        let now = i64::try_from(writer::now_ms()).unwrap_or(i64::MAX);
        if now.saturating_sub(found.last_used_ms) > SESSION_IDLE_LIMIT_MS {
            self.delete_session(found.session).await?;
            return Ok(None);
        }
        let stale = |at_ms: i64| now.saturating_sub(at_ms) > ROTATE_AFTER_MS;
        let new_token = match found.presented {
            Presented::Previous { salt } => Some(crate::auth::rotated_token(&token, &salt)),
            Presented::Current { rotated_ms } if stale(rotated_ms) || stale(found.last_used_ms) => {
                Some(self.rotate_session(token).await?)
            }
            Presented::Current { .. } => None,
        };
        Ok(Some(ResumedSession {
            member: found.member,
            privacy,
            session: found.session,
            new_token,
        }))
    }

    /// Rotates the session whose current token is `token`; the token it has now (derived
    /// from `token`: if another tab rotated it first, the same one that tab was given).
    async fn rotate_session(&self, token: [u8; 32]) -> Result<[u8; 32], Error> {
        let salt = crate::auth::random_bytes()?;
        self.write(move |conn, now| {
            let presented_hash = crate::auth::token_hash(&token);
            let next = crate::auth::rotated_token(&token, &salt);
            let keys = SessionKeys::of(&next);
            if sql::sessions::rotate_session(conn, &presented_hash, &salt, &keys, now)? {
                return Ok(next);
            }
            match sql::sessions::find_session(conn, &presented_hash)? {
                Some(FoundSession {
                    presented: Presented::Previous { salt },
                    ..
                }) => Ok(crate::auth::rotated_token(&token, &salt)),
                // Ended meanwhile: the next resume is refused; this one goes on unrotated.
                _ => Ok(token),
            }
        })
        .await
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

    /// A new group of `creator` (its admin) and `members`, with its first line.
    pub(crate) fn create_group(
        &self,
        creator: Member,
        title: String,
        members: Vec<UserId>,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        self.write(move |conn, now| {
            sql::groups::create_group(conn, &creator, &title, &members, now)
        })
    }

    /// Adds `account` to a group that `by` administers.
    pub(crate) fn add_member(
        &self,
        chat: ChatId,
        by: UserId,
        account: Member,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        self.write(move |conn, now| sql::groups::add_member(conn, chat, by, &account, now))
    }

    /// Takes `user` out of a group `by` belongs to; the group afterwards and who left.
    pub(crate) fn remove_member(
        &self,
        chat: ChatId,
        by: UserId,
        user: UserId,
    ) -> impl Future<Output = Result<(ChatUpdate, Member), Error>> {
        self.write(move |conn, now| sql::groups::remove_member(conn, chat, by, user, now))
    }

    /// Renames a group that `by` administers.
    pub(crate) fn rename_group(
        &self,
        chat: ChatId,
        by: UserId,
        title: String,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        self.write(move |conn, now| sql::groups::rename_group(conn, chat, by, &title, now))
    }

    /// Makes `user` an admin of a group that `by` administers, or takes it back.
    pub(crate) fn set_admin(
        &self,
        chat: ChatId,
        by: UserId,
        user: UserId,
        admin: bool,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        self.write(move |conn, now| sql::groups::set_admin(conn, chat, by, user, admin, now))
    }

    /// Every account sharing a chat with `account`, and `account` itself.
    pub(crate) fn chat_partners(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        self.read(move |conn| sql::chats::chat_partners(conn, account))
    }

    /// Whether two accounts share a 1:1 chat.
    pub(crate) fn share_direct_chat(
        &self,
        a: UserId,
        b: UserId,
    ) -> impl Future<Output = Result<bool, Error>> {
        self.read(move |conn| sql::chats::share_direct_chat(conn, a, b))
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

    /// Appends a message to a chat the sender belongs to, idempotently on `client_msg_id`,
    /// doing what it `refers` to in the same transaction (`sql::messages::append`). Returns once the append is queued (waiting only for room in the writer's
    /// queue); the returned future completes once it is committed. Appends queued one after
    /// another commit in that order.
    pub(crate) fn queue_append(
        &self,
        chat: ChatId,
        client_msg_id: ClientMsgId,
        sender: UserId,
        body: Arc<Vec<u8>>,
        refers: Refers,
    ) -> impl Future<Output = Result<Queued<Appended>, Error>> {
        // `sql::messages::append` refuses only before it writes (membership, blocking, a
        // clashing id, the deleted message, the upload).
        self.queue_job(Work::checked_first(move |conn, now| {
            sql::messages::append(conn, chat, client_msg_id, sender, &body, refers, now)
        }))
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
