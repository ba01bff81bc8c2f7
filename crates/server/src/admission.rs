//! Admission control: who may connect, how fast, and how fast a session may send.
//!
//! A server that takes every connection in a reconnect storm runs out of file descriptors or
//! CPU and then serves nobody well. So before a WebSocket is upgraded — before anything is
//! allocated for it — [`AdmissionControl::admit`] refuses it when the server already holds its
//! cap of connections or when handshakes arrive faster than the configured rate, all clients
//! together or from its source address (which would otherwise use up everyone's). The refusal
//! is HTTP 503 with a `Retry-After` that is jittered, so that the refused do not all return in
//! the same second. The cap is kept below the process's open-file limit.
//!
//! Each session also gets a [`TokenBucket`] for its sends; the gateway stops reading a
//! session's socket while its bucket is empty (backpressure) and closes a session that stays
//! over its rate for too long.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::metrics::Counters;
use crate::throttle::{AddressKey, Rate, TABLE_CAPACITY, Throttle};

/// File descriptors kept free of WebSocket connections: the database and its WAL, the
/// listener, logs, and HTTP requests and refused handshakes in flight.
const RESERVED_FILES: u64 = 1_000;

/// `Retry-After` (seconds) for a handshake refused because the server is full: people must
/// leave before there is room, so the refused spread over a few seconds.
const FULL_RETRY_AFTER_S: (u64, u64) = (1, 5);
/// `Retry-After` (seconds) for a handshake refused for coming too fast.
const TOO_FAST_RETRY_AFTER_S: (u64, u64) = (1, 3);
/// `retry_after_ms` of the `Goodbye { RateLimited }` that closes a session sending too fast.
const RATE_LIMITED_RETRY_AFTER_MS: (u64, u64) = (5_000, 15_000);

/// A uniformly random number in `min..=max`.
pub(crate) fn jitter(min: u64, max: u64) -> u64 {
    let mut bytes = [0u8; 8];
    // Without randomness every client gets the middle of the range: worse spread, still valid.
    if getrandom::fill(&mut bytes).is_err() {
        return min + (max - min) / 2;
    }
    min + u64::from_le_bytes(bytes) % (max - min + 1)
}

/// A token bucket: `per_second` tokens a second, holding at most `burst`. A rate of 0 means
/// no limit.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(per_second: u32, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            per_second: f64::from(per_second),
            burst,
            tokens: burst,
            refilled: Instant::now(),
        }
    }

    fn unlimited(&self) -> bool {
        self.per_second <= 0.0
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled = now;
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for something that turned out to cost nothing.
    pub(crate) fn give_back(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + 1.0).min(self.burst);
    }

    /// When the next token will be there.
    pub(crate) fn ready_at(&mut self, now: Instant) -> Instant {
        if self.unlimited() {
            return now;
        }
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        now + Duration::from_secs_f64(missing / self.per_second)
    }
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds its cap of connections.
    Full,
    /// Handshakes are coming faster than the configured rate.
    TooFast,
    /// The server is shutting down.
    ShuttingDown,
}

impl Refusal {
    /// The jittered `Retry-After`, in seconds.
    pub(crate) fn retry_after_s(self) -> u64 {
        let (min, max) = match self {
            Refusal::Full | Refusal::ShuttingDown => FULL_RETRY_AFTER_S,
            Refusal::TooFast => TOO_FAST_RETRY_AFTER_S,
        };
        jitter(min, max)
    }

    /// Words for the response body.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Full => "the server is full",
            Refusal::TooFast => "too many connections are being opened",
            Refusal::ShuttingDown => "the server is restarting",
        }
    }
}

/// How fast one session may send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendLimit {
    per_second: u32,
    burst: u32,
    /// How long a session may be held back without a break before it is closed.
    pub(crate) hold_limit: Duration,
    /// How many of a session's messages may wait for their commit at once.
    pub(crate) in_flight: usize,
}

impl SendLimit {
    /// A fresh bucket for a new session.
    pub(crate) fn bucket(&self) -> TokenBucket {
        TokenBucket::new(self.per_second, self.burst)
    }

    /// The jittered `retry_after_ms` for a session closed for sending too fast.
    pub(crate) fn retry_after_ms(&self) -> u32 {
        let (min, max) = RATE_LIMITED_RETRY_AFTER_MS;
        u32::try_from(jitter(min, max)).unwrap_or(u32::MAX)
    }
}

/// The gate every WebSocket handshake passes.
#[derive(Debug)]
pub(crate) struct AdmissionControl {
    max_connections: usize,
    max_sessions_per_account: usize,
    handshakes: Mutex<TokenBucket>,
    /// Handshakes per source address; `None` without a limit of its own.
    handshakes_by_address: Option<Throttle<AddressKey>>,
    send_limit: SendLimit,
    counters: Arc<Counters>,
}

