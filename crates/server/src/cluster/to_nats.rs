//! What the cluster's task hands NATS, handed on by a task of its own: the cluster's task
//! never waits on NATS.
//!
//! async-nats queues 2,048 commands while it cannot write to the server (NATS stopped or
//! restarting, or paused with the socket full); past that, every `publish` and `subscribe`
//! waits until it can. Awaited in the cluster's task, one such wait stopped every delivery
//! on the process, every head check and every sign-in there. Here the cluster's task only
//! queues, and [`run`] awaits async-nats, in the order the commands were queued: a
//! subscription made before a question is published is in NATS before the question.
//!
//! Past [`PUBLISHES_WAITING`] publishes waiting, a new one is dropped and counted
//! (`merpati_nats_publishes_dropped`): a wake-up or a push is never the only copy, and the
//! head checks repair its loss as they repair any lost one (the cluster's module comment).
//! A subscription is never dropped for want of room: it is made once async-nats takes
//! commands again (only a client closed for good refuses it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Event;
use crate::metrics::Counters;

/// How long a wait for a subscription to be written to NATS lasts at most (a sign-in's, or
/// the start's for word of sessions ended).
const SUBSCRIBED_WITHIN: Duration = Duration::from_secs(1);

/// How many publishes may wait for async-nats before new ones are dropped. Each holds a
/// wake-up or a push (a message's frame at most), so this bounds the memory an outage of
/// NATS can take, beside async-nats's own queue.
const PUBLISHES_WAITING: usize = 1_024;

/// The cluster's task's way to NATS.
#[derive(Debug)]
pub(super) struct ToNats {
    queue: mpsc::UnboundedSender<Command>,
    /// Publishes queued and not yet taken by async-nats.
    publishes_waiting: Arc<AtomicUsize>,
    /// Whether the last publish was dropped: an outage is logged once, not per publish.
    dropping: AtomicBool,
    counters: Arc<Counters>,
}

/// What [`run`] hands async-nats.
enum Command {
    Publish {
        subject: String,
        payload: Bytes,
    },
    Subscribe {
        subject: String,
        /// Where the subscription goes once made: the task forwarding it.
        to: oneshot::Sender<async_nats::Subscriber>,
        /// Answered once the subscription is written to NATS, if someone waits for that.
        written: Option<oneshot::Sender<()>>,
    },
}

impl ToNats {
    /// The way to `nats`, and the task ([`run`]) that hands it on, which ends once the
    /// `ToNats` is dropped and what it queued is handed on.
    pub(super) fn start(nats: async_nats::Client, counters: Arc<Counters>) -> ToNats {
        let (queue, commands) = mpsc::unbounded_channel();
        let publishes_waiting = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(nats, commands, Arc::clone(&publishes_waiting)));
        ToNats {
            queue,
            publishes_waiting,
            dropping: AtomicBool::new(false),
            counters,
        }
    }

    /// Publishes `payload` on `subject`, or drops it if too many publishes wait already.
    pub(super) fn publish(&self, subject: String, payload: Bytes) {
        if self.publishes_waiting.load(Ordering::Relaxed) >= PUBLISHES_WAITING {
            Counters::bump(&self.counters.nats_publishes_dropped);
            if !self.dropping.swap(true, Ordering::Relaxed) {
                tracing::warn!("NATS takes nothing: publishes are dropped until it does");
            }
            return;
        }
        if self.dropping.swap(false, Ordering::Relaxed) {
            tracing::info!("NATS takes publishes again");
        }
        self.publishes_waiting.fetch_add(1, Ordering::Relaxed);
        let _ = self.queue.send(Command::Publish { subject, payload });
    }

    /// Subscribes to `subject` and forwards what arrives on it to the cluster's task, as
    /// `event` makes it: the task forwarding it, which aborted lets go of the subscription.
    pub(super) fn forward(
        &self,
        subject: String,
        sender: &mpsc::Sender<Event>,
        event: impl Fn(Bytes) -> Event + Send + 'static,
    ) -> JoinHandle<()> {
        self.subscribe_and_forward(subject, sender, event, None)
    }

    /// [`ToNats::forward`], and a future that ends once the subscription is written to NATS
    /// (the server reads what a connection writes in order, so what it is sent after that
    /// reaches the subscription), or after [`SUBSCRIBED_WITHIN`] at most: a wait for it is
    /// not held up by a NATS outage.
    pub(super) fn forward_written(
        &self,
        subject: String,
        sender: &mpsc::Sender<Event>,
        event: impl Fn(Bytes) -> Event + Send + 'static,
    ) -> (JoinHandle<()>, impl Future<Output = ()> + Send + 'static) {
        let (written, subscribed) = oneshot::channel();
        let task = self.subscribe_and_forward(subject, sender, event, Some(written));
        let within = async move {
            let _ = tokio::time::timeout(SUBSCRIBED_WITHIN, subscribed).await;
        };
        (task, within)
    }

    fn subscribe_and_forward(
        &self,
        subject: String,
        sender: &mpsc::Sender<Event>,
        event: impl Fn(Bytes) -> Event + Send + 'static,
        written: Option<oneshot::Sender<()>>,
    ) -> JoinHandle<()> {
        let (to, subscription) = oneshot::channel();
        let _ = self.queue.send(Command::Subscribe {
            subject,
            to,
            written,
        });
        let sender = sender.clone();
        tokio::spawn(async move {
            let Ok(mut subscription) = subscription.await else {
                return;
            };
            while let Some(message) = subscription.next().await {
                if sender.send(event(message.payload)).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// Hands each command to async-nats in order, waiting while it cannot take them.
async fn run(
    nats: async_nats::Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    publishes_waiting: Arc<AtomicUsize>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            Command::Publish { subject, payload } => {
                if let Err(error) = nats.publish(subject, payload).await {
                    tracing::warn!(%error, "cannot publish");
                }
                publishes_waiting.fetch_sub(1, Ordering::Relaxed);
            }
            Command::Subscribe {
                subject,
                to,
                written,
            } => match nats.subscribe(subject.clone()).await {
                // A forwarding task already aborted drops it, which unsubscribes.
                Ok(subscription) => {
                    let _ = to.send(subscription);
                    if let Some(written) = written {
                        let nats = nats.clone();
                        tokio::spawn(async move {
                            if nats.flush().await.is_ok() {
                                let _ = written.send(());
                            }
                        });
                    }
                }
                Err(error) => {
                    // What it would bring still comes: a head check, or the next sync, late.
                    tracing::warn!(%error, subject, "cannot subscribe");
                }
            },
        }
    }
}
