//! WebSocket frames from bytes and to bytes, without I/O (RFC 6455, section 5).
//!
//! [`Inbound`] takes the bytes a client sends, in whatever pieces they arrive, and gives back
//! whole messages: it unmasks, joins fragments, checks every rule a server must check, and
//! refuses a frame or message over the limit from its header, before any of its payload is
//! kept. [`head`] and [`close_payload`] make the server's own frames, which are never masked
//! and never fragmented.
//!
//! Memory: received bytes are kept only until they make a message. [`Inbound::release`] lets
//! go of the buffer whenever it is empty, so a connection between messages holds none, and
//! copies a few leftover bytes into a buffer of their own rather than keep a large one alive
//! for them.

use bytes::{Bytes, BytesMut};

use super::{CloseFrame, Error, Message};

/// The largest payload of a control frame (section 5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// The largest close reason: a control frame's payload less the two bytes of the code.
const MAX_CLOSE_REASON: usize = 123;

/// A frame's kind (section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<OpCode, Error> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return Err(Error::Protocol("a frame of an unknown opcode")),
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A received frame's header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    /// The header's own length: 6, 8 or 14 bytes.
    header_len: usize,
    payload_len: usize,
}

/// Reads the header at the start of `bytes`, or `None` when it has not all arrived. A payload
/// longer than `limit` is refused here, before it is read.
fn parse_header(bytes: &[u8], limit: usize) -> Result<Option<Header>, Error> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(Error::Protocol(
            "reserved bits set, and no extension agreed",
        ));
    }
    let fin = first & 0x80 != 0;
    let opcode = OpCode::from_bits(first & 0x0F)?;
    if second & 0x80 == 0 {
        return Err(Error::Protocol("a client's frame must be masked"));
    }
    let (payload_len, length_end) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(&[high, low]) => (u64::from(u16::from_be_bytes([high, low])), 4),
            _ => return Ok(None),
        },
        127 => match bytes
            .get(2..10)
            .and_then(|len| <[u8; 8]>::try_from(len).ok())
        {
            Some(len) => (u64::from_be_bytes(len), 10),
            None => return Ok(None),
        },
        len => (u64::from(len), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(Error::Protocol("a fragmented control frame"));
        }
        if payload_len > MAX_CONTROL_PAYLOAD {
            return Err(Error::Protocol("a control frame over 125 bytes"));
        }
    }
    let payload_len = match usize::try_from(payload_len) {
        Ok(len) if len <= limit => len,
        _ => {
            return Err(Error::TooLarge {
                size: payload_len,
                limit,
            });
        }
    };
    let header_len = length_end + 4;
    let Some(mask) = bytes
        .get(length_end..header_len)
        .and_then(|mask| <[u8; 4]>::try_from(mask).ok())
    else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        header_len,
        payload_len,
    }))
}

/// Unmasks a client's payload in place (section 5.3).
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        for (byte, key) in chunk.iter_mut().zip(mask) {
            *byte ^= key;
        }
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// A fragmented message received so far.
#[derive(Debug)]
struct Fragments {
    opcode: OpCode,
    data: BytesMut,
}

/// What a client has sent that is not yet a message: bytes short of a whole frame, and the
/// fragments of a message short of its last.
#[derive(Debug)]
pub(crate) struct Inbound {
    buffer: BytesMut,
    /// Whether a frame has been cut out of `buffer`'s allocation, which it then shares.
    buffer_shared: bool,
    fragments: Option<Fragments>,
    /// The largest frame, and the largest message, taken.
    limit: usize,
}

impl Inbound {
    /// Nothing received yet; frames and messages of up to `limit` bytes are taken.
    pub(crate) fn new(limit: usize) -> Inbound {
        Inbound {
            buffer: BytesMut::new(),
            buffer_shared: false,
            fragments: None,
            limit,
        }
    }

    /// Adds bytes as they were read.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, or `None` until more bytes arrive. After an error the
    /// connection cannot go on: what follows in the stream is not frames any more.
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let Some(header) = parse_header(&self.buffer, self.limit)? else {
                return Ok(None);
            };
            let frame_len = header.header_len + header.payload_len;
            if self.buffer.len() < frame_len {
                return Ok(None);
            }
            let mut payload = self.buffer.split_to(frame_len).split_off(header.header_len);
            self.buffer_shared = true;
            self.release_if_empty();
            unmask(&mut payload, header.mask);
            if let Some(message) = self.take_frame(header, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Lets go of memory no incomplete frame needs: called before waiting for more bytes.
    pub(crate) fn release(&mut self) {
        if self.release_if_empty() {
            return;
        }
        if self.buffer_shared {
            // The leftover shares an allocation with frames already handed on, as large as
            // the largest of them: copied out, it keeps only its own size.
            self.buffer = BytesMut::from(&self.buffer[..]);
            self.buffer_shared = false;
        }
    }

    /// Lets go of the buffer if it holds nothing; whether it did.
    fn release_if_empty(&mut self) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        self.buffer = BytesMut::new();
        self.buffer_shared = false;
        true
    }

