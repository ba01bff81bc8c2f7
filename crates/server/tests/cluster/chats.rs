//! Chats and groups made or changed on one process reach their members on another: a group
//! made, joined and left; a chat, or a member's removal, whose push was lost and which a head
//! check brings instead; and members removed or added while the other process followed the
//! group no more, which it reads afresh when it follows the group again.

use std::time::Duration;

use merpati_protocol::{ChatId, ClientFrame, RequestId, Seq, ServerFrame};

use super::{Shared, sent};
use crate::support::{Client, msg_id};

/// Reads `client`'s frames until a pushed chat, passing over messages.
async fn until_pushed_chat(client: &mut Client) -> merpati_protocol::ChatInfo {
    loop {
        match client.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => return chat,
            ServerFrame::Message(_) => {}
            other => panic!("expected a pushed chat, got {other:?}"),
        }
    }
}

/// Reads `client`'s frames until the message `body`, passing over other messages (the
/// lines a group change writes) and the chat as changed; its sequence number.
async fn until_message(client: &mut Client, chat: ChatId, body: &str) -> Seq {
    loop {
        match client.recv().await {
            ServerFrame::Message(message) if message.chat_id == chat => {
                if message.body == body.as_bytes() {
                    return message.seq;
                }
            }
            ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected messages of chat {}, got {other:?}", chat.0),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_made_or_changed_on_one_process_reaches_its_members_on_another() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let (mut carol, carol_member, _) = other.signed_up("carol").await;
    let (mut dave, ..) = other.signed_up("dave").await;

    // Made on alice's process: bob and carol, online on the other, are told, and follow it.
    let group = alice.group("Trip", &["bob", "carol"]).await;
    // The group's first line may come just before it (it travels on the chat's subject, the
    // group on each member's): the app, not knowing the chat yet, fetches it after.
    for member in [&mut bob, &mut carol] {
        let pushed = until_pushed_chat(member).await;
        assert_eq!((pushed.id, pushed.head), (group.id, Seq(1)));
    }
    alice.say(group.id, msg_id(1), b"hello").await;
    for member in [&mut bob, &mut carol] {
        assert_eq!(until_message(member, group.id, "hello").await, Seq(2));
    }

    // dave joins there too: he is told, and gets what is said from then on.
    let added = alice
        .request(|request| merpati_protocol::ClientFrame::AddMember {
            request,
            chat_id: group.id,
            username: merpati_protocol::Username::parse("dave").unwrap(),
        })
        .await;
    assert!(matches!(added, ServerFrame::Chat { .. }), "{added:?}");
    // Each is told, and gets the line the change wrote, in whichever order the two
    // subjects' messages meet on their process.
    for member in [&mut bob, &mut carol, &mut dave] {
        assert_eq!(until_pushed_chat(member).await.members.len(), 4);
    }
    sent(&mut alice, group.id, 2).await;
    for member in [&mut alice, &mut bob, &mut carol, &mut dave] {
        until_message(member, group.id, "m2").await;
    }

    // carol is taken out there: once she is told, nothing more of the group reaches her.
    let removed = alice
        .request(|request| merpati_protocol::ClientFrame::RemoveMember {
            request,
            chat_id: group.id,
            user: carol_member.id,
        })
        .await;
    assert!(matches!(removed, ServerFrame::Chat { .. }), "{removed:?}");
    loop {
        match carol.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => {
                assert!(
                    !chat
                        .members
                        .iter()
                        .any(|member| member.id == carol_member.id)
                );
                break;
            }
            ServerFrame::Message(_) => {}
            other => panic!("expected carol's removal, got {other:?}"),
        }
    }
    sent(&mut alice, group.id, 3).await;
    for member in [&mut bob, &mut dave] {
        until_message(member, group.id, "m3").await;
    }
    carol.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_whose_push_was_lost_reaches_its_member_on_another_process_by_a_head_check() {
    let shared = Shared::start().await;
    // alice's process never pushes to accounts: bob's learns of the chat she makes with him
    // only from the members table, at a head check.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, ..) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(until_pushed_chat(&mut bob).await.id, chat);
    // And his process follows it from then on.
    assert_eq!(sent(&mut alice, chat, 1).await, Seq(1));
    assert_eq!(until_message(&mut bob, chat, "m1").await, Seq(1));
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_on_one_process_whose_news_is_lost_gets_nothing_more_and_is_told_by_a_head_check()
 {
    let shared = Shared::start().await;
    // alice's process never pushes to accounts: the other process learns of carol's removal
    // only from the line it wrote into the group, which comes in order with the messages.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&other.endpoint(), "bob").await;
    let (mut carol, carol_me, _) = Client::signed_up(&other.endpoint(), "carol").await;
    let group = bob.group("Trip", &["alice", "carol"]).await;
    until_pushed_chat(&mut alice).await;
    until_pushed_chat(&mut carol).await;
    let made_admin = bob
        .request(|request| ClientFrame::SetAdmin {
            request,
            chat_id: group.id,
            user: alice_me.id,
            admin: true,
        })
        .await;
    assert!(
        matches!(made_admin, ServerFrame::Chat { .. }),
        "{made_admin:?}"
    );
    sent(&mut alice, group.id, 1).await;
    until_message(&mut carol, group.id, "m1").await;

    let removal = alice.request_id();
    alice
        .send(&ClientFrame::RemoveMember {
            request: removal,
            chat_id: group.id,
            user: carol_me.id,
        })
        .await;
    loop {
        match alice.recv().await {
            ServerFrame::Chat {
                request: Some(request),
                ..
            } if request == removal => break,
            ServerFrame::Message(_) | ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected carol removed, got {other:?}"),
        }
    }
    sent(&mut alice, group.id, 2).await;
    // bob gets it on the other process, so it has delivered everything up to it there…
    let after = until_message(&mut bob, group.id, "m2").await;
    // …and carol, on the same process, got neither the removal's line nor what followed.
    // The push that tells her she was removed is lost: a head check tells her instead, with
    // the group as it now stands (before the sentinel or after it).
    let sentinel = carol.request_id();
    carol
        .send(&ClientFrame::QueryKeys {
            request: sentinel,
            users: Vec::new(),
        })
        .await;
    let (mut answered, mut told) = (false, false);
    while !(answered && told) {
        match carol.recv().await {
            ServerFrame::Keys { request, .. } if request == sentinel => answered = true,
            ServerFrame::Message(message) => assert!(
                message.seq < after && message.body != b"m2",
                "carol got {message:?} after her removal"
            ),
            ServerFrame::Chat {
                request: None,
                chat,
            } if chat.id == group.id => {
                told = chat.members.iter().all(|member| member.id != carol_me.id);
            }
            other => panic!("expected the sentinel and the group without carol, got {other:?}"),
        }
    }
}

/// Sends `change` (a group change of `client`'s) and reads until its answer, passing over
/// the lines it writes and the chats pushed meanwhile.
async fn changed(client: &mut Client, change: impl FnOnce(RequestId) -> ClientFrame) {
    let id = client.request_id();
    client.send(&change(id)).await;
    loop {
        match client.recv().await {
            ServerFrame::Chat {
                request: Some(request),
                ..
            } if request == id => return,
            ServerFrame::Message(_) | ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected the group changed, got {other:?}"),
        }
    }
}

/// Waits until `process` follows no chat (its last session's end let go of them).
async fn until_following_nothing(process: &crate::support::TestServer) {
    for _ in 0..250 {
        if process.metrics().await["merpati_chats_followed"] == 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the process still follows chats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_changed_while_a_process_follows_the_group_no_more_are_read_afresh_when_it_follows_again()
 {
    let shared = Shared::start().await;
    // Head checks a minute apart: no repair of a lost push may tell the other process of the
    // group again; only following it can.
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let (eve, eve_me, _) = one.signed_up("eve").await;
    let (carol, ..) = one.signed_up("carol").await;
    drop((eve, carol));

    // bob's process follows the group, and knows its members, bob typing in it included.
    let group = alice.group("Trip", &["bob", "eve"]).await;
    until_pushed_chat(&mut bob).await;
    alice.say(group.id, msg_id(1), b"hello").await;
    until_message(&mut bob, group.id, "hello").await;
    bob.send(&ClientFrame::Typing { chat_id: group.id }).await;
    assert!(matches!(alice.recv().await, ServerFrame::Typing { .. }));

    // bob leaves: his process follows the group no more, so the lines of what changes next
    // do not reach it.
    drop(bob);
    until_following_nothing(&other).await;
    changed(&mut alice, |request| ClientFrame::RemoveMember {
        request,
        chat_id: group.id,
        user: eve_me.id,
    })
    .await;
    changed(&mut alice, |request| ClientFrame::AddMember {
        request,
        chat_id: group.id,
        username: merpati_protocol::Username::parse("carol").unwrap(),
    })
    .await;

    // eve, carol and bob come back to that process; it follows the group again from its head.
    let mut eve = Client::logged_in(&other.endpoint(), "eve").await;
    eve.sync(None, Vec::new()).await;
    let mut carol = Client::logged_in(&other.endpoint(), "carol").await;
    carol.sync(None, Vec::new()).await;
    let mut bob = Client::logged_in(&other.endpoint(), "bob").await;
    bob.sync(None, Vec::new()).await;

    sent(&mut alice, group.id, 2).await;
    // Handed to bob's and eve's sessions at once, on the same process: eve, removed, got
    // nothing of it.
    until_message(&mut bob, group.id, "m2").await;
    eve.expect_nothing_before_a_sentinel().await;
    // carol, added, gets it live.
    until_message(&mut carol, group.id, "m2").await;
    carol.expect_nothing_before_a_sentinel().await;
}
