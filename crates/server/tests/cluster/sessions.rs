//! What an account does on one process holds for its sessions on another: a session ended
//! closes its connection (by the push, or by the next head check when the word was lost), and
//! a block holds there too.

use merpati_protocol::{ClientFrame, ServerFrame};

use super::Shared;
use crate::support::Client;

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
    let answer = alice_phone
        .request(|request| ClientFrame::SetBlocked {
            request,
            user: bob_me.id,
            blocked: true,
        })
        .await;
    assert!(
        matches!(answer, ServerFrame::BlockList { .. }),
        "{answer:?}"
    );
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
