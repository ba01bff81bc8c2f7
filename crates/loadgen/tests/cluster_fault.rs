//! The cluster's fault test: 30 real clients in 6 groups send 3,000 messages to three server
//! processes sharing one port, one PostgreSQL database and one NATS server, while, one after
//! another: a process is killed with SIGKILL and started again; NATS is paused (SIGSTOP) and
//! resumed; NATS is killed and started again; PostgreSQL is stopped gracefully and started
//! again; PostgreSQL is killed with SIGKILL and started again. One process crashes (SIGABRT,
//! the server's fault hook) between a commit and its wake-up, and is started again; another
//! takes only two wake-ups per subscription before NATS drops the rest (a slow consumer).
//! The clients reconnect by themselves (wherever the kernel puts them) and resend their
//! outboxes.
//!
//! Afterwards, read straight from PostgreSQL: the history checker
//! (`merpati_loadgen::history`) holds every client's acknowledgements and deliveries against
//! it — every acknowledged message stored under its number, numbers dense per chat, every
//! member delivered every message of its chat (live or catching up), none pushed twice on
//! one connection, one body per number — and every member's timeline equals the log, with
//! every message decrypted to the text its sender wrote.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use merpati_loadgen::history::{self, Stored};
use merpati_loadgen::scenario::ChatSwarm;
use merpati_protocol::{ChatId, ClientMsgId, Seq};
use merpati_testkit::{Endpoint, NatsProcess, PostgresProcess, ServerOptions, ServerProcess};

const PROCESSES: usize = 3;
const CLIENTS: usize = 30;
const GROUP_SIZE: usize = 5;
const MESSAGES: usize = 3_000;
/// Between two sends: spreads the 3,000 over 15 s or more, so every fault lands mid-stream.
const PAUSE: Duration = Duration::from_millis(5);
/// When each fault begins, counted from the first send. They shape the scenario; nothing is
/// concluded from having waited.
const FAULTS_AT: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(5),
    Duration::from_secs(7),
    Duration::from_secs(9),
    Duration::from_secs(11),
];
/// After how many wake-ups the crashing process crashes.
const CRASH_AFTER_PUBLISHES: &str = "100";
/// How long each fault lasts.
const DOWNTIME: Duration = Duration::from_millis(500);

/// The log of `chat` in PostgreSQL, as the history checker reads it, in seq order.
async fn server_log(db: &tokio_postgres::Client, chat: ChatId) -> Vec<Stored> {
    let rows = db
        .query(
            "SELECT seq, client_msg_id, body FROM messages WHERE chat_id = $1 ORDER BY seq",
            &[&i64::try_from(chat.0).unwrap()],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let seq: i64 = row.get(0);
            let id: Vec<u8> = row.get(1);
            let body: Vec<u8> = row.get(2);
            Stored {
                chat_id: chat,
                seq: Seq(u64::try_from(seq).unwrap()),
                client_msg_id: ClientMsgId(id.try_into().unwrap()),
                body: history::digest(&body),
            }
        })
        .collect()
}

