//! Pacing uploads: when the operator sets a rate (`MERPATI_BLOB_UPLOAD_BYTES_PER_SEC`), each
//! account's upload bytes are read no faster than that rate, all its uploads together. A part
//! is read a chunk at a time (`part`), and the next chunk is not read until the last one is
//! paid for, so a faster sender is held back by TCP itself and nothing waits in memory.
//!
//! Each account has a point in time its bytes so far are paid up to; a chunk moves it on by
//! its bytes' worth, starting from now if it lies in the past (no credit for idle time, so
//! no burst either).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use merpati_protocol::UserId;
use tokio::time::Instant;

/// How many accounts the table holds before the ones paid up are forgotten: those are what
/// a new account would be anyway.
const FORGET_ABOVE: usize = 10_000;

/// The pace of every account's upload bytes.
#[derive(Debug)]
pub(super) struct UploadPacer {
    /// 0: unpaced.
    bytes_per_sec: u64,
    paid_until: Mutex<HashMap<UserId, Instant>>,
}

impl UploadPacer {
    pub(super) fn new(bytes_per_sec: u64) -> UploadPacer {
        UploadPacer {
            bytes_per_sec,
            paid_until: Mutex::new(HashMap::new()),
        }
    }

    /// Charges `account` for `bytes` received at `now`; when the part may be answered.
    pub(super) fn charge(&self, account: UserId, bytes: u64, now: Instant) -> Instant {
        if self.bytes_per_sec == 0 {
            return now;
        }
        // u64 → f64 loses precision only past 2^53 bytes, far beyond any part.
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        // Each change is one insert or a retain: a panic cannot leave the table half-made.
        let mut paid_until = self
            .paid_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if paid_until.len() >= FORGET_ABOVE {
            paid_until.retain(|_, until| *until > now);
        }
        let from = paid_until
            .get(&account)
            .copied()
            .filter(|until| *until > now)
            .unwrap_or(now);
        let until = from + cost;
        paid_until.insert(account, until);
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_parts_are_answered_at_the_rate_and_idle_time_earns_no_burst() {
        let pacer = UploadPacer::new(1000);
        let (me, other) = (UserId(1), UserId(2));
        let now = Instant::now();
        assert_eq!(pacer.charge(me, 500, now), now + Duration::from_millis(500));
        assert_eq!(
            pacer.charge(me, 500, now),
            now + Duration::from_millis(1000)
        );
        assert_eq!(
            pacer.charge(other, 100, now),
            now + Duration::from_millis(100)
        );
        let later = now + Duration::from_secs(60);
        assert_eq!(
            pacer.charge(me, 1000, later),
            later + Duration::from_secs(1)
        );
    }

    #[test]
    fn an_unpaced_server_answers_at_once() {
        let now = Instant::now();
        assert_eq!(UploadPacer::new(0).charge(UserId(1), 1 << 20, now), now);
    }
}
