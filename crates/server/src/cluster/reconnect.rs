//! How soon a process tries to reach NATS again after losing it.

use std::time::Duration;

/// The longest wait between two attempts to reach NATS again.
const MOST_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// How long to wait before the `attempts`th attempt to reach NATS again: at once, then
/// doubling from 2 ms up to [`MOST_RECONNECT_DELAY`], times `jitter` (0.5 to 1). The
/// library's own back-off grows to 4 s, so a NATS server back after a few seconds was
/// reached only seconds later (bench/CLUSTER.md, "Time to converge"); the jitter keeps
/// many processes from knocking at once.
pub(super) fn delay(attempts: usize, jitter: f64) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exponent = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(20);
    let doubled = Duration::from_millis(1 << exponent).min(MOST_RECONNECT_DELAY);
    doubled.mul_f64(jitter.clamp(0.5, 1.0))
}

/// A random factor from 0.5 to 1.
pub(super) fn jitter() -> f64 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    0.5 + f64::from(byte[0]) / 510.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_is_at_once_and_the_wait_doubles_up_to_its_most_times_the_jitter() {
        assert_eq!(delay(1, 1.0), Duration::ZERO);
        assert_eq!(delay(2, 1.0), Duration::from_millis(2));
        assert_eq!(delay(5, 1.0), Duration::from_millis(16));
        assert_eq!(delay(30, 1.0), MOST_RECONNECT_DELAY);
        assert_eq!(delay(usize::MAX, 0.5), MOST_RECONNECT_DELAY / 2);
        assert_eq!(
            delay(30, 7.0),
            MOST_RECONNECT_DELAY,
            "the jitter is kept within 0.5 to 1"
        );
        for _ in 0..100 {
            let jitter = jitter();
            assert!((0.5..=1.0).contains(&jitter), "{jitter}");
        }
    }
}
