//! Appends and receipts on either backend: concurrent appends get dense sequence numbers and
//! commit in groups, a resend of one's stored message is found whatever changed since (and
//! nobody else's message is), a refused request leaves the others alone, a connection's
//! appends after a failed one fail too, and read positions only move forward.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use merpati_protocol::Receipt;

use super::*;

pub(super) async fn concurrent_appends_commit_in_groups_with_gapless_seqs(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let commits_before = storage.stats().commits.load(Ordering::Relaxed);

    const SENDS: usize = 300;
    let appends = (0..SENDS).map(|i| {
        let storage = storage.clone();
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        tokio::spawn(async move {
            storage
                .queue_append(
                    chat.id,
                    NewMessage {
                        client_msg_id: ClientMsgId(id),
                        sender: alice.id,
                        body: Arc::new(vec![1, 2, 3]),
                        refers: Refers::Nothing,
                        if_new: IfNew::Store,
                    },
                    AppendFence::default(),
                )
                .await
                .expect("queued")
                .await
        })
    });
    let mut seqs = BTreeSet::new();
    for append in appends.collect::<Vec<_>>() {
        let appended = append.await.unwrap().unwrap();
        assert!(appended.newly_stored);
        assert!(
            seqs.insert(appended.seq.0),
            "seq {} given twice",
            appended.seq.0
        );
    }
    assert_eq!(seqs, (1..=SENDS as u64).collect::<BTreeSet<_>>());
    let commits = storage.stats().commits.load(Ordering::Relaxed) - commits_before;
    assert!(
        commits < SENDS as u64 / 2,
        "{SENDS} concurrent appends took {commits} commits: no group commit"
    );

    let page = storage
        .read_after(chat.id, Reader::Member(bob.id), Seq(0), 500)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), SENDS);
    assert!(!page.more);
}

/// The body [`fail_to_store`] makes the database fail on.
const FAILS_TO_STORE: [u8; 2] = [0xde, 0xad];

/// Makes the database fail (not refuse) to insert a message whose body is
/// [`FAILS_TO_STORE`], as a full disk would fail it, on either backend.
async fn fail_to_store(storage: &Storage) {
    let statements = match &storage.backend {
        Backend::Sqlite(_) => vec![(
            "CREATE TRIGGER fail_to_store BEFORE INSERT ON messages WHEN NEW.body = X'DEAD'
             BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
            vec![],
        )],
        Backend::Postgres(_) => vec![
            (
                "CREATE FUNCTION fail_to_store() RETURNS trigger LANGUAGE plpgsql AS $body$
                 BEGIN
                     IF NEW.body = '\\xdead'::bytea THEN RAISE EXCEPTION 'the disk is full'; END IF;
                     RETURN NEW;
                 END $body$",
                vec![],
            ),
            (
                "CREATE TRIGGER fail_to_store BEFORE INSERT ON messages
                 FOR EACH ROW EXECUTE FUNCTION fail_to_store()",
                vec![],
            ),
        ],
    };
    seed(storage, statements).await;
}

/// Appends message `id` of `sender`'s with `body` on the connection behind `fence`.
async fn append_on(
    storage: &Storage,
    fence: &AppendFence,
    chat: ChatId,
    id: u8,
    sender: UserId,
    body: &[u8],
) -> Result<Appended, Error> {
    storage
        .queue_append(chat, new_message(id, sender, body.to_vec()), fence.clone())
        .await?
        .await
}

/// A connection's messages are stored in the order it sent them even when storing one
/// fails: its appends after that fail unrun, to be resent in order on its next connection,
/// while other connections' go on.
pub(super) async fn a_connections_appends_after_a_failed_one_fail_and_others_go_on(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    fail_to_store(storage).await;
    let connection = AppendFence::default();

    let failed = append_on(storage, &connection, chat.id, 1, alice.id, &FAILS_TO_STORE).await;
    assert!(matches!(failed, Err(Error::Commit(_))), "{failed:?}");
    // Sent after it on the same connection: a failure too (not a refusal: it is resent).
    let behind = append_on(storage, &connection, chat.id, 2, alice.id, &[2]).await;
    assert!(matches!(behind, Err(Error::Commit(_))), "{behind:?}");
    // Another connection is not held back.
    let bobs = append_on(storage, &AppendFence::default(), chat.id, 3, bob.id, &[3]).await;
    assert_eq!(bobs.unwrap().seq, Seq(1));
    // alice's next connection resends both, in order: the second was never stored.
    let next = AppendFence::default();
    let first = append_on(storage, &next, chat.id, 1, alice.id, &[1]).await;
    let second = append_on(storage, &next, chat.id, 2, alice.id, &[2]).await;
    assert_eq!(first.unwrap().seq, Seq(2));
    let second = second.unwrap();
    assert_eq!(second.seq, Seq(3));
    assert!(second.newly_stored);
}

