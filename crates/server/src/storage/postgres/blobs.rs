//! Blobs in PostgreSQL: the rows of uploaded files' ciphertext, from creation within the
//! account's quota to deletion. The lifecycle (`expires_ms`) is described in
//! `storage::sql::blobs`.

use merpati_protocol::{BlobId, ChatId, Seq, UserId};

use super::{Tx, bytes16};
use crate::Error;
use crate::storage::sql::blobs::{
    Attachable, BlobRow, Created, NewBlob, attachable, refusal, standing,
};
use crate::storage::sql::{int, uint};

/// Creates an upload, or says where the same account's upload of this id stands; one due
/// for deletion is gone, its row replaced (`sql::blobs::create`).
pub(crate) async fn create(tx: &Tx<'_>, new: &NewBlob, now_ms: i64) -> Result<Created, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT account_id, length, received, expires_ms IS NOT NULL AND expires_ms <= $2
             FROM blobs WHERE id = $1",
        )
        .await?;
    let id: &[u8] = &new.id.0;
    let due = match tx.query_opt(&statement, &[&id, &now_ms]).await? {
        Some(found) => {
            let row = BlobRow {
                owner: UserId(uint(found.try_get(0)?)),
                length: uint(found.try_get(1)?),
                received: uint(found.try_get(2)?),
            };
            if !found.try_get::<_, bool>(3)? {
                return Ok(standing(&row, new));
            }
            true
        }
        None => false,
    };
    // Uploads already due for deletion do not count: the next pass frees their room.
    let statement = tx
        .prepare_cached(
            "SELECT coalesce(sum(length), 0)::bigint, count(*) FILTER (WHERE chat_id IS NULL)
             FROM blobs WHERE account_id = $1 AND (expires_ms IS NULL OR expires_ms > $2)",
        )
        .await?;
    let row = tx
        .query_one(&statement, &[&int(new.owner.0), &now_ms])
        .await?;
    let (held, open): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    if let Some(refused) = refusal(new, uint(held), uint(open)) {
        // A due row stays for the pass, which deletes its file too.
        return Ok(refused);
    }
    if due {
        let statement = tx.prepare_cached("DELETE FROM blobs WHERE id = $1").await?;
        tx.execute(&statement, &[&id]).await?;
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO blobs (id, account_id, length, received, created_ms, expires_ms)
             VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &id,
            &int(new.owner.0),
            &int(new.length),
            &now_ms,
            &now_ms.saturating_add(int(new.orphan_ms)),
        ],
    )
    .await?;
    Ok(Created::New)
}

/// The upload of this id, if there is one not due for deletion by `now_ms`
/// (`sql::blobs::find`).
pub(crate) async fn find(tx: &Tx<'_>, id: BlobId, now_ms: i64) -> Result<Option<BlobRow>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT account_id, length, received FROM blobs
             WHERE id = $1 AND (expires_ms IS NULL OR expires_ms > $2)",
        )
        .await?;
    let id: &[u8] = &id.0;
    let Some(row) = tx.query_opt(&statement, &[&id, &now_ms]).await? else {
        return Ok(None);
    };
    Ok(Some(BlobRow {
        owner: UserId(uint(row.try_get(0)?)),
        length: uint(row.try_get(1)?),
        received: uint(row.try_get(2)?),
    }))
}

/// Records that `owner`'s upload's file now durably holds `to` bytes, if it held `from`;
/// `false` if it did not (or is gone, due for deletion by `now_ms`, or another account's:
/// `sql::blobs::record_received`).
pub(crate) async fn record_received(
    tx: &Tx<'_>,
    id: BlobId,
    owner: UserId,
    from: u64,
    to: u64,
    now_ms: i64,
) -> Result<bool, Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE blobs SET received = $3
             WHERE id = $1 AND account_id = $4 AND received = $2 AND length >= $3
               AND (expires_ms IS NULL OR expires_ms > $5)",
        )
        .await?;
    let id: &[u8] = &id.0;
    let changed = tx
        .execute(
            &statement,
            &[&id, &int(from), &int(to), &int(owner.0), &now_ms],
        )
        .await?;
    Ok(changed == 1)
}

