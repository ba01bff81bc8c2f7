//! Rates for requests beyond sending: how many keys one account may claim, and how many of
//! one device's one-time keys may be handed out, per minute.
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

use merpati_protocol::UserId;
use merpati_protocol::keys::DeviceKey;

use crate::throttle::{Rate, Throttle};

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
/// Keys each table holds at most (see `throttle`).
const TABLE_CAPACITY: usize = 100_000;

/// The request rates every session shares.
#[derive(Debug)]
pub(crate) struct RequestLimits {
    pub(crate) claims_by_account: Throttle<UserId>,
    pub(crate) one_time_keys_by_device: Throttle<DeviceKey>,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            claims_by_account: Throttle::new(CLAIMS_PER_ACCOUNT, TABLE_CAPACITY),
            one_time_keys_by_device: Throttle::new(ONE_TIME_KEYS_PER_DEVICE, TABLE_CAPACITY),
        }
    }
}
