//! `/blobs/{id}` over HTTP: who is asking, the four methods, and what each answers.
//!
//! Every request carries `Authorization: Bearer <64 hex digits>`, the session token the
//! WebSocket's `Welcome` handed out (current or the one before the last rotation); without a
//! live session it gets 401 and nothing else is looked at. Past its account's allowance of
//! requests it gets 429 with `Retry-After`, and nothing is done. Then:
//!
//! - `PUT` with `upload-length: N` (1 ≤ N ≤ `MAX_BLOB_BYTES`, else 400 / 413): 201 and
//!   `upload-offset: 0` for a new upload; 200 and the offset held for the same account's
//!   upload of that id and length (a client that does not know whether its `PUT` landed
//!   simply sends it again; one due for deletion is gone, and created anew); 409 for anyone
//!   else's id or another length; 507 past the quota;
//!   429 with `Retry-After` while the account holds its cap of uploads no message carries
//!   (the app waits, and its own messages carrying its uploads make room).
//! - `HEAD`: the owner's upload's `upload-offset` and `upload-length`; 404 to anyone else.
//! - `PATCH` with `upload-offset: n`: at most `MAX_UPLOAD_PART_BYTES` (413 before reading, by
//!   `Content-Length`, and while reading); 404 unless the owner's (or if it falls due for
//!   deletion before the part is recorded); 409 with the offset held if
//!   `n` is not it (or another `PATCH` is appending); 400 past the declared length. The part
//!   goes to the file as it arrives (`part`): 204 with the new `upload-offset` once it is on
//!   disk and recorded; 408 with the offset held if it stalls or trickles in, keeping what
//!   arrived; 507 if the disk is full.
//! - `GET`: a complete blob to any signed-in session (the id is a capability: see
//!   `docs/security.md`), streamed from its file; 404 while incomplete. One `Range` is
//!   served (206, or 416 past the end), so a download cut short goes on where it stopped.
//!
//! An upload due for deletion is gone to all four from the moment it is due, before a pass
//! deletes it as after (`storage::sql::blobs` says when that is): `HEAD`, `PATCH` and `GET`
//! answer 404 as for an id nobody uploaded, and a `PUT` creates it anew.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, put};
use merpati_protocol::blobs::{
    MAX_BLOB_BYTES, MAX_UPLOAD_PART_BYTES, RangeAsked, UPLOAD_LENGTH, UPLOAD_OFFSET, content_range,
    range_asked,
};
use merpati_protocol::{BlobId, UserId};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::BlobStore;
use super::files::AppendError;
use super::part::{self, PartAt, PartError, Received};
use crate::Error;
use crate::storage::{BlobRow, Created, NewBlob};
use crate::throttle::try_again_in;

/// The methods of `/blobs/{id}`, for a router whose state holds the store.
pub(crate) fn blob_routes<S>() -> MethodRouter<S>
where
    Arc<BlobStore>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    put(create).head(status).patch(append).get(download)
}

/// Why a request is answered with other than success; one path to every error response.
#[derive(Debug)]
enum Refusal {
    /// 401: no live session.
    Unauthorized,
    /// 400, with the reason.
    BadRequest(&'static str),
    /// 404: no such upload, not the asker's, or not complete for a download.
    NotFound,
    /// 409, with where the upload stands if the asker may know.
    Conflict { held: Option<u64> },
    /// 408 with where the upload stands: a part sent nothing for a while, or too little, and
    /// what arrived of it is kept.
    Stalled { held: u64 },
    /// 413: longer than a blob or a part may be.
    TooLarge(&'static str),
    /// 507: past the account's quota.
    OverQuota,
    /// 429: the account holds `cap` uploads no message carries, the most it may.
    TooManyOpen { cap: u64 },
    /// 429: the account's requests came faster than its allowance, which allows the next
    /// one in `wait`.
    TooManyRequests { wait: Duration },
    /// 507: the disk is full.
    DiskFull,
    /// 503: the server is stopping.
    ShuttingDown,
    /// 416: a download's `Range` starts past the blob's `length`.
    RangeNotSatisfiable { length: u64 },
    /// 500: a fault of the server (logged, not told).
    Internal(Error),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        Refusal::Internal(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "sign in first",
            )
                .into_response(),
            Refusal::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "no such file").into_response(),
            Refusal::Conflict { held: Some(held) } => (
                StatusCode::CONFLICT,
                [(offset_header(), number(held))],
                "the upload stands elsewhere",
            )
                .into_response(),
            Refusal::Conflict { held: None } => {
                (StatusCode::CONFLICT, "this id is taken").into_response()
            }
            Refusal::Stalled { held } => (
                StatusCode::REQUEST_TIMEOUT,
                [
                    (offset_header(), number(held)),
                    (header::CONNECTION, HeaderValue::from_static("close")),
                ],
                "the part stopped arriving, or came too slowly; what arrived is kept",
            )
                .into_response(),
            Refusal::TooLarge(reason) => (StatusCode::PAYLOAD_TOO_LARGE, reason).into_response(),
            Refusal::OverQuota => (
                StatusCode::INSUFFICIENT_STORAGE,
                "your uploads would pass the space the server gives each account",
            )
                .into_response(),
            Refusal::TooManyOpen { cap } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, number(OPEN_CAP_RETRY_AFTER_SECS))],
                format!(
                    "you have at most {cap} uploads that no message carries yet; \
                     this one can start once one of them is sent"
                ),
            )
                .into_response(),
            Refusal::TooManyRequests { wait } => (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    header::RETRY_AFTER,
                    number(wait.as_secs().saturating_add(1)),
                )],
                format!("too many file requests; {}", try_again_in(wait)),
            )
                .into_response(),
            Refusal::DiskFull => (
                StatusCode::INSUFFICIENT_STORAGE,
                "the server's disk is full; try again later",
            )
                .into_response(),
            Refusal::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "the server is restarting",
            )
                .into_response(),
            Refusal::RangeNotSatisfiable { length } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{length}"))],
                "the range starts past the end of the file",
            )
                .into_response(),
            Refusal::Internal(error) => {
                tracing::error!(%error, "a blob request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
            }
        }
    }
}

