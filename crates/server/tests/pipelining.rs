//! A connection's messages wait for their commit together: while one transaction is being
//! written, the session keeps reading, so the next transaction carries everything it queued
//! — and the answers still come in the order the messages were sent.

use std::time::Duration;

use merpati_protocol::{ClientFrame, ServerFrame};
use merpati_server::Config;

use crate::support::{TestServer, metrics, msg_id};

const MESSAGES: u64 = 20;

/// Sends `MESSAGES` without waiting while another process holds the database's write lock,
/// releases it, and returns how many transactions stored them and the acknowledged order.
async fn send_while_the_writer_waits(sends_in_flight: u32) -> (f64, Vec<u64>) {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut config = Config::new(data.path(), web.path());
    config.send_rate = 0;
    config.sends_in_flight = sends_in_flight;
    let server = TestServer::start_with(config).await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;

    // Another process takes the write lock: the server's writer waits for it (busy timeout).
    let lock = rusqlite::Connection::open(data.path().join("merpati.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = metrics(server.addr).await["merpati_commits_total"];
    for n in 0..MESSAGES {
        alice
            .send(&ClientFrame::Send {
                chat_id: chat,
                client_msg_id: msg_id(n),
                body: b"queued".to_vec(),
            })
            .await;
    }
    // Long enough for the session to read whatever it is allowed to read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.execute_batch("COMMIT").unwrap();

    let mut acked = Vec::new();
    while acked.len() < MESSAGES as usize {
        if let ServerFrame::Ack { client_msg_id, .. } = alice.recv().await {
            let n = (0..MESSAGES)
                .find(|n| msg_id(*n) == client_msg_id)
                .expect("one of ours");
            acked.push(n);
        }
    }
    let commits = metrics(server.addr).await["merpati_commits_total"] - before;
    server.stop().await;
    (commits, acked)
}

#[tokio::test]
async fn messages_sent_together_share_transactions_and_are_answered_in_order() {
    let (commits, acked) = send_while_the_writer_waits(64).await;
    assert_eq!(
        acked,
        (0..MESSAGES).collect::<Vec<_>>(),
        "in the order sent"
    );
    // The first message's transaction waited for the lock; the rest queued behind it.
    assert!(
        commits <= 3.0,
        "{commits} transactions for {MESSAGES} messages"
    );

    // One at a time, each message is its own transaction: what pipelining saves.
    let (commits, acked) = send_while_the_writer_waits(1).await;
    assert_eq!(acked, (0..MESSAGES).collect::<Vec<_>>());
    assert!(commits >= MESSAGES as f64, "{commits} transactions");
}
