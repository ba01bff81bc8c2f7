//! Swarm scenarios.
//!
//! - [`ChatSwarm`]: many clients sign up, form groups, send messages, and finally every
//!   member's timeline is compared with every other member's, and every message each member
//!   holds must have decrypted to the text its sender wrote; the report carries every
//!   timeline and every `Ack`, so a test can compare them with the server's own log.
//! - [`IdleSwarm`]: many clients sign up and then only hold their connections (and come back
//!   by themselves when dropped), for connection-count and reconnect-storm tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use merpati_core::{
    ConnectionPhase, MessageStatus, TimelineItem, crypto::KdfParams, reconnect::Backoff,
    timeline::MessageLock,
};
use merpati_protocol::{ChatId, ClientMsgId, Seq, Username};

use crate::client::{Acked, ClientOptions, Join, StoredSession, SwarmClient};

/// The options of swarm client `index`: a cheap key derivation (the server never sees the
/// difference) and the given reconnect timing.
fn client_options(
    url: &str,
    name_prefix: &str,
    index: usize,
    backoff: &Backoff,
) -> Result<ClientOptions, SwarmError> {
    let name = format!("{name_prefix}{index}");
    let username =
        Username::parse(&name).map_err(|error| SwarmError::SignUp(index, error.to_string()))?;
    Ok(ClientOptions {
        url: url.to_owned(),
        username,
        passphrase: "load generator passphrase".to_owned(),
        join: Join::SignUp,
        kdf: KdfParams::FAST_INSECURE,
        backoff: backoff.clone(),
    })
}

/// What a chat swarm does.
#[derive(Debug, Clone)]
pub struct ChatSwarm {
    /// `ws://host:port/ws`.
    pub url: String,
    /// How many clients.
    pub clients: usize,
    /// Members per group (clients are split into consecutive groups of this size).
    pub group_size: usize,
    /// Messages in all, sent round-robin by the clients into their group.
    pub messages: usize,
    /// A prefix making this run's usernames unique.
    pub name_prefix: String,
}

/// How a swarm ended.
#[derive(Debug, Clone, Default)]
pub struct SwarmReport {
    /// Messages queued by clients.
    pub queued: usize,
    /// Messages every member of their group holds, confirmed by the server (the lines the
    /// server writes into a group, such as its creation, included).
    pub converged: usize,
    /// Messages a client gave up on (refused by the server): reported, never dropped silently.
    pub failed: Vec<ClientMsgId>,
    /// Groups whose members disagree about the timeline (empty when all is well).
    pub diverged: Vec<ChatId>,
    /// Confirmed messages a member could not read, once per member: not decrypted
    /// ([`MessageLock::Open`]), or decrypted to a text other than the one sent; a line the
    /// server wrote is unreadable only if not open (empty when all is well).
    pub unreadable: Vec<(ChatId, ClientMsgId)>,
    /// Messages still pending when the swarm stopped waiting.
    pub pending: usize,
    /// How long settling took.
    pub elapsed: Duration,
    /// Every `Ack` any client received.
    pub acks: Vec<Acked>,
    /// What each client saw (in client order), for the history checker
    /// ([`crate::history::check`]).
    pub histories: Vec<crate::history::ClientHistory>,
    /// Each group's timelines, one per member in client order: the messages the server has
    /// confirmed (its own lines included), as (seq, id), in display order.
    pub timelines: BTreeMap<ChatId, Vec<Vec<(Seq, ClientMsgId)>>>,
    /// Connections opened by all clients together (reconnects included).
    pub connections: u64,
    /// Handshakes the server refused (HTTP 503), all clients together.
    pub refused: u64,
}

impl SwarmReport {
    /// What went wrong, if anything: messages still pending or given up, groups whose
    /// members disagree, messages not decrypted to the text sent. Empty when the swarm
    /// settled cleanly.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.pending > 0 {
            problems.push(format!("{} messages still pending", self.pending));
        }
        if !self.failed.is_empty() {
            problems.push(format!(
                "clients gave up on {} messages: {:?}",
                self.failed.len(),
                self.failed
            ));
        }
        for chat in &self.diverged {
            problems.push(format!(
                "members disagree in {chat:?}: {}",
                self.disagreement(*chat)
            ));
        }
        if !self.unreadable.is_empty() {
            problems.push(format!(
                "{} messages (counted once per member) were not decrypted to the text sent: {:?}",
                self.unreadable.len(),
                &self.unreadable[..self.unreadable.len().min(10)]
            ));
        }
        problems
    }
}

impl SwarmReport {
    /// How the members of `chat` disagree: per member (in client order), how many messages
    /// it holds, and the first few sequence numbers some other member holds and it lacks.
    fn disagreement(&self, chat: ChatId) -> String {
        let Some(timelines) = self.timelines.get(&chat) else {
            return "no timelines".into();
        };
        let every: BTreeSet<Seq> = timelines
            .iter()
            .flat_map(|timeline| timeline.iter().map(|&(seq, _)| seq))
            .collect();
        let members: Vec<String> = timelines
            .iter()
            .enumerate()
            .map(|(member, timeline)| {
                let held: BTreeSet<Seq> = timeline.iter().map(|&(seq, _)| seq).collect();
                let lacks: Vec<u64> = every.difference(&held).take(8).map(|seq| seq.0).collect();
                format!("member {member} holds {} lacks {lacks:?}", timeline.len())
            })
            .collect();
        members.join("; ")
    }
}

