//! What a sync reads of an account's chats: every chat's head and where the account joined it
//! at once, then the chats with their members a page at a time, by id; and which accounts
//! asked about share a chat with it (whose keys it may have).

use merpati_protocol::ChatId;

use super::*;

/// The ids of `chats`, in the order read.
fn ids(chats: &[ChatSnapshot]) -> Vec<ChatId> {
    chats.iter().map(|chat| chat.id).collect()
}

/// Every chat of `account`, read `limit` at a time as a sync reads them; the pages.
async fn pages(storage: &Storage, account: UserId, limit: u32) -> Vec<Vec<ChatSnapshot>> {
    let mut pages = Vec::new();
    let mut after = ChatId(0);
    loop {
        let page = storage.chats_of(account, after, limit).await.unwrap();
        assert!(
            page.len() <= limit as usize,
            "a page holds at most its limit"
        );
        let Some(last) = page.last() else {
            return pages;
        };
        assert!(
            page.iter().all(|chat| chat.id > after),
            "a page holds only chats past its cursor"
        );
        after = last.id;
        pages.push(page);
    }
}

pub(super) async fn an_accounts_chats_come_a_page_at_a_time_in_order_each_once(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    let mut hers = Vec::new();
    for other in [&bob, &carol] {
        hers.push(
            storage
                .create_direct(alice.id, other.id)
                .await
                .unwrap()
                .0
                .id,
        );
    }
    // A chat of others' between hers is not hers to read.
    storage.create_direct(bob.id, carol.id).await.unwrap();
    let group = storage
        .create_group(bob.clone(), "Trip".into(), vec![alice.id, carol.id])
        .await
        .unwrap();
    hers.push(group.chat.id);
    hers.push(storage.create_direct(dave.id, alice.id).await.unwrap().0.id);
    let group = storage
        .create_group(alice.clone(), "Work".into(), vec![dave.id])
        .await
        .unwrap();
    hers.push(group.chat.id);
    append(storage, group.chat.id, 1, alice.id, b"hello".to_vec()).await;

    let joined = storage.chats_joined(alice.id).await.unwrap();
    assert_eq!(joined.iter().map(|c| c.chat).collect::<Vec<_>>(), hers);
    let pages = pages(storage, alice.id, 2).await;
    assert_eq!(
        pages.iter().map(|page| page.len()).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    let chats: Vec<ChatSnapshot> = pages.into_iter().flatten().collect();
    assert_eq!(ids(&chats), hers, "by id, none missed or repeated");
    for (chat, light) in chats.iter().zip(&joined) {
        assert_eq!(chat.head, light.head);
        let me = chat.member(alice.id).expect("each is hers");
        assert_eq!(me.joined_seq, light.joined_seq);
    }
    // Each with all its members, as one chat read on its own.
    for chat in &chats {
        let alone = storage.chat(chat.id).await.unwrap().unwrap();
        assert_eq!(chat.members_joined(), alone.members_joined());
    }
    assert_eq!(
        chats[2].members.len(),
        3,
        "the trip has bob, alice and carol"
    );
    assert_eq!(chats[4].head, Seq(2), "the work group's line and hello");
    // One page holding them all reads the same.
    assert_eq!(
        ids(&storage.chats_of(alice.id, ChatId(0), 99).await.unwrap()),
        hers
    );
}

pub(super) async fn a_chat_joined_or_left_between_pages_counts_only_past_the_cursor(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let early = storage
        .create_group(bob.clone(), "Early".into(), vec![carol.id])
        .await
        .unwrap()
        .chat
        .id;
    let first = storage.create_direct(alice.id, bob.id).await.unwrap().0.id;
    let second = storage
        .create_direct(alice.id, carol.id)
        .await
        .unwrap()
        .0
        .id;
    let left = storage
        .create_group(alice.clone(), "Left".into(), vec![bob.id])
        .await
        .unwrap()
        .chat
        .id;
    let kept = storage
        .create_group(bob.clone(), "Kept".into(), vec![alice.id])
        .await
        .unwrap()
        .chat
        .id;
    let page = storage.chats_of(alice.id, ChatId(0), 2).await.unwrap();
    assert_eq!(ids(&page), [first, second]);

    // Between pages: she leaves a chat past the cursor, joins one before it and one past it,
    // and carol blocks her.
    storage
        .remove_member(left, alice.id, alice.id)
        .await
        .unwrap();
    storage
        .add_member(early, bob.id, alice.clone())
        .await
        .unwrap();
    let late = storage
        .create_group(carol.clone(), "Late".into(), vec![alice.id])
        .await
        .unwrap()
        .chat
        .id;
    storage.set_blocked(bob.id, alice.id, true).await.unwrap();

    let rest = storage.chats_of(alice.id, second, 2).await.unwrap();
    assert_eq!(
        ids(&rest),
        [kept, late],
        "the chat she left is gone, the one joined before the cursor is not read again"
    );
    assert_eq!(
        rest[0].blocks,
        [(bob.id, alice.id)],
        "the page reads its own blocks"
    );
    assert!(rest[1].blocks.is_empty(), "bob is not in the late group");
    assert!(
        storage
            .chats_of(alice.id, late, 2)
            .await
            .unwrap()
            .is_empty()
    );
    // From the start, the chat she joined before the cursor is there; its block too.
    let all = storage.chats_of(alice.id, ChatId(0), 9).await.unwrap();
    assert_eq!(ids(&all), [early, first, second, kept, late]);
    assert_eq!(all[0].blocks, [(bob.id, alice.id)]);
    assert_eq!(all[1].blocks, [(bob.id, alice.id)]);
    assert!(
        all[2].blocks.is_empty(),
        "bob is not in her chat with carol"
    );
}

pub(super) async fn the_keys_asked_for_are_of_partners_and_oneself_only(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    storage.create_direct(alice.id, bob.id).await.unwrap();
    storage.create_direct(bob.id, carol.id).await.unwrap();
    let asked = vec![dave.id, bob.id, alice.id, carol.id, UserId(9_999)];
    assert_eq!(
        storage.partners_among(alice.id, asked).await.unwrap(),
        vec![bob.id, alice.id],
        "bob shares a chat with her, and she is herself; carol and dave share none"
    );
}
