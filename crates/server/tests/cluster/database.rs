//! A database that stops answering without closing its connections (a paused host, a network
//! that drops its packets): a process gives up on each operation after its timeout and
//! answers as for any storage failure — the sessions waiting on it are told to come back, a
//! sign-in is refused — instead of holding them for as long as the database is gone; once it
//! answers again, what was refused goes through, once (a commit the database took just before
//! it stopped is found again by its id).

use merpati_protocol::{ErrorCode, Seq, ServerFrame};

use super::{Shared, said_and_received, sent};
use crate::support::msg_id;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_is_given_up_on_and_taken_up_again_once_it_answers() {
    let shared = Shared::start().await;
    let one = shared
        .process_with(|config| config.database_timeout_ms = 1_000)
        .await;
    let (mut alice, _, alice_token) = one.signed_up("alice").await;
    let (mut bob, ..) = one.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    said_and_received(&mut alice, &mut bob, chat, 1, 2).await;

    shared.postgres.pause().unwrap();
    // A message sent now cannot be stored: alice is told to come back, and her connection
    // ends (the answer itself shows nothing waited for the database to return).
    alice
        .send(&merpati_protocol::ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(3),
            body: b"m3".to_vec(),
            attachment: None,
        })
        .await;
    let (frames, close) = alice.until_closed().await;
    assert!(
        frames.iter().any(|frame| matches!(
            frame,
            ServerFrame::Goodbye {
                code: ErrorCode::ServerBusy,
                ..
            }
        )),
        "{frames:?}"
    );
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1013));
    // A sign-in is answered too, and not let in.
    let mut carol = one.connect().await;
    let answer = carol.login("bob", &crate::support::key("bob")).await;
    assert!(
        !matches!(answer, ServerFrame::Welcome { .. }),
        "signed in without the database: {answer:?}"
    );

    // Back: alice resumes and sends message 3 again. The first try's commit may have reached
    // the database before it stopped, and taken effect once it went on: then this is a resend,
    // acknowledged with the same position, and the head check delivers it. Either way bob
    // receives it, once.
    shared.postgres.resume().unwrap();
    let mut alice = one.connect().await;
    assert!(matches!(
        alice.resume(alice_token).await,
        ServerFrame::Welcome { .. }
    ));
    assert_eq!(sent(&mut alice, chat, 3).await, Seq(3));
    let message = bob.expect_message().await;
    assert_eq!((message.seq, message.body), (Seq(3), b"m3".to_vec()));
    bob.expect_nothing_before_a_sentinel().await;
}
