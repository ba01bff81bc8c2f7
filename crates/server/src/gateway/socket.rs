//! Writing to the peer: frames, error frames, `Goodbye`, and the closing handshake.
//!
//! A session's socket is any [`FrameSocket`]: a `Sink` and `Stream` of WebSocket messages.
//! In the server it is the server's own [`WebSocket`](crate::websocket::WebSocket), not split
//! halves of it: splitting would put the socket behind a shared lock in an allocation of its
//! own, and every idle connection would pay for it. The tests drive a session over in-memory channels instead.
//!
//! Every write has a deadline: a peer that does not read is dropped rather than waited for,
//! and an evicted one is not waited for at all.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use merpati_protocol::{ErrorCode, RequestId, ServerFrame};

use super::encode;
use super::session::{Flow, Gone, Session};
use crate::Error;
use crate::websocket::{self, CloseFrame, Message};

/// How long one write may wait for a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the peer's answer to our Close before dropping the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// What a session talks over: WebSocket messages out (`Sink`) and in (`Stream`), with the
/// WebSocket layer's errors.
pub(crate) trait FrameSocket:
    Sink<Message, Error = websocket::Error>
    + Stream<Item = Result<Message, websocket::Error>>
    + Unpin
    + Send
    + 'static
{
}

impl<S> FrameSocket for S where
    S: Sink<Message, Error = websocket::Error>
        + Stream<Item = Result<Message, websocket::Error>>
        + Unpin
        + Send
        + 'static
{
}

/// Whether a receive error is the WebSocket layer refusing an oversized message.
pub(super) fn is_too_large(error: &websocket::Error) -> bool {
    matches!(error, websocket::Error::TooLarge { .. })
}

impl<S: FrameSocket> Session<S> {
    /// Writes one WebSocket message, within [`WRITE_TIMEOUT`] and unless evicted meanwhile.
    pub(super) async fn write_message(&mut self, message: Message) -> Result<(), Gone> {
        let write = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(message));
        tokio::select! {
            biased;
            written = write => match written {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "send failed");
                    Err(Gone)
                }
                Err(_) => {
                    tracing::info!("peer does not read; dropping the connection");
                    Err(Gone)
                }
            },
            // A peer so far behind that it was evicted is not worth waiting for.
            () = self.evicted.cancelled() => {
                tracing::info!("evicted while waiting to write; dropping the connection");
                Err(Gone)
            }
        }
    }

    /// Writes an encoded frame.
    pub(super) async fn write_bytes(&mut self, frame: Bytes) -> Result<(), Gone> {
        self.write_message(Message::Binary(frame)).await
    }

    /// Encodes and writes a frame.
    pub(super) async fn write_frame(&mut self, frame: &ServerFrame) -> Result<(), Gone> {
        self.write_bytes(encode(frame)).await
    }

    /// Writes the error frame for `error`, logging faults of the server.
    pub(super) async fn write_error(
        &mut self,
        request: Option<RequestId>,
        error: &Error,
    ) -> Result<(), Gone> {
        match error {
            Error::Refused { .. } => tracing::debug!(%error, "request refused"),
            _ => {
                tracing::warn!(%error, "request failed");
                self.storage_failed = true;
            }
        }
        self.write_frame(&ServerFrame::Error {
            request,
            code: error.code(),
            detail: error.client_detail(),
        })
        .await
    }

    /// Refuses a request with `code`; the session goes on.
    pub(super) async fn refuse(
        &mut self,
        request: Option<RequestId>,
        code: ErrorCode,
        detail: impl Into<String>,
    ) -> Result<Flow, Gone> {
        self.write_error(request, &Error::refused(code, detail))
            .await?;
        Ok(Flow::Continue)
    }

    /// Says `Goodbye` with when to come back; a peer that cannot hear it is gone anyway.
    pub(super) async fn goodbye(&mut self, code: ErrorCode, retry_after_ms: u64) {
        let _ = self
            .write_frame(&ServerFrame::Goodbye {
                code,
                retry_after_ms: Some(u32::try_from(retry_after_ms).unwrap_or(u32::MAX)),
            })
            .await;
    }

    /// Says `Goodbye` with no time to come back: the peer is not to reconnect by itself.
    pub(super) async fn farewell(&mut self, code: ErrorCode) {
        let _ = self
            .write_frame(&ServerFrame::Goodbye {
                code,
                retry_after_ms: None,
            })
            .await;
    }

    /// Sends a Close frame and waits a moment for the peer's.
    pub(super) async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: Cow::Borrowed(reason),
        };
        if self
            .write_message(Message::Close(Some(frame)))
            .await
            .is_err()
        {
            return;
        }
        // Let the peer answer our Close, so the connection ends cleanly rather than with a
        // reset that could swallow the Close before the peer reads it.
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }
}
