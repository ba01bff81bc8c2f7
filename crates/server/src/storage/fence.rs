//! A connection's appends kept in the order it sent them when one of them fails.
//!
//! A session pipelines its sends: the next is queued before the last is committed. If a
//! batch holding one of them fails (a full disk, PostgreSQL restarting: not a refusal), the
//! client keeps that message and resends it on its next connection; but a message it sent
//! after it may already wait in the queue, and would be stored first, out of the order the
//! person wrote them. So the batch's failure breaks the fence of every connection it held an
//! append of, before the next batch runs, and an append behind a broken fence fails without
//! running: the client resends it too, in order. A refusal (`SendFailed`) breaks nothing:
//! that message is never stored, so nothing can overtake it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// One connection's fence; a new connection starts with a whole one.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppendFence(Arc<AtomicBool>);

impl AppendFence {
    /// Whether an append of this connection failed: the later ones fail unrun.
    pub(crate) fn is_broken(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// An append of this connection failed.
    pub(crate) fn break_it(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// What an append behind a broken fence is answered: a failure, not a refusal, so that
    /// the client keeps the message and resends it.
    pub(crate) fn failure() -> Error {
        Error::Commit("an earlier message on this connection failed to store".to_owned())
    }
}
