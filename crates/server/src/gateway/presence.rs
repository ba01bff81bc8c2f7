//! Typing and presence: `Typing`, `WatchPresence` and `SetPrivacy`.
//!
//! Neither typing nor presence is stored, except when an account was last seen. A `Typing`
//! goes to the other members' online sessions, at most one per [`TYPING_INTERVAL_MS`] per
//! connection and chat (a message sent there starts the interval afresh), and not to anyone
//! who blocks the typist. A session watches one
//! account's presence at a time (someone it shares a 1:1 chat with): it is answered at once
//! and told again when that account's first session connects or last one closes (the
//! fan-out does that), or when a privacy setting or a block changes what it may see.

use std::time::Duration;

use bytes::Bytes;
use merpati_protocol::{ChatId, Member, Presence, ServerFrame, TYPING_INTERVAL_MS, UserId};
use tokio::time::Instant;

use super::allowance::AsMember;
use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode};
use crate::Error;
use crate::fanout::SessionId;
use crate::privacy::{Privacy, presence_as_seen};

/// The most chats one connection passes `Typing` on for within one interval: a person types
/// in one chat at a time, and this bounds what a connection remembers for it.
const TYPING_CHATS: usize = 4;

/// When a connection last passed on `Typing`, per chat, within the last interval.
#[derive(Debug, Default)]
pub(crate) struct TypingThrottle {
    passed: Vec<(ChatId, Instant)>,
}

impl TypingThrottle {
    /// Whether a `Typing` in `chat` at `now` is passed on (and then remembered).
    fn pass(&mut self, chat: ChatId, now: Instant) -> bool {
        let interval = Duration::from_millis(TYPING_INTERVAL_MS);
        self.passed
            .retain(|&(_, at)| now.saturating_duration_since(at) < interval);
        if self.passed.len() >= TYPING_CHATS || self.passed.iter().any(|&(c, _)| c == chat) {
            return false;
        }
        self.passed.push((chat, now));
        true
    }

    /// A message of this connection's reached `chat`: its members stop showing the typing
    /// (their app clears it when the message comes), so the next `Typing` there is new and
    /// passes at once — as the app's own throttle lets it go after a send. Messages have a
    /// rate limit of their own, which bounds this too.
    pub(super) fn sent_in(&mut self, chat: ChatId) {
        self.passed.retain(|&(c, _)| c != chat);
    }
}

impl Gateway {
    /// `watched`'s presence as `watcher` sees it, from the registry if `watched` is online,
    /// else from storage.
    async fn presence_seen(&self, watched: UserId, watcher: UserId) -> Result<Presence, Error> {
        if let Some(presence) = self.fanout.presence_seen(watched, watcher) {
            return Ok(presence);
        }
        let facts = self.storage.presence_facts(watched, watcher).await?;
        let watcher_privacy = self.fanout.privacy(watcher).unwrap_or_default();
        // On a cluster, `watched` may be online on another process, or have left the last
        // one later than storage has been told.
        let actual = match self.fanout.elsewhere(watched) {
            Some(Presence::Online) => Presence::Online,
            Some(Presence::LastSeen { at_ms }) => Presence::LastSeen {
                at_ms: at_ms.max(facts.last_seen_ms),
            },
            Some(Presence::Hidden) | None => Presence::LastSeen {
                at_ms: facts.last_seen_ms,
            },
        };
        Ok(presence_as_seen(
            actual,
            facts.shares_presence,
            watcher_privacy.share_presence,
            facts.blocks_watcher || watcher_privacy.blocks(watched),
        ))
    }

    /// Tells the sessions watching `account`, and the sessions of `account` watching
    /// someone, what they may see now that a privacy setting or a block changed (with
    /// `counterpart`, only the watches between the two).
    pub(crate) async fn refresh_watches(&self, account: UserId, counterpart: Option<UserId>) {
        let relevant = |other: UserId| counterpart.is_none_or(|counterpart| counterpart == other);
        let mut watches: Vec<(UserId, SessionId, UserId)> = Vec::new();
        for watcher in self.fanout.watchers_of(account) {
            if relevant(watcher.user) {
                watches.push((watcher.user, watcher.session, account));
            }
        }
        for (session, watched) in self.fanout.watched_by(account) {
            if relevant(watched) {
                watches.push((account, session, watched));
            }
        }
        for (watcher, session, watched) in watches {
            match self.presence_seen(watched, watcher).await {
                Ok(presence) => {
                    let frame = encode(&ServerFrame::Presence {
                        user: watched,
                        presence,
                    });
                    self.fanout.deliver_to_session(watcher, session, &frame);
                }
                Err(error) => tracing::warn!(%error, "cannot refresh a watched presence"),
            }
        }
    }

