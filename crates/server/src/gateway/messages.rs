//! Chat messages: `Send` and `SendDeletion`, from the writer's queue to `Ack` and fan-out,
//! and the fan-out of the lines the server writes into groups.
//!
//! A session queues each message for the storage writer and goes on reading; the messages
//! wait for their commit in the order they were queued (`in_flight`), and each is answered
//! once its transaction committed: one encoded `Message` frame to every online session of
//! every member, and `Ack` to the sender — or, if the sender's connection ended meanwhile,
//! the frames to everyone else all the same. A resend of a stored message (same
//! `client_msg_id`) is acknowledged again with its first sequence number and not fanned out
//! twice — even if the sender may no longer send there, or is past the day's quota: it is
//! stored, and a `SendFailed` would say it never will be. A message is charged against the
//! sender's stored bytes of the day as it is queued, and a resend gets them back. The body is
//! shared with the writer, never copied. A body that claims to be a line the server wrote is
//! refused before it is queued.

use std::sync::Arc;

use bytes::Bytes;

use merpati_protocol::content::is_system_body;
use merpati_protocol::{
    ChatId, ClientMsgId, ErrorCode, MAX_BODY_BYTES, Member, MessageFrame, ServerFrame,
};

use super::in_flight::{Answer, InFlight, MessageInFlight};
use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode_message};
use crate::Error;
use crate::fanout::ChatMembers;
use crate::metrics::Counters;
use crate::storage::{Appended, IfNew, NewMessage, Refers};

impl Gateway {
    /// Hands a message just committed to every online session of the chat's `members` — on
    /// a cluster, through the cluster's task, which also tells the other processes and keeps
    /// each chat's deliveries in order.
    fn fan_out_message(&self, members: &ChatMembers, message: MessageFrame) {
        let (message, frame) = encode_message(message);
        match &self.cluster {
            Some(cluster) => cluster.tell_now(crate::cluster::Event::Committed { message, frame }),
            None => self.deliver_to(members, &message, &frame),
        }
    }

    /// Hands a stored message, encoded as `frame`, to the online sessions of its chat's
    /// members here (the cluster's task, for a message this or another process committed);
    /// `false` if the members could not be read, and it reached no one.
    pub(crate) async fn deliver_stored(&self, message: &MessageFrame, frame: Bytes) -> bool {
        match self.members_of(message.chat_id).await {
            Ok(members) => {
                self.deliver_to(&members, message, &frame);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read a chat's members to deliver");
                false
            }
        }
    }

    /// Delivers `frame` to the sessions of `members` who joined before it, and remembers the
    /// message's sender for the receipts that will cover it.
    fn deliver_to(&self, members: &ChatMembers, message: &MessageFrame, frame: &Bytes) {
        // A receipt in a chat of two goes to the other member anyway: nothing to remember.
        if members.ids().len() > 2 {
            self.fanout
                .recent_senders()
                .record(message.chat_id, message.seq, message.sender);
        }
        self.fanout
            .deliver(&members.readers_of(message.seq), frame, None);
    }

    /// Fans out the lines a change wrote into a group's history, to its members afterwards.
    pub(super) fn fan_out_lines(&self, members: &ChatMembers, lines: Vec<MessageFrame>) {
        for line in lines {
            self.fan_out_message(members, line);
        }
    }
}

