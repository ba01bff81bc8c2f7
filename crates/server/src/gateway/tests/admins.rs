//! Groups with admins over real sessions: who may change a group, and the lines each change
//! writes into its history, delivered after the changed chat.

use merpati_protocol::Member;

use super::*;

#[tokio::test]
async fn a_new_group_reaches_every_member_with_its_creator_as_admin_and_a_first_line() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;

    let group = create_group(&mut alice, "Trip", &["bob"]).await;
    assert_eq!(group.admins, [alice_me.id]);
    assert_eq!(group.head, Seq(1), "the line is its first message");
    let pushed = pushed_chat(&mut bob).await;
    assert_eq!(pushed.admins, [alice_me.id]);
    let (message, event) = line(&mut bob).await;
    assert_eq!((message.seq, message.sender), (Seq(1), alice_me.id));
    assert_eq!(
        event,
        SystemEvent::Created {
            by: alice_me,
            title: "Trip".into()
        }
    );
}

#[tokio::test]
async fn a_member_who_is_not_an_admin_cannot_add_remove_rename_or_make_admins() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let (_carol, _, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob"]).await.id;
    pushed_chat(&mut bob).await;
    line(&mut bob).await;

    let requests = [
        ClientFrame::AddMember {
            request: RequestId(10),
            chat_id: group,
            username: username("carol"),
        },
        ClientFrame::RemoveMember {
            request: RequestId(11),
            chat_id: group,
            user: alice_me.id,
        },
        ClientFrame::RenameGroup {
            request: RequestId(12),
            chat_id: group,
            title: "Mine".into(),
        },
        ClientFrame::SetAdmin {
            request: RequestId(13),
            chat_id: group,
            user: bob_me.id,
            admin: true,
        },
    ];
    for (request, frame) in (10..).zip(requests) {
        bob.write(&frame);
        assert_eq!(
            refused(&mut bob).await,
            (Some(RequestId(request)), ErrorCode::NotAdmin)
        );
    }
    // Nothing changed, so nothing was pushed: alice's next frame answers her own request.
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn renaming_answers_pushes_the_chat_and_writes_a_line() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let group = create_group(&mut alice, "Trip", &["bob"]).await.id;
    pushed_chat(&mut bob).await;
    line(&mut bob).await;

    alice.write(&ClientFrame::RenameGroup {
        request: RequestId(7),
        chat_id: group,
        title: "  Trip 2026 ".into(),
    });
    assert_eq!(
        answered_chat(&mut alice, RequestId(7)).await.title,
        "Trip 2026"
    );
    let renamed = SystemEvent::Renamed {
        by: alice_me,
        title: "Trip 2026".into(),
    };
    assert_eq!(line(&mut alice).await.1, renamed);
    assert_eq!(pushed_chat(&mut bob).await.title, "Trip 2026");
    let (message, event) = line(&mut bob).await;
    assert_eq!((message.seq, event), (Seq(2), renamed));

    alice.write(&ClientFrame::RenameGroup {
        request: RequestId(8),
        chat_id: group,
        title: " ".into(),
    });
    assert_eq!(
        refused(&mut alice).await,
        (Some(RequestId(8)), ErrorCode::InvalidTitle)
    );
}

/// `admin` adds carol to `group`; `admin` reads the answer and the line, and each of
/// `members` (carol among them) the pushed group and the line.
async fn add_carol<const N: usize>(admin: &mut Peer, group: ChatId, members: [&mut Peer; N]) {
    admin.write(&ClientFrame::AddMember {
        request: RequestId(3),
        chat_id: group,
        username: username("carol"),
    });
    answered_chat(admin, RequestId(3)).await;
    line(admin).await;
    for peer in members {
        pushed_chat(peer).await;
        assert!(matches!(line(peer).await.1, SystemEvent::Added { .. }));
    }
}

