//! When to try connecting again: exponential backoff with full jitter.
//!
//! After a failed or lost connection the n-th retry waits a uniformly random time between 0
//! and `min(cap, base · 2ⁿ)` ("full jitter"), so that thousands of clients dropped at the same
//! moment spread their returns instead of flattening a recovering server together. A server's
//! `Retry-After` hint (it tells every client it turns away alike) is where the next wait's
//! spread starts, not a floor the spread falls under: clients told "one second" all at once
//! come back over the second after it, not together at its end.
//!
//! Getting online is not enough to start the waits over: a server whose storage fails ends
//! each connection right after its sync (`Goodbye { ServerBusy }`), and clients that started
//! over each time would be back every second, each bringing a resume and a full sync to the
//! store that is failing. Only a connection that *stayed* online for as long as the longest
//! wait does ([`Backoff::online`], [`Backoff::disconnected`]). This is the one place that
//! owns reconnect timing; the app and the load generator only supply the randomness and the
//! clock.

/// The backoff state of one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: u64,
    cap_ms: u64,
    failures: u32,
    floor_ms: u64,
    /// When the current connection got online, by the caller's clock.
    online_since_ms: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(500, 30_000)
    }
}

impl Backoff {
    /// A backoff whose first retry waits up to `base_ms`, never more than `cap_ms`.
    pub fn new(base_ms: u64, cap_ms: u64) -> Backoff {
        Backoff {
            base_ms: base_ms.max(1),
            cap_ms: cap_ms.max(1),
            failures: 0,
            floor_ms: 0,
            online_since_ms: None,
        }
    }

    /// The connection worked: the next failure starts from the smallest wait again.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.floor_ms = 0;
    }

    /// The connection got online (its sync is done) at `now_ms`, in milliseconds by the
    /// caller's clock. Telling it again for the same connection changes nothing.
    pub fn online(&mut self, now_ms: u64) {
        self.online_since_ms.get_or_insert(now_ms);
    }

    /// The connection ended at `now_ms` (the clock [`Backoff::online`] was told by). One that
    /// stayed online for at least the longest wait (the cap) proved itself: the next wait
    /// starts from the smallest again. One ended sooner — refused, failed to open, or cut by
    /// the server soon after its sync — counts as one more failure in a row, so the waits
    /// keep growing. Why the cap: a client whose connections the server keeps cutting comes
    /// back no more often than one waiting the longest wait every time, however long they
    /// last. A `Retry-After` hint is kept, whichever was told first.
    pub fn disconnected(&mut self, now_ms: u64) {
        if let Some(since) = self.online_since_ms.take()
            && now_ms.saturating_sub(since) >= self.cap_ms
        {
            self.failures = 0;
        }
    }

    /// The server asked clients to come back no sooner than this: the next wait is this and
    /// the jittered backoff after it.
    pub fn retry_after(&mut self, ms: u64) {
        self.floor_ms = self.floor_ms.max(ms);
    }

    /// How many failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait before the next attempt, given a uniformly random `u32` (from the caller's
    /// random source), in milliseconds. Counts one more failure.
    pub fn next_delay_ms(&mut self, random: u32) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << self.failures.min(20))
            .min(self.cap_ms);
        self.failures = self.failures.saturating_add(1);
        let jittered = (u128::from(ceiling) * u128::from(random) / u128::from(u32::MAX)) as u64;
        let floor = std::mem::take(&mut self.floor_ms);
        floor.saturating_add(jittered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(500, 30_000);
        let ceilings: Vec<u64> = (0..10).map(|_| backoff.next_delay_ms(u32::MAX)).collect();
        assert_eq!(
            ceilings,
            [
                500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let mut backoff = Backoff::new(500, 30_000);
        assert_eq!(backoff.next_delay_ms(0), 0);
        assert_eq!(backoff.next_delay_ms(u32::MAX / 2), 499);
    }

    #[test]
    fn a_retry_after_hint_is_a_floor_once_and_reset_starts_over() {
        let mut backoff = Backoff::new(500, 30_000);
        backoff.retry_after(5_000);
        assert_eq!(backoff.next_delay_ms(0), 5_000);
        assert_eq!(backoff.next_delay_ms(0), 0, "the hint applies once");
        backoff.retry_after(5_000);
        backoff.retry_after(2_000);
        assert_eq!(backoff.next_delay_ms(0), 5_000, "the longest hint holds");
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(u32::MAX), 500);
        assert_eq!(backoff.failures(), 1);
    }

    #[test]
    fn clients_given_the_same_retry_after_spread_out_after_it() {
        let waits: Vec<u64> = [0, u32::MAX / 2, u32::MAX]
            .into_iter()
            .map(|random| {
                let mut backoff = Backoff::new(500, 30_000);
                backoff.retry_after(1_000);
                backoff.next_delay_ms(random)
            })
            .collect();
        assert_eq!(waits, [1_000, 1_249, 1_500]);
    }

    /// One connection that gets online at `start`, is ended `online_for` later with a
    /// `Retry-After` of a second (as a server whose storage fails ends it), and the longest
    /// wait that follows.
    fn cut_after(backoff: &mut Backoff, start: u64, online_for: u64) -> u64 {
        backoff.online(start);
        backoff.retry_after(1_000);
        backoff.disconnected(start + online_for);
        backoff.next_delay_ms(u32::MAX)
    }

    #[test]
    fn connections_cut_soon_after_getting_online_wait_longer_and_longer() {
        let mut backoff = Backoff::new(500, 30_000);
        let waits: Vec<u64> = (0..9)
            .map(|attempt| cut_after(&mut backoff, attempt * 60_000, 50))
            .collect();
        assert_eq!(
            waits,
            [
                1_500, 2_000, 3_000, 5_000, 9_000, 17_000, 31_000, 31_000, 31_000
            ]
        );
    }

    #[test]
    fn a_connection_online_as_long_as_the_cap_starts_the_waits_over() {
        let mut backoff = Backoff::new(500, 30_000);
        for attempt in 0..5 {
            cut_after(&mut backoff, attempt * 60_000, 50);
        }
        assert_eq!(cut_after(&mut backoff, 600_000, 29_999), 1_000 + 16_000);
        assert_eq!(
            cut_after(&mut backoff, 700_000, 30_000),
            1_000 + 500,
            "the hint still holds"
        );
        assert_eq!(backoff.failures(), 1);
    }

    #[test]
    fn only_the_first_time_online_on_a_connection_counts() {
        let mut backoff = Backoff::new(500, 30_000);
        backoff.next_delay_ms(0);
        backoff.online(0);
        backoff.online(20_000);
        backoff.disconnected(30_000);
        assert_eq!(backoff.next_delay_ms(u32::MAX), 500);
    }

    #[test]
    fn a_connection_that_never_got_online_counts_as_a_failure() {
        let mut backoff = Backoff::new(500, 30_000);
        backoff.online(0);
        backoff.disconnected(40_000);
        backoff.next_delay_ms(0);
        backoff.disconnected(100_000);
        assert_eq!(backoff.next_delay_ms(u32::MAX), 1_000);
    }
}
