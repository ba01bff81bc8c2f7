//! How much of a file each upload request carries.
//!
//! Every `PATCH` costs the same whatever it carries (a request through the browser, an
//! `fsync` on the server), so on a fast link few large parts are quickest; but a part is also
//! the step the progress bar moves by, so on a slow link parts must stay small. [`PartSize`]
//! starts small and follows the link: a part that landed quickly makes the next one
//! `GROWTH` times larger, up to what the server accepts ([`MAX_UPLOAD_PART_BYTES`]); one
//! that took long halves it, down to [`SMALLEST_PART_BYTES`], as does one given up without
//! an answer ([`PartSize::stalled`]). It also keeps the rate the link last showed, which
//! says how long the next part's answer is waited for (`request_deadlines`).
//! [`after_part`] reads the server's answer to a part: where to go on from, or to wait;
//! [`after_refusal`] reads any other answer to an upload's request: try again (not before
//! the server's `Retry-After`), or give up with the reason the message shows.

use merpati_protocol::ErrorCode;
use merpati_protocol::blobs::MAX_UPLOAD_PART_BYTES;

/// The smallest part: what the first request carries, and the least a slow link sends.
pub const SMALLEST_PART_BYTES: u64 = 256 * 1024;

/// A part that landed within this many milliseconds was quick: the next may be larger.
const QUICK_MS: u64 = 250;

/// A part that took longer than this was slow: the next is smaller, so the bar moves.
const SLOW_MS: u64 = 1_000;

/// How much larger a quick part makes the next. As large as it can be while a part that
/// follows a quick one, at the same pace, still lands within [`SLOW_MS`]: the bar moves at
/// least once a second, and a quick link reaches the largest parts in few steps.
const GROWTH: u64 = SLOW_MS / QUICK_MS;

/// The size of an upload's next part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSize {
    bytes: u64,
    /// The rate the last part landed at, in bytes a second; `None` before one did, or after
    /// one stalled (the link is not what it was).
    link_bytes_per_sec: Option<u64>,
}

impl Default for PartSize {
    fn default() -> PartSize {
        PartSize {
            bytes: SMALLEST_PART_BYTES,
            link_bytes_per_sec: None,
        }
    }
}

impl PartSize {
    /// How many bytes the next part carries (fewer if fewer are left).
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// The rate the last part landed at, in bytes a second, if one did since the last stall.
    pub fn link_bytes_per_sec(self) -> Option<u64> {
        self.link_bytes_per_sec
    }

    /// A part of [`PartSize::bytes`] landed after `elapsed_ms`.
    pub fn landed(&mut self, elapsed_ms: u64) {
        self.link_bytes_per_sec = Some(self.bytes.saturating_mul(1000) / elapsed_ms.max(1));
        if elapsed_ms <= QUICK_MS {
            self.bytes = (self.bytes * GROWTH).min(MAX_UPLOAD_PART_BYTES);
        } else if elapsed_ms > SLOW_MS {
            self.bytes = (self.bytes / 2).max(SMALLEST_PART_BYTES);
        }
    }

    /// A part was given up without an answer (`request_deadlines`): the link may be slower
    /// than it was, or another one; the next part is smaller and waited for at the least rate.
    pub fn stalled(&mut self) {
        self.bytes = (self.bytes / 2).max(SMALLEST_PART_BYTES);
        self.link_bytes_per_sec = None;
    }
}

/// What the server's answer to a part says to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPart {
    /// Send the next part from this offset: what the server holds.
    GoOnFrom(u64),
    /// Another request of this upload is still being appended (one this device gave up on,
    /// which the server has not yet seen end): wait, then ask where the upload stands.
    WaitAndAsk,
}

/// Reads the answer to a part sent at `sent_at`: a success, or a conflict (409), naming the
/// `held` bytes. A conflict naming another offset means a part landed whose answer was lost:
/// go on from what the server holds. One naming the offset sent means the server is still
/// appending an earlier request; asking again at once would only be refused again.
pub fn after_part(sent_at: u64, conflict: bool, held: u64) -> AfterPart {
    if conflict && held == sent_at {
        AfterPart::WaitAndAsk
    } else {
        AfterPart::GoOnFrom(held)
    }
}

/// The longest `Retry-After` an upload heeds, in milliseconds: a person watches its bar, so a
/// longer hint (a misconfigured server's) is taken as this.
pub const MAX_RETRY_AFTER_MS: u64 = 5 * 60 * 1000;

/// Which of an upload's requests was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRequest {
    /// `PUT`: create the upload, or learn where it stands.
    Create,
    /// `PATCH`: append a part.
    Append,
    /// `HEAD`: learn where it stands.
    Ask,
}

/// What an upload does after an answer it did not ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Try again after the backoff's wait, and not sooner than this many milliseconds (the
    /// server's `Retry-After`; 0 when it gave none).
    TryAgain { not_before_ms: u64 },
    /// The server will not take the file: the message shows failed with this reason.
    GiveUp(ErrorCode),
}