impl<S: FrameSocket> Session<S> {
    /// Queues a message (deleting an earlier message of the sender's, or carrying an upload,
    /// as it `refers`) for the writer; it is answered once committed ([`Self::answer_append`]).
    pub(super) async fn append_message(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        client_msg_id: ClientMsgId,
        body: Vec<u8>,
        refers: Refers,
    ) -> Result<Flow, Gone> {
        let refusal = if body.len() > MAX_BODY_BYTES {
            Some(ErrorCode::MessageTooLarge)
        } else if is_system_body(&body) {
            // Only the server writes those lines: members trust them for that.
            Some(ErrorCode::Malformed)
        } else {
            None
        };
        if let Some(code) = refusal {
            self.write_frame(&ServerFrame::SendFailed {
                chat_id,
                client_msg_id,
                code,
            })
            .await?;
            return Ok(Flow::Continue);
        }
        // Past the quota it is still asked for: if it is a resend, it is stored already.
        let charged = self.gateway.quotas.take_message(me.id, &body).is_ok();
        let if_new = if charged {
            IfNew::Store
        } else {
            IfNew::Refuse(ErrorCode::QuotaExceeded)
        };
        // Shared with the writer so the body is not copied; it comes back once stored.
        let body = Arc::new(body);
        match self
            .gateway
            .storage
            .queue_append(
                chat_id,
                NewMessage {
                    client_msg_id,
                    sender: me.id,
                    body: Arc::clone(&body),
                    refers,
                    if_new,
                },
                self.append_fence.clone(),
            )
            .await
        {
            Ok(stored) => self
                .awaiting_commit
                .push_back(InFlight::Message(MessageInFlight {
                    chat_id,
                    client_msg_id,
                    sender: me.id,
                    body,
                    charged,
                    stored,
                })),
            // Not queued: the client keeps the message and resends it.
            Err(error) => {
                if charged {
                    self.gateway.quotas.give_back_message(me.id, &body);
                }
                self.write_error(None, &error).await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// Settles a message once its transaction committed (or failed) — the quota, and the
    /// fan-out of one newly stored — and says what its sender is to be told: `Ack`, or
    /// `SendFailed` (past the quota, not a member, blocked, not the sender's message to
    /// delete, not the sender's complete upload). The fan-out comes first and needs nothing
    /// of the sender's connection: a message stays stored when its sender is gone before the
    /// `Ack` is written, and everyone else hears of it all the same.
    pub(super) async fn settle_append(
        &mut self,
        append: MessageInFlight,
        outcome: Result<Appended, Error>,
    ) -> Answer {
        let MessageInFlight {
            chat_id,
            client_msg_id,
            sender,
            body,
            charged,
            stored: _,
        } = append;
        if outcome.is_err() && charged {
            // Not stored, refused or failed: it costs nothing of the day's bytes.
            self.gateway.quotas.give_back_message(sender, &body);
        }
        let appended = match outcome {
            Ok(appended) => appended,
            Err(error @ Error::Refused { .. }) => {
                tracing::debug!(chat = chat_id.0, %error, "message refused");
                return Answer::Frame(ServerFrame::SendFailed {
                    chat_id,
                    client_msg_id,
                    code: error.code(),
                });
            }
            // Not stored, and not refused either: the database failed. The client keeps it;
            // the session ends after this (`storage_failed`), and it is resent on the next.
            Err(error) => return Answer::Failed(error),
        };
        let ack = ServerFrame::Ack {
            chat_id,
            client_msg_id,
            seq: appended.seq,
            sent_at_ms: appended.sent_at_ms,
        };
        if !appended.newly_stored {
            if charged {
                // Stored before, and charged then: a resend costs nothing.
                self.gateway.quotas.give_back_message(sender, &body);
            }
            tracing::debug!(
                chat = chat_id.0,
                seq = appended.seq.0,
                "resend acknowledged again"
            );
            return Answer::Frame(ack);
        }
        Counters::bump(&self.gateway.counters().messages_stored);
        let body = Arc::try_unwrap(body).unwrap_or_else(|shared| shared.as_ref().clone());
        let message = MessageFrame {
            chat_id,
            seq: appended.seq,
            client_msg_id,
            sender,
            sent_at_ms: appended.sent_at_ms,
            body,
        };
        if let Some(typing) = &mut self.typing {
            typing.sent_in(chat_id);
        }
        match self
            .gateway
            .members_as_of(chat_id, appended.members_at)
            .await
        {
            // The sender's own connection is among the sessions handed it, and writes it
            // after the `Ack`: it reads its deliveries only once this answer is written.
            Ok(members) => self.gateway.fan_out_message(&members, message),
            // Stored and acknowledged all the same: members catch up from storage.
            Err(error) => tracing::warn!(chat = chat_id.0, %error, "cannot fan a message out"),
        }
        Answer::Frame(ack)
    }
}
