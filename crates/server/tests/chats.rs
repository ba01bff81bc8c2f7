//! Creating 1:1 chats and groups, and adding members.

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{
    ChatKind, ClientFrame, ErrorCode, MAX_TITLE_CHARS, NewChat, Seq, ServerFrame,
};

use crate::support::{TestServer, msg_id, username};

#[tokio::test]
async fn a_direct_chat_delivers_messages_both_ways_live() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;

    let chat = alice.direct("bob").await;
    assert_eq!(chat.kind, ChatKind::Direct);
    assert_eq!(chat.members, vec![alice_me.clone(), bob_me.clone()]);
    assert_eq!(chat.head, Seq(0));
    // Bob's chat list learns of it at once.
    match bob.recv().await {
        ServerFrame::Chat {
            request: None,
            chat: pushed,
        } => assert_eq!(pushed.id, chat.id),
        other => panic!("expected the new chat, got {other:?}"),
    }

    let seq = alice.say(chat.id, msg_id(1), b"halo bob").await;
    assert_eq!(seq, Seq(1));
    let received = bob.expect_message().await;
    assert_eq!(received.body, b"halo bob");
    assert_eq!(received.sender, alice_me.id);
    assert_eq!(received.client_msg_id, msg_id(1));
    assert_eq!(received.seq, Seq(1));

    let seq = bob.say(chat.id, msg_id(2), b"halo alice").await;
    assert_eq!(seq, Seq(2));
    let received = alice.expect_message().await;
    assert_eq!(
        (received.body.as_slice(), received.sender, received.seq),
        (&b"halo alice"[..], bob_me.id, Seq(2))
    );
    server.stop().await;
}

#[tokio::test]
async fn creating_the_same_direct_chat_twice_returns_the_same_chat() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let first = alice.direct("bob").await;
    let _pushed = bob.recv().await;
    let second = alice.direct("bob").await;
    assert_eq!(second.id, first.id);
    // From the other side too.
    let from_bob = bob.direct("alice").await;
    assert_eq!(from_bob.id, first.id);
    // Nothing new was pushed for the repeats. Sentinels each repeating session sends after its
    // repeat come next instead: bob's message is alice's next frame, and each one's own copy
    // of a message is the next thing after its Ack.
    let seq = bob.say(first.id, msg_id(1), b"sentinel").await;
    assert_eq!(alice.expect_message().await.seq, seq);
    let seq = alice.say(first.id, msg_id(2), b"sentinel").await;
    assert_eq!(bob.expect_message().await.seq, seq);
    server.stop().await;
}

