//! Each account's key backup in PostgreSQL: sealed entries replaced by id and read back by
//! position, with the quotas and paging of `storage::sql::backup`.

use merpati_protocol::keys::BackupEntry;
use merpati_protocol::{ErrorCode, MAX_BACKUP_BYTES, MAX_BACKUP_ENTRIES, UserId};

use super::{Tx, key32};
use crate::Error;
use crate::storage::BackupPage;
use crate::storage::sql::backup::fit_page;
use crate::storage::sql::{int, uint};

/// Stores backup entries, each replacing any entry with its id and getting a position above
/// every position the account has used; refused whole past the account's quota of entries
/// or sealed bytes.
pub(crate) async fn put_backup(
    tx: &Tx<'_>,
    account: UserId,
    entries: &[BackupEntry],
) -> Result<(), Error> {
    let account = int(account.0);
    let statement = tx
        .prepare_cached("SELECT coalesce(max(position), 0) FROM backup WHERE account_id = $1")
        .await?;
    let last: i64 = tx.query_one(&statement, &[&account]).await?.try_get(0)?;
    // `octet_length` is an `integer`; the cast reads it as the `i64` SQLite's `length` gave.
    let replaced_bytes = tx
        .prepare_cached(
            "SELECT octet_length(sealed)::bigint FROM backup
             WHERE account_id = $1 AND entry_id = $2",
        )
        .await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO backup (account_id, entry_id, position, sealed) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, entry_id)
             DO UPDATE SET position = excluded.position, sealed = excluded.sealed",
        )
        .await?;
    let mut added: i64 = 0;
    let mut added_bytes: i64 = 0;
    for (entry, position) in entries.iter().zip(last + 1..) {
        let replaced: Option<i64> = tx
            .query_opt(&replaced_bytes, &[&account, &&entry.id[..]])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        match replaced {
            Some(bytes) => added_bytes -= bytes,
            None => added += 1,
        }
        added_bytes += i64::try_from(entry.sealed.len()).unwrap_or(i64::MAX);
        tx.execute(
            &upsert,
            &[&account, &&entry.id[..], &position, &entry.sealed],
        )
        .await?;
    }
    let statement = tx
        .prepare_cached(
            "UPDATE accounts SET backup_entries = backup_entries + $2,
                                 backup_bytes = backup_bytes + $3
             WHERE id = $1 RETURNING backup_entries, backup_bytes",
        )
        .await?;
    let row = tx
        .query_one(&statement, &[&account, &added, &added_bytes])
        .await?;
    let (total, total_bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    // Refused, the transaction is rolled back: none of the entries is stored.
    if uint(total) > MAX_BACKUP_ENTRIES as u64 {
        return Err(Error::refused(
            ErrorCode::QuotaExceeded,
            format!("a key backup holds at most {MAX_BACKUP_ENTRIES} entries"),
        ));
    }
    if uint(total_bytes) > MAX_BACKUP_BYTES {
        return Err(Error::refused(
            ErrorCode::QuotaExceeded,
            format!(
                "a key backup holds at most {} MiB",
                MAX_BACKUP_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(())
}

/// Up to `limit` backup entries of `account` after `after`, by position, cut to fit a frame.
pub(crate) async fn backup_after(
    tx: &Tx<'_>,
    account: UserId,
    after: u64,
    limit: u32,
) -> Result<BackupPage, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT position, entry_id, sealed FROM backup
             WHERE account_id = $1 AND position > $2 ORDER BY position LIMIT $3",
        )
        .await?;
    let entries = tx
        .query(
            &statement,
            &[&int(account.0), &int(after), &(i64::from(limit) + 1)],
        )
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                uint(row.try_get(0)?),
                BackupEntry {
                    id: key32(row.try_get(1)?)?,
                    sealed: row.try_get(2)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(fit_page(entries, limit))
}