/// A connection counted as open until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    counters: Arc<Counters>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.counters
            .connections_open
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl AdmissionControl {
    /// Admission control as configured, the connection cap lowered to what the open-file
    /// limit leaves room for.
    pub(crate) fn new(config: &Config, counters: Arc<Counters>) -> AdmissionControl {
        let max_connections = connection_cap(config.max_connections, open_file_limit());
        tracing::info!(
            max_connections,
            max_handshakes_per_second = config.max_handshakes_per_second,
            send_rate = config.send_rate,
            "admission control"
        );
        AdmissionControl {
            max_connections,
            max_sessions_per_account: usize::try_from(config.max_sessions_per_account)
                .unwrap_or(usize::MAX),
            handshakes: Mutex::new(TokenBucket::new(
                config.max_handshakes_per_second,
                config.handshake_burst,
            )),
            handshakes_by_address: (config.max_handshakes_per_address_per_minute > 0
                && config.max_connections_per_address > 0)
                .then(|| {
                    let rate = Rate {
                        per_minute: config.max_handshakes_per_address_per_minute,
                        // A household or a school's NAT reconnecting all at once.
                        burst: config.max_connections_per_address,
                    };
                    Throttle::new(rate, TABLE_CAPACITY)
                }),
            send_limit: SendLimit {
                per_second: config.send_rate,
                burst: config.send_burst,
                hold_limit: Duration::from_millis(config.send_hold_limit_ms),
                in_flight: usize::try_from(config.sends_in_flight.max(1)).unwrap_or(1),
            },
            counters,
        }
    }

    /// Signed-in sessions one account may hold at once (0: no cap).
    pub(crate) fn max_sessions_per_account(&self) -> usize {
        self.max_sessions_per_account
    }

    /// How fast each session may send.
    pub(crate) fn send_limit(&self) -> SendLimit {
        self.send_limit
    }

    /// The counters shared with the rest of the server.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Lets a handshake from `peer` through, counting its connection as open, or says why not.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let open = &self.counters.connections_open;
        // Full is checked first, so a refused connection does not use up a handshake token.
        if open.load(Ordering::Acquire) >= self.max_connections {
            Counters::bump(&self.counters.connections_refused);
            return Err(Refusal::Full);
        }
        // The address's own rate before everyone's, so that its refused handshakes take none
        // of the tokens the others share.
        let address = AddressKey::of(peer);
        if let Some(by_address) = &self.handshakes_by_address
            && by_address.take(&address).is_err()
        {
            Counters::bump(&self.counters.handshakes_refused);
            return Err(Refusal::TooFast);
        }
        let fast_enough = match self.handshakes.lock() {
            Ok(mut bucket) => bucket.try_take(Instant::now()),
            // A panic elsewhere while holding the lock cannot leave the bucket inconsistent.
            Err(poisoned) => poisoned.into_inner().try_take(Instant::now()),
        };
        if !fast_enough {
            if let Some(by_address) = &self.handshakes_by_address {
                by_address.give_back(&address, 1);
            }
            Counters::bump(&self.counters.handshakes_refused);
            return Err(Refusal::TooFast);
        }
        let admitted = open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| {
            (count < self.max_connections).then_some(count + 1)
        });
        match admitted {
            Ok(before) => {
                self.counters
                    .connections_peak
                    .fetch_max(before + 1, Ordering::AcqRel);
                Ok(ConnectionPermit {
                    counters: Arc::clone(&self.counters),
                })
            }
            Err(_) => {
                Counters::bump(&self.counters.connections_refused);
                Err(Refusal::Full)
            }
        }
    }
}

/// The connection cap: as configured, but leaving [`RESERVED_FILES`] of the open-file limit
/// (if there is one) to everything else.
fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else {
        return configured;
    };
    let room = limit.saturating_sub(RESERVED_FILES).max(limit / 2);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if configured > room {
        tracing::warn!(
            configured,
            open_file_limit = limit,
            cap = room,
            "the connection cap is lowered to fit the open-file limit"
        );
    }
    configured.min(room)
}

/// The open-file limit (RLIMIT_NOFILE), first raised to its hard maximum; `None` if
/// unlimited or unknown.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && maximum > current
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::info!(from = current, to = maximum, "raised the open-file limit"),
            Err(error) => tracing::debug!(%error, "cannot raise the open-file limit"),
        }
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(19_000, Some(20_000)), 19_000);
        assert_eq!(connection_cap(50_000, Some(20_000)), 19_000);
        assert_eq!(connection_cap(5_000, Some(1_024)), 512);
        assert_eq!(connection_cap(500, Some(1_024)), 500);
        assert_eq!(connection_cap(3_000, None), 3_000);
    }

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3);
        assert!((0..3).all(|_| bucket.try_take(start)));
        assert!(!bucket.try_take(start));
        let ready = bucket.ready_at(start);
        assert!(ready > start && ready <= start + Duration::from_millis(101));
        assert!(bucket.try_take(start + Duration::from_millis(100)));
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
        // Refills never exceed the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.try_take(later)));
        assert!(!bucket.try_take(later));
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0, 1);
        assert!((0..1_000).all(|_| bucket.try_take(now)));
        assert_eq!(bucket.ready_at(now), now);
    }

    #[test]
    fn jitter_stays_in_range_and_spreads() {
        let values: Vec<u64> = (0..200).map(|_| jitter(1, 5)).collect();
        assert!(values.iter().all(|v| (1..=5).contains(v)));
        assert!(values.iter().any(|v| *v != values[0]));
    }
}
