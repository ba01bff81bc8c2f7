//! A sync of an account in more chats than a sync reads at once (`CHATS_PAGE`): every chat
//! comes once, by id, before any page, and the chats are read a page at a time as the reader
//! takes them, not all at once.

use merpati_protocol::Member;

use crate::gateway::sync::CHATS_PAGE;

use super::*;

/// `count` new groups of `me` with `other`, made in storage (requests would take as many
/// round trips); their ids, in the order made.
async fn groups(server: &TestGateway, me: &Member, other: &Member, count: u32) -> Vec<ChatId> {
    let mut made = Vec::new();
    for number in 0..count {
        let group = server
            .gateway
            .storage
            .create_group(me.clone(), format!("group {number}"), vec![other.id])
            .await
            .expect("the group is made");
        made.push(group.chat.id);
    }
    made
}

/// Everything a `Sync` with no positions answers, up to `SyncDone`: the chats, then the ids
/// of the chats each page is of.
async fn synced(peer: &mut Peer) -> (Vec<ChatInfo>, Vec<ChatId>) {
    peer.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    let (mut chats, mut pages) = (Vec::new(), Vec::new());
    loop {
        match peer.next_frame().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => {
                assert!(pages.is_empty(), "every chat comes before any page");
                chats.push(chat);
            }
            ServerFrame::Page { chat_id, .. } => pages.push(chat_id),
            ServerFrame::Privacy { .. } | ServerFrame::BlockList { request: None, .. } => {}
            ServerFrame::SyncDone => return (chats, pages),
            other => panic!("expected the answer to Sync, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_sync_of_more_chats_than_a_page_writes_each_chat_once_by_id_then_their_pages() {
    let server = TestGateway::start();
    let (mut alice, me, _) = server.sign_up("alice").await;
    let (_bob, bob, _) = server.sign_up("bob").await;
    let made = groups(&server, &me, &bob, 2 * CHATS_PAGE + 1).await;

    let (chats, pages) = synced(&mut alice).await;
    let ids: Vec<ChatId> = chats.iter().map(|chat| chat.id).collect();
    assert_eq!(ids, made, "each chat once, by id");
    for (number, chat) in chats.iter().enumerate() {
        assert_eq!(chat.title, format!("group {number}"));
        assert_eq!(chat.members.len(), 2);
        assert_eq!(chat.head, Seq(1), "the line saying it was made");
    }
    assert_eq!(pages, made, "each chat's newest page, in the same order");
}

/// alice in `count` new groups with bob, syncing through a reader with room for one message,
/// who has taken the first chat's frame: the session has written the second and waits.
/// Returns alice's connection, her account, bob's, and the groups in the order made.
async fn a_slow_sync(server: &TestGateway, count: u32) -> (Peer, Member, Member, Vec<ChatId>) {
    let (alice, me, _) = server.sign_up("alice").await;
    alice.hang_up().await;
    let (_bob, bob, _) = server.sign_up("bob").await;
    let made = groups(server, &me, &bob, count).await;
    let (mut alice, _) = server
        .log_in_over(server.connect_with_room(Some(1)), "alice")
        .await;
    alice.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    match alice.next_frame().await {
        ServerFrame::Chat { chat, .. } => assert_eq!(chat.id, made[0]),
        other => panic!("expected the first chat, got {other:?}"),
    }
    (alice, me, bob, made)
}

#[tokio::test]
async fn a_sync_reads_its_chats_a_page_at_a_time_as_a_slow_reader_takes_them() {
    let server = TestGateway::start();
    let (mut alice, me, _, made) = a_slow_sync(&server, CHATS_PAGE + 1).await;
    let last = *made.last().expect("groups were made");

    // The last chat is on the second page: not read yet, so the sync tells it as it is now.
    server
        .gateway
        .storage
        .rename_group(last, me.id, "renamed while the sync waited".into())
        .await
        .expect("the group is renamed");
    let mut chats = Vec::new();
    loop {
        match alice.next_frame().await {
            ServerFrame::Chat { chat, .. } => chats.push(chat),
            ServerFrame::Page { .. } => break,
            other => panic!("expected a chat or the first page, got {other:?}"),
        }
    }
    assert_eq!(chats.len(), made.len() - 1, "every other chat once");
    let told = chats.last().expect("the chats after the first");
    assert_eq!(told.id, last);
    assert_eq!(told.title, "renamed while the sync waited");
    assert_eq!(told.head, Seq(2), "with the line saying so");
    alice.hang_up().await;
}

#[tokio::test]
async fn a_chat_left_or_joined_while_a_sync_waits_for_its_reader_is_not_in_it() {
    let server = TestGateway::start();
    let (mut alice, me, bob, made) = a_slow_sync(&server, CHATS_PAGE + 2).await;
    let left = made[CHATS_PAGE as usize];

    // Past the first page, she leaves one group and is put in a new one: the sync read
    // neither as hers, and their own pushes tell her (here, made in storage, none does).
    let storage = &server.gateway.storage;
    storage
        .remove_member(left, me.id, me.id)
        .await
        .expect("she leaves");
    let joined = groups(&server, &bob, &me, 1).await;
    let mut chats = vec![made[0]];
    let mut pages = Vec::new();
    loop {
        match alice.next_frame().await {
            ServerFrame::Chat { chat, .. } => chats.push(chat.id),
            ServerFrame::Page { chat_id, .. } => pages.push(chat_id),
            ServerFrame::Privacy { .. } | ServerFrame::BlockList { .. } => {}
            ServerFrame::SyncDone => break,
            other => panic!("expected the answer to Sync, got {other:?}"),
        }
    }
    let kept: Vec<ChatId> = made.iter().copied().filter(|&id| id != left).collect();
    assert_eq!(
        chats, kept,
        "not the group she left, nor the one she joined"
    );
    assert_eq!(pages, kept, "no page of either");
    assert!(!chats.contains(&joined[0]));
    alice.hang_up().await;
}

#[tokio::test]
async fn a_page_of_a_chat_the_client_holds_ends_at_the_head_the_sync_read() {
    let server = TestGateway::start();
    let (alice, me, _) = server.sign_up("alice").await;
    alice.hang_up().await;
    let (mut bob_peer, bob, _) = server.sign_up("bob").await;
    let made = groups(&server, &bob, &me, 2).await;
    let storage = &server.gateway.storage;
    let (mut alice, _) = server
        .log_in_over(server.connect_with_room(Some(1)), "alice")
        .await;
    alice.write(&ClientFrame::Sync {
        epoch: Some(storage.epoch()),
        positions: made.iter().map(|&chat| (chat, Seq(0))).collect(),
    });
    match alice.next_frame().await {
        ServerFrame::Chat { chat, .. } => assert_eq!(chat.id, made[0]),
        other => panic!("expected the first chat, got {other:?}"),
    }

    // The session has read both chats and waits for her to take the second's frame: bob takes
    // her out of the second group and writes there.
    storage
        .remove_member(made[1], bob.id, me.id)
        .await
        .expect("she is removed");
    say(&mut bob_peer, made[1], 1).await;
    let mut second_page = None;
    loop {
        match alice.next_frame().await {
            ServerFrame::Page {
                chat_id, messages, ..
            } if chat_id == made[1] => {
                second_page = Some(messages);
            }
            ServerFrame::SyncDone => break,
            // Her frames before it (the chats, the first page, her settings), and what is
            // delivered live meanwhile.
            _ => {}
        }
    }
    let seqs: Vec<Seq> = second_page
        .expect("the second group's page")
        .iter()
        .map(|message| message.seq)
        .collect();
    assert_eq!(
        seqs,
        [Seq(1)],
        "the line that made it, nothing after the head read"
    );
    alice.hang_up().await;
}
