//! Sessions in PostgreSQL: the counterpart of `storage::sql::sessions`, whose doc explains
//! how a session is named, found by a current or previous token, rotated and ended.

use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{MAX_SESSIONS_PER_ACCOUNT, Member, UserId};

use super::{Tx, key32, username};
use crate::Error;
use crate::auth::SessionKeys;
use crate::storage::sql::sessions::{
    EndedSession, FoundSession, NewSession, Presented, SessionRow,
};
use crate::storage::sql::{int, uint};

/// Stores a new session, ending the account's least recently used sessions beyond
/// [`MAX_SESSIONS_PER_ACCOUNT`]; the names of those it ended.
pub(crate) async fn create_session(
    tx: &Tx<'_>,
    account: i64,
    new: &NewSession<'_>,
    now_ms: i64,
) -> Result<Vec<[u8; 32]>, Error> {
    let keys = new.keys;
    let statement = tx
        .prepare_cached(
            "INSERT INTO sessions (token_hash, current_hash, sign_out_hash, account_id,
                                   created_ms, last_used_ms, rotated_ms, client_browser,
                                   client_system)
             VALUES ($1, $1, $2, $3, $4, $4, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &&keys.token_hash[..],
            &&keys.sign_out_hash[..],
            &account,
            &now_ms,
            &new.client.map(|client| client.browser.as_str()),
            &new.client.map(|client| client.system.as_str()),
        ],
    )
    .await?;
    // The others beyond the cap less this new one.
    let others = i64::try_from(MAX_SESSIONS_PER_ACCOUNT.saturating_sub(1)).unwrap_or(i64::MAX);
    // PostgreSQL has no `LIMIT -1`: an OFFSET alone skips the ones kept.
    let statement = tx
        .prepare_cached(
            "DELETE FROM sessions WHERE token_hash IN (
                 SELECT token_hash FROM sessions WHERE account_id = $1 AND token_hash != $2
                 ORDER BY last_used_ms DESC, created_ms DESC OFFSET $3)
             RETURNING token_hash",
        )
        .await?;
    tx.query(&statement, &[&account, &&keys.token_hash[..], &others])
        .await?
        .into_iter()
        .map(|row| key32(row.try_get(0)?))
        .collect()
}

/// Forgets a session (named by its first token's hash).
pub(crate) async fn delete_session(tx: &Tx<'_>, session: &[u8; 32]) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("DELETE FROM sessions WHERE token_hash = $1")
        .await?;
    tx.execute(&statement, &[&&session[..]]).await?;
    Ok(())
}

/// The session a presented token's hash belongs to, current or previous.
pub(crate) async fn find_session(
    tx: &Tx<'_>,
    presented_hash: &[u8; 32],
) -> Result<Option<FoundSession>, Error> {
    // `LIMIT 1`: SQLite's `query_row` takes the first row where `query_opt` would fail on a
    // second (a previous hash is not unique).
    let statement = tx
        .prepare_cached(
            "SELECT s.token_hash, a.id, a.username, s.last_used_ms,
                    s.current_hash = $1, s.rotated_ms, s.rotation_salt
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.current_hash = $1 OR s.previous_hash = $1
             LIMIT 1",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&&presented_hash[..]]).await? else {
        return Ok(None);
    };
    let current: bool = row.try_get(4)?;
    let presented = if current {
        Presented::Current {
            rotated_ms: row.try_get(5)?,
        }
    } else {
        Presented::Previous {
            salt: key32(row.try_get(6)?)?,
        }
    };
    Ok(Some(FoundSession {
        session: key32(row.try_get(0)?)?,
        member: Member {
            id: UserId(uint(row.try_get(1)?)),
            username: username(row.try_get(2)?)?,
        },
        last_used_ms: row.try_get(3)?,
        presented,
    }))
}

/// Rotates the session whose current token is `presented` to `next` (derived from it with
/// `salt`), noting it used now. `false` if `presented` is no longer current.
pub(crate) async fn rotate_session(
    tx: &Tx<'_>,
    presented_hash: &[u8; 32],
    salt: &[u8; 32],
    next: &SessionKeys,
    now_ms: i64,
) -> Result<bool, Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = $2,
                 rotation_salt = $3, previous_sign_out_hash = sign_out_hash,
                 sign_out_hash = $4, rotated_ms = $5, last_used_ms = $5
             WHERE current_hash = $1",
        )
        .await?;
    let rotated = tx
        .execute(
            &statement,
            &[
                &&presented_hash[..],
                &&next.token_hash[..],
                &&salt[..],
                &&next.sign_out_hash[..],
                &now_ms,
            ],
        )
        .await?;
    Ok(rotated == 1)
}