    /// Heap bytes held for what is not yet a message.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.buffer.capacity() + self.fragments.as_ref().map_or(0, |f| f.data.capacity())
    }

    /// A whole frame's part in a message: the message it ends, if any.
    fn take_frame(&mut self, header: Header, payload: BytesMut) -> Result<Option<Message>, Error> {
        match header.opcode {
            OpCode::Ping => Ok(Some(Message::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Message::Pong(payload.freeze()))),
            OpCode::Close => parse_close(&payload).map(|frame| Some(Message::Close(frame))),
            OpCode::Text | OpCode::Binary => {
                if self.fragments.is_some() {
                    return Err(Error::Protocol("a new message before the last one ended"));
                }
                if header.fin {
                    return finish(header.opcode, payload).map(Some);
                }
                self.fragments = Some(Fragments {
                    opcode: header.opcode,
                    data: payload,
                });
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(Error::Protocol("a continuation of no message"));
                };
                let size = fragments.data.len() + payload.len();
                if size > self.limit {
                    return Err(Error::TooLarge {
                        size: size as u64,
                        limit: self.limit,
                    });
                }
                fragments.data.extend_from_slice(&payload);
                if !header.fin {
                    return Ok(None);
                }
                match self.fragments.take() {
                    Some(Fragments { opcode, data }) => finish(opcode, data).map(Some),
                    None => Ok(None),
                }
            }
        }
    }
}

/// A whole data message.
fn finish(opcode: OpCode, data: BytesMut) -> Result<Message, Error> {
    match opcode {
        OpCode::Text => String::from_utf8(Vec::from(data))
            .map(Message::Text)
            .map_err(|_| Error::NotUtf8),
        _ => Ok(Message::Binary(data.freeze())),
    }
}

/// A Close frame's code and reason (section 5.5.1).
fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, Error> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(Error::Protocol("a close frame of one byte")),
        [high, low, reason @ ..] => (u16::from_be_bytes([*high, *low]), reason),
    };
    if !close_code_valid(code) {
        return Err(Error::Protocol("a close code that may not be sent"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| Error::NotUtf8)?;
    Ok(Some(CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }))
}

/// Whether a peer may send `code` in a Close frame (section 7.4): the defined codes but those
/// reserved for reporting (1005, 1006, 1015), the registered 1012–1014, and applications'.
fn close_code_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The header of a frame the server sends: final, unmasked. Up to 10 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    bytes: [u8; 10],
    len: u8,
}

impl Head {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The header of a whole, unmasked frame of `payload_len` bytes.
pub(crate) fn head(opcode: OpCode, payload_len: usize) -> Head {
    let mut bytes = [0; 10];
    bytes[0] = 0x80 | opcode.bits();
    let len = match u16::try_from(payload_len) {
        Ok(short) if short < 126 => {
            bytes[1] = short as u8;
            2
        }
        Ok(medium) => {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&medium.to_be_bytes());
            4
        }
        Err(_) => {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        }
    };
    Head { bytes, len }
}

/// A Close frame's payload: the code and as much of the reason as fits, cut at a character.
pub(crate) fn close_payload(frame: &CloseFrame) -> Bytes {
    let mut end = frame.reason.len().min(MAX_CLOSE_REASON);
    while !frame.reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&frame.code.to_be_bytes());
    payload.extend_from_slice(&frame.reason.as_bytes()[..end]);
    payload.into()
}

/// A message's opcode and payload as the server sends them.
pub(crate) fn encode(message: Message) -> (OpCode, Bytes) {
    match message {
        Message::Text(text) => (OpCode::Text, text.into()),
        Message::Binary(bytes) => (OpCode::Binary, bytes),
        Message::Ping(bytes) => (OpCode::Ping, bytes),
        Message::Pong(bytes) => (OpCode::Pong, bytes),
        Message::Close(None) => (OpCode::Close, Bytes::new()),
        Message::Close(Some(frame)) => (OpCode::Close, close_payload(&frame)),
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
