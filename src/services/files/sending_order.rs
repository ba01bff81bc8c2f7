//! The order files being sent are prepared in: one at a time, in the order they were handed
//! over. Several files picked at once arrive as one command each; prepared all at once, each
//! would hold its whole plaintext in memory (for its hash) at the same time — five large
//! videos, five times — and enter the outbox in the order they finished, a small file
//! overtaking a large one picked before it. A file's turn starts when it is handed over and
//! ends once its message is queued (or refused); its upload goes on after that, beside the
//! next file's preparation.
//!
//! Not `futures::lock::Mutex`: it promises no order among those waiting (its waiters sit in a
//! slab whose freed slots are reused), and its order would be the order its futures are first
//! polled, not the order the files were handed over.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;

/// The turns of the files being sent, in the order they were taken. Clones share it.
#[derive(Clone, Default)]
pub(super) struct SendingOrder {
    /// Answered (by being dropped) when the last turn taken ends.
    last: Rc<RefCell<Option<oneshot::Receiver<()>>>>,
}

/// A file's place in the order, taken when the file is handed over.
pub(super) struct Turn {
    /// Ends when the turn before this one ends; `None` for the first.
    before: Option<oneshot::Receiver<()>>,
    /// Dropped when this turn ends, letting the next one start.
    ends: oneshot::Sender<()>,
}

/// A turn that has started: the next one waits until this is dropped.
pub(super) struct Started {
    _ends: oneshot::Sender<()>,
}

impl SendingOrder {
    /// Takes the next place in the order, at once (not when a future is first polled).
    pub(super) fn take_turn(&self) -> Turn {
        let (ends, next) = oneshot::channel();
        let before = self.last.replace(Some(next));
        Turn { before, ends }
    }
}

impl Turn {
    /// Waits until every turn taken before this one has ended.
    pub(super) async fn start(self) -> Started {
        if let Some(before) = self.before {
            // Only ever dropped, never sent on: `Canceled` is the turn before ending, however
            // it ended (its file queued, refused, or its task gone).
            let _ = before.await;
        }
        Started { _ends: self.ends }
    }
}
