//! Sessions: a browser signed in to an account, resumed by a token the server keeps only a
//! hash of. Creating (ending the least recently used beyond the cap), finding by the token a
//! client presents, rotating the token, listing and ending an account's sessions, and ending
//! one by its sign-out proof.
//!
//! A session row is named for good by `token_hash`, the hash of its *first* token: that is
//! what its connections, its device binding and `SessionRef` refer to. The token it is
//! resumed with now hashes to `current_hash`; after a rotation the token before it still
//! hashes to `previous_hash`, and a client presenting that one is given the current token
//! again — derived from the one it presented and the row's `rotation_salt`, so the server
//! need not keep any token, only hashes. (The tabs of one browser share a token, and a
//! `Welcome` can be lost in flight: neither may sign anyone out.) A token two rotations old
//! is refused. `sign_out_hash` is the hash of the current token's sign-out proof, and
//! `previous_sign_out_hash` of the previous one's: a token that still resumes the session
//! can end it.

use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{MAX_SESSIONS_PER_ACCOUNT, Member, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{int, key32, uint, username};
use crate::Error;
use crate::auth::SessionKeys;

/// What a new session is stored with: its token's hashes, and what it signed in from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewSession<'a> {
    pub(crate) keys: &'a SessionKeys,
    pub(crate) client: Option<&'a ClientKind>,
}

/// Stores a new session, ending the account's least recently used sessions beyond
/// [`MAX_SESSIONS_PER_ACCOUNT`]: browsers closed without signing out must not pile up. The
/// names of the sessions it ended, whose connections are to be closed.
pub(crate) fn create_session(
    conn: &Connection,
    account: i64,
    new: &NewSession<'_>,
    now_ms: i64,
) -> Result<Vec<[u8; 32]>, Error> {
    let keys = new.keys;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, current_hash, sign_out_hash, account_id, created_ms,
                               last_used_ms, rotated_ms, client_browser, client_system)
         VALUES (?1, ?1, ?2, ?3, ?4, ?4, ?4, ?5, ?6)",
    )?
    .execute(params![
        &keys.token_hash[..],
        &keys.sign_out_hash[..],
        account,
        now_ms,
        new.client.map(|client| client.browser.as_str()),
        new.client.map(|client| client.system.as_str()),
    ])?;
    // The others beyond the cap less this new one.
    let others = i64::try_from(MAX_SESSIONS_PER_ACCOUNT.saturating_sub(1)).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(
        "DELETE FROM sessions WHERE token_hash IN (
             SELECT token_hash FROM sessions WHERE account_id = ?1 AND token_hash != ?2
             ORDER BY last_used_ms DESC, created_ms DESC LIMIT -1 OFFSET ?3)
         RETURNING token_hash",
    )?;
    let ended = statement
        .query_map(params![account, &keys.token_hash[..], others], |row| {
            super::key32(row.get(0)?)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ended)
}

/// Forgets a session (named by its first token's hash).
pub(crate) fn delete_session(conn: &Connection, session: &[u8; 32]) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([&session[..]])?;
    Ok(())
}

/// Which of its tokens a client presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented {
    /// The current one; the session last rotated at this time.
    Current { rotated_ms: i64 },
    /// The one before the last rotation, which derives the current one with this salt.
    Previous { salt: [u8; 32] },
}

/// A session found by the hash of a token a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundSession {
    /// The session's name: its first token's hash.
    pub(crate) session: [u8; 32],
    pub(crate) member: Member,
    pub(crate) last_used_ms: i64,
    pub(crate) presented: Presented,
}

/// The session a presented token's hash belongs to, current or previous.
pub(crate) fn find_session(
    conn: &Connection,
    presented_hash: &[u8; 32],
) -> Result<Option<FoundSession>, Error> {
    let found = conn
        .prepare_cached(
            "SELECT s.token_hash, a.id, a.username, s.last_used_ms,
                    s.current_hash = ?1, s.rotated_ms, s.rotation_salt
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.current_hash = ?1 OR s.previous_hash = ?1",
        )?
        .query_row([&presented_hash[..]], |row| {
            let current: bool = row.get(4)?;
            let presented = if current {
                Presented::Current {
                    rotated_ms: row.get(5)?,
                }
            } else {
                Presented::Previous {
                    salt: key32(row.get(6)?)?,
                }
            };
            Ok(FoundSession {
                session: key32(row.get(0)?)?,
                member: Member {
                    id: UserId(uint(row.get(1)?)),
                    username: username(row.get(2)?)?,
                },
                last_used_ms: row.get(3)?,
                presented,
            })
        })
        .optional()?;
    Ok(found)
}

/// Rotates the session whose current token is `presented` to `next` (derived from it with
/// `salt`), noting it used now. `false` if `presented` is no longer current (another tab
/// rotated it first: the caller derives the current token from the previous one).
pub(crate) fn rotate_session(
    conn: &Connection,
    presented_hash: &[u8; 32],
    salt: &[u8; 32],
    next: &SessionKeys,
    now_ms: i64,
) -> Result<bool, Error> {
    let rotated = conn
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = ?2,
                 rotation_salt = ?3, previous_sign_out_hash = sign_out_hash,
                 sign_out_hash = ?4, rotated_ms = ?5, last_used_ms = ?5
             WHERE current_hash = ?1",
        )?
        .execute(params![
            &presented_hash[..],
            &next.token_hash[..],
            &salt[..],
            &next.sign_out_hash[..],
            now_ms
        ])?;
    Ok(rotated == 1)
}

