//! When a batch of store writes the store refused is applied again.
//!
//! A refused batch (the browser's storage is full, a transaction aborted) is never dropped:
//! the engine in memory has already moved past it — a chat's `synced` position, a message in
//! the outbox — so a batch lost while later ones land would lose those messages for good at
//! the next reload. The shell keeps the step and applies the same batch again, nothing of a
//! later step first and none of the step's frames before it is stored ([`crate::Step`]),
//! waiting longer after each refusal in a row: 1 s, doubling up to 30 s. The waits have no
//! jitter: they spare this device's disk, not a server that other clients share. Their shape
//! is [`Backoff`]'s, the one owner of growing waits.

use crate::reconnect::Backoff;

/// The wait after the first refusal.
const FIRST_WAIT_MS: u64 = 1_000;
/// The longest wait: storage freed by the person is used within this long.
const LONGEST_WAIT_MS: u64 = 30_000;

/// The waits between tries of one refused batch.
#[derive(Debug, Clone)]
pub struct StoreRetry {
    backoff: Backoff,
}

impl Default for StoreRetry {
    fn default() -> Self {
        StoreRetry {
            backoff: Backoff::new(FIRST_WAIT_MS, LONGEST_WAIT_MS),
        }
    }
}

impl StoreRetry {
    /// The store refused the batch (again): how long to wait before applying it again, in
    /// milliseconds.
    pub fn refused(&mut self) -> u64 {
        // The top of the backoff's range: no jitter (see the module documentation).
        self.backoff.next_delay_ms(u32::MAX)
    }

    /// How many refusals in a row so far.
    pub fn refusals(&self) -> u32 {
        self.backoff.failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_in_a_row_waits_twice_as_long_from_a_second_up_to_thirty() {
        let mut retry = StoreRetry::default();
        let waits: Vec<u64> = (0..8).map(|_| retry.refused()).collect();
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(retry.refusals(), 8);
    }
}
