//! Messages in PostgreSQL: appending (idempotently, with a deletion or a carried upload in the
//! same transaction), the lines the server writes into a group's history, and reading pages cut
//! to fit one frame. The rules are those of `storage::sql::messages`.

use merpati_protocol::content::{SystemEvent, is_system_body};
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, ErrorCode, MessageFrame, Seq, UserId};
use tokio_postgres::Row;

use super::{Tx, blobs, blocks, bytes16, chats::kind_for_member};
use crate::Error;
use crate::storage::sql::messages::{MESSAGE_OVERHEAD, Outgoing, PageBudget};
use crate::storage::sql::{int, uint};
use crate::storage::{Appended, IfNew, Page, Refers};
use crate::storage::{blocked_sender, id_of_another_sender, no_such_chat};

/// A stored `client_msg_id` (the schema stores 16 bytes).
fn client_msg_id(raw: Vec<u8>) -> Result<ClientMsgId, Error> {
    Ok(ClientMsgId(bytes16(raw)?))
}

/// Appends a message, or finds it if the sender stored this `client_msg_id` before. What it
/// `refers` to is done in the same transaction: a deleted message of the sender's loses its
/// body (and its file is due for deletion), a carried upload is kept as long as the message.
/// A message not stored before is refused as `if_new` says, or if the sender may not send to
/// the chat (not a member, blocked).
pub(crate) async fn append(
    tx: &Tx<'_>,
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
    let id: &[u8] = &client_msg_id.0;
    let statement = tx
        .prepare_cached(
            "SELECT seq, sent_at_ms, sender FROM messages WHERE chat_id = $1 AND client_msg_id = $2",
        )
        .await?;
    let earlier = match tx.query_opt(&statement, &[&int(chat.0), &id]).await? {
        Some(row) => Some((
            row.try_get::<_, i64>(0)?,
            row.try_get::<_, i64>(1)?,
            row.try_get::<_, i64>(2)?,
        )),
        None => None,
    };
    // As on SQLite: the sender's own stored message is acknowledged before anything else is
    // asked (it is stored; a block, a removal or a spent quota since changes nothing of it).
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
    let Some(kind) = kind_for_member(tx, chat, sender).await? else {
        return Err(no_such_chat(chat));
    };
    // Only a 1:1 chat refuses a blocked sender: a group's history is one log for everyone.
    if kind == ChatKind::Direct && blocks::blocked_in_chat(tx, int(chat.0), sender).await? {
        return Err(blocked_sender());
    }
    if earlier.is_some() {
        // Someone else's message: refused only now, after membership.
        return Err(id_of_another_sender());
    }
    let deleted = match refers {
        Refers::Deletes(target) => Some((target, check_deletable(tx, chat, target, sender).await?)),
        Refers::Carries(blob) => {
            blobs::check_attachable(tx, blob, sender, now_ms).await?;
            None
        }
        Refers::Nothing => None,
    };
    let (seq, members_at) = insert(tx, chat, client_msg_id, sender, body, now_ms).await?;
    if let Refers::Carries(blob) = refers {
        blobs::link(tx, blob, chat, seq).await?;
    }
    if let Some((target, target_seq)) = deleted {
        // Unlike SQLite with `secure_delete`, which overwrites the old body's bytes, this
        // UPDATE leaves the old row version, body included, in the table until VACUUM
        // reclaims it.
        let statement = tx
            .prepare_cached(
                "UPDATE messages SET body = '\\x'::bytea WHERE chat_id = $1 AND client_msg_id = $2",
            )
            .await?;
        let target: &[u8] = &target.0;
        tx.execute(&statement, &[&int(chat.0), &target]).await?;
        // Its file goes at the next cleanup pass: the key to it went with the body.
        blobs::expire_with_message(tx, chat, target_seq, now_ms).await?;
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
async fn check_deletable(
    tx: &Tx<'_>,
    chat: ChatId,
    target: ClientMsgId,
    sender: UserId,
) -> Result<Seq, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT sender, body, seq FROM messages WHERE chat_id = $1 AND client_msg_id = $2",
        )
        .await?;
    let target: &[u8] = &target.0;
    let stored = match tx.query_opt(&statement, &[&int(chat.0), &target]).await? {
        Some(row) => Some((
            row.try_get::<_, i64>(0)?,
            row.try_get::<_, Vec<u8>>(1)?,
            row.try_get::<_, i64>(2)?,
        )),
        None => None,
    };
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
async fn insert(
    tx: &Tx<'_>,
    chat: ChatId,
    client_msg_id: ClientMsgId,
    sender: UserId,
    body: &[u8],
    now_ms: i64,
) -> Result<(Seq, Seq), Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE chats SET head_seq = head_seq + 1 WHERE id = $1
             RETURNING head_seq, members_at",
        )
        .await?;
    let row = tx.query_one(&statement, &[&int(chat.0)]).await?;
    let (seq, members_at): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let statement = tx
        .prepare_cached(
            "INSERT INTO messages (chat_id, seq, client_msg_id, sender, sent_at_ms, body)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    let id: &[u8] = &client_msg_id.0;
    tx.execute(
        &statement,
        &[&int(chat.0), &seq, &id, &int(sender.0), &now_ms, &body],
    )
    .await?;
    Ok((Seq(uint(seq)), Seq(uint(members_at))))
}

