//! A request the server refused for now (too many requests, a failure inside it), tried
//! again after a growing wait on the engine's clock ([`Engine::advance_clock`]) rather than
//! at once — at once would loop — or never.
//!
//! [`Engine::advance_clock`]: super::Engine::advance_clock

/// The first wait; it doubles with each refusal in a row, up to [`MAX_WAIT_MS`].
const FIRST_WAIT_MS: u64 = 2_000;
const MAX_WAIT_MS: u64 = 60_000;

/// When a refused request is to be tried again.
#[derive(Debug, Default)]
pub(super) struct Retry {
    at_ms: Option<u64>,
    refusals_in_a_row: u32,
}

impl Retry {
    /// The request was refused at `now_ms`: wait before trying it again.
    pub(super) fn refused(&mut self, now_ms: u64) {
        let doublings = self.refusals_in_a_row.min(5);
        self.refusals_in_a_row += 1;
        let wait = (FIRST_WAIT_MS << doublings).min(MAX_WAIT_MS);
        self.at_ms = Some(now_ms.saturating_add(wait));
    }

    /// The request was served: the next refusal waits the first wait again.
    pub(super) fn served(&mut self) {
        self.refusals_in_a_row = 0;
    }

    /// Whether a try is waiting for its time.
    pub(super) fn is_waiting(&self) -> bool {
        self.at_ms.is_some()
    }

    /// When the waiting try is due.
    pub(super) fn at_ms(&self) -> Option<u64> {
        self.at_ms
    }

    /// Whether the waiting try is due at `now_ms`; if so it is no longer waiting.
    pub(super) fn take_due(&mut self, now_ms: u64) -> bool {
        if self.at_ms.is_some_and(|at| now_ms >= at) {
            self.at_ms = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_in_a_row_waits_twice_as_long_up_to_a_minute() {
        let mut retry = Retry::default();
        let mut waits = Vec::new();
        for _ in 0..8 {
            retry.refused(1_000);
            waits.push(retry.at_ms().unwrap_or_default() - 1_000);
        }
        assert_eq!(
            waits,
            [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert!(!retry.take_due(60_999));
        assert!(retry.take_due(61_000));
        assert!(!retry.is_waiting());
        retry.served();
        retry.refused(0);
        assert_eq!(retry.at_ms(), Some(2_000));
    }
}
