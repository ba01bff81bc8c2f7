//! Graceful shutdown, and data surviving a restart.

use merpati_protocol::{ErrorCode, ServerFrame};

use crate::support::{TestServer, data_dir, msg_id};

#[tokio::test]
async fn shutdown_says_goodbye_to_every_session_and_run_returns() {
    let mut server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let mut stranger = server.connect().await;

    server.trigger_stop();
    for client in [&mut alice, &mut stranger] {
        let (frames, close) = client.until_closed().await;
        match frames.as_slice() {
            // A jittered hint, so that the clients of a restarting server spread their returns.
            [
                ServerFrame::Goodbye {
                    code: ErrorCode::ShuttingDown,
                    retry_after_ms: Some(1_000..=5_000),
                },
            ] => {}
            other => panic!("expected Goodbye, got {other:?}"),
        }
        assert_eq!(close.map(|close| u16::from(close.code)), Some(1001));
    }
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let (_keep, data) = data_dir();
    let server = TestServer::start_in(&data).await;
    let (mut alice, _, token) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    for n in 1..=3 {
        alice
            .say(chat, msg_id(n), format!("kept {n}").as_bytes())
            .await;
    }
    let epoch = alice.epoch();
    server.stop().await;

    let server = TestServer::start_in(&data).await;
    let mut alice = server.connect().await;
    assert_eq!(alice.epoch(), epoch, "the same database keeps its epoch");
    assert!(matches!(
        alice.resume(token).await,
        ServerFrame::Welcome { .. }
    ));
    assert_eq!(alice.fetch(chat, 0, 100).await, (vec![1, 2, 3], false));
    // And numbering goes on without a gap.
    assert_eq!(alice.say(chat, msg_id(4), b"after").await.0, 4);
    server.stop().await;

    // A new database is a new epoch.
    let (_other, fresh) = data_dir();
    let server = TestServer::start_in(&fresh).await;
    assert_ne!(server.connect().await.epoch(), epoch);
    server.stop().await;
}