/// The swarm could not run.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// A client could not sign up.
    #[error("client {0} could not sign up: {1}")]
    SignUp(usize, String),
    /// A group could not be created.
    #[error("group {0} could not be created: {1}")]
    Group(usize, String),
    /// A client task ended unexpectedly.
    #[error("a client task ended")]
    Gone(#[from] crate::client::Gone),
}

impl ChatSwarm {
    fn options(&self, index: usize) -> Result<ClientOptions, SwarmError> {
        client_options(
            &self.url,
            &self.name_prefix,
            index,
            &Backoff::new(100, 2_000),
        )
    }

    /// Signs everyone up and forms the groups; returns the clients and each client's group.
    pub async fn prepare(&self) -> Result<(Vec<SwarmClient>, Vec<ChatId>), SwarmError> {
        let mut clients = Vec::with_capacity(self.clients);
        for index in 0..self.clients {
            clients.push(SwarmClient::spawn(self.options(index)?));
        }
        for (index, client) in clients.iter_mut().enumerate() {
            client
                .signed_in()
                .await
                .map_err(|code| SwarmError::SignUp(index, format!("{code:?}")))?;
        }
        let group_size = self.group_size.max(1);
        let mut group_of = Vec::with_capacity(self.clients);
        for (group, members) in clients.chunks(group_size).enumerate() {
            let first = group * group_size;
            let names: Vec<String> = (first + 1..first + members.len())
                .map(|i| format!("{}{i}", self.name_prefix))
                .collect();
            let chat = members[0]
                .create_group(&format!("group {group}"), &names.join(","))
                .await?
                .map_err(|error| SwarmError::Group(group, error))?;
            group_of.extend(std::iter::repeat_n(chat, members.len()));
        }
        Ok((clients, group_of))
    }

