//! Who is online, and delivering frames to them.
//!
//! [`FanOut`] maps each account to its online sessions, each a bounded queue of encoded
//! frames ([`Frames`]: it holds no memory until a frame waits in it — tokio's `mpsc` channel
//! allocated a block of 32 slots per session up front, about 1.5 KiB of every idle
//! connection's budget). A frame is encoded once and the same buffer ([`Bytes`]) is handed to every
//! session that should get it. A session whose queue is full cannot keep up: rather than let
//! its queue grow, it is told to close (it will reconnect and catch up from storage, where
//! every delivered frame can be replayed from).
//!
//! A session that published its device's keys is also bound to that device, so that a
//! to-device message reaches only the sessions of the one browser it is encrypted for.
//!
//! Beside its sessions, each online account's [`Privacy`] is kept here: the live pushes of
//! receipts, typing and presence are filtered by the privacy of the accounts they reach.
//!
//! It also caches who is in each chat, since every message needs that list, and who sent the
//! newest messages of each active group, which a receipt needs.
//!
//! # Layout
//! - this file: the registry of online accounts and their sessions, delivery, devices.
//! - `members`: who is in each chat (on a cluster, of the chats followed here).
//! - `presence`: which account each session watches, and pushing presence when it changes.
//! - `recent`: who sent the newest messages of each active group.

mod members;
mod presence;
mod recent;

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use merpati_protocol::UserId;
use merpati_protocol::keys::{DeviceKey, DeviceRef};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::privacy::Privacy;
pub(crate) use members::{ChatMembers, MemberLists};
pub(crate) use presence::Watcher;
#[cfg(test)]
pub(crate) use recent::KEPT_PER_CHAT;
pub(crate) use recent::RecentSenders;

/// How many frames may wait for one session before it counts as too slow.
pub(crate) const SESSION_QUEUE: usize = 512;

/// A drained queue keeps at most this many slots: a burst's worth is given back.
const KEPT_QUEUE_SLOTS: usize = 16;

/// Identifies one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(pub(crate) u64);

/// One online session as the registry sees it.
#[derive(Debug)]
struct Subscriber {
    session: SessionId,
    /// The hash of the session token it signed in with: what ending a session finds it by.
    token_hash: [u8; 32],
    queue: Arc<Queue>,
    /// The device the session published keys for, if it has.
    device: Option<DeviceKey>,
    /// The account whose presence the session watches, if any.
    watching: Option<UserId>,
    /// Cancelled to tell the session it is too slow and must close.
    evict: CancellationToken,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // The registry let go of the session: it hears so once it has taken what is queued.
        lock(&self.queue.state).closed = true;
        self.queue.ready.notify_one();
    }
}

/// One session's queue, shared by the registry (which offers) and the session (which takes).
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// Notified after every offer; a notification with no one waiting is kept for the next
    /// wait, so none is lost between looking at the queue and waiting.
    ready: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: VecDeque<Bytes>,
    /// No more frames will come.
    closed: bool,
    /// The account ended this session (from another of its sessions): it is to close for
    /// good rather than as a slow one.
    ended: bool,
}

/// The frames delivered to one session, oldest first.
#[derive(Debug)]
pub(crate) struct Frames {
    queue: Arc<Queue>,
}

impl Frames {
    /// The next frame; `None` once the registry let go of the session and nothing is left.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        loop {
            if let Some(taken) = self.try_recv() {
                return taken;
            }
            self.queue.ready.notified().await;
        }
    }

    /// Whether the account ended this session.
    pub(crate) fn was_ended(&self) -> bool {
        lock(&self.queue.state).ended
    }

    /// The next frame if one waits: `Some(None)` when none will come any more, `None` when
    /// the queue is empty for now.
    pub(crate) fn try_recv(&mut self) -> Option<Option<Bytes>> {
        let mut state = lock(&self.queue.state);
        if let Some(frame) = state.frames.pop_front() {
            if state.frames.is_empty() && state.frames.capacity() > KEPT_QUEUE_SLOTS {
                state.frames = VecDeque::new();
            }
            return Some(Some(frame));
        }
        state.closed.then_some(None)
    }
}