    /// Tells the sessions watching `watched` here that it came online on another process,
    /// or left the last one it was on, as far as each may see it (as the fan-out announces
    /// what happens here: not at all to one who would see `Hidden`).
    pub(crate) async fn announce_elsewhere(&self, watched: UserId) {
        for watcher in self.fanout.watchers_of(watched) {
            match self.presence_seen(watched, watcher.user).await {
                Ok(Presence::Hidden) => {}
                Ok(presence) => {
                    let frame = encode(&ServerFrame::Presence {
                        user: watched,
                        presence,
                    });
                    self.fanout
                        .deliver_to_session(watcher.user, watcher.session, &frame);
                }
                Err(error) => tracing::warn!(%error, "cannot tell a presence from elsewhere"),
            }
        }
    }

    /// Reads `account`'s privacy settings and block list again, changed on another process,
    /// and applies them ([`Gateway::apply_privacy`]).
    pub(crate) async fn reread_privacy(&self, account: UserId) {
        if self.fanout.sessions_of(account) == 0 {
            return;
        }
        let privacy = match self.storage.privacy(account).await {
            Ok(privacy) => privacy,
            Err(error) => {
                tracing::warn!(%error, "cannot read privacy changed elsewhere");
                return;
            }
        };
        self.apply_privacy(account, privacy).await;
    }

    /// Holds `privacy` as `account`'s, changed on another process (read again by the push of the
    /// change, or by a cluster's head check when that push was lost): its sessions here get the
    /// settings and the block list, and what they watch and who watches them here are told what
    /// they may see now.
    pub(crate) async fn apply_privacy(&self, account: UserId, privacy: Privacy) {
        let settings = encode(&privacy_frame(&privacy));
        let blocked = privacy.blocked.to_vec();
        self.fanout.update_privacy(account, |held| *held = privacy);
        let frame = encode(&ServerFrame::BlockList {
            request: None,
            users: blocked,
        });
        self.fanout.deliver(&[account], &settings, None);
        self.fanout.deliver(&[account], &frame, None);
        self.refresh_watches(account, None).await;
    }

    /// Tells a cluster's task what `session` watches, so that it learns the account's
    /// presence on the other processes.
    async fn tell_watching(&self, session: SessionId, watched: Option<UserId>) {
        if let Some(cluster) = &self.cluster {
            cluster
                .tell(crate::cluster::Event::Watch { session, watched })
                .await;
        }
    }

    /// Tells the other processes of a cluster that `account`'s privacy settings or block
    /// list changed here.
    pub(super) fn tell_privacy_changed(&self, account: UserId) {
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::PrivacyChanged { account });
        }
    }
}

impl<S: FrameSocket> Session<S> {
    /// Passes `Typing` on to the other members, unless this connection did so for the chat
    /// within the interval.
    pub(super) async fn typing(&mut self, me: &Member, chat_id: ChatId) -> Result<Flow, Gone> {
        let members = match self.chat_as_member(me, chat_id).await? {
            AsMember::Member(members) => members,
            AsMember::Answered(flow) => return Ok(flow),
        };
        let throttle = self.typing.get_or_insert_with(Box::default);
        if !throttle.pass(chat_id, Instant::now()) {
            return Ok(Flow::Continue);
        }
        let frame: Bytes = encode(&ServerFrame::Typing {
            chat_id,
            user: me.id,
        });
        let others: Vec<UserId> = members
            .ids()
            .iter()
            .copied()
            .filter(|&user| user != me.id)
            .collect();
        self.gateway
            .fanout
            .deliver_each(&others, None, |_, privacy| {
                (!privacy.blocks(me.id)).then(|| frame.clone())
            });
        if let Some(cluster) = &self.gateway.cluster {
            cluster.tell_now(crate::cluster::Event::Typing {
                accounts: others,
                from: me.id,
                frame,
            });
        }
        Ok(Flow::Continue)
    }