/// When an upload refused for the account's cap of uploads no message carries is tried
/// again: room is made by one of its messages being sent, which cannot be foretold, and a
/// person's app has a few files going at once, not hundreds to ask after.
const OPEN_CAP_RETRY_AFTER_SECS: u64 = 30;

fn offset_header() -> HeaderName {
    HeaderName::from_static(UPLOAD_OFFSET)
}

fn number(value: u64) -> HeaderValue {
    HeaderValue::from(value)
}

/// The account of the session whose token the request carries, charged one request of its
/// allowance (every method alike).
async fn authenticate(store: &BlobStore, headers: &HeaderMap) -> Result<UserId, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(parse_token)
        .ok_or(Refusal::Unauthorized)?;
    let account = store
        .storage
        .account_of_token(token)
        .await?
        .ok_or(Refusal::Unauthorized)?;
    store
        .requests
        .take(&account)
        .map_err(|wait| Refusal::TooManyRequests { wait })?;
    Ok(account)
}

/// 64 hex digits as 32 bytes.
fn parse_token(hex: &str) -> Option<[u8; 32]> {
    let mut token = [0u8; 32];
    hex::decode_to_slice(hex.trim(), &mut token).ok()?;
    Some(token)
}

/// The id a path names, in its one spelling (lowercase, as `BlobId::to_hex` writes it).
fn blob_id(raw: &str) -> Result<BlobId, Refusal> {
    BlobId::from_hex(raw)
        .filter(|id| id.to_hex() == raw)
        .ok_or(Refusal::BadRequest("a blob id is 32 lowercase hex digits"))
}

/// A header holding a decimal number; `None` if it is missing.
fn number_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Refusal> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or(Refusal::BadRequest("a header that must be a number is not"))
        })
        .transpose()
}

/// The asker's own upload of this id.
async fn owned(store: &BlobStore, id: BlobId, account: UserId) -> Result<BlobRow, Refusal> {
    match store.storage.blob(id).await? {
        Some(row) if row.owner == account => Ok(row),
        // Someone else's upload and none at all look the same.
        _ => Err(Refusal::NotFound),
    }
}

/// `PUT /blobs/{id}`: creates an upload, or says where the asker's stands.
async fn create(
    State(store): State<Arc<BlobStore>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let account = authenticate(&store, &headers).await?;
    let id = blob_id(&id)?;
    let length = number_header(&headers, UPLOAD_LENGTH)?
        .ok_or(Refusal::BadRequest("upload-length is required"))?;
    if length == 0 {
        return Err(Refusal::BadRequest("an upload has at least one byte"));
    }
    if length > MAX_BLOB_BYTES {
        return Err(Refusal::TooLarge(
            "the file is larger than the server accepts",
        ));
    }
    let created = store
        .storage
        .create_blob(NewBlob {
            id,
            owner: account,
            length,
            quota: store.quota,
            open_cap: store.open_cap,
            orphan_ms: store.orphan_ms,
        })
        .await?;
    let (status, held) = match created {
        Created::New => {
            // The file of a due upload this one replaced holds bytes no row counts.
            store.settle_file(id).await?;
            (StatusCode::CREATED, 0)
        }
        Created::Existing { received } => (StatusCode::OK, received),
        Created::Conflict => return Err(Refusal::Conflict { held: None }),
        Created::OverQuota => return Err(Refusal::OverQuota),
        Created::TooManyOpen => {
            return Err(Refusal::TooManyOpen {
                cap: store.open_cap,
            });
        }
    };
    Ok((status, [(offset_header(), number(held))]).into_response())
}

