//! A session ended while it is being resumed: the resume is refused, whichever comes first —
//! a stolen token resumed over and over must not outlive its owner's "end session". And a
//! connection that ends while its messages wait for their commit: they are stored all the
//! same, so they reach the chat's members all the same.

use merpati_protocol::sessions::SessionRef;

use super::*;
use crate::auth::token_hash;

/// How an account names the session of `token` (`EndSession`): its hash's first half.
fn session_of(token: &[u8; 32]) -> SessionRef {
    let mut half = [0; 16];
    half.copy_from_slice(&token_hash(token)[..16]);
    SessionRef(half)
}

/// Waits until `count` requests wait for the held writer: a condition, not a time.
async fn writes_waiting(server: &TestGateway, count: usize) {
    let storage = &server.gateway.storage;
    tokio::time::timeout(HANG_GUARD, async {
        while storage.writes_waiting() < count {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the requests reach the writer's queue within the hang guard");
}

#[tokio::test]
async fn a_resume_whose_session_ends_before_its_token_rotates_is_refused() {
    let server = TestGateway::start();
    let (phone, _, stolen) = server.sign_up("alice").await;
    phone.hang_up().await;
    let (mut laptop, _) = server.log_in("alice").await;
    // A day on, resuming the stolen token rotates it: a write after the session is read.
    server.rotation_due("alice");

    // The owner ends the phone's session while the thief's resume reads it: the end is
    // committed first, then the rotation finds the session gone.
    let gate = server.gateway.storage.hold_the_writer().await;
    laptop.write(&ClientFrame::EndSession {
        request: RequestId(1),
        session: session_of(&stolen),
    });
    writes_waiting(&server, 1).await;
    let mut thief = server.connect();
    thief.challenge().await;
    thief.write(&ClientFrame::Authenticate {
        version: PROTOCOL_VERSION,
        method: AuthMethod::Resume {
            session_token: stolen,
        },
    });
    writes_waiting(&server, 2).await;
    gate.open().await;

    assert_eq!(
        laptop.next_frame().await,
        ServerFrame::SessionEnded {
            request: RequestId(1)
        }
    );
    assert_eq!(refused(&mut thief).await, (None, ErrorCode::SessionExpired));
    assert_eq!(thief.closed().await, close_code::POLICY);
    thief.hang_up().await;
    laptop.hang_up().await;
}

#[tokio::test]
async fn a_session_ended_after_a_sign_in_read_it_and_before_it_joined_does_not_go_online() {
    let server = TestGateway::start();
    let (phone, me, stolen) = server.sign_up("alice").await;
    phone.hang_up().await;
    let gateway = &server.gateway;

    // A resume without rotation reads the session and goes online with nothing in between
    // to hold, so the race is set out here step by step: the sign-in has read the session;
    // its account ends it (deleted, then those online with it told); then the sign-in joins.
    let ends_before = gateway.fanout.sessions_ended();
    let ended = gateway
        .storage
        .end_session(me.id, session_of(&stolen).0)
        .await
        .expect("ending the session is stored")
        .expect("the session existed");
    gateway.session_ended(me.id, ended.token_hash);
    let joined = gateway
        .go_online(
            gateway.fanout.next_session_id(),
            me.id,
            ended.token_hash,
            crate::privacy::Privacy::default(),
            ends_before,
            true,
        )
        .await;
    match joined {
        Err(error) => assert_eq!(error.code(), ErrorCode::SessionExpired),
        Ok(_) => panic!("went online with a session its account ended"),
    }
    assert_eq!(
        gateway.fanout.sessions_of(me.id),
        0,
        "left the fan-out again"
    );

    // A sign-in with no end in between goes online as ever.
    let (_laptop, _) = server.log_in("alice").await;
    assert_eq!(gateway.fanout.sessions_of(me.id), 1);
}

#[tokio::test]
async fn messages_committed_after_their_sender_hung_up_still_reach_the_chat() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;

    // Two messages wait for the writer when alice's tab goes away. Whichever the session
    // sees first, the commit or the hang-up, it cannot write the first one's Ack, so the
    // second is settled after its connection ended.
    let gate = server.gateway.storage.hold_the_writer().await;
    alice.write(&send(chat, 1, b"one"));
    alice.write(&send(chat, 2, b"two"));
    writes_waiting(&server, 2).await;
    let hung_up = tokio::spawn(alice.hang_up());
    gate.open().await;

    let first = delivered(&mut bob).await;
    let second = delivered(&mut bob).await;
    assert_eq!(
        [first, second].map(|message| (message.client_msg_id, message.body)),
        [
            (ClientMsgId([1; 16]), b"one".to_vec()),
            (ClientMsgId([2; 16]), b"two".to_vec()),
        ]
    );
    hung_up.await.expect("the session ended");
}