/// Writes a line into a group's history on behalf of `sender` (the member who acted); the
/// message as members are sent it.
pub(crate) async fn append_system(
    tx: &Tx<'_>,
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
    let (seq, _) = insert(tx, chat, client_msg_id, sender, &body, now_ms).await?;
    if crate::storage::sql::messages::changes_members(event) {
        let statement = tx
            .prepare_cached("UPDATE chats SET members_at = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&int(chat.0), &int(seq.0)]).await?;
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

fn message(chat: ChatId, row: &Row) -> Result<MessageFrame, Error> {
    Ok(MessageFrame {
        chat_id: chat,
        seq: Seq(uint(row.try_get(0)?)),
        client_msg_id: client_msg_id(row.try_get(1)?)?,
        sender: UserId(uint(row.try_get(2)?)),
        sent_at_ms: uint(row.try_get(3)?),
        body: row.try_get(4)?,
    })
}

/// Reads messages off `rows` until `limit` are read or the next would not fit one frame;
/// `true` if more remain.
fn read_page(chat: ChatId, rows: Vec<Row>, limit: u32) -> Result<(Vec<MessageFrame>, bool), Error> {
    let mut budget = PageBudget::new();
    let mut messages = Vec::new();
    for row in &rows {
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

/// Runs a page query (`$1` chat, `$2` the bound, `$3` how many rows, `$4` a frame's budget,
/// `$5` each message's overhead) and cuts its rows to a page.
// SQLite steps to the rows one at a time, so the rows past a full frame are never read;
// PostgreSQL sends the whole result at once. So the query itself drops every row after the
// first that cannot fit (the rows before it cost more than the budget): it sends the same
// rows SQLite steps to, and `read_page` still makes the cut, with `PageBudget`'s rule.
async fn query_page(
    tx: &Tx<'_>,
    sql: &str,
    chat: ChatId,
    (floor, bound): (Seq, Seq),
    limit: u32,
) -> Result<(Vec<MessageFrame>, bool), Error> {
    let statement = tx.prepare_cached(sql).await?;
    let budget = i64::try_from(PageBudget::new().bytes).unwrap_or(i64::MAX);
    let overhead = i64::try_from(MESSAGE_OVERHEAD).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            &statement,
            &[
                &int(chat.0),
                &int(bound.0),
                &(i64::from(limit) + 1),
                &budget,
                &overhead,
                &int(floor.0),
            ],
        )
        .await?;
    read_page(chat, rows, limit)
}

/// Messages with a sequence above `after` and `floor`, oldest first; `more` if newer ones
/// remain.
pub(crate) async fn read_after(
    tx: &Tx<'_>,
    chat: ChatId,
    floor: Seq,
    after: Seq,
    limit: u32,
) -> Result<Page, Error> {
    let (messages, more) = query_page(
        tx,
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM (
             SELECT seq, client_msg_id, sender, sent_at_ms, body,
                 (sum($5::bigint + octet_length(body))
                     OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING))::bigint AS through_it
             FROM messages WHERE chat_id = $1 AND seq > $2 AND seq > $6 ORDER BY seq LIMIT $3
         ) page
         WHERE through_it - ($5::bigint + octet_length(body)) <= $4::bigint ORDER BY seq",
        chat,
        (floor, after),
        limit,
    )
    .await?;
    Ok(Page { messages, more })
}

/// The newest `limit` messages with a sequence below `before` and above `floor`, oldest
/// first; `more` if older ones (above `floor`) remain.
pub(crate) async fn read_before(
    tx: &Tx<'_>,
    chat: ChatId,
    floor: Seq,
    before: Seq,
    limit: u32,
) -> Result<Page, Error> {
    // Newest first, so that cutting to fit a frame keeps the messages nearest `before`.
    let (mut messages, more) = query_page(
        tx,
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM (
             SELECT seq, client_msg_id, sender, sent_at_ms, body,
                 (sum($5::bigint + octet_length(body))
                     OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING))::bigint AS through_it
             FROM messages WHERE chat_id = $1 AND seq < $2 AND seq > $6
             ORDER BY seq DESC LIMIT $3
         ) page
         WHERE through_it - ($5::bigint + octet_length(body)) <= $4::bigint ORDER BY seq DESC",
        chat,
        (floor, before),
        limit,
    )
    .await?;
    messages.reverse();
    Ok(Page { messages, more })
}

/// Locks `chat`'s row until the transaction ends, so that appends to it (from any process)
/// run one after another; nothing if there is no such chat (the append then refuses).
pub(crate) async fn lock_chat(tx: &Tx<'_>, chat: ChatId) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE")
        .await?;
    tx.query_opt(&statement, &[&int(chat.0)]).await?;
    Ok(())
}
