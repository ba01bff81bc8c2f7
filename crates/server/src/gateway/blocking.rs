//! Blocking: `SetBlocked`, answered with the account's whole block list.
//!
//! The list is stored, then kept in the fan-out's copy of the account's privacy, which
//! filters what is pushed live (receipts, typing, presence); storage refuses what a blocked
//! account may no longer ask (a 1:1 chat, joining a group with the blocker, messages in
//! their 1:1 chat). The account's other sessions get the new list; watches between the two
//! accounts are told what they may see now.

use merpati_protocol::{ErrorCode, Member, RequestId, ServerFrame, UserId};

use super::encode;
use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;

impl<S: FrameSocket> Session<S> {
    /// Answers `SetBlocked` with the block list, and pushes it to the account's other
    /// sessions.
    pub(super) async fn set_blocked(
        &mut self,
        me: &Member,
        request: RequestId,
        user: UserId,
        blocked: bool,
    ) -> Result<Flow, Gone> {
        if user == me.id {
            return self
                .refuse(
                    Some(request),
                    ErrorCode::Malformed,
                    "an account cannot block itself",
                )
                .await;
        }
        let list = match self.gateway.storage.set_blocked(me.id, user, blocked).await {
            Ok(list) => list,
            Err(error) => {
                self.write_error(Some(request), &error).await?;
                return Ok(Flow::Continue);
            }
        };
        let kept = list.clone().into_boxed_slice();
        self.gateway
            .fanout
            .update_privacy(me.id, |privacy| privacy.blocked = kept);
        tracing::debug!(user = user.0, blocked, "block list changed");
        self.gateway.fanout.deliver(
            &[me.id],
            &encode(&ServerFrame::BlockList {
                request: None,
                users: list.clone(),
            }),
            Some(self.id),
        );
        self.write_frame(&ServerFrame::BlockList {
            request: Some(request),
            users: list,
        })
        .await?;
        self.gateway.refresh_watches(me.id, Some(user)).await;
        self.gateway.tell_privacy_changed(me.id);
        Ok(Flow::Continue)
    }
}
