//! Several server processes on one database: each tells the others, through NATS, that a
//! chat moved, and delivers the chats its own sessions follow in order, once.
//!
//! After a message is committed, the process that stored it publishes a wake-up on the
//! chat's subject (`merpati.chat.<id>`): the storage epoch and the encoded `Message` frame,
//! body included, so a process woken needs no read to deliver it (or, with
//! `MERPATI_WAKE_UP_BODY=false`, only the chat and the number, which the process woken then
//! reads: bench/CLUSTER.md compares the two). A process subscribes to a
//! chat's subject once, while any of its sessions follows the chat (from the session's
//! `Sync` on), however many of them do. The wake-up is never the only copy — PostgreSQL is —
//! so it is never trusted to arrive:
//! - per chat followed, the process remembers the last sequence number it delivered
//!   ([`Cursor`]); a message after a gap is delivered only after the gap, read from storage;
//!   one at or below the cursor is not delivered again;
//! - every `MERPATI_HEAD_CHECK_MS` (10 s by default; and at once after NATS reconnects, or says this process
//!   was too slow and dropped messages), the heads of every chat followed are read, and
//!   whatever lies past a cursor is read and delivered: a lost last wake-up, or a process
//!   that died between its commit and its publish, costs at most one interval.
//! - the same check repairs what a lost push to an account would leave undone
//!   (`lost_pushes`): it hands the devices bound here what waits in their mailboxes,
//!   closes the connections of sessions ended elsewhere, pushes chats joined elsewhere,
//!   applies privacy settings and block lists changed elsewhere, and tells the accounts here
//!   of their partners' devices changed elsewhere.
//!
//! Presence crosses processes on subjects of its own (`presence`), and word that a session
//! ended on one every process hears (`ends`).
//!
//! A chat created or changed is pushed to each member's account subject
//! (`merpati.account.<id>`, subscribed while the account has a session here): its sessions
//! elsewhere get their `ChatInfo`, the process they are on learns the chat's new members (its
//! cache of who is in a chat would be stale otherwise), and they follow the chat from then on.
//!
//! One task ([`run`]) does all of it, so each chat's deliveries are in order without a lock
//! per chat; sessions and the gateway only send it [`Event`]s. It never waits on NATS
//! (`to_nats`): a NATS outage stops the wake-ups, not the deliveries on each process.

mod cursor;
mod delivery;
mod ends;
#[cfg(debug_assertions)]
mod faults;
mod follows;
mod lost_pushes;
mod presence;
mod push;
mod reconnect;
mod tell;
mod to_nats;
mod wake_up;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use merpati_protocol::keys::DeviceRef;
use merpati_protocol::{ChatId, Epoch, MessageFrame, Seq, UserId};
use tokio::sync::mpsc;

use crate::Error;
use crate::fanout::SessionId;
use crate::gateway::Gateway;
use crate::metrics::Counters;
use crate::storage::Moved;
pub(crate) use cursor::{Cursor, Offered};
#[cfg(debug_assertions)]
pub(crate) use faults::Hold;
#[cfg(debug_assertions)]
use faults::{LostPushes, publishes_before_crash};
use push::Push;
use to_nats::ToNats;
use wake_up::{WakeUp, read_wake_up, wake_up};

/// How many events may wait for the cluster's task.
const EVENT_QUEUE: usize = 65_536;

