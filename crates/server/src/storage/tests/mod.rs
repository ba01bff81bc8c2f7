//! The storage suite: what storage does, specified once and run on both backends — SQLite
//! (each case a test of its own, on a file in a temporary directory) and PostgreSQL (every
//! case in one test, on one server of the test's own, each case in a database of its own) —
//! as the client's store suite runs on memory and IndexedDB. Appends and receipts in
//! `appends`, the conversation (receipts, groups and their admins, blocks, privacy, last
//! seen) in `conversation`, deleting a message for everyone in `deletion`, uploads' rows in
//! `blobs`, what a cluster's head check reads in case a push was lost in `lost_pushes`,
//! quotas in `quotas`, what a sync reads of an account's chats in `chat_pages`, ending a
//! session whose token rotated in `sessions`.
//!
//! This file also holds what only SQLite has: its single writer's group commit, what a
//! refusal or a failure inside a batch leaves behind, and that queued writes are committed
//! before the writer stops.

#![allow(clippy::unwrap_used)]

use merpati_protocol::{ErrorCode, Receipt, UserId};
use merpati_testkit::PostgresProcess;
use rusqlite::Connection;

use crate::auth::SessionKeys;

use super::writer::Work;
use super::*;

/// Every case of the suite, as `module::case`: each an `async fn(&Storage)` given a new,
/// empty storage.
macro_rules! storage_suite {
    ($($module:ident :: $case:ident),* $(,)?) => {
        /// Each case on SQLite.
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let (storage, writer) = super::open(dir.path()).await;
                    super::$module::$case(&storage).await;
                    drop(storage);
                    writer.join();
                }
            )*
        }

        /// Every case on PostgreSQL, one after another on one server (a cluster takes
        /// seconds to create; a database, a fraction of one).
        #[test]
        fn every_case_on_postgres() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let server = PostgresProcess::start().await.unwrap();
                let mut number = 0;
                $(
                    number += 1;
                    eprintln!("storage suite on PostgreSQL: {}", stringify!($case));
                    let storage = on_postgres(&server, number).await;
                    $module::$case(&storage).await;
                    drop(storage);
                )*
            });
        }
    };
}

storage_suite! {
    appends::concurrent_appends_commit_in_groups_with_gapless_seqs,
    appends::a_resend_of_ones_stored_message_is_found_whatever_changed_since,
    appends::a_refused_request_in_a_batch_does_not_spoil_the_others,
    appends::a_connections_appends_after_a_failed_one_fail_and_others_go_on,
    appends::read_positions_only_move_forward_and_stop_at_the_head,
    appends::a_member_added_later_reads_only_what_came_after_they_joined,
    appends::an_append_says_the_line_of_its_chats_last_change_of_members,
    chat_pages::an_accounts_chats_come_a_page_at_a_time_in_order_each_once,
    chat_pages::the_keys_asked_for_are_of_partners_and_oneself_only,
    chat_pages::a_chat_joined_or_left_between_pages_counts_only_past_the_cursor,
    blobs::the_quota_counts_an_accounts_live_uploads_and_a_pass_takes_the_due_ones,
    blobs::the_cap_of_open_uploads_counts_those_no_message_carries,
    blobs::a_carried_upload_is_kept_until_its_message_is_deleted_for_everyone,
    blobs::an_upload_due_for_deletion_is_not_sent,
    blobs::an_upload_sent_in_two_chats_at_once_spoils_no_one_elses_message,
    blobs::an_upload_created_again_once_due_for_deletion_starts_anew,
    blobs::a_part_records_its_bytes_only_in_its_owners_upload,
    blobs::an_upload_due_for_deletion_is_found_by_no_one_and_takes_no_bytes,
    conversation::receipts_never_move_back_and_reading_raises_delivery,
    conversation::a_chat_tells_each_member_the_receipts_the_others_share_with_them,
    conversation::a_group_starts_with_its_creator_as_admin_and_a_line_saying_so,
    conversation::only_admins_add_remove_rename_and_make_admins_but_anyone_leaves,
    conversation::the_last_admin_leaving_or_stepping_down_makes_the_longest_standing_member_admin,
    conversation::a_block_refuses_chats_and_direct_messages_but_not_group_messages,
    conversation::an_account_blocks_at_most_the_limit,
    conversation::privacy_settings_are_kept_per_account,
    conversation::an_offline_account_is_seen_as_its_settings_and_blocks_allow,
    deletion::only_ones_own_message_in_the_chat_can_be_deleted_and_a_resend_is_stored_once,
    lost_pushes::a_head_check_finds_what_waited_for_its_devices_up_to_its_mark,
    lost_pushes::a_head_check_finds_which_of_its_sessions_are_gone,
    lost_pushes::a_head_check_finds_the_chats_its_accounts_joined_in_a_time,
    lost_pushes::a_head_check_finds_the_accounts_whose_privacy_changed_since_a_time,
    lost_pushes::a_head_check_finds_whom_to_tell_of_devices_changed_since_a_time,
    quotas::an_account_in_its_most_chats_is_refused_a_new_one_and_others_are_not,
    quotas::a_key_backup_holds_its_quota_of_sealed_bytes_and_replacing_an_entry_frees_its_own,
    quotas::signing_in_once_more_than_the_cap_ends_the_least_recently_used_session,
    sessions::the_proof_of_a_token_one_rotation_old_ends_its_session,
    sessions::a_sessions_use_until_a_connection_closed_is_stored,
}

