//! Rates for requests beyond sending (which has its own pace, `admission`): what one account
//! may ask of the server per minute, how many keys it may claim, and how many of one device's
//! one-time keys may be handed out.
//!
//! Every request kind costs something on a shared resource — the reader pool, or the one
//! writer every commit goes through — so every kind but `Send` (paced per connection) and
//! what is paced per connection like it (`SendDeletion`, the receipts' writes) draws on one
//! of two allowances per account: **reads** (`Sync`, `Fetch`, `History`, `QueryKeys`,
//! `FetchBackup`, `ListSessions`, `WatchPresence`, and `Typing` and the receipts in a chat
//! the account is not in) and **writes** (everything that commits). A request past its
//! allowance is refused with `TooManyRequests`, unserved. A request costs by what it makes
//! the server do: a page of history one read per 50 messages asked for, `QueryKeys` one per
//! 32 accounts and one more per account named that shares no chat with this one (finding
//! that out reads all of this one's chats), `Sync` one per ten chats of the account, `ToDeviceDone` one write per
//! started 64 acknowledged ids — so that a long list or a big page is not one cheap request.
//! `Typing`, `MarkDelivered` and `MarkRead` in the account's own chats cost nothing (their
//! member lists are cached); elsewhere one read each (`allowance`).
//!
//! One-time keys are the scarce part of the key directory: each starts one Olm session and is
//! handed out once. User ids are sequential, so without limits a stranger could claim every
//! key of every device. Two limits hold that line:
//!
//! - per claimer (account): the devices its `ClaimKeys` may name — enough for a large group's
//!   first message at once, then a steady rate; past it `TooManyRequests`.
//! - per target device: one-time keys handed out from it. Past that allowance a claim still
//!   succeeds, but with the device's fallback key — any number of people may start a session
//!   with it — so no claimer is refused and the one-time keys are not drained. The device is
//!   told (`KeysClaimed`) when its keys run low or its fallback key was handed out, tops up
//!   and publishes a new fallback key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use merpati_protocol::keys::DeviceKey;
use merpati_protocol::{ClientFrame, MAX_PAGE, UserId};

use crate::config::Config;
use crate::throttle::{Rate, TABLE_CAPACITY, Throttle};

/// Devices one account's claims may name.
pub(crate) const CLAIMS_PER_ACCOUNT: Rate = Rate {
    per_minute: 120,
    burst: 512,
};
/// One-time keys handed out from one device; claims beyond get its fallback key.
pub(crate) const ONE_TIME_KEYS_PER_DEVICE: Rate = Rate {
    per_minute: 10,
    burst: 5,
};
/// Acknowledged to-device ids that cost one write.
const TO_DEVICE_IDS_PER_WRITE: usize = 64;

/// The request rates every session shares.
#[derive(Debug)]
pub(crate) struct RequestLimits {
    reads_by_account: Throttle<UserId>,
    writes_by_account: Throttle<UserId>,
    pub(crate) claims_by_account: Throttle<UserId>,
    pub(crate) one_time_keys_by_device: Throttle<DeviceKey>,
    /// Accounts a connection of which was closed for asking on past its allowance, until
    /// when: none of their sessions signs in before (closing is no use to a client that
    /// comes straight back).
    closed_until: Mutex<HashMap<UserId, Instant>>,
    /// How many chats each account's last `Sync` found: the next one is charged for as many
    /// before its chats are read ([`RequestLimits::take_sync_before_reading`]).
    chats_at_last_sync: Mutex<HashMap<UserId, usize>>,
}

impl RequestLimits {
    /// The limits `config` sets: its read and write allowances per account (by default a
    /// reconnect's sync on every device and a long scroll back at once, then twenty a second —
    /// far above what a person's devices ask, far below what one client looping the costliest
    /// reads would take); claims and one-time keys as above.
    pub(crate) fn new(config: &Config) -> RequestLimits {
        let reads = Rate {
            per_minute: config.reads_per_minute,
            burst: config.read_burst,
        };
        let writes = Rate {
            per_minute: config.writes_per_minute,
            burst: config.write_burst,
        };
        RequestLimits {
            reads_by_account: Throttle::new(reads, TABLE_CAPACITY),
            writes_by_account: Throttle::new(writes, TABLE_CAPACITY),
            claims_by_account: Throttle::new(CLAIMS_PER_ACCOUNT, TABLE_CAPACITY),
            one_time_keys_by_device: Throttle::new(ONE_TIME_KEYS_PER_DEVICE, TABLE_CAPACITY),
            closed_until: Mutex::new(HashMap::new()),
            chats_at_last_sync: Mutex::new(HashMap::new()),
        }
    }
}

