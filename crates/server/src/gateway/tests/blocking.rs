//! Blocking over real sessions: the block list and where it goes, and what a blocked account
//! can no longer do.

use merpati_protocol::UserId;

use super::*;

fn set_blocked(request: u32, user: UserId, blocked: bool) -> ClientFrame {
    ClientFrame::SetBlocked {
        request: RequestId(request),
        user,
        blocked,
    }
}

/// Reads a block list; the request it answers and the accounts on it.
async fn block_list(peer: &mut Peer) -> (Option<RequestId>, Vec<UserId>) {
    match peer.next_frame().await {
        ServerFrame::BlockList { request, users } => (request, users),
        other => panic!("expected a block list, got {other:?}"),
    }
}

#[tokio::test]
async fn blocking_answers_the_list_tells_ones_other_sessions_and_comes_with_every_sync() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut alice_tab, _) = server.log_in("alice").await;
    let (_bob, bob_me, _) = server.sign_up("bob").await;

    alice.write(&set_blocked(1, bob_me.id, true));
    assert_eq!(
        block_list(&mut alice).await,
        (Some(RequestId(1)), vec![bob_me.id])
    );
    assert_eq!(block_list(&mut alice_tab).await, (None, vec![bob_me.id]));

    alice_tab.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    assert!(matches!(
        alice_tab.next_frame().await,
        ServerFrame::Privacy { .. }
    ));
    assert_eq!(block_list(&mut alice_tab).await, (None, vec![bob_me.id]));
    assert_eq!(alice_tab.next_frame().await, ServerFrame::SyncDone);

    alice.write(&set_blocked(2, bob_me.id, false));
    assert_eq!(block_list(&mut alice).await, (Some(RequestId(2)), vec![]));
    assert_eq!(block_list(&mut alice_tab).await, (None, vec![]));
}

#[tokio::test]
async fn a_blocked_account_cannot_start_a_chat_add_the_blocker_or_message_them() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let (_carol, _, _) = server.sign_up("carol").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    let group = create_group(&mut alice, "Trip", &["carol"]).await.id;
    bob.write(&set_blocked(1, alice_me.id, true));
    block_list(&mut bob).await;

    alice.write(&ClientFrame::CreateChat {
        request: RequestId(3),
        chat: NewChat::Direct {
            with: username("bob"),
        },
    });
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(3)), ErrorCode::Blocked)
    );
    alice.write(&ClientFrame::CreateChat {
        request: RequestId(4),
        chat: NewChat::Group {
            title: "Again".into(),
            members: vec![username("carol"), username("bob")],
        },
    });
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(4)), ErrorCode::Blocked)
    );
    alice.write(&ClientFrame::AddMember {
        request: RequestId(5),
        chat_id: group,
        username: username("bob"),
    });
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(5)), ErrorCode::Blocked)
    );
    alice.write(&send(chat, 1, b"hello?"));
    match alice.next_frame().await {
        ServerFrame::SendFailed { code, .. } => assert_eq!(code, ErrorCode::Blocked),
        other => panic!("expected SendFailed, got {other:?}"),
    }

    // The blocker can still write; unblocking restores everything.
    say(&mut bob, chat, 2).await;
    delivered(&mut alice).await;
    bob.write(&set_blocked(6, alice_me.id, false));
    block_list(&mut bob).await;
    say(&mut alice, chat, 3).await;
    assert_eq!(delivered(&mut bob).await.sender, alice_me.id);
}

#[tokio::test]
async fn blocking_oneself_or_no_one_is_refused() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;

    alice.write(&set_blocked(1, alice_me.id, true));
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(1)), ErrorCode::Malformed)
    );
    alice.write(&set_blocked(2, UserId(9_999), true));
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(2)), ErrorCode::NoSuchUser)
    );
    still_serves(&mut alice).await;
}
