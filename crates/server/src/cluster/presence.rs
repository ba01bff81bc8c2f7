//! Presence across processes: whether an account watched here has a session on another
//! process.
//!
//! A process where an account has sessions says so on the account's presence subject
//! (`merpati.presence.<id>`): `Here` when its first session there connects, `Gone` when its
//! last one there closes. A process with sessions watching the account subscribes to that
//! subject (once however many watch), and asks on the account's subject, where only the
//! processes holding it listen, who holds it now; each answers `Here`. So the watching process
//! knows which processes hold the account, and the fan-out tells the watchers here when it
//! comes online elsewhere or leaves the last process it was on.
//!
//! Like every push, these may be lost, and a process may die without saying `Gone`. So the
//! question is asked again at every head check, and a process that has not answered it for
//! [`LEASE_ROUNDS`] checks no longer counts as holding the account: a lost `Gone` or a dead
//! process leaves an account shown online for at most that many intervals.
//!
//! `Changed` says that the account's privacy settings or block list changed: the watchers
//! here are told again what they may see.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use merpati_protocol::{Presence, UserId};
use tokio::task::JoinHandle;

use super::push::Push;
use super::{Event, State, u64_at};
use crate::fanout::SessionId;

/// How many head checks a process may leave the question unanswered before it no longer
/// counts as holding the account.
const LEASE_ROUNDS: u64 = 2;

/// An account watched by sessions here.
pub(super) struct Watched {
    /// How many sessions here watch it.
    watchers: usize,
    /// The task forwarding its presence subject.
    subscription: JoinHandle<()>,
    /// The other processes holding it, each with the head check it last said so at.
    holders: HashMap<u64, u64>,
    /// When its privacy last changed, as a head check last read it (`lost_pushes`; 0: not
    /// read since it was first watched here).
    privacy_changed_ms: u64,
}

impl Watched {
    /// Whether the change of its privacy at `changed_ms` is news to the watchers here as far
    /// as the head checks know (and, from now on, not): a check reads a change again for as
    /// long as it lies within its margin, and tells the watchers once.
    pub(super) fn privacy_news(&mut self, changed_ms: u64) -> bool {
        std::mem::replace(&mut self.privacy_changed_ms, changed_ms) != changed_ms
    }
}

/// What goes on an account's presence subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum News {
    /// The account has a session on `process`.
    Here { process: u64 },
    /// The account's last session on `process` closed at `at_ms`.
    Gone { process: u64, at_ms: u64 },
    /// The account's privacy settings or block list changed.
    Changed,
}

impl News {
    /// A kind byte, then the process and the time where the kind has them.
    fn write(self) -> Bytes {
        let mut payload = BytesMut::with_capacity(17);
        match self {
            News::Here { process } => {
                payload.put_u8(0);
                payload.put_u64_le(process);
            }
            News::Gone { process, at_ms } => {
                payload.put_u8(1);
                payload.put_u64_le(process);
                payload.put_u64_le(at_ms);
            }
            News::Changed => payload.put_u8(2),
        }
        payload.freeze()
    }

    fn read(payload: &[u8]) -> Option<News> {
        match payload.first()? {
            0 => Some(News::Here {
                process: u64_at(payload, 1)?,
            }),
            1 => Some(News::Gone {
                process: u64_at(payload, 1)?,
                at_ms: u64_at(payload, 9)?,
            }),
            2 => Some(News::Changed),
            _ => None,
        }
    }
}

/// The subject an account's presence goes on.
fn presence_subject(account: UserId) -> String {
    format!("merpati.presence.{}", account.0)
}

impl State {
    /// `session` watches `watched` from now on (`None`: no one), instead of what it watched.
    pub(super) async fn watch(&mut self, session: SessionId, watched: Option<UserId>) {
        let following = self.sessions.entry(session).or_default();
        let before = std::mem::replace(&mut following.watching, watched);
        if before == watched {
            return;
        }
        if let Some(before) = before {
            self.release_watch(before);
        }
        let Some(watched) = watched else {
            return;
        };
        if let Some(known) = self.watched.get_mut(&watched) {
            known.watchers += 1;
            return;
        }
        // Subscribed before asking (`to_nats` hands NATS both in this order), so that no
        // answer is missed.
        let subscription =
            self.to_nats
                .forward(presence_subject(watched), &self.sender, move |payload| {
                    Event::PresenceWoken {
                        account: watched,
                        payload,
                    }
                });
        self.watched.insert(
            watched,
            Watched {
                watchers: 1,
                subscription,
                holders: HashMap::new(),
                privacy_changed_ms: 0,
            },
        );
        self.publish_push(watched, &Push::PresenceAsked);
    }

