//! Rates per key: how often one source address, one account or one target may do something.
//!
//! A [`Throttle`] keeps a [`TokenBucket`] per key, made full on first use. Under attack the
//! keys themselves are the attacker's to choose (addresses, usernames), so the table is
//! bounded: when it is full, buckets that have refilled completely — keys that behave — are
//! forgotten (a full bucket is what a new key gets anyway), and if none has, a new key is
//! refused until one has. Everyone already in the table keeps their state.
//!
//! Source addresses are keyed by [`AddressKey`]: an IPv4 address, or an IPv6 address's /64
//! network, since one IPv6 host is usually handed a whole /64 and could otherwise rotate
//! through it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use std::time::Instant;

/// How many keys a table of the server's throttles holds: far more than honest use needs at
/// once, few enough that a table stays a few megabytes.
pub(crate) const TABLE_CAPACITY: usize = 100_000;

/// A rate: `per_minute` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) per_minute: u32,
    pub(crate) burst: u32,
}

impl Rate {
    fn bucket(self) -> RefillingBucket {
        RefillingBucket::new(self)
    }
}

/// A token bucket refilled per minute (the rates here are slow: attempts, sign-ups, claims),
/// which also says how long until the next token when it has none.
#[derive(Debug, Clone)]
struct RefillingBucket {
    rate: Rate,
    tokens: f64,
    refilled: Instant,
}

impl RefillingBucket {
    fn new(rate: Rate) -> RefillingBucket {
        RefillingBucket {
            rate,
            tokens: f64::from(rate.burst.max(1)),
            refilled: Instant::now(),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.rate.per_minute) / 60.0
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        let burst = f64::from(self.rate.burst.max(1));
        self.tokens = (self.tokens + elapsed * self.per_second()).min(burst);
        self.refilled = now;
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.rate.burst.max(1))
    }

    /// Takes `cost` tokens, or says how long until they are there.
    fn take(&mut self, cost: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            return Ok(());
        }
        let per_second = self.per_second();
        if per_second <= 0.0 {
            return Err(Duration::MAX);
        }
        Err(Duration::from_secs_f64((cost - self.tokens) / per_second))
    }

    /// Puts back `cost` tokens taken for work that was not done; never more than the burst.
    fn give_back(&mut self, cost: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + cost).min(f64::from(self.rate.burst.max(1)));
    }
}

/// When to come back, in words for a refusal's detail: `wait` rounded up to the second, or
/// to the minute past two minutes; an empty bucket that never refills says "later".
pub(crate) fn try_again_in(wait: Duration) -> String {
    let seconds = wait.as_secs().saturating_add(1);
    match seconds {
        0..=120 => format!("try again in {seconds} s"),
        121..=86_400 => format!("try again in {} min", seconds.div_ceil(60)),
        _ => "try again later".to_owned(),
    }
}

/// Per-key token buckets, at most `capacity` keys at once.
#[derive(Debug)]
pub(crate) struct Throttle<K> {
    rate: Rate,
    capacity: usize,
    buckets: Mutex<HashMap<K, RefillingBucket>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub(crate) fn new(rate: Rate, capacity: usize) -> Throttle<K> {
        Throttle {
            rate,
            capacity: capacity.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `Err(wait)` when its bucket is empty.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_cost_at(key, 1, Instant::now())
    }

    /// Takes `cost` tokens for `key` at once (a request that does `cost` units of work); a
    /// cost above the burst costs the whole burst.
    pub(crate) fn take_cost(&self, key: &K, cost: u32) -> Result<(), Duration> {
        self.take_cost_at(key, cost, Instant::now())
    }

    fn take_cost_at(&self, key: &K, cost: u32, now: Instant) -> Result<(), Duration> {
        if self.rate.per_minute == 0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= self.capacity {
                return Err(Duration::from_secs(60));
            }
        }
        let cost = f64::from(cost.min(self.rate.burst.max(1)));
        buckets
            .entry(key.clone())
            .or_insert_with(|| self.rate.bucket())
            .take(cost, now)
    }

