//! The HTTP side of files, as the tests speak it: a [`BlobClient`] is one session's token
//! sending `PUT`, `HEAD`, `PATCH` and `GET` to `/blobs/{id}` over the test kit's HTTP client,
//! a server in this process whose data directory the test holds (to look at the files), and
//! the messages that carry a file and delete it for everyone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use merpati_protocol::blobs::{MAX_UPLOAD_PART_BYTES, UPLOAD_LENGTH, UPLOAD_OFFSET};
use merpati_protocol::{BlobId, ChatId, ClientFrame, ClientMsgId, ServerFrame};
use merpati_server::Config;
use merpati_testkit::http::{HttpResponse, OpenRequest, open_request, request};

use super::{Client, TestServer};

impl TestServer {
    /// A server storing its data in `data` (which the caller keeps and may look into),
    /// configured as the defaults changed by `change`.
    pub(crate) async fn start_in_configured(
        data: &Path,
        change: impl FnOnce(&mut Config),
    ) -> TestServer {
        let web = tempfile::tempdir().unwrap();
        let mut config = Config::new(data, web.path());
        change(&mut config);
        let mut server = TestServer::start_with(config).await;
        server._dirs = vec![web];
        server
    }
}

/// A distinct blob id.
pub(crate) fn blob_id(n: u8) -> BlobId {
    let mut id = [0x5a; 16];
    id[0] = n;
    BlobId(id)
}

/// `n` bytes that differ from one position to the next, so that a part out of place shows.
pub(crate) fn ciphertext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Where a blob's file lies in a data directory.
pub(crate) fn blob_file(data: &Path, id: BlobId) -> PathBuf {
    data.join("blobs").join(id.to_hex())
}

/// The `upload-offset` an answer carries.
pub(crate) fn offset(response: &HttpResponse) -> Option<u64> {
    response.header(UPLOAD_OFFSET)?.parse().ok()
}

/// Sends a message carrying `attachment`; the answer (`Ack` or `SendFailed`).
pub(crate) async fn send_with(
    client: &mut Client,
    chat: ChatId,
    id: ClientMsgId,
    attachment: BlobId,
) -> ServerFrame {
    client
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: b"a photo".to_vec(),
            attachment: Some(attachment),
        })
        .await;
    client.recv().await
}

/// Sends a message carrying `attachment`, which must be acknowledged; reads its own copy too.
pub(crate) async fn send_file(
    client: &mut Client,
    chat: ChatId,
    id: ClientMsgId,
    attachment: BlobId,
) {
    match send_with(client, chat, id, attachment).await {
        ServerFrame::Ack { client_msg_id, .. } => assert_eq!(client_msg_id, id),
        other => panic!("expected an ack, got {other:?}"),
    }
    let _own_copy = client.expect_message().await;
}

/// Deletes `target` for everyone with the deletion `id`, which must be acknowledged.
pub(crate) async fn delete_for_everyone(
    client: &mut Client,
    chat: ChatId,
    id: ClientMsgId,
    target: ClientMsgId,
) {
    client
        .send(&ClientFrame::SendDeletion {
            chat_id: chat,
            client_msg_id: id,
            body: b"deleted".to_vec(),
            target,
        })
        .await;
    assert!(matches!(client.recv().await, ServerFrame::Ack { .. }));
}

/// One session's requests to `/blobs/{id}`.
pub(crate) struct BlobClient {
    addr: SocketAddr,
    authorization: String,
}

impl BlobClient {
    /// Requests to the server at `addr` with the session token `token`.
    pub(crate) fn new(addr: SocketAddr, token: [u8; 32]) -> BlobClient {
        BlobClient::with_authorization(addr, &format!("Bearer {}", hex::encode(token)))
    }

    /// Requests carrying `authorization` as it is (a malformed one, say).
    pub(crate) fn with_authorization(addr: SocketAddr, authorization: &str) -> BlobClient {
        BlobClient {
            addr,
            authorization: authorization.to_owned(),
        }
    }

