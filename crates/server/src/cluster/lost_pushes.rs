//! What a lost push on an account's subject would leave undone, repaired from storage at
//! each head check. A push reaches the processes of the account's sessions only through
//! NATS, which may drop it (a restart, a slow consumer), and the process sending it may die
//! before publishing it; what it said is also in the database:
//! - a to-device message (a key share) waits in its device's mailbox until the device
//!   acknowledges it: each check hands the devices bound here what has waited in their
//!   mailboxes since the check before, so a lost push costs at most two intervals. A message
//!   the device already has arrives again with its id, which the client acknowledges again;
//!   its Olm keys are spent, so it cannot be opened twice;
//! - a session ended on another process (signed out from the devices screen) is no longer
//!   in the sessions table: each check closes the connections here of sessions that are gone;
//! - a chat an account here joined (made or added to, on another process) is in the members
//!   table with when it was joined: each check pushes the chats joined since the check before
//!   (less a margin for the processes' clocks, and leaving the last second to the pushes on
//!   their way) that no session of the account here follows;
//! - an account here that left a chat (removed, or gone from another session) is told by the
//!   push of the change; one whose sessions here still follow the chat when the line of its
//!   departure is delivered has not been told yet, and a check past the same grace tells it,
//!   with the chat as it now stands;
//! - an account's privacy settings and block list changed on another process (the process
//!   holding its sessions caches them, and applies them to the typing, receipts and presence
//!   it passes on) are in the accounts table with when they last changed: each check reads
//!   those of the accounts here changed since the check before (less the same margin for the
//!   clocks), and applies those that differ from what it holds as the push would have: the
//!   account's sessions here get the block list, and the watches here are told what they may
//!   see now. For an account only watched here (not held), whose presence news of the change
//!   may be lost as well, the watchers here are told again, once per change. A change made
//!   here, or one whose push arrived, reads the same as held and costs nothing more; a lost
//!   one costs at most one interval;
//! - an account's devices changed (one published anew, or signed out) on another process is
//!   in the accounts table with when: each check tells the accounts here that share a chat
//!   with one changed since the check before (less the same margin for the clocks, and
//!   leaving the last second to the pushes on their way), once per change, as the push
//!   would have, so that they query its keys again before they encrypt
//!   for it — or a new device of it could not read what they write. An account here the
//!   push reached is not told again (`note_told`).

use std::collections::HashMap;

use bytes::Bytes;
use merpati_protocol::keys::{DeviceKey, DeviceRef};
use merpati_protocol::{ChatId, Seq, ServerFrame, UserId};

use super::State;
use crate::metrics::Counters;
use crate::storage::{ChangedPrivacy, ChatSnapshot, DevicesChanged, Joined};

/// How many devices one read asks about.
const DEVICES_PER_READ: usize = 512;

/// How many sessions one read asks about.
const SESSIONS_PER_READ: usize = 512;

/// How many accounts one read of chats joined, or of privacy changed, asks about.
const ACCOUNTS_PER_READ: usize = 512;

/// How far back before the last check a check looks for chats joined and privacy changed:
/// the processes' clocks may differ by this much (and a commit may take this long) without a
/// change being missed.
const CLOCK_MARGIN_MS: u64 = 5_000;

/// How long a chat joined or left is left to its push before a check repairs it: a push
/// takes milliseconds, and one still on its way would otherwise reach the account twice.
const PUSH_GRACE_MS: u64 = 1_000;

/// How many of one device's oldest messages a check hands again: the rest wait for the next
/// check, or for the device's next connection, which reads its whole mailbox.
const PER_DEVICE: u32 = 64;