/// Appends message `id` of `sender`'s (its body `[id]`), new ones as `if_new` says.
async fn try_append(
    storage: &Storage,
    chat: ChatId,
    id: u8,
    sender: UserId,
    if_new: IfNew,
) -> Result<Appended, Error> {
    storage
        .queue_append(
            chat,
            NewMessage {
                if_new,
                ..new_message(id, sender, vec![id])
            },
            AppendFence::default(),
        )
        .await
        .expect("queued")
        .await
}

pub(super) async fn a_resend_of_ones_stored_message_is_found_whatever_changed_since(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let mallory = account(storage, "mallory").await;
    let (direct, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let group = storage
        .create_group(bob.clone(), "Trip".into(), vec![alice.id])
        .await
        .unwrap()
        .chat;
    let to_bob = append(storage, direct.id, 1, alice.id, vec![1]).await;
    let to_group = append(storage, group.id, 2, alice.id, vec![2]).await;
    storage.set_blocked(bob.id, alice.id, true).await.unwrap();
    storage
        .remove_member(group.id, bob.id, alice.id)
        .await
        .unwrap();

    // Blocked, removed, past the quota: her resends are her stored messages all the same.
    let resent = try_append(storage, direct.id, 1, alice.id, IfNew::Store).await;
    assert_eq!(
        resent.unwrap(),
        Appended {
            newly_stored: false,
            members_at: Seq(0),
            ..to_bob
        }
    );
    let quota = IfNew::Refuse(ErrorCode::QuotaExceeded);
    let resent = try_append(storage, direct.id, 1, alice.id, quota).await;
    assert_eq!(
        resent.unwrap(),
        Appended {
            newly_stored: false,
            members_at: Seq(0),
            ..to_bob
        }
    );
    let resent = try_append(storage, group.id, 2, alice.id, IfNew::Store).await;
    assert_eq!(
        resent.unwrap(),
        Appended {
            newly_stored: false,
            members_at: Seq(0),
            ..to_group
        }
    );
    // A new message is refused as before.
    let code = |outcome: Result<Appended, Error>| outcome.unwrap_err().code();
    let new = try_append(storage, direct.id, 3, alice.id, IfNew::Store).await;
    assert_eq!(code(new), ErrorCode::Blocked);
    let new = try_append(storage, group.id, 3, alice.id, IfNew::Store).await;
    assert_eq!(code(new), ErrorCode::NoSuchChat);
    let new = try_append(storage, direct.id, 3, alice.id, quota).await;
    assert_eq!(code(new), ErrorCode::QuotaExceeded);
    // Someone else's id tells a stranger nothing (not a member) and a member only that it is
    // taken; neither is answered with that message.
    let stranger = try_append(storage, direct.id, 1, mallory.id, IfNew::Store).await;
    assert_eq!(code(stranger), ErrorCode::NoSuchChat);
    let member = try_append(storage, group.id, 2, bob.id, IfNew::Store).await;
    assert_eq!(code(member), ErrorCode::Malformed);
}

pub(super) async fn a_refused_request_in_a_batch_does_not_spoil_the_others(storage: &Storage) {
    let name = Username::parse("carol").unwrap();
    let (first, second, third) = tokio::join!(
        storage.register(name.clone(), [1; 32], None, SessionKeys::of(&[1; 32]), None),
        storage.register(name.clone(), [2; 32], None, SessionKeys::of(&[2; 32]), None),
        storage.register(
            Username::parse("dave").unwrap(),
            [3; 32],
            None,
            SessionKeys::of(&[3; 32]),
            None,
        ),
    );
    // Which of the two same names wins is the order they commit in — the queue's on SQLite,
    // whichever transaction commits first on PostgreSQL: exactly one does.
    let (won, lost) = match (first, second) {
        (Ok(_), Err(refused)) => ([1; 32], refused),
        (Err(refused), Ok(_)) => ([2; 32], refused),
        other => panic!("exactly one registration of a name must succeed: {other:?}"),
    };
    assert_eq!(lost.code(), ErrorCode::UsernameTaken);
    assert!(third.is_ok());
    // The refused registration's session must not exist.
    let refused_token = if won == [1; 32] { [2; 32] } else { [1; 32] };
    assert!(
        storage
            .resume_session(refused_token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(storage.resume_session(won).await.unwrap().is_some());
}

pub(super) async fn read_positions_only_move_forward_and_stop_at_the_head(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    for i in 0..3u8 {
        append(storage, chat.id, i, alice.id, vec![i]).await;
    }
    let read = |receipt: Option<Receipt>| receipt.map(|receipt| receipt.read);
    assert_eq!(
        read(mark(storage, chat.id, bob.id, 2, Position::Read).await),
        Some(Seq(2))
    );
    assert_eq!(
        mark(storage, chat.id, bob.id, 1, Position::Read).await,
        None
    );
    assert_eq!(
        read(mark(storage, chat.id, bob.id, 99, Position::Read).await),
        Some(Seq(3))
    );
    let chats = storage.chats_of(bob.id, ChatId(0), 9).await.unwrap();
    assert_eq!(chats[0].info_for(bob.id).read, Seq(3));
    assert_eq!(chats[0].info_for(alice.id).read, Seq(0));
}

/// alice, bob and carol; alice's group with bob.
async fn alice_and_bobs_trip_and_carol(
    storage: &Storage,
) -> (Member, Member, Member, ChatSnapshot) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id])
        .await
        .unwrap()
        .chat;
    (alice, bob, carol, group)
}

