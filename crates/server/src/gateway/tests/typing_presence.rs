//! Typing and presence over real sessions: who hears that someone types, and what a watcher
//! is told of an account's presence as it comes and goes, hides it or blocks; and the
//! privacy settings, which are the account's whichever session chose them.

use merpati_protocol::{Presence, UserId};

use super::*;

fn typing(chat_id: ChatId) -> ClientFrame {
    ClientFrame::Typing { chat_id }
}

fn watch(user: Option<UserId>) -> ClientFrame {
    ClientFrame::WatchPresence { user }
}

/// Reads a presence; whose and which.
async fn presence(peer: &mut Peer) -> (UserId, Presence) {
    match peer.next_frame().await {
        ServerFrame::Presence { user, presence } => (user, presence),
        other => panic!("expected a presence, got {other:?}"),
    }
}

#[tokio::test]
async fn typing_reaches_the_other_members_once_per_interval_and_not_those_who_block_the_typist() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let (mut carol, _, _) = server.sign_up("carol").await;
    let group = create_group(&mut alice, "Trip", &["bob", "carol"]).await.id;
    for peer in [&mut bob, &mut carol] {
        pushed_chat(peer).await;
        line(peer).await;
    }
    carol.write(&ClientFrame::SetBlocked {
        request: RequestId(1),
        user: alice_me.id,
        blocked: true,
    });
    assert!(matches!(
        carol.next_frame().await,
        ServerFrame::BlockList { .. }
    ));

    alice.write(&typing(group));
    alice.write(&typing(group));
    assert_eq!(
        bob.next_frame().await,
        ServerFrame::Typing {
            chat_id: group,
            user: alice_me.id
        }
    );
    // The second, within the interval, was dropped; carol heard neither; nor did alice.
    let next = say(&mut alice, group, 1).await;
    for peer in [&mut bob, &mut carol] {
        assert_eq!(delivered(peer).await.seq, next);
    }
}

#[tokio::test]
async fn typing_right_after_a_message_reaches_the_others_within_the_interval() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;

    alice.write(&typing(chat));
    let typed = ServerFrame::Typing {
        chat_id: chat,
        user: alice_me.id,
    };
    assert_eq!(bob.next_frame().await, typed);
    let first = say(&mut alice, chat, 1).await;
    assert_eq!(delivered(&mut bob).await.seq, first);
    // The message ended the typing bob was shown: alice typing on is news at once, though
    // the interval since her first `Typing` has not passed. A second message is the sentinel.
    alice.write(&typing(chat));
    let second = say(&mut alice, chat, 2).await;
    assert_eq!(bob.next_frame().await, typed);
    assert_eq!(delivered(&mut bob).await.seq, second);
}

#[tokio::test]
async fn typing_in_a_stranger_chat_is_refused() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (_bob, _, _) = server.sign_up("bob").await;
    let (mut mallory, _, _) = server.sign_up("mallory").await;
    let chat = create_direct(&mut alice, "bob").await;

    mallory.write(&typing(chat));
    assert_eq!(refused(&mut mallory).await, (None, ErrorCode::NoSuchChat));
}

/// The member list the fan-out caches for `chat`, in the order of the ids.
fn cached_members(server: &TestGateway, chat: ChatId) -> Option<Vec<UserId>> {
    let mut members = server.gateway.fanout.members().cached(chat)?.ids().to_vec();
    members.sort_unstable();
    Some(members)
}

/// The member lists the fan-out caches are for chats someone in them asked about: ids a
/// stranger makes up, or a chat it is not in, leave the cache as it was — past its size the
/// cache starts over, and every message's fan-out would read its members from storage again.
#[tokio::test]
async fn a_strangers_typing_and_receipts_cache_no_member_list() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    let (mut mallory, _, _) = server.sign_up("mallory").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    say(&mut alice, chat, 1).await;
    delivered(&mut bob).await;
    assert_eq!(
        cached_members(&server, chat),
        Some(vec![alice_me.id, bob_me.id])
    );
    // Forgotten, as after the cache started over: the stranger's look-up reads storage.
    server.gateway.fanout.members().forget(chat);

    let unknown: Vec<ChatId> = (1_000..1_050).map(ChatId).collect();
    for &id in unknown.iter().chain([&chat]) {
        for frame in [
            typing(id),
            ClientFrame::MarkRead {
                chat_id: id,
                seq: Seq(1),
            },
            ClientFrame::MarkDelivered {
                chat_id: id,
                seq: Seq(1),
            },
        ] {
            mallory.write(&frame);
            assert_eq!(refused(&mut mallory).await, (None, ErrorCode::NoSuchChat));
        }
    }
    for &id in unknown.iter().chain([&chat]) {
        assert_eq!(cached_members(&server, id), None, "{id:?}");
    }
    // A member's own look-up caches the list again.
    alice.write(&typing(chat));
    assert_eq!(
        bob.next_frame().await,
        ServerFrame::Typing {
            chat_id: chat,
            user: alice_me.id
        }
    );
    assert_eq!(
        cached_members(&server, chat),
        Some(vec![alice_me.id, bob_me.id])
    );
}