    /// One session fewer watches `watched`; the last lets go of its subject.
    pub(super) fn release_watch(&mut self, watched: UserId) {
        let Some(known) = self.watched.get_mut(&watched) else {
            return;
        };
        known.watchers = known.watchers.saturating_sub(1);
        if known.watchers > 0 {
            return;
        }
        known.subscription.abort();
        self.watched.remove(&watched);
        self.gateway.fanout().set_elsewhere(watched, None);
    }

    /// What another process said of `account`'s presence.
    pub(super) async fn presence_woken(&mut self, account: UserId, payload: &[u8]) {
        let Some(news) = News::read(payload) else {
            return;
        };
        let round = self.presence_round;
        let Some(known) = self.watched.get_mut(&account) else {
            return;
        };
        let at_ms = match news {
            News::Here { process } => {
                known.holders.insert(process, round);
                0
            }
            News::Gone { process, at_ms } => {
                known.holders.remove(&process);
                at_ms
            }
            News::Changed => {
                self.gateway.refresh_watches(account, None).await;
                return;
            }
        };
        self.settle(account, at_ms).await;
    }

    /// Notes in the fan-out whether `account` is held elsewhere (if not, since `at_ms`), and
    /// tells the watchers here if what they see changed.
    async fn settle(&mut self, account: UserId, at_ms: u64) {
        let Some(known) = self.watched.get(&account) else {
            return;
        };
        let presence = if known.holders.is_empty() {
            Presence::LastSeen { at_ms }
        } else {
            Presence::Online
        };
        if self.gateway.fanout().set_elsewhere(account, Some(presence)) {
            self.gateway.announce_elsewhere(account).await;
        }
    }

    /// Asks again where every account watched here is held, and lets go of the holders that
    /// have not answered for [`LEASE_ROUNDS`] checks.
    pub(super) async fn renew_presence(&mut self) {
        self.presence_round += 1;
        let oldest = self.presence_round.saturating_sub(LEASE_ROUNDS);
        let accounts: Vec<UserId> = self.watched.keys().copied().collect();
        for account in accounts {
            let Some(known) = self.watched.get_mut(&account) else {
                continue;
            };
            let before = known.holders.len();
            known.holders.retain(|_, said_at| *said_at >= oldest);
            if known.holders.len() < before {
                self.settle(account, crate::storage::now_ms()).await;
            }
            self.publish_push(account, &Push::PresenceAsked);
        }
    }

    /// Says on `account`'s presence subject that it has a session here (its first here, or
    /// in answer to a question).
    pub(super) fn say_here(&self, account: UserId) {
        let news = News::Here {
            process: self.process,
        };
        self.publish_presence(account, news);
    }

    /// Says on `account`'s presence subject that its last session here closed.
    pub(super) fn say_gone(&self, account: UserId) {
        let news = News::Gone {
            process: self.process,
            at_ms: crate::storage::now_ms(),
        };
        self.publish_presence(account, news);
    }

    /// Answers a question where `account` is held, if it is held here.
    pub(super) fn answer_presence_asked(&self, account: UserId) {
        if self.accounts.contains_key(&account) {
            self.say_here(account);
        }
    }

    /// Tells the other processes that `account`'s privacy settings or block list changed:
    /// those holding it read them again, those watching it tell their watchers again.
    pub(super) fn privacy_changed(&self, account: UserId) {
        #[cfg(debug_assertions)]
        if self.loses_pushes == super::LostPushes::All {
            // The fault tests' lost pushes: the presence news of the change is lost with it.
            return;
        }
        self.publish_push(account, &Push::PrivacyChanged);
        self.publish_presence(account, News::Changed);
    }

    fn publish_presence(&self, account: UserId, news: News) {
        self.to_nats
            .publish(presence_subject(account), news.write());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_reads_back_as_written_and_nothing_else_reads() {
        for news in [
            News::Here { process: 7 },
            News::Gone {
                process: u64::MAX,
                at_ms: 1_700_000_000_000,
            },
            News::Changed,
        ] {
            assert_eq!(News::read(&news.write()), Some(news));
        }
        assert_eq!(News::read(&[]), None);
        assert_eq!(News::read(&[0, 1, 2]), None, "too short");
        assert_eq!(News::read(&[9]), None, "no such kind");
    }

    #[tokio::test]
    async fn a_privacy_change_read_at_several_checks_is_news_once() {
        let mut watched = Watched {
            watchers: 1,
            subscription: tokio::spawn(async {}),
            holders: HashMap::new(),
            privacy_changed_ms: 0,
        };
        assert!(watched.privacy_news(1_000));
        assert!(!watched.privacy_news(1_000), "read again within the margin");
        assert!(watched.privacy_news(2_000), "a later change");
    }
}
