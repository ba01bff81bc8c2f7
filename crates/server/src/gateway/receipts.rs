//! Receipts: `MarkDelivered` and `MarkRead`, from the writer's queue to the `Receipt` pushes.
//!
//! A receipt is queued like a message and answered once committed (`in_flight`), so a
//! session sending one per message it receives keeps reading meanwhile. When a position
//! moved, the new receipt goes to the member's own other sessions, and — as far as each may
//! see it (`crate::privacy`) — to the online sessions of whoever sent the messages it covers:
//! in a chat of two, the other member; in a group, the senders the fan-out remembers for
//! that range, or every member when the range is older than what it remembers. Everyone else
//! learns it from the next `Chat` frame.

use bytes::Bytes;
use std::collections::HashMap;
use tokio::time::Instant;

use merpati_protocol::{ChatId, ErrorCode, Member, Receipt, Seq, ServerFrame, UserId};

use super::allowance::AsMember;
use super::in_flight::{Answer, InFlight};
use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode};
use crate::Error;
use crate::fanout::SessionId;
use crate::privacy::receipt_as_seen;
use crate::storage::{Moved, Position};

impl Gateway {
    /// Who besides `owner` hears of a receipt that moved in `chat` from `moved.before` to
    /// `moved.now`: the senders of the messages it newly covers.
    fn receipt_audience(&self, chat: ChatId, members: &[UserId], moved: &Moved) -> Vec<UserId> {
        let owner = moved.now.user;
        let everyone_else = || {
            members
                .iter()
                .copied()
                .filter(|&user| user != owner)
                .collect()
        };
        if members.len() <= 2 {
            return everyone_else();
        }
        let recent = self.fanout.recent_senders();
        let ranges = [
            (moved.before.delivered, moved.now.delivered),
            (moved.before.read, moved.now.read),
        ];
        let mut audience: Vec<UserId> = Vec::new();
        for (after, upto) in ranges {
            let Some(senders) = recent.senders(chat, after, upto) else {
                return everyone_else();
            };
            for sender in senders {
                if sender != owner && !audience.contains(&sender) && members.contains(&sender) {
                    audience.push(sender);
                }
            }
        }
        audience
    }

    /// Pushes a receipt that moved: all of it to the owner's other sessions (`skip` is the
    /// one that sent it), and to its audience what each may see of it, if that moved — on a
    /// cluster, to their sessions on the other processes too.
    fn push_receipt(&self, chat_id: ChatId, members: &[UserId], moved: Moved, skip: SessionId) {
        let owner = moved.now.user;
        let frame = encode(&ServerFrame::Receipt {
            chat_id,
            receipt: moved.now,
        });
        self.deliver_to_accounts(&[owner], frame, Some(skip));
        let audience = self.receipt_audience(chat_id, members, &moved);
        let Some(owner_privacy) = self.fanout.privacy(owner) else {
            return;
        };
        // Whom the owner blocks hears nothing of it, here or elsewhere.
        let audience: Vec<UserId> = audience
            .into_iter()
            .filter(|&viewer| !owner_privacy.blocks(viewer))
            .collect();
        self.deliver_receipt(chat_id, &audience, moved, owner_privacy.share_read_receipts);
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::Receipt {
                viewers: audience,
                chat_id,
                moved,
                owner_shares_read: owner_privacy.share_read_receipts,
            });
        }
    }

    /// Hands `viewers`' sessions here what each may see of a receipt that moved (the owner's
    /// blocks are applied already; each viewer's own settings and blocks here).
    pub(crate) fn deliver_receipt(
        &self,
        chat_id: ChatId,
        viewers: &[UserId],
        moved: Moved,
        owner_shares_read: bool,
    ) {
        let owner = moved.now.user;
        let frame = |receipt: Receipt| encode(&ServerFrame::Receipt { chat_id, receipt });
        // Two frames at most: with the read position, and without it.
        let (mut full, mut without_read): (Option<Bytes>, Option<Bytes>) = (None, None);
        self.fanout.deliver_each(viewers, None, |_, privacy| {
            if privacy.blocks(owner) {
                return None;
            }
            let seen =
                |receipt| receipt_as_seen(receipt, owner_shares_read, privacy.share_read_receipts);
            let now = seen(moved.now);
            if now == seen(moved.before) {
                return None;
            }
            let cached = if now == moved.now {
                &mut full
            } else {
                &mut without_read
            };
            Some(cached.get_or_insert_with(|| frame(now)).clone())
        });
    }
}

