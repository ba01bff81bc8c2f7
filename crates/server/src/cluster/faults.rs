//! The fault tests' hooks, in debug builds only (release builds never read them): a process
//! that crashes between a commit and its wake-up, and one whose pushes to accounts are lost.

use super::State;

/// Which pushes to accounts a debug build never publishes (`MERPATI_FAULT_LOSE_PUSHES`:
/// `device` for to-device messages, `all` for every push and the presence news that an
/// account's privacy changed): what NATS dropping them, or a process dying before publishing
/// them, leaves, for the fault tests. Release builds never read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LostPushes {
    None,
    Device,
    All,
}

impl LostPushes {
    pub(super) fn from_env() -> LostPushes {
        match std::env::var("MERPATI_FAULT_LOSE_PUSHES").as_deref() {
            Ok("device") => LostPushes::Device,
            Ok("all") => LostPushes::All,
            _ => LostPushes::None,
        }
    }
}

/// How many wake-ups a debug build publishes before it crashes at the next commit, before
/// publishing it (`MERPATI_FAULT_CRASH_AFTER_PUBLISHES`): what a process dying between a
/// commit and its wake-up leaves, for the fault tests. Release builds never read it.
pub(super) fn publishes_before_crash() -> Option<u64> {
    std::env::var("MERPATI_FAULT_CRASH_AFTER_PUBLISHES")
        .ok()?
        .parse()
        .ok()
}

impl State {
    /// Aborts the process, committed message unpublished, if the fault test asked for it
    /// now.
    pub(super) fn crash_if_due(&mut self) {
        match &mut self.publishes_before_crash {
            Some(0) => std::process::abort(),
            Some(left) => *left -= 1,
            None => {}
        }
    }
}
