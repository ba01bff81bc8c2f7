//! The conversation in storage: receipts, what each member is told of the others', groups
//! with their admins and history lines, blocks, and when accounts were last seen.

use merpati_protocol::content::{EncryptedBody, SystemEvent};
use merpati_protocol::{ChatKind, MAX_BLOCKED, Presence};

use super::*;

fn line(message: &MessageFrame) -> SystemEvent {
    match EncryptedBody::from_body(&message.body) {
        Some(EncryptedBody::System(event)) => event,
        other => panic!("expected a line written by the server, got {other:?}"),
    }
}

fn admins(chat: &ChatSnapshot) -> Vec<UserId> {
    chat.info_for(chat.members[0].member.id).admins
}

pub(super) async fn receipts_never_move_back_and_reading_raises_delivery(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let mallory = account(storage, "mallory").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    for i in 1..=3u8 {
        append(storage, chat.id, i, alice.id, vec![i]).await;
    }
    let positions = |receipt: Option<Receipt>| receipt.map(|r| (r.delivered.0, r.read.0));

    let moved = storage
        .queue_mark(chat.id, bob.id, Seq(2), Position::Delivered)
        .await
        .unwrap()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.before, Receipt::none(bob.id));
    assert_eq!((moved.now.delivered, moved.now.read), (Seq(2), Seq(0)));
    assert_eq!(
        moved.now.read_at_ms, 0,
        "delivery does not say when it was read"
    );

    let read = mark(storage, chat.id, bob.id, 1, Position::Read)
        .await
        .unwrap();
    assert_eq!((read.delivered, read.read), (Seq(2), Seq(1)));
    assert!(read.read_at_ms > 0);
    assert_eq!(
        mark(storage, chat.id, bob.id, 1, Position::Delivered).await,
        None
    );
    assert_eq!(
        positions(mark(storage, chat.id, bob.id, 99, Position::Read).await),
        Some((3, 3)),
        "clamped to the head, and delivery raised with it"
    );
    let refused = storage
        .queue_mark(chat.id, mallory.id, Seq(1), Position::Read)
        .await
        .unwrap()
        .await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::NoSuchChat);
}

pub(super) async fn a_chat_tells_each_member_the_receipts_the_others_share_with_them(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    let group = storage
        .create_group(
            alice.clone(),
            "Trip".into(),
            vec![bob.id, carol.id, dave.id],
        )
        .await
        .unwrap()
        .chat;
    append(storage, group.id, 1, alice.id, vec![1]).await;
    for member in [&alice, &bob, &carol] {
        mark(storage, group.id, member.id, 2, Position::Read).await;
    }
    let receipts = |chat: &ChatSnapshot, viewer: &Member| -> Vec<(u64, u64, u64)> {
        let info = chat.info_for(viewer.id);
        info.receipts
            .iter()
            .map(|r| (r.user.0, r.delivered.0, r.read.0))
            .collect()
    };
    let chat = storage.chat(group.id).await.unwrap().unwrap();
    assert_eq!(
        receipts(&chat, &dave),
        [(alice.id.0, 2, 2), (bob.id.0, 2, 2), (carol.id.0, 2, 2)],
        "everyone shares by default; dave, with no position, is left out of the others'"
    );
    assert!(!receipts(&chat, &alice).iter().any(|r| r.0 == dave.id.0));

    storage.set_privacy(bob.id, false, true).await.unwrap();
    storage.set_blocked(carol.id, alice.id, true).await.unwrap();
    let chat = storage.chat(group.id).await.unwrap().unwrap();
    assert_eq!(
        receipts(&chat, &alice),
        [(bob.id.0, 2, 0)],
        "bob hides how far he read; carol blocks alice"
    );
    assert_eq!(
        receipts(&chat, &bob),
        [(alice.id.0, 2, 0), (carol.id.0, 2, 0)],
        "who hides their own reads sees no one's"
    );
    assert_eq!(receipts(&chat, &carol), [(bob.id.0, 2, 0)]);
    // The same from the chats an account syncs.
    let synced = storage.chats_of(alice.id, ChatId(0), 9).await.unwrap();
    assert_eq!(receipts(&synced[0], &alice), receipts(&chat, &alice));
}