/// What the cluster's task is told.
#[derive(Debug)]
pub(crate) enum Event {
    /// A session follows these chats from these sequence numbers on (what its `Sync` read).
    /// `followed` is answered once this process delivers each of them live, with the number
    /// it delivers live after (at or past the session's where another session followed the
    /// chat first): the sync reads up to there itself, so nothing between the two is missed.
    Follow {
        session: SessionId,
        chats: Vec<(ChatId, Seq)>,
        followed: tokio::sync::oneshot::Sender<HashMap<ChatId, Seq>>,
    },
    /// A session signed in as `account`: what is pushed to the account reaches it here.
    /// `ready` is answered once NATS has the account's subscription (or could not confirm
    /// it in time), so that nothing pushed to the account after `Welcome` is missed.
    SignedIn {
        session: SessionId,
        account: UserId,
        ready: tokio::sync::oneshot::Sender<()>,
    },
    /// A session is gone.
    Unfollow { session: SessionId },
    /// This process pushed `frame` (a `Chat`: created or changed) to `account`'s sessions
    /// here: push it to its sessions elsewhere too, and have its sessions follow the chat
    /// from `from` on (the head before the lines the change wrote, which follow it).
    Pushed {
        account: UserId,
        frame: Bytes,
        from: Seq,
    },
    /// This process handed `frame` (a to-device message, or word that a device's keys ran
    /// low) to `device`'s sessions here: hand it to them elsewhere too.
    ToDevice { device: DeviceRef, frame: Bytes },
    /// This process handed `frame` (word that a device or a backup changed) to these
    /// accounts' sessions here: hand it to their sessions elsewhere too.
    ToAccounts { accounts: Vec<UserId>, frame: Bytes },
    /// `from` is typing in a chat of these accounts (`frame`): hand it to their sessions on
    /// the other processes, but not to one of an account that blocks `from`.
    Typing {
        accounts: Vec<UserId>,
        from: UserId,
        frame: Bytes,
    },
    /// A receipt moved that `viewers` may see (the owner's blocks applied): hand it to their
    /// sessions on the other processes, which apply each viewer's own settings.
    Receipt {
        viewers: Vec<UserId>,
        chat_id: ChatId,
        moved: Moved,
        owner_shares_read: bool,
    },
    /// This process ended `account`'s session named `token_hash` and closed its connections
    /// here: close them elsewhere too (`ends`).
    SessionEnded {
        account: UserId,
        token_hash: [u8; 32],
    },
    /// Another process's word that a session ended.
    SessionEndedElsewhere(Bytes),
    /// A session watches this account's presence from now on (`None`: no one's).
    Watch {
        session: SessionId,
        watched: Option<UserId>,
    },
    /// An account's privacy settings or block list changed here: tell the other processes.
    PrivacyChanged { account: UserId },
    /// Another process's word of an account's presence.
    PresenceWoken { account: UserId, payload: Bytes },
    /// Another process's push to an account.
    PushWoken { account: UserId, payload: Bytes },
    /// This process committed a message: publish it, and deliver it here.
    Committed { message: MessageFrame, frame: Bytes },
    /// Another process's wake-up.
    Woken(Bytes),
    /// Check every chat followed against its head.
    CheckHeads,
}

/// The handle the gateway and the sessions hold.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    events: mpsc::Sender<Event>,
}

/// How a process takes part in a cluster (from its `Config`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How often every chat followed is checked against its head.
    pub(crate) head_check: Duration,
    /// How many wake-ups one subscription holds before NATS drops the rest.
    pub(crate) subscription_capacity: usize,
    /// Whether wake-ups carry the message, or only its chat and number.
    pub(crate) wake_up_body: bool,
}

/// What [`Cluster::connect`] returns besides the handle: the task's half, for [`run`].
#[derive(Debug)]
pub(crate) struct Parts {
    to_nats: ToNats,
    events: mpsc::Receiver<Event>,
    sender: mpsc::Sender<Event>,
    settings: Settings,
    /// The task forwarding word of sessions ended elsewhere.
    ends: tokio::task::JoinHandle<()>,
}

