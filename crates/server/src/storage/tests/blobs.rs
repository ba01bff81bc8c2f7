//! Uploads' rows: the quota counts an account's uploads but not those already due for
//! deletion, the cap of open uploads only those no message carries, a pass takes exactly the
//! due ones, a message carrying an upload keeps it until that message is deleted for
//! everyone, an upload due for deletion is sent by no message, found by no one, given no
//! part's bytes, and created again starts anew, and a part's bytes are recorded only in its
//! owner's upload.

use merpati_protocol::BlobId;

use super::*;

fn new_blob(n: u8, owner: UserId, length: u64, orphan_ms: u64) -> NewBlob {
    NewBlob {
        id: BlobId([n; 16]),
        owner,
        length,
        quota: 100,
        open_cap: 0,
        orphan_ms,
    }
}

pub(super) async fn the_quota_counts_an_accounts_live_uploads_and_a_pass_takes_the_due_ones(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await.id;
    let day = 86_400_000;
    let create = |blob| storage.create_blob(blob);

    assert_eq!(
        create(new_blob(1, alice, 60, day)).await.unwrap(),
        Created::New
    );
    assert_eq!(
        create(new_blob(2, alice, 41, day)).await.unwrap(),
        Created::OverQuota
    );
    // Due at once: no longer counted, and taken by the next pass.
    assert_eq!(
        create(new_blob(3, alice, 40, 0)).await.unwrap(),
        Created::New
    );
    assert_eq!(
        create(new_blob(4, alice, 40, day)).await.unwrap(),
        Created::New
    );
    assert_eq!(storage.take_due_blobs().await.unwrap(), [BlobId([3; 16])]);
    assert_eq!(storage.blob(BlobId([3; 16])).await.unwrap(), None);
    assert_eq!(storage.take_due_blobs().await.unwrap(), []);
}

pub(super) async fn a_carried_upload_is_kept_until_its_message_is_deleted_for_everyone(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let photo = BlobId([1; 16]);
    storage
        .create_blob(new_blob(1, alice.id, 10, 86_400_000))
        .await
        .unwrap();
    assert!(
        storage
            .record_blob_received(photo, alice.id, 0, 10)
            .await
            .unwrap()
    );
    let append = |id: u8, refers| {
        let queued = storage.queue_append(
            chat.id,
            NewMessage {
                refers,
                ..new_message(id, alice.id, vec![id])
            },
            AppendFence::default(),
        );
        async move { queued.await?.await }
    };

    append(1, Refers::Carries(photo)).await.unwrap();
    assert_eq!(storage.take_due_blobs().await.unwrap(), [], "carried: kept");
    append(2, Refers::Deletes(ClientMsgId([1; 16])))
        .await
        .unwrap();
    assert_eq!(storage.take_due_blobs().await.unwrap(), [photo]);
}

/// An upload due for deletion no longer counts against its account's quota or cap (the next
/// pass takes it), so it cannot be sent either: carried, it would be kept again while the
/// room it left was already taken by new uploads, past the quota, and an account could grow
/// its files so each time its orphans fell due.
pub(super) async fn an_upload_due_for_deletion_is_not_sent(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let due = BlobId([1; 16]);
    storage
        .create_blob(new_blob(1, alice.id, 60, 86_400_000))
        .await
        .unwrap();
    assert!(
        storage
            .record_blob_received(due, alice.id, 0, 60)
            .await
            .unwrap()
    );
    storage.make_blob_due(due).await.unwrap();
    assert_eq!(
        storage
            .create_blob(new_blob(2, alice.id, 60, 86_400_000))
            .await
            .unwrap(),
        Created::New,
        "the room it held is free"
    );

    let queued = storage.queue_append(
        chat.id,
        NewMessage {
            refers: Refers::Carries(due),
            ..new_message(1, alice.id, vec![1])
        },
        AppendFence::default(),
    );
    let sent = async { queued.await?.await }.await;
    assert_eq!(
        sent.map_err(|error| error.code()).err(),
        Some(ErrorCode::NoSuchBlob)
    );
    assert_eq!(storage.take_due_blobs().await.unwrap(), [due]);
}

