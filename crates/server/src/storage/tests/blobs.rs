//! Uploads' rows: the quota counts an account's uploads but not those already due for
//! deletion, a pass takes exactly the due ones, and a message carrying an upload keeps it
//! until that message is deleted for everyone.

use merpati_protocol::BlobId;

use super::*;

fn new_blob(n: u8, owner: UserId, length: u64, orphan_ms: u64) -> NewBlob {
    NewBlob {
        id: BlobId([n; 16]),
        owner,
        length,
        quota: 100,
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
        .create_blob(new_blob(1, alice.id, 10, 0))
        .await
        .unwrap();
    assert!(storage.record_blob_received(photo, 0, 10).await.unwrap());
    let append = |id: u8, refers| {
        let queued = storage.queue_append(
            chat.id,
            ClientMsgId([id; 16]),
            alice.id,
            Arc::new(vec![id]),
            refers,
            IfNew::Store,
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