#[tokio::test]
async fn a_watcher_is_answered_at_once_and_told_when_the_last_session_closes_and_one_returns() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    let (bob_tab, _) = server.log_in("bob").await;

    alice.write(&watch(Some(bob_me.id)));
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Online));
    // One of two sessions closing changes nothing; the last one does.
    bob_tab.hang_up().await;
    bob.hang_up().await;
    let (user, gone) = presence(&mut alice).await;
    let Presence::LastSeen { at_ms } = gone else {
        panic!("expected LastSeen, got {gone:?}");
    };
    assert!(user == bob_me.id && at_ms > 0);
    // Asked again, the time is the same, stored or about to be.
    alice.write(&watch(Some(bob_me.id)));
    assert_eq!(presence(&mut alice).await, (bob_me.id, gone));

    let (_bob, _) = server.log_in("bob").await;
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Online));
    // After `None`, nothing more is pushed.
    alice.write(&watch(None));
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn presence_is_hidden_when_either_hides_it_or_one_blocks_the_other() {
    let server = TestGateway::start();
    let (mut alice, alice_me, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    alice.write(&watch(Some(bob_me.id)));
    assert_eq!(presence(&mut alice).await.1, Presence::Online);

    // Bob hides his presence: the watcher is told at once.
    set_privacy(&mut bob, true, false).await;
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Hidden));
    // Leaving and coming back is then not pushed at all: a push alone would tell.
    let (bob_tab, _) = server.log_in("bob").await;
    bob_tab.hang_up().await;
    set_privacy(&mut bob, true, true).await;
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Online));

    // Alice hiding her own presence hides everyone else's from her.
    set_privacy(&mut alice, true, false).await;
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Hidden));
    set_privacy(&mut alice, true, true).await;
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Online));

    // A block hides it both ways.
    bob.write(&watch(Some(alice_me.id)));
    assert_eq!(presence(&mut bob).await, (alice_me.id, Presence::Online));
    bob.write(&ClientFrame::SetBlocked {
        request: RequestId(1),
        user: alice_me.id,
        blocked: true,
    });
    assert!(matches!(
        bob.next_frame().await,
        ServerFrame::BlockList { .. }
    ));
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Hidden));
    assert_eq!(presence(&mut bob).await, (alice_me.id, Presence::Hidden));
    alice.write(&watch(Some(bob_me.id)));
    assert_eq!(presence(&mut alice).await, (bob_me.id, Presence::Hidden));
}

#[tokio::test]
async fn only_someone_sharing_a_direct_chat_can_be_watched() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, bob_me, _) = server.sign_up("bob").await;
    create_group(&mut alice, "Trip", &["bob"]).await;
    pushed_chat(&mut bob).await;

    alice.write(&watch(Some(bob_me.id)));
    assert_eq!(refused(&mut alice).await, (None, ErrorCode::NoSuchChat));
    alice.write(&watch(Some(UserId(9_999))));
    assert_eq!(refused(&mut alice).await, (None, ErrorCode::NoSuchChat));
}

#[tokio::test]
async fn privacy_chosen_in_one_session_reaches_the_others_and_every_sync() {
    let server = TestGateway::start();
    let (mut phone, _, _) = server.sign_up("alice").await;
    let (mut laptop, _) = server.log_in("alice").await;

    set_privacy(&mut phone, false, false).await;
    // The laptop holds them too, so that it does not put back what it held before.
    assert_eq!(
        laptop.next_frame().await,
        ServerFrame::Privacy {
            share_read_receipts: false,
            share_presence: false,
        }
    );
    // Sent again unchanged: answered, and nobody else is told (the laptop's next frames are
    // its sync's answer, with the one `Privacy` of the sync).
    set_privacy(&mut phone, false, false).await;
    laptop.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    let mut told = 0;
    loop {
        match laptop.next_frame().await {
            ServerFrame::SyncDone => break,
            ServerFrame::Privacy { .. } => told += 1,
            ServerFrame::BlockList { .. } => {}
            other => panic!("expected the answer to Sync, got {other:?}"),
        }
    }
    assert_eq!(told, 1);

    // A session that was away learns them in its sync.
    let (mut tablet, _) = server.log_in("alice").await;
    tablet.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    assert_eq!(
        tablet.next_frame().await,
        ServerFrame::Privacy {
            share_read_receipts: false,
            share_presence: false,
        }
    );
}
