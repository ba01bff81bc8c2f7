//! A session's requests charged to its account's allowance (`limits`), and the answer to one
//! past it: `TooManyRequests`, or — for a connection that goes on asking without waiting as
//! it was told (`refusals`) — `Goodbye { RateLimited }` and the connection closed.
//!
//! Most requests cost by their kind, charged before they are served ([`Session::charge`]).
//! `Typing`, `MarkDelivered` and `MarkRead` are charged by what their chat turns out to be
//! ([`Session::chat_as_member`]): in one of the account's own chats they cost nothing — a
//! person types and reads all day, and the member list is in the fan-out's cache (or is put
//! there) — while a chat the account is not in, or that does not exist, costs one read, since
//! it may have to be looked up in storage each time: nothing is cached for it, so that ids a
//! stranger makes up cannot fill the cache and push out the lists every message's fan-out
//! reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use merpati_protocol::{ChatId, ClientFrame, ErrorCode, Member, RequestId};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use crate::fanout::ChatMembers;
use crate::metrics::Counters;
use crate::storage::no_such_chat;
use crate::throttle::try_again_in;
use crate::websocket::close_code;

/// What asking about a chat as one of its members came to.
pub(super) enum AsMember {
    /// The asker is a member; the chat's members.
    Member(Arc<ChatMembers>),
    /// The request was answered already (refused, or past the allowance): go on with this.
    Answered(Flow),
}

impl<S: FrameSocket> Session<S> {
    /// Charges what `frame` costs to `me`'s allowance: `None` to go on and serve it, or the
    /// flow after it was refused.
    pub(super) async fn charge(
        &mut self,
        me: &Member,
        frame: &ClientFrame,
        request: Option<RequestId>,
    ) -> Result<Option<Flow>, Gone> {
        match self.gateway.limits.take_request(me.id, frame) {
            Ok(true) => {
                // Only a request that drew on the allowance can show the client slowed down.
                self.refusals.served(Instant::now());
                Ok(None)
            }
            Ok(false) => Ok(None),
            Err(wait) => self.past_allowance(me, request, wait).await.map(Some),
        }
    }

    /// The members of `chat` if `me` is one of them, charging a look-up that finds it is not
    /// (see the module documentation); otherwise the request is answered here, with
    /// `NoSuchChat` or as one past the allowance.
    pub(super) async fn chat_as_member(
        &mut self,
        me: &Member,
        chat: ChatId,
    ) -> Result<AsMember, Gone> {
        let cached = self.gateway.fanout.members().cached(chat);
        if let Some(members) = &cached
            && members.contains(me.id)
        {
            return Ok(AsMember::Member(Arc::clone(members)));
        }
        // Taken before storage is asked, so that a client past its allowance costs no read.
        if let Err(wait) = self.gateway.limits.take_chat_lookup(me.id) {
            let flow = self.past_allowance(me, None, wait).await?;
            return Ok(AsMember::Answered(flow));
        }
        self.refusals.served(Instant::now());
        if cached.is_none() {
            let ticket = self.gateway.fanout.members().ticket(chat);
            let members = self.gateway.storage.members_joined(chat).await;
            match members.map(ChatMembers::read) {
                Ok(members) if members.contains(me.id) => {
                    // A member's look-up is free: what it read is cached for the fan-out.
                    self.gateway.limits.give_back_chat_lookup(me.id);
                    let members = self
                        .gateway
                        .fanout
                        .members()
                        .remember(chat, members, ticket);
                    return Ok(AsMember::Member(members));
                }
                Ok(_) => {}
                Err(error) => {
                    self.write_error(None, &error).await?;
                    return Ok(AsMember::Answered(Flow::Continue));
                }
            }
        }
        self.write_error(None, &no_such_chat(chat)).await?;
        Ok(AsMember::Answered(Flow::Continue))
    }

    /// Answers a request refused for `me`'s allowance, which refills in `wait`: with
    /// `TooManyRequests`, or by closing a connection that has gone on asking without waiting
    /// as it was told.
    pub(super) async fn past_allowance(
        &mut self,
        me: &Member,
        request: Option<RequestId>,
        wait: Duration,
    ) -> Result<Flow, Gone> {
        if self.refusals.refused(Instant::now(), wait) {
            // A client that goes on asking past its allowance costs the server a refusal a
            // request: it is closed instead, as a sender too fast for too long is, and its
            // account signs in again only after the time it is told.
            Counters::bump(&self.gateway.counters().sessions_rate_limited);
            tracing::info!("asking past the allowance for too long; closing the connection");
            let retry_after_ms = self.gateway.admission.send_limit().retry_after_ms();
            self.gateway
                .limits
                .close_account_for(me.id, Duration::from_millis(u64::from(retry_after_ms)));
            self.goodbye(ErrorCode::RateLimited, u64::from(retry_after_ms))
                .await;
            return Ok(Flow::Close(
                close_code::POLICY,
                "too many requests; slow down and reconnect later",
            ));
        }
        self.refuse(
            request,
            ErrorCode::TooManyRequests,
            format!("too many requests of this kind; {}", try_again_in(wait)),
        )
        .await
    }
}
