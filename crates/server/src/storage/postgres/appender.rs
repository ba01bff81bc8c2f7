//! Appends on PostgreSQL, coalesced per chat: one transaction in flight per chat and
//! process, taking every append that queued for the chat while the last one ran.
//!
//! Every append bumps its chat's `head_seq`, so two transactions appending to one chat
//! cannot overlap: the second waits for the first's row lock, and one hot chat would manage
//! only as many appends as it can commit transactions one after another. Here the appends
//! that wait meanwhile go in the next transaction together, so under load the batches grow
//! by themselves, as the SQLite writer's groups do. Appends queued for a chat commit in the
//! order they were queued (a session pipelining its sends gets its sequence numbers in
//! order), and a connection's appends behind a failed one fail unrun (`AppendFence`). An
//! append refuses only before it writes (`messages::append`), so a refused one leaves the
//! others of its batch alone; any other failure fails the whole batch, and nothing of it is
//! stored.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use merpati_protocol::ChatId;
use tokio::sync::oneshot;

use super::{Isolation, Postgres, messages};
use crate::Error;
use crate::storage::{AppendFence, Appended, NewMessage, Queued};

/// The most appends one transaction takes, so one batch cannot delay its answers without
/// bound.
const MAX_BATCH: usize = 1024;

/// One append waiting for its chat's next transaction.
pub(crate) struct Pending {
    message: NewMessage,
    fence: AppendFence,
    reply: oneshot::Sender<Result<Appended, Error>>,
}

impl Pending {
    /// An append of the connection behind `fence`, and its outcome to come.
    pub(crate) fn new(message: NewMessage, fence: AppendFence) -> (Pending, Queued<Appended>) {
        let (reply, answer) = Queued::channel();
        let pending = Pending {
            message,
            fence,
            reply,
        };
        (pending, answer)
    }

    /// Answers the requester; a failure (not a refusal) breaks its connection's fence.
    fn answer(self, outcome: Result<Appended, Error>) {
        if let Err(error) = &outcome
            && !matches!(error, Error::Refused { .. })
        {
            self.fence.break_it();
        }
        // The requester may have gone away (its connection closed): nothing to tell then.
        let _ = self.reply.send(outcome);
    }
}

/// The appends waiting, per chat. A chat is in the map while a task is committing its
/// appends; that task takes what waits when its transaction is done.
#[derive(Default)]
pub(crate) struct Appender {
    waiting: Mutex<HashMap<ChatId, Vec<Pending>>>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("chats", &self.lock().len())
            .finish()
    }
}

impl Appender {
    fn lock(&self) -> MutexGuard<'_, HashMap<ChatId, Vec<Pending>>> {
        // Every change is one insert, push or removal: a panic cannot leave it half-made.
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an append to `chat`.
    pub(crate) fn queue(postgres: &Postgres, chat: ChatId, pending: Pending) {
        let start = {
            let mut waiting = postgres.appender.lock();
            match waiting.get_mut(&chat) {
                Some(queue) => {
                    queue.push(pending);
                    false
                }
                None => {
                    waiting.insert(chat, vec![pending]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(commit_until_empty(postgres.clone(), chat));
        }
    }
}

/// Commits `chat`'s waiting appends, a batch per transaction, until none wait.
async fn commit_until_empty(postgres: Postgres, chat: ChatId) {
    loop {
        let batch = {
            let mut waiting = postgres.appender.lock();
            let Some(queue) = waiting.get_mut(&chat) else {
                return;
            };
            if queue.is_empty() {
                waiting.remove(&chat);
                return;
            }
            let take = queue.len().min(MAX_BATCH);
            queue.drain(..take).collect::<Vec<_>>()
        };
        // A failed batch of this chat broke its appends' fences before this one was taken.
        let (fenced_off, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|pending| pending.fence.is_broken());
        for pending in fenced_off {
            pending.answer(Err(AppendFence::failure()));
        }
        if batch.is_empty() {
            continue;
        }
        match commit(&postgres, chat, &batch).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    pending.answer(outcome);
                }
            }
            Err(error) => {
                tracing::warn!(%error, chat = chat.0, "a batch of appends failed");
                let failure = error.to_string();
                for pending in batch {
                    pending.answer(Err(Error::Commit(failure.clone())));
                }
            }
        }
    }
}

/// Runs a batch in one transaction: each append's outcome, or the failure of the whole.
async fn commit(
    postgres: &Postgres,
    chat: ChatId,
    batch: &[Pending],
) -> Result<Vec<Result<Appended, Error>>, Error> {
    let operations = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    let outcomes = super::transaction!(postgres, Isolation::Locking, |tx, now| {
        // The chat's row first: appends to it from other processes wait here, and every
        // check below sees what they committed (READ COMMITTED reads anew each statement).
        messages::lock_chat(&tx, chat).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for pending in batch {
            let outcome = messages::append(&tx, chat, pending.message.outgoing(), now).await;
            match outcome {
                Err(error @ Error::Refused { .. }) => outcomes.push(Err(error)),
                Err(error) => return Err(error),
                Ok(appended) => outcomes.push(Ok(appended)),
            }
        }
        Ok::<_, Error>(outcomes)
    })
    .await?;
    // The transaction was counted as one operation: the rest of the batch.
    postgres.count_operations(operations.saturating_sub(1));
    Ok(outcomes)
}