/// Which allowance a request draws on, and how much.
enum Cost {
    Read(u32),
    Write(u32),
    /// Paced elsewhere, or touches no storage.
    Free,
}

/// Messages of a page that cost one read: a full page (500) costs 11, so that a client
/// paging through history as fast as it can reads a few pages a second, not hundreds.
const MESSAGES_PER_READ: u32 = 50;
/// Accounts of a `QueryKeys` that cost one read.
const ACCOUNTS_PER_READ: usize = 32;
/// Chats of an account that cost one read of its `Sync` (each may bring a page).
pub(crate) const CHATS_PER_SYNC_READ: usize = 10;

fn started(items: usize, per_cost: usize) -> u32 {
    u32::try_from(items.div_ceil(per_cost).max(1)).unwrap_or(u32::MAX)
}

fn cost_of(frame: &ClientFrame) -> Cost {
    match frame {
        ClientFrame::Fetch { limit, .. } | ClientFrame::History { limit, .. } => {
            Cost::Read(1 + (*limit).min(MAX_PAGE) / MESSAGES_PER_READ)
        }
        ClientFrame::QueryKeys { users, .. } => Cost::Read(started(users.len(), ACCOUNTS_PER_READ)),
        // A `Sync` costs one more read per `CHATS_PER_SYNC_READ` chats of the account, taken
        // by the count its last one found before reading them, and the rest once they are
        // known (`take_sync_before_reading`).
        ClientFrame::Sync { .. }
        | ClientFrame::FetchBackup { .. }
        | ClientFrame::ListSessions { .. } => Cost::Read(1),
        // Whether the two share a 1:1 chat, then (if the account is offline) its presence.
        ClientFrame::WatchPresence { user: Some(_) } => Cost::Read(1),
        // Touches no storage; answered once a second at most (`dispatch`).
        ClientFrame::Ping => Cost::Free,
        ClientFrame::ToDeviceDone { ids } => {
            let started = ids.len().div_ceil(TO_DEVICE_IDS_PER_WRITE).max(1);
            Cost::Write(u32::try_from(started).unwrap_or(u32::MAX))
        }
        ClientFrame::CreateChat { .. }
        | ClientFrame::AddMember { .. }
        | ClientFrame::RemoveMember { .. }
        | ClientFrame::RenameGroup { .. }
        | ClientFrame::SetAdmin { .. }
        | ClientFrame::SetBlocked { .. }
        | ClientFrame::SetPrivacy { .. }
        | ClientFrame::PublishKeys { .. }
        | ClientFrame::SendToDevice { .. }
        | ClientFrame::PutBackup { .. }
        | ClientFrame::EndSession { .. }
        | ClientFrame::Logout => Cost::Write(1),
        // `ClaimKeys` has limits of its own (above); `Send`, `SendDeletion` and the receipts
        // are paced per connection (each waits in the connection's window of commits, like a
        // message); `Typing` and the receipts cost a read only outside the account's own
        // chats, known once their chat is looked up (`take_chat_lookup`); stopping to watch
        // touches no storage.
        ClientFrame::ClaimKeys { .. }
        | ClientFrame::Send { .. }
        | ClientFrame::SendDeletion { .. }
        | ClientFrame::MarkRead { .. }
        | ClientFrame::MarkDelivered { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::WatchPresence { user: None }
        | ClientFrame::Authenticate { .. } => Cost::Free,
        // Limited per connection, signed in or not (`sign_in`).
        ClientFrame::LookUpSalt { .. } => Cost::Free,
    }
}

impl RequestLimits {
    /// Takes what `frame` costs from `account`'s allowance: whether it cost anything, or how
    /// long to wait if the allowance is spent.
    pub(crate) fn take_request(
        &self,
        account: UserId,
        frame: &ClientFrame,
    ) -> Result<bool, Duration> {
        match cost_of(frame) {
            Cost::Read(cost) => self
                .reads_by_account
                .take_cost(&account, cost)
                .map(|()| true),
            Cost::Write(cost) => self
                .writes_by_account
                .take_cost(&account, cost)
                .map(|()| true),
            Cost::Free => Ok(false),
        }
    }

    /// `account` was closed for asking on past its allowance: it may sign in again `after`.
    pub(crate) fn close_account_for(&self, account: UserId, after: Duration) {
        let now = Instant::now();
        let mut closed = self
            .closed_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if closed.len() >= TABLE_CAPACITY {
            closed.retain(|_, until| *until > now);
        }
        if closed.len() < TABLE_CAPACITY {
            closed.insert(account, now + after);
        }
    }

    /// How long until `account` may sign in again, if it was closed for asking too much.
    pub(crate) fn closed_for(&self, account: UserId) -> Option<Duration> {
        let now = Instant::now();
        let mut closed = self
            .closed_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match closed.get(&account) {
            Some(until) if *until > now => Some(until.saturating_duration_since(now)),
            Some(_) => {
                closed.remove(&account);
                None
            }
            None => None,
        }
    }

    /// Takes the read a look-up of a chat costs `account` (`Typing`, `MarkDelivered`,
    /// `MarkRead`), before it is known whether the account is a member.
    pub(crate) fn take_chat_lookup(&self, account: UserId) -> Result<(), Duration> {
        self.reads_by_account.take_cost(&account, 1)
    }

    /// Gives back the read [`RequestLimits::take_chat_lookup`] took: the account was a member,
    /// and a member's look-up costs nothing.
    pub(crate) fn give_back_chat_lookup(&self, account: UserId) {
        self.reads_by_account.give_back(&account, 1);
    }

    /// Takes what a `Sync` costs beyond its first read by the chats `account`'s last one
    /// found, before this one reads them: an account syncing again and again past its
    /// allowance is refused before each read of all its chats, not after. Answers the chats
    /// charged for, for [`RequestLimits::take_sync_after_reading`].
    pub(crate) fn take_sync_before_reading(&self, account: UserId) -> Result<usize, Duration> {
        let known = self
            .chats_at_last_sync
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&account)
            .copied()
            .unwrap_or(0);
        self.take_reads(account, known / CHATS_PER_SYNC_READ)?;
        Ok(known)
    }

    /// Takes the rest of what a `Sync` that found `chats` chats costs, `charged` of them paid
    /// for already, and remembers how many it found.
    pub(crate) fn take_sync_after_reading(
        &self,
        account: UserId,
        charged: usize,
        chats: usize,
    ) -> Result<(), Duration> {
        {
            let mut known = self
                .chats_at_last_sync
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if known.len() >= TABLE_CAPACITY {
                known.clear();
            }
            known.insert(account, chats);
        }
        let more = (chats / CHATS_PER_SYNC_READ).saturating_sub(charged / CHATS_PER_SYNC_READ);
        self.take_reads(account, more)
    }

    /// Takes `reads` more of `account`'s reads, for what a request turned out to cost once
    /// done (a `Sync`'s chats, a `QueryKeys`'s strangers); the time to wait if they are not
    /// there.
    pub(crate) fn take_reads(&self, account: UserId, reads: usize) -> Result<(), Duration> {
        if reads == 0 {
            return Ok(());
        }
        self.reads_by_account
            .take_cost(&account, u32::try_from(reads).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use merpati_protocol::ChatId;

    use super::*;

    #[test]
    fn watching_someone_costs_a_read_and_stopping_costs_nothing() {
        let watch = ClientFrame::WatchPresence {
            user: Some(UserId(7)),
        };
        assert!(matches!(cost_of(&watch), Cost::Read(1)));
        let stop = ClientFrame::WatchPresence { user: None };
        assert!(matches!(cost_of(&stop), Cost::Free));
        // Charged once their chat is looked up (`allowance`), not by their kind.
        let typing = ClientFrame::Typing { chat_id: ChatId(1) };
        assert!(matches!(cost_of(&typing), Cost::Free));
    }
}