pub(super) async fn a_group_starts_with_its_creator_as_admin_and_a_line_saying_so(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let created = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id])
        .await
        .unwrap();
    assert_eq!(admins(&created.chat), [alice.id]);
    assert_eq!(created.chat.head, Seq(1));
    assert_eq!(created.lines.len(), 1);
    assert_eq!(
        (created.lines[0].seq, created.lines[0].sender),
        (Seq(1), alice.id)
    );
    assert_eq!(
        line(&created.lines[0]),
        SystemEvent::Created {
            by: alice.clone(),
            title: "Trip".into()
        }
    );
    // The line is in the history like any message.
    let page = storage
        .read_after(created.chat.id, Reader::Member(bob.id), Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(page.messages, created.lines);
    let (direct, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    assert!(admins(&direct).is_empty(), "a 1:1 chat has no admins");
    assert_eq!(direct.head, Seq(0), "nor lines");
}

pub(super) async fn only_admins_add_remove_rename_and_make_admins_but_anyone_leaves(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id, carol.id])
        .await
        .unwrap()
        .chat;
    let code = |result: Result<ChatUpdate, Error>| result.unwrap_err().code();
    let not_admin = ErrorCode::NotAdmin;
    assert_eq!(
        code(storage.add_member(group.id, bob.id, dave.clone()).await),
        not_admin
    );
    assert_eq!(
        code(
            storage
                .remove_member(group.id, bob.id, carol.id)
                .await
                .map(|(u, _)| u)
        ),
        not_admin
    );
    assert_eq!(
        code(storage.rename_group(group.id, bob.id, "Mine".into()).await),
        not_admin
    );
    assert_eq!(
        code(storage.set_admin(group.id, bob.id, bob.id, true).await),
        not_admin
    );

    let promoted = storage
        .set_admin(group.id, alice.id, bob.id, true)
        .await
        .unwrap();
    assert_eq!(admins(&promoted.chat), [alice.id, bob.id]);
    assert_eq!(
        line(&promoted.lines[0]),
        SystemEvent::AdminChanged {
            by: alice.clone(),
            user: bob.clone(),
            admin: true
        }
    );
    let added = storage
        .add_member(group.id, bob.id, dave.clone())
        .await
        .unwrap();
    assert!(added.chat.has_member(dave.id));
    let renamed = storage
        .rename_group(group.id, bob.id, "Ours".into())
        .await
        .unwrap();
    assert_eq!(renamed.chat.title, "Ours");
    let same = storage
        .rename_group(group.id, bob.id, "Ours".into())
        .await
        .unwrap();
    assert!(!same.changed && same.lines.is_empty(), "nothing to tell");
    let (removed, who) = storage
        .remove_member(group.id, bob.id, dave.id)
        .await
        .unwrap();
    assert_eq!(who, dave);
    assert_eq!(
        line(&removed.lines[0]),
        SystemEvent::Removed {
            by: bob.clone(),
            user: dave.clone()
        }
    );
    let (left, _) = storage
        .remove_member(group.id, carol.id, carol.id)
        .await
        .unwrap();
    assert_eq!(
        line(&left.lines[0]),
        SystemEvent::Left {
            user: carol.clone()
        }
    );
    assert_eq!(
        code(storage.set_admin(group.id, alice.id, dave.id, true).await),
        ErrorCode::NotAMember
    );
    // Every change was one line in the history, in order.
    let head = storage.chat(group.id).await.unwrap().unwrap().head;
    assert_eq!(head, Seq(6));
}

