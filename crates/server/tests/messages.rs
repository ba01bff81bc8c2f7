//! Sending, acknowledging and delivering messages; paging, sync and read positions.

use merpati_protocol::{
    ChatId, ClientFrame, Epoch, ErrorCode, MAX_BODY_BYTES, MAX_FRAME_BYTES, Seq, ServerFrame,
};

use crate::support::{Client, TestServer, msg_id};

/// Alice and Bob, signed in, with a 1:1 chat (Bob has read the push).
async fn pair(server: &TestServer) -> (Client, Client, ChatId) {
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await;
    let _pushed = bob.recv().await;
    (alice, bob, chat.id)
}

#[tokio::test]
async fn a_resent_message_is_acked_with_the_same_seq_and_stored_once() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, chat) = pair(&server).await;

    let first = alice.say(chat, msg_id(1), b"once").await;
    assert_eq!(bob.expect_message().await.seq, first);

    // The ack was "lost": the client sends the same message again.
    let again = alice.send_text(chat, msg_id(1), b"once").await;
    assert_eq!(again, first);

    // The next message gets the next seq: the resend used none. It is also the sentinel: the
    // resend delivered nothing, so its copies are the next frames both sides receive.
    let next = alice.say(chat, msg_id(2), b"twice").await;
    assert_eq!(next, Seq(first.0 + 1));
    assert_eq!(bob.expect_message().await.seq, next);

    assert_eq!(bob.fetch(chat, 0, 100).await, (vec![1, 2], false));
    server.stop().await;
}

#[tokio::test]
async fn a_resend_from_a_new_connection_is_not_duplicated() {
    let server = TestServer::start().await;
    let (mut alice, _bob, chat) = pair(&server).await;
    let seq = alice.say(chat, msg_id(9), b"hello").await;
    drop(alice);
    let mut alice = server.logged_in("alice").await;
    assert_eq!(alice.send_text(chat, msg_id(9), b"hello").await, seq);
    assert_eq!(alice.fetch(chat, 0, 100).await, (vec![seq.0], false));
    server.stop().await;
}

#[tokio::test]
async fn a_resend_whose_ack_was_lost_is_acked_even_after_the_other_person_blocked_the_sender() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    let first = alice.say(chat, msg_id(1), b"stored").await;
    assert_eq!(bob.expect_message().await.seq, first);

    // The Ack was lost with the connection; meanwhile Bob blocks Alice.
    drop(alice);
    let answer = bob
        .request(|request| ClientFrame::SetBlocked {
            request,
            user: alice_me.id,
            blocked: true,
        })
        .await;
    assert!(
        matches!(answer, ServerFrame::BlockList { .. }),
        "{answer:?}"
    );

    // The resend is the message Bob has: acknowledged as stored, with its first seq, and not
    // delivered again. A new message is refused, as a blocked sender's is.
    let mut alice = server.logged_in("alice").await;
    assert_eq!(alice.send_text(chat, msg_id(1), b"stored").await, first);
    alice
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(2),
            body: b"new".to_vec(),
            attachment: None,
        })
        .await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::SendFailed {
            chat_id: chat,
            client_msg_id: msg_id(2),
            code: ErrorCode::Blocked
        }
    );
    bob.expect_nothing_before_a_sentinel().await;
    assert_eq!(bob.fetch(chat, 0, 100).await, (vec![first.0], false));
    server.stop().await;
}

#[tokio::test]
async fn sending_to_a_chat_one_is_not_in_fails() {
    let server = TestServer::start().await;
    let (_alice, _bob, chat) = pair(&server).await;
    let (mut mallory, _, _) = server.signed_up("mallory").await;
    mallory
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(1),
            body: b"let me in".to_vec(),
            attachment: None,
        })
        .await;
    assert_eq!(
        mallory.recv().await,
        ServerFrame::SendFailed {
            chat_id: chat,
            client_msg_id: msg_id(1),
            code: ErrorCode::NoSuchChat
        }
    );
    // Nor can they read it.
    mallory
        .send(&ClientFrame::Fetch {
            chat_id: chat,
            after: Seq(0),
            limit: 10,
        })
        .await;
    assert!(matches!(
        mallory.recv().await,
        ServerFrame::Error {
            request: None,
            code: ErrorCode::NoSuchChat,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_as_too_large() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, chat) = pair(&server).await;
    alice
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(1),
            body: vec![7; MAX_BODY_BYTES + 1],
            attachment: None,
        })
        .await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::SendFailed {
            chat_id: chat,
            client_msg_id: msg_id(1),
            code: ErrorCode::MessageTooLarge
        }
    );
    // A body of exactly the limit is fine; and, as the sentinel, the refused one reached no
    // one: this one is bob's next frame.
    alice.say(chat, msg_id(2), &vec![7; MAX_BODY_BYTES]).await;
    assert_eq!(bob.expect_message().await.body.len(), MAX_BODY_BYTES);
    server.stop().await;
}