/// What a session gets when it goes online.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// The frames delivered to this session.
    pub(crate) frames: Frames,
    /// Cancelled if the session could not keep up.
    pub(crate) evicted: CancellationToken,
    /// Takes the session off the registry when dropped.
    pub(crate) guard: OnlineGuard,
}

/// The registry of online accounts (their sessions, privacy and watches) and the caches of
/// chat members and recent senders.
#[derive(Debug, Clone, Default)]
pub(crate) struct FanOut {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    online: RwLock<Registry>,
    members: MemberLists,
    recent: RecentSenders,
    next_session: AtomicU64,
    /// How many times a session was ended here ([`FanOut::sessions_ended`]).
    sessions_ended: AtomicU64,
}

/// The online accounts and who watches whose presence, under one lock, so that presence is
/// pushed in the order accounts come and go.
#[derive(Debug, Default)]
struct Registry {
    accounts: HashMap<UserId, OnlineAccount>,
    /// Per watched account, the sessions watching it.
    watchers: HashMap<UserId, Vec<Watcher>>,
    /// On a cluster, the presence on the other processes of accounts watched here: `Online`
    /// while a session of it is on another process (`crate::cluster` keeps it).
    elsewhere: HashMap<UserId, merpati_protocol::Presence>,
}

/// An account with at least one session online.
#[derive(Debug)]
struct OnlineAccount {
    privacy: Privacy,
    sessions: Vec<Subscriber>,
}

impl Registry {
    fn subscriber_mut(&mut self, user: UserId, session: SessionId) -> Option<&mut Subscriber> {
        let account = self.accounts.get_mut(&user)?;
        account
            .sessions
            .iter_mut()
            .find(|subscriber| subscriber.session == session)
    }
}

impl FanOut {
    pub(crate) fn new() -> FanOut {
        FanOut::default()
    }

    /// The fan-out of a process on a cluster: it keeps the member lists only of the chats
    /// it follows (`members`).
    pub(crate) fn on_a_cluster() -> FanOut {
        let inner = Inner {
            members: MemberLists::on_a_cluster(),
            ..Inner::default()
        };
        FanOut {
            inner: Arc::new(inner),
        }
    }

