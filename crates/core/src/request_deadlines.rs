//! How long a file's request may go without progress before the app gives it up as
//! unanswered, so that the retries that follow an outage (`upload_parts`, `download_retries`)
//! also follow a connection that went silent: a NAT that dropped its state, Wi-Fi handing
//! over to mobile data, a proxy that hangs. Such a connection neither answers nor fails; the
//! operating system gives it up only after minutes, and meanwhile the progress bar stands
//! still. Giving up costs little: a download asks for the rest with a `Range`, and an upload's
//! server keeps what arrived of a part cut short (docs/protocol.md, "Files").
//!
//! - A download, or any request without a body, is given up after [`SILENCE_MS`] without a
//!   byte; each byte that arrives starts the wait again.
//! - An upload's part is sent whole before anything can come back, and `fetch` does not tell
//!   how its body goes: its answer is given up after the time the part takes at the least
//!   rate allowed ([`part_answer_within_ms`]), and [`SILENCE_MS`] more.

/// How long a request may wait without a byte before it is given up as unanswered. A link
/// that lost its way for a moment and found it again (a hand-over between networks, a lift)
/// resends within it: TCP's retransmissions come after 1, 2, 4 and 8 seconds, 15 in all, and
/// the next comes 16 seconds after that. Past this, a new connection asking only for what is
/// missing is the quicker way back, and a person watching a bar that stands still for longer
/// takes the app to be stuck.
pub const SILENCE_MS: u64 = 15_000;

/// The least rate, in bytes a second, at which an upload's part is waited for: 32 KiB/s, a
/// poor mobile link's uplink. A part on a slower link is not lost when its wait runs out:
/// the server keeps what arrived (it gives up only below 1 KiB/s, `MIN_PART_BYTES_PER_SEC`,
/// and only after its idle time), and the upload goes on from there with a smaller part. A
/// lower rate would leave a stalled part of a few megabytes standing for many minutes.
pub const LEAST_PART_BYTES_PER_SEC: u64 = 32 * 1024;

/// How much slower than the link's last measured rate a part may go and still be waited for:
/// a link's rate wanders, and a part is waited for at its least rate unless the link has
/// shown itself so much faster that waiting at that rate would leave a large part (grown on a
/// fast link) standing for minutes once the connection goes silent.
pub const LINK_SLOWDOWN: u64 = 4;

/// How long the answer to an upload's part of `part_bytes` may take, in milliseconds: the
/// part sent at the least rate allowed — [`LEAST_PART_BYTES_PER_SEC`], or a
/// [`LINK_SLOWDOWN`]th of the rate the link last showed (`link_bytes_per_sec`) if that is
/// faster — and [`SILENCE_MS`] for the request's setup and the server's answer.
pub fn part_answer_within_ms(part_bytes: u64, link_bytes_per_sec: Option<u64>) -> u64 {
    let rate = link_bytes_per_sec
        .map_or(0, |rate| rate / LINK_SLOWDOWN)
        .max(LEAST_PART_BYTES_PER_SEC);
    SILENCE_MS.saturating_add(part_bytes.saturating_mul(1000) / rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload_parts::SMALLEST_PART_BYTES;
    use merpati_protocol::blobs::MAX_UPLOAD_PART_BYTES;

    #[test]
    fn a_part_gets_the_silence_and_its_time_at_the_least_rate() {
        assert_eq!(part_answer_within_ms(0, None), SILENCE_MS);
        assert_eq!(
            part_answer_within_ms(SMALLEST_PART_BYTES, None),
            SILENCE_MS + 8_000,
            "256 KiB at 32 KiB/s"
        );
        assert_eq!(
            part_answer_within_ms(SMALLEST_PART_BYTES, Some(1024)),
            SILENCE_MS + 8_000,
            "a slow link is waited for at the least rate, not less"
        );
    }

    #[test]
    fn a_large_part_on_a_fast_link_is_not_waited_for_minutes() {
        let at_least_rate = part_answer_within_ms(MAX_UPLOAD_PART_BYTES, None);
        assert_eq!(at_least_rate, SILENCE_MS + 256_000);
        let fast = part_answer_within_ms(MAX_UPLOAD_PART_BYTES, Some(32 * 1024 * 1024));
        assert_eq!(fast, SILENCE_MS + 1_000, "8 MiB at a quarter of 32 MiB/s");
    }

    #[test]
    fn a_huge_part_or_rate_does_not_overflow() {
        assert!(part_answer_within_ms(u64::MAX, None) > SILENCE_MS);
        assert_eq!(part_answer_within_ms(0, Some(u64::MAX)), SILENCE_MS);
    }
}