async fn open(dir: &Path) -> (Storage, WriterThread) {
    Storage::open(dir, Durability::Full).unwrap()
}

/// The operation timeout the suite's PostgreSQL storage runs with: the server's default.
const PG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A new database on `server` for case `number`, opened as storage.
async fn on_postgres(server: &PostgresProcess, number: usize) -> Storage {
    let url = server.create_database(&format!("case_{number}")).unwrap();
    Storage::open_postgres(&url, PG_TIMEOUT).await.unwrap()
}

/// A parameter of [`seed`].
#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
}

/// Runs set-up statements in one transaction: what would take a case thousands of requests.
/// The SQL is what both backends read alike, with `$1`-style parameters numbered in the order
/// they first appear (SQLite numbers `$n` so) and `CAST` rather than `::`.
async fn seed(storage: &Storage, statements: Vec<(&'static str, Vec<Value>)>) {
    match &storage.backend {
        Backend::Sqlite(sqlite) => sqlite
            .write(move |conn, _| {
                for (sql, values) in &statements {
                    let params: Vec<&dyn rusqlite::ToSql> = values
                        .iter()
                        .map(|value| -> &dyn rusqlite::ToSql {
                            match value {
                                Value::Int(int) => int,
                                Value::Bytes(bytes) => bytes,
                                Value::Text(text) => text,
                            }
                        })
                        .collect();
                    conn.execute(sql, params.as_slice())?;
                }
                Ok(())
            })
            .await
            .unwrap(),
        Backend::Postgres(pg) => {
            let mut client = pg.client().await.unwrap();
            let tx = client.transaction().await.unwrap();
            for (sql, values) in &statements {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
                    .iter()
                    .map(|value| -> &(dyn tokio_postgres::types::ToSql + Sync) {
                        match value {
                            Value::Int(int) => int,
                            Value::Bytes(bytes) => bytes,
                            Value::Text(text) => text,
                        }
                    })
                    .collect();
                tx.execute(*sql, &params).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
}

/// The SQLite backend of storage opened by [`open`].
fn sqlite(storage: &Storage) -> &sqlite::Sqlite {
    match &storage.backend {
        Backend::Sqlite(sqlite) => sqlite,
        Backend::Postgres(_) => panic!("a SQLite case given PostgreSQL"),
    }
}

#[tokio::test]
async fn the_writer_checkpoints_the_wal_every_ten_thousand_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _writer) = open(dir.path()).await;
    let (journal, checkpoint_pages): (String, u32) = sqlite(&storage)
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

/// A PostgreSQL database made by the schema before `privacy_changed_ms` (version 3) opens,
/// is migrated, and notes when an account's privacy changes from then on (SQLite's own is in
/// `schema`).
#[test]
fn a_postgres_database_at_version_3_opens_and_notes_when_privacy_changes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = PostgresProcess::start().await.unwrap();
        let url = server.create_database("at_version_3").unwrap();
        let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        for migration in &postgres::schema::MIGRATIONS[..3] {
            db.batch_execute(migration).await.unwrap();
        }
        db.batch_execute(
            "CREATE TABLE schema_version (
                 id BIGINT PRIMARY KEY CHECK (id = 1),
                 version BIGINT NOT NULL
             );
             INSERT INTO schema_version (id, version) VALUES (1, 3);
             INSERT INTO accounts (username, public_key, created_ms)
                 VALUES ('alice', decode('00', 'hex'), 0);",
        )
        .await
        .unwrap();
        let alice: i64 = db
            .query_one("SELECT id FROM accounts", &[])
            .await
            .unwrap()
            .get(0);
        let alice = UserId(u64::try_from(alice).unwrap());

        let storage = Storage::open_postgres(&url, PG_TIMEOUT).await.unwrap();
        let version: i64 = db
            .query_one("SELECT version FROM schema_version", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(version, postgres::schema::MIGRATIONS.len() as i64);
        let unchanged = storage.privacy_changed_since(vec![alice], 1).await.unwrap();
        assert!(
            unchanged.is_empty(),
            "older than any head check: {unchanged:?}"
        );
        let before = now_ms();
        storage.set_privacy(alice, true, false).await.unwrap();
        let changed = storage
            .privacy_changed_since(vec![alice], before)
            .await
            .unwrap();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].account, alice);
        assert!(changed[0].changed_ms >= before);
        assert!(!changed[0].privacy.share_presence);
        drop(storage);
        drop(db);
        connection.await.unwrap().unwrap();
    });
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
async fn appends_refused_without_a_savepoint_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let mallory = account(&storage, "mallory").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();

    let gate = storage.hold_the_writer().await;
    let mut queued = Vec::new();
    for n in 0..6u8 {
        // Every other one from someone outside the chat: refused, before writing.
        let sender = if n % 2 == 0 { alice.id } else { mallory.id };
        queued.push(
            storage
                .queue_append(
                    chat.id,
                    new_message(n, sender, vec![n]),
                    AppendFence::default(),
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

    let gate = storage.hold_the_writer().await;
    let append = storage
        .queue_append(
            chat.id,
            new_message(1, alice.id, vec![1]),
            AppendFence::default(),
        )
        .await
        .unwrap();
    // Writes, then fails with an error that is not a refusal (as a full disk would).
    let broken = sqlite(&storage)
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
            new_message(1, alice.id, vec![1]),
            AppendFence::default(),
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
            new_message(9, bob.id, b"hi".to_vec()),
            AppendFence::default(),
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
        .read_after(chat.id, Reader::Member(alice.id), Seq(0), 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].seq, appended.seq);
    assert_eq!(page.messages[0].body, b"hi");
    drop(storage);
    writer.join();
}

/// Message `id` of `sender`'s with `body`: stored if new, referring to nothing.
fn new_message(id: u8, sender: UserId, body: Vec<u8>) -> NewMessage {
    NewMessage {
        client_msg_id: ClientMsgId([id; 16]),
        sender,
        body: Arc::new(body),
        refers: Refers::Nothing,
        if_new: IfNew::Store,
    }
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
        .queue_append(chat, new_message(id, sender, body), AppendFence::default())
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

mod appends;
mod blobs;
mod chat_pages;
mod conversation;
mod deletion;
mod lost_pushes;
mod quotas;
mod sessions;