    /// A fresh id for a new connection.
    pub(crate) fn next_session_id(&self) -> SessionId {
        SessionId(self.inner.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Puts a session of `user` online; `privacy` is the account's as read at sign-in (if the
    /// account is online already, the registry's copy is kept: it is at least as fresh). The
    /// account's first session makes it `Online` to those watching it.
    pub(crate) fn join(
        &self,
        user: UserId,
        session: SessionId,
        token_hash: [u8; 32],
        privacy: Privacy,
    ) -> Subscription {
        let queue = Arc::new(Queue::default());
        let frames = Frames {
            queue: Arc::clone(&queue),
        };
        let evict = CancellationToken::new();
        let subscriber = Subscriber {
            session,
            token_hash,
            queue,
            device: None,
            watching: None,
            evict: evict.clone(),
        };
        let mut online = write(&self.inner.online);
        let first = !online.accounts.contains_key(&user);
        let account = online
            .accounts
            .entry(user)
            .or_insert_with(|| OnlineAccount {
                privacy,
                sessions: Vec::new(),
            });
        // Most accounts have one session: room for exactly that, not the four a first push
        // would make room for.
        account.sessions.reserve_exact(1);
        account.sessions.push(subscriber);
        // Online elsewhere already: its watchers here were told.
        if first && !online.online_elsewhere(user) {
            online.announce(user, merpati_protocol::Presence::Online);
        }
        drop(online);
        Subscription {
            frames,
            evicted: evict,
            guard: OnlineGuard {
                fanout: Some(self.clone()),
                user,
                session,
            },
        }
    }

    /// Takes a session off the registry. When it was the account's last, hands the time it
    /// went offline to `went_offline` before anyone watching is told (it is then `LastSeen`
    /// to them): a watcher that asks again the moment it hears must find that time where the
    /// caller put it, since the registry no longer holds the account.
    fn leave(&self, user: UserId, session: SessionId, went_offline: impl FnOnce(u64)) {
        let mut online = write(&self.inner.online);
        let Some(account) = online.accounts.get_mut(&user) else {
            return;
        };
        let Some(index) = account
            .sessions
            .iter()
            .position(|subscriber| subscriber.session == session)
        else {
            return;
        };
        let watching = account.sessions.swap_remove(index).watching;
        let last = account.sessions.is_empty();
        if let Some(watched) = watching {
            online.unwatch(watched, session);
        }
        if !last {
            return;
        }
        let at_ms = crate::storage::now_ms();
        went_offline(at_ms);
        if !online.online_elsewhere(user) {
            online.announce(user, merpati_protocol::Presence::LastSeen { at_ms });
        }
        online.accounts.remove(&user);
    }

    /// Hands `frame` to every online session of every user in `users`, except `skip`.
    pub(crate) fn deliver(&self, users: &[UserId], frame: &Bytes, skip: Option<SessionId>) {
        self.deliver_each(users, skip, |_, _| Some(frame.clone()));
    }

    /// Hands each online user in `users` the frame `frame_for` makes for them from their
    /// privacy (`None`: nothing for them), to every session but `skip`. Called under the
    /// registry's lock: `frame_for` must not call back into the registry.
    pub(crate) fn deliver_each(
        &self,
        users: &[UserId],
        skip: Option<SessionId>,
        mut frame_for: impl FnMut(UserId, &Privacy) -> Option<Bytes>,
    ) {
        let online = read(&self.inner.online);
        for user in users {
            let Some(account) = online.accounts.get(user) else {
                continue;
            };
            let Some(frame) = frame_for(*user, &account.privacy) else {
                continue;
            };
            for subscriber in &account.sessions {
                if Some(subscriber.session) != skip {
                    offer(subscriber, &frame);
                }
            }
        }
    }

    /// Hands `frame` to one session of `user`.
    pub(crate) fn deliver_to_session(&self, user: UserId, session: SessionId, frame: &Bytes) {
        let online = read(&self.inner.online);
        let sessions = online.accounts.get(&user).into_iter();
        for subscriber in sessions.flat_map(|account| &account.sessions) {
            if subscriber.session == session {
                offer(subscriber, frame);
            }
        }
    }

    /// The privacy of an online account.
    pub(crate) fn privacy(&self, user: UserId) -> Option<Privacy> {
        let online = read(&self.inner.online);
        online
            .accounts
            .get(&user)
            .map(|account| account.privacy.clone())
    }

    /// Changes the privacy of an online account (after storing the change).
    pub(crate) fn update_privacy(&self, user: UserId, change: impl FnOnce(&mut Privacy)) {
        let mut online = write(&self.inner.online);
        if let Some(account) = online.accounts.get_mut(&user) {
            change(&mut account.privacy);
        }
    }

    /// Binds a session of `user` to one of the account's devices: from now on it gets the
    /// to-device messages for that device.
    pub(crate) fn bind_device(&self, user: UserId, session: SessionId, device: DeviceKey) {
        let mut online = write(&self.inner.online);
        if let Some(subscriber) = online.subscriber_mut(user, session) {
            subscriber.device = Some(device);
        }
    }

    /// Hands `frame` to every online session bound to `device`, and to no other.
    pub(crate) fn deliver_to_device(&self, device: &DeviceRef, frame: &Bytes) {
        let online = read(&self.inner.online);
        let sessions = online.accounts.get(&device.user).into_iter();
        for subscriber in sessions.flat_map(|account| &account.sessions) {
            if subscriber.device == Some(device.device) {
                offer(subscriber, frame);
            }
        }
    }

    /// Every device a session here is bound to, once each.
    pub(crate) fn bound_devices(&self) -> Vec<DeviceRef> {
        let online = read(&self.inner.online);
        let mut devices: Vec<DeviceRef> = online
            .accounts
            .iter()
            .flat_map(|(&user, account)| {
                let bound = account.sessions.iter().filter_map(|s| s.device);
                bound.map(move |device| DeviceRef { user, device })
            })
            .collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Closes every session here as if it were too slow (`Goodbye { ServerBusy }`): its
    /// client comes back and syncs afresh, as after a restart.
    pub(crate) fn evict_all(&self) {
        let online = read(&self.inner.online);
        for subscriber in online
            .accounts
            .values()
            .flat_map(|account| &account.sessions)
        {
            subscriber.evict.cancel();
        }
    }

    /// Every session signed in here, as its account and name (its first token's hash), once
    /// each however many connections it has.
    pub(crate) fn signed_in_sessions(&self) -> Vec<(UserId, [u8; 32])> {
        let online = read(&self.inner.online);
        let mut sessions: Vec<(UserId, [u8; 32])> = online
            .accounts
            .iter()
            .flat_map(|(&user, account)| {
                account
                    .sessions
                    .iter()
                    .map(move |subscriber| (user, subscriber.token_hash))
            })
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Closes the connections of `user`'s session signed in with `token_hash`: they are
    /// told `Goodbye { SessionExpired }` and close for good. Called once the session is gone
    /// from storage.
    pub(crate) fn end_session(&self, user: UserId, token_hash: &[u8; 32]) {
        let online = read(&self.inner.online);
        // Counted under the registry's lock: a session that joins after this finds the count
        // moved; one that joined before is closed here (see `sessions_ended`).
        self.inner.sessions_ended.fetch_add(1, Ordering::SeqCst);
        let sessions = online.accounts.get(&user).into_iter();
        for subscriber in sessions.flat_map(|account| &account.sessions) {
            if subscriber.token_hash == *token_hash {
                lock(&subscriber.queue.state).ended = true;
                subscriber.evict.cancel();
            }
        }
    }

    /// How many times a session was ended here, ever. A sign-in reads it before it reads its
    /// session from storage and again once it has joined: if it moved, a session may have
    /// ended in between — after the read, yet before the join, so too early to close this
    /// connection — and the sign-in asks storage again. If it did not move, any end still to
    /// come finds the connection joined and closes it.
    pub(crate) fn sessions_ended(&self) -> u64 {
        self.inner.sessions_ended.load(Ordering::SeqCst)
    }

    /// How many sessions of `user` are online.
    pub(crate) fn sessions_of(&self, user: UserId) -> usize {
        read(&self.inner.online)
            .accounts
            .get(&user)
            .map_or(0, |account| account.sessions.len())
    }

    /// The names of `user`'s sessions with a connection on this process now.
    pub(crate) fn sessions_online_of(&self, user: UserId) -> Vec<[u8; 32]> {
        read(&self.inner.online)
            .accounts
            .get(&user)
            .map(|account| {
                account
                    .sessions
                    .iter()
                    .map(|subscriber| subscriber.token_hash)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `user` has a session online.
    #[cfg(test)]
    pub(crate) fn is_online(&self, user: UserId) -> bool {
        read(&self.inner.online).accounts.contains_key(&user)
    }

    /// Who sent the newest messages of each active group.
    pub(crate) fn recent_senders(&self) -> &RecentSenders {
        &self.inner.recent
    }

    /// Who is in each chat, as cached.
    pub(crate) fn members(&self) -> &MemberLists {
        &self.inner.members
    }
}

fn offer(subscriber: &Subscriber, frame: &Bytes) {
    let mut state = lock(&subscriber.queue.state);
    if state.frames.len() < SESSION_QUEUE {
        state.frames.push_back(frame.clone());
        drop(state);
        subscriber.queue.ready.notify_one();
        return;
    }
    drop(state);
    if !subscriber.evict.is_cancelled() {
        tracing::info!(
            session = subscriber.session.0,
            "session cannot keep up with its frames; closing it"
        );
        subscriber.evict.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// A panic while a lock is held cannot leave these maps half-updated (every update is a single
// insert or retain), so a poisoned lock is still safe to use.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps a session online; [`OnlineGuard::leave`] (or dropping it) takes the session off the
/// registry.
#[derive(Debug)]
pub(crate) struct OnlineGuard {
    /// `None` once left.
    fanout: Option<FanOut>,
    user: UserId,
    session: SessionId,
}

impl OnlineGuard {
    /// Takes the session off the registry; when it was the account's last, hands the time
    /// the account went offline to `went_offline` (to store it) before its watchers are told.
    /// Called under the registry's lock: `went_offline` must not call back into the registry.
    pub(crate) fn leave(mut self, went_offline: impl FnOnce(u64)) {
        if let Some(fanout) = self.fanout.take() {
            fanout.leave(self.user, self.session, went_offline);
        }
    }
}

impl Drop for OnlineGuard {
    fn drop(&mut self) {
        if let Some(fanout) = self.fanout.take() {
            fanout.leave(self.user, self.session, |_| {});
        }
    }
}

#[cfg(test)]
mod tests;