    /// Puts back `cost` tokens that [`Throttle::take_cost`] took for `key` for work that
    /// turned out not to be needed (a resend of a message stored before).
    pub(crate) fn give_back(&self, key: &K, cost: u32) {
        self.give_back_at(key, cost, Instant::now());
    }

    fn give_back_at(&self, key: &K, cost: u32, now: Instant) {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A forgotten bucket was full, as a new one is: nothing to put back.
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.give_back(f64::from(cost.min(self.rate.burst.max(1))), now);
        }
    }
}

/// The key a source address is throttled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddressKey {
    V4(u32),
    /// The address's /64 network.
    V6Network(u64),
}

impl AddressKey {
    pub(crate) fn of(address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(u32::from(v4)),
                None => {
                    let network = u128::from(v6) >> 64;
                    AddressKey::V6Network(u64::try_from(network).unwrap_or(u64::MAX))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const RATE: Rate = Rate {
        per_minute: 60,
        burst: 3,
    };

    #[test]
    fn waits_are_said_in_seconds_then_minutes() {
        assert_eq!(try_again_in(Duration::from_millis(300)), "try again in 1 s");
        assert_eq!(try_again_in(Duration::from_secs(119)), "try again in 120 s");
        assert_eq!(
            try_again_in(Duration::from_secs(600)),
            "try again in 11 min"
        );
        assert_eq!(try_again_in(Duration::MAX), "try again later");
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_rate() {
        let throttle = Throttle::new(RATE, 100);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.take_cost_at(&"a", 1, start), Ok(()));
        }
        let wait = throttle
            .take_cost_at(&"a", 1, start)
            .expect_err("the burst is spent");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Other keys are untouched.
        assert_eq!(throttle.take_cost_at(&"b", 1, start), Ok(()));
        let later = start + Duration::from_secs(1);
        assert_eq!(throttle.take_cost_at(&"a", 1, later), Ok(()));
        assert!(throttle.take_cost_at(&"a", 1, later).is_err());
    }

    #[test]
    fn tokens_given_back_can_be_taken_again_up_to_the_burst() {
        let throttle = Throttle::new(RATE, 100);
        let start = Instant::now();
        assert_eq!(throttle.take_cost_at(&"a", 3, start), Ok(()));
        assert!(throttle.take_cost_at(&"a", 1, start).is_err());
        throttle.give_back_at(&"a", 2, start);
        assert_eq!(throttle.take_cost_at(&"a", 2, start), Ok(()));
        assert!(throttle.take_cost_at(&"a", 1, start).is_err());
        // More than was taken fills the bucket, no further.
        throttle.give_back_at(&"a", 10, start);
        assert_eq!(throttle.take_cost_at(&"a", 3, start), Ok(()));
        assert!(throttle.take_cost_at(&"a", 1, start).is_err());
    }

    #[test]
    fn a_full_table_forgets_behaving_keys_and_keeps_the_others() {
        let throttle = Throttle::new(RATE, 2);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.take_cost_at(&"attacker", 1, start), Ok(()));
        }
        assert_eq!(throttle.take_cost_at(&"other", 1, start), Ok(()));
        // Full: "other" has not refilled yet and "attacker" is empty, so a new key waits.
        assert!(throttle.take_cost_at(&"new", 1, start).is_err());
        let later = start + Duration::from_secs(1);
        // "other" refilled completely: forgotten, and the new key fits; the attacker is still
        // remembered, with the one token it regained.
        assert_eq!(throttle.take_cost_at(&"new", 1, later), Ok(()));
        assert!(throttle.take_cost_at(&"attacker", 1, later).is_ok());
        assert!(throttle.take_cost_at(&"attacker", 1, later).is_err());
    }

    #[test]
    fn ipv6_hosts_share_their_64_network_and_mapped_ipv4_is_ipv4() {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1);
        let b = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 9);
        let c = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1);
        assert_eq!(AddressKey::of(a.into()), AddressKey::of(b.into()));
        assert_ne!(AddressKey::of(a.into()), AddressKey::of(c.into()));
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            AddressKey::of(v4.to_ipv6_mapped().into()),
            AddressKey::of(v4.into())
        );
    }
}
