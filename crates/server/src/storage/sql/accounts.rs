//! Accounts: registering (with the first session, see `sessions`), finding one by name, and
//! what each account keeps about itself: its privacy settings (and when they or its block list
//! last changed, which a cluster's head check reads) and when it was last seen.
//!
//! An account is a username and the Ed25519 public key it registered with.

use merpati_protocol::{ErrorCode, Member, UserId, Username};
use rusqlite::{Connection, OptionalExtension, params};

use super::sessions::NewSession;
use super::{blocks, int, uint};
use crate::Error;
use crate::privacy::Privacy;
use crate::storage::{Account, ChangedPrivacy, PresenceFacts};

/// Creates an account and its first session.
pub(crate) fn register(
    conn: &Connection,
    name: &Username,
    public_key: &[u8; 32],
    kdf_salt: Option<[u8; 16]>,
    session: &NewSession<'_>,
    now_ms: i64,
) -> Result<Member, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts (username, public_key, created_ms, kdf_salt)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO NOTHING",
        )?
        .execute(params![
            name.as_str(),
            &public_key[..],
            now_ms,
            kdf_salt.as_ref().map(|salt| &salt[..])
        ])?;
    if inserted == 0 {
        return Err(Error::refused(
            ErrorCode::UsernameTaken,
            format!("the username {name} is taken"),
        ));
    }
    let id = conn.last_insert_rowid();
    // A new account has no other session for its first to end.
    super::sessions::create_session(conn, id, session, now_ms)?;
    Ok(Member {
        id: UserId(uint(id)),
        username: name.clone(),
    })
}

/// The account with this username.
pub(crate) fn account_by_name(
    conn: &Connection,
    name: &Username,
) -> Result<Option<Account>, Error> {
    let account = conn
        .prepare_cached("SELECT id, public_key, kdf_salt FROM accounts WHERE username = ?1")?
        .query_row([name.as_str()], |row| {
            let id: i64 = row.get(0)?;
            let key: Vec<u8> = row.get(1)?;
            let salt: Option<Vec<u8>> = row.get(2)?;
            Ok((id, key, salt))
        })
        .optional()?;
    let Some((id, key, salt)) = account else {
        return Ok(None);
    };
    let kdf_salt = match salt {
        Some(salt) => Some(<[u8; 16]>::try_from(salt).map_err(|_| {
            Error::Io(std::io::Error::other(
                "stored passphrase salt is not 16 bytes",
            ))
        })?),
        None => None,
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
        kdf_salt,
    }))
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

/// Stores an account's privacy settings, and that they changed at `now_ms`.
pub(crate) fn set_privacy(
    conn: &Connection,
    account: UserId,
    share_read_receipts: bool,
    share_presence: bool,
    now_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE accounts SET share_read_receipts = ?2, share_presence = ?3,
             privacy_changed_ms = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        int(account.0),
        share_read_receipts,
        share_presence,
        now_ms
    ])?;
    Ok(())
}

/// The privacy of each of `accounts` whose settings or block list changed from `since_ms`
/// on; the others are left out.
pub(crate) fn privacy_changed_since(
    conn: &Connection,
    accounts: &[UserId],
    since_ms: u64,
) -> Result<Vec<ChangedPrivacy>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT privacy_changed_ms, share_read_receipts, share_presence FROM accounts
         WHERE id = ?1 AND privacy_changed_ms >= ?2",
    )?;
    let mut changed = Vec::new();
    for &account in accounts {
        let row: Option<(i64, bool, bool)> = statement
            .query_row([int(account.0), int(since_ms)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        let Some((changed_ms, share_read_receipts, share_presence)) = row else {
            continue;
        };
        changed.push(ChangedPrivacy {
            account,
            changed_ms: uint(changed_ms),
            privacy: Privacy {
                share_read_receipts,
                share_presence,
                blocked: blocks::block_list(conn, account)?.into_boxed_slice(),
            },
        });
    }
    Ok(changed)
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