pub(super) async fn the_cap_of_open_uploads_counts_those_no_message_carries(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let (chat, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let day = 86_400_000;
    let capped = |n, owner, orphan_ms| NewBlob {
        open_cap: 2,
        ..new_blob(n, owner, 1, orphan_ms)
    };
    let create = |blob| storage.create_blob(blob);

    assert_eq!(
        create(capped(1, alice.id, day)).await.unwrap(),
        Created::New
    );
    assert_eq!(
        create(capped(2, alice.id, day)).await.unwrap(),
        Created::New
    );
    assert_eq!(
        create(capped(3, alice.id, day)).await.unwrap(),
        Created::TooManyOpen
    );
    // An upload already there is answered as always; another account has its own cap.
    assert_eq!(
        create(capped(1, alice.id, day)).await.unwrap(),
        Created::Existing { received: 0 }
    );
    assert_eq!(create(capped(4, bob.id, day)).await.unwrap(), Created::New);

    // Carried by a message, an upload no longer counts.
    assert!(
        storage
            .record_blob_received(BlobId([1; 16]), alice.id, 0, 1)
            .await
            .unwrap()
    );
    let queued = storage.queue_append(
        chat.id,
        NewMessage {
            refers: Refers::Carries(BlobId([1; 16])),
            ..new_message(1, alice.id, vec![1])
        },
        AppendFence::default(),
    );
    queued.await.unwrap().await.unwrap();
    assert_eq!(
        create(capped(3, alice.id, day)).await.unwrap(),
        Created::New
    );
    // Nor does one already due for deletion: with room for three, 5 (due at once) leaves
    // room for 6.
    let roomier = |n, orphan_ms| NewBlob {
        open_cap: 3,
        ..capped(n, alice.id, orphan_ms)
    };
    assert_eq!(create(roomier(5, 0)).await.unwrap(), Created::New);
    assert_eq!(create(roomier(6, day)).await.unwrap(), Created::New);
    assert_eq!(create(roomier(7, day)).await.unwrap(), Created::TooManyOpen);
}

/// One upload sent in two chats at once: the one that links it second is refused, and the
/// others' messages in its batch are stored. On PostgreSQL appends run READ COMMITTED, so the
/// second could check the upload while the first's link was not yet committed; it then failed
/// at linking, and its whole batch with it (everyone's messages in that chat, their
/// connections closed). Here a transaction of the test's own holds chat A's link uncommitted
/// while chat B's batch checks the upload; on SQLite the single writer runs one after the
/// other, and the link is simply there first.
pub(super) async fn an_upload_sent_in_two_chats_at_once_spoils_no_one_elses_message(
    storage: &Storage,
) {
    let mallory = account(storage, "mallory").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let (chat_a, _) = storage.create_direct(mallory.id, carol.id).await.unwrap();
    let (chat_b, _) = storage.create_direct(mallory.id, bob.id).await.unwrap();
    let photo = BlobId([1; 16]);
    storage
        .create_blob(new_blob(1, mallory.id, 10, 86_400_000))
        .await
        .unwrap();
    assert!(
        storage
            .record_blob_received(photo, mallory.id, 0, 10)
            .await
            .unwrap()
    );
    let queue = |chat: ChatId, id: u8, sender: UserId, refers| {
        storage.queue_append(
            chat,
            NewMessage {
                refers,
                ..new_message(id, sender, vec![id])
            },
            AppendFence::default(),
        )
    };

    let outcomes = match &storage.backend {
        Backend::Sqlite(_) => {
            let carried = queue(chat_a.id, 1, mallory.id, Refers::Carries(photo));
            carried.await.unwrap().await.unwrap();
            let bobs = queue(chat_b.id, 2, bob.id, Refers::Nothing).await.unwrap();
            let mallorys = queue(chat_b.id, 3, mallory.id, Refers::Carries(photo));
            (bobs.await, mallorys.await.unwrap().await)
        }
        Backend::Postgres(pg) => {
            // Chat A's link, uncommitted.
            let mut linking = pg.client().await.unwrap();
            let link = linking.transaction().await.unwrap();
            link.execute(
                "UPDATE blobs SET chat_id = $2, seq = 1, expires_ms = NULL WHERE id = $1",
                &[&photo.0.as_slice(), &i64::try_from(chat_a.id.0).unwrap()],
            )
            .await
            .unwrap();
            // Chat B's row held, so that a first message of bob's waits on it: bob's second
            // message and mallory's then queue together behind it, for one batch.
            let mut holding = pg.client().await.unwrap();
            let hold = holding.transaction().await.unwrap();
            hold.execute(
                "SELECT 1 FROM chats WHERE id = $1 FOR UPDATE",
                &[&i64::try_from(chat_b.id.0).unwrap()],
            )
            .await
            .unwrap();
            let first = queue(chat_b.id, 1, bob.id, Refers::Nothing).await.unwrap();
            one_waits_on_a_lock(pg).await;
            let bobs = queue(chat_b.id, 2, bob.id, Refers::Nothing).await.unwrap();
            let mallorys = queue(chat_b.id, 3, mallory.id, Refers::Carries(photo))
                .await
                .unwrap();
            hold.commit().await.unwrap();
            first.await.unwrap();
            // The two's batch now checks the upload, whose row chat A's link holds.
            one_waits_on_a_lock(pg).await;
            link.commit().await.unwrap();
            (bobs.await, mallorys.await)
        }
    };
    let (bobs, mallorys) = outcomes;
    assert!(bobs.is_ok(), "bob's message is stored: {bobs:?}");
    assert_eq!(
        mallorys.map_err(|error| error.code()).err(),
        Some(ErrorCode::NoSuchBlob)
    );
}

/// Waits until one transaction of the case's database waits on a lock.
async fn one_waits_on_a_lock(pg: &super::postgres::Postgres) {
    let watcher = pg.client().await.unwrap();
    let mut waiting = 0_i64;
    for _ in 0..2_000 {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .await
            .unwrap();
        waiting = row.get(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(waiting, 1, "one transaction waits on a lock");
}

/// A client whose upload fell due for deletion (unsent past the orphan window) and creates it
/// again before a pass deleted it starts it anew: told it stood, the client went on with it
/// while the pass deleted it under it. The room it held is the new upload's.
pub(super) async fn an_upload_created_again_once_due_for_deletion_starts_anew(storage: &Storage) {
    let alice = account(storage, "alice").await.id;
    let id = BlobId([1; 16]);
    let create = |orphan_ms| storage.create_blob(new_blob(1, alice, 60, orphan_ms));
    assert_eq!(create(86_400_000).await.unwrap(), Created::New);
    assert!(storage.record_blob_received(id, alice, 0, 6).await.unwrap());
    storage.make_blob_due(id).await.unwrap();

    assert_eq!(create(86_400_000).await.unwrap(), Created::New);
    let row = storage.blob(id).await.unwrap().map(|row| row.received);
    assert_eq!(row, Some(0), "no byte of the one due");
    assert_eq!(storage.take_due_blobs().await.unwrap(), [], "not due");
    assert_eq!(
        create(86_400_000).await.unwrap(),
        Created::Existing { received: 0 },
        "a live upload is answered as always"
    );
    // Refused, the one due stays for the pass, which deletes its file.
    let other = BlobId([2; 16]);
    storage
        .create_blob(new_blob(2, alice, 30, 0))
        .await
        .unwrap();
    assert_eq!(
        storage
            .create_blob(new_blob(2, alice, 41, 86_400_000))
            .await
            .unwrap(),
        Created::OverQuota
    );
    assert_eq!(storage.take_due_blobs().await.unwrap(), [other]);
}

/// A part records its bytes only in its own account's upload: one whose row was deleted
/// while it was written, and whose id another account then created, records nothing there.
pub(super) async fn a_part_records_its_bytes_only_in_its_owners_upload(storage: &Storage) {
    let alice = account(storage, "alice").await.id;
    let bob = account(storage, "bob").await.id;
    let id = BlobId([1; 16]);
    storage
        .create_blob(new_blob(1, alice, 10, 0))
        .await
        .unwrap();
    assert_eq!(storage.take_due_blobs().await.unwrap(), [id]);
    storage
        .create_blob(new_blob(1, bob, 10, 86_400_000))
        .await
        .unwrap();

    assert!(!storage.record_blob_received(id, alice, 0, 4).await.unwrap());
    let row = storage.blob(id).await.unwrap();
    assert_eq!(row.map(|row| (row.owner, row.received)), Some((bob, 0)));
    assert!(storage.record_blob_received(id, bob, 0, 4).await.unwrap());
}

/// An upload due for deletion is gone from that moment, not only once a pass deletes it: no
/// one finds it (its owner resuming it, anyone downloading it) and no part's bytes are
/// recorded in it. One no message carries falls due at the end of its orphan window,
/// unfinished or complete; one a message carries only once that message is deleted for
/// everyone, and at once then.
pub(super) async fn an_upload_due_for_deletion_is_found_by_no_one_and_takes_no_bytes(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await.id;
    let bob = account(storage, "bob").await.id;
    let (chat, _) = storage.create_direct(alice, bob).await.unwrap();
    let (unfinished, born_due, photo) = (BlobId([1; 16]), BlobId([2; 16]), BlobId([3; 16]));
    let create = |n, orphan_ms| storage.create_blob(new_blob(n, alice, 10, orphan_ms));
    let found = |id| async move { storage.blob(id).await.unwrap() };

    // Its orphan window ended half-way.
    create(1, 86_400_000).await.unwrap();
    assert!(
        storage
            .record_blob_received(unfinished, alice, 0, 4)
            .await
            .unwrap()
    );
    storage.make_blob_due(unfinished).await.unwrap();
    assert_eq!(found(unfinished).await, None, "not resumed");
    assert!(
        !storage
            .record_blob_received(unfinished, alice, 4, 8)
            .await
            .unwrap(),
        "a part takes nothing"
    );
    // An orphan window of nothing: due from the start.
    create(2, 0).await.unwrap();
    assert_eq!(found(born_due).await, None);
    assert!(
        !storage
            .record_blob_received(born_due, alice, 0, 4)
            .await
            .unwrap()
    );

    // Carried, it has no time to fall due at; its message deleted for everyone, it is gone.
    create(3, 86_400_000).await.unwrap();
    assert!(
        storage
            .record_blob_received(photo, alice, 0, 10)
            .await
            .unwrap()
    );
    let append = |id: u8, refers| {
        let queued = storage.queue_append(
            chat.id,
            NewMessage {
                refers,
                ..new_message(id, alice, vec![id])
            },
            AppendFence::default(),
        );
        async move { queued.await?.await }
    };
    append(1, Refers::Carries(photo)).await.unwrap();
    let complete = found(photo).await.map(|row| row.complete());
    assert_eq!(complete, Some(true), "carried: found");
    append(2, Refers::Deletes(ClientMsgId([1; 16])))
        .await
        .unwrap();
    assert_eq!(
        found(photo).await,
        None,
        "its message deleted: gone before a pass"
    );

    let mut taken = storage.take_due_blobs().await.unwrap();
    taken.sort_by_key(|id| id.0);
    assert_eq!(taken, [unfinished, born_due, photo], "each was due");
}