    /// Sends the messages round-robin, `pause` between sends (none if zero); returns the text
    /// of each message queued, to check what the members decrypt against.
    pub async fn send_all(
        &self,
        clients: &[SwarmClient],
        group_of: &[ChatId],
        pause: Duration,
    ) -> Result<HashMap<ClientMsgId, String>, SwarmError> {
        let mut queued = HashMap::with_capacity(self.messages);
        for n in 0..self.messages {
            let sender = n % clients.len();
            let text = format!("message {n} from {sender}");
            if let Ok(id) = clients[sender].send(group_of[sender], text.clone()).await? {
                queued.insert(id, text);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        Ok(queued)
    }

    /// Waits (up to `patience`) until nothing is pending and every member has decrypted
    /// everything it holds, then compares every member's timeline of each group, and each
    /// message's text with `sent` (from [`ChatSwarm::send_all`]).
    pub async fn settle(
        &self,
        clients: &[SwarmClient],
        group_of: &[ChatId],
        sent: &HashMap<ClientMsgId, String>,
        patience: Duration,
    ) -> Result<SwarmReport, SwarmError> {
        let started = Instant::now();
        let mut snapshots = Vec::new();
        loop {
            snapshots.clear();
            for client in clients {
                snapshots.push(client.snapshot().await?);
            }
            let pending: usize = snapshots.iter().map(|snapshot| snapshot.pending).sum();
            // A confirmed message may still wait for its key (sent over to-device after a
            // reconnect): settled means opened too.
            let all_open = snapshots.iter().all(|snapshot| {
                snapshot
                    .chats
                    .iter()
                    .flat_map(|(_, items)| items)
                    .all(|item| item.lock == MessageLock::Open)
            });
            if pending == 0 && all_open && self.members_agree(&snapshots, group_of)
                || started.elapsed() > patience
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut report = SwarmReport {
            elapsed: started.elapsed(),
            ..SwarmReport::default()
        };
        for client in clients {
            let status = client.status();
            report.connections += u64::from(status.connections);
            report.refused += u64::from(status.refused);
        }
        let mut by_group: BTreeMap<ChatId, Vec<Vec<(Seq, ClientMsgId)>>> = BTreeMap::new();
        for (snapshot, chat) in snapshots.iter().zip(group_of) {
            report.pending += snapshot.pending;
            report.acks.extend_from_slice(&snapshot.acks);
            report.histories.push(crate::history::ClientHistory {
                acks: snapshot.acks.clone(),
                deliveries: snapshot.deliveries.clone(),
                member_of: vec![*chat],
            });
            let items = snapshot
                .chats
                .iter()
                .find(|(id, _)| id == chat)
                .map(|(_, items)| items.as_slice())
                .unwrap_or_default();
            report.failed.extend(
                items
                    .iter()
                    .filter(|item| item.status == MessageStatus::Failed)
                    .map(|item| item.client_msg_id),
            );
            report.unreadable.extend(
                items
                    .iter()
                    .filter(|item| item.seq.is_some() && !reads_as_sent(item, sent))
                    .map(|item| (*chat, item.client_msg_id)),
            );
            by_group.entry(*chat).or_default().push(
                items
                    .iter()
                    .filter_map(|item| item.seq.map(|seq| (seq, item.client_msg_id)))
                    .collect(),
            );
        }
        for (chat, timelines) in &by_group {
            if timelines.windows(2).all(|pair| pair[0] == pair[1]) {
                report.converged += timelines.first().map(Vec::len).unwrap_or_default();
            } else {
                report.diverged.push(*chat);
            }
        }
        report.timelines = by_group;
        Ok(report)
    }

    fn members_agree(&self, snapshots: &[crate::Snapshot], group_of: &[ChatId]) -> bool {
        let mut lengths: BTreeMap<ChatId, Vec<usize>> = BTreeMap::new();
        for (snapshot, chat) in snapshots.iter().zip(group_of) {
            let held = snapshot
                .chats
                .iter()
                .find(|(id, _)| id == chat)
                .map(|(_, items)| items.iter().filter(|item| item.seq.is_some()).count())
                .unwrap_or_default();
            lengths.entry(*chat).or_default().push(held);
        }
        lengths
            .values()
            .all(|held| held.windows(2).all(|pair| pair[0] == pair[1]))
    }
}

/// Whether a member shows `item` decrypted, with the text its sender wrote.
/// Whether a confirmed item reads as it should: a message as the text sent, a line the server
/// wrote (a group's creation: no client sent it) as long as it is open.
fn reads_as_sent(item: &TimelineItem, sent: &HashMap<ClientMsgId, String>) -> bool {
    item.lock == MessageLock::Open
        && (item.system.is_some() || sent.get(&item.client_msg_id) == Some(&item.text))
}

/// Clients that sign up and then only hold their connection.
///
/// `accounts` clients sign up; the others are further tabs of those accounts' browsers
/// (round robin) that resume their sessions, so a swarm of many connections costs few key
/// derivations and signature checks. Each tab is its own device, with its own published keys.
#[derive(Debug, Clone)]
pub struct IdleSwarm {
    /// `ws://host:port/ws`.
    pub url: String,
    /// How many clients (connections).
    pub clients: usize,
    /// How many accounts they belong to (at least 1, at most `clients`).
    pub accounts: usize,
    /// A prefix making this run's usernames unique.
    pub name_prefix: String,
    /// Each client's reconnect timing.
    pub backoff: Backoff,
}

impl IdleSwarm {
    /// Signs the accounts up, then starts the further devices; returns every client (each
    /// idles once signed in, and reconnects by itself whenever dropped). Returns once the
    /// accounts are signed up, without waiting for the further devices to connect.
    pub async fn spawn(&self) -> Result<Vec<SwarmClient>, SwarmError> {
        let accounts = self
            .accounts
            .clamp(1, self.clients.max(1))
            .min(self.clients);
        let mut clients = (0..accounts)
            .map(|index| {
                client_options(&self.url, &self.name_prefix, index, &self.backoff)
                    .map(SwarmClient::spawn)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut records = Vec::with_capacity(accounts);
        for (index, client) in clients.iter_mut().enumerate() {
            client
                .signed_in()
                .await
                .map_err(|code| SwarmError::SignUp(index, format!("{code:?}")))?;
            let stored = client
                .stored_session()
                .await?
                .ok_or_else(|| SwarmError::SignUp(index, "no session was stored".to_owned()))?;
            // Further tabs share the session, not the device: each becomes a device of its
            // own, as in the app (one device's keys in two clients would fork its ratchets).
            records.push(StoredSession {
                crypto: Vec::new(),
                ..stored
            });
        }
        for index in accounts..self.clients {
            let mut options = client_options(
                &self.url,
                &self.name_prefix,
                index % accounts,
                &self.backoff,
            )?;
            options.join = Join::Resume(Box::new(records[index % accounts].clone()));
            clients.push(SwarmClient::spawn(options));
        }
        Ok(clients)
    }

    /// How many of `clients` are online (signed in and caught up) right now.
    pub fn online(clients: &[SwarmClient]) -> usize {
        clients
            .iter()
            .filter(|client| client.status().phase == ConnectionPhase::Online)
            .count()
    }

    /// Handshakes refused (HTTP 503) so far, all clients together.
    pub fn refused(clients: &[SwarmClient]) -> u64 {
        clients
            .iter()
            .map(|client| u64::from(client.status().refused))
            .sum()
    }

    /// Waits until at least `count` clients are online; how long that took, or how many were
    /// online when `patience` ran out.
    pub async fn wait_online(
        clients: &[SwarmClient],
        count: usize,
        patience: Duration,
    ) -> Result<Duration, usize> {
        let started = Instant::now();
        loop {
            let online = IdleSwarm::online(clients);
            if online >= count {
                return Ok(started.elapsed());
            }
            if started.elapsed() > patience {
                return Err(online);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
