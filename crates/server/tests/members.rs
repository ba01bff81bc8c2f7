//! Taking people out of groups, and leaving them; and what someone added later reads.

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{ChatInfo, ClientFrame, ErrorCode, Seq, ServerFrame, UserId};

use crate::support::{Client, TestServer, msg_id, username};

async fn remove(client: &mut Client, chat: &ChatInfo, user: UserId) -> ServerFrame {
    client
        .request(|request| ClientFrame::RemoveMember {
            request,
            chat_id: chat.id,
            user,
        })
        .await
}

fn pushed_chat(frame: ServerFrame) -> ChatInfo {
    match frame {
        ServerFrame::Chat {
            request: None,
            chat,
        } => chat,
        other => panic!("expected a pushed chat, got {other:?}"),
    }
}

#[tokio::test]
async fn a_removed_member_is_told_and_then_cut_off() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let (mut carol, carol_me, _) = server.signed_up("carol").await;
    let group = alice.group("Trip", &["bob", "carol"]).await;
    for member in [&mut bob, &mut carol] {
        pushed_chat(member.recv().await);
        assert!(matches!(
            member.expect_line(group.id).await.1,
            SystemEvent::Created { .. }
        ));
    }
    alice.say(group.id, msg_id(1), b"before").await;
    bob.expect_message().await;
    carol.expect_message().await;

    let answer = match remove(&mut alice, &group, carol_me.id).await {
        ServerFrame::Chat { chat, .. } => chat,
        other => panic!("expected the updated group, got {other:?}"),
    };
    assert_eq!(answer.members, vec![alice_me.clone(), bob_me.clone()]);
    // The remaining members, the remover first, get the line after the changed chat: message 3,
    // after the Created line and "before".
    let removed = SystemEvent::Removed {
        by: alice_me.clone(),
        user: carol_me.clone(),
    };
    let (line, event) = alice.expect_line(group.id).await;
    assert_eq!(
        (line.seq, line.sender, event),
        (Seq(3), alice_me.id, removed.clone())
    );
    assert_eq!(pushed_chat(bob.recv().await).members, answer.members);
    let (line, event) = bob.expect_line(group.id).await;
    assert_eq!(
        (line.seq, line.sender, event),
        (Seq(3), alice_me.id, removed)
    );
    // The removed one is told by the chat alone, which no longer lists her; the line is not
    // hers to read (the sentinel at the end shows that nothing more came).
    let told = pushed_chat(carol.recv().await);
    assert_eq!(told.id, group.id);
    assert_eq!(
        told.members, answer.members,
        "the removed one is no longer listed"
    );

    // Carol can no longer send, read or mark read in it, and hears nothing more of it.
    carol
        .send(&ClientFrame::Send {
            chat_id: group.id,
            client_msg_id: msg_id(2),
            body: b"still here?".to_vec(),
            attachment: None,
        })
        .await;
    assert!(matches!(
        carol.recv().await,
        ServerFrame::SendFailed {
            code: ErrorCode::NoSuchChat,
            ..
        }
    ));
    carol
        .send(&ClientFrame::Fetch {
            chat_id: group.id,
            after: Seq(0),
            limit: 10,
        })
        .await;
    assert_eq!(carol.expect_error().await, ErrorCode::NoSuchChat);
    carol
        .send(&ClientFrame::History {
            chat_id: group.id,
            before: Seq(10),
            limit: 10,
        })
        .await;
    assert_eq!(carol.expect_error().await, ErrorCode::NoSuchChat);
    carol
        .send(&ClientFrame::MarkRead {
            chat_id: group.id,
            seq: Seq(1),
        })
        .await;
    assert_eq!(carol.expect_error().await, ErrorCode::NoSuchChat);

    alice.say(group.id, msg_id(3), b"after").await;
    assert_eq!(bob.expect_message().await.body, b"after");
    // A fresh session of Carol's does not sync it either: no chat, no page, an empty block
    // list and the end.
    let mut carol_again = server.logged_in("carol").await;
    carol_again
        .send(&ClientFrame::Sync {
            epoch: None,
            positions: Vec::new(),
        })
        .await;
    carol_again.expect_sync_end(vec![]).await;
    // Nor was she sent it, nor the Removed line: a sentinel alice's session sends after her
    // message, the chat she opens with carol, is carol's next frame.
    let direct = alice.direct("carol").await;
    assert_eq!(carol.expect_pushed_chat().await.id, direct.id);
    server.stop().await;
}

