//! When a download that was cut short or refused tries again, and when it gives up.
//!
//! A download asks for what it still lacks (`Range`, docs/protocol.md "Files"), so trying
//! again after an outage, a server restart or a busy server costs only the missing bytes. A
//! person is watching its bar, though, and a server that has lost the file will not find it
//! again: a refusal that cannot pass ends the download at once, and passing faults end it
//! after [`MAX_FAILURES_IN_A_ROW`] tries with no byte arriving between them. The person is
//! then shown that it failed, with the button to start it again.

use crate::upload_parts::MAX_RETRY_AFTER_MS;

/// How many tries in a row may fail, no byte arriving between them, before a download gives
/// up. With the app's backoff (waits of up to 0.5, 1, 2 … seconds, at most 10) that is a
/// minute or so of outage.
pub const MAX_FAILURES_IN_A_ROW: u32 = 12;

/// What went wrong with one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadFault {
    /// No answer, or the body broke off: offline, the server restarting, or a connection
    /// that went silent (`request_deadlines`).
    Cut,
    /// An answer with a status other than the blob's bytes, and its `Retry-After` in seconds.
    Refused {
        status: u16,
        retry_after_secs: Option<u64>,
    },
}

/// What a download does after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDownloadFault {
    /// Ask again for what is missing, after the backoff's wait and not sooner than this many
    /// milliseconds (the server's `Retry-After`; 0 when it gave none).
    TryAgain { not_before_ms: u64 },
    /// The server has no such file (404): deleted with its message, or never there.
    Gone,
    /// Give up: the server refuses for a reason that will not pass, or the faults went on too
    /// long.
    GiveUp,
}

/// The faults of one download so far.
#[derive(Debug, Clone, Default)]
pub struct DownloadRetries {
    failures_in_a_row: u32,
}

impl DownloadRetries {
    /// Bytes arrived: the faults before them no longer count against the download.
    pub fn progressed(&mut self) {
        self.failures_in_a_row = 0;
    }

    /// Reads a fault. What passes is tried again: a cut, a token rotated meanwhile (401), a
    /// request that stalled (408), a server busy, stopping or restarting (429, 5xx).
    pub fn after(&mut self, fault: DownloadFault) -> AfterDownloadFault {
        let not_before_ms = match fault {
            DownloadFault::Cut => 0,
            DownloadFault::Refused { status: 404, .. } => return AfterDownloadFault::Gone,
            DownloadFault::Refused {
                status,
                retry_after_secs,
            } if matches!(status, 401 | 408 | 429) || status >= 500 => retry_after_secs
                .unwrap_or(0)
                .saturating_mul(1000)
                .min(MAX_RETRY_AFTER_MS),
            DownloadFault::Refused { .. } => return AfterDownloadFault::GiveUp,
        };
        self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
        if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
            return AfterDownloadFault::GiveUp;
        }
        AfterDownloadFault::TryAgain { not_before_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, retry_after_secs: Option<u64>) -> DownloadFault {
        DownloadFault::Refused {
            status,
            retry_after_secs,
        }
    }

    #[test]
    fn cuts_and_passing_refusals_are_tried_again_not_before_the_servers_retry_after() {
        let mut retries = DownloadRetries::default();
        assert_eq!(
            retries.after(DownloadFault::Cut),
            AfterDownloadFault::TryAgain { not_before_ms: 0 }
        );
        for status in [401, 408, 429, 500, 503] {
            assert_eq!(
                retries.after(refused(status, Some(3))),
                AfterDownloadFault::TryAgain {
                    not_before_ms: 3_000
                },
                "{status}"
            );
            retries.progressed();
        }
        assert_eq!(
            retries.after(refused(503, Some(86_400))),
            AfterDownloadFault::TryAgain {
                not_before_ms: MAX_RETRY_AFTER_MS
            }
        );
    }

    #[test]
    fn a_missing_file_is_gone_and_other_refusals_give_up_at_once() {
        let mut retries = DownloadRetries::default();
        assert_eq!(retries.after(refused(404, None)), AfterDownloadFault::Gone);
        for status in [400, 403, 413, 416] {
            assert_eq!(
                retries.after(refused(status, None)),
                AfterDownloadFault::GiveUp,
                "{status}"
            );
        }
    }

    #[test]
    fn faults_give_up_only_after_so_many_in_a_row_with_no_byte_between() {
        let mut retries = DownloadRetries::default();
        for _ in 1..MAX_FAILURES_IN_A_ROW {
            assert_ne!(
                retries.after(DownloadFault::Cut),
                AfterDownloadFault::GiveUp
            );
        }
        retries.progressed();
        for _ in 1..MAX_FAILURES_IN_A_ROW {
            assert_ne!(
                retries.after(DownloadFault::Cut),
                AfterDownloadFault::GiveUp
            );
        }
        assert_eq!(
            retries.after(DownloadFault::Cut),
            AfterDownloadFault::GiveUp
        );
    }
}