pub(super) async fn the_last_admin_leaving_or_stepping_down_makes_the_longest_standing_member_admin(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    // Dave is added first but joins later than carol, who joined with the group.
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![carol.id])
        .await
        .unwrap()
        .chat;
    storage
        .add_member(group.id, alice.id, dave.clone())
        .await
        .unwrap();
    storage
        .add_member(group.id, alice.id, bob.clone())
        .await
        .unwrap();

    let stepped_down = storage
        .set_admin(group.id, alice.id, alice.id, false)
        .await
        .unwrap();
    assert_eq!(admins(&stepped_down.chat), [carol.id]);
    assert_eq!(
        line(&stepped_down.lines[1]),
        SystemEvent::AdminChanged {
            by: carol.clone(),
            user: carol.clone(),
            admin: true
        },
        "the server acted; the line shows the member it made admin"
    );
    // Alice, who stepped down, is still the longest-standing member when carol leaves.
    let (left, _) = storage
        .remove_member(group.id, carol.id, carol.id)
        .await
        .unwrap();
    assert_eq!(left.lines.len(), 2);
    assert_eq!(admins(&left.chat), [alice.id]);
    let (left, _) = storage
        .remove_member(group.id, alice.id, alice.id)
        .await
        .unwrap();
    // Dave joined before bob (or in the same millisecond, and ties go to the lower id).
    let (dave_joined, bob_joined) = (
        left.chat.member(dave.id).unwrap().joined_ms,
        left.chat.member(bob.id).unwrap().joined_ms,
    );
    let eldest = if dave_joined < bob_joined {
        dave.id
    } else {
        bob.id
    };
    assert_eq!(admins(&left.chat), [eldest]);

    // Alone in a group, one stays its admin.
    let solo = storage
        .create_group(alice.clone(), "Notes".into(), vec![])
        .await
        .unwrap()
        .chat;
    let kept = storage
        .set_admin(solo.id, alice.id, alice.id, false)
        .await
        .unwrap();
    assert!(!kept.changed);
    assert_eq!(admins(&kept.chat), [alice.id]);
}

pub(super) async fn a_block_refuses_chats_and_direct_messages_but_not_group_messages(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let (direct, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id])
        .await
        .unwrap()
        .chat;
    assert_eq!(
        storage.set_blocked(bob.id, alice.id, true).await.unwrap(),
        [alice.id]
    );

    let blocked = ErrorCode::Blocked;
    let code = |error: Error| error.code();
    assert_eq!(
        code(storage.create_direct(alice.id, bob.id).await.unwrap_err()),
        blocked
    );
    assert_eq!(
        code(
            storage
                .create_group(alice.clone(), "Again".into(), vec![carol.id, bob.id])
                .await
                .unwrap_err()
        ),
        blocked
    );
    let other = storage
        .create_group(alice.clone(), "Other".into(), vec![carol.id])
        .await
        .unwrap()
        .chat;
    assert_eq!(
        code(
            storage
                .add_member(other.id, alice.id, bob.clone())
                .await
                .unwrap_err()
        ),
        blocked
    );
    let refused = storage
        .queue_append(
            direct.id,
            new_message(1, alice.id, vec![1]),
            AppendFence::default(),
        )
        .await
        .unwrap()
        .await;
    assert_eq!(code(refused.unwrap_err()), blocked);
    // The blocker may still write, and a group's history stays one log for everyone.
    assert_eq!(
        append(storage, direct.id, 2, bob.id, vec![2]).await.seq,
        Seq(1)
    );
    assert!(
        append(storage, group.id, 3, alice.id, vec![3])
            .await
            .newly_stored
    );

    assert!(
        storage
            .set_blocked(bob.id, alice.id, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        append(storage, direct.id, 4, alice.id, vec![4]).await.seq,
        Seq(2)
    );
    let privacy = storage.privacy(bob.id).await.unwrap();
    assert!(privacy.blocked.is_empty());
    let nobody = UserId(9_999);
    assert_eq!(
        code(storage.set_blocked(bob.id, nobody, true).await.unwrap_err()),
        ErrorCode::NoSuchUser
    );
}