    async fn try_send(
        &self,
        method: &str,
        id: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, merpati_testkit::Error> {
        let mut all = vec![("Authorization", self.authorization.as_str())];
        all.extend_from_slice(headers);
        request(self.addr, method, &format!("/blobs/{id}"), &all, body).await
    }

    async fn send(
        &self,
        method: &str,
        id: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> HttpResponse {
        self.try_send(method, id, headers, body)
            .await
            .unwrap_or_else(|error| panic!("{method} /blobs/{id}: {error}"))
    }

    /// `PUT` with `upload-length: length`.
    pub(crate) async fn put(&self, id: BlobId, length: u64) -> HttpResponse {
        self.put_raw(&id.to_hex(), &[(UPLOAD_LENGTH, &length.to_string())])
            .await
    }

    /// `PUT` to `/blobs/{id}` with these headers, as given.
    pub(crate) async fn put_raw(&self, id: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.send("PUT", id, headers, None).await
    }

    pub(crate) async fn head(&self, id: BlobId) -> HttpResponse {
        self.send("HEAD", &id.to_hex(), &[], None).await
    }

    /// `PATCH` with `upload-offset: at` and `bytes`.
    pub(crate) async fn patch(&self, id: BlobId, at: u64, bytes: &[u8]) -> HttpResponse {
        let at = at.to_string();
        self.send("PATCH", &id.to_hex(), &[(UPLOAD_OFFSET, &at)], Some(bytes))
            .await
    }

    /// `PATCH` as [`BlobClient::patch`], for a server that may be gone.
    pub(crate) async fn try_patch(
        &self,
        id: BlobId,
        at: u64,
        bytes: &[u8],
    ) -> Result<HttpResponse, merpati_testkit::Error> {
        let at = at.to_string();
        self.try_send("PATCH", &id.to_hex(), &[(UPLOAD_OFFSET, &at)], Some(bytes))
            .await
    }

    /// A `PATCH` at `at` with these headers (which say how long its body is) whose body
    /// starts with `first`; the test sends the rest, waits for the answer, or cuts it.
    pub(crate) async fn open_patch(
        &self,
        id: BlobId,
        at: u64,
        headers: &[(&str, &str)],
        first: &[u8],
    ) -> OpenRequest {
        let at = at.to_string();
        let mut all = vec![
            ("Authorization", self.authorization.as_str()),
            (UPLOAD_OFFSET, at.as_str()),
        ];
        all.extend_from_slice(headers);
        open_request(
            self.addr,
            "PATCH",
            &format!("/blobs/{}", id.to_hex()),
            &all,
            first,
        )
        .await
        .unwrap_or_else(|error| panic!("PATCH /blobs/{}: {error}", id.to_hex()))
    }

    /// A `GET` with these extra headers whose answer the test reads as it likes.
    pub(crate) async fn open_get(&self, id: BlobId, headers: &[(&str, &str)]) -> OpenRequest {
        let mut all = vec![("Authorization", self.authorization.as_str())];
        all.extend_from_slice(headers);
        open_request(
            self.addr,
            "GET",
            &format!("/blobs/{}", id.to_hex()),
            &all,
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("GET /blobs/{}: {error}", id.to_hex()))
    }

    /// `PATCH` with these headers and no body, as given.
    pub(crate) async fn patch_raw(&self, id: BlobId, headers: &[(&str, &str)]) -> HttpResponse {
        self.send("PATCH", &id.to_hex(), headers, None).await
    }

    pub(crate) async fn get(&self, id: BlobId) -> HttpResponse {
        self.send("GET", &id.to_hex(), &[], None).await
    }

    /// `GET` with `Range: range`, as given.
    pub(crate) async fn get_range(&self, id: BlobId, range: &str) -> HttpResponse {
        self.send("GET", &id.to_hex(), &[("Range", range)], None)
            .await
    }

    /// Uploads `bytes` from where the upload stands (creating it if needed), in parts of at
    /// most `part` bytes; fails the test at any refusal.
    pub(crate) async fn upload_in_parts(&self, id: BlobId, bytes: &[u8], part: usize) {
        let length = bytes.len() as u64;
        let created = self.put(id, length).await;
        assert!(
            created.status == 201 || created.status == 200,
            "PUT: {created:?}"
        );
        let mut at = offset(&created).expect("PUT says where the upload stands");
        while at < length {
            let end = (at as usize + part).min(bytes.len());
            let answer = self.patch(id, at, &bytes[at as usize..end]).await;
            assert_eq!(answer.status, 204, "PATCH at {at}: {answer:?}");
            at = offset(&answer).expect("PATCH says where the upload stands");
            assert_eq!(at, end as u64);
        }
    }

    /// Uploads `bytes` whole, in the largest parts allowed.
    pub(crate) async fn upload(&self, id: BlobId, bytes: &[u8]) {
        self.upload_in_parts(id, bytes, MAX_UPLOAD_PART_BYTES as usize)
            .await;
    }
}
