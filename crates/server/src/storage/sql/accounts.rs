//! Accounts and their sessions: registering, signing in, resuming, signing out; and what
//! each account keeps about itself: its privacy settings and when it was last seen.
//!
//! An account is a username and the Ed25519 public key it registered with; a session is the
//! SHA-256 of a token the client holds, never the token itself.

use merpati_protocol::{ErrorCode, MAX_SESSIONS_PER_ACCOUNT, Member, UserId, Username};
use rusqlite::{Connection, OptionalExtension, params};

use super::{blocks, int, key32, uint, username};
use crate::Error;
use crate::privacy::Privacy;
use crate::storage::{Account, PresenceFacts};

/// Creates an account and its first session.
pub(crate) fn register(
    conn: &Connection,
    name: &Username,
    public_key: &[u8; 32],
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Member, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts (username, public_key, created_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (username) DO NOTHING",
        )?
        .execute(params![name.as_str(), &public_key[..], now_ms])?;
    if inserted == 0 {
        return Err(Error::refused(
            ErrorCode::UsernameTaken,
            format!("the username {name} is taken"),
        ));
    }
    let id = conn.last_insert_rowid();
    create_session(conn, id, token_hash, now_ms)?;
    Ok(Member {
        id: UserId(uint(id)),
        username: name.clone(),
    })
}

/// Stores a session token's hash for an account, ending its least recently used sessions
/// beyond [`MAX_SESSIONS_PER_ACCOUNT`]: browsers closed without signing out must not pile up.
pub(crate) fn create_session(
    conn: &Connection,
    account: i64,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, account_id, created_ms, last_used_ms)
         VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![&token_hash[..], account, now_ms])?;
    // The others beyond the cap less this new one.
    let others = i64::try_from(MAX_SESSIONS_PER_ACCOUNT.saturating_sub(1)).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "DELETE FROM sessions WHERE token_hash IN (
             SELECT token_hash FROM sessions WHERE account_id = ?1 AND token_hash != ?2
             ORDER BY last_used_ms DESC, created_ms DESC LIMIT -1 OFFSET ?3)",
    )?
    .execute(params![account, &token_hash[..], others])?;
    Ok(())
}

/// Forgets a session token.
pub(crate) fn delete_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([&token_hash[..]])?;
    Ok(())
}

/// The account with this username.
pub(crate) fn account_by_name(
    conn: &Connection,
    name: &Username,
) -> Result<Option<Account>, Error> {
    let account = conn
        .prepare_cached("SELECT id, public_key FROM accounts WHERE username = ?1")?
        .query_row([name.as_str()], |row| {
            let id: i64 = row.get(0)?;
            let key: Vec<u8> = row.get(1)?;
            Ok((id, key))
        })
        .optional()?;
    let Some((id, key)) = account else {
        return Ok(None);
    };
    let public_key: [u8; 32] = key
        .try_into()
        .map_err(|_| Error::Io(std::io::Error::other("stored public key is not 32 bytes")))?;
    Ok(Some(Account {
        member: Member {
            id: UserId(uint(id)),
            username: name.clone(),
        },
        public_key,
    }))
}

/// The account a session token's hash belongs to.
pub(crate) fn session(
    conn: &Connection,
    token_hash: &[u8; 32],
) -> Result<Option<(Member, i64)>, Error> {
    let member = conn
        .prepare_cached(
            "SELECT a.id, a.username, s.last_used_ms FROM sessions s
             JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = ?1",
        )?
        .query_row([&token_hash[..]], |row| {
            Ok((
                Member {
                    id: UserId(uint(row.get(0)?)),
                    username: username(row.get(1)?)?,
                },
                row.get(2)?,
            ))
        })
        .optional()?;
    Ok(member)
}

/// One row of [`sessions_of`]: (token hash, device, created, last used).
pub(crate) type SessionRow = ([u8; 32], Option<Vec<u8>>, i64, i64);