/// The receipts one connection sent, by chat: the delivery and read positions it reported.
#[derive(Debug, Default)]
pub(super) struct ReceiptsSent(HashMap<ChatId, (Seq, Seq)>);

impl ReceiptsSent {
    /// Whether this connection reported as much before (reading reports delivery too).
    fn covers(&self, chat_id: ChatId, seq: Seq, position: Position) -> bool {
        self.0.get(&chat_id).is_some_and(|(delivered, read)| {
            seq <= match position {
                Position::Delivered => *delivered,
                Position::Read => *read,
            }
        })
    }

    /// Notes a receipt sent.
    fn note(&mut self, chat_id: ChatId, seq: Seq, position: Position) {
        let (delivered, read) = self.0.entry(chat_id).or_default();
        *delivered = (*delivered).max(seq);
        if position == Position::Read {
            *read = (*read).max(seq);
        }
    }
}

impl<S: FrameSocket> Session<S> {
    /// Queues `MarkDelivered` or `MarkRead` for the writer; it is answered once committed
    /// ([`Self::answer_receipt`]).
    pub(super) async fn mark(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        seq: Seq,
        position: Position,
    ) -> Result<Flow, Gone> {
        // Refused at once for a stranger, so the refusal comes in order with other answers;
        // the writer checks again.
        if let AsMember::Answered(flow) = self.chat_as_member(me, chat_id).await? {
            return Ok(flow);
        }
        // What this connection reported already would move nothing: not run at all. (An
        // engine reads what it receives in the chat on screen, and reports its delivery too.)
        if self.receipts_sent.covers(chat_id, seq, position) {
            return Ok(Flow::Continue);
        }
        // A receipt that moves nothing all the same (another device of the account reported
        // it first, or past the chat's newest message) costs the writer a run: a connection
        // may send them at its send rate. Taken now, given back once it moved.
        let now = Instant::now();
        if !self.unmoved_receipts.try_take(now) {
            let wait = self
                .unmoved_receipts
                .ready_at(now)
                .saturating_duration_since(now);
            return self.past_allowance(me, None, wait).await;
        }
        self.refusals.served(now.into_std());
        self.receipts_sent.note(chat_id, seq, position);
        let queued = self
            .gateway
            .storage
            .queue_mark(chat_id, me.id, seq, position)
            .await;
        match queued {
            Ok(stored) => self
                .awaiting_commit
                .push_back(InFlight::Receipt { chat_id, stored }),
            Err(error) => {
                self.unmoved_receipts.give_back(now);
                self.write_error(None, &error).await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// Pushes a committed receipt if it moved; says why it failed if it did (for its
    /// sender, if still connected).
    pub(super) async fn settle_receipt(
        &mut self,
        chat_id: ChatId,
        outcome: Result<Option<Box<Moved>>, Error>,
    ) -> Answer {
        // What `mark` took is kept for a receipt that moved nothing, or was refused.
        if matches!(&outcome, Ok(Some(_)))
            || matches!(&outcome, Err(error) if error.code() == ErrorCode::Internal)
        {
            self.unmoved_receipts.give_back(Instant::now());
        }
        match outcome {
            Ok(Some(moved)) => match self.gateway.members_of(chat_id).await {
                Ok(members) => self
                    .gateway
                    .push_receipt(chat_id, members.ids(), *moved, self.id),
                // Stored all the same: members see it in the next Chat frame.
                Err(error) => tracing::warn!(chat = chat_id.0, %error, "cannot push a receipt"),
            },
            Ok(None) => {}
            Err(error) => return Answer::Failed(error),
        }
        Answer::Nothing
    }
}
