//! The fault test: 50 real clients in 10 groups send 10,000 messages while the server process
//! is killed with SIGKILL twice and restarted on the same port and data directory. The
//! clients reconnect by themselves (backoff with full jitter) and resend their outboxes.
//! Afterwards, read straight from the server's SQLite file: the history checker
//! (`merpati_loadgen::history`) holds every client's acknowledgements and deliveries against
//! it; and for every chat, every member's
//! timeline equals the server's log (the group's creation line included, which the server
//! writes); every acknowledged message is in it exactly once, under the sequence number it
//! was acknowledged with (a message whose Ack a kill swallowed is confirmed by the sync
//! instead); nothing is pending, and nothing was given up.
//! Messages are end-to-end encrypted (the server's log holds ciphertext, and each resend is
//! encrypted again), so every member must also have decrypted every message to the text its
//! sender wrote: a key share lost to a kill would show up as a message left locked.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use merpati_loadgen::history::{self, Stored};
use merpati_loadgen::scenario::ChatSwarm;
use merpati_protocol::{ChatId, ClientMsgId, Seq};
use merpati_testkit::{ServerOptions, ServerProcess};
use rusqlite::{Connection, OpenFlags};

const CLIENTS: usize = 50;
const GROUP_SIZE: usize = 5;
const MESSAGES: usize = 10_000;
/// Between two sends: spreads the 10,000 over 15 s or more, so both kills land mid-stream.
const PAUSE: Duration = Duration::from_micros(1_500);
/// When the server is killed, counted from the first send.
const KILLS_AT: [Duration; 2] = [Duration::from_secs(4), Duration::from_secs(10)];
/// A generous bound on one client's messages in flight (stored, Ack not yet received) at
/// once: it sends one every `CLIENTS * PAUSE`.
const IN_FLIGHT_PER_CLIENT: usize = 4;
/// How long the server stays down after each kill. This and [`KILLS_AT`] shape the scenario
/// (when the faults land while the sends run); nothing is concluded from having waited.
const DOWNTIME: Duration = Duration::from_millis(500);

