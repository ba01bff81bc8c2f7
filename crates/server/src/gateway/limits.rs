//! Rates for requests beyond sending (which has its own pace, `admission`): what one account
//! may ask of the server per minute, how many keys it may claim, and how many of one device's
//! one-time keys may be handed out.
//!
//! Every request kind costs something on a shared resource — the reader pool, or the one
//! writer every commit goes through — so every kind but `Send` (paced per connection) and
//! what is paced per connection like it (`SendDeletion`, the receipts) and the live signals
//! (`Typing`, `WatchPresence`, which touch no storage) draws on one of two
//! allowances per account: **reads** (`Sync`, `Fetch`, `History`, `QueryKeys`,
//! `FetchBackup`, `ListSessions`) and **writes** (everything that commits). A request past
//! its allowance is refused with `TooManyRequests`, unserved. `ToDeviceDone` costs one per
//! started 64 acknowledged ids, so that a long list is not one cheap request.
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

use std::time::Duration;

use merpati_protocol::keys::DeviceKey;
use merpati_protocol::{ClientFrame, UserId};

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
/// Reads one account may ask for: a reconnect's sync on every device and a long scroll back
/// at once, then twenty a second — far above what a person's devices ask, far below what
/// one client looping the costliest reads would take.
pub(crate) const READS_PER_ACCOUNT: Rate = Rate {
    per_minute: 1_200,
    burst: 1_000,
};
/// Writes (besides messages and receipts) one account may ask for: key shares and their
/// acknowledgements for a large group after a reconnect at once, then twenty a second.
pub(crate) const WRITES_PER_ACCOUNT: Rate = Rate {
    per_minute: 1_200,
    burst: 1_000,
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
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            reads_by_account: Throttle::new(READS_PER_ACCOUNT, TABLE_CAPACITY),
            writes_by_account: Throttle::new(WRITES_PER_ACCOUNT, TABLE_CAPACITY),
            claims_by_account: Throttle::new(CLAIMS_PER_ACCOUNT, TABLE_CAPACITY),
            one_time_keys_by_device: Throttle::new(ONE_TIME_KEYS_PER_DEVICE, TABLE_CAPACITY),
        }
    }
}

/// Which allowance a request draws on, and how much.
enum Cost {
    Read,
    Write(u32),
    /// Paced elsewhere, or touches no storage.
    Free,
}

fn cost_of(frame: &ClientFrame) -> Cost {
    match frame {
        ClientFrame::Sync { .. }
        | ClientFrame::Fetch { .. }
        | ClientFrame::History { .. }
        | ClientFrame::QueryKeys { .. }
        | ClientFrame::FetchBackup { .. }
        | ClientFrame::ListSessions { .. } => Cost::Read,
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
        // message); `Typing` and `WatchPresence` touch no storage.
        ClientFrame::ClaimKeys { .. }
        | ClientFrame::Send { .. }
        | ClientFrame::SendDeletion { .. }
        | ClientFrame::MarkRead { .. }
        | ClientFrame::MarkDelivered { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::WatchPresence { .. }
        | ClientFrame::Authenticate { .. } => Cost::Free,
    }
}

impl RequestLimits {
    /// Takes what `frame` costs from `account`'s allowance; how long to wait if it is spent.
    pub(crate) fn take_request(
        &self,
        account: UserId,
        frame: &ClientFrame,
    ) -> Result<(), Duration> {
        match cost_of(frame) {
            Cost::Read => self.reads_by_account.take(&account),
            Cost::Write(cost) => self.writes_by_account.take_cost(&account, cost),
            Cost::Free => Ok(()),
        }
    }
}