#[tokio::test]
async fn the_last_admin_leaving_hands_the_role_to_the_longest_standing_member() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let (mut carol, _, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob"]).await.id;
    pushed_chat(&mut bob).await;
    line(&mut bob).await;
    add_carol(&mut alice, group, [&mut bob, &mut carol]).await;

    alice.write(&ClientFrame::RemoveMember {
        request: RequestId(4),
        chat_id: group,
        user: alice_me.id,
    });
    let left = answered_chat(&mut alice, RequestId(4)).await;
    assert_eq!(left.admins, [bob_me.id]);
    for peer in [&mut bob, &mut carol] {
        assert_eq!(pushed_chat(peer).await.admins, [bob_me.id]);
        assert_eq!(
            line(peer).await.1,
            SystemEvent::Left {
                user: alice_me.clone()
            }
        );
        assert_eq!(
            line(peer).await.1,
            SystemEvent::AdminChanged {
                by: bob_me.clone(),
                user: bob_me.clone(),
                admin: true
            }
        );
    }
    // The one who left hears no more of it.
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn a_message_claiming_to_be_a_server_line_is_refused() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (_bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;

    let forged = SystemEvent::Left { user: alice_me }.to_body();
    alice.write(&send(chat, 1, &forged));
    match alice.next_frame().await {
        ServerFrame::SendFailed { code, .. } => assert_eq!(code, ErrorCode::Malformed),
        other => panic!("expected SendFailed, got {other:?}"),
    }
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn a_message_from_before_someone_joined_never_reaches_them_however_late_it_is_fanned_out() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let (mut carol, _, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob"]).await.id;
    pushed_chat(&mut bob).await;
    line(&mut bob).await;
    say(&mut alice, group, 1).await;
    let before = delivered(&mut bob).await;
    add_carol(&mut alice, group, [&mut bob, &mut carol]).await;

    // The message's fan-out runs only now — it raced the change, or a process of a cluster
    // is catching up — with the member list cached since, then with one read from storage.
    let frame = crate::gateway::encode(&ServerFrame::Message(before.clone()));
    server.gateway.deliver_stored(&before, frame.clone()).await;
    server.gateway.fanout.members().forget(group);
    server.gateway.deliver_stored(&before, frame).await;
    for _ in 0..2 {
        assert_eq!(delivered(&mut bob).await, before, "bob was there before it");
    }
    // carol was not: it was encrypted for the members of the time.
    still_serves(&mut carol).await;
}

/// alice's group with bob and carol, whose member list a message of carol's has cached.
async fn trip_with_its_list_cached(
    server: &TestGateway,
) -> (Peer, Member, Peer, Member, Peer, ChatId) {
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let (mut carol, _, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob", "carol"]).await.id;
    for peer in [&mut bob, &mut carol] {
        pushed_chat(peer).await;
        line(peer).await;
    }
    say(&mut carol, group, 1).await;
    for peer in [&mut alice, &mut bob] {
        delivered(peer).await;
    }
    (alice, alice_me, bob, bob_me, carol, group)
}

#[tokio::test]
async fn a_message_committed_just_after_a_removal_never_reaches_the_removed_however_its_fan_out_races_the_change()
 {
    let server = TestGateway::start();
    let (mut alice, alice_me, mut bob, bob_me, mut carol, group) =
        trip_with_its_list_cached(&server).await;
    // The removal committed, its session not run again yet to set the list it committed (the
    // moment after the writer answers a group commit holding it and carol's next message).
    server
        .gateway
        .storage
        .remove_member(group, alice_me.id, bob_me.id)
        .await
        .expect("bob is removed");
    let seq = say(&mut carol, group, 2).await;
    assert_eq!(delivered(&mut alice).await.seq, seq);
    still_serves(&mut bob).await;
}

#[tokio::test]
async fn a_message_committed_just_after_someone_is_added_reaches_them_however_its_fan_out_races_the_change()
 {
    let server = TestGateway::start();
    let (mut alice, alice_me, _bob, _, mut carol, group) = trip_with_its_list_cached(&server).await;
    let (mut dave, dave_me, _) = server.sign_up("dave").await;
    server
        .gateway
        .storage
        .add_member(group, alice_me.id, dave_me)
        .await
        .expect("dave is added");
    let seq = say(&mut carol, group, 2).await;
    assert_eq!(delivered(&mut alice).await.seq, seq);
    assert_eq!(
        delivered(&mut dave).await.seq,
        seq,
        "dave reads from his joining"
    );
}