/// An account's sessions, newest use first.
pub(crate) async fn sessions_of(tx: &Tx<'_>, account: UserId) -> Result<Vec<SessionRow>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT token_hash, device_key, created_ms, last_used_ms, client_browser,
                    client_system
             FROM sessions WHERE account_id = $1 ORDER BY last_used_ms DESC",
        )
        .await?;
    tx.query(&statement, &[&int(account.0)])
        .await?
        .iter()
        .map(|row| {
            let browser: Option<String> = row.try_get(4)?;
            let system: Option<String> = row.try_get(5)?;
            Ok(SessionRow {
                token_hash: key32(row.try_get(0)?)?,
                device: row.try_get(1)?,
                created_ms: row.try_get(2)?,
                last_used_ms: row.try_get(3)?,
                client: browser
                    .zip(system)
                    .map(|(browser, system)| ClientKind { browser, system }),
            })
        })
        .collect()
}

/// Notes `device` as published on `session`, and as the device the session's browser last
/// named (each of its tabs is a device of its own).
pub(crate) async fn bind_session_device(
    tx: &Tx<'_>,
    session: &[u8; 32],
    device: &[u8; 32],
) -> Result<(), Error> {
    for sql in [
        "UPDATE sessions SET device_key = $2 WHERE token_hash = $1",
        "UPDATE devices SET session_hash = $1 WHERE device_key = $2",
    ] {
        let statement = tx.prepare_cached(sql).await?;
        tx.execute(&statement, &[&&session[..], &&device[..]])
            .await?;
    }
    Ok(())
}

/// Those of `sessions` (named by their first token's hash) that no longer exist.
pub(crate) async fn sessions_gone(
    tx: &Tx<'_>,
    sessions: &[[u8; 32]],
) -> Result<Vec<[u8; 32]>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT asked.hash FROM unnest($1::bytea[]) AS asked (hash)
             WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE token_hash = asked.hash)",
        )
        .await?;
    let asked: Vec<&[u8]> = sessions.iter().map(|session| &session[..]).collect();
    tx.query(&statement, &[&asked])
        .await?
        .into_iter()
        .map(|row| key32(row.try_get(0)?))
        .collect()
}

/// Ends the session of `account` whose name starts with `prefix`: deletes it, and the
/// devices published on it; `None` if there is no such session.
pub(crate) async fn end_session(
    tx: &Tx<'_>,
    account: UserId,
    prefix: &[u8; 16],
) -> Result<Option<EndedSession>, Error> {
    // `LIMIT 1` as in `find_session`: two names may share a prefix.
    let statement = tx
        .prepare_cached(
            "SELECT token_hash FROM sessions
             WHERE account_id = $1 AND substring(token_hash FROM 1 FOR 16) = $2
             LIMIT 1",
        )
        .await?;
    let found = tx
        .query_opt(&statement, &[&int(account.0), &&prefix[..]])
        .await?;
    match found {
        Some(row) => end(tx, &key32(row.try_get(0)?)?).await.map(Some),
        None => Ok(None),
    }
}

/// Ends the session whose sign-out proof hashes to `proof_hash`, as [`end_session`] does;
/// `None` if there is none (ended already).
pub(crate) async fn sign_out(
    tx: &Tx<'_>,
    proof_hash: &[u8; 32],
) -> Result<Option<EndedSession>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT token_hash FROM sessions
             WHERE sign_out_hash = $1 OR previous_sign_out_hash = $1",
        )
        .await?;
    let found = tx.query_opt(&statement, &[&&proof_hash[..]]).await?;
    match found {
        Some(row) => end(tx, &key32(row.try_get(0)?)?).await.map(Some),
        None => Ok(None),
    }
}

/// Deletes a session that exists, and the devices published on it: the browser's tabs.
async fn end(tx: &Tx<'_>, session: &[u8; 32]) -> Result<EndedSession, Error> {
    let statement = tx
        .prepare_cached("SELECT account_id FROM sessions WHERE token_hash = $1")
        .await?;
    let row = tx.query_one(&statement, &[&&session[..]]).await?;
    let account = UserId(uint(row.try_get(0)?));
    delete_session(tx, session).await?;
    let statement = tx
        .prepare_cached("SELECT device_key FROM devices WHERE session_hash = $1")
        .await?;
    let mut deleted_devices = Vec::new();
    for row in tx.query(&statement, &[&&session[..]]).await? {
        let device = key32(row.try_get(0)?)?;
        let key = merpati_protocol::keys::DeviceKey(device);
        if super::keys::delete_device(tx, account, &key).await? {
            deleted_devices.push(device);
        }
    }
    Ok(EndedSession {
        account,
        token_hash: *session,
        deleted_devices,
    })
}

/// Notes that each session was used until the time given (see `sql::sessions`).
pub(crate) async fn store_last_used(tx: &Tx<'_>, used: &[([u8; 32], u64)]) -> Result<(), Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE sessions SET last_used_ms = GREATEST(last_used_ms, $2) WHERE token_hash = $1",
        )
        .await?;
    for (session, at_ms) in used {
        tx.execute(&statement, &[&&session[..], &int(*at_ms)])
            .await?;
    }
    Ok(())
}
