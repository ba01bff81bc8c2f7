//! How sessions and the gateway tell the cluster's task ([`super::run`]) what happened here:
//! waiting for room in its queue, not waiting and letting the next head check repair what a
//! full queue drops, or not waiting and not losing it either; and a sync's `Follow`, whose
//! answer the sync waits for.

use std::collections::HashMap;
use std::time::Duration;

use merpati_protocol::{ChatId, Seq};
use tokio::sync::{mpsc, oneshot};

use super::{Cluster, Event};
use crate::fanout::SessionId;
use crate::metrics::Counters;

/// How long a sync waits for the task to take its `Follow`: as long as a sign-in waits for
/// its account's subscription, so that a task held up (by a slow database read in a head
/// check, say: it never waits on NATS) does not hold syncs up more than sign-ins.
const FOLLOWED_WITHIN: Duration = Duration::from_secs(1);

/// A sync's `Follow`, told to the task.
#[derive(Debug)]
pub(crate) struct Following {
    answer: oneshot::Receiver<HashMap<ChatId, Seq>>,
}

impl Following {
    /// Per chat, the number this process delivers live after (see `Event::Follow`), once the
    /// task has taken the `Follow`; nothing if it did not within [`FOLLOWED_WITHIN`] (counted
    /// in `counters`) or is gone: the sync then reads up to its own heads, which misses what
    /// lies between if another session's later sync had the chat followed here first.
    pub(crate) async fn live_after(self, counters: &Counters) -> HashMap<ChatId, Seq> {
        // A fault test holds the `Follow` back for as long as it needs (debug builds only).
        #[cfg(debug_assertions)]
        let within = if super::Hold::Follow.is_asked() {
            Duration::from_secs(60)
        } else {
            FOLLOWED_WITHIN
        };
        #[cfg(not(debug_assertions))]
        let within = FOLLOWED_WITHIN;
        match tokio::time::timeout(within, self.answer).await {
            Ok(answer) => answer.unwrap_or_default(),
            Err(_) => {
                Counters::bump(&counters.syncs_followed_late);
                HashMap::new()
            }
        }
    }
}

impl Cluster {
    /// Tells the task that `session` follows `chats` from these heads (what its sync read).
    pub(crate) async fn follow(&self, session: SessionId, chats: Vec<(ChatId, Seq)>) -> Following {
        let (followed, answer) = oneshot::channel();
        self.tell(Event::Follow {
            session,
            chats,
            followed,
        })
        .await;
        Following { answer }
    }

    /// Tells the task something; if its queue is full the event waits for room.
    pub(crate) async fn tell(&self, event: Event) {
        if self.events.send(event).await.is_err() {
            tracing::warn!("the cluster's task has stopped");
        }
    }

    /// Tells the task something without waiting: a commit must not wait behind the queue.
    /// With the queue full the event is dropped: a commit's message the next head check
    /// delivers; a push to accounts elsewhere (a chat, a key share, a receipt, typing) is
    /// lost to them until their next sync.
    pub(crate) fn tell_now(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            tracing::warn!("the cluster's queue is full; the next head check catches up");
        }
    }

    /// Tells the task something that nothing repairs if it is lost (a session gone: the
    /// account's subscriptions and its presence elsewhere hang on it), without waiting, for
    /// `Drop`: at once if the queue has room, else from a task of its own that waits for it.
    pub(crate) fn tell_even_if_full(&self, event: Event) {
        let event = match self.events.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("the cluster's task has stopped");
                return;
            }
            Err(mpsc::error::TrySendError::Full(event)) => event,
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Only as the runtime itself goes, and the task with it.
            return;
        };
        let events = self.events.clone();
        runtime.spawn(async move {
            if events.send(event).await.is_err() {
                tracing::warn!("the cluster's task has stopped");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::SessionId;

    #[tokio::test]
    async fn a_session_gone_is_told_even_when_the_queue_is_full() {
        let (events, mut queue) = mpsc::channel(1);
        let cluster = Cluster { events };
        cluster.tell_now(Event::CheckHeads);
        cluster.tell_even_if_full(Event::Unfollow {
            session: SessionId(7),
        });
        // With every sender gone, the queue ends once it has handed over what was sent.
        drop(cluster);
        assert!(matches!(queue.recv().await, Some(Event::CheckHeads)));
        assert!(matches!(
            queue.recv().await,
            Some(Event::Unfollow {
                session: SessionId(7)
            })
        ));
        assert!(queue.recv().await.is_none());
    }
}
