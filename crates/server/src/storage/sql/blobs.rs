//! Blobs: the rows of uploaded files' ciphertext (the bytes are files beside the database,
//! `crate::blobs`). Creating an upload within the account's quota and its cap of uploads no
//! message carries, reading where it stands, recording bytes made durable, linking it to the
//! message that carries it, and taking the ones due for deletion.
//!
//! `expires_ms` is the whole lifecycle: set to creation plus the orphan window when an upload
//! is created, NULL once a message carries it (kept as long as the message), and the time of
//! the deletion when that message is deleted for everyone. A cleanup pass deletes the rows
//! whose time has come ([`take_due`]), then their files.
//!
//! An upload is *due for deletion* once that time has come (`expires_ms <= now`): one no
//! message carries, unfinished or complete, at the end of its orphan window; one a message
//! carries never, however old, until that message is deleted for everyone, and then at once.
//! Due is gone, from that moment and not only once a pass has deleted it: the quota and the
//! cap no longer count it ([`create`]), no message may carry it ([`attachable`]), its id is
//! created anew ([`create`]), no one finds it ([`find`]: its owner's `HEAD` and `PATCH`, anyone's
//! `GET`) and no part's bytes are recorded in it ([`record_received`]). Each reading is given
//! the clock by its caller, as the writer gives it to each write.

use merpati_protocol::{BlobId, ChatId, ErrorCode, Seq, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{int, uint};
use crate::Error;

/// One upload as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobRow {
    /// The account that created it: the only one that may append to it.
    pub(crate) owner: UserId,
    /// Its declared length, in bytes.
    pub(crate) length: u64,
    /// How many bytes its file durably holds.
    pub(crate) received: u64,
}

impl BlobRow {
    /// Whether every byte has arrived.
    pub(crate) fn complete(&self) -> bool {
        self.received == self.length
    }
}

/// What creating an upload came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Created {
    /// A new, empty upload.
    New,
    /// The same account created this id with this length before: it holds this many bytes.
    Existing { received: u64 },
    /// The id is another account's, or this account's with another length.
    Conflict,
    /// The account's uploads and this one would pass its quota.
    OverQuota,
    /// The account holds as many uploads no message carries as it may ([`NewBlob::open_cap`]).
    TooManyOpen,
}

/// What [`create`] is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewBlob {
    pub(crate) id: BlobId,
    pub(crate) owner: UserId,
    pub(crate) length: u64,
    /// The most bytes the owner's uploads may hold together.
    pub(crate) quota: u64,
    /// The most uploads no message carries (unfinished, or complete and not sent) the owner
    /// may hold at once; 0: no cap. Bytes alone would let 1-byte uploads pile up by the
    /// billion, each a row and a file.
    pub(crate) open_cap: u64,
    /// How long it is kept if no message carries it.
    pub(crate) orphan_ms: u64,
}

