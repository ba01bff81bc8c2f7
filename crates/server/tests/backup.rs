//! The key backup: entries stored durably, read back in pages by position, replaced in place.

use merpati_protocol::keys::BackupEntry;
use merpati_protocol::{
    ClientFrame, ErrorCode, MAX_BACKUP_BATCH, MAX_BACKUP_ENTRY_BYTES, ServerFrame,
};

use crate::support::{Client, TestServer, msg_id};

fn entry(n: u8, sealed_len: usize) -> BackupEntry {
    BackupEntry {
        id: [n; 32],
        sealed: vec![n; sealed_len],
    }
}

async fn put(client: &mut Client, entries: Vec<BackupEntry>) -> ServerFrame {
    let request = client.request_id();
    client
        .send(&ClientFrame::PutBackup { request, entries })
        .await;
    let answer = client.recv().await;
    match &answer {
        ServerFrame::BackupStored { request: r } => assert_eq!(*r, request),
        ServerFrame::Error { request: r, .. } => assert_eq!(*r, Some(request)),
        _ => {}
    }
    answer
}

async fn fetch(client: &mut Client, after: u64) -> (Vec<(u64, BackupEntry)>, bool) {
    let request = client.request_id();
    client
        .send(&ClientFrame::FetchBackup { request, after })
        .await;
    match client.recv().await {
        ServerFrame::Backup {
            request: r,
            entries,
            more,
        } if r == request => (entries, more),
        other => panic!("expected a backup page, got {other:?}"),
    }
}

#[tokio::test]
async fn the_backup_pages_by_position_and_a_replacement_moves_to_the_end() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let first: Vec<_> = (0..100).map(|n| entry(n, 40)).collect();
    let second: Vec<_> = (100..150).map(|n| entry(n, 40)).collect();
    assert!(matches!(
        put(&mut alice, first).await,
        ServerFrame::BackupStored { .. }
    ));
    assert!(matches!(
        put(&mut alice, second).await,
        ServerFrame::BackupStored { .. }
    ));

    let (page, more) = fetch(&mut alice, 0).await;
    assert_eq!(page.len(), MAX_BACKUP_BATCH);
    assert!(more);
    assert!(
        page.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "ascending"
    );
    assert_eq!(page[0].1, entry(0, 40));
    let (rest, more) = fetch(&mut alice, page[99].0).await;
    assert_eq!(rest.len(), 50);
    assert!(!more);
    let last = rest[49].0;

    // Replacing an entry gives it a new position after everything else: an incremental
    // fetch from the last position sees it, and only it.
    let replacement = BackupEntry {
        id: [3; 32],
        sealed: b"newer".to_vec(),
    };
    put(&mut alice, vec![replacement.clone()]).await;
    let (news, more) = fetch(&mut alice, last).await;
    assert_eq!(news.len(), 1);
    assert!(news[0].0 > last);
    assert_eq!(news[0].1, replacement);
    assert!(!more);
    // It is not listed twice.
    let (page, _) = fetch(&mut alice, 0).await;
    assert!(page.iter().all(|(_, entry)| entry.id != [3; 32]));

    // Another account's backup is its own.
    let (mut bob, _, _) = server.signed_up("bob").await;
    assert_eq!(fetch(&mut bob, 0).await, (Vec::new(), false));
    server.stop().await;
}

#[tokio::test]
async fn a_page_of_large_entries_is_cut_to_fit_one_frame() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    for batch in 0..2u8 {
        let entries = (0..50)
            .map(|n| entry(batch * 50 + n, MAX_BACKUP_ENTRY_BYTES))
            .collect();
        assert!(matches!(
            put(&mut alice, entries).await,
            ServerFrame::BackupStored { .. }
        ));
    }
    let mut after = 0;
    let mut seen = 0;
    loop {
        // `recv` decodes with the protocol's frame limit: an oversized page would fail here.
        let (page, more) = fetch(&mut alice, after).await;
        assert!(!page.is_empty());
        seen += page.len();
        after = page[page.len() - 1].0;
        if !more {
            break;
        }
    }
    assert_eq!(seen, 100);
    server.stop().await;
}

#[tokio::test]
async fn oversized_backup_entries_and_batches_are_refused() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let refused = put(&mut alice, vec![entry(1, MAX_BACKUP_ENTRY_BYTES + 1)]).await;
    assert!(
        matches!(
            refused,
            ServerFrame::Error {
                code: ErrorCode::MessageTooLarge,
                ..
            }
        ),
        "{refused:?}"
    );
    let too_many = (0..=MAX_BACKUP_BATCH).map(|n| entry(n as u8, 1)).collect();
    assert!(matches!(
        put(&mut alice, too_many).await,
        ServerFrame::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert_eq!(fetch(&mut alice, 0).await, (Vec::new(), false));
    server.stop().await;
}

#[tokio::test]
async fn the_accounts_other_sessions_hear_that_the_backup_changed() {
    let server = TestServer::start().await;
    let (mut first, _, _) = server.signed_up("alice").await;
    let mut second = server.logged_in("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    assert!(matches!(
        put(&mut first, vec![entry(1, 40)]).await,
        ServerFrame::BackupStored { .. }
    ));
    assert_eq!(second.recv().await, ServerFrame::BackupChanged);
    // Neither the session that wrote nor anyone else's is told. Sentinels the writing session
    // sends after its put come next instead: the chat it opens with bob is bob's next frame,
    // and its own copy of a message is the next thing it receives after the Ack.
    let chat = first.direct("bob").await;
    assert_eq!(bob.expect_pushed_chat().await.id, chat.id);
    first.say(chat.id, msg_id(1), b"sentinel").await;
    server.stop().await;
}
