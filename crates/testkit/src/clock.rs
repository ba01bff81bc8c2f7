//! The wall clock as the benchmarks stamp messages with it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 if the clock is set before it, `u64::MAX` past what
/// fits). Two processes on one machine read the same clock, so a sender's stamp and a
/// receiver's reading give the delivery latency.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_micros_counts_microseconds_not_milliseconds() {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or(0);
        let micros = u128::from(unix_micros());
        // Read a moment apart: within a second of a thousand times the milliseconds.
        assert!(
            micros.abs_diff(millis * 1_000) < 1_000_000,
            "{micros} vs {millis} ms"
        );
    }
}
