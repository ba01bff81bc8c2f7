//! A history checker in the style of Jepsen: what every client saw during a run — each
//! `Ack`, and each message it was delivered, live or in a catch-up page, on which connection —
//! checked against what the server's storage holds afterwards.
//!
//! The invariants ([`check`]):
//! 1. every acknowledged message is stored, under the sequence number it was acknowledged with;
//! 2. sequence numbers are dense per chat: 1..N;
//! 3. every member receives 1..N of each of its chats (live, by catching up, or — its own —
//!    by their `Ack`, whatever connections it went through), and no message is pushed to it
//!    twice on one connection.
//!    Live messages may arrive out of order — the server pushes each from its sender's
//!    session once the group commit holding it is durable, so two messages committed together
//!    can race — and the engine puts them in order by sequence number; the checker counts
//!    such arrivals ([`Checked::reordered`]) rather than calling them violations;
//! 4. no (chat, sequence number) has two bodies or two message ids: not in storage, not in
//!    anything any client was delivered.
//!
//! The checker is sans I/O: the caller reads the storage (SQLite today, whatever backend
//! tomorrow) into [`Stored`] rows, and the clients' records come from their snapshots.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use merpati_protocol::{ChatId, ClientMsgId, MessageFrame, Seq};

use crate::Acked;

/// A message as a client was delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The chat.
    pub chat_id: ChatId,
    /// Where the server put it.
    pub seq: Seq,
    /// The sender's name for it.
    pub client_msg_id: ClientMsgId,
    /// A digest of its body (the ciphertext as the server sent it).
    pub body: u64,
    /// The connection it came on (the client's count of connections opened, from 1).
    pub connection: u32,
    /// Pushed as it was stored (`Message`), rather than read in a catch-up page (`Page`).
    pub live: bool,
}

impl Delivery {
    /// The delivery of `message` on `connection`.
    pub fn of(message: &MessageFrame, connection: u32, live: bool) -> Delivery {
        Delivery {
            chat_id: message.chat_id,
            seq: message.seq,
            client_msg_id: message.client_msg_id,
            body: digest(&message.body),
            connection,
            live,
        }
    }
}

/// A message as the server's storage holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The chat.
    pub chat_id: ChatId,
    /// Its sequence number.
    pub seq: Seq,
    /// The sender's name for it.
    pub client_msg_id: ClientMsgId,
    /// A digest of its body ([`digest`]).
    pub body: u64,
}

/// What one client saw: its acknowledgements, its deliveries, and the chats it is a member of
/// (whose every message it must receive).
#[derive(Debug, Clone, Default)]
pub struct ClientHistory {
    /// Every `Ack` it received.
    pub acks: Vec<Acked>,
    /// Every message it was delivered, in the order received.
    pub deliveries: Vec<Delivery>,
    /// The chats it stayed a member of through the run.
    pub member_of: Vec<ChatId>,
}

/// A broken invariant, with where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// 1: an acknowledged message is not stored under its acknowledged number.
    AckedNotStored {
        /// The chat.
        chat_id: ChatId,
        /// The message.
        client_msg_id: ClientMsgId,
        /// The acknowledged number.
        seq: Seq,
    },
    /// 2: the chat's stored numbers are not 1..N: this one is missing.
    Gap {
        /// The chat.
        chat_id: ChatId,
        /// The first number missing.
        seq: Seq,
    },
    /// 3: a member never received this message of its chat.
    NotReceived {
        /// The client (its index in the histories).
        client: usize,
        /// The chat.
        chat_id: ChatId,
        /// The message's number.
        seq: Seq,
    },
    /// 3: one connection was pushed the same message twice.
    PushedTwice {
        /// The client.
        client: usize,
        /// The chat.
        chat_id: ChatId,
        /// The message's number.
        seq: Seq,
        /// The connection.
        connection: u32,
    },
    /// 4: two different bodies or ids under one number.
    TwoBodies {
        /// The chat.
        chat_id: ChatId,
        /// The number.
        seq: Seq,
    },
}