/// Creates an upload, or says where the same account's upload of this id stands. An upload
/// of this id already due for deletion is gone: the next pass would delete it under a
/// client told it stands. Its row is replaced; its file, the new upload's now, still holds
/// the old bytes, which the caller cuts (`BlobStore::settle_file`).
pub(crate) fn create(conn: &Connection, new: &NewBlob, now_ms: i64) -> Result<Created, Error> {
    let found: Option<(BlobRow, bool)> = conn
        .prepare_cached(
            "SELECT account_id, length, received, expires_ms IS NOT NULL AND expires_ms <= ?2
             FROM blobs WHERE id = ?1",
        )?
        .query_row(params![&new.id.0[..], now_ms], |row| {
            Ok((
                BlobRow {
                    owner: UserId(uint(row.get(0)?)),
                    length: uint(row.get(1)?),
                    received: uint(row.get(2)?),
                },
                row.get(3)?,
            ))
        })
        .optional()?;
    let due = match found {
        Some((row, false)) => return Ok(standing(&row, new)),
        Some((_, true)) => true,
        None => false,
    };
    // Uploads already due for deletion do not count: the next pass frees their room.
    let (held, open): (i64, i64) = conn
        .prepare_cached(
            "SELECT coalesce(sum(length), 0), count(*) FILTER (WHERE chat_id IS NULL) FROM blobs
             WHERE account_id = ?1 AND (expires_ms IS NULL OR expires_ms > ?2)",
        )?
        .query_row(params![int(new.owner.0), now_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    if let Some(refused) = refusal(new, uint(held), uint(open)) {
        // A due row stays for the pass, which deletes its file too.
        return Ok(refused);
    }
    if due {
        conn.prepare_cached("DELETE FROM blobs WHERE id = ?1")?
            .execute([&new.id.0[..]])?;
    }
    conn.prepare_cached(
        "INSERT INTO blobs (id, account_id, length, received, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, 0, ?4, ?5)",
    )?
    .execute(params![
        &new.id.0[..],
        int(new.owner.0),
        int(new.length),
        now_ms,
        now_ms.saturating_add(int(new.orphan_ms)),
    ])?;
    Ok(Created::New)
}

/// What creating `new` answers when `row`, live, holds its id: where it stands if it is the
/// same account's of the same length, else a conflict.
pub(crate) fn standing(row: &BlobRow, new: &NewBlob) -> Created {
    if row.owner == new.owner && row.length == new.length {
        Created::Existing {
            received: row.received,
        }
    } else {
        Created::Conflict
    }
}

/// Why `new` is refused, if it is, when its owner's uploads hold `held` bytes and `open` of
/// them are carried by no message.
pub(crate) fn refusal(new: &NewBlob, held: u64, open: u64) -> Option<Created> {
    if held.saturating_add(new.length) > new.quota {
        Some(Created::OverQuota)
    } else if new.open_cap != 0 && open >= new.open_cap {
        Some(Created::TooManyOpen)
    } else {
        None
    }
}

/// The upload of this id, if there is one not due for deletion by `now_ms`: one due is gone
/// (the module says why), whether or not a pass has deleted its row yet.
pub(crate) fn find(conn: &Connection, id: BlobId, now_ms: i64) -> Result<Option<BlobRow>, Error> {
    let row = conn
        .prepare_cached(
            "SELECT account_id, length, received FROM blobs
             WHERE id = ?1 AND (expires_ms IS NULL OR expires_ms > ?2)",
        )?
        .query_row(params![&id.0[..], now_ms], |row| {
            Ok(BlobRow {
                owner: UserId(uint(row.get(0)?)),
                length: uint(row.get(1)?),
                received: uint(row.get(2)?),
            })
        })
        .optional()?;
    Ok(row)
}

/// Records that `owner`'s upload's file now durably holds `to` bytes, if it held `from`;
/// `false` if it did not (or is gone, or fell due for deletion by `now_ms` while the part was
/// written, or is now another account's: deleted and made again under the same id
/// meanwhile): nothing is recorded then.
pub(crate) fn record_received(
    conn: &Connection,
    id: BlobId,
    owner: UserId,
    from: u64,
    to: u64,
    now_ms: i64,
) -> Result<bool, Error> {
    let changed = conn
        .prepare_cached(
            "UPDATE blobs SET received = ?3
             WHERE id = ?1 AND account_id = ?4 AND received = ?2 AND length >= ?3
               AND (expires_ms IS NULL OR expires_ms > ?5)",
        )?
        .execute(params![&id.0[..], int(from), int(to), int(owner.0), now_ms])?;
    Ok(changed == 1)
}

/// Refuses an attachment that is not `sender`'s complete upload, carried by no message yet
/// and not due for deletion by `now_ms`. Writes nothing (a message append checks everything
/// before it writes).
pub(crate) fn check_attachable(
    conn: &Connection,
    id: BlobId,
    sender: UserId,
    now_ms: i64,
) -> Result<(), Error> {
    let found: Option<Attachable> = conn
        .prepare_cached(
            "SELECT account_id, length, received, chat_id IS NOT NULL, expires_ms
             FROM blobs WHERE id = ?1",
        )?
        .query_row([&id.0[..]], |row| {
            Ok(Attachable {
                owner: row.get(0)?,
                length: row.get(1)?,
                received: row.get(2)?,
                carried: row.get(3)?,
                expires_ms: row.get(4)?,
            })
        })
        .optional()?;
    attachable(found, sender, now_ms)
}

/// What deciding whether an upload may be sent reads of its row.
pub(crate) struct Attachable {
    pub(crate) owner: i64,
    pub(crate) length: i64,
    pub(crate) received: i64,
    pub(crate) carried: bool,
    pub(crate) expires_ms: Option<i64>,
}

/// Refuses `found` unless it is `sender`'s complete upload, carried by no message, and not
/// due for deletion: one due no longer counts against its account's quota nor its cap of
/// uploads (`create`), and carried it would be kept again while the room it left is taken.
pub(crate) fn attachable(
    found: Option<Attachable>,
    sender: UserId,
    now_ms: i64,
) -> Result<(), Error> {
    match found {
        Some(upload)
            if upload.owner == int(sender.0)
                && upload.received == upload.length
                && !upload.carried
                && upload
                    .expires_ms
                    .is_none_or(|expires_ms| expires_ms > now_ms) =>
        {
            Ok(())
        }
        // Another account's upload and one that does not exist look the same: an id tells a
        // stranger nothing.
        _ => Err(Error::refused(
            ErrorCode::NoSuchBlob,
            "the attachment is not a complete upload of yours that no other message carries",
        )),
    }
}

/// Links an upload to the message that carries it: it is kept from now on.
pub(crate) fn link(conn: &Connection, id: BlobId, chat: ChatId, seq: Seq) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE blobs SET chat_id = ?2, seq = ?3, expires_ms = NULL WHERE id = ?1",
    )?
    .execute(params![&id.0[..], int(chat.0), int(seq.0)])?;
    Ok(())
}

