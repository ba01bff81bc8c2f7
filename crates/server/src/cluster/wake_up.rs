//! What goes on a chat's subject (`merpati.chat.<id>`) after a commit: the storage epoch,
//! then the encoded `Message` frame, or only the chat and the message's number
//! (`MERPATI_WAKE_UP_BODY=false`).

use bytes::{BufMut, Bytes, BytesMut};
use merpati_protocol::{ChatId, Epoch, MessageFrame, Seq, ServerFrame};

use super::u64_at;

/// What a wake-up says.
pub(super) enum WakeUp {
    /// This message was committed (the encoded frame, and the message decoded).
    Message(MessageFrame, Bytes),
    /// The chat's message with this number was committed: read it.
    Moved(ChatId, Seq),
}

/// A wake-up: the epoch, then `0` and the encoded `Message` frame (`body`), or `1`, the
/// chat and the message's number.
pub(super) fn wake_up(epoch: Epoch, message: &MessageFrame, frame: &Bytes, body: bool) -> Bytes {
    let mut payload = BytesMut::with_capacity(9 + if body { frame.len() } else { 16 });
    payload.put_u64_le(epoch.0);
    if body {
        payload.put_u8(0);
        payload.put_slice(frame);
    } else {
        payload.put_u8(1);
        payload.put_u64_le(message.chat_id.0);
        payload.put_u64_le(message.seq.0);
    }
    payload.freeze()
}

/// What a wake-up says, if it is of this epoch and well formed.
pub(super) fn read_wake_up(epoch: Epoch, payload: &Bytes) -> Option<WakeUp> {
    if u64_at(payload, 0)? != epoch.0 {
        // Another database's message (a process not yet restarted after a restore).
        return None;
    }
    match payload.get(8)? {
        0 => match merpati_protocol::decode::<ServerFrame>(payload.get(9..)?) {
            Ok(ServerFrame::Message(message)) => Some(WakeUp::Message(message, payload.slice(9..))),
            _ => None,
        },
        1 => Some(WakeUp::Moved(
            ChatId(u64_at(payload, 9)?),
            Seq(u64_at(payload, 17)?),
        )),
        _ => None,
    }
}
