//! The fault tests' hooks, in debug builds only (release builds never read them): a process
//! that crashes between a commit and its wake-up, one whose pushes to accounts are lost, and
//! one that holds back its first session's `Follow` or its first `Resume` until the test lets
//! it go, to force the order of a race.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use merpati_protocol::{ChatId, Seq};
use tokio::sync::oneshot;

use super::{Event, State};
use crate::fanout::SessionId;

/// How often a hold looks whether the test let it go.
const RELEASE_POLL: Duration = Duration::from_millis(10);

/// What a debug build holds back the first of (`MERPATI_FAULT_HOLD_FIRST`), until the test
/// lets it go: it writes `held` in the directory `MERPATI_FAULT_HOLD_DIR` names, then waits
/// for a file `release` there. Release builds never read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// The first `Follow` the cluster's task is told (`follow`): the task goes on with what
    /// comes after it, and handles it once released.
    Follow,
    /// The first `Resume`, once it has read its session and before it goes online (`resume`).
    Resume,
}

/// Whether the first of its kind was held already.
static HELD: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

impl Hold {
    /// Whether the test asked for this to be held.
    pub(crate) fn is_asked(self) -> bool {
        let asked = match std::env::var("MERPATI_FAULT_HOLD_FIRST").as_deref() {
            Ok("follow") => Hold::Follow,
            Ok("resume") => Hold::Resume,
            _ => return false,
        };
        asked == self
    }

    /// Whether the test asked for this to be held and this is the first: the caller then
    /// awaits [`Hold::released`] before going on.
    pub(crate) fn takes_this_one(self) -> bool {
        self.is_asked() && !HELD[self as usize].swap(true, Ordering::SeqCst)
    }

    /// Says it is held (the file `held`), and returns once the test lets it go (the file
    /// `release`), or at once without a directory to say it in.
    pub(crate) async fn released(self) {
        let Some(dir) = std::env::var_os("MERPATI_FAULT_HOLD_DIR").map(PathBuf::from) else {
            return;
        };
        if let Err(error) = std::fs::write(dir.join("held"), b"") {
            tracing::warn!(%error, "cannot say a hold is held; going on");
            return;
        }
        tracing::info!(hold = ?self, "held for a fault test");
        while !dir.join("release").exists() {
            tokio::time::sleep(RELEASE_POLL).await;
        }
    }
}

/// Which pushes to accounts a debug build never publishes (`MERPATI_FAULT_LOSE_PUSHES`:
/// `device` for to-device messages, `all` for every push, word of sessions ended, and the
/// presence news that an account's privacy changed): what NATS dropping them, or a process
/// dying before publishing them, leaves, for the fault tests. Release builds never read it.
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
    /// Holds back a session's `Follow` (`Hold::Follow`) and goes on: it comes back to the
    /// task's queue once released, behind whatever came meanwhile.
    pub(super) fn hold_follow(
        &self,
        session: SessionId,
        chats: Vec<(ChatId, Seq)>,
        followed: oneshot::Sender<HashMap<ChatId, Seq>>,
    ) {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            Hold::Follow.released().await;
            let follow = Event::Follow {
                session,
                chats,
                followed,
            };
            let _ = sender.send(follow).await;
        });
    }

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