/// An account's sessions, newest use first.
pub(crate) fn sessions_of(conn: &Connection, account: UserId) -> Result<Vec<SessionRow>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT token_hash, device_key, created_ms, last_used_ms FROM sessions
         WHERE account_id = ?1 ORDER BY last_used_ms DESC",
    )?;
    let sessions = statement
        .query_map([int(account.0)], |row| {
            Ok((key32(row.get(0)?)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(sessions)
}

/// Notes which device a session's browser is.
pub(crate) fn bind_session_device(
    conn: &Connection,
    token_hash: &[u8; 32],
    device: &[u8; 32],
) -> Result<(), Error> {
    conn.prepare_cached("UPDATE sessions SET device_key = ?2 WHERE token_hash = ?1")?
        .execute(params![&token_hash[..], &device[..]])?;
    Ok(())
}

/// A session [`end_session`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndedSession {
    /// Its token's hash: what its open connections are found by.
    pub(crate) token_hash: [u8; 32],
    /// Its device, if that left the directory with it.
    pub(crate) deleted_device: Option<[u8; 32]>,
}

/// Ends the session of `account` whose token hash starts with `prefix`: deletes it, and
/// its device when no other session of the account is on it; `None` if there is no such
/// session.
pub(crate) fn end_session(
    conn: &Connection,
    account: UserId,
    prefix: &[u8; 16],
) -> Result<Option<EndedSession>, Error> {
    let found: Option<([u8; 32], Option<Vec<u8>>)> = conn
        .prepare_cached(
            "SELECT token_hash, device_key FROM sessions
             WHERE account_id = ?1 AND substr(token_hash, 1, 16) = ?2",
        )?
        .query_row(params![int(account.0), &prefix[..]], |row| {
            Ok((key32(row.get(0)?)?, row.get(1)?))
        })
        .optional()?;
    let Some((token_hash, device)) = found else {
        return Ok(None);
    };
    delete_session(conn, &token_hash)?;
    let mut deleted_device = None;
    if let Some(device) = device {
        let device = key32(device)?;
        let others: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM sessions WHERE account_id = ?1 AND device_key = ?2",
            )?
            .query_row(params![int(account.0), &device[..]], |row| row.get(0))?;
        if others == 0
            && super::keys::delete_device(
                conn,
                account,
                &merpati_protocol::keys::DeviceKey(device),
            )?
        {
            deleted_device = Some(device);
        }
    }
    Ok(Some(EndedSession {
        token_hash,
        deleted_device,
    }))
}

/// Notes that a session was used at `now_ms`.
pub(crate) fn touch_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached("UPDATE sessions SET last_used_ms = ?2 WHERE token_hash = ?1")?
        .execute(params![&token_hash[..], now_ms])?;
    Ok(())
}

/// An account's privacy: its settings and whom it blocks.
pub(crate) fn privacy(conn: &Connection, account: UserId) -> Result<Privacy, Error> {
    let flags: Option<(bool, bool)> = conn
        .prepare_cached("SELECT share_read_receipts, share_presence FROM accounts WHERE id = ?1")?
        .query_row([int(account.0)], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((share_read_receipts, share_presence)) = flags else {
        return Ok(Privacy::default());
    };
    Ok(Privacy {
        share_read_receipts,
        share_presence,
        blocked: blocks::block_list(conn, account)?.into_boxed_slice(),
    })
}

/// Stores an account's privacy settings.
pub(crate) fn set_privacy(
    conn: &Connection,
    account: UserId,
    share_read_receipts: bool,
    share_presence: bool,
) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE accounts SET share_read_receipts = ?2, share_presence = ?3 WHERE id = ?1",
    )?
    .execute(params![int(account.0), share_read_receipts, share_presence])?;
    Ok(())
}

/// Stores when accounts were last seen (a time never moves back).
pub(crate) fn store_last_seen(conn: &Connection, seen: &[(UserId, u64)]) -> Result<(), Error> {
    let mut statement = conn
        .prepare_cached("UPDATE accounts SET last_seen_ms = max(last_seen_ms, ?2) WHERE id = ?1")?;
    for (account, at_ms) in seen {
        statement.execute([int(account.0), int(*at_ms)])?;
    }
    Ok(())
}

/// What decides how `watcher` sees `watched`'s presence while `watched` is offline.
pub(crate) fn presence_facts(
    conn: &Connection,
    watched: UserId,
    watcher: UserId,
) -> Result<PresenceFacts, Error> {
    let facts = conn
        .prepare_cached(
            "SELECT a.share_presence, a.last_seen_ms,
                    EXISTS (SELECT 1 FROM blocks WHERE blocker = a.id AND blocked = ?2)
             FROM accounts a WHERE a.id = ?1",
        )?
        .query_row([int(watched.0), int(watcher.0)], |row| {
            Ok(PresenceFacts {
                shares_presence: row.get(0)?,
                last_seen_ms: uint(row.get(1)?),
                blocks_watcher: row.get(2)?,
            })
        })
        .optional()?;
    // An account that does not exist shares nothing.
    Ok(facts.unwrap_or(PresenceFacts {
        shares_presence: false,
        last_seen_ms: 0,
        blocks_watcher: false,
    }))
}
