//! A connection's messages wait for their commit together: while one transaction is being
//! written, the session keeps reading, so the next transaction carries everything it queued
//! — and the answers still come in the order the messages were sent.

use merpati_protocol::{ClientFrame, Seq, ServerFrame};
use merpati_server::Config;

use crate::support::{TestServer, msg_id};

const MESSAGES: u64 = 20;

/// Sends `MESSAGES` without waiting while another process holds the database's write lock,
/// releases it, and returns how many transactions stored them and the acknowledged order.
///
/// The lock is released once the session has read everything it may read while the writer
/// waits. That is shown by a sentinel sent after the messages: a `Fetch`, which readers answer
/// (the lock does not stop them) and which the session reads only after every message before
/// it. Allowed `MESSAGES` or more in flight, the session answers it before any Ack; allowed
/// fewer, it cannot read it before a commit, and the lock is released at once.
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
    let before = server.metrics().await["merpati_commits_total"];
    for n in 0..MESSAGES {
        alice
            .send(&ClientFrame::Send {
                chat_id: chat,
                client_msg_id: msg_id(n),
                body: b"queued".to_vec(),
                attachment: None,
            })
            .await;
    }
    alice
        .send(&ClientFrame::Fetch {
            chat_id: chat,
            after: Seq(0),
            limit: 1,
        })
        .await;
    let reads_all_at_once = u64::from(sends_in_flight) >= MESSAGES;
    if reads_all_at_once {
        let (stored, _) = alice.expect_page(chat).await;
        assert!(stored.is_empty(), "nothing is committed behind the lock");
    }
    lock.execute_batch("COMMIT").unwrap();

    let mut acked = Vec::new();
    let mut answered = reads_all_at_once;
    while acked.len() < MESSAGES as usize || !answered {
        match alice.recv().await {
            ServerFrame::Ack { client_msg_id, .. } => {
                let n = (0..MESSAGES)
                    .find(|n| msg_id(*n) == client_msg_id)
                    .expect("one of ours");
                acked.push(n);
            }
            ServerFrame::Page { .. } if !answered => answered = true,
            // Alice's own copies of what she sent.
            ServerFrame::Message(_) => {}
            other => panic!("expected acks, got {other:?}"),
        }
    }
    let commits = server.metrics().await["merpati_commits_total"] - before;
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
