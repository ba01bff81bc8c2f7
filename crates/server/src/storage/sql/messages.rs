//! Messages: appending (idempotently on `client_msg_id`, optionally deleting an earlier
//! message of the sender's, or carrying an uploaded file, in the same transaction), the lines
//! the server writes into a group's history, and reading pages forwards and backwards cut to
//! fit one frame.

use merpati_protocol::content::{SystemEvent, is_system_body};
use merpati_protocol::{
    ChatId, ChatKind, ClientMsgId, ErrorCode, MAX_FRAME_BYTES, MessageFrame, Seq, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, Rows, params};

use super::chats::kind_for_member;
use super::{PAGE_OVERHEAD, blobs, blocks, int, uint};
use crate::Error;
use crate::storage::{Appended, IfNew, Page, Refers};
use crate::storage::{blocked_sender, id_of_another_sender, no_such_chat};

/// The most bytes one message adds to an encoded `Page` besides its body (ids, seq, times).
pub(crate) const MESSAGE_OVERHEAD: usize = 64;

/// A stored `client_msg_id` (the schema stores 16 bytes).
fn client_msg_id(raw: Vec<u8>) -> rusqlite::Result<ClientMsgId> {
    let bytes: [u8; 16] = raw.try_into().map_err(|raw: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            raw.len(),
            rusqlite::types::Type::Blob,
            "client_msg_id is not 16 bytes".into(),
        )
    })?;
    Ok(ClientMsgId(bytes))
}

/// A message as its sender sent it, to append.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing<'a> {
    pub(crate) client_msg_id: ClientMsgId,
    pub(crate) sender: UserId,
    pub(crate) body: &'a [u8],
    /// What it deletes or carries, done in the same transaction.
    pub(crate) refers: Refers,
    /// What to do if it was not stored before.
    pub(crate) if_new: IfNew,
}