/// The digest of a body the checker compares (bodies themselves are not kept: a run
/// delivers tens of thousands).
pub fn digest(body: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish()
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Broken invariants: empty when every one holds.
    pub violations: Vec<Violation>,
    /// Live messages that arrived after a later one of their chat on the same connection.
    pub reordered: usize,
}

/// Checks a run's histories against what storage holds.
pub fn check(stored: &[Stored], clients: &[ClientHistory]) -> Checked {
    let mut violations = Vec::new();
    let mut reordered = 0;
    let mut log: BTreeMap<ChatId, BTreeMap<Seq, (ClientMsgId, u64)>> = BTreeMap::new();
    for row in stored {
        let held = log.entry(row.chat_id).or_default();
        if let Some(earlier) = held.insert(row.seq, (row.client_msg_id, row.body))
            && earlier != (row.client_msg_id, row.body)
        {
            violations.push(Violation::TwoBodies {
                chat_id: row.chat_id,
                seq: row.seq,
            });
        }
    }
    for (chat_id, held) in &log {
        let missing = (1..=held.len() as u64)
            .map(Seq)
            .find(|seq| !held.contains_key(seq));
        if let Some(seq) = missing {
            violations.push(Violation::Gap {
                chat_id: *chat_id,
                seq,
            });
        }
    }
    let at = |chat_id: ChatId, seq: Seq| log.get(&chat_id).and_then(|held| held.get(&seq));
    let mut told: HashMap<(ChatId, Seq), (ClientMsgId, u64)> = HashMap::new();
    for (client, history) in clients.iter().enumerate() {
        for ack in &history.acks {
            if at(ack.chat_id, ack.seq).map(|(id, _)| *id) != Some(ack.client_msg_id) {
                violations.push(Violation::AckedNotStored {
                    chat_id: ack.chat_id,
                    client_msg_id: ack.client_msg_id,
                    seq: ack.seq,
                });
            }
        }
        // A sender learns where its own message went from the `Ack`: the server does not push
        // a message back to the connection that sent it.
        let mut received: BTreeMap<ChatId, BTreeSet<Seq>> = BTreeMap::new();
        for ack in &history.acks {
            received.entry(ack.chat_id).or_default().insert(ack.seq);
        }
        let mut live_high: HashMap<(u32, ChatId), Seq> = HashMap::new();
        let mut pushed: BTreeSet<(u32, ChatId, Seq)> = BTreeSet::new();
        for delivery in &history.deliveries {
            let what = (delivery.client_msg_id, delivery.body);
            let key = (delivery.chat_id, delivery.seq);
            let stored_differs = at(delivery.chat_id, delivery.seq).is_some_and(|s| *s != what);
            let told_differs = told
                .insert(key, what)
                .is_some_and(|earlier| earlier != what);
            if stored_differs || told_differs {
                violations.push(Violation::TwoBodies {
                    chat_id: delivery.chat_id,
                    seq: delivery.seq,
                });
            }
            received
                .entry(delivery.chat_id)
                .or_default()
                .insert(delivery.seq);
            if delivery.live {
                if !pushed.insert((delivery.connection, delivery.chat_id, delivery.seq)) {
                    violations.push(Violation::PushedTwice {
                        client,
                        chat_id: delivery.chat_id,
                        seq: delivery.seq,
                        connection: delivery.connection,
                    });
                }
                let high = live_high
                    .entry((delivery.connection, delivery.chat_id))
                    .or_insert(Seq(0));
                if delivery.seq < *high {
                    reordered += 1;
                }
                *high = (*high).max(delivery.seq);
            }
        }
        for chat_id in &history.member_of {
            let got = received.get(chat_id);
            let head = log.get(chat_id).map_or(0, |held| held.len() as u64);
            for seq in (1..=head).map(Seq) {
                if !got.is_some_and(|got| got.contains(&seq)) {
                    violations.push(Violation::NotReceived {
                        client,
                        chat_id: *chat_id,
                        seq,
                    });
                }
            }
        }
    }
    Checked {
        violations,
        reordered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: ChatId = ChatId(1);

    fn id(n: u8) -> ClientMsgId {
        ClientMsgId([n; 16])
    }

    fn stored(n: u64) -> Stored {
        Stored {
            chat_id: CHAT,
            seq: Seq(n),
            client_msg_id: id(n as u8),
            body: n * 100,
        }
    }

    fn delivered(n: u64, connection: u32, live: bool) -> Delivery {
        Delivery {
            chat_id: CHAT,
            seq: Seq(n),
            client_msg_id: id(n as u8),
            body: n * 100,
            connection,
            live,
        }
    }

    fn acked(n: u64) -> Acked {
        Acked {
            chat_id: CHAT,
            client_msg_id: id(n as u8),
            seq: Seq(n),
        }
    }

    /// Three stored messages; a sender acknowledged for all; a member that got 1 and 2 live,
    /// reconnected, caught up 2 and 3 from a page, and then got 3 live as well.
    fn good_run() -> (Vec<Stored>, Vec<ClientHistory>) {
        let stored = vec![stored(1), stored(2), stored(3)];
        // It learns its own messages' places from the Acks alone.
        let sender = ClientHistory {
            acks: vec![acked(1), acked(2), acked(3)],
            deliveries: Vec::new(),
            member_of: vec![CHAT],
        };
        let member = ClientHistory {
            acks: Vec::new(),
            deliveries: vec![
                delivered(1, 1, true),
                delivered(2, 1, true),
                delivered(2, 2, false),
                delivered(3, 2, false),
                delivered(3, 2, true),
            ],
            member_of: vec![CHAT],
        };
        (stored, vec![sender, member])
    }

    #[test]
    fn a_run_that_keeps_every_invariant_passes_overlapping_catch_up_included() {
        let (stored, clients) = good_run();
        assert_eq!(check(&stored, &clients), Checked::default());
    }

    #[test]
    fn an_acknowledged_message_missing_or_moved_is_found() {
        let (mut stored, clients) = good_run();
        stored.retain(|row| row.seq != Seq(3));
        assert!(
            check(&stored, &clients)
                .violations
                .contains(&Violation::AckedNotStored {
                    chat_id: CHAT,
                    client_msg_id: id(3),
                    seq: Seq(3),
                })
        );
    }

    #[test]
    fn a_gap_in_the_stored_numbers_is_found() {
        let (mut stored, _) = good_run();
        stored[1].seq = Seq(4);
        assert!(check(&stored, &[]).violations.contains(&Violation::Gap {
            chat_id: CHAT,
            seq: Seq(2),
        }));
    }

    #[test]
    fn a_member_that_never_received_a_message_is_found() {
        let (stored, mut clients) = good_run();
        clients[1]
            .deliveries
            .retain(|delivery| delivery.seq != Seq(3));
        assert_eq!(
            check(&stored, &clients).violations,
            vec![Violation::NotReceived {
                client: 1,
                chat_id: CHAT,
                seq: Seq(3),
            }]
        );
    }

    #[test]
    fn a_message_pushed_twice_on_one_connection_is_found_and_a_late_one_is_counted() {
        let (stored, mut clients) = good_run();
        clients[1].deliveries.push(delivered(2, 1, true));
        assert_eq!(
            check(&stored, &clients).violations,
            vec![Violation::PushedTwice {
                client: 1,
                chat_id: CHAT,
                seq: Seq(2),
                connection: 1,
            }]
        );

        let (stored, mut clients) = good_run();
        clients[1].deliveries.swap(0, 1);
        assert_eq!(
            check(&stored, &clients),
            Checked {
                violations: Vec::new(),
                reordered: 1,
            }
        );
    }

    #[test]
    fn two_bodies_under_one_number_are_found_in_storage_or_in_deliveries() {
        let (mut stored, mut clients) = good_run();
        clients[1].deliveries[0].body = 7;
        let found = check(&stored, &clients).violations;
        assert!(found.contains(&Violation::TwoBodies {
            chat_id: CHAT,
            seq: Seq(1),
        }));

        let (_, clients) = good_run();
        let mut other = stored[2];
        other.client_msg_id = id(9);
        stored.push(other);
        assert!(
            check(&stored, &clients)
                .violations
                .contains(&Violation::TwoBodies {
                    chat_id: CHAT,
                    seq: Seq(3),
                })
        );
    }
}
