//! Deleting a message for everyone: the deleting message and the target's empty body in one
//! transaction, only for one's own messages, and no trace of the ciphertext in the file.

use merpati_protocol::content::{EncryptedBody, SystemEvent};

use super::*;

/// Appends a message deleting `target` and waits for its commit.
async fn delete(
    storage: &Storage,
    chat: ChatId,
    id: u8,
    sender: UserId,
    target: ClientMsgId,
) -> Result<Appended, Error> {
    storage
        .queue_append(
            chat,
            NewMessage {
                refers: Refers::Deletes(target),
                ..new_message(id, sender, vec![id])
            },
            AppendFence::default(),
        )
        .await
        .expect("queued")
        .await
}

/// Random bytes, as a ciphertext would be: if they are found in the file, they were left.
fn random_body(len: usize) -> Vec<u8> {
    let mut body = vec![0; len];
    getrandom::fill(&mut body).unwrap();
    body
}

/// Copies the write-ahead log into the database file and empties it, from a connection of
/// the test's own (the writer runs every request inside a transaction, where SQLite does not
/// checkpoint).
fn checkpoint(dir: &Path) {
    let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint completed");
}

/// Whether any 32-byte stretch of `body` is in the database's files.
fn found_on_disk(dir: &Path, body: &[u8]) -> bool {
    let mut files = Vec::new();
    for name in [DATABASE_FILE.to_owned(), format!("{DATABASE_FILE}-wal")] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            files.push(bytes);
        }
    }
    body.chunks_exact(32).any(|needle| {
        files
            .iter()
            .any(|file| file.windows(needle.len()).any(|window| window == needle))
    })
}

#[tokio::test]
async fn a_deleted_message_leaves_no_trace_of_its_body_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, writer) = open(dir.path()).await;
    let alice = account(&storage, "alice").await;
    let bob = account(&storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    // One body on its page, one spilling over onto overflow pages.
    let small = random_body(300);
    let large = random_body(12 * 1024);
    append(&storage, chat.id, 1, alice.id, small.clone()).await;
    append(&storage, chat.id, 2, alice.id, large.clone()).await;
    append(&storage, chat.id, 3, bob.id, b"kept".to_vec()).await;
    checkpoint(dir.path());
    assert!(found_on_disk(dir.path(), &small) && found_on_disk(dir.path(), &large));

    let deleted = delete(&storage, chat.id, 4, alice.id, ClientMsgId([1; 16]))
        .await
        .unwrap();
    assert_eq!((deleted.seq, deleted.newly_stored), (Seq(4), true));
    delete(&storage, chat.id, 5, alice.id, ClientMsgId([2; 16]))
        .await
        .unwrap();
    let page = storage
        .read_after(chat.id, Reader::Member(bob.id), Seq(0), 10)
        .await
        .unwrap();
    let bodies: Vec<&[u8]> = page.messages.iter().map(|m| &m.body[..]).collect();
    assert_eq!(bodies, [&b""[..], b"", b"kept", &[4], &[5]]);

    checkpoint(dir.path());
    assert!(!found_on_disk(dir.path(), &small), "the small body is gone");
    assert!(!found_on_disk(dir.path(), &large), "the large body is gone");
    drop(storage);
    writer.join();
}

pub(super) async fn only_ones_own_message_in_the_chat_can_be_deleted_and_a_resend_is_stored_once(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (direct, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id])
        .await
        .unwrap();
    append(storage, direct.id, 1, alice.id, b"mine".to_vec()).await;
    append(storage, direct.id, 2, bob.id, b"his".to_vec()).await;
    append(storage, group.chat.id, 3, alice.id, b"elsewhere".to_vec()).await;

    let not_yours = ErrorCode::NotYourMessage;
    let code = |outcome: Result<Appended, Error>| outcome.unwrap_err().code();
    for (target, why) in [
        ([2; 16], "someone else's"),
        ([3; 16], "in another chat"),
        ([9; 16], "not there"),
    ] {
        let outcome = delete(storage, direct.id, 10, alice.id, ClientMsgId(target)).await;
        assert_eq!(code(outcome), not_yours, "{why}");
    }
    let created = &group.lines[0];
    assert!(matches!(
        EncryptedBody::from_body(&created.body),
        Some(EncryptedBody::System(SystemEvent::Created { .. }))
    ));
    let outcome = delete(storage, group.chat.id, 10, alice.id, created.client_msg_id).await;
    assert_eq!(code(outcome), not_yours, "a line the server wrote");
    let head = storage.chat(direct.id).await.unwrap().unwrap().head;
    assert_eq!(head, Seq(2), "refusals wrote nothing");

    let first = delete(storage, direct.id, 11, alice.id, ClientMsgId([1; 16]))
        .await
        .unwrap();
    let again = delete(storage, direct.id, 11, alice.id, ClientMsgId([1; 16]))
        .await
        .unwrap();
    assert_eq!((again.seq, again.newly_stored), (first.seq, false));
    assert_eq!(storage.chat(direct.id).await.unwrap().unwrap().head, Seq(3));
}