pub(super) async fn an_account_blocks_at_most_the_limit(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let blocker = alice.id;
    // MAX_BLOCKED accounts, blocked by alice, written directly: registering them one by
    // one would say nothing more.
    let mut statements: Vec<_> = (0..MAX_BLOCKED)
        .map(|n| {
            (
                "INSERT INTO accounts (username, public_key, created_ms) VALUES ($1, $2, 0)",
                vec![Value::Text(format!("filler{n}")), Value::Bytes(vec![0; 32])],
            )
        })
        .collect();
    statements.push((
        "INSERT INTO blocks (blocker, blocked)
         SELECT CAST($1 AS BIGINT), id FROM accounts WHERE username LIKE 'filler%'",
        vec![Value::Int(sql::int(blocker.0))],
    ));
    seed(storage, statements).await;
    let refused = storage
        .set_blocked(alice.id, bob.id, true)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::LimitReached);
    let first = storage.privacy(alice.id).await.unwrap().blocked[0];
    let again = storage.set_blocked(alice.id, first, true).await.unwrap();
    assert_eq!(
        again.len(),
        MAX_BLOCKED,
        "blocking again someone blocked changes nothing"
    );
}

pub(super) async fn privacy_settings_are_kept_per_account(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    assert_eq!(storage.privacy(alice.id).await.unwrap(), Privacy::default());
    storage.set_privacy(alice.id, false, false).await.unwrap();
    let stored = storage.privacy(alice.id).await.unwrap();
    assert!(!stored.share_read_receipts && !stored.share_presence);
    assert_eq!(storage.privacy(bob.id).await.unwrap(), Privacy::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departures_of_many_accounts_are_written_in_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let idle_capacity = sqlite(&storage).writer.capacity();

    let gate = storage.hold_the_writer().await;
    storage.record_last_seen(alice.id, 1_000);
    let facts = storage.presence_facts(alice.id, bob.id).await.unwrap();
    assert_eq!(facts.last_seen_ms, 1_000, "known before it is written");
    // A reconnecting crowd: thousands leave while the writer is busy.
    for n in 0..5_000u64 {
        storage.record_last_seen(UserId(100 + n), 2_000 + n);
    }
    storage.record_last_seen(bob.id, 3_000);
    // Wait (for a condition, not for time) until the one request is queued.
    while sqlite(&storage).writer.capacity() == idle_capacity {
        tokio::task::yield_now().await;
    }
    let jobs_before = writer
        .stats()
        .jobs
        .load(std::sync::atomic::Ordering::Relaxed);
    gate.open().await;
    let stored: Vec<i64> = sqlite(&storage)
        .write(move |conn, _| {
            let mut statement =
                conn.prepare("SELECT last_seen_ms FROM accounts WHERE id IN (?1, ?2) ORDER BY id")?;
            let seen = statement
                .query_map([sql::int(alice.id.0), sql::int(bob.id.0)], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(seen)
        })
        .await
        .unwrap();
    assert_eq!(stored, [1_000, 3_000]);
    let jobs = writer
        .stats()
        .jobs
        .load(std::sync::atomic::Ordering::Relaxed)
        - jobs_before;
    // The gate, one request for all 5,002 departures, and the read above.
    assert_eq!(jobs, 3, "{jobs} requests");
    let facts = storage.presence_facts(alice.id, bob.id).await.unwrap();
    assert!(facts.shares_presence && !facts.blocks_watcher);
    drop(storage);
    writer.join();
}

pub(super) async fn an_offline_account_is_seen_as_its_settings_and_blocks_allow(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    assert!(!storage.share_direct_chat(alice.id, bob.id).await.unwrap());
    let (chat, _) = storage.create_direct(bob.id, alice.id).await.unwrap();
    assert_eq!(chat.kind, ChatKind::Direct);
    assert!(storage.share_direct_chat(alice.id, bob.id).await.unwrap());
    storage.set_blocked(alice.id, bob.id, true).await.unwrap();
    storage.set_privacy(alice.id, true, false).await.unwrap();
    let facts = storage.presence_facts(alice.id, bob.id).await.unwrap();
    assert_eq!(
        facts,
        PresenceFacts {
            shares_presence: false,
            last_seen_ms: 0,
            blocks_watcher: true
        }
    );
    let seen = crate::privacy::presence_as_seen(
        Presence::LastSeen { at_ms: 0 },
        facts.shares_presence,
        true,
        facts.blocks_watcher,
    );
    assert_eq!(seen, Presence::Hidden);
}
