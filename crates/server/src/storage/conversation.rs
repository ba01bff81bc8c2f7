//! What storage keeps about a conversation besides its messages: delivery and read
//! positions, each account's privacy settings and blocks (and when they last changed, for a
//! cluster's head check), when each account was last seen, and when each session was last
//! used.
//!
//! Receipts are the most frequent write after messages (every member sends one per message
//! received): they are queued like appends, run without a savepoint, and commit in the
//! writer's groups. When an account was last seen, and a session last used (a connection of
//! it closed), are written in the background and coalesced: whatever departures wait when
//! the writer comes to them go in one request, so a crowd of sessions closing at once is a
//! handful of writes, not one each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use merpati_protocol::{ChatId, Receipt, Seq, UserId};

use futures_util::future::Either;

use super::postgres::{self, Isolation, transaction};
use super::writer::Work;
use super::{Backend, Queued, Storage, on_backend, sql};
use crate::Error;
use crate::privacy::Privacy;

/// Which of a member's positions a receipt moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// A device holds the messages (`MarkDelivered`).
    Delivered,
    /// The person has seen them (`MarkRead`); raises `Delivered` too.
    Read,
}

/// A member's receipt before and after it moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) before: Receipt,
    pub(crate) now: Receipt,
}

/// What decides how a watcher sees an offline account's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresenceFacts {
    pub(crate) shares_presence: bool,
    /// When its last session closed (`0`: not known).
    pub(crate) last_seen_ms: u64,
    /// Whether it blocks the watcher.
    pub(crate) blocks_watcher: bool,
}

/// An account's privacy as read after it changed ([`Storage::privacy_changed_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedPrivacy {
    pub(crate) account: UserId,
    /// When it last changed, by the clock of the process that changed it.
    pub(crate) changed_ms: u64,
    pub(crate) privacy: Privacy,
}

/// When accounts were last seen, until the writer has stored it.
#[derive(Debug, Default)]
pub(super) struct LastSeenBook {
    state: Mutex<LastSeenState>,
}

#[derive(Debug, Default)]
struct LastSeenState {
    /// When accounts were last seen, not yet known to be committed.
    pending: HashMap<UserId, u64>,
    /// When sessions were last used (a connection of theirs closed), likewise.
    sessions: HashMap<[u8; 32], u64>,
    /// Whether a writer request is queued that has not yet taken them.
    queued: bool,
}

/// The times a writer request takes from the book to store.
type Departures = (Vec<(UserId, u64)>, Vec<([u8; 32], u64)>);

impl LastSeenBook {
    /// The times waiting, for a request that stores them; departures from now on queue
    /// another.
    fn take_pending(&self) -> Departures {
        let mut state = self.lock();
        state.queued = false;
        let seen = state
            .pending
            .iter()
            .map(|(&user, &at)| (user, at))
            .collect();
        let used = state
            .sessions
            .iter()
            .map(|(&session, &at)| (session, at))
            .collect();
        (seen, used)
    }

    fn lock(&self) -> MutexGuard<'_, LastSeenState> {
        // Every update is a single insert or remove: a panic cannot leave it half-made.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Storage {
    /// Moves a member's delivery or read position forward, in the writer's next group (on
    /// PostgreSQL, in a transaction of its own, started now); resolves once queued to the
    /// future of what moved (`None`: nothing did).
    pub(crate) fn queue_mark(
        &self,
        chat: ChatId,
        account: UserId,
        seq: Seq,
        position: Position,
    ) -> impl Future<Output = Result<Queued<Option<Moved>>, Error>> {
        match &self.backend {
            // `sql::receipts::mark` refuses (not a member) only before it writes.
            Backend::Sqlite(sqlite) => {
                Either::Left(sqlite.queue_job(Work::checked_first(move |conn, now| {
                    sql::receipts::mark(conn, chat, account, seq, position, now)
                })))
            }
            Backend::Postgres(pg) => {
                let (reply, answer) = Queued::channel();
                // The member's row is locked by the read that moves it.
                let marked = transaction!(pg, Isolation::Locking, |tx, now| {
                    postgres::receipts::mark(&tx, chat, account, seq, position, now).await
                });
                tokio::spawn(async move {
                    let _ = reply.send(marked.await);
                });
                Either::Right(std::future::ready(Ok(answer)))
            }
        }
    }

    /// An account's privacy settings and block list.
    pub(crate) fn privacy(&self, account: UserId) -> impl Future<Output = Result<Privacy, Error>> {
        on_backend!(self, read accounts::privacy(account))
    }

    /// Stores an account's privacy settings, and when they changed.
    pub(crate) fn set_privacy(
        &self,
        account: UserId,
        share_read_receipts: bool,
        share_presence: bool,
    ) -> impl Future<Output = Result<(), Error>> {
        on_backend!(
            self,
            write | now | accounts::set_privacy(account, share_read_receipts, share_presence, now)
        )
    }

