//! The quotas kept with the data they bound: the chats an account is in, its key backup's
//! sealed bytes, and its sessions (the least recently used one ends).

use merpati_protocol::keys::BackupEntry;
use merpati_protocol::{
    MAX_BACKUP_BYTES, MAX_BACKUP_ENTRY_BYTES, MAX_CHATS_PER_ACCOUNT, MAX_SESSIONS_PER_ACCOUNT,
};

use super::*;
use crate::auth::SessionKeys;

/// Makes `account` a member of `count` new groups at once, bypassing the requests (which
/// would take thousands of commits to get there).
async fn fill_chats(storage: &Storage, account: UserId, count: usize) {
    let mut statements: Vec<_> = (0..count)
        .map(|_| {
            (
                "INSERT INTO chats (kind, title, created_ms) VALUES ('group', 'filler', 0)",
                vec![],
            )
        })
        .collect();
    statements.push((
        "INSERT INTO members (chat_id, account_id, joined_ms)
         SELECT id, CAST($1 AS BIGINT), 0 FROM chats WHERE title = 'filler'",
        vec![Value::Int(sql::int(account.0))],
    ));
    seed(storage, statements).await;
}

pub(super) async fn an_account_in_its_most_chats_is_refused_a_new_one_and_others_are_not(
    storage: &Storage,
) {
    let mallory = account(storage, "mallory").await;
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    fill_chats(storage, mallory.id, MAX_CHATS_PER_ACCOUNT).await;

    let refused = storage
        .create_direct(mallory.id, alice.id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    let refused = storage
        .create_group(alice.clone(), "team".into(), vec![mallory.id, bob.id])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    // Refused whole: the group was not left behind without Mallory.
    assert!(storage.chats_joined(alice.id).await.unwrap().is_empty());
    let group = storage
        .create_group(alice.clone(), "team".into(), vec![bob.id])
        .await
        .unwrap();
    let refused = storage
        .add_member(group.chat.id, alice.id, mallory.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    // Everyone else goes on making chats.
    storage.create_direct(alice.id, bob.id).await.unwrap();
    assert_eq!(storage.chats_joined(alice.id).await.unwrap().len(), 2);
}

fn entry(n: u32, len: usize) -> BackupEntry {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    BackupEntry {
        id,
        sealed: vec![0x5a; len],
    }
}

pub(super) async fn a_key_backup_holds_its_quota_of_sealed_bytes_and_replacing_an_entry_frees_its_own(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let per_entry = MAX_BACKUP_ENTRY_BYTES;
    let fitting = u32::try_from(MAX_BACKUP_BYTES / per_entry as u64).unwrap();
    let entries: Vec<BackupEntry> = (0..fitting).map(|n| entry(n, per_entry)).collect();
    for batch in entries.chunks(4096) {
        storage.put_backup(alice.id, batch.to_vec()).await.unwrap();
    }
    // Full: one byte more is refused, and nothing of the refused batch is kept.
    let refused = storage
        .put_backup(alice.id, vec![entry(fitting + 1, 1), entry(fitting + 2, 1)])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    let last = storage.backup_after(alice.id, 0, 1).await.unwrap();
    assert_eq!(last.entries[0].1.id, entry(0, 0).id);
    // Replacing an entry with a smaller one makes room for the difference, no more.
    storage
        .put_backup(alice.id, vec![entry(0, 24)])
        .await
        .unwrap();
    storage
        .put_backup(alice.id, vec![entry(fitting + 1, per_entry - 24)])
        .await
        .unwrap();
    let refused = storage
        .put_backup(alice.id, vec![entry(fitting + 2, 1)])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded);
    // Another account's backup is its own.
    storage
        .put_backup(bob.id, vec![entry(0, per_entry)])
        .await
        .unwrap();
}

pub(super) async fn signing_in_once_more_than_the_cap_ends_the_least_recently_used_session(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let tokens: Vec<[u8; 32]> = (1..MAX_SESSIONS_PER_ACCOUNT)
        .map(|n| {
            let mut token = [0u8; 32];
            token[..8].copy_from_slice(&(n as u64).to_le_bytes());
            token
        })
        .collect();
    for token in &tokens {
        storage
            .create_session(alice.id, SessionKeys::of(token), None)
            .await
            .unwrap();
    }
    // Each session last used at a time of its own: the first of `tokens` longest ago (the
    // registration's session is the most recent).
    let now = i64::try_from(now_ms()).unwrap();
    let touches = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| {
            (
                "UPDATE sessions SET last_used_ms = $1 WHERE token_hash = $2",
                vec![
                    Value::Int(now - 1_000_000 + n as i64),
                    Value::Bytes(crate::auth::token_hash(token).to_vec()),
                ],
            )
        })
        .collect();
    seed(storage, touches).await;
    assert_eq!(
        storage.sessions_of(alice.id).await.unwrap().len(),
        MAX_SESSIONS_PER_ACCOUNT
    );

    let ended = storage
        .create_session(alice.id, SessionKeys::of(&[0xee; 32]), None)
        .await
        .unwrap();
    assert_eq!(ended, vec![crate::auth::token_hash(&tokens[0])]);
    assert_eq!(
        storage.sessions_of(alice.id).await.unwrap().len(),
        MAX_SESSIONS_PER_ACCOUNT
    );
    assert!(storage.resume_session(tokens[0]).await.unwrap().is_none());
    assert!(storage.resume_session(tokens[1]).await.unwrap().is_some());
    assert!(storage.resume_session([0xee; 32]).await.unwrap().is_some());
}