/// Refuses an attachment that is not `sender`'s complete upload, carried by no message yet
/// and not due for deletion by `now_ms` (`sql::blobs::attachable`). Writes nothing (a message
/// append checks everything before it writes), but locks the upload's row: appends run READ
/// COMMITTED, and another chat's append linking the same upload may not have committed yet.
/// Locked, this check waits for it and then sees it carried, and refuses; unlocked, it
/// passed, and the link failed the whole batch — every other member's message in it with
/// the sender's.
pub(crate) async fn check_attachable(
    tx: &Tx<'_>,
    id: BlobId,
    sender: UserId,
    now_ms: i64,
) -> Result<(), Error> {
    let statement = tx
        .prepare_cached(
            "SELECT account_id, length, received, chat_id IS NOT NULL, expires_ms
             FROM blobs WHERE id = $1 FOR UPDATE",
        )
        .await?;
    let id: &[u8] = &id.0;
    let found = match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Some(Attachable {
            owner: row.try_get(0)?,
            length: row.try_get(1)?,
            received: row.try_get(2)?,
            carried: row.try_get(3)?,
            expires_ms: row.try_get(4)?,
        }),
        None => None,
    };
    attachable(found, sender, now_ms)
}

/// Links an upload to the message that carries it: it is kept from now on.
pub(crate) async fn link(tx: &Tx<'_>, id: BlobId, chat: ChatId, seq: Seq) -> Result<(), Error> {
    // Only if no message carries it yet: `check_attachable` locked the row, so this holds;
    // were it not to, failing here undoes the batch rather than link the upload twice.
    let statement = tx
        .prepare_cached(
            "UPDATE blobs SET chat_id = $2, seq = $3, expires_ms = NULL
             WHERE id = $1 AND chat_id IS NULL",
        )
        .await?;
    let id: &[u8] = &id.0;
    let linked = tx
        .execute(&statement, &[&id, &int(chat.0), &int(seq.0)])
        .await?;
    if linked == 0 {
        return Err(super::stored_value(
            "upload",
            "carried by another message since it was checked",
        ));
    }
    Ok(())
}

/// Marks the upload carried by message `seq` of `chat` (if any) due now: its message was
/// deleted for everyone.
pub(crate) async fn expire_with_message(
    tx: &Tx<'_>,
    chat: ChatId,
    seq: Seq,
    now_ms: i64,
) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("UPDATE blobs SET expires_ms = $3 WHERE chat_id = $1 AND seq = $2")
        .await?;
    tx.execute(&statement, &[&int(chat.0), &int(seq.0), &now_ms])
        .await?;
    Ok(())
}

/// Makes an upload due for deletion now (`sql::blobs::make_due`).
#[cfg(test)]
pub(crate) async fn make_due(tx: &Tx<'_>, id: BlobId, now_ms: i64) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("UPDATE blobs SET expires_ms = $2 WHERE id = $1")
        .await?;
    let id: &[u8] = &id.0;
    tx.execute(&statement, &[&id, &now_ms]).await?;
    Ok(())
}

/// Deletes the rows due by `now_ms`; their ids, whose files are to be deleted next.
pub(crate) async fn take_due(tx: &Tx<'_>, now_ms: i64) -> Result<Vec<BlobId>, Error> {
    let statement = tx
        .prepare_cached(
            "DELETE FROM blobs WHERE expires_ms IS NOT NULL AND expires_ms <= $1 RETURNING id",
        )
        .await?;
    tx.query(&statement, &[&now_ms])
        .await?
        .iter()
        .map(|row| blob_id(row.try_get(0)?))
        .collect()
}

/// Every upload with the bytes its file durably holds, for the check at start.
pub(crate) async fn all_received(tx: &Tx<'_>) -> Result<Vec<(BlobId, u64)>, Error> {
    let statement = tx.prepare_cached("SELECT id, received FROM blobs").await?;
    tx.query(&statement, &[])
        .await?
        .iter()
        .map(|row| Ok((blob_id(row.try_get(0)?)?, uint(row.try_get(1)?))))
        .collect()
}

/// Lowers what an upload is recorded to hold to what its file holds (a file found shorter
/// at start: the rest is asked for again).
pub(crate) async fn lower_received(tx: &Tx<'_>, id: BlobId, to: u64) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("UPDATE blobs SET received = LEAST(received, $2) WHERE id = $1")
        .await?;
    let id: &[u8] = &id.0;
    tx.execute(&statement, &[&id, &int(to)]).await?;
    Ok(())
}

/// A stored blob id (the schema stores 16 bytes).
fn blob_id(raw: Vec<u8>) -> Result<BlobId, Error> {
    Ok(BlobId(bytes16(raw)?))
}