/// One session as `sessions_of` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    /// Its name: its first token's hash.
    pub(crate) token_hash: [u8; 32],
    /// The device its browser bound, if it did.
    pub(crate) device: Option<Vec<u8>>,
    pub(crate) created_ms: i64,
    pub(crate) last_used_ms: i64,
    pub(crate) client: Option<ClientKind>,
}

/// An account's sessions, newest use first.
pub(crate) fn sessions_of(conn: &Connection, account: UserId) -> Result<Vec<SessionRow>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT token_hash, device_key, created_ms, last_used_ms, client_browser, client_system
         FROM sessions WHERE account_id = ?1 ORDER BY last_used_ms DESC",
    )?;
    let sessions = statement
        .query_map([int(account.0)], |row| {
            let browser: Option<String> = row.get(4)?;
            let system: Option<String> = row.get(5)?;
            Ok(SessionRow {
                token_hash: key32(row.get(0)?)?,
                device: row.get(1)?,
                created_ms: row.get(2)?,
                last_used_ms: row.get(3)?,
                client: browser
                    .zip(system)
                    .map(|(browser, system)| ClientKind { browser, system }),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(sessions)
}

/// Notes `device` as published on `session`, and as the device the session's browser last
/// named (each of its tabs is a device of its own).
pub(crate) fn bind_session_device(
    conn: &Connection,
    session: &[u8; 32],
    device: &[u8; 32],
) -> Result<(), Error> {
    conn.prepare_cached("UPDATE sessions SET device_key = ?2 WHERE token_hash = ?1")?
        .execute(params![&session[..], &device[..]])?;
    conn.prepare_cached("UPDATE devices SET session_hash = ?1 WHERE device_key = ?2")?
        .execute(params![&session[..], &device[..]])?;
    Ok(())
}

/// Those of `sessions` (named by their first token's hash) that no longer exist.
pub(crate) fn sessions_gone(
    conn: &Connection,
    sessions: &[[u8; 32]],
) -> Result<Vec<[u8; 32]>, Error> {
    let mut exists = conn.prepare_cached("SELECT 1 FROM sessions WHERE token_hash = ?1")?;
    let mut gone = Vec::new();
    for session in sessions {
        if !exists.exists([&session[..]])? {
            gone.push(*session);
        }
    }
    Ok(gone)
}

/// A session [`end_session`] or [`sign_out`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndedSession {
    /// Its account.
    pub(crate) account: UserId,
    /// Its name (first token's hash): what its open connections are found by.
    pub(crate) token_hash: [u8; 32],
    /// The devices published on it, which left the directory with it.
    pub(crate) deleted_devices: Vec<[u8; 32]>,
}

/// Ends the session of `account` whose name starts with `prefix`: deletes it, and the
/// devices published on it; `None` if there is no such session.
pub(crate) fn end_session(
    conn: &Connection,
    account: UserId,
    prefix: &[u8; 16],
) -> Result<Option<EndedSession>, Error> {
    let found: Option<[u8; 32]> = conn
        .prepare_cached(
            "SELECT token_hash FROM sessions
             WHERE account_id = ?1 AND substr(token_hash, 1, 16) = ?2",
        )?
        .query_row(params![int(account.0), &prefix[..]], |row| {
            key32(row.get(0)?)
        })
        .optional()?;
    match found {
        Some(session) => end(conn, &session).map(Some),
        None => Ok(None),
    }
}

/// Ends the session whose sign-out proof hashes to `proof_hash`, as [`end_session`] does;
/// `None` if there is none (ended already).
pub(crate) fn sign_out(
    conn: &Connection,
    proof_hash: &[u8; 32],
) -> Result<Option<EndedSession>, Error> {
    let found: Option<[u8; 32]> = conn
        .prepare_cached(
            "SELECT token_hash FROM sessions
             WHERE sign_out_hash = ?1 OR previous_sign_out_hash = ?1",
        )?
        .query_row([&proof_hash[..]], |row| key32(row.get(0)?))
        .optional()?;
    match found {
        Some(session) => end(conn, &session).map(Some),
        None => Ok(None),
    }
}

/// Deletes a session that exists, and the devices published on it: the browser's tabs.
fn end(conn: &Connection, session: &[u8; 32]) -> Result<EndedSession, Error> {
    let account: i64 = conn
        .prepare_cached("SELECT account_id FROM sessions WHERE token_hash = ?1")?
        .query_row([&session[..]], |row| row.get(0))?;
    let account = UserId(uint(account));
    delete_session(conn, session)?;
    let devices = conn
        .prepare_cached("SELECT device_key FROM devices WHERE session_hash = ?1")?
        .query_map([&session[..]], |row| key32(row.get(0)?))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut deleted_devices = Vec::with_capacity(devices.len());
    for device in devices {
        let key = merpati_protocol::keys::DeviceKey(device);
        if super::keys::delete_device(conn, account, &key)? {
            deleted_devices.push(device);
        }
    }
    Ok(EndedSession {
        account,
        token_hash: *session,
        deleted_devices,
    })
}

/// Notes that each session was used until the time given (a connection of it closed), where
/// that is later than what is stored; sessions gone since are skipped.
pub(crate) fn store_last_used(conn: &Connection, used: &[([u8; 32], u64)]) -> Result<(), Error> {
    let mut statement = conn.prepare_cached(
        "UPDATE sessions SET last_used_ms = max(last_used_ms, ?2) WHERE token_hash = ?1",
    )?;
    for (session, at_ms) in used {
        statement.execute(params![&session[..], int(*at_ms)])?;
    }
    Ok(())
}
