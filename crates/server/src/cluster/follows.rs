//! What this process follows: each chat its sessions follow (one subscription however many
//! do, with the chat's [`Cursor`]), each account signed in here (one subscription to what is
//! pushed to it), and what each session follows, so that its end lets go of both.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use merpati_protocol::content::{EncryptedBody, SystemEvent, is_system_body};
use merpati_protocol::{ChatId, MessageFrame, Seq, ServerFrame, UserId};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Cursor, Event, State, account_subject, subject};
use crate::fanout::SessionId;

/// A chat this process follows.
pub(super) struct Followed {
    pub(super) cursor: Cursor,
    /// Where the cursor started: every message after it is delivered here live, to the
    /// sessions online then.
    live_after: Seq,
    /// How many sessions follow it.
    followers: usize,
    /// The task forwarding its wake-ups.
    subscription: JoinHandle<()>,
}

/// An account with sessions here.
pub(super) struct Account {
    sessions: HashSet<SessionId>,
    subscription: JoinHandle<()>,
}

impl Account {
    /// Its sessions here.
    pub(super) fn sessions(&self) -> impl Iterator<Item = &SessionId> {
        self.sessions.iter()
    }
}

impl Following {
    /// Whether the session follows `chat`.
    pub(super) fn follows(&self, chat: ChatId) -> bool {
        self.chats.contains(&chat)
    }
}

/// What one session follows.
#[derive(Default)]
pub(super) struct Following {
    account: Option<UserId>,
    chats: HashSet<ChatId>,
    /// The account whose presence it watches.
    pub(super) watching: Option<UserId>,
}

impl State {
    /// `session` follows what its `Sync` read, `chats` at their heads then; `followed` is
    /// told, per chat, the number this process delivers live after (see `Event::Follow`).
    ///
    /// A chat followed here already is delivered from its cursor, which another session's
    /// sync, read later, may have put past this one's heads: what lies between reached no
    /// one here live (its wake-ups came before the subscription), so the sync reads it
    /// itself, up to the number told, before the live messages, which its connection writes
    /// only after `SyncDone`. A chat followed anew is subscribed to first, then its head is
    /// read and whatever lies past the sync's head is delivered: a message committed between
    /// the `Sync` read and the subscription is not left to the next head check.
    pub(super) async fn follow_for_sync(
        &mut self,
        session: SessionId,
        chats: Vec<(ChatId, Seq)>,
        followed: oneshot::Sender<HashMap<ChatId, Seq>>,
    ) {
        #[cfg(debug_assertions)]
        if super::Hold::Follow.takes_this_one() {
            self.hold_follow(session, chats, followed);
            return;
        }
        let subscribed = self.follow(session, &chats).await;
        let live_after = chats
            .iter()
            .filter_map(|&(chat, _)| Some((chat, self.chats.get(&chat)?.live_after)))
            .collect();
        // Told before the heads are read: from here on, whatever the check brings goes out
        // live, after the sync's pages.
        let _ = followed.send(live_after);
        self.check_heads_of(subscribed).await;
    }

    /// `session` follows `chats` from these sequence numbers on (those it follows already,
    /// from where their cursors are); the chats this process subscribed to anew. A pushed
    /// chat needs no read of its head: its `ChatInfo` tells the client the head, and the
    /// client fetches.
    pub(super) async fn follow(
        &mut self,
        session: SessionId,
        chats: &[(ChatId, Seq)],
    ) -> Vec<ChatId> {
        let mut subscribed = Vec::new();
        for &(chat, seq) in chats {
            if !self.sessions.entry(session).or_default().chats.insert(chat) {
                continue;
            }
            if let Some(followed) = self.chats.get_mut(&chat) {
                followed.followers += 1;
                continue;
            }
            let subscription = self
                .to_nats
                .forward(subject(chat), &self.sender, Event::Woken);
            // Whatever was cached of its members predates the following: read them afresh.
            self.gateway.fanout().members().follow(chat);
            self.chats.insert(
                chat,
                Followed {
                    cursor: Cursor::at(seq),
                    live_after: seq,
                    followers: 1,
                    subscription,
                },
            );
            self.count_followed();
            subscribed.push(chat);
        }
        subscribed
    }

    /// `session` is `account`'s: pushes to the account reach this process from now on.
    pub(super) async fn signed_in(
        &mut self,
        session: SessionId,
        account: UserId,
        ready: oneshot::Sender<()>,
    ) {
        self.sessions.entry(session).or_default().account = Some(account);
        if let Some(known) = self.accounts.get_mut(&account) {
            known.sessions.insert(session);
            let _ = ready.send(());
            return;
        }
        let (subscription, subscribed) =
            self.to_nats
                .forward_written(account_subject(account), &self.sender, move |payload| {
                    Event::PushWoken { account, payload }
                });
        self.accounts.insert(
            account,
            Account {
                sessions: HashSet::from([session]),
                subscription,
            },
        );
        // Awaited apart, so that this task goes on meanwhile; bounded, so that a sign-in during
        // a NATS outage is not held up (what the subscription would have brought then comes
        // with the client's next sync, or a head check).
        tokio::spawn(async move {
            subscribed.await;
            let _ = ready.send(());
        });
        self.say_here(account);
    }

