//! One WebSocket connection: a `Stream` of the messages the client sends and a `Sink` of the
//! messages the server sends, over any byte stream (the upgraded HTTP connection in the
//! server, an in-memory pipe in the tests).
//!
//! It answers by itself what RFC 6455 says a peer must: a ping with a pong (the last ping's,
//! sent before the next message), and a Close with a Close, after which the stream ends. The
//! session sees pings, pongs and Closes too, and ends the connection as it likes.
//!
//! Reading goes through a buffer on the stack: the bytes are copied to the heap only when
//! they do not end in a whole message, and [`Inbound::release`] lets go of that before each
//! wait, so an idle connection holds no read buffer. Writing takes no buffer either: a
//! frame's header and its payload go out together in one vectored write, the payload straight
//! from the message's bytes (shared by every recipient of a fanned-out frame).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{self, Head, Inbound, OpCode};
use super::{Error, Message};

/// How much one read takes at most: a stack buffer, so its size costs an idle connection
/// nothing.
const READ_CHUNK: usize = 4096;

/// A frame partly written.
#[derive(Debug)]
struct Outgoing {
    head: Head,
    payload: Bytes,
    /// Bytes of header and payload written so far.
    written: usize,
}

impl Outgoing {
    fn new(opcode: OpCode, payload: Bytes) -> Outgoing {
        Outgoing {
            head: frame::head(opcode, payload.len()),
            payload,
            written: 0,
        }
    }
}

/// A server's WebSocket connection over the byte stream `T`.
#[derive(Debug)]
pub(crate) struct WebSocket<T> {
    io: T,
    inbound: Inbound,
    /// The frame being written; another waits until it is out.
    writing: Option<Outgoing>,
    /// The payload of the last ping not yet answered.
    pong_owed: Option<Bytes>,
    /// The Close to send in answer to the client's.
    close_owed: Option<Bytes>,
    /// Whether our Close has gone (or is going) out: nothing may follow it.
    close_sent: bool,
    /// Whether reading is over: the client's Close, the end of the stream or an error.
    read_over: bool,
}

impl<T> WebSocket<T> {
    /// A connection whose handshake is done, taking messages of up to `limit` bytes.
    pub(crate) fn new(io: T, limit: usize) -> WebSocket<T> {
        WebSocket {
            io,
            inbound: Inbound::new(limit),
            writing: None,
            pong_owed: None,
            close_owed: None,
            close_sent: false,
            read_over: false,
        }
    }

    /// Heap bytes this connection holds for what the client has sent but is not yet a
    /// message: none between messages.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.inbound.held_bytes()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> WebSocket<T> {
    /// Writes out the frame being written, if any.
    fn poll_write_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(out) = self.writing.as_mut() {
            let head = out.head.as_bytes();
            let (head_left, payload_left) = match head.get(out.written..) {
                Some(head_left) if !head_left.is_empty() => (head_left, &out.payload[..]),
                _ => (&[][..], &out.payload[out.written - head.len()..]),
            };
            if head_left.is_empty() && payload_left.is_empty() {
                self.writing = None;
                break;
            }
            let slices = [IoSlice::new(head_left), IoSlice::new(payload_left)];
            let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.written += written;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes out the frame being written, then the pong and the Close owed.
    fn poll_write_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_write_frame(cx))?;
            if let Some(payload) = self.pong_owed.take() {
                self.writing = Some(Outgoing::new(OpCode::Pong, payload));
            } else if let Some(payload) = self.close_owed.take() {
                self.writing = Some(Outgoing::new(OpCode::Close, payload));
                self.close_sent = true;
            } else {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Sends what is owed and flushes.
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_owed(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Notes what a received message asks of us.
    fn on_received(&mut self, message: &Message) {
        match message {
            Message::Ping(payload) if !self.close_sent => self.pong_owed = Some(payload.clone()),
            Message::Close(frame) => {
                self.read_over = true;
                if !self.close_sent {
                    // Echo the client's code (section 5.5.1); no reason needed.
                    let payload = frame.as_ref().map_or_else(Bytes::new, |frame| {
                        Bytes::copy_from_slice(&frame.code.to_be_bytes())
                    });
                    self.close_owed = Some(payload);
                }
            }
            _ => {}
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<T> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.read_over {
            // After the client's Close: our answer goes out before the stream ends.
            if (this.close_owed.is_some() || this.writing.is_some())
                && let Err(error) = ready!(this.poll_write_all(cx))
            {
                tracing::debug!(%error, "could not answer the client's Close");
            }
            return Poll::Ready(None);
        }
        // Pongs go out without waiting for the session to write something.
        if let Poll::Ready(Err(error)) = this.poll_write_all(cx) {
            this.read_over = true;
            return Poll::Ready(Some(Err(error.into())));
        }
        loop {
            match this.inbound.next_message() {
                Ok(Some(message)) => {
                    tracing::trace!(
                        kind = message.kind(),
                        bytes = message.len(),
                        "WebSocket message received"
                    );
                    this.on_received(&message);
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(None) => {}
                Err(error) => {
                    this.read_over = true;
                    this.inbound = Inbound::new(0);
                    return Poll::Ready(Some(Err(error)));
                }
            }
            let mut chunk = [0; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Pending => {
                    this.inbound.release();
                    return Poll::Pending;
                }
                Poll::Ready(Err(error)) => {
                    this.read_over = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    this.read_over = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(())) => this.inbound.extend(buf.filled()),
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_owed(cx).map_err(Error::from)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let this = self.get_mut();
        if this.close_sent {
            return Err(Error::Closed);
        }
        if this.writing.is_some() {
            return Err(Error::Io(io::Error::other(
                "a message sent before the last one was written (poll_ready first)",
            )));
        }
        tracing::trace!(
            kind = message.kind(),
            bytes = message.len(),
            "WebSocket message sent"
        );
        let (opcode, payload) = frame::encode(message);
        if opcode == OpCode::Close {
            this.close_sent = true;
            this.close_owed = None;
            this.pong_owed = None;
        }
        this.writing = Some(Outgoing::new(opcode, payload));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_all(cx).map_err(Error::from)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_all(cx))?;
        Pin::new(&mut this.io)
            .poll_shutdown(cx)
            .map_err(Error::from)
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