/// Marks the upload carried by message `seq` of `chat` (if any) due now: its message was
/// deleted for everyone.
pub(crate) fn expire_with_message(
    conn: &Connection,
    chat: ChatId,
    seq: Seq,
    now_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached("UPDATE blobs SET expires_ms = ?3 WHERE chat_id = ?1 AND seq = ?2")?
        .execute(params![int(chat.0), int(seq.0), now_ms])?;
    Ok(())
}

/// Makes an upload due for deletion now, as the end of its orphan window would: a test
/// cannot wait for it, and one created due at once could never be given its bytes.
#[cfg(test)]
pub(crate) fn make_due(conn: &Connection, id: BlobId, now_ms: i64) -> Result<(), Error> {
    conn.prepare_cached("UPDATE blobs SET expires_ms = ?2 WHERE id = ?1")?
        .execute(params![&id.0[..], now_ms])?;
    Ok(())
}

/// Deletes the rows due by `now_ms`; their ids, whose files are to be deleted next.
pub(crate) fn take_due(conn: &Connection, now_ms: i64) -> Result<Vec<BlobId>, Error> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM blobs WHERE expires_ms IS NOT NULL AND expires_ms <= ?1 RETURNING id",
    )?;
    let ids = statement
        .query_map([now_ms], |row| blob_id(row.get(0)?))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

/// Every upload with the bytes its file durably holds, for the check at start.
pub(crate) fn all_received(conn: &Connection) -> Result<Vec<(BlobId, u64)>, Error> {
    let mut statement = conn.prepare_cached("SELECT id, received FROM blobs")?;
    let rows = statement
        .query_map([], |row| Ok((blob_id(row.get(0)?)?, uint(row.get(1)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Lowers what an upload is recorded to hold to what its file holds (a file found shorter
/// at start: the rest is asked for again).
pub(crate) fn lower_received(conn: &Connection, id: BlobId, to: u64) -> Result<(), Error> {
    conn.prepare_cached("UPDATE blobs SET received = min(received, ?2) WHERE id = ?1")?
        .execute(params![&id.0[..], int(to)])?;
    Ok(())
}

/// A stored blob id (the schema stores 16 bytes).
fn blob_id(raw: Vec<u8>) -> rusqlite::Result<BlobId> {
    let bytes: [u8; 16] = raw.try_into().map_err(|raw: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            raw.len(),
            rusqlite::types::Type::Blob,
            "a blob id is not 16 bytes".into(),
        )
    })?;
    Ok(BlobId(bytes))
}
