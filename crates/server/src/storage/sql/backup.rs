//! Each account's key backup: sealed entries the server cannot open, replaced by id, read
//! back in the order they were last written.

use merpati_protocol::keys::BackupEntry;
use merpati_protocol::{ErrorCode, MAX_BACKUP_BYTES, MAX_BACKUP_ENTRIES, MAX_FRAME_BYTES, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{PAGE_OVERHEAD, int, key32, uint};
use crate::Error;
use crate::storage::BackupPage;

/// The most bytes one entry adds to an encoded `Backup` frame besides its sealed bytes.
pub(crate) const BACKUP_ENTRY_OVERHEAD: usize = 48;

/// Stores backup entries, each replacing any entry with its id and getting a position above
/// every position the account has used; refused whole past the account's quota of entries
/// or sealed bytes.
pub(crate) fn put_backup(
    conn: &Connection,
    account: UserId,
    entries: &[BackupEntry],
) -> Result<(), Error> {
    let last: i64 = conn
        .prepare_cached("SELECT coalesce(max(position), 0) FROM backup WHERE account_id = ?1")?
        .query_row([int(account.0)], |row| row.get(0))?;
    let mut replaced_bytes = conn.prepare_cached(
        "SELECT length(sealed) FROM backup WHERE account_id = ?1 AND entry_id = ?2",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO backup (account_id, entry_id, position, sealed) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, entry_id)
         DO UPDATE SET position = excluded.position, sealed = excluded.sealed",
    )?;
    let mut added: i64 = 0;
    let mut added_bytes: i64 = 0;
    for (entry, position) in entries.iter().zip(last + 1..) {
        let replaced: Option<i64> = replaced_bytes
            .query_row(params![int(account.0), &entry.id[..]], |row| row.get(0))
            .optional()?;
        match replaced {
            Some(bytes) => added_bytes -= bytes,
            None => added += 1,
        }
        added_bytes += i64::try_from(entry.sealed.len()).unwrap_or(i64::MAX);
        upsert.execute(params![
            int(account.0),
            &entry.id[..],
            position,
            &entry.sealed
        ])?;
    }
    let (total, total_bytes): (i64, i64) = conn
        .prepare_cached(
            "UPDATE accounts SET backup_entries = backup_entries + ?2,
                                 backup_bytes = backup_bytes + ?3
             WHERE id = ?1 RETURNING backup_entries, backup_bytes",
        )?
        .query_row([int(account.0), added, added_bytes], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    // Refused, the savepoint is rolled back: none of the entries is stored.
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
pub(crate) fn backup_after(
    conn: &Connection,
    account: UserId,
    after: u64,
    limit: u32,
) -> Result<BackupPage, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT position, entry_id, sealed FROM backup
         WHERE account_id = ?1 AND position > ?2 ORDER BY position LIMIT ?3",
    )?;
    let entries = statement
        .query_map([int(account.0), int(after), i64::from(limit) + 1], |row| {
            Ok((
                uint(row.get(0)?),
                BackupEntry {
                    id: key32(row.get(1)?)?,
                    sealed: row.get(2)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(fit_page(entries, limit))
}

/// A page of the first `limit` of `entries` (read with one more, to tell whether more
/// follow), cut to fit one frame.
pub(crate) fn fit_page(mut entries: Vec<(u64, BackupEntry)>, limit: u32) -> BackupPage {
    let mut more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    // A full batch of the largest entries is more than one frame holds.
    let mut budget = MAX_FRAME_BYTES - PAGE_OVERHEAD;
    let fitting = entries
        .iter()
        .take_while(|(_, entry)| {
            let cost = BACKUP_ENTRY_OVERHEAD + entry.sealed.len();
            let fits = cost <= budget;
            budget = budget.saturating_sub(cost);
            fits
        })
        .count();
    more |= fitting < entries.len();
    entries.truncate(fitting);
    BackupPage { entries, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_overhead_estimates_cover_the_largest_entry_header() {
        let backup = |entries| merpati_protocol::ServerFrame::Backup {
            request: merpati_protocol::RequestId(u32::MAX),
            entries,
            more: true,
        };
        let empty = merpati_protocol::encode(&backup(Vec::new())).len();
        let sealed = merpati_protocol::MAX_BACKUP_ENTRY_BYTES;
        let one = merpati_protocol::encode(&backup(vec![(
            u64::MAX,
            BackupEntry {
                id: [0xff; 32],
                sealed: vec![0xff; sealed],
            },
        )]))
        .len();
        // Up to two more bytes for the entry count of a full page.
        assert!(empty + 2 <= PAGE_OVERHEAD, "{empty}");
        assert!(
            one - empty <= BACKUP_ENTRY_OVERHEAD + sealed,
            "{}",
            one - empty
        );
    }
}
