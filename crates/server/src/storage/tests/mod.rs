//! Storage specified against a real SQLite file: group commit, what a refusal or a failure
//! inside a batch leaves behind, durability across a restart, and read positions; the
//! conversation (receipts, groups and their admins, blocks, privacy, last seen) in
//! `conversation`, deleting a message for everyone in `deletion`, uploads' rows in `blobs`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use merpati_protocol::{ErrorCode, Receipt};

use crate::auth::SessionKeys;

use super::*;

async fn open(dir: &Path) -> (Storage, WriterThread) {
    Storage::open(dir, Durability::Full).unwrap()
}

#[tokio::test]
async fn the_writer_checkpoints_the_wal_every_ten_thousand_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _writer) = open(dir.path()).await;
    let (journal, checkpoint_pages): (String, u32) = storage
        .write(|conn, _| {
            let journal = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
            let pages = conn.pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0))?;
            Ok((journal, pages))
        })
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(checkpoint_pages, 10_000);
}

async fn account(storage: &Storage, name: &str) -> Member {
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).unwrap();
    storage
        .register(
            Username::parse(name).unwrap(),
            [7; 32],
            None,
            SessionKeys::of(&token),
            None,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_commit_in_groups_with_gapless_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let commits_before = writer.commits();

    const SENDS: usize = 300;
    let appends = (0..SENDS).map(|i| {
        let storage = storage.clone();
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_le_bytes());
        tokio::spawn(async move {
            storage
                .queue_append(
                    chat.id,
                    ClientMsgId(id),
                    alice.id,
                    Arc::new(vec![1, 2, 3]),
                    Refers::Nothing,
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
    let commits = writer.commits() - commits_before;
    assert!(
        commits < SENDS as u64 / 2,
        "{SENDS} concurrent appends took {commits} commits: no group commit"
    );

    let page = storage
        .read_after(chat.id, Some(bob.id), Seq(0), 500)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), SENDS);
    assert!(!page.more);
    drop(storage);
    writer.join();
}

#[tokio::test]
async fn a_refused_request_in_a_batch_does_not_spoil_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
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
    assert!(first.is_ok());
    assert_eq!(second.unwrap_err().code(), ErrorCode::UsernameTaken);
    assert!(third.is_ok());
    // The refused registration's session must not exist.
    assert!(storage.resume_session([2; 32]).await.unwrap().is_none());
    assert!(storage.resume_session([1; 32]).await.unwrap().is_some());
    drop(storage);
    writer.join();
}

/// Keeps the writer thread busy inside a request of its own until the returned gate is
/// opened, so that whatever is queued meanwhile lands in the next batch, together.
/// (Holding SQLite's lock from another connection is not enough: the writer may take
/// the first queued request alone and wait for the lock with it.)
async fn hold_the_writer(storage: &Storage) -> WriterGate {
    let (started, running) = std::sync::mpsc::channel::<()>();
    let (open, opened) = std::sync::mpsc::channel::<()>();
    let done = storage
        .queue_job(Work::new(move |_: &Connection, _| {
            let _ = started.send(());
            let _ = opened.recv();
            Ok(())
        }))
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || running.recv())
        .await
        .unwrap()
        .expect("the writer runs the gate");
    WriterGate { open, done }
}

struct WriterGate {
    open: std::sync::mpsc::Sender<()>,
    done: Queued<()>,
}

