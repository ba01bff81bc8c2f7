//! What an account does on one process holds for its sessions on another: a session ended
//! closes its connection (by word of the end, or by the next head check when the word was
//! lost) and is not welcome there even to a `Resume` that read it just before, and a block
//! holds there too (by the push, or by the next head check when the push was lost).

use merpati_protocol::{ClientFrame, ErrorCode, ServerFrame, UserId};
use merpati_testkit::SignIn;

use super::Shared;
use crate::support::Client;

/// `client` blocks `user`, and is answered with its new list.
async fn blocks(client: &mut Client, user: UserId) {
    let answer = client
        .request(|request| ClientFrame::SetBlocked {
            request,
            user,
            blocked: true,
        })
        .await;
    assert!(
        matches!(answer, ServerFrame::BlockList { .. }),
        "{answer:?}"
    );
}

/// Reads `client`'s frames until its connection closes; asserts it was told its session
/// ended, for good.
async fn told_session_ended(client: &mut Client) {
    let (frames, close) = client.until_closed().await;
    let goodbye = ServerFrame::Goodbye {
        code: merpati_protocol::ErrorCode::SessionExpired,
        retry_after_ms: None,
    };
    assert!(frames.contains(&goodbye), "{frames:?}");
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_process_closes_its_connection_on_another_at_once() {
    let shared = Shared::start().await;
    // Head checks a minute apart: only the push can close it within the client's patience.
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut phone, ..) = one.signed_up("alice").await;
    let mut laptop = other.logged_in("alice").await;
    let sessions = match laptop
        .request(|request| merpati_protocol::ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions,
        other => panic!("expected Sessions, got {other:?}"),
    };
    let phone_session = sessions.iter().find(|s| !s.current).unwrap().session;
    let ended = laptop
        .request(|request| merpati_protocol::ClientFrame::EndSession {
            request,
            session: phone_session,
        })
        .await;
    assert!(
        matches!(ended, ServerFrame::SessionEnded { .. }),
        "{ended:?}"
    );
    told_session_ended(&mut phone).await;
    laptop.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_whose_word_was_lost_is_closed_by_the_next_head_check() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = one.signed_up("bob").await;
    // Ended by a process that died before telling anyone: only the database knows.
    let db = shared.db().await;
    let deleted = db
        .execute(
            "DELETE FROM sessions WHERE account_id =
                 (SELECT id FROM accounts WHERE username = 'alice')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    told_session_ended(&mut alice).await;
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_on_one_process_holds_for_the_accounts_sessions_on_another() {
    let shared = Shared::start().await;
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut alice_phone, ..) = one.signed_up("alice").await;
    let mut alice_laptop = other.logged_in("alice").await;
    let (mut bob, bob_me, _) = other.signed_up("bob").await;
    let chat = bob.direct("alice").await.id;
    assert_eq!(alice_phone.expect_pushed_chat().await.id, chat);
    assert_eq!(alice_laptop.expect_pushed_chat().await.id, chat);

    // alice blocks bob on her phone: her laptop, on the other process, is told the new list.
    blocks(&mut alice_phone, bob_me.id).await;
    assert!(matches!(
        alice_laptop.recv().await,
        ServerFrame::Privacy { .. }
    ));
    assert_eq!(
        alice_laptop.recv().await,
        ServerFrame::BlockList {
            request: None,
            users: vec![bob_me.id]
        }
    );
    // And the laptop's process holds it: bob typing reaches neither of her sessions.
    bob.send(&ClientFrame::Typing { chat_id: chat }).await;
    bob.expect_nothing_before_a_sentinel().await;
    alice_laptop.expect_nothing_before_a_sentinel().await;
    alice_phone.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_whose_push_was_lost_holds_on_another_process_after_a_head_check() {
    let shared = Shared::start().await;
    // alice's phone is on a process that never pushes to accounts: her laptop's process
    // learns of the block only from the database, at a head check.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice_phone, ..) = Client::signed_up(&one.endpoint(), "alice").await;
    let mut alice_laptop = Client::logged_in(&other.endpoint(), "alice").await;
    let (mut bob, bob_me, _) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = bob.direct("alice").await.id;
    assert_eq!(alice_phone.expect_pushed_chat().await.id, chat);
    assert_eq!(alice_laptop.expect_pushed_chat().await.id, chat);
    // Before the block, bob's typing reaches both her sessions.
    bob.send(&ClientFrame::Typing { chat_id: chat }).await;
    let typing = ServerFrame::Typing {
        chat_id: chat,
        user: bob_me.id,
    };
    assert_eq!(alice_laptop.recv().await, typing);
    assert_eq!(alice_phone.recv().await, typing);

    blocks(&mut alice_phone, bob_me.id).await;
    // No push told the laptop's process: its head check reads the change and tells her
    // laptop the new list, as the push would have.
    assert!(matches!(
        alice_laptop.recv().await,
        ServerFrame::Privacy { .. }
    ));
    assert_eq!(
        alice_laptop.recv().await,
        ServerFrame::BlockList {
            request: None,
            users: vec![bob_me.id]
        }
    );
    let read_again = other.metrics().await.unwrap()["merpati_privacy_read_again_total"];
    assert!(
        read_again >= 1.0,
        "it came from the head check: {read_again}"
    );
    // And that process holds it: bob's typing no longer reaches her laptop. (From another
    // connection of his: the first one's typing interval still runs, and would hold it back
    // whatever alice blocks.)
    let mut bob_tablet = Client::logged_in(&other.endpoint(), "bob").await;
    bob_tablet
        .send(&ClientFrame::Typing { chat_id: chat })
        .await;
    bob_tablet.expect_nothing_before_a_sentinel().await;
    bob.expect_nothing_before_a_sentinel().await;
    alice_laptop.expect_nothing_before_a_sentinel().await;
    alice_phone.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_racing_its_sessions_end_on_another_process_is_not_welcome_there() {
    let shared = Shared::start().await;
    // Head checks a minute apart: only word of the end can close it within the client's
    // patience.
    let one = shared.process_checking_every(60_000).await;
    let (other, hold) = shared.holding_first("resume", 60_000).await;
    let (mut phone, _, token) = one.signed_up("alice").await;
    // Another tab of the phone's browser resumes its session on the other process, where
    // alice has no session yet: it reads the session, and is held before it goes online.
    let mut tab = Client::connect(&other.endpoint()).await;
    let resume = SignIn::Resume {
        session_token: token,
    };
    tab.send(&resume.frame(&tab.nonce())).await;
    hold.held().await;
    // The phone signs out meanwhile: the session is gone from storage once it is closed.
    phone.send(&ClientFrame::Logout).await;
    let (_, close) = phone.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1000));
    hold.release();
    // The end was committed before the tab went online: it is refused, whether or not word
    // of the end reached the other process by then.
    match tab.recv().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::SessionExpired),
        other => panic!("expected SessionExpired, got {other:?}"),
    }
}