    /// Blocks or unblocks `blocked` for `blocker` (noting when its list changed, if it did);
    /// the block list afterwards.
    pub(crate) fn set_blocked(
        &self,
        blocker: UserId,
        blocked: UserId,
        on: bool,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        on_backend!(
            self,
            write | now | blocks::set_blocked(blocker, blocked, on, now)
        )
    }

    /// The privacy of each of `accounts` whose settings or block list changed from
    /// `since_ms` on (by the clock of the process that changed it): what a cluster's head
    /// check reads again in case the push of a change was lost.
    pub(crate) fn privacy_changed_since(
        &self,
        accounts: Vec<UserId>,
        since_ms: u64,
    ) -> impl Future<Output = Result<Vec<ChangedPrivacy>, Error>> {
        on_backend!(self, read accounts::privacy_changed_since(&accounts, since_ms))
    }

    /// What decides how `watcher` sees `watched` while `watched` is offline, with when it
    /// was last seen even if that is not stored yet.
    pub(crate) async fn presence_facts(
        &self,
        watched: UserId,
        watcher: UserId,
    ) -> Result<PresenceFacts, Error> {
        // The book before the database: a time leaves the book only once its write has
        // committed, so a reading that starts after the book was read finds it in the
        // database. The other order lost it when the write committed between the reading and
        // a look at the book that came too late (a watcher was told "last seen: never").
        let waiting = self.last_seen.lock().pending.get(&watched).copied();
        let mut facts = on_backend!(self, read accounts::presence_facts(watched, watcher)).await?;
        if let Some(at_ms) = waiting {
            facts.last_seen_ms = facts.last_seen_ms.max(at_ms);
        }
        Ok(facts)
    }

    /// Records that an account's last session closed at `at_ms` (written in the background:
    /// [`Storage::store_departures`]).
    pub(crate) fn record_last_seen(&self, account: UserId, at_ms: u64) {
        let queue = {
            let mut state = self.last_seen.lock();
            state.pending.insert(account, at_ms);
            !std::mem::replace(&mut state.queued, true)
        };
        if queue {
            self.store_departures();
        }
    }

    /// Records that a connection of the session named `session` closed at `at_ms`: it was in
    /// use until then (written in the background: [`Storage::store_departures`]).
    pub(crate) fn record_session_used(&self, session: [u8; 32], at_ms: u64) {
        let queue = {
            let mut state = self.last_seen.lock();
            let used = state.sessions.entry(session).or_default();
            *used = (*used).max(at_ms);
            !std::mem::replace(&mut state.queued, true)
        };
        if queue {
            self.store_departures();
        }
    }

    /// Queues the request that stores the departures waiting in the book: whatever waits when
    /// the writer runs it goes into that one request, so a crowd of sessions closing at once
    /// is a handful of writes.
    fn store_departures(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime: the server is gone, and so is anyone to tell.
            self.last_seen.lock().queued = false;
            return;
        };
        let book = Arc::clone(&self.last_seen);
        let backend = self.backend.clone();
        runtime.spawn(async move {
            let stored = match &backend {
                Backend::Sqlite(sqlite) => {
                    let taken = Arc::clone(&book);
                    sqlite
                        .write(move |conn, _| {
                            // Taken when the writer gets here, not when queued: departures
                            // meanwhile join.
                            let (seen, used) = taken.take_pending();
                            sql::accounts::store_last_seen(conn, &seen)?;
                            sql::sessions::store_last_used(conn, &used)?;
                            Ok((seen, used))
                        })
                        .await
                }
                Backend::Postgres(pg) => {
                    let (seen, used) = book.take_pending();
                    let (pending_seen, pending_used) = (&seen, &used);
                    let stored = transaction!(pg, true, |tx, _now| {
                        postgres::accounts::store_last_seen(&tx, pending_seen).await?;
                        postgres::sessions::store_last_used(&tx, pending_used).await
                    })
                    .await;
                    stored.map(|()| (seen, used))
                }
            };
            match stored {
                // Forget what is stored now, unless a later time came meanwhile.
                Ok((seen, used)) => {
                    let mut state = book.lock();
                    for (user, at_ms) in seen {
                        if state.pending.get(&user) == Some(&at_ms) {
                            state.pending.remove(&user);
                        }
                    }
                    for (session, at_ms) in used {
                        if state.sessions.get(&session) == Some(&at_ms) {
                            state.sessions.remove(&session);
                        }
                    }
                }
                // Kept in the book: the next departure's request writes it.
                Err(error) => {
                    tracing::warn!(%error, "cannot store when accounts and sessions were last active");
                }
            }
        });
    }
}