/// Reads an answer with `status` to `request`, with its `Retry-After` in seconds if it had one
/// (docs/protocol.md, "Files"; at most [`MAX_RETRY_AFTER_MS`] is heeded). What passes is tried
/// again: a token being rotated (401), a part that stalled (408), a server that is busy,
/// stopping or restarting (429, 5xx), and a `PATCH` refused because the server's disk is full
/// (507: nothing held is lost, and the person's account is not at fault). What does not is
/// given up: a `PUT`'s 507 is the account's quota, 413 a file larger than the server takes,
/// anything else an upload the server no longer has (deleted as an orphan, or never this
/// account's).
pub fn after_refusal(
    request: UploadRequest,
    status: u16,
    retry_after_secs: Option<u64>,
) -> AfterRefusal {
    let passing = match status {
        507 => request == UploadRequest::Append,
        401 | 408 | 429 => true,
        _ => status >= 500,
    };
    if passing {
        return AfterRefusal::TryAgain {
            not_before_ms: retry_after_secs
                .unwrap_or(0)
                .saturating_mul(1000)
                .min(MAX_RETRY_AFTER_MS),
        };
    }
    AfterRefusal::GiveUp(match status {
        413 => ErrorCode::MessageTooLarge,
        507 => ErrorCode::QuotaExceeded,
        _ => ErrorCode::NoSuchBlob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_waited_out_but_a_full_quota_is_not() {
        assert_eq!(
            after_refusal(UploadRequest::Append, 507, None),
            AfterRefusal::TryAgain { not_before_ms: 0 }
        );
        assert_eq!(
            after_refusal(UploadRequest::Create, 507, None),
            AfterRefusal::GiveUp(ErrorCode::QuotaExceeded)
        );
    }

    #[test]
    fn what_passes_is_tried_again_not_before_the_servers_retry_after() {
        for status in [401, 408, 429, 500, 502, 503] {
            assert_eq!(
                after_refusal(UploadRequest::Append, status, Some(7)),
                AfterRefusal::TryAgain {
                    not_before_ms: 7_000
                },
                "{status}"
            );
        }
        assert_eq!(
            after_refusal(UploadRequest::Create, 503, None),
            AfterRefusal::TryAgain { not_before_ms: 0 }
        );
        assert_eq!(
            after_refusal(UploadRequest::Ask, 503, Some(u64::MAX)),
            AfterRefusal::TryAgain {
                not_before_ms: MAX_RETRY_AFTER_MS
            },
            "a huge hint is capped"
        );
    }

    #[test]
    fn what_will_not_pass_is_given_up_with_its_reason() {
        assert_eq!(
            after_refusal(UploadRequest::Create, 413, None),
            AfterRefusal::GiveUp(ErrorCode::MessageTooLarge)
        );
        for status in [400, 404, 409] {
            assert_eq!(
                after_refusal(UploadRequest::Append, status, Some(3)),
                AfterRefusal::GiveUp(ErrorCode::NoSuchBlob),
                "{status}"
            );
        }
        assert_eq!(
            after_refusal(UploadRequest::Ask, 404, None),
            AfterRefusal::GiveUp(ErrorCode::NoSuchBlob)
        );
    }

    #[test]
    fn a_conflict_at_the_offset_sent_waits_and_any_other_answer_goes_on() {
        assert_eq!(after_part(100, false, 200), AfterPart::GoOnFrom(200));
        assert_eq!(
            after_part(100, true, 300),
            AfterPart::GoOnFrom(300),
            "answer lost"
        );
        assert_eq!(after_part(100, true, 100), AfterPart::WaitAndAsk);
    }

    #[test]
    fn quick_parts_grow_to_what_the_server_accepts_and_no_further() {
        let mut part = PartSize::default();
        assert_eq!(part.bytes(), SMALLEST_PART_BYTES);
        part.landed(20);
        assert_eq!(part.bytes(), 4 * SMALLEST_PART_BYTES);
        for _ in 0..10 {
            part.landed(20);
        }
        assert_eq!(part.bytes(), MAX_UPLOAD_PART_BYTES);
    }

    #[test]
    fn slow_parts_shrink_to_the_smallest_and_steady_ones_stay() {
        let mut part = PartSize::default();
        while part.bytes() < MAX_UPLOAD_PART_BYTES {
            part.landed(10);
        }
        part.landed(600);
        assert_eq!(
            part.bytes(),
            MAX_UPLOAD_PART_BYTES,
            "neither quick nor slow"
        );
        part.landed(5_000);
        assert_eq!(part.bytes(), MAX_UPLOAD_PART_BYTES / 2);
        for _ in 0..10 {
            part.landed(5_000);
        }
        assert_eq!(part.bytes(), SMALLEST_PART_BYTES);
    }

    #[test]
    fn a_stalled_part_halves_the_next_and_forgets_the_links_rate() {
        let mut part = PartSize::default();
        assert_eq!(part.link_bytes_per_sec(), None);
        part.landed(20);
        assert_eq!(part.link_bytes_per_sec(), Some(SMALLEST_PART_BYTES * 50));
        part.stalled();
        assert_eq!(part.bytes(), 2 * SMALLEST_PART_BYTES);
        assert_eq!(part.link_bytes_per_sec(), None);
        part.stalled();
        part.stalled();
        assert_eq!(part.bytes(), SMALLEST_PART_BYTES);
    }
}