#[tokio::test]
async fn history_pages_backwards_and_fetch_forwards() {
    let server = TestServer::start().await;
    let (mut alice, _bob, chat) = pair(&server).await;
    for n in 1..=25 {
        alice.say(chat, msg_id(n), format!("m{n}").as_bytes()).await;
    }
    assert_eq!(
        alice.history(chat, 26, 10).await,
        ((16..=25).collect(), true)
    );
    assert_eq!(
        alice.history(chat, 16, 10).await,
        ((6..=15).collect(), true)
    );
    assert_eq!(alice.history(chat, 6, 10).await, ((1..=5).collect(), false));
    assert_eq!(alice.history(chat, 1, 10).await, (vec![], false));

    assert_eq!(alice.fetch(chat, 20, 3).await, (vec![21, 22, 23], true));
    assert_eq!(alice.fetch(chat, 23, 10).await, (vec![24, 25], false));
    assert_eq!(alice.fetch(chat, 25, 10).await, (vec![], false));
    server.stop().await;
}

#[tokio::test]
async fn pages_never_exceed_the_frame_limit() {
    let server = TestServer::start().await;
    let (mut alice, _bob, chat) = pair(&server).await;
    for n in 1..=8 {
        alice.say(chat, msg_id(n), &vec![1; MAX_BODY_BYTES]).await;
    }
    // Eight full bodies do not fit one frame: the page is cut, and says more remain.
    alice
        .send(&ClientFrame::Fetch {
            chat_id: chat,
            after: Seq(0),
            limit: 100,
        })
        .await;
    let message = alice.ws_next_binary().await;
    assert!(message.len() <= MAX_FRAME_BYTES);
    match merpati_protocol::decode::<ServerFrame>(&message).unwrap() {
        ServerFrame::Page { messages, more, .. } => {
            assert!(more);
            assert!(!messages.is_empty() && messages.len() < 8);
            assert_eq!(messages[0].seq, Seq(1));
        }
        other => panic!("expected a page, got {other:?}"),
    }
    server.stop().await;
}

impl Client {
    async fn ws_next_binary(&mut self) -> Vec<u8> {
        match self.next_message().await {
            Some(tokio_tungstenite::tungstenite::Message::Binary(bytes)) => bytes.to_vec(),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sync_with_positions_sends_exactly_what_is_missing() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, direct) = pair(&server).await;
    let _carol = server.signed_up("carol").await;
    // Each group's message 1 is the line saying it was created; bob reads both pushes.
    let group = alice.group("Three", &["bob", "carol"]).await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, group);
    assert_eq!(bob.expect_line(group).await.0.seq, Seq(1));
    let quiet = alice.group("Quiet", &["bob"]).await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, quiet);
    assert_eq!(bob.expect_line(quiet).await.0.seq, Seq(1));
    for n in 1..=5 {
        alice.say(direct, msg_id(n), b"d").await;
    }
    for n in 10..13 {
        alice.say(group, msg_id(n), b"g").await;
    }
    let epoch = bob.epoch();
    drop(bob);

    // Bob's device holds 1..=3 of the direct chat and all of the group (its line and 2..=4),
    // and nothing of the quiet group, whose only message is its line.
    let mut bob = server.logged_in("bob").await;
    bob.send(&ClientFrame::Sync {
        epoch: Some(epoch),
        positions: vec![(direct, Seq(3)), (group, Seq(4))],
    })
    .await;
    let mut chats = Vec::new();
    for _ in 0..3 {
        match bob.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => chats.push((chat.id, chat.head)),
            other => panic!("expected a chat, got {other:?}"),
        }
    }
    chats.sort();
    let mut expected = vec![(direct, Seq(5)), (group, Seq(4)), (quiet, Seq(1))];
    expected.sort();
    assert_eq!(chats, expected);
    // A page for each chat with news, in an order the protocol leaves open.
    let mut pages = Vec::new();
    for _ in 0..2 {
        match bob.recv().await {
            ServerFrame::Page {
                chat_id,
                messages,
                more,
            } => pages.push((
                chat_id,
                messages
                    .iter()
                    .map(|message| message.seq.0)
                    .collect::<Vec<_>>(),
                more,
            )),
            other => panic!("expected a page, got {other:?}"),
        }
    }
    pages.sort();
    let mut expected = vec![(direct, vec![4, 5], false), (quiet, vec![1], false)];
    expected.sort();
    assert_eq!(pages, expected);
    bob.expect_sync_end(vec![]).await;
    server.stop().await;
}