/// Appends a message, or finds it if the sender stored this `client_msg_id` before. What it
/// `refers` to is done in the same transaction: a deleted message of the sender's loses its
/// body (and its file is due for deletion), a carried upload is kept as long as the message.
/// A message not stored before is refused as `if_new` says, or if the sender may not send to
/// the chat (not a member, blocked).
// Runs without a savepoint (`Work::checked_first`): it must refuse only before its first
// write, as it does: the resend, `if_new`, membership, blocking, the id clash, the target and
// the upload are checked first.
pub(crate) fn append(
    conn: &Connection,
    chat: ChatId,
    message: Outgoing<'_>,
    now_ms: i64,
) -> Result<Appended, Error> {
    let Outgoing {
        client_msg_id,
        sender,
        body,
        refers,
        if_new,
    } = message;
    let earlier = conn
        .prepare_cached(
            "SELECT seq, sent_at_ms, sender FROM messages WHERE chat_id = ?1 AND client_msg_id = ?2",
        )?
        .query_row(params![int(chat.0), &client_msg_id.0[..]], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    // A resend of the sender's own message is acknowledged before anything else is asked:
    // it is stored, and a `SendFailed` would say it never will be. It was allowed when it
    // was stored; a block, a removal or a spent quota since changes nothing of that. Only
    // the sender's own message answers, so this tells nobody anything new.
    if let Some((seq, sent_at_ms, earlier_sender)) = earlier
        && earlier_sender == int(sender.0)
    {
        // Its upload (if any) is already linked to this very message.
        return Ok(Appended {
            seq: Seq(uint(seq)),
            sent_at_ms: uint(sent_at_ms),
            newly_stored: false,
            members_at: Seq(0),
        });
    }
    if let IfNew::Refuse(code) = if_new {
        return Err(Error::refused(
            code,
            "only a message stored before is acknowledged now",
        ));
    }
    let Some(kind) = kind_for_member(conn, chat, sender)? else {
        return Err(no_such_chat(chat));
    };
    // Only a 1:1 chat refuses a blocked sender: a group's history is one log for everyone.
    if kind == ChatKind::Direct && blocks::blocked_in_chat(conn, int(chat.0), sender)? {
        return Err(blocked_sender());
    }
    if earlier.is_some() {
        // Someone else's message: refused only now, after membership.
        return Err(id_of_another_sender());
    }
    let deleted = match refers {
        Refers::Deletes(target) => Some((target, check_deletable(conn, chat, target, sender)?)),
        Refers::Carries(blob) => {
            blobs::check_attachable(conn, blob, sender, now_ms)?;
            None
        }
        Refers::Nothing => None,
    };
    let (seq, members_at) = insert(conn, chat, client_msg_id, sender, body, now_ms)?;
    if let Refers::Carries(blob) = refers {
        blobs::link(conn, blob, chat, seq)?;
    }
    if let Some((target, target_seq)) = deleted {
        // With `secure_delete` on (`Storage::open`), SQLite overwrites the old body's bytes,
        // overflow pages included, rather than leaving them in free space.
        conn.prepare_cached(
            "UPDATE messages SET body = x'' WHERE chat_id = ?1 AND client_msg_id = ?2",
        )?
        .execute(params![int(chat.0), &target.0[..]])?;
        // Its file goes at the next cleanup pass: the key to it went with the body.
        blobs::expire_with_message(conn, chat, target_seq, now_ms)?;
    }
    Ok(Appended {
        seq,
        sent_at_ms: uint(now_ms),
        newly_stored: true,
        members_at,
    })
}

/// Refuses a deletion whose target is not the sender's own message in the chat (a line the
/// server wrote is nobody's); the target's sequence number.
fn check_deletable(
    conn: &Connection,
    chat: ChatId,
    target: ClientMsgId,
    sender: UserId,
) -> Result<Seq, Error> {
    let stored: Option<(i64, Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT sender, body, seq FROM messages WHERE chat_id = ?1 AND client_msg_id = ?2",
        )?
        .query_row(params![int(chat.0), &target.0[..]], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    match stored {
        Some((owner, body, seq)) if owner == int(sender.0) && !is_system_body(&body) => {
            Ok(Seq(uint(seq)))
        }
        _ => Err(Error::refused(
            ErrorCode::NotYourMessage,
            "only your own messages in this chat can be deleted",
        )),
    }
}

/// Stores a message at the chat's next sequence number; that number, and the line of the
/// chat's last change of members.
fn insert(
    conn: &Connection,
    chat: ChatId,
    client_msg_id: ClientMsgId,
    sender: UserId,
    body: &[u8],
    now_ms: i64,
) -> Result<(Seq, Seq), Error> {
    let (seq, members_at): (i64, i64) = conn
        .prepare_cached(
            "UPDATE chats SET head_seq = head_seq + 1 WHERE id = ?1
             RETURNING head_seq, members_at",
        )?
        .query_row([int(chat.0)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    conn.prepare_cached(
        "INSERT INTO messages (chat_id, seq, client_msg_id, sender, sent_at_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        int(chat.0),
        seq,
        &client_msg_id.0[..],
        int(sender.0),
        now_ms,
        body
    ])?;
    Ok((Seq(uint(seq)), Seq(uint(members_at))))
}

/// Writes a line into a group's history on behalf of `sender` (the member who acted); the
/// message as members are sent it.
pub(crate) fn append_system(
    conn: &Connection,
    chat: ChatId,
    sender: UserId,
    event: &SystemEvent,
    now_ms: i64,
) -> Result<MessageFrame, Error> {
    // Random like a client's: a client cannot guess it to claim it first.
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)?;
    let client_msg_id = ClientMsgId(id);
    let body = event.to_body();
    let (seq, _) = insert(conn, chat, client_msg_id, sender, &body, now_ms)?;
    if changes_members(event) {
        conn.prepare_cached("UPDATE chats SET members_at = ?2 WHERE id = ?1")?
            .execute(params![int(chat.0), int(seq.0)])?;
    }
    Ok(MessageFrame {
        chat_id: chat,
        seq,
        client_msg_id,
        sender,
        sent_at_ms: uint(now_ms),
        body,
    })
}

/// Whether a line says the chat's members changed: who reads what comes after it.
pub(crate) fn changes_members(event: &SystemEvent) -> bool {
    matches!(
        event,
        SystemEvent::Created { .. }
            | SystemEvent::Added { .. }
            | SystemEvent::Removed { .. }
            | SystemEvent::Left { .. }
    )
}

fn message(chat: ChatId, row: &Row<'_>) -> rusqlite::Result<MessageFrame> {
    Ok(MessageFrame {
        chat_id: chat,
        seq: Seq(uint(row.get(0)?)),
        client_msg_id: client_msg_id(row.get(1)?)?,
        sender: UserId(uint(row.get(2)?)),
        sent_at_ms: uint(row.get(3)?),
        body: row.get(4)?,
    })
}

/// What is left of one `Page` frame as messages are added to it.
pub(crate) struct PageBudget {
    pub(crate) bytes: usize,
}

impl PageBudget {
    pub(crate) fn new() -> PageBudget {
        PageBudget {
            bytes: MAX_FRAME_BYTES - PAGE_OVERHEAD,
        }
    }

    /// Takes room for `message`; `false` (taking nothing) if it does not fit.
    pub(crate) fn admit(&mut self, message: &MessageFrame) -> bool {
        let cost = MESSAGE_OVERHEAD + message.body.len();
        if cost > self.bytes {
            return false;
        }
        self.bytes -= cost;
        true
    }
}

/// Reads messages off `rows` until `limit` are read or the next would not fit one frame;
/// `true` if more remain. Rows past the page are never stepped to, so a page costs the
/// reader what it sends (and one message more at most), not `limit` bodies.
fn read_page(
    chat: ChatId,
    mut rows: Rows<'_>,
    limit: u32,
) -> Result<(Vec<MessageFrame>, bool), Error> {
    let mut budget = PageBudget::new();
    let mut messages = Vec::new();
    while let Some(row) = rows.next()? {
        if messages.len() >= limit as usize {
            return Ok((messages, true));
        }
        let message = message(chat, row)?;
        if !budget.admit(&message) {
            return Ok((messages, true));
        }
        messages.push(message);
    }
    Ok((messages, false))
}

/// Messages with a sequence above `after` and `floor`, oldest first; `more` if newer ones
/// remain.
pub(crate) fn read_after(
    conn: &Connection,
    chat: ChatId,
    floor: Seq,
    after: Seq,
    limit: u32,
) -> Result<Page, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages
         WHERE chat_id = ?1 AND seq > max(?2, ?4) ORDER BY seq LIMIT ?3",
    )?;
    let rows = statement.query([
        int(chat.0),
        int(after.0),
        i64::from(limit) + 1,
        int(floor.0),
    ])?;
    let (messages, more) = read_page(chat, rows, limit)?;
    Ok(Page { messages, more })
}

