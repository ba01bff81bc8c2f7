//! The writes a session queued for the storage writer and waits for, oldest first: messages
//! (`Send`, `SendDeletion`) and receipts (`MarkDelivered`, `MarkRead`).
//!
//! The writer commits them in the order they were queued, so the session waits for the
//! oldest only, and answers each once its transaction committed (`messages` and `receipts`
//! say how). Meanwhile the session goes on reading: a client sending a receipt per message
//! it receives is not held up by a commit for each.

use std::collections::VecDeque;
use std::sync::Arc;

use merpati_protocol::{ChatId, ClientMsgId, UserId};

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

impl<S: FrameSocket> Session<S> {
    /// Answers the oldest write once its transaction committed (or failed).
    pub(super) async fn answer_commit(
        &mut self,
        waited: InFlight,
        outcome: Committed,
    ) -> Result<Flow, Gone> {
        match (waited, outcome) {
            (InFlight::Message(message), Ok(Stored::Message(appended))) => {
                self.answer_append(message, Ok(appended)).await
            }
            (InFlight::Message(message), Err(error)) => {
                self.answer_append(message, Err(error)).await
            }
            (InFlight::Receipt { chat_id, .. }, Ok(Stored::Receipt(moved))) => {
                self.answer_receipt(chat_id, Ok(moved)).await
            }
            (InFlight::Receipt { chat_id, .. }, Err(error)) => {
                self.answer_receipt(chat_id, Err(error)).await
            }
            // `next_commit` awaited the front of the queue, which this is: never apart.
            (InFlight::Message(_), Ok(Stored::Receipt(_)))
            | (InFlight::Receipt { .. }, Ok(Stored::Message(_))) => Ok(Flow::Continue),
        }
    }
}