impl WriterGate {
    async fn open(self) {
        self.open.send(()).unwrap();
        self.done.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_refused_without_a_savepoint_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let mallory = account(&storage, "mallory").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();

    let gate = hold_the_writer(&storage).await;
    let mut queued = Vec::new();
    for n in 0..6u8 {
        // Every other one from someone outside the chat: refused, before writing.
        let sender = if n % 2 == 0 { alice.id } else { mallory.id };
        queued.push(
            storage
                .queue_append(
                    chat.id,
                    ClientMsgId([n; 16]),
                    sender,
                    Arc::new(vec![n]),
                    Refers::Nothing,
                )
                .await
                .unwrap(),
        );
    }
    gate.open().await;
    let mut outcomes = Vec::new();
    for append in queued {
        outcomes.push(append.await.map(|appended| appended.seq.0));
    }
    assert_eq!(outcomes[0].as_ref().ok(), Some(&1));
    assert_eq!(outcomes[2].as_ref().ok(), Some(&2));
    assert_eq!(
        outcomes[4].as_ref().ok(),
        Some(&3),
        "no gap where refusals were"
    );
    for refused in [&outcomes[1], &outcomes[3], &outcomes[5]] {
        assert_eq!(refused.as_ref().unwrap_err().code(), ErrorCode::NoSuchChat);
    }
    drop(storage);
    writer.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_failing_after_it_wrote_without_a_savepoint_fails_its_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();

    let gate = hold_the_writer(&storage).await;
    let append = storage
        .queue_append(
            chat.id,
            ClientMsgId([1; 16]),
            alice.id,
            Arc::new(vec![1]),
            Refers::Nothing,
        )
        .await
        .unwrap();
    // Writes, then fails with an error that is not a refusal (as a full disk would).
    let broken = storage
        .queue_job(Work::checked_first(move |conn: &Connection, _| {
            conn.execute(
                "UPDATE chats SET head_seq = head_seq + 100 WHERE id = ?1",
                [i64::try_from(chat.id.0).unwrap()],
            )?;
            Err::<(), _>(Error::Commit("the disk is full".to_owned()))
        }))
        .await
        .unwrap();
    gate.open().await;
    assert!(
        append.await.is_err(),
        "in the failed batch: not acknowledged"
    );
    assert!(broken.await.is_err());

    // Nothing of that batch was kept: the next append is the chat's first message.
    let appended = storage
        .queue_append(
            chat.id,
            ClientMsgId([1; 16]),
            alice.id,
            Arc::new(vec![1]),
            Refers::Nothing,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(appended.seq, Seq(1));
    drop(storage);
    writer.join();
}

#[tokio::test]
async fn queued_writes_are_committed_before_the_writer_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let (chat, created) = storage.create_direct(alice.id, bob.id).await.unwrap();
    assert!(created);
    let appended = storage
        .queue_append(
            chat.id,
            ClientMsgId([9; 16]),
            bob.id,
            Arc::new(b"hi".to_vec()),
            Refers::Nothing,
        )
        .await
        .expect("queued")
        .await
        .unwrap();
    let epoch = storage.epoch();
    drop(storage);
    writer.join();

    let (storage, writer) = open(dir.path()).await;
    assert_eq!(storage.epoch(), epoch, "the epoch survives a restart");
    let page = storage
        .read_after(chat.id, Some(alice.id), Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].seq, appended.seq);
    assert_eq!(page.messages[0].body, b"hi");
    drop(storage);
    writer.join();
}

/// Appends a message and waits for its commit.
async fn append(
    storage: &Storage,
    chat: ChatId,
    id: u8,
    sender: UserId,
    body: Vec<u8>,
) -> Appended {
    storage
        .queue_append(
            chat,
            ClientMsgId([id; 16]),
            sender,
            Arc::new(body),
            Refers::Nothing,
        )
        .await
        .expect("queued")
        .await
        .unwrap()
}

/// Moves a position and waits for its commit; the position afterwards if it moved.
async fn mark(
    storage: &Storage,
    chat: ChatId,
    account: UserId,
    seq: u64,
    position: Position,
) -> Option<Receipt> {
    storage
        .queue_mark(chat, account, Seq(seq), position)
        .await
        .expect("queued")
        .await
        .unwrap()
        .map(|moved| moved.now)
}

#[tokio::test]
async fn read_positions_only_move_forward_and_stop_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    for i in 0..3u8 {
        append(&storage, chat.id, i, alice.id, vec![i]).await;
    }
    let read = |receipt: Option<Receipt>| receipt.map(|receipt| receipt.read);
    assert_eq!(
        read(mark(&storage, chat.id, bob.id, 2, Position::Read).await),
        Some(Seq(2))
    );
    assert_eq!(
        mark(&storage, chat.id, bob.id, 1, Position::Read).await,
        None
    );
    assert_eq!(
        read(mark(&storage, chat.id, bob.id, 99, Position::Read).await),
        Some(Seq(3))
    );
    let chats = storage.chats_of(bob.id).await.unwrap();
    assert_eq!(chats[0].info_for(bob.id).read, Seq(3));
    assert_eq!(chats[0].info_for(alice.id).read, Seq(0));
    drop(storage);
    writer.join();
}

mod blobs;
mod conversation;
mod deletion;
mod quotas;