impl Cluster {
    /// Connects to NATS at `url`. A reconnect, or a subscription NATS had to drop messages
    /// of, makes the task check every head.
    pub(crate) async fn connect(
        url: &str,
        settings: Settings,
        counters: Arc<Counters>,
    ) -> Result<(Cluster, Parts), Error> {
        let (sender, events) = mpsc::channel(EVENT_QUEUE);
        let on_event = sender.clone();
        let on_event_counters = Arc::clone(&counters);
        let nats = async_nats::ConnectOptions::new()
            .name("merpati-server")
            // A process hears only the others: what it publishes it has delivered itself.
            .no_echo()
            .subscription_capacity(settings.subscription_capacity)
            .retry_on_initial_connect()
            .reconnect_delay_callback(|attempts| reconnect::delay(attempts, reconnect::jitter()))
            .event_callback(move |event| {
                let on_event = on_event.clone();
                let counters = Arc::clone(&on_event_counters);
                async move {
                    tracing::info!(%event, "NATS");
                    if matches!(event, async_nats::Event::SlowConsumer(_)) {
                        Counters::bump(&counters.nats_slow_consumer);
                    }
                    if matches!(
                        event,
                        async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                    ) {
                        let _ = on_event.try_send(Event::CheckHeads);
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|error| Error::Config(format!("cannot connect to NATS at {url}: {error}")))?;
        tracing::info!(url, "connected to NATS");
        let to_nats = ToNats::start(nats, counters);
        let ends = ends::subscribe(&to_nats, &sender).await;
        let cluster = Cluster {
            events: sender.clone(),
        };
        Ok((
            cluster,
            Parts {
                to_nats,
                events,
                sender,
                settings,
                ends,
            },
        ))
    }
}

/// The subject a chat's wake-ups go on.
fn subject(chat: ChatId) -> String {
    format!("merpati.chat.{}", chat.0)
}

/// The subject pushes to an account go on.
fn account_subject(account: UserId) -> String {
    format!("merpati.account.{}", account.0)
}

/// The little-endian `u64` at `at` in what came over NATS, if it is that long.
fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A random name for this process in presence news.
fn process_id() -> u64 {
    let mut bytes = [0; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Only the names of two processes could then meet; the clock tells them apart.
        return crate::storage::now_ms() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(bytes)
}

/// The cluster's task: follows chats, publishes what this process commits, and delivers
/// every chat followed in order. Ends when every [`Cluster`] handle is gone.
pub(crate) async fn run(parts: Parts, gateway: Arc<Gateway>) {
    let Parts {
        to_nats,
        mut events,
        sender,
        settings,
        ends,
    } = parts;
    let epoch = gateway.storage().epoch();
    let shutdown = gateway.shutdown().clone();
    let mut state = State {
        to_nats,
        sender,
        gateway,
        epoch,
        chats: HashMap::new(),
        accounts: HashMap::new(),
        sessions: HashMap::new(),
        to_device_mark: 0,
        chats_checked_ms: crate::storage::now_ms(),
        privacy_checked_ms: crate::storage::now_ms(),
        devices_checked_ms: crate::storage::now_ms(),
        devices_told: HashMap::new(),
        departures_owed: HashMap::new(),
        watched: HashMap::new(),
        presence_round: 0,
        process: process_id(),
        wake_up_body: settings.wake_up_body,
        #[cfg(debug_assertions)]
        publishes_before_crash: publishes_before_crash(),
        #[cfg(debug_assertions)]
        loses_pushes: LostPushes::from_env(),
    };
    let mut ticks = tokio::time::interval(settings.head_check);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = ticks.tick() => Event::CheckHeads,
            () = shutdown.triggered() => break,
        };
        state.handle(event).await;
    }
    state.unsubscribe_all();
    ends.abort();
}

struct State {
    to_nats: ToNats,
    /// Where subscriptions send what they receive.
    sender: mpsc::Sender<Event>,
    gateway: Arc<Gateway>,
    epoch: Epoch,
    chats: HashMap<ChatId, follows::Followed>,
    accounts: HashMap<UserId, follows::Account>,
    sessions: HashMap<SessionId, follows::Following>,
    /// The newest to-device id queued at the last head check (`lost_pushes`).
    to_device_mark: u64,
    /// When the last head check looked for chats joined (`lost_pushes`).
    chats_checked_ms: u64,
    /// When the last head check looked for privacy changed (`lost_pushes`).
    privacy_checked_ms: u64,
    /// When the last head check looked for devices changed (`lost_pushes`).
    devices_checked_ms: u64,
    /// Which account here was told that which account's devices changed, and when (by a
    /// push, this process's clock; by a head check, the change's): a change read again (the
    /// checks look back a margin) is not told again (`lost_pushes`).
    devices_told: HashMap<(UserId, UserId), u64>,
    /// Accounts here that left a chat their sessions follow, not yet told, and since when.
    departures_owed: HashMap<(UserId, ChatId), u64>,
    /// Whether this process's wake-ups carry the message.
    wake_up_body: bool,
    /// The accounts sessions here watch the presence of (`presence`).
    watched: HashMap<UserId, presence::Watched>,
    /// How many head checks have asked where the watched accounts are held.
    presence_round: u64,
    /// This process's name in presence news: random, so a restarted process is a new one.
    process: u64,
    /// The fault tests' crash between a commit and its wake-up (debug builds only).
    #[cfg(debug_assertions)]
    publishes_before_crash: Option<u64>,
    /// The fault tests' lost pushes (debug builds only).
    #[cfg(debug_assertions)]
    loses_pushes: LostPushes,
}

impl State {
    async fn handle(&mut self, event: Event) {
        match event {
            Event::Follow {
                session,
                chats,
                followed,
            } => self.follow_for_sync(session, chats, followed).await,
            Event::SignedIn {
                session,
                account,
                ready,
            } => self.signed_in(session, account, ready).await,
            Event::Unfollow { session } => self.unfollow(session).await,
            Event::Watch { session, watched } => self.watch(session, watched).await,
            Event::PrivacyChanged { account } => self.privacy_changed(account),
            Event::PresenceWoken { account, payload } => {
                self.presence_woken(account, &payload).await;
            }
            Event::Pushed {
                account,
                frame,
                from,
            } => {
                let push = Push::Chat {
                    from,
                    frame: frame.clone(),
                };
                self.publish_push(account, &push);
                self.pushed(account, &frame, from, false).await;
            }
            Event::ToDevice { device, frame } => {
                #[cfg(debug_assertions)]
                if self.loses_pushes == LostPushes::Device {
                    return;
                }
                let push = Push::Device {
                    device: device.device,
                    frame,
                };
                self.publish_push(device.user, &push);
            }
            Event::ToAccounts { accounts, frame } => {
                // The gateway handed it to the accounts' sessions here already.
                self.note_told(&accounts, &frame);
                for account in accounts {
                    let push = Push::Account {
                        frame: frame.clone(),
                    };
                    self.publish_push(account, &push);
                }
            }
            Event::Receipt {
                viewers,
                chat_id,
                moved,
                owner_shares_read,
            } => {
                let receipt = merpati_protocol::encode(&(
                    chat_id,
                    moved.before,
                    moved.now,
                    owner_shares_read,
                ));
                let push = Push::Receipt {
                    receipt: Bytes::from(receipt),
                };
                for viewer in viewers {
                    self.publish_push(viewer, &push);
                }
            }
            Event::Typing {
                accounts,
                from,
                frame,
            } => {
                let push = Push::From { from, frame };
                for account in accounts {
                    self.publish_push(account, &push);
                }
            }
            Event::SessionEnded {
                account,
                token_hash,
            } => self.publish_session_ended(account, &token_hash),
            Event::SessionEndedElsewhere(payload) => self.session_ended_elsewhere(&payload),
            Event::PushWoken { account, payload } => self.push_woken(account, &payload).await,
            Event::Committed { message, frame } => {
                #[cfg(debug_assertions)]
                self.crash_if_due();
                // Should it be dropped, the others' head checks find the message.
                let payload = wake_up(self.epoch, &message, &frame, self.wake_up_body);
                self.to_nats.publish(subject(message.chat_id), payload);
                self.offer(message, frame).await;
            }
            Event::Woken(payload) => match read_wake_up(self.epoch, &payload) {
                Some(WakeUp::Message(message, frame)) => self.offer(message, frame).await,
                Some(WakeUp::Moved(chat, seq)) => {
                    let behind = self.chats.get(&chat).and_then(|f| f.cursor.behind(seq));
                    if let Some(delivered) = behind {
                        self.catch_up(chat, delivered, seq).await;
                    }
                }
                None => {}
            },
            Event::CheckHeads => self.check_heads().await,
        }
    }

    /// Publishes a push on `account`'s subject.
    fn publish_push(&self, account: UserId, push: &Push) {
        #[cfg(debug_assertions)]
        if self.loses_pushes == LostPushes::All {
            return;
        }
        self.to_nats
            .publish(account_subject(account), push.write(self.epoch));
    }
}