    /// `session` is gone: it follows and watches nothing any more.
    pub(super) async fn unfollow(&mut self, session: SessionId) {
        let Some(following) = self.sessions.remove(&session) else {
            return;
        };
        if let Some(watched) = following.watching {
            self.release_watch(watched);
        }
        for chat in following.chats {
            self.release_chat(chat);
        }
        if let Some(account) = following.account
            && let Some(known) = self.accounts.get_mut(&account)
        {
            known.sessions.remove(&session);
            if known.sessions.is_empty() {
                known.subscription.abort();
                self.accounts.remove(&account);
                self.say_gone(account);
            }
        }
    }

    /// One follower fewer for `chat`: the last one lets go of its subscription, and of the
    /// chat's cached members, which no line of the chat corrects from then on.
    fn release_chat(&mut self, chat: ChatId) {
        let Some(followed) = self.chats.get_mut(&chat) else {
            return;
        };
        followed.followers = followed.followers.saturating_sub(1);
        if followed.followers == 0 {
            followed.subscription.abort();
            self.chats.remove(&chat);
            self.gateway.fanout().members().release(chat);
            self.count_followed();
        }
    }

    /// Tells the metrics how many chats this process follows now.
    fn count_followed(&self) {
        self.gateway
            .counters()
            .chats_followed
            .store(self.chats.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// A chat pushed to `account` (by this process, or by another when `from_elsewhere`):
    /// this process learns its members; the account's sessions here get the frame (those of
    /// another process's push: this process's own pushed it already) and follow the chat
    /// from `from` on — or, if the account is no longer in it, follow it no more.
    pub(super) async fn pushed(
        &mut self,
        account: UserId,
        frame: &Bytes,
        from: Seq,
        from_elsewhere: bool,
    ) {
        let Ok(ServerFrame::Chat { chat, .. }) = merpati_protocol::decode::<ServerFrame>(frame)
        else {
            return;
        };
        let members: Vec<UserId> = chat.members.iter().map(|member| member.id).collect();
        // Followed here: the change's own lines, delivered in order, say who joined
        // (`learn_members_from`); a departure is applied at once, since a message after it
        // must not reach the one who left.
        let cached = self
            .chats
            .contains_key(&chat.id)
            .then(|| self.gateway.fanout().members().cached(chat.id))
            .flatten();
        if from_elsewhere {
            self.gateway.fanout().deliver(&[account], frame, None);
        }
        let still_member = chat.members.iter().any(|member| member.id == account);
        let sessions: Vec<SessionId> = self
            .accounts
            .get(&account)
            .map(|known| known.sessions.iter().copied().collect())
            .unwrap_or_default();
        // Told: nothing is owed to it any more (`lost_pushes`).
        self.departures_owed.remove(&(account, chat.id));
        if still_member {
            for session in sessions {
                self.follow(session, &[(chat.id, from)]).await;
            }
        } else {
            // If it is added again, the push of that (or the check that repairs a lost one)
            // has it follow afresh.
            for session in sessions {
                let following = self.sessions.get_mut(&session);
                if following.is_some_and(|following| following.chats.remove(&chat.id)) {
                    self.release_chat(chat.id);
                }
            }
        }
        // Once followed or let go of: the fan-out keeps the members only of a chat followed.
        // A list not kept before is read from storage by the next delivery, with when each
        // member joined, which the push does not say.
        let fanout = self.gateway.fanout();
        match cached {
            // A push of a change older than the list (its lines were learned already, or a
            // later change's push came first) says nothing new, and would drop those a later
            // change added.
            Some(cached) if cached.as_of() >= chat.head => {}
            Some(cached) => {
                let kept = cached.keeping(|member| members.contains(&member));
                fanout.members().set(chat.id, kept);
            }
            None => fanout.members().forget(chat.id),
        }
    }

    /// Learns from a line the server wrote into a group (delivered in order with the rest)
    /// who joined or left it, before the messages after it are delivered: the push of the
    /// change to the members' accounts travels on other subjects, and a message sent just
    /// after a removal must not reach the removed member's sessions here first. A member
    /// who left and still has sessions here following the chat has not been told yet: that
    /// is owed to it until its push comes, or a head check tells it (`lost_pushes`).
    pub(super) fn learn_members_from(&mut self, message: &MessageFrame) {
        if !is_system_body(&message.body) {
            return;
        }
        let Some(EncryptedBody::System(line)) = EncryptedBody::from_body(&message.body) else {
            return;
        };
        let (user, joined) = match line {
            SystemEvent::Added { user, .. } => (user.id, true),
            SystemEvent::Removed { user, .. } | SystemEvent::Left { user } => (user.id, false),
            _ => return,
        };
        if joined {
            self.departures_owed.remove(&(user, message.chat_id));
        } else if self.followed_by(user, message.chat_id) {
            self.departures_owed
                .entry((user, message.chat_id))
                .or_insert_with(crate::storage::now_ms);
        }
        let fanout = self.gateway.fanout();
        let Some(cached) = fanout.members().cached(message.chat_id) else {
            // Not cached: the next delivery reads the members from the database, and a read
            // begun before this line must not be cached after it.
            fanout.members().forget(message.chat_id);
            return;
        };
        let members = if joined {
            cached.with(user, message.seq)
        } else {
            cached.without(user, message.seq)
        };
        fanout.members().set(message.chat_id, members);
    }

    /// Lets go of every subscription (the task is ending).
    pub(super) fn unsubscribe_all(&mut self) {
        let chats = self.chats.values().map(|followed| &followed.subscription);
        let accounts = self.accounts.values().map(|known| &known.subscription);
        for subscription in chats.chain(accounts) {
            subscription.abort();
        }
    }
}
