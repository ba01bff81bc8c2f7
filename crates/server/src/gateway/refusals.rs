//! When a connection that keeps asking past its allowance is closed.
//!
//! A request past the account's allowance is refused with `TooManyRequests` and the time to
//! wait. An honest client waits that long; one that does not costs the server a refusal a
//! request for as long as it goes on, so after [`MAX_REFUSED_WITHOUT_WAITING`] refusals it is
//! closed (`Goodbye { RateLimited }`). Being served forgives the refusals only once the client
//! has waited as long as it was told: an attacker that keeps one cheap request fitting in what
//! the allowance refills, between expensive ones it never waits for, is still closed.

use std::time::{Duration, Instant};

/// Refusals a connection may collect without waiting as told; the last one closes it.
pub(super) const MAX_REFUSED_WITHOUT_WAITING: u32 = 100;

/// One connection's refusals since it last waited as long as it was told.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    count: u32,
    /// The latest time any of those refusals said to wait until.
    wait_until: Option<Instant>,
}

impl Refusals {
    /// A request was refused at `now`, told to wait `wait`. Answers whether the connection is
    /// to be closed: it has been refused [`MAX_REFUSED_WITHOUT_WAITING`] times without waiting.
    pub(super) fn refused(&mut self, now: Instant, wait: Duration) -> bool {
        self.count = self.count.saturating_add(1);
        let until = now + wait;
        self.wait_until = Some(self.wait_until.map_or(until, |earlier| earlier.max(until)));
        self.count >= MAX_REFUSED_WITHOUT_WAITING
    }

    /// A request that drew on the allowance was served at `now`: the refusals are forgiven if
    /// the client waited as long as it was told.
    pub(super) fn served(&mut self, now: Instant) {
        if self.wait_until.is_none_or(|until| now >= until) {
            *self = Refusals::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(500);

    #[test]
    fn a_client_that_waits_as_told_is_never_closed() {
        let mut refusals = Refusals::default();
        let mut now = Instant::now();
        for _ in 0..10 * MAX_REFUSED_WITHOUT_WAITING {
            // Refused once or twice, then served once it has waited.
            assert!(!refusals.refused(now, WAIT));
            assert!(!refusals.refused(now + Duration::from_millis(1), WAIT));
            now += WAIT + Duration::from_millis(1);
            refusals.served(now);
        }
    }

    #[test]
    fn refused_in_a_row_without_waiting_the_hundredth_refusal_closes() {
        let mut refusals = Refusals::default();
        let now = Instant::now();
        for n in 1..MAX_REFUSED_WITHOUT_WAITING {
            assert!(!refusals.refused(now, WAIT), "refusal {n}");
        }
        assert!(refusals.refused(now, WAIT));
    }

    #[test]
    fn cheap_requests_served_between_refusals_do_not_forgive_a_client_that_never_waits() {
        let mut refusals = Refusals::default();
        let mut now = Instant::now();
        for n in 1..MAX_REFUSED_WITHOUT_WAITING {
            assert!(!refusals.refused(now, WAIT), "refusal {n}");
            // A cheap request fits in what refilled meanwhile, long before the wait is over.
            now += Duration::from_millis(2);
            refusals.served(now);
        }
        assert!(refusals.refused(now, WAIT));
    }

    #[test]
    fn only_waiting_out_the_longest_wait_told_forgives() {
        let mut refusals = Refusals::default();
        let now = Instant::now();
        refusals.refused(now, Duration::from_secs(10));
        refusals.refused(now, Duration::from_millis(10));
        refusals.served(now + Duration::from_secs(1));
        assert_eq!(refusals.count, 2, "told to wait ten seconds, it waited one");
        refusals.served(now + Duration::from_secs(10));
        assert_eq!(refusals.count, 0);
    }
}