#[tokio::test]
async fn a_group_message_reaches_every_member_and_every_tab() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let (mut carol, _, _) = server.signed_up("carol").await;
    let mut carol_tab2 = server.logged_in("carol").await;

    let group = alice
        .group("  Trip to Bali ", &["bob", "carol", "bob"])
        .await;
    assert_eq!(group.kind, ChatKind::Group);
    assert_eq!(group.title, "Trip to Bali", "the title is trimmed");
    assert_eq!(
        group.members.len(),
        3,
        "creator included, duplicates ignored"
    );
    // Every member's every tab is pushed the group, then its first message: the line saying
    // who created it.
    let created = SystemEvent::Created {
        by: alice_me.clone(),
        title: "Trip to Bali".into(),
    };
    for member in [&mut bob, &mut carol, &mut carol_tab2] {
        assert!(matches!(
            member.recv().await,
            ServerFrame::Chat { request: None, chat } if chat.id == group.id
        ));
        let (line, event) = member.expect_line(group.id).await;
        assert_eq!((line.seq, line.sender), (Seq(1), alice_me.id));
        assert_eq!(event, created);
    }

    let seq = alice.say(group.id, msg_id(7), b"selamat pagi").await;
    assert_eq!(seq, Seq(2));
    for member in [&mut bob, &mut carol, &mut carol_tab2] {
        let message = member.expect_message().await;
        assert_eq!(
            (message.chat_id, message.seq, message.body.as_slice()),
            (group.id, seq, &b"selamat pagi"[..])
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn chat_creation_is_checked() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let refusal = |frame: ServerFrame| match frame {
        ServerFrame::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    };
    let cases = [
        (
            NewChat::Direct {
                with: username("alice"),
            },
            ErrorCode::CannotChatWithSelf,
        ),
        (
            NewChat::Direct {
                with: username("nobody"),
            },
            ErrorCode::NoSuchUser,
        ),
        (
            NewChat::Group {
                title: "   ".into(),
                members: vec![username("bob")],
            },
            ErrorCode::InvalidTitle,
        ),
        (
            NewChat::Group {
                title: "x".repeat(MAX_TITLE_CHARS + 1),
                members: vec![username("bob")],
            },
            ErrorCode::InvalidTitle,
        ),
        (
            NewChat::Group {
                title: "Friends".into(),
                members: vec![username("bob"), username("nobody")],
            },
            ErrorCode::NoSuchUser,
        ),
    ];
    for (chat, expected) in cases {
        assert_eq!(refusal(alice.create_chat(chat).await), expected);
    }
    server.stop().await;
}

#[tokio::test]
async fn adding_a_member_updates_every_member() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let (mut carol, carol_me, _) = server.signed_up("carol").await;
    let group = alice.group("Team", &["bob"]).await;
    assert_eq!(bob.expect_pushed_chat().await.id, group.id);
    assert!(matches!(
        bob.expect_line(group.id).await.1,
        SystemEvent::Created { .. }
    ));

    let request = alice.request_id();
    alice
        .send(&ClientFrame::AddMember {
            request,
            chat_id: group.id,
            username: username("carol"),
        })
        .await;
    match alice.recv().await {
        ServerFrame::Chat {
            request: Some(answered),
            chat,
        } => {
            assert_eq!(answered, request);
            assert!(chat.members.contains(&carol_me));
        }
        other => panic!("expected the updated chat, got {other:?}"),
    }
    // The change is message 2 of the group, after the Created line: the requester gets it
    // after her answer, every other member — the new one included — after the changed chat.
    let added = SystemEvent::Added {
        by: alice_me.clone(),
        user: carol_me.clone(),
    };
    let (line, event) = alice.expect_line(group.id).await;
    assert_eq!(
        (line.seq, line.sender, event),
        (Seq(2), alice_me.id, added.clone())
    );
    for member in [&mut bob, &mut carol] {
        match member.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => {
                assert_eq!(chat.members.len(), 3);
                assert_eq!(chat.head, Seq(2));
            }
            other => panic!("expected the updated chat, got {other:?}"),
        }
        let (line, event) = member.expect_line(group.id).await;
        assert_eq!(
            (line.seq, line.sender, event),
            (Seq(2), alice_me.id, added.clone())
        );
    }
    // The new member gets the group's messages from now on.
    bob.say(group.id, msg_id(1), b"welcome carol").await;
    assert_eq!(carol.expect_message().await.body, b"welcome carol");
    server.stop().await;
}

#[tokio::test]
async fn adding_a_member_is_checked() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let (mut carol, _, _) = server.signed_up("carol").await;
    let direct = alice.direct("bob").await;
    let _pushed = bob.recv().await;
    // Alice's own Created line is read by `group`: her next frames are the answers below.
    let group = alice.group("Team", &["bob"]).await;
    assert_eq!(bob.expect_pushed_chat().await.id, group.id);
    bob.expect_line(group.id).await;

    assert_eq!(
        refused_add(&mut alice, direct.id, "carol").await,
        ErrorCode::NotAGroup
    );
    assert_eq!(
        refused_add(&mut bob, group.id, "carol").await,
        ErrorCode::NotAdmin,
        "only the group's admin, its creator, adds"
    );
    assert_eq!(
        refused_add(&mut alice, group.id, "bob").await,
        ErrorCode::AlreadyMember
    );
    assert_eq!(
        refused_add(&mut alice, group.id, "nobody").await,
        ErrorCode::NoSuchUser
    );
    // A stranger cannot add anyone, nor learn whether the group exists.
    assert_eq!(
        refused_add(&mut carol, group.id, "carol").await,
        ErrorCode::NoSuchChat
    );
    server.stop().await;
}

async fn refused_add(
    client: &mut crate::support::Client,
    chat: merpati_protocol::ChatId,
    name: &str,
) -> ErrorCode {
    let answer = client
        .request(|request| ClientFrame::AddMember {
            request,
            chat_id: chat,
            username: username(name),
        })
        .await;
    match answer {
        ServerFrame::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}
