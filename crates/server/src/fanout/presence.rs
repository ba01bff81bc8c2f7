//! Presence: which account each session watches, and telling the watchers when the watched
//! account's first session connects or its last one closes.
//!
//! A watcher is told only what the privacy rules let it see (`crate::privacy`): a change it
//! would see as `Hidden` is not pushed at all, since a push alone would tell it something.
//! Both happen under the registry's lock, so watchers hear the changes in the order they
//! happened. On a cluster the registry also holds what the other processes said of the
//! accounts watched here (`elsewhere`): an account online on another process is not
//! announced as gone when its last session here closes.

use bytes::Bytes;
use merpati_protocol::{Presence, ServerFrame, UserId};

use super::{FanOut, Registry, SessionId, offer, read, write};
use crate::privacy::{estranged, presence_as_seen};

/// A session watching an account's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Watcher {
    /// The watching account.
    pub(crate) user: UserId,
    /// Its session that watches.
    pub(crate) session: SessionId,
}

impl Registry {
    /// `watched`'s presence as `watcher` sees it, if `watched` is online (both must be for
    /// the registry to know their privacy; an offline `watcher` sees nothing).
    fn presence_seen(&self, watched: UserId, watcher: UserId) -> Option<Presence> {
        let watched_account = self.accounts.get(&watched)?;
        let watcher_account = self.accounts.get(&watcher)?;
        let (watched_privacy, watcher_privacy) =
            (&watched_account.privacy, &watcher_account.privacy);
        Some(presence_as_seen(
            Presence::Online,
            watched_privacy.share_presence,
            watcher_privacy.share_presence,
            estranged(watched, watched_privacy, watcher, watcher_privacy),
        ))
    }

    /// Tells every session watching `watched` (online, still in the registry) that its
    /// presence is now `presence`, as far as each may see it.
    pub(super) fn announce(&self, watched: UserId, presence: Presence) {
        let (Some(watchers), Some(watched_account)) =
            (self.watchers.get(&watched), self.accounts.get(&watched))
        else {
            return;
        };
        let watched_privacy = &watched_account.privacy;
        let mut frame: Option<Bytes> = None;
        for watcher in watchers {
            let Some(account) = self.accounts.get(&watcher.user) else {
                continue;
            };
            let seen = presence_as_seen(
                presence,
                watched_privacy.share_presence,
                account.privacy.share_presence,
                estranged(watched, watched_privacy, watcher.user, &account.privacy),
            );
            if seen == Presence::Hidden {
                continue;
            }
            let frame = frame.get_or_insert_with(|| {
                Bytes::from(merpati_protocol::encode(&ServerFrame::Presence {
                    user: watched,
                    presence,
                }))
            });
            let sessions = account.sessions.iter();
            for subscriber in sessions.filter(|subscriber| subscriber.session == watcher.session) {
                offer(subscriber, frame);
            }
        }
    }

    /// Whether a session of `user` is on another process of the cluster.
    pub(super) fn online_elsewhere(&self, user: UserId) -> bool {
        self.elsewhere.get(&user) == Some(&Presence::Online)
    }

    /// Forgets that `session` watches `watched`.
    pub(super) fn unwatch(&mut self, watched: UserId, session: SessionId) {
        if let Some(watchers) = self.watchers.get_mut(&watched) {
            watchers.retain(|watcher| watcher.session != session);
            if watchers.is_empty() {
                self.watchers.remove(&watched);
            }
        }
    }
}

impl FanOut {
    /// Makes a session of `user` watch `watched` (`None`: no one), replacing what it watched
    /// before. Returns `watched`'s presence as `user` sees it if `watched` is online; `None`
    /// if it is offline (storage knows when it was last seen) or no one is watched. From now
    /// on, changes are pushed to the session.
    pub(crate) fn watch(
        &self,
        user: UserId,
        session: SessionId,
        watched: Option<UserId>,
    ) -> Option<Presence> {
        let mut online = write(&self.inner.online);
        let subscriber = online.subscriber_mut(user, session)?;
        let before = std::mem::replace(&mut subscriber.watching, watched);
        if let Some(before) = before {
            online.unwatch(before, session);
        }
        let watched = watched?;
        online
            .watchers
            .entry(watched)
            .or_default()
            .push(Watcher { user, session });
        online.presence_seen(watched, user)
    }

    /// Notes `user`'s presence on the other processes of the cluster (`None`: no longer
    /// watched here). Whether the watchers here see a change: `user` has no session here, and
    /// it came online elsewhere or left the last process it was on.
    pub(crate) fn set_elsewhere(&self, user: UserId, presence: Option<Presence>) -> bool {
        let mut online = write(&self.inner.online);
        let before = match presence {
            Some(presence) => online.elsewhere.insert(user, presence),
            None => online.elsewhere.remove(&user),
        };
        let seen = |presence: Option<Presence>| presence == Some(Presence::Online);
        !online.accounts.contains_key(&user) && seen(before) != seen(presence)
    }

    /// `user`'s presence on the other processes of the cluster, if it is watched here.
    pub(crate) fn elsewhere(&self, user: UserId) -> Option<Presence> {
        read(&self.inner.online).elsewhere.get(&user).copied()
    }

    /// `watched`'s presence as `watcher` sees it, if both are online.
    pub(crate) fn presence_seen(&self, watched: UserId, watcher: UserId) -> Option<Presence> {
        read(&self.inner.online).presence_seen(watched, watcher)
    }

    /// The sessions watching `watched`.
    pub(crate) fn watchers_of(&self, watched: UserId) -> Vec<Watcher> {
        let online = read(&self.inner.online);
        online.watchers.get(&watched).cloned().unwrap_or_default()
    }

    /// What the sessions of `user` watch: `(session, watched)`.
    pub(crate) fn watched_by(&self, user: UserId) -> Vec<(SessionId, UserId)> {
        let online = read(&self.inner.online);
        let sessions = online.accounts.get(&user).into_iter();
        sessions
            .flat_map(|account| &account.sessions)
            .filter_map(|subscriber| Some((subscriber.session, subscriber.watching?)))
            .collect()
    }
}
