//! Chat messages: `Send`, from the writer's queue to `Ack` and fan-out.
//!
//! A session queues each message for the storage writer and goes on reading; the messages
//! wait for their commit in the order they were queued (the writer commits them in that
//! order), and each is answered once its transaction committed: `Ack` to the sender, then
//! one encoded `Message` frame to every online session of every member. A resend of a
//! stored message (same `client_msg_id`) is acknowledged again with its first sequence
//! number and not fanned out twice. The body is shared with the writer, never copied.

use std::collections::VecDeque;
use std::sync::Arc;

use merpati_protocol::{
    ChatId, ClientMsgId, ErrorCode, MAX_BODY_BYTES, Member, MessageFrame, ServerFrame, UserId,
};

use super::encode;
use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use crate::Error;
use crate::metrics::Counters;
use crate::storage::{Appended, Queued};

/// A message handed to the writer, waiting for its commit.
#[derive(Debug)]
pub(super) struct InFlight {
    chat_id: ChatId,
    client_msg_id: ClientMsgId,
    sender: UserId,
    body: Arc<Vec<u8>>,
    stored: Queued<Appended>,
}

/// The outcome of the oldest message waiting for its commit, or never when none waits.
pub(super) async fn next_commit(awaiting: &mut VecDeque<InFlight>) -> Result<Appended, Error> {
    match awaiting.front_mut() {
        Some(oldest) => (&mut oldest.stored).await,
        None => std::future::pending().await,
    }
}

impl<S: FrameSocket> Session<S> {
    /// Queues a message for the writer; it is answered once committed ([`Self::answer_append`]).
    pub(super) async fn append_message(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        client_msg_id: ClientMsgId,
        body: Vec<u8>,
    ) -> Result<Flow, Gone> {
        if body.len() > MAX_BODY_BYTES {
            self.write_frame(&ServerFrame::SendFailed {
                chat_id,
                client_msg_id,
                code: ErrorCode::MessageTooLarge,
            })
            .await?;
            return Ok(Flow::Continue);
        }
        // Shared with the writer so the body is not copied; it comes back once stored.
        let body = Arc::new(body);
        match self
            .gateway
            .storage
            .queue_append(chat_id, client_msg_id, me.id, Arc::clone(&body))
            .await
        {
            Ok(stored) => self.awaiting_commit.push_back(InFlight {
                chat_id,
                client_msg_id,
                sender: me.id,
                body,
                stored,
            }),
            // Not queued: the client keeps the message and resends it.
            Err(error) => self.write_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers a message once its transaction committed (or failed): `Ack` and fan-out, or
    /// `SendFailed`.
    pub(super) async fn answer_append(
        &mut self,
        append: InFlight,
        outcome: Result<Appended, Error>,
    ) -> Result<Flow, Gone> {
        let InFlight {
            chat_id,
            client_msg_id,
            sender,
            body,
            stored: _,
        } = append;
        let appended = match outcome {
            Ok(appended) => appended,
            Err(error @ Error::Refused { .. }) => {
                tracing::debug!(chat = chat_id.0, %error, "message refused");
                self.write_frame(&ServerFrame::SendFailed {
                    chat_id,
                    client_msg_id,
                    code: error.code(),
                })
                .await?;
                return Ok(Flow::Continue);
            }
            // Not stored, but not refused either: the client keeps it and may resend.
            Err(error) => {
                self.write_error(None, &error).await?;
                return Ok(Flow::Continue);
            }
        };
        if appended.newly_stored {
            Counters::bump(&self.gateway.counters().messages_stored);
        }
        self.write_frame(&ServerFrame::Ack {
            chat_id,
            client_msg_id,
            seq: appended.seq,
            sent_at_ms: appended.sent_at_ms,
        })
        .await?;
        if !appended.newly_stored {
            tracing::debug!(
                chat = chat_id.0,
                seq = appended.seq.0,
                "resend acknowledged again"
            );
            return Ok(Flow::Continue);
        }
        let body = Arc::try_unwrap(body).unwrap_or_else(|shared| shared.as_ref().clone());
        let frame = encode(&ServerFrame::Message(MessageFrame {
            chat_id,
            seq: appended.seq,
            client_msg_id,
            sender,
            sent_at_ms: appended.sent_at_ms,
            body,
        }));
        match self.gateway.members_of(chat_id).await {
            Ok(members) => self.gateway.fanout.deliver(&members, &frame, None),
            // Stored and acknowledged all the same: members catch up from storage.
            Err(error) => tracing::warn!(chat = chat_id.0, %error, "cannot fan a message out"),
        }
        Ok(Flow::Continue)
    }
}