/// The newest `limit` messages with a sequence below `before` and above `floor`, oldest
/// first; `more` if older ones (above `floor`) remain.
pub(crate) fn read_before(
    conn: &Connection,
    chat: ChatId,
    floor: Seq,
    before: Seq,
    limit: u32,
) -> Result<Page, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages
         WHERE chat_id = ?1 AND seq < ?2 AND seq > ?4 ORDER BY seq DESC LIMIT ?3",
    )?;
    // Newest first, so that cutting to fit a frame keeps the messages nearest `before`.
    let rows = statement.query([
        int(chat.0),
        int(before.0),
        i64::from(limit) + 1,
        int(floor.0),
    ])?;
    let (mut messages, more) = read_page(chat, rows, limit)?;
    messages.reverse();
    Ok(Page { messages, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body_len: usize) -> MessageFrame {
        MessageFrame {
            chat_id: ChatId(u64::MAX),
            seq: Seq(u64::MAX),
            client_msg_id: ClientMsgId([0xff; 16]),
            sender: UserId(u64::MAX),
            sent_at_ms: u64::MAX,
            body: vec![0xff; body_len],
        }
    }

    #[test]
    fn a_page_cut_to_fit_encodes_within_the_frame_limit() {
        let mut budget = PageBudget::new();
        let messages: Vec<_> = (0..10)
            .map(|_| frame(16 * 1024))
            .take_while(|message| budget.admit(message))
            .collect();
        assert!(
            messages.len() < 10,
            "ten 16 KiB messages do not fit one frame"
        );
        let page = merpati_protocol::ServerFrame::Page {
            chat_id: ChatId(u64::MAX),
            messages,
            more: true,
        };
        assert!(merpati_protocol::encode(&page).len() <= MAX_FRAME_BYTES);
    }

    #[test]
    fn the_overhead_estimate_covers_the_largest_message_header() {
        let encoded = merpati_protocol::encode(&frame(0)).len();
        assert!(encoded + 3 <= MESSAGE_OVERHEAD, "{encoded}");
    }
}
