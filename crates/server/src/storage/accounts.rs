//! Accounts and their sessions: registering, finding an account, and creating, resuming,
//! rotating, listing and ending sessions, on either backend.

use futures_util::future::Either;
use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{Member, UserId, Username};

use super::postgres::{self, Isolation, transaction};
use super::sql::sessions::{FoundSession, NewSession, Presented};
use super::{
    Account, Backend, EndedSession, ResumedSession, SESSION_IDLE_LIMIT_MS, Storage, no_such_user,
    on_backend, sql, writer,
};
use crate::Error;
use crate::auth::SessionKeys;
use crate::privacy::Privacy;

/// How old a session's token, or its time of use, may be before a resume rotates it (which
/// notes the session used).
const ROTATE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

impl Storage {
    /// Creates an account with its first session; `UsernameTaken` if the name exists.
    pub(crate) fn register(
        &self,
        username: Username,
        public_key: [u8; 32],
        kdf_salt: Option<[u8; 16]>,
        session: SessionKeys,
        client: Option<ClientKind>,
    ) -> impl Future<Output = Result<Member, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.write(move |conn, now| {
                let new = NewSession {
                    keys: &session,
                    client: client.as_ref(),
                };
                sql::accounts::register(conn, &username, &public_key, kdf_salt, &new, now)
            })),
            // One insert decides the name (`ON CONFLICT DO NOTHING`); nothing else of the
            // new account can be in another transaction: no conflicts to track.
            Backend::Postgres(pg) => {
                Either::Right(transaction!(pg, Isolation::Locking, |tx, now| {
                    let new = NewSession {
                        keys: &session,
                        client: client.as_ref(),
                    };
                    postgres::accounts::register(&tx, &username, &public_key, kdf_salt, &new, now)
                        .await
                }))
            }
        }
    }

    /// The random part of `username`'s passphrase salt: the account's own (`None` for one
    /// from before salts), or — for a name nobody has — one made up from the server's secret,
    /// the same every time, so that the answer does not say whether the account exists.
    pub(crate) async fn kdf_salt(&self, username: Username) -> Result<Option<[u8; 16]>, Error> {
        let account = self.account_by_name(username.clone()).await?;
        Ok(match account {
            Some(account) => account.kdf_salt,
            None => Some(crate::auth::made_up_salt(&self.salt_secret, &username)),
        })
    }

    /// Stores a new session for an account; the names of the least recently used sessions it
    /// ended to keep the account within [`merpati_protocol::MAX_SESSIONS_PER_ACCOUNT`].
    pub(crate) fn create_session(
        &self,
        account: UserId,
        session: SessionKeys,
        client: Option<ClientKind>,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.write(move |conn, now| {
                let new = NewSession {
                    keys: &session,
                    client: client.as_ref(),
                };
                sql::sessions::create_session(conn, sql::int(account.0), &new, now)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, true, |tx, now| {
                let new = NewSession {
                    keys: &session,
                    client: client.as_ref(),
                };
                postgres::sessions::create_session(&tx, sql::int(account.0), &new, now).await
            })),
        }
    }

    /// Forgets a session (named by its first token's hash).
    pub(crate) fn delete_session(
        &self,
        session: [u8; 32],
    ) -> impl Future<Output = Result<(), Error>> {
        on_backend!(self, write | _now | sessions::delete_session(&session))
    }

    /// The account with this username, if any.
    pub(crate) fn account_by_name(
        &self,
        username: Username,
    ) -> impl Future<Output = Result<Option<Account>, Error>> {
        on_backend!(self, read accounts::account_by_name(&username))
    }

    /// The accounts with these usernames, in order; `NoSuchUser` naming the first missing one.
    pub(crate) fn accounts_by_names(
        &self,
        usernames: Vec<Username>,
    ) -> impl Future<Output = Result<Vec<Member>, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                usernames
                    .iter()
                    .map(|name| {
                        sql::accounts::account_by_name(conn, name)?
                            .map(|account| account.member)
                            .ok_or_else(|| no_such_user(name))
                    })
                    .collect()
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                let mut members = Vec::with_capacity(usernames.len());
                for name in &usernames {
                    let account = postgres::accounts::account_by_name(&tx, name).await?;
                    members.push(
                        account
                            .map(|a| a.member)
                            .ok_or_else(|| no_such_user(name))?,
                    );
                }
                Ok::<_, Error>(members)
            })),
        }
    }

    /// An account's sessions, newest use first.
    pub(crate) fn sessions_of(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<sql::sessions::SessionRow>, Error>> {
        on_backend!(self, read sessions::sessions_of(account))
    }

    /// Ends one of `account`'s sessions (named by its token hash's first half); `None` if
    /// there is no such session.
    pub(crate) fn end_session(
        &self,
        account: UserId,
        prefix: [u8; 16],
    ) -> impl Future<Output = Result<Option<EndedSession>, Error>> {
        on_backend!(self, write | _now | sessions::end_session(account, &prefix))
    }

    /// Those of `sessions` (named by their first token's hash) that no longer exist: what a
    /// cluster's head check closes, in case word of their end from another process was lost.
    pub(crate) fn sessions_gone(
        &self,
        sessions: Vec<[u8; 32]>,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>, Error>> {
        on_backend!(self, read sessions::sessions_gone(&sessions))
    }

    /// Ends the session whose sign-out proof hashes to `proof_hash`; `None` if there is none.
    pub(crate) fn sign_out(
        &self,
        proof_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<EndedSession>, Error>> {
        on_backend!(self, write | _now | sessions::sign_out(&proof_hash))
    }

    /// The session presented with the token hashing to `presented_hash`, with its account's
    /// privacy settings.
    fn find_session(
        &self,
        presented_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<(FoundSession, Privacy)>, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                let Some(found) = sql::sessions::find_session(conn, &presented_hash)? else {
                    return Ok(None);
                };
                let privacy = sql::accounts::privacy(conn, found.member.id)?;
                Ok(Some((found, privacy)))
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                match postgres::sessions::find_session(&tx, &presented_hash).await? {
                    Some(found) => {
                        let privacy = postgres::accounts::privacy(&tx, found.member.id).await?;
                        Ok::<_, Error>(Some((found, privacy)))
                    }
                    None => Ok(None),
                }
            })),
        }
    }

    /// The session presented with the token hashing to `presented_hash`, if any.
    pub(super) fn find_session_only(
        &self,
        presented_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<FoundSession>, Error>> {
        on_backend!(self, read sessions::find_session(&presented_hash))
    }

    /// The session a client resumes with `token`, if it exists and has been used within
    /// [`SESSION_IDLE_LIMIT_MS`]: its account, privacy and name, and the token to resume
    /// with from now on if that changed. One read, mostly: resuming is what a reconnecting
    /// crowd does, so the session is written only when its token is a day old (it rotates,
    /// which notes it used) or an expired one is deleted. The token before the last rotation
    /// is answered with the current one (see `sql::sessions`). `None` also when the session
    /// ends before its rotation is written. (One that ends after this read, while the
    /// sign-in goes online, is the gateway's to catch: `Gateway::go_online`.)
    pub(crate) async fn resume_session(
        &self,
        token: [u8; 32],
    ) -> Result<Option<ResumedSession>, Error> {
        let presented_hash = crate::auth::token_hash(&token);
        let Some((found, privacy)) = self.find_session(presented_hash).await? else {
            return Ok(None);
        };
        let now = i64::try_from(writer::now_ms()).unwrap_or(i64::MAX);
        if now.saturating_sub(found.last_used_ms) > SESSION_IDLE_LIMIT_MS {
            self.delete_session(found.session).await?;
            return Ok(None);
        }
        let stale = |at_ms: i64| now.saturating_sub(at_ms) > ROTATE_AFTER_MS;
        let new_token = match found.presented {
            Presented::Previous { salt } => Some(crate::auth::rotated_token(&token, &salt)),
            Presented::Current { rotated_ms } if stale(rotated_ms) || stale(found.last_used_ms) => {
                let Some(rotated) = self.rotate_session(token).await? else {
                    return Ok(None);
                };
                Some(rotated)
            }
            Presented::Current { .. } => None,
        };
        Ok(Some(ResumedSession {
            member: found.member,
            privacy,
            session: found.session,
            new_token,
        }))
    }

    /// Rotates the session whose current token is `token`; the token it has now (derived
    /// from `token`: if another tab rotated it first, the same one that tab was given), or
    /// `None` if the session has ended since it was read.
    async fn rotate_session(&self, token: [u8; 32]) -> Result<Option<[u8; 32]>, Error> {
        let salt = crate::auth::random_bytes()?;
        let presented_hash = crate::auth::token_hash(&token);
        let next = crate::auth::rotated_token(&token, &salt);
        let keys = SessionKeys::of(&next);
        let found = match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlite
                    .write(move |conn, now| {
                        if sql::sessions::rotate_session(conn, &presented_hash, &salt, &keys, now)?
                        {
                            return Ok(None);
                        }
                        sql::sessions::find_session(conn, &presented_hash).map(Some)
                    })
                    .await?
            }
            Backend::Postgres(pg) => {
                transaction!(pg, true, |tx, now| {
                    if postgres::sessions::rotate_session(&tx, &presented_hash, &salt, &keys, now)
                        .await?
                    {
                        Ok::<_, Error>(None)
                    } else {
                        postgres::sessions::find_session(&tx, &presented_hash)
                            .await
                            .map(Some)
                    }
                })
                .await?
            }
        };
        Ok(match found {
            None => Some(next),
            Some(Some(FoundSession {
                presented: Presented::Previous { salt },
                ..
            })) => Some(crate::auth::rotated_token(&token, &salt)),
            // Found as current, which the rotation that matched nothing says it is not: not
            // within one transaction. Kept as before.
            Some(Some(_)) => Some(token),
            // Ended (`EndSession`, a sign-out) between the read and this write: refused as
            // its resume would be a moment later, or the connection would stay signed in to
            // a session its account ended — and whose connections were closed already.
            Some(None) => None,
        })
    }
}
