//! The server's side of WebSocket (RFC 6455): the handshake, the frames and the messages,
//! written here rather than taken from tungstenite so that the memory an idle connection
//! holds is ours to bound.
//!
//! tungstenite reads every frame into one per-connection buffer, grown to the largest frame
//! the peer has sent and never shrunk: one 64 KiB frame, even before sign-in, left that
//! connection holding a buffer of that size, far over the memory budget of an idle
//! connection (PRODUCT.md: 16 KiB, the kernel's share included), for as long as it stayed
//! open. Here a connection between
//! messages holds no read buffer at all: bytes are read into a buffer on the stack and kept
//! on the heap only while a frame is incomplete, and that buffer is let go as soon as it
//! empties (`frame::Inbound`). Frames are written straight from the message's bytes, with
//! no write buffer either.
//!
//! - [`handshake`]: the upgrade request's checks, the `101 Switching Protocols` answer and
//!   the connection handed over once hyper lets go of it.
//! - [`frame`]: frames and messages from bytes and to bytes, without I/O: headers, masks,
//!   fragments, control frames and their rules, size limits.
//! - [`connection`]: one connection as a `Stream` of received messages and a `Sink` of
//!   messages to send; it answers pings and the closing handshake by itself.
//!
//! Extensions (`permessage-deflate`) and subprotocols are not negotiated: the protocol's
//! frames are small and compressing them would cost each connection a compressor's state.

pub(crate) mod connection;
pub(crate) mod frame;
pub(crate) mod handshake;

use std::borrow::Cow;

use bytes::Bytes;

pub(crate) use connection::WebSocket;
pub(crate) use handshake::Upgrade;

/// A WebSocket message, received or to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// A text message (valid UTF-8, checked on receipt).
    Text(String),
    /// A binary message: the protocol's frames.
    Binary(Bytes),
    /// A ping; a received one is answered by the connection itself.
    Ping(Bytes),
    /// A pong: the answer to our ping.
    Pong(Bytes),
    /// The closing handshake, with a code and reason if the sender gave one.
    Close(Option<CloseFrame>),
}

impl Message {
    /// The message's kind, for logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Message::Text(_) => "text",
            Message::Binary(_) => "binary",
            Message::Ping(_) => "ping",
            Message::Pong(_) => "pong",
            Message::Close(_) => "close",
        }
    }

    /// The payload's length in bytes, for logs (never the payload: it is not the server's to
    /// log).
    pub(crate) fn len(&self) -> usize {
        match self {
            Message::Text(text) => text.len(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
            Message::Close(frame) => frame.as_ref().map_or(0, |frame| 2 + frame.reason.len()),
        }
    }
}

/// The code and reason of a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseFrame {
    /// One of [`close_code`], or an application's code (3000–4999).
    pub(crate) code: u16,
    /// Why, in words; at most 123 bytes of UTF-8 (a control frame holds 125).
    pub(crate) reason: Cow<'static, str>,
}

/// The close codes the server uses (RFC 6455, section 7.4.1; 1012–1013 from the IANA
/// registry).
pub(crate) mod close_code {
    /// The connection did what it was for.
    pub(crate) const NORMAL: u16 = 1000;
    /// The server is going away (shutting down).
    pub(crate) const AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol.
    pub(crate) const PROTOCOL: u16 = 1002;
    /// A text message that is not UTF-8.
    pub(crate) const INVALID: u16 = 1007;
    /// The peer broke a rule of the server's.
    pub(crate) const POLICY: u16 = 1008;
    /// A message larger than the server takes.
    pub(crate) const SIZE: u16 = 1009;
    /// Try again later.
    pub(crate) const AGAIN: u16 = 1013;
}

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A frame or message larger than the limit; nothing of it was kept.
    #[error("a WebSocket message of {size} bytes is over the limit of {limit}")]
    TooLarge { size: u64, limit: usize },
    /// The peer broke the WebSocket protocol.
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8.
    #[error("a WebSocket text message that is not UTF-8")]
    NotUtf8,
    /// Sending after our Close, or after the connection failed.
    #[error("the WebSocket connection is closed")]
    Closed,
    /// The connection itself failed.
    #[error("WebSocket connection: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The close code that tells the peer what it did wrong, for errors that are the peer's.
    pub(crate) fn close_code(&self) -> Option<u16> {
        match self {
            Error::TooLarge { .. } => Some(close_code::SIZE),
            Error::Protocol(_) => Some(close_code::PROTOCOL),
            Error::NotUtf8 => Some(close_code::INVALID),
            Error::Closed | Error::Io(_) => None,
        }
    }
}