/// A connection to `database` on `postgres`.
async fn connect(postgres: &PostgresProcess, database: &str) -> tokio_postgres::Client {
    let url = postgres.database_url(database);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_clients_on_three_processes_lose_and_double_nothing_through_every_fault() {
    let started = Instant::now();
    let mut postgres = PostgresProcess::start().await.unwrap();
    let mut nats = NatsProcess::start().await.unwrap();
    let database = postgres.create_database("merpati").unwrap();
    let addr: SocketAddr = merpati_testkit::free_loopback_addr().unwrap();
    let options = |index: usize| {
        let mut options = ServerOptions::new()
            .shared_addr(addr)
            .env("MERPATI_DATABASE_URL", &database)
            .env("MERPATI_NATS_URL", nats.url())
            .env("MERPATI_HEAD_CHECK_MS", "300");
        if index == 1 {
            options = options.env("MERPATI_FAULT_CRASH_AFTER_PUBLISHES", CRASH_AFTER_PUBLISHES);
        }
        if index == 2 {
            options = options.env("MERPATI_NATS_SUBSCRIPTION_CAPACITY", "2");
        }
        options
    };
    // The crashing process alone at first: every client signs up on it, so it commits (and
    // crashes) early; the others join before the sends begin.
    let crashing = ServerProcess::start(options(1)).await.unwrap();

    let swarm = ChatSwarm {
        url: Endpoint::websocket(addr).url(),
        clients: CLIENTS,
        group_size: GROUP_SIZE,
        messages: MESSAGES,
        name_prefix: "cluster".to_owned(),
    };
    let (clients, groups) = swarm.prepare().await.unwrap();
    let mut processes = vec![ServerProcess::start(options(0)).await.unwrap(), crashing];
    processes.push(ServerProcess::start(options(2)).await.unwrap());
    let chats: HashSet<ChatId> = groups.iter().copied().collect();
    assert_eq!(chats.len(), CLIENTS / GROUP_SIZE);

    let sending = {
        let swarm = swarm.clone();
        let clients = clients.clone();
        let groups = groups.clone();
        tokio::spawn(async move { swarm.send_all(&clients, &groups, PAUSE).await })
    };
    let sends_began = Instant::now();
    for (fault, at) in FAULTS_AT.into_iter().enumerate() {
        tokio::time::sleep(at.saturating_sub(sends_began.elapsed())).await;
        assert!(
            !sending.is_finished(),
            "fault {fault} must land while sending"
        );
        match fault {
            0 => {
                processes[0].kill();
                tokio::time::sleep(DOWNTIME).await;
                processes[0].restart().await.unwrap();
            }
            1 => {
                nats.pause().unwrap();
                tokio::time::sleep(DOWNTIME).await;
                nats.resume().unwrap();
            }
            2 => {
                nats.kill().unwrap();
                tokio::time::sleep(DOWNTIME).await;
                nats.restart().await.unwrap();
            }
            3 => {
                postgres.stop().await.unwrap();
                tokio::time::sleep(DOWNTIME).await;
                postgres.restart().await.unwrap();
            }
            4 => {
                postgres.kill().unwrap();
                tokio::time::sleep(DOWNTIME).await;
                postgres.restart().await.unwrap();
            }
            _ => {
                // It crashes at a commit, its wake-up unpublished (by now, or once it has
                // published as many): started again, to crash again after as many more.
                let crashing = &mut processes[1];
                let crashed = merpati_testkit::poll::poll_until(
                    "the crash hook to fire",
                    Duration::from_secs(60),
                    || std::future::ready(crashing.exit_status()),
                )
                .await
                .unwrap();
                assert_eq!(
                    std::os::unix::process::ExitStatusExt::signal(&crashed),
                    Some(6),
                    "{crashed}"
                );
                processes[1].restart().await.unwrap();
            }
        }
    }
    let sent = sending.await.unwrap().unwrap();
    assert_eq!(sent.len(), MESSAGES);

    let report = swarm
        .settle(&clients, &groups, &sent, Duration::from_secs(120))
        .await
        .unwrap();
    for client in &clients {
        client.stop();
    }
    let problems = report.problems();
    assert!(
        problems.is_empty(),
        "the swarm did not settle: {problems:?}"
    );

    // The faults took the paths they were meant to: NATS dropped wake-ups of the slow
    // process, and messages reached members from storage, not wake-ups.
    let slow = processes[2].metrics().await.unwrap();
    assert!(
        slow["merpati_nats_slow_consumer_total"] > 0.0,
        "no wake-up was dropped"
    );
    let mut caught_up = 0.0;
    for process in &processes {
        if let Ok(metrics) = process.metrics().await {
            caught_up += metrics["merpati_messages_caught_up_total"];
        }
    }
    assert!(
        caught_up > 0.0,
        "no message was read from storage to be delivered"
    );

    let db = connect(&postgres, "merpati").await;
    let mut stored = Vec::new();
    let mut logs: HashMap<ChatId, Vec<(Seq, ClientMsgId)>> = HashMap::new();
    for &chat in &chats {
        let log = server_log(&db, chat).await;
        logs.insert(
            chat,
            log.iter().map(|row| (row.seq, row.client_msg_id)).collect(),
        );
        stored.extend(log);
    }
    let checked = history::check(&stored, &report.histories);
    let violations = &checked.violations;
    assert!(
        violations.is_empty(),
        "{} violations of the history's invariants, the first: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    for (chat, log) in &logs {
        for (member, timeline) in report.timelines[chat].iter().enumerate() {
            assert!(
                timeline == log,
                "member {member} of chat {} holds {} messages, the database {}",
                chat.0,
                timeline.len(),
                log.len()
            );
        }
    }
    let texts = logs
        .values()
        .flatten()
        .filter(|(_, id)| sent.contains_key(id))
        .count();
    assert_eq!(
        texts, MESSAGES,
        "the database holds exactly what was sent, once"
    );

    eprintln!(
        "cluster fault test: {MESSAGES} messages from {CLIENTS} clients in {} groups over \
         {PROCESSES} processes; a process killed, NATS paused, NATS killed, PostgreSQL \
         stopped, PostgreSQL killed, a process crashed between a commit and its wake-up; {} acks, {} connections, {} refused handshakes, {} live \
         messages arriving after a later one; settled in {:?}, {:?} in all",
        chats.len(),
        report.acks.len(),
        report.connections,
        report.refused,
        checked.reordered,
        report.elapsed,
        started.elapsed()
    );
}
