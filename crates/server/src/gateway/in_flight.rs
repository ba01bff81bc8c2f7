//! The writes a session queued for the storage writer and waits for, oldest first: messages
//! (`Send`, `SendDeletion`) and receipts (`MarkDelivered`, `MarkRead`).
//!
//! The writer commits them in the order they were queued, so the session waits for the
//! oldest only, and answers each once its transaction committed (`messages` and `receipts`
//! say how). Meanwhile the session goes on reading: a client sending a receipt per message
//! it receives is not held up by a commit for each. What was queued when the connection
//! ended is still settled: its messages and receipts reach everyone else.

use std::collections::VecDeque;
use std::sync::Arc;

use merpati_protocol::{ChatId, ClientMsgId, ServerFrame, UserId};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use crate::Error;
use crate::storage::{Appended, Moved, Queued};

/// A write handed to the writer, waiting for its commit.
#[derive(Debug)]
pub(super) enum InFlight {
    /// A message.
    Message(MessageInFlight),
    /// A receipt in a chat.
    Receipt {
        chat_id: ChatId,
        stored: Queued<Option<Moved>>,
    },
}

/// A message handed to the writer.
#[derive(Debug)]
pub(super) struct MessageInFlight {
    pub(super) chat_id: ChatId,
    pub(super) client_msg_id: ClientMsgId,
    pub(super) sender: UserId,
    pub(super) body: Arc<Vec<u8>>,
    /// Whether its bytes were taken from the sender's quota (given back if it was a resend).
    pub(super) charged: bool,
    pub(super) stored: Queued<Appended>,
}

/// What the oldest write stored. A receipt's is boxed: every connection's future holds room
/// for the outcome (it is what the session's loop waits for), and a receipt that moved is
/// three times the size of a message's.
#[derive(Debug)]
pub(super) enum Stored {
    Message(Appended),
    Receipt(Option<Box<Moved>>),
}

/// The outcome of the oldest write: what it stored, or why not.
pub(super) type Committed = Result<Stored, Error>;

/// The outcome of the oldest write waiting for its commit, or never when none waits.
pub(super) async fn next_commit(awaiting: &mut VecDeque<InFlight>) -> Committed {
    match awaiting.front_mut() {
        Some(InFlight::Message(message)) => (&mut message.stored).await.map(Stored::Message),
        Some(InFlight::Receipt { stored, .. }) => stored
            .await
            .map(|moved| Stored::Receipt(moved.map(Box::new))),
        None => std::future::pending().await,
    }
}

/// What the peer is told of a write once it is settled.
#[derive(Debug)]
pub(super) enum Answer {
    /// Nothing (a receipt: its sender learns of it as everyone else does).
    Nothing,
    /// This frame (`Ack` or `SendFailed`).
    Frame(ServerFrame),
    /// Why it failed: refused, or the database's failure.
    Failed(Error),
}

impl<S: FrameSocket> Session<S> {
    /// Settles the oldest write once its transaction committed (or failed): whatever goes to
    /// other sessions goes now; what its peer is to be told is returned.
    async fn settle_commit(&mut self, waited: InFlight, outcome: Committed) -> Answer {
        match (waited, outcome) {
            (InFlight::Message(message), Ok(Stored::Message(appended))) => {
                self.settle_append(message, Ok(appended)).await
            }
            (InFlight::Message(message), Err(error)) => {
                self.settle_append(message, Err(error)).await
            }
            (InFlight::Receipt { chat_id, .. }, Ok(Stored::Receipt(moved))) => {
                self.settle_receipt(chat_id, Ok(moved)).await
            }
            (InFlight::Receipt { chat_id, .. }, Err(error)) => {
                self.settle_receipt(chat_id, Err(error)).await
            }
            // `next_commit` awaited the front of the queue, which this is: never apart.
            (InFlight::Message(_), Ok(Stored::Receipt(_)))
            | (InFlight::Receipt { .. }, Ok(Stored::Message(_))) => Answer::Nothing,
        }
    }

    /// Answers the oldest write once its transaction committed (or failed).
    pub(super) async fn answer_commit(
        &mut self,
        waited: InFlight,
        outcome: Committed,
    ) -> Result<Flow, Gone> {
        match self.settle_commit(waited, outcome).await {
            Answer::Nothing => {}
            Answer::Frame(frame) => self.write_frame(&frame).await?,
            Answer::Failed(error) => self.write_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Once the connection ended: waits for every write it queued and settles each, telling
    /// the gone peer nothing. The writer commits them regardless, so a message sent just
    /// before a reload is stored; without this, the chat's online members would not hear of
    /// it until something else made them sync.
    pub(super) async fn settle_after_the_end(&mut self) {
        while !self.awaiting_commit.is_empty() {
            let outcome = next_commit(&mut self.awaiting_commit).await;
            let Some(waited) = self.awaiting_commit.pop_front() else {
                return;
            };
            if let Answer::Failed(error) = self.settle_commit(waited, outcome).await {
                tracing::debug!(%error, "a write queued before the connection ended failed");
            }
        }
    }
}