#[tokio::test]
async fn leaving_a_group_tells_the_others_and_ones_other_tabs() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let mut bob_tab = server.logged_in("bob").await;
    let group = alice.group("Trip", &["bob"]).await;
    for tab in [&mut bob, &mut bob_tab] {
        pushed_chat(tab.recv().await);
        assert!(matches!(
            tab.expect_line(group.id).await.1,
            SystemEvent::Created { .. }
        ));
    }

    match remove(&mut bob, &group, bob_me.id).await {
        ServerFrame::Chat { chat, .. } => assert_eq!(chat.members, vec![alice_me.clone()]),
        other => panic!("expected the group without me, got {other:?}"),
    }
    // The one who stays reads that bob left, as message 2, sent by bob; she is still its
    // admin, so no other line follows.
    let after_bob = pushed_chat(alice.recv().await);
    assert_eq!(after_bob.members, vec![alice_me.clone()]);
    assert_eq!(after_bob.admins, vec![alice_me.id]);
    let (line, event) = alice.expect_line(group.id).await;
    assert_eq!(
        (line.seq, line.sender, event),
        (
            Seq(2),
            bob_me.id,
            SystemEvent::Left {
                user: bob_me.clone()
            }
        )
    );
    // Bob's other tab learns it from the chat that no longer lists him, and gets no line.
    assert_eq!(
        pushed_chat(bob_tab.recv().await).members,
        vec![alice_me.clone()]
    );
    // The last member leaving leaves an empty group behind, which nobody is told of again;
    // no one is left to read a line.
    match remove(&mut alice, &group, alice_me.id).await {
        ServerFrame::Chat { chat, .. } => assert!(chat.members.is_empty()),
        other => panic!("expected the empty group, got {other:?}"),
    }
    // The session that left was answered, not pushed the change again, nor the emptied group:
    // its own copy of a message it sends afterwards is the next thing after the Ack. The chat
    // it opens is the next frame of bob's other tab (no Left line came before it) and of
    // alice's session (neither did her own Left line, nor the emptied group).
    let direct = bob.direct("alice").await;
    let seq = bob.say(direct.id, msg_id(1), b"sentinel").await;
    for session in [&mut bob_tab, &mut alice] {
        assert_eq!(session.expect_pushed_chat().await.id, direct.id);
        assert_eq!(session.expect_message().await.seq, seq);
    }
    server.stop().await;
}

#[tokio::test]
async fn removing_is_refused_for_non_members_strangers_and_direct_chats() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let (mut carol, carol_me, _) = server.signed_up("carol").await;
    let group = alice.group("Trip", &["bob"]).await;
    pushed_chat(bob.recv().await);
    assert!(matches!(
        bob.expect_line(group.id).await.1,
        SystemEvent::Created { .. }
    ));

    let code = |frame: ServerFrame| match frame {
        ServerFrame::Error { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        code(remove(&mut alice, &group, carol_me.id).await),
        ErrorCode::NotAMember
    );
    assert_eq!(
        code(remove(&mut carol, &group, bob_me.id).await),
        ErrorCode::NoSuchChat,
        "a stranger learns nothing of the group"
    );
    let direct = alice.direct("bob").await;
    pushed_chat(bob.recv().await);
    assert_eq!(
        code(remove(&mut alice, &direct, bob_me.id).await),
        ErrorCode::NotAGroup
    );
    let nowhere = ChatInfo {
        id: merpati_protocol::ChatId(9_999),
        ..group
    };
    assert_eq!(
        code(remove(&mut alice, &nowhere, bob_me.id).await),
        ErrorCode::NoSuchChat
    );
    // Nothing was pushed for the refusals: sentinels the refused sessions send afterwards are
    // bob's next frames (carol's chat with him, then alice's message).
    let with_carol = carol.direct("bob").await;
    assert_eq!(bob.expect_pushed_chat().await.id, with_carol.id);
    let seq = alice.say(direct.id, msg_id(1), b"sentinel").await;
    assert_eq!(bob.expect_message().await.seq, seq);
    server.stop().await;
}

#[tokio::test]
async fn a_member_added_later_syncs_fetches_and_pages_back_only_from_joining() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (_carol, _, carol_token) = server.signed_up("carol").await;
    let group = alice.group("Trip", &[]).await;
    alice.say(group.id, msg_id(1), b"before carol").await;
    alice.say(group.id, msg_id(2), b"still before").await;
    let added = alice
        .request(|request| ClientFrame::AddMember {
            request,
            chat_id: group.id,
            username: username("carol"),
        })
        .await;
    assert!(matches!(added, ServerFrame::Chat { .. }), "{added:?}");
    let (line, _) = alice.expect_line(group.id).await;
    assert_eq!(line.seq, Seq(4), "after Created and two messages");
    let after = alice.say(group.id, msg_id(3), b"after").await;

    // A new tab of carol's, holding nothing: the newest page starts at the line adding her.
    let mut carol = server.connect().await;
    assert!(matches!(
        carol.resume(carol_token).await,
        ServerFrame::Welcome { .. }
    ));
    let synced = carol.sync(None, Vec::new()).await;
    let (chat, messages, more) = &synced.pages[0];
    assert_eq!(*chat, group.id);
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq.0).collect();
    assert_eq!((seqs, *more), (vec![4, after.0], false));
    // Neither paging back nor forwards from the start reaches what came before.
    assert_eq!(carol.history(group.id, 4, 10).await, (vec![], false));
    assert_eq!(
        carol.fetch(group.id, 0, 10).await,
        (vec![4, after.0], false)
    );
    // Nor a sync from a position before she joined.
    let epoch = Some(carol.epoch());
    let synced = carol.sync(epoch, vec![(group.id, Seq(0))]).await;
    let seqs: Vec<u64> = synced.pages[0]
        .1
        .iter()
        .map(|message| message.seq.0)
        .collect();
    assert_eq!(seqs, [4, after.0]);
    // alice, there from the start, reads it all.
    assert_eq!(
        alice.history(group.id, after.0 + 1, 10).await,
        (vec![1, 2, 3, 4, after.0], false)
    );
    server.stop().await;
}