    /// Answers `WatchPresence`: the watched account's presence now, after which changes are
    /// pushed.
    pub(super) async fn watch_presence(
        &mut self,
        me: &Member,
        user: Option<UserId>,
    ) -> Result<Flow, Gone> {
        let Some(watched) = user else {
            self.gateway.fanout.watch(me.id, self.id, None);
            self.gateway.tell_watching(self.id, None).await;
            return Ok(Flow::Continue);
        };
        match self.gateway.storage.share_direct_chat(me.id, watched).await {
            Ok(true) => {}
            Ok(false) => {
                // A stranger learns nothing: not even whether the account exists.
                let refusal = Error::refused(
                    merpati_protocol::ErrorCode::NoSuchChat,
                    "only someone you share a 1:1 chat with can be watched",
                );
                return self.fail(refusal).await;
            }
            Err(error) => return self.fail(error).await,
        }
        // Watching before looking, so that no change after the answer is missed.
        self.gateway.tell_watching(self.id, Some(watched)).await;
        let online = self.gateway.fanout.watch(me.id, self.id, Some(watched));
        let presence = match online {
            Some(presence) => presence,
            None => match self.gateway.presence_seen(watched, me.id).await {
                Ok(presence) => presence,
                Err(error) => return self.fail(error).await,
            },
        };
        self.write_frame(&ServerFrame::Presence {
            user: watched,
            presence,
        })
        .await?;
        Ok(Flow::Continue)
    }

    /// Handles `SetPrivacy`: stores the settings if they changed, and tells watchers what
    /// they may see now.
    pub(super) async fn set_privacy(
        &mut self,
        me: &Member,
        share_read_receipts: bool,
        share_presence: bool,
    ) -> Result<Flow, Gone> {
        let fanout = &self.gateway.fanout;
        let Some(current) = fanout.privacy(me.id) else {
            return Ok(Flow::Continue);
        };
        // Unchanged (sent again after a Welcome, say): answered, and nothing else.
        if (current.share_read_receipts, current.share_presence)
            == (share_read_receipts, share_presence)
        {
            self.write_frame(&privacy_frame(&current)).await?;
            return Ok(Flow::Continue);
        }
        let stored = self
            .gateway
            .storage
            .set_privacy(me.id, share_read_receipts, share_presence)
            .await;
        if let Err(error) = stored {
            return self.fail(error).await;
        }
        self.gateway.fanout.update_privacy(me.id, |privacy| {
            privacy.share_read_receipts = share_read_receipts;
            privacy.share_presence = share_presence;
        });
        tracing::debug!(share_read_receipts, share_presence, "privacy changed");
        // Every session of the account holds the settings from now on, this one included:
        // another device must not put back what it held before.
        let frame = ServerFrame::Privacy {
            share_read_receipts,
            share_presence,
        };
        fanout.deliver(&[me.id], &encode(&frame), Some(self.id));
        self.write_frame(&frame).await?;
        if current.share_presence != share_presence {
            self.gateway.refresh_watches(me.id, None).await;
        }
        self.gateway.tell_privacy_changed(me.id);
        Ok(Flow::Continue)
    }

    /// Writes the error frame (without a request id) for a refused or failed frame.
    async fn fail(&mut self, error: Error) -> Result<Flow, Gone> {
        self.write_error(None, &error).await?;
        Ok(Flow::Continue)
    }
}

/// The `Privacy` frame that tells a session the account's settings in `privacy`.
pub(super) fn privacy_frame(privacy: &Privacy) -> ServerFrame {
    ServerFrame::Privacy {
        share_read_receipts: privacy.share_read_receipts,
        share_presence: privacy.share_presence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_passes_once_per_interval_and_chat() {
        let mut throttle = TypingThrottle::default();
        let start = Instant::now();
        let interval = Duration::from_millis(TYPING_INTERVAL_MS);
        assert!(throttle.pass(ChatId(1), start));
        assert!(!throttle.pass(ChatId(1), start + interval / 2));
        assert!(throttle.pass(ChatId(2), start + interval / 2));
        assert!(throttle.pass(ChatId(1), start + interval));
    }

    #[test]
    fn a_message_sent_in_a_chat_lets_the_next_typing_there_pass() {
        let mut throttle = TypingThrottle::default();
        let start = Instant::now();
        assert!(throttle.pass(ChatId(1), start));
        assert!(throttle.pass(ChatId(2), start));
        throttle.sent_in(ChatId(1));
        assert!(throttle.pass(ChatId(1), start));
        assert!(!throttle.pass(ChatId(2), start));
    }

    #[test]
    fn a_connection_typing_in_many_chats_at_once_is_bounded() {
        let mut throttle = TypingThrottle::default();
        let now = Instant::now();
        for chat in 0..TYPING_CHATS as u64 {
            assert!(throttle.pass(ChatId(chat), now));
        }
        assert!(!throttle.pass(ChatId(99), now));
        assert_eq!(throttle.passed.len(), TYPING_CHATS);
    }
}
