//! An upload due for deletion (docs/protocol.md "Files", how long a blob is kept) is gone from
//! the moment it is due, not only once a cleanup pass has deleted it: its owner's `HEAD` and
//! `PATCH` and anyone's `GET` are answered as for an id nobody uploaded, and a `PUT` creates
//! it anew, with none of its old bytes. These servers run no pass while a test lasts (one a
//! day, after the one at start), so each upload found gone here is due and not yet deleted.

use std::path::PathBuf;

use merpati_protocol::BlobId;
use merpati_protocol::blobs::range_from;
use merpati_server::Config;
use merpati_testkit::http::HttpResponse;
use tempfile::TempDir;

use crate::support::{
    BlobClient, Client, TestServer, blob_file, blob_id, ciphertext, data_dir, delete_for_everyone,
    msg_id, offset, send_file,
};

/// What is answered for a blob that is not there, to compare with.
fn not_there(response: &HttpResponse) -> (u16, &[u8]) {
    (response.status, &response.body)
}

/// alice's and bob's sessions, in a direct chat, on a server that runs no pass while the
/// test lasts, whose data directory the test can look into.
struct Chatting {
    _server: TestServer,
    alice: Client,
    chat: merpati_protocol::ChatId,
    /// alice's requests: the owner's.
    owner: BlobClient,
    /// bob's requests: a member who was sent the file.
    member: BlobClient,
    data: PathBuf,
    _dir: TempDir,
}

impl Chatting {
    async fn start(change: impl FnOnce(&mut Config)) -> Chatting {
        let (dir, data) = data_dir();
        let server = TestServer::start_in_configured(&data, |config| {
            config.blob_cleanup_interval_ms = 86_400_000;
            change(config);
        })
        .await;
        let (mut alice, _, alice_token) = server.signed_up("alice").await;
        let (_bob, _, bob_token) = server.signed_up("bob").await;
        let chat = alice.direct("bob").await.id;
        Chatting {
            owner: BlobClient::new(server.addr, alice_token),
            member: BlobClient::new(server.addr, bob_token),
            _server: server,
            alice,
            chat,
            data,
            _dir: dir,
        }
    }

    /// alice uploads `bytes` as `id` and sends it to bob in message `n`.
    async fn sent(&mut self, n: u64, id: BlobId, bytes: &[u8]) {
        self.owner.upload(id, bytes).await;
        send_file(&mut self.alice, self.chat, msg_id(n), id).await;
    }

    /// alice deletes message `n` for everyone with the deletion `deletion`: its file falls due
    /// at once.
    async fn delete(&mut self, deletion: u64, n: u64) {
        delete_for_everyone(&mut self.alice, self.chat, msg_id(deletion), msg_id(n)).await;
    }
}

/// A file whose message is deleted for everyone is served no more from the moment of the
/// deletion: it was downloaded by anyone holding its id until the next pass (a minute by
/// default, or never while a pass failed), and its owner was told where it stood.
#[tokio::test]
async fn a_file_whose_message_is_deleted_for_everyone_is_not_served_before_a_pass() {
    let mut test = Chatting::start(|_| {}).await;
    let (deleted, kept) = (blob_id(1), blob_id(2));
    test.sent(1, deleted, &ciphertext(10)).await;
    test.sent(2, kept, &ciphertext(10)).await;
    assert_eq!(test.member.get(deleted).await.status, 200);

    test.delete(3, 1).await;
    let nobodys = test.member.get(blob_id(9)).await;
    assert_eq!(not_there(&nobodys), (404, &b"no such file"[..]));
    let ranged = range_from(4);
    for asked in [
        test.member.get(deleted).await,
        test.member.get_range(deleted, &ranged).await,
        test.owner.get(deleted).await,
    ] {
        assert_eq!(not_there(&asked), not_there(&nobodys), "{asked:?}");
    }
    assert_eq!(test.owner.head(deleted).await.status, 404);
    assert!(
        blob_file(&test.data, deleted).exists(),
        "due, not yet deleted"
    );

    assert_eq!(test.member.get(kept).await.body, ciphertext(10));
    assert_eq!(test.owner.head(kept).await.status, 200);
}

/// An upload whose time has come (an orphan window of nothing: due from its `PUT`) is not
/// resumed: its owner's `HEAD` finds nothing and a part is refused as for an id nobody
/// uploaded, keeping nothing. The part's bytes went to an upload the next pass deletes, and
/// the client was told they were kept.
#[tokio::test]
async fn an_upload_due_for_deletion_is_not_resumed_and_takes_no_part() {
    let test = Chatting::start(|config| config.blob_orphan_secs = 0).await;
    let (id, bytes) = (blob_id(1), ciphertext(10));
    assert_eq!(test.owner.put(id, 10).await.status, 201);

    assert_eq!(test.owner.head(id).await.status, 404);
    let nobodys = test.owner.patch(blob_id(9), 0, &bytes).await;
    assert_eq!(nobodys.status, 404);
    let part = test.owner.patch(id, 0, &bytes).await;
    assert_eq!(not_there(&part), not_there(&nobodys), "{part:?}");
    assert!(!blob_file(&test.data, id).exists(), "nothing of it kept");
    let again = test.owner.put(id, 10).await;
    assert_eq!((again.status, offset(&again)), (201, Some(0)), "anew");
}

/// An upload created again once due for deletion starts anew, rather than being told it
/// stands while the next pass deletes it, and its file keeps none of the old bytes, which no
/// quota counts any more. (The app uploads a file again under its id when a message carrying
/// it is refused.)
#[tokio::test]
async fn an_upload_created_again_once_due_for_deletion_starts_anew_with_an_empty_file() {
    let mut test = Chatting::start(|_| {}).await;
    let (id, bytes) = (blob_id(1), ciphertext(2_000));
    test.sent(1, id, &bytes).await;
    test.delete(2, 1).await;
    let file = blob_file(&test.data, id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 2_000);

    let again = test.owner.put(id, 2_000).await;
    assert_eq!((again.status, offset(&again)), (201, Some(0)));
    assert_eq!(offset(&test.owner.head(id).await), Some(0));
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        0,
        "nothing of the old"
    );
    test.owner.upload_in_parts(id, &bytes, 1_500).await;
    assert_eq!(test.member.get(id).await.body, bytes, "byte for byte");
}