pub(super) async fn a_member_added_later_reads_only_what_came_after_they_joined(storage: &Storage) {
    let (alice, bob, carol, group) = alice_and_bobs_trip_and_carol(storage).await;
    for id in 1..=3 {
        try_append(storage, group.id, id, alice.id, IfNew::Store)
            .await
            .unwrap();
    }
    let added = storage
        .add_member(group.id, alice.id, carol.clone())
        .await
        .unwrap();
    let joined = added
        .chat
        .members
        .iter()
        .find(|member| member.member.id == carol.id)
        .map(|member| member.joined_seq);
    // The line saying she was added is the first thing she reads.
    assert_eq!(joined, Some(Seq(4)));
    assert_eq!(added.lines[0].seq, Seq(5));
    let after_joining = try_append(storage, group.id, 9, bob.id, IfNew::Store)
        .await
        .unwrap();

    let seqs = |page: Page| -> Vec<u64> { page.messages.iter().map(|m| m.seq.0).collect() };
    let from_start = storage
        .read_after(group.id, Reader::Member(carol.id), Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(seqs(from_start), [5, after_joining.seq.0]);
    let newest = storage
        .read_before(group.id, Reader::Member(carol.id), Seq(100), 10)
        .await
        .unwrap();
    assert!(!newest.more, "nothing older is hers to read");
    assert_eq!(seqs(newest), [5, after_joining.seq.0]);
    let before_her_line = storage
        .read_before(group.id, Reader::Member(carol.id), Seq(5), 10)
        .await
        .unwrap();
    assert_eq!(
        (seqs(before_her_line.clone()), before_her_line.more),
        (vec![], false)
    );
    // Those there before read it all, and one the caller checked reads from its floor.
    let bobs = storage
        .read_after(group.id, Reader::Member(bob.id), Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(seqs(bobs), [1, 2, 3, 4, 5, after_joining.seq.0]);
    let checked = storage
        .read_before(group.id, Reader::Checked { floor: Seq(4) }, Seq(100), 2)
        .await
        .unwrap();
    assert_eq!(
        (seqs(checked.clone()), checked.more),
        (vec![5, after_joining.seq.0], false)
    );
}

/// Every message appended says the line of its chat's last change of members — made, someone
/// added, removed or gone, not renamed — so that a fan-out can tell a member list cached from
/// before it.
pub(super) async fn an_append_says_the_line_of_its_chats_last_change_of_members(storage: &Storage) {
    let (alice, bob, carol, group) = alice_and_bobs_trip_and_carol(storage).await;
    let first = append(storage, group.id, 1, alice.id, vec![1]).await;
    assert_eq!(first.members_at, Seq(1), "the line that made it");
    let added = storage
        .add_member(group.id, alice.id, carol.clone())
        .await
        .unwrap();
    let renamed = storage
        .rename_group(group.id, alice.id, "Trip 2".into())
        .await
        .unwrap();
    let second = append(storage, group.id, 2, bob.id, vec![2]).await;
    assert_eq!(
        second.members_at, added.lines[0].seq,
        "the line adding carol"
    );
    assert!(renamed.lines[0].seq > added.lines[0].seq);
    let (removed, _) = storage
        .remove_member(group.id, alice.id, carol.id)
        .await
        .unwrap();
    let third = append(storage, group.id, 3, bob.id, vec![3]).await;
    assert_eq!(
        third.members_at, removed.lines[0].seq,
        "the line removing her"
    );
    let (direct, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let in_direct = append(storage, direct.id, 4, alice.id, vec![4]).await;
    assert_eq!(
        in_direct.members_at,
        Seq(0),
        "a 1:1 chat's two never change"
    );
}