/// `HEAD /blobs/{id}`: where the asker's upload stands.
async fn status(
    State(store): State<Arc<BlobStore>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let account = authenticate(&store, &headers).await?;
    let row = owned(&store, blob_id(&id)?, account).await?;
    Ok((
        StatusCode::OK,
        [
            (offset_header(), number(row.received)),
            (HeaderName::from_static(UPLOAD_LENGTH), number(row.length)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// `PATCH /blobs/{id}`: appends a part at the offset the upload stands at (`part`).
async fn append(
    State(store): State<Arc<BlobStore>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let account = authenticate(&store, &headers).await?;
    let id = blob_id(&id)?;
    let announced = number_header(&headers, header::CONTENT_LENGTH.as_str())?;
    if announced.is_some_and(|announced| announced > MAX_UPLOAD_PART_BYTES) {
        return Err(Refusal::TooLarge(PART_TOO_LARGE));
    }
    let offset = number_header(&headers, UPLOAD_OFFSET)?
        .ok_or(Refusal::BadRequest("upload-offset is required"))?;
    // Read again under the file's lock before a byte is written (`part::receive`); this
    // reading answers a wrong offset at once.
    let row = owned(&store, id, account).await?;
    if offset != row.received {
        return Err(Refusal::Conflict {
            held: Some(row.received),
        });
    }
    if announced.is_some_and(|bytes| offset.saturating_add(bytes) > row.length) {
        return Err(Refusal::BadRequest(PAST_THE_END));
    }
    let at = PartAt {
        id,
        account,
        offset,
        upload_length: row.length,
    };
    // Taken in by a task of its own, which holds the file's lock: hyper drops this handler
    // when the client leaves before the answer, even with the whole part read, and what
    // arrived must still be flushed and recorded before another request may cut the file
    // back to the recorded offset.
    let receiving = tokio::spawn({
        let store = Arc::clone(&store);
        async move { part::receive(&store, at, body).await }
    });
    let received = receiving
        .await
        .map_err(|error| Refusal::Internal(error.into()))?;
    match received {
        Ok(Received::Whole { held }) => {
            Ok((StatusCode::NO_CONTENT, [(offset_header(), number(held))]).into_response())
        }
        // Nobody is there to read it; said for the record.
        Ok(Received::BrokenOff { .. }) => Err(Refusal::BadRequest("the part was cut short")),
        Ok(Received::Stalled { held }) => Err(Refusal::Stalled { held }),
        Ok(Received::ShuttingDown { .. }) => Err(Refusal::ShuttingDown),
        Err(PartError::TooLarge) => Err(Refusal::TooLarge(PART_TOO_LARGE)),
        Err(PartError::PastTheEnd) => Err(Refusal::BadRequest(PAST_THE_END)),
        Err(PartError::Deleted) => Err(Refusal::NotFound),
        Err(PartError::Moved { held }) => Err(Refusal::Conflict { held: Some(held) }),
        // Another request, of this process or another sharing the blob directory, is
        // appending to it: the client waits and asks again.
        Err(PartError::Append(AppendError::Busy)) => Err(Refusal::Conflict { held: Some(offset) }),
        Err(PartError::Append(AppendError::Full(error))) => {
            tracing::error!(%error, "a blob part could not be stored: the disk is full");
            Err(Refusal::DiskFull)
        }
        Err(PartError::Append(AppendError::Shorter { holds })) => Err(Refusal::Internal(
            Error::Io(std::io::Error::other(format!(
                "blob {} holds {holds} bytes, fewer than its recorded {offset}",
                id.to_hex()
            ))),
        )),
        Err(PartError::Append(AppendError::Io(error))) => Err(Refusal::Internal(error.into())),
        Err(PartError::Internal(error)) => Err(Refusal::Internal(error)),
    }
}

/// Why a part larger than the server takes is refused.
const PART_TOO_LARGE: &str = "a part has at most 8 MiB";
const _: () = assert!(
    MAX_UPLOAD_PART_BYTES == 8 * 1024 * 1024,
    "PART_TOO_LARGE says 8 MiB"
);

/// Why a part running past its upload's declared length is refused.
const PAST_THE_END: &str = "the part runs past the upload's length";

/// `GET /blobs/{id}`: a complete blob, or the one range of it asked for, streamed from its
/// file.
async fn download(
    State(store): State<Arc<BlobStore>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    authenticate(&store, &headers).await?;
    let id = blob_id(&id)?;
    let row = match store.storage.blob(id).await? {
        Some(row) if row.complete() => row,
        _ => return Err(Refusal::NotFound),
    };
    let asked = range_asked(
        headers
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok()),
        row.length,
    );
    let (range, first, count) = match asked {
        RangeAsked::Whole => (None, 0, row.length),
        RangeAsked::Part { first, last } => (
            Some(content_range(first, last, row.length)),
            first,
            last - first + 1,
        ),
        RangeAsked::Unsatisfiable => {
            return Err(Refusal::RangeNotSatisfiable { length: row.length });
        }
    };
    let mut file = open_complete(&store, id, row).await?;
    file.seek(std::io::SeekFrom::Start(first))
        .await
        .map_err(Error::from)?;
    let stream = ReaderStream::new(file.take(count));
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, number(count)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if let Some(range) = range {
        let range = HeaderValue::try_from(range)
            .map_err(|error| Refusal::Internal(Error::Io(std::io::Error::other(error))))?;
        response.headers_mut().insert(header::CONTENT_RANGE, range);
    }
    Ok(response)
}

/// The file of the complete upload `row` read, to be served. Between the reading and the
/// opening a cleanup pass may have deleted the upload and its client created it again under
/// the same id (or created it again once due): the file opened is then the new upload's,
/// shorter, and the blob asked for is gone (404). A file shorter than the row that still
/// stands was damaged (500).
async fn open_complete(
    store: &BlobStore,
    id: BlobId,
    row: BlobRow,
) -> Result<tokio::fs::File, Refusal> {
    let file = match tokio::fs::File::open(store.path(id)).await {
        Ok(file) => file,
        // Deleted since the row was read (a cleanup pass).
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Refusal::NotFound);
        }
        Err(error) => return Err(Error::from(error).into()),
    };
    let holds = file.metadata().await.map_err(Error::from)?.len();
    if holds >= row.length {
        return Ok(file);
    }
    if store.storage.blob(id).await? != Some(row) {
        return Err(Refusal::NotFound);
    }
    Err(Refusal::Internal(Error::Io(std::io::Error::other(
        format!(
            "blob {} holds {holds} bytes, fewer than its length {}",
            id.to_hex(),
            row.length
        ),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::testing::{TestResult, TestStore};

    /// A download read its blob's row, complete, then a pass deleted the blob and its client
    /// created it again (a part of it arrived) before the file was opened: the blob asked
    /// for is gone, not a fault of the server. A file shorter than a row that still stands
    /// is one.
    #[tokio::test]
    async fn a_download_whose_blob_was_deleted_and_made_again_meanwhile_finds_no_such_file()
    -> TestResult {
        let test = TestStore::new().await?;
        let store = &test.store;
        let id = BlobId([3; 16]);
        test.holding(id, 10, b"0123456789").await?;
        let read = store.storage.blob(id).await?.ok_or("no row")?;

        store.storage.make_blob_due(id).await?;
        assert_eq!(store.storage.take_due_blobs().await?, vec![id]);
        assert_eq!(
            store.settle_file(id).await?,
            crate::blobs::cleanup::Settled::Deleted
        );
        test.holding(id, 10, b"abcd").await?;
        let served = open_complete(store, id, read).await;
        assert!(matches!(served, Err(Refusal::NotFound)), "{served:?}");

        // Damaged: the row stands, complete, and its file is shorter.
        let damaged = BlobId([4; 16]);
        test.create(damaged, 10, 86_400_000).await?;
        std::fs::write(store.path(damaged), b"0123456789")?;
        assert!(
            store
                .storage
                .record_blob_received(damaged, test.alice, 0, 10)
                .await?
        );
        std::fs::write(store.path(damaged), b"0123")?;
        let read = store.storage.blob(damaged).await?.ok_or("no row")?;
        let served = open_complete(store, damaged, read).await;
        assert!(matches!(served, Err(Refusal::Internal(_))), "{served:?}");
        test.join();
        Ok(())
    }

    #[test]
    fn a_token_is_64_hex_digits() {
        assert_eq!(parse_token(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_token(&"ab".repeat(31)), None);
        assert_eq!(parse_token(&"zz".repeat(32)), None);
    }
}