impl State {
    /// Hands the devices bound here the messages that have waited in their mailboxes since the
    /// last check, and remembers the newest id queued now for the next.
    pub(super) async fn hand_waiting_to_device(&mut self) {
        let devices = self.gateway.fanout().bound_devices();
        let up_to = self.to_device_mark;
        let mut newest = up_to;
        // Read even with no device bound: the mark must move on.
        let mut chunks: Vec<&[DeviceRef]> = devices.chunks(DEVICES_PER_READ).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let owners: HashMap<DeviceKey, DeviceRef> = chunk
                .iter()
                .map(|device| (device.device, *device))
                .collect();
            let keys = owners.keys().copied().collect();
            let waiting = match self
                .gateway
                .storage()
                .to_device_waiting(keys, up_to, PER_DEVICE)
                .await
            {
                Ok(waiting) => waiting,
                Err(error) => {
                    // The mark stays: the next check reads the same again.
                    tracing::warn!(%error, "cannot read the devices' mailboxes");
                    return;
                }
            };
            newest = newest.max(waiting.newest);
            for (device, queued) in waiting.messages {
                let Some(owner) = owners.get(&device) else {
                    continue;
                };
                let frame = Bytes::from(merpati_protocol::encode(&ServerFrame::ToDevice {
                    id: queued.id,
                    sender: queued.sender,
                    body: queued.body,
                }));
                Counters::bump(&self.gateway.counters().to_device_handed_again);
                self.gateway.fanout().deliver_to_device(owner, &frame);
            }
        }
        self.to_device_mark = newest;
    }

    /// Closes the connections here of sessions that no longer exist.
    pub(super) async fn close_sessions_gone(&mut self) {
        let sessions = self.gateway.fanout().signed_in_sessions();
        for chunk in sessions.chunks(SESSIONS_PER_READ) {
            let names = chunk.iter().map(|&(_, name)| name).collect();
            let gone = match self.gateway.storage().sessions_gone(names).await {
                Ok(gone) => gone,
                Err(error) => {
                    tracing::warn!(%error, "cannot read which sessions are gone");
                    return;
                }
            };
            for name in gone {
                if let Some(&(account, _)) = chunk.iter().find(|&&(_, held)| held == name) {
                    tracing::info!("a session ended elsewhere");
                    self.gateway.fanout().end_session(account, &name);
                }
            }
        }
    }

    /// Pushes to the accounts here the chats they joined since the last check that none of
    /// their sessions here follows, and has those sessions follow them.
    pub(super) async fn push_chats_joined_meanwhile(&mut self) {
        let until = crate::storage::now_ms().saturating_sub(PUSH_GRACE_MS);
        let since = self.chats_checked_ms.saturating_sub(CLOCK_MARGIN_MS);
        let accounts: Vec<UserId> = self.accounts.keys().copied().collect();
        for chunk in accounts.chunks(ACCOUNTS_PER_READ) {
            let storage = self.gateway.storage();
            let joined = match storage.joined_between(chunk.to_vec(), since, until).await {
                Ok(joined) => joined,
                Err(error) => {
                    // The mark stays: the next check looks again.
                    tracing::warn!(%error, "cannot read the chats joined");
                    return;
                }
            };
            for Joined {
                account,
                chat,
                head,
            } in joined
            {
                if self.followed_by(account, chat) {
                    continue;
                }
                let snapshot = match self.gateway.storage().chat(chat).await {
                    Ok(Some(snapshot)) => snapshot,
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read a chat joined");
                        return;
                    }
                };
                tracing::debug!(chat = chat.0, "pushing a chat joined whose push was lost");
                // From the head when it joined, as the push would have: the lines the change
                // wrote, and all after them, are delivered.
                self.push_lost(account, &snapshot, head).await;
            }
        }
        self.chats_checked_ms = until;
    }

    /// Applies the privacy settings and block lists of the accounts held or watched here that
    /// changed since the last check and differ from what this process holds: the push of the
    /// change was lost.
    pub(super) async fn apply_privacy_changed_meanwhile(&mut self) {
        // Taken before the read: a change committed during it is read again next time.
        let checked_at = crate::storage::now_ms();
        let since = self.privacy_checked_ms.saturating_sub(CLOCK_MARGIN_MS);
        let mut accounts: Vec<UserId> = self.accounts.keys().copied().collect();
        let watched_only = self
            .watched
            .keys()
            .filter(|watched| !self.accounts.contains_key(watched));
        accounts.extend(watched_only);
        for chunk in accounts.chunks(ACCOUNTS_PER_READ) {
            let storage = self.gateway.storage();
            let changed = match storage.privacy_changed_since(chunk.to_vec(), since).await {
                Ok(changed) => changed,
                Err(error) => {
                    // The mark stays: the next check looks again.
                    tracing::warn!(%error, "cannot read the privacy changed");
                    return;
                }
            };
            for ChangedPrivacy {
                account,
                changed_ms,
                privacy,
            } in changed
            {
                if !self.accounts.contains_key(&account) {
                    // Only watched here: what the watchers may see is read afresh, once.
                    let news = self
                        .watched
                        .get_mut(&account)
                        .is_some_and(|watched| watched.privacy_news(changed_ms));
                    if news {
                        self.gateway.refresh_watches(account, None).await;
                    }
                    continue;
                }
                let held = self.gateway.fanout().privacy(account);
                if held.is_none_or(|held| held == privacy) {
                    // Gone from here, or the push (or this process) applied it already.
                    continue;
                }
                tracing::debug!(
                    account = account.0,
                    "applying privacy changed elsewhere whose push was lost"
                );
                Counters::bump(&self.gateway.counters().privacy_read_again);
                self.gateway.apply_privacy(account, privacy).await;
            }
        }
        self.privacy_checked_ms = checked_at;
    }

    /// Tells the accounts here that share a chat with an account whose devices changed since
    /// the last check (and that account's own sessions here) that they did: the push of the
    /// change may have been lost.
    pub(super) async fn tell_devices_changed_meanwhile(&mut self) {
        // The last second is left to the pushes on their way (a change told before its push
        // arrived would be told twice); the next check looks from here.
        let until = crate::storage::now_ms().saturating_sub(PUSH_GRACE_MS);
        let since = self.devices_checked_ms.saturating_sub(CLOCK_MARGIN_MS);
        let changed = match self.gateway.storage().devices_changed_since(since).await {
            Ok(changed) => changed,
            Err(error) => {
                // The mark stays: the next check looks again.
                tracing::warn!(%error, "cannot read the devices changed");
                return;
            }
        };
        let mut frames: HashMap<UserId, Bytes> = HashMap::new();
        for DevicesChanged {
            told,
            changed,
            at_ms,
        } in changed
        {
            // Told since the change, by its push or an earlier check (within the clocks'
            // margin: a second change that soon after a first is taken as told with it).
            let already = self
                .devices_told
                .get(&(told, changed))
                .is_some_and(|told_ms| told_ms.saturating_add(CLOCK_MARGIN_MS) >= at_ms);
            if at_ms > until || already || !self.accounts.contains_key(&told) {
                continue;
            }
            tracing::debug!(
                account = changed.0,
                "telling of devices changed elsewhere whose push was lost"
            );
            // One frame per account changed, however many it goes to.
            let frame = frames.entry(changed).or_insert_with(|| {
                Bytes::from(merpati_protocol::encode(&ServerFrame::DevicesChanged {
                    user: changed,
                }))
            });
            self.gateway.fanout().deliver(&[told], frame, None);
            self.devices_told.insert((told, changed), at_ms);
        }
        // What the next check's look back cannot read again is forgotten.
        self.devices_told
            .retain(|_, told_ms| told_ms.saturating_add(CLOCK_MARGIN_MS) >= since);
        self.devices_checked_ms = until;
    }

    /// Notes that the sessions here of `accounts` were handed `frame` (a push to them): if it
    /// says someone's devices changed, a head check need not say it again.
    pub(super) fn note_told(&mut self, accounts: &[UserId], frame: &[u8]) {
        if let Ok(ServerFrame::DevicesChanged { user }) = merpati_protocol::decode(frame) {
            let now_ms = crate::storage::now_ms();
            for &account in accounts {
                self.devices_told.insert((account, user), now_ms);
            }
        }
    }

    /// Tells the accounts here that left a chat (removed on another process, or left from
    /// another session) and were not told within the grace: their push was lost.
    pub(super) async fn tell_departures_owed(&mut self) {
        let until = crate::storage::now_ms().saturating_sub(PUSH_GRACE_MS);
        let due: Vec<(UserId, ChatId)> = self
            .departures_owed
            .iter()
            .filter(|(_, since)| **since <= until)
            .map(|(owed, _)| *owed)
            .collect();
        for (account, chat) in due {
            let snapshot = match self.gateway.storage().chat(chat).await {
                Ok(Some(snapshot)) => snapshot,
                Ok(None) => {
                    self.departures_owed.remove(&(account, chat));
                    continue;
                }
                Err(error) => {
                    // Still owed: the next check tries again.
                    tracing::warn!(%error, "cannot read a chat left");
                    return;
                }
            };
            if snapshot.has_member(account) {
                // Back in it since: the push of that tells it what it needs.
                self.departures_owed.remove(&(account, chat));
                continue;
            }
            tracing::debug!(
                chat = chat.0,
                "telling a member who left, whose push was lost"
            );
            // As the push would have: its sessions here get the chat without them, and
            // follow it no more.
            self.push_lost(account, &snapshot, snapshot.head).await;
        }
    }

    /// Does what the lost push of `snapshot` to `account` would have done here: the
    /// account's sessions get the chat as `account` sees it, and follow it from `from` on
    /// (or no more, if `account` is not in it).
    async fn push_lost(&mut self, account: UserId, snapshot: &ChatSnapshot, from: Seq) {
        let frame = Bytes::from(merpati_protocol::encode(&ServerFrame::Chat {
            request: None,
            chat: snapshot.info_for(account),
        }));
        self.pushed(account, &frame, from, true).await;
    }

    /// Whether a session of `account` here follows `chat`.
    pub(super) fn followed_by(&self, account: UserId, chat: ChatId) -> bool {
        self.accounts.get(&account).is_some_and(|known| {
            known
                .sessions()
                .any(|session| self.sessions.get(session).is_some_and(|f| f.follows(chat)))
        })
    }
}