/// The server's log of `chat`, as the history checker reads it, in seq order.
fn server_log(db: &Connection, chat: ChatId) -> Vec<Stored> {
    let mut statement = db
        .prepare("SELECT seq, client_msg_id, body FROM messages WHERE chat_id = ?1 ORDER BY seq")
        .unwrap();
    statement
        .query_map([i64::try_from(chat.0).unwrap()], |row| {
            let seq: i64 = row.get(0)?;
            let id: Vec<u8> = row.get(1)?;
            let body: Vec<u8> = row.get(2)?;
            Ok(Stored {
                chat_id: chat,
                seq: Seq(u64::try_from(seq).unwrap()),
                client_msg_id: ClientMsgId(id.try_into().unwrap()),
                body: history::digest(&body),
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_lose_nothing_while_the_server_is_killed_twice() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(ServerOptions::new().data_dir(&data))
        .await
        .unwrap();

    let swarm = ChatSwarm {
        url: server.ws_url(),
        clients: CLIENTS,
        group_size: GROUP_SIZE,
        messages: MESSAGES,
        name_prefix: "fault".to_owned(),
    };
    let (clients, groups) = swarm.prepare().await.unwrap();
    let chats: HashSet<ChatId> = groups.iter().copied().collect();
    assert_eq!(chats.len(), CLIENTS / GROUP_SIZE);

    let sending = {
        let swarm = swarm.clone();
        let clients = clients.clone();
        let groups = groups.clone();
        tokio::spawn(async move { swarm.send_all(&clients, &groups, PAUSE).await })
    };
    let sends_began = Instant::now();
    for kill_at in KILLS_AT {
        tokio::time::sleep(kill_at.saturating_sub(sends_began.elapsed())).await;
        assert!(!sending.is_finished(), "the kill must land while sending");
        server.kill();
        tokio::time::sleep(DOWNTIME).await;
        server.restart().await.unwrap();
    }
    let sent = sending.await.unwrap().unwrap();
    assert_eq!(sent.len(), MESSAGES);

    let report = swarm
        .settle(&clients, &groups, &sent, Duration::from_secs(120))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    for client in &clients {
        client.stop();
    }
    let problems = report.problems();
    assert!(
        problems.is_empty(),
        "the swarm did not settle: {problems:?}"
    );

    // Stop gracefully so the database is checkpointed, then read it as the source of truth.
    let status = server.terminate().await.unwrap();
    assert!(status.success(), "the server stopped with {status}");
    let db = Connection::open_with_flags(data.join("merpati.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();

    // The history checker: every acknowledged message stored under its number, numbers dense,
    // every member delivered every message (live or catching up), none pushed twice on one
    // connection, one body per number.
    let stored: Vec<Stored> = chats
        .iter()
        .flat_map(|chat| server_log(&db, *chat))
        .collect();
    let checked = history::check(&stored, &report.histories);
    let violations = &checked.violations;
    assert!(
        violations.is_empty(),
        "{} violations of the history's invariants, the first: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );

    let mut logs: HashMap<ChatId, Vec<(Seq, ClientMsgId)>> = HashMap::new();
    for chat in &chats {
        let log: Vec<(Seq, ClientMsgId)> = server_log(&db, *chat)
            .iter()
            .map(|row| (row.seq, row.client_msg_id))
            .collect();
        let members = &report.timelines[chat];
        assert_eq!(members.len(), GROUP_SIZE);
        for (member, timeline) in members.iter().enumerate() {
            assert!(
                *timeline == log,
                "member {member} of chat {} holds {} messages, the server {}",
                chat.0,
                timeline.len(),
                log.len()
            );
        }
        logs.insert(*chat, log);
    }

    // Acknowledged under one number each (the checker found each stored under it).
    let mut acked: BTreeMap<(ChatId, ClientMsgId), Seq> = BTreeMap::new();
    for ack in &report.acks {
        if let Some(first) = acked.insert((ack.chat_id, ack.client_msg_id), ack.seq) {
            assert_eq!(first, ack.seq, "two acks with different seqs");
        }
    }
    // Beside what was sent, each group's log holds the one line the server wrote itself: the
    // group's creation.
    let (texts, lines): (Vec<ClientMsgId>, Vec<ClientMsgId>) = logs
        .values()
        .flatten()
        .map(|(_, id)| *id)
        .partition(|id| sent.contains_key(id));
    assert_eq!(
        texts.len(),
        MESSAGES,
        "the server holds exactly what was sent"
    );
    assert_eq!(
        lines.len(),
        chats.len(),
        "one line of the server's per group"
    );
    // A message stored just before a kill loses its Ack. After reconnecting, the sync (sent
    // right after sign-in) brings it back to its sender before the engine would resend it
    // (resends wait for the key setup, which the server answers after the sync), so it is
    // confirmed without a second Ack: nothing is pending and every member's timeline equals
    // the log (both checked above). Only messages in flight at a kill can lose their Ack.
    let confirmed_by_sync = MESSAGES - acked.len();
    assert!(
        confirmed_by_sync <= KILLS_AT.len() * CLIENTS * IN_FLIGHT_PER_CLIENT,
        "{confirmed_by_sync} messages were never acknowledged"
    );

    eprintln!(
        "fault test: {MESSAGES} messages from {CLIENTS} clients in {} groups, 2 SIGKILLs; \
         {} acks ({} distinct, {confirmed_by_sync} confirmed by the sync instead), {} \
         connections, {} refused handshakes, {} given up, {} live messages arriving after a \
         later one; settled in {:?}, {:?} in all",
        chats.len(),
        report.acks.len(),
        acked.len(),
        report.connections,
        report.refused,
        report.failed.len(),
        checked.reordered,
        report.elapsed,
        elapsed
    );
}
