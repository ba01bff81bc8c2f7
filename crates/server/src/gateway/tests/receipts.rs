//! Receipts over real sessions: who is pushed a member's delivery and read positions, what
//! privacy settings and blocks hide, and what a sync tells.

use super::*;
use crate::fanout::KEPT_PER_CHAT;

fn mark_delivered(chat_id: ChatId, seq: u64) -> ClientFrame {
    ClientFrame::MarkDelivered {
        chat_id,
        seq: Seq(seq),
    }
}

fn mark_read(chat_id: ChatId, seq: u64) -> ClientFrame {
    ClientFrame::MarkRead {
        chat_id,
        seq: Seq(seq),
    }
}

/// `(delivered, read)` of a receipt.
fn positions(receipt: Receipt) -> (u64, u64) {
    (receipt.delivered.0, receipt.read.0)
}

/// Syncs and returns the one chat the account has.
async fn synced_chat(peer: &mut Peer) -> ChatInfo {
    peer.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    let chat = pushed_chat(peer).await;
    loop {
        match peer.next_frame().await {
            ServerFrame::SyncDone => return chat,
            ServerFrame::Page { .. }
            | ServerFrame::Privacy { .. }
            | ServerFrame::BlockList { .. } => {}
            other => panic!("expected the rest of the sync, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_receipt_reaches_the_other_person_and_ones_own_other_sessions() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let (mut bob_tab, _) = server.log_in("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    pushed_chat(&mut bob_tab).await;
    say(&mut alice, chat, 1).await;
    delivered(&mut bob).await;
    delivered(&mut bob_tab).await;

    bob.write(&mark_delivered(chat, 1));
    let (chat_id, pushed) = receipt(&mut alice).await;
    assert_eq!(chat_id, chat);
    assert_eq!(pushed.user, bob_me.id);
    assert_eq!((positions(pushed), pushed.read_at_ms), ((1, 0), 0));
    assert_eq!(receipt(&mut bob_tab).await.1, pushed);

    bob.write(&mark_read(chat, 1));
    let read = receipt(&mut alice).await.1;
    assert_eq!(positions(read), (1, 1));
    assert!(read.read_at_ms > 0, "when it was read");
    assert_eq!(receipt(&mut bob_tab).await.1, read);
    // Nothing moves now: nothing is pushed, and the session that sent them got nothing.
    bob.write(&mark_read(chat, 1));
    still_serves(&mut bob).await;
    // The chat tells it on every side after a reload.
    assert_eq!(synced_chat(&mut alice).await.receipts, [read]);
    let bobs = synced_chat(&mut bob_tab).await;
    assert_eq!(bobs.read, Seq(1));
    assert!(bobs.receipts.is_empty(), "alice has no position yet");
}

#[tokio::test]
async fn in_a_group_a_receipt_goes_to_the_senders_of_the_messages_it_covers() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let (mut carol, carol_me, _) = server.sign_up("carol").await;
    let (mut dave, _, _) = server.sign_up("dave").await;
    let group = create_group(&mut alice, "Trip", &["bob", "carol", "dave"])
        .await
        .id;
    for peer in [&mut bob, &mut carol, &mut dave] {
        pushed_chat(peer).await;
        line(peer).await;
    }

    // Message 1 is the line alice's creating the group wrote.
    carol.write(&mark_delivered(group, 1));
    let (_, to_alice) = receipt(&mut alice).await;
    assert_eq!((to_alice.user, positions(to_alice)), (carol_me.id, (1, 0)));
    let seq = say(&mut bob, group, 2).await;
    for peer in [&mut alice, &mut carol, &mut dave] {
        assert_eq!(delivered(peer).await.seq, seq);
    }
    carol.write(&mark_delivered(group, seq.0));
    let (_, to_bob) = receipt(&mut bob).await;
    assert_eq!((to_bob.user, positions(to_bob)), (carol_me.id, (2, 0)));

    // Alice and dave sent nothing in that range: the next thing they hear is the next message.
    let next = say(&mut dave, group, 3).await;
    for peer in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(delivered(peer).await.seq, next);
    }
}

#[tokio::test]
async fn a_receipt_covering_more_than_the_server_remembers_goes_to_every_member() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let (mut carol, carol_me, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob", "carol"]).await.id;
    for peer in [&mut bob, &mut carol] {
        pushed_chat(peer).await;
        line(peer).await;
    }
    let messages = KEPT_PER_CHAT as u8 + 4;
    for id in 1..=messages {
        say(&mut bob, group, id).await;
        delivered(&mut alice).await;
        delivered(&mut carol).await;
    }
    let head = u64::from(messages) + 1;

    // Seq 1, alice's line, is older than what is remembered: everyone hears of it.
    carol.write(&mark_read(group, head));
    for peer in [&mut alice, &mut bob] {
        let (_, pushed) = receipt(peer).await;
        assert_eq!(
            (pushed.user, positions(pushed)),
            (carol_me.id, (head, head))
        );
    }
}

#[tokio::test]
async fn who_hides_read_receipts_shares_delivery_only_and_sees_no_one_elses_reads() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    set_privacy(&mut bob, false, true).await;
    say(&mut alice, chat, 1).await;
    delivered(&mut bob).await;

    bob.write(&mark_read(chat, 1));
    let (_, to_alice) = receipt(&mut alice).await;
    assert_eq!(
        (to_alice.user, positions(to_alice), to_alice.read_at_ms),
        (bob_me.id, (1, 0), 0)
    );
    alice.write(&mark_read(chat, 1));
    let (_, to_bob) = receipt(&mut bob).await;
    assert_eq!((to_bob.user, positions(to_bob)), (alice_me.id, (1, 0)));

    let alices = synced_chat(&mut alice).await;
    assert_eq!(alices.read, Seq(1));
    assert_eq!(
        alices
            .receipts
            .iter()
            .map(|r| positions(*r))
            .collect::<Vec<_>>(),
        [(1, 0)]
    );
    let bobs = synced_chat(&mut bob).await;
    assert_eq!(bobs.read, Seq(1), "one's own read position stays one's own");
    assert_eq!(
        bobs.receipts
            .iter()
            .map(|r| positions(*r))
            .collect::<Vec<_>>(),
        [(1, 0)]
    );
}

#[tokio::test]
async fn a_blocked_accounts_receipts_do_not_reach_the_blocker() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    bob.write(&ClientFrame::SetBlocked {
        request: RequestId(5),
        user: alice_me.id,
        blocked: true,
    });
    assert!(matches!(
        bob.next_frame().await,
        ServerFrame::BlockList {
            request: Some(RequestId(5)),
            ..
        }
    ));
    say(&mut bob, chat, 1).await;
    delivered(&mut alice).await;

    alice.write(&mark_read(chat, 1));
    // Bob's next frames are those of his next message: no receipt came before them.
    say(&mut bob, chat, 2).await;
    assert!(synced_chat(&mut bob).await.receipts.is_empty());
}

#[tokio::test]
async fn a_receipt_in_a_stranger_chat_is_refused() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (_bob, _, _) = server.sign_up("bob").await;
    let (mut mallory, _, _) = server.sign_up("mallory").await;
    let chat = create_direct(&mut alice, "bob").await;

    mallory.write(&mark_delivered(chat, 1));
    assert_eq!(refused(&mut mallory).await, (None, ErrorCode::NoSuchChat));
    mallory.write(&mark_read(chat, 1));
    assert_eq!(refused(&mut mallory).await, (None, ErrorCode::NoSuchChat));
    still_serves(&mut mallory).await;
}
