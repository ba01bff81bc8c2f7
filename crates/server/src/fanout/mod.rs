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
//! It also caches who is in each chat, since every message needs that list.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use merpati_protocol::keys::{DeviceKey, DeviceRef};
use merpati_protocol::{ChatId, UserId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How many frames may wait for one session before it counts as too slow.
pub(crate) const SESSION_QUEUE: usize = 512;

/// A drained queue keeps at most this many slots: a burst's worth is given back.
const KEPT_QUEUE_SLOTS: usize = 16;

/// The most chats whose member lists are cached; past it the cache starts over.
const CACHED_CHATS: usize = 100_000;

/// Identifies one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(pub(crate) u64);

/// One online session as the registry sees it.
#[derive(Debug)]
struct Subscriber {
    session: SessionId,
    queue: Arc<Queue>,
    /// The device the session published keys for, if it has.
    device: Option<DeviceKey>,
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

/// The registry of online sessions and the chat member cache.
#[derive(Debug, Clone, Default)]
pub(crate) struct FanOut {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    online: RwLock<HashMap<UserId, Vec<Subscriber>>>,
    members: RwLock<HashMap<ChatId, Arc<[UserId]>>>,
    next_session: AtomicU64,
}

impl FanOut {
    pub(crate) fn new() -> FanOut {
        FanOut::default()
    }

    /// A fresh id for a new connection.
    pub(crate) fn next_session_id(&self) -> SessionId {
        SessionId(self.inner.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Puts a session of `user` online.
    pub(crate) fn join(&self, user: UserId, session: SessionId) -> Subscription {
        let queue = Arc::new(Queue::default());
        let frames = Frames {
            queue: Arc::clone(&queue),
        };
        let evict = CancellationToken::new();
        let subscriber = Subscriber {
            session,
            queue,
            device: None,
            evict: evict.clone(),
        };
        let mut online = write(&self.inner.online);
        let sessions = online.entry(user).or_default();
        // Most accounts have one session: room for exactly that, not the four a first push
        // would make room for.
        sessions.reserve_exact(1);
        sessions.push(subscriber);
        drop(online);
        Subscription {
            frames,
            evicted: evict,
            guard: OnlineGuard {
                fanout: self.clone(),
                user,
                session,
            },
        }
    }

    fn leave(&self, user: UserId, session: SessionId) {
        let mut online = write(&self.inner.online);
        if let Entry::Occupied(mut entry) = online.entry(user) {
            entry
                .get_mut()
                .retain(|subscriber| subscriber.session != session);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }

    /// Hands `frame` to every online session of every user in `users`, except `skip`.
    pub(crate) fn deliver(&self, users: &[UserId], frame: &Bytes, skip: Option<SessionId>) {
        let online = read(&self.inner.online);
        for user in users {
            for subscriber in online.get(user).into_iter().flatten() {
                if Some(subscriber.session) == skip {
                    continue;
                }
                offer(subscriber, frame);
            }
        }
    }

    /// Binds a session of `user` to one of the account's devices: from now on it gets the
    /// to-device messages for that device.
    pub(crate) fn bind_device(&self, user: UserId, session: SessionId, device: DeviceKey) {
        let mut online = write(&self.inner.online);
        let subscribers = online.get_mut(&user).into_iter().flatten();
        for subscriber in subscribers.filter(|subscriber| subscriber.session == session) {
            subscriber.device = Some(device);
        }
    }

    /// Hands `frame` to every online session bound to `device`, and to no other.
    pub(crate) fn deliver_to_device(&self, device: &DeviceRef, frame: &Bytes) {
        let online = read(&self.inner.online);
        for subscriber in online.get(&device.user).into_iter().flatten() {
            if subscriber.device == Some(device.device) {
                offer(subscriber, frame);
            }
        }
    }

    /// Whether `user` has a session online.
    #[cfg(test)]
    pub(crate) fn is_online(&self, user: UserId) -> bool {
        read(&self.inner.online).contains_key(&user)
    }

    /// The cached member list of a chat.
    pub(crate) fn cached_members(&self, chat: ChatId) -> Option<Arc<[UserId]>> {
        read(&self.inner.members).get(&chat).cloned()
    }

    /// Records a chat's members as just committed, replacing what was cached.
    pub(crate) fn set_members(&self, chat: ChatId, members: Vec<UserId>) {
        let mut cache = write(&self.inner.members);
        if cache.len() >= CACHED_CHATS {
            cache.clear();
        }
        cache.insert(chat, members.into());
    }

    /// Caches a member list read from storage, unless a fresher one was set meanwhile: a
    /// list read before a membership change must not overwrite the list written after it.
    pub(crate) fn remember_members(&self, chat: ChatId, members: Vec<UserId>) -> Arc<[UserId]> {
        let mut cache = write(&self.inner.members);
        if cache.len() >= CACHED_CHATS {
            cache.clear();
        }
        Arc::clone(cache.entry(chat).or_insert_with(|| members.into()))
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

/// Keeps a session online; dropping it takes the session off the registry.
#[derive(Debug)]
pub(crate) struct OnlineGuard {
    fanout: FanOut,
    user: UserId,
    session: SessionId,
}

impl Drop for OnlineGuard {
    fn drop(&mut self) {
        self.fanout.leave(self.user, self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reaches_every_session_of_every_member_but_the_skipped_one() {
        let fanout = FanOut::new();
        let (alice, bob) = (UserId(1), UserId(2));
        let (a1, a2, b1) = (
            fanout.next_session_id(),
            fanout.next_session_id(),
            fanout.next_session_id(),
        );
        let mut alice_tab1 = fanout.join(alice, a1);
        let mut alice_tab2 = fanout.join(alice, a2);
        let mut bob_tab = fanout.join(bob, b1);
        let frame = Bytes::from_static(b"frame");
        fanout.deliver(&[alice, bob], &frame, Some(a1));
        assert_eq!(alice_tab1.frames.try_recv(), None);
        assert_eq!(alice_tab2.frames.try_recv(), Some(Some(frame.clone())));
        assert_eq!(bob_tab.frames.try_recv(), Some(Some(frame)));
    }

    #[test]
    fn a_to_device_frame_reaches_only_the_sessions_bound_to_its_device() {
        let fanout = FanOut::new();
        let alice = UserId(1);
        let (phone, laptop) = (DeviceKey([1; 32]), DeviceKey([2; 32]));
        let (s1, s2, s3) = (
            fanout.next_session_id(),
            fanout.next_session_id(),
            fanout.next_session_id(),
        );
        let mut phone_tab = fanout.join(alice, s1);
        let mut laptop_tab = fanout.join(alice, s2);
        let mut unbound_tab = fanout.join(alice, s3);
        fanout.bind_device(alice, s1, phone);
        fanout.bind_device(alice, s2, laptop);
        let frame = Bytes::from_static(b"olm");
        fanout.deliver_to_device(
            &DeviceRef {
                user: alice,
                device: phone,
            },
            &frame,
        );
        assert_eq!(phone_tab.frames.try_recv(), Some(Some(frame)));
        assert_eq!(laptop_tab.frames.try_recv(), None);
        assert_eq!(unbound_tab.frames.try_recv(), None);
    }

    #[test]
    fn a_session_that_cannot_keep_up_is_evicted() {
        let fanout = FanOut::new();
        let user = UserId(1);
        let slow = fanout.join(user, fanout.next_session_id());
        let frame = Bytes::from_static(b"x");
        for _ in 0..SESSION_QUEUE {
            fanout.deliver(&[user], &frame, None);
        }
        assert!(!slow.evicted.is_cancelled());
        fanout.deliver(&[user], &frame, None);
        assert!(slow.evicted.is_cancelled());
    }

    #[tokio::test]
    async fn a_waiting_session_wakes_for_each_frame_in_order_and_hears_when_it_was_let_go() {
        let fanout = FanOut::new();
        let user = UserId(7);
        let Subscription {
            mut frames, guard, ..
        } = fanout.join(user, fanout.next_session_id());
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = frames.recv().await {
                got.push(frame);
            }
            got
        });
        tokio::task::yield_now().await;
        for text in [&b"one"[..], b"two", b"three"] {
            fanout.deliver(&[user], &Bytes::from_static(text), None);
            tokio::task::yield_now().await;
        }
        // Leaving the registry ends the stream after what was queued.
        fanout.deliver(&[user], &Bytes::from_static(b"four"), None);
        drop(guard);
        let got = waiting.await.expect("the session task ends");
        assert_eq!(got, [&b"one"[..], b"two", b"three", b"four"]);
    }

    #[test]
    fn an_idle_queue_holds_no_frames_memory_and_gives_a_burst_back() {
        let fanout = FanOut::new();
        let user = UserId(8);
        let mut subscription = fanout.join(user, fanout.next_session_id());
        assert_eq!(lock(&subscription.frames.queue.state).frames.capacity(), 0);
        for _ in 0..200 {
            fanout.deliver(&[user], &Bytes::from_static(b"x"), None);
        }
        while let Some(Some(_)) = subscription.frames.try_recv() {}
        assert!(lock(&subscription.frames.queue.state).frames.capacity() <= KEPT_QUEUE_SLOTS);
    }

    #[test]
    fn dropping_the_guard_takes_the_session_offline() {
        let fanout = FanOut::new();
        let subscription = fanout.join(UserId(5), fanout.next_session_id());
        assert!(fanout.is_online(UserId(5)));
        drop(subscription);
        assert!(!fanout.is_online(UserId(5)));
    }

    #[test]
    fn a_stale_member_list_does_not_replace_a_fresh_one() {
        let fanout = FanOut::new();
        let chat = ChatId(1);
        fanout.set_members(chat, vec![UserId(1), UserId(2), UserId(3)]);
        let kept = fanout.remember_members(chat, vec![UserId(1), UserId(2)]);
        assert_eq!(kept.len(), 3);
    }
}