#[tokio::test]
async fn sync_without_positions_sends_the_newest_page_of_each_chat() {
    let server = TestServer::start().await;
    let (mut alice, _bob, chat) = pair(&server).await;
    for n in 1..=120 {
        alice.say(chat, msg_id(n), b"x").await;
    }
    let mut bob = server.logged_in("bob").await;
    bob.send(&ClientFrame::Sync {
        epoch: None,
        positions: vec![],
    })
    .await;
    assert!(matches!(bob.recv().await, ServerFrame::Chat { .. }));
    assert_eq!(bob.expect_page(chat).await, ((21..=120).collect(), false));
    bob.expect_sync_end(vec![]).await;
    server.stop().await;
}

#[tokio::test]
async fn sync_after_an_epoch_change_ignores_the_positions() {
    let server = TestServer::start().await;
    let (mut alice, bob, chat) = pair(&server).await;
    for n in 1..=4 {
        alice.say(chat, msg_id(n), b"x").await;
    }
    let stale = Epoch(bob.epoch().0 ^ 1);
    drop(bob);
    let mut bob = server.logged_in("bob").await;
    bob.send(&ClientFrame::Sync {
        epoch: Some(stale),
        positions: vec![(chat, Seq(4))],
    })
    .await;
    assert!(matches!(bob.recv().await, ServerFrame::Chat { .. }));
    // Seq 4 of another database means nothing here: Bob gets the newest page again.
    assert_eq!(bob.expect_page(chat).await, (vec![1, 2, 3, 4], false));
    bob.expect_sync_end(vec![]).await;
    server.stop().await;
}

#[tokio::test]
async fn mark_read_moves_forward_and_tells_the_other_person_and_ones_other_sessions() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let mut bob_tab = server.logged_in("bob").await;
    let bob_id = bob_me.id;
    let chat = alice.direct("bob").await.id;
    for tab in [&mut bob, &mut bob_tab] {
        assert_eq!(tab.expect_pushed_chat().await.id, chat);
    }
    for n in 1..=3 {
        alice.say(chat, msg_id(n), b"x").await;
        for tab in [&mut bob, &mut bob_tab] {
            tab.expect_message().await;
        }
    }
    bob.mark_read(chat, 2).await;
    // Reading implies holding: delivery moves with it.
    let (chat_id, read) = alice.expect_receipt().await;
    assert_eq!(chat_id, chat);
    assert_eq!(
        (read.user, read.delivered, read.read),
        (bob_id, Seq(2), Seq(2))
    );
    assert!(read.read_at_ms > 0, "when it was read");
    assert_eq!(bob_tab.expect_receipt().await, (chat, read));

    // Going back changes nothing; going past the head stops at the head.
    bob.mark_read(chat, 1).await;
    bob.mark_read(chat, 99).await;
    let (chat_id, to_head) = alice.expect_receipt().await;
    assert_eq!(chat_id, chat);
    assert_eq!(
        (to_head.user, to_head.delivered, to_head.read),
        (bob_id, Seq(3), Seq(3))
    );
    assert!(to_head.read_at_ms >= read.read_at_ms);
    assert_eq!(bob_tab.expect_receipt().await, (chat, to_head));
    // The session that sent them was pushed neither: a message alice sends after she was
    // pushed the second is the next frame of bob's session, as it is of his other tab.
    let seq = alice.say(chat, msg_id(4), b"sentinel").await;
    for tab in [&mut bob, &mut bob_tab] {
        assert_eq!(tab.expect_message().await.seq, seq);
    }

    // Bob's chat list now says he has read everything up to then.
    let synced = bob.sync(None, vec![]).await;
    let info = synced.chat(chat);
    assert_eq!((info.head, info.read), (Seq(4), Seq(3)));
    server.stop().await;
}
