//! Accounts in PostgreSQL: the counterpart of `storage::sql::accounts` (registering,
//! finding one by name, privacy settings and which changed since a time, when each was last
//! seen).

use std::collections::HashMap;

use merpati_protocol::{ErrorCode, Member, UserId, Username};

use super::{Tx, bytes16, key32};
use crate::Error;
use crate::privacy::Privacy;
use crate::storage::sql::sessions::NewSession;
use crate::storage::sql::{int, uint};
use crate::storage::{Account, ChangedPrivacy, PresenceFacts};

/// Creates an account and its first session.
pub(crate) async fn register(
    tx: &Tx<'_>,
    name: &Username,
    public_key: &[u8; 32],
    kdf_salt: Option<[u8; 16]>,
    session: &NewSession<'_>,
    now_ms: i64,
) -> Result<Member, Error> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO accounts (username, public_key, created_ms, kdf_salt)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO NOTHING
             RETURNING id",
        )
        .await?;
    let inserted = tx
        .query_opt(
            &statement,
            &[
                &name.as_str(),
                &&public_key[..],
                &now_ms,
                &kdf_salt.as_ref().map(|salt| &salt[..]),
            ],
        )
        .await?;
    let Some(row) = inserted else {
        return Err(Error::refused(
            ErrorCode::UsernameTaken,
            format!("the username {name} is taken"),
        ));
    };
    let id: i64 = row.try_get(0)?;
    // A new account has no other session for its first to end.
    super::sessions::create_session(tx, id, session, now_ms).await?;
    Ok(Member {
        id: UserId(uint(id)),
        username: name.clone(),
    })
}

/// The account with this username.
pub(crate) async fn account_by_name(
    tx: &Tx<'_>,
    name: &Username,
) -> Result<Option<Account>, Error> {
    let statement = tx
        .prepare_cached("SELECT id, public_key, kdf_salt FROM accounts WHERE username = $1")
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&name.as_str()]).await? else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let public_key = key32(row.try_get(1)?)?;
    let kdf_salt = row
        .try_get::<_, Option<Vec<u8>>>(2)?
        .map(bytes16)
        .transpose()?;
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
pub(crate) async fn privacy(tx: &Tx<'_>, account: UserId) -> Result<Privacy, Error> {
    let statement = tx
        .prepare_cached("SELECT share_read_receipts, share_presence FROM accounts WHERE id = $1")
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&int(account.0)]).await? else {
        return Ok(Privacy::default());
    };
    Ok(Privacy {
        share_read_receipts: row.try_get(0)?,
        share_presence: row.try_get(1)?,
        blocked: super::blocks::block_list(tx, account)
            .await?
            .into_boxed_slice(),
    })
}

/// Stores an account's privacy settings, and that they changed at `now_ms`.
pub(crate) async fn set_privacy(
    tx: &Tx<'_>,
    account: UserId,
    share_read_receipts: bool,
    share_presence: bool,
    now_ms: i64,
) -> Result<(), Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE accounts SET share_read_receipts = $2, share_presence = $3,
                 privacy_changed_ms = $4
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &int(account.0),
            &share_read_receipts,
            &share_presence,
            &now_ms,
        ],
    )
    .await?;
    Ok(())
}

/// The privacy of each of `accounts` whose settings or block list changed from `since_ms`
/// on; the others are left out.
pub(crate) async fn privacy_changed_since(
    tx: &Tx<'_>,
    accounts: &[UserId],
    since_ms: u64,
) -> Result<Vec<ChangedPrivacy>, Error> {
    let ids: Vec<i64> = accounts.iter().map(|account| int(account.0)).collect();
    let statement = tx
        .prepare_cached(
            "SELECT id, privacy_changed_ms, share_read_receipts, share_presence FROM accounts
             WHERE id = ANY($1) AND privacy_changed_ms >= $2",
        )
        .await?;
    let rows = tx.query(&statement, &[&ids, &int(since_ms)]).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut changed = Vec::with_capacity(rows.len());
    let mut changed_ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get(0)?;
        changed_ids.push(id);
        changed.push(ChangedPrivacy {
            account: UserId(uint(id)),
            changed_ms: uint(row.try_get(1)?),
            privacy: Privacy {
                share_read_receipts: row.try_get(2)?,
                share_presence: row.try_get(3)?,
                blocked: Box::default(),
            },
        });
    }
    // One read of all their block lists, not one each.
    let statement = tx
        .prepare_cached(
            "SELECT blocker, blocked FROM blocks WHERE blocker = ANY($1)
             ORDER BY blocker, blocked",
        )
        .await?;
    let mut lists: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for row in tx.query(&statement, &[&changed_ids]).await? {
        let blocker = UserId(uint(row.try_get(0)?));
        let blocked = UserId(uint(row.try_get(1)?));
        lists.entry(blocker).or_default().push(blocked);
    }
    for read in &mut changed {
        if let Some(list) = lists.remove(&read.account) {
            read.privacy.blocked = list.into_boxed_slice();
        }
    }
    Ok(changed)
}

/// Stores when accounts were last seen (a time never moves back).
pub(crate) async fn store_last_seen(tx: &Tx<'_>, seen: &[(UserId, u64)]) -> Result<(), Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE accounts SET last_seen_ms = GREATEST(last_seen_ms, $2) WHERE id = $1",
        )
        .await?;
    for (account, at_ms) in seen {
        tx.execute(&statement, &[&int(account.0), &int(*at_ms)])
            .await?;
    }
    Ok(())
}

/// What decides how `watcher` sees `watched`'s presence while `watched` is offline.
pub(crate) async fn presence_facts(
    tx: &Tx<'_>,
    watched: UserId,
    watcher: UserId,
) -> Result<PresenceFacts, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT a.share_presence, a.last_seen_ms,
                    EXISTS (SELECT 1 FROM blocks WHERE blocker = a.id AND blocked = $2)
             FROM accounts a WHERE a.id = $1",
        )
        .await?;
    let Some(row) = tx
        .query_opt(&statement, &[&int(watched.0), &int(watcher.0)])
        .await?
    else {
        // An account that does not exist shares nothing.
        return Ok(PresenceFacts {
            shares_presence: false,
            last_seen_ms: 0,
            blocks_watcher: false,
        });
    };
    Ok(PresenceFacts {
        shares_presence: row.try_get(0)?,
        last_seen_ms: uint(row.try_get(1)?),
        blocks_watcher: row.try_get(2)?,
    })
}
