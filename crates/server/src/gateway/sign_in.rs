//! Signing in and out: `Authenticate` (register, log in, resume, sign out by proof),
//! `LookUpSalt` (before a passphrase sign-in) and `Logout`.
//!
//! Registering and logging in are one Ed25519 verification of the connection's challenge
//! (the server never sees a passphrase) and one insert: the account with its first session,
//! or a new session. Resuming looks a session token up by its hash. A session goes online in
//! the fan-out (with the account's privacy settings and block list, read with it) before it
//! says `Welcome`, so nothing sent to the account afterwards is missed; and a session ended
//! while it signed in, on this process or (for a resume) another, does not go online at all
//! ([`Gateway::go_online`]).
//! Failed attempts are counted, and [`MAX_FAILED_SIGN_INS`] of them close the connection;
//! failed logins are also throttled per source address and per account (`attempts`), and
//! registrations per source address (`quotas`).

use crate::websocket::close_code;
use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::sessions::ClientKind;
use merpati_protocol::{ErrorCode, Member, PROTOCOL_VERSION, ServerFrame, UserId, Username};

use super::Gateway;
use super::session::{Flow, Gone, Session, SignedIn};
use super::socket::FrameSocket;
use crate::fanout::{SessionId, Subscription};
use crate::metrics::Counters;
use crate::privacy::Privacy;
use crate::throttle::try_again_in;
use crate::{Error, auth};

/// The refusal of a session that is unknown, was ended or ended while signing in.
fn session_expired() -> Error {
    Error::refused(
        ErrorCode::SessionExpired,
        "the session is unknown or was ended; sign in again",
    )
}

/// Failed sign-in attempts tolerated in one session; the last one closes it.
const MAX_FAILED_SIGN_INS: u32 = 5;
/// Salt lookups one connection may make (a person mistyping their name, twice over).
const MAX_SALT_LOOKUPS: u32 = 5;

/// Who a connection proved to be.
struct Authenticated {
    member: Member,
    /// The session's name (its first token's hash), which `Logout` deletes.
    token_hash: [u8; 32],
    /// The token to resume with from now on, for `Welcome`: a new session's, or a resumed
    /// one's after it rotated; `None` when it stays the same.
    session_token: Option<[u8; 32]>,
    /// Whether the session was made by this sign-in (register, login), so that a sign-in
    /// refused after all deletes it again; a resumed one is the browser's and stays.
    new_session: bool,
    /// The account's privacy settings and block list, as stored.
    privacy: Privacy,
}

impl Gateway {
    /// Creates an account for a key that signed the challenge, with its first session, and
    /// the random part of its passphrase salt (`None`: salted with its name alone).
    async fn register(
        &self,
        nonce: &[u8; 32],
        username: Username,
        public_key: [u8; 32],
        signature: Vec<u8>,
        kdf_salt: Option<[u8; 16]>,
        client: Option<ClientKind>,
    ) -> Result<Authenticated, Error> {
        let key = auth::public_key(&public_key)?;
        // A registration that does not verify proves nothing about the key: invalid material.
        auth::verify(
            &key,
            AuthPurpose::Register,
            &username,
            nonce,
            &signature,
            ErrorCode::InvalidKey,
        )?;
        let token = auth::random_bytes()?;
        let keys = auth::SessionKeys::of(&token);
        let token_hash = keys.token_hash;
        let member = self
            .storage
            .register(username, public_key, kdf_salt, keys, client)
            .await?;
        Ok(Authenticated {
            member,
            token_hash,
            session_token: Some(token),
            new_session: true,
            privacy: Privacy::default(),
        })
    }

    /// Starts a new session of an account whose key signed the challenge.
    async fn login(
        &self,
        nonce: &[u8; 32],
        username: Username,
        signature: Vec<u8>,
        client: Option<ClientKind>,
    ) -> Result<Authenticated, Error> {
        let account = self.existing_account(&username).await?;
        let key = auth::public_key(&account.public_key)?;
        auth::verify(
            &key,
            AuthPurpose::Login,
            &username,
            nonce,
            &signature,
            ErrorCode::WrongPassphrase,
        )?;
        self.not_closed(account.member.id)?;
        // Before the session is made: making it may end the account's least recently used
        // stored session (its cap), which a sign-in refused for the open connections' cap
        // must not cost it.
        self.below_connection_cap(account.member.id)?;
        let token = auth::random_bytes()?;
        let keys = auth::SessionKeys::of(&token);
        let token_hash = keys.token_hash;
        let ended = self
            .storage
            .create_session(account.member.id, keys, client)
            .await?;
        // Sessions past the account's cap end as an `EndSession` would end them.
        for ended in ended {
            self.session_ended(account.member.id, ended);
        }
        let privacy = self.storage.privacy(account.member.id).await?;
        Ok(Authenticated {
            member: account.member,
            token_hash,
            session_token: Some(token),
            new_session: true,
            privacy,
        })
    }

    /// Continues the session a token was given for; its token may rotate.
    async fn resume(&self, session_token: [u8; 32]) -> Result<Authenticated, Error> {
        let resumed = self
            .storage
            .resume_session(session_token)
            .await?
            .ok_or_else(session_expired)?;
        // The fault tests end the session elsewhere here, after this read and before it goes
        // online (`cluster::Hold`).
        #[cfg(debug_assertions)]
        if crate::cluster::Hold::Resume.takes_this_one() {
            crate::cluster::Hold::Resume.released().await;
        }
        self.not_closed(resumed.member.id)?;
        Ok(Authenticated {
            member: resumed.member,
            token_hash: resumed.session,
            session_token: resumed.new_token,
            new_session: false,
            privacy: resumed.privacy,
        })
    }

    /// `RateLimited` while `account` is kept out after a connection of its was closed for
    /// asking on past its allowance (`dispatch`): checked by every sign-in of an existing
    /// account before it makes anything.
    fn not_closed(&self, account: merpati_protocol::UserId) -> Result<(), Error> {
        match self.limits.closed_for(account) {
            Some(wait) => Err(Error::refused(
                ErrorCode::RateLimited,
                format!(
                    "this account was closed for asking too much; {}",
                    try_again_in(wait)
                ),
            )),
            None => Ok(()),
        }
    }

    /// `LimitReached` while `account` holds its cap of open connections (one client holding
    /// thousands of sockets on one account); counted as a refusal.
    fn below_connection_cap(&self, account: UserId) -> Result<(), Error> {
        let cap = self.admission().max_sessions_per_account();
        if cap == 0 || self.fanout.sessions_of(account) < cap {
            return Ok(());
        }
        Counters::bump(&self.counters().sessions_refused_per_account);
        Err(Error::refused(
            ErrorCode::LimitReached,
            format!(
                "this account has {cap} connections open already; close a tab or sign out \
                 somewhere, then try again"
            ),
        ))
    }

    /// Puts this connection (`session`) of `account` online in the fan-out, signed in to the
    /// session named `token_hash` — unless that session was ended since `ends_before` (the
    /// fan-out's count of ended sessions, read before the sign-in read its session) and is
    /// gone from storage: then `SessionExpired`, as its resume gets a moment later.
    ///
    /// Ending a session deletes it, then closes the connections online with it. A sign-in
    /// that read the session before the delete and joins after the close would be missed by
    /// both — signed in to a session its account ended. Joining first and then comparing the
    /// count closes that gap: an end before the join moved the count (and its delete was
    /// committed before, so storage says so), an end after it finds this connection online.
    ///
    /// On a cluster the count moves only once word of an end on another process arrives
    /// here, which may be after the join: a session `resumed` then asks storage again
    /// whatever the count (one read by primary key), so that an end committed anywhere
    /// before the join refuses it. An end after that read is heard here (every process hears
    /// every end, `cluster::ends`) and finds this connection online.
    pub(super) async fn go_online(
        &self,
        session: SessionId,
        account: UserId,
        token_hash: [u8; 32],
        privacy: Privacy,
        ends_before: u64,
        resumed: bool,
    ) -> Result<Subscription, Error> {
        let online = self.fanout.join(account, session, token_hash, privacy);
        // Seldom moved: a sign-in asks storage again only when some session ended meanwhile
        // (here, or for a resume, anywhere on a cluster).
        let ended_elsewhere = resumed && self.cluster.is_some();
        if !ended_elsewhere && self.fanout.sessions_ended() == ends_before {
            return Ok(online);
        }
        let refusal = match self.storage.sessions_gone(vec![token_hash]).await {
            Ok(gone) if gone.is_empty() => return Ok(online),
            Ok(_) => session_expired(),
            Err(error) => error,
        };
        let storage = &self.storage;
        online
            .guard
            .leave(|at_ms| storage.record_last_seen(account, at_ms));
        Err(refusal)
    }

    /// Ends the session whose sign-out proof this is, as `EndSession` would (its connections
    /// closed, its device out of the directory); nothing if it is gone already.
    async fn sign_out_by_proof(&self, proof: [u8; 32], by: SessionId) -> Result<(), Error> {
        let Some(ended) = self.storage.sign_out(auth::sign_out_hash(&proof)).await? else {
            return Ok(());
        };
        tracing::info!(
            account = ended.account.0,
            "a session signed out by its proof"
        );
        self.session_ended(ended.account, ended.token_hash);
        if !ended.deleted_devices.is_empty() {
            self.devices_changed(ended.account, by).await;
        }
        Ok(())
    }
}

impl<S: FrameSocket> Session<S> {
    /// Answers `Authenticate`: `Welcome`, or an error (which may close the connection).
    pub(super) async fn authenticate(
        &mut self,
        version: u16,
        method: AuthMethod,
    ) -> Result<Flow, Gone> {
        if version != PROTOCOL_VERSION {
            self.write_error(
                None,
                &Error::refused(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "this server speaks protocol version {PROTOCOL_VERSION}, not {version}"
                    ),
                ),
            )
            .await?;
            return Ok(Flow::Close(
                close_code::POLICY,
                "unsupported protocol version",
            ));
        }
        // Before anything reads the session this connection signs in to (`go_online`).
        let ends_before = self.gateway.fanout.sessions_ended();
        let outcome = match method {
            AuthMethod::Register {
                username,
                public_key,
                signature,
            } => {
                self.limited_register(username, public_key, signature, None)
                    .await
            }
            AuthMethod::RegisterWithSalt {
                username,
                public_key,
                signature,
                kdf_salt,
            } => {
                self.limited_register(username, public_key, signature, Some(kdf_salt))
                    .await
            }
            AuthMethod::Login {
                username,
                signature,
            } => self.throttled_login(username, signature).await,
            AuthMethod::Resume { session_token } => self.gateway.resume(session_token).await,
            AuthMethod::SignOut { proof } => {
                return match self.gateway.sign_out_by_proof(proof, self.id).await {
                    Ok(()) => {
                        self.write_frame(&ServerFrame::SignedOut).await?;
                        Ok(Flow::Close(close_code::NORMAL, "signed out"))
                    }
                    Err(error) => {
                        self.write_error(None, &error).await?;
                        Ok(Flow::Continue)
                    }
                };
            }
        };
        let outcome = match outcome {
            Ok(authenticated) => self.within_session_cap(authenticated).await,
            Err(error) => Err(error),
        };
        let Authenticated {
            member,
            token_hash,
            session_token,
            new_session,
            privacy,
        } = match outcome {
            Ok(authenticated) => authenticated,
            Err(error) => return self.sign_in_refused(&error).await,
        };
        // Go online before Welcome, so nothing sent to the account from now on is missed.
        let online = match self
            .gateway
            .go_online(
                self.id,
                member.id,
                token_hash,
                privacy,
                ends_before,
                !new_session,
            )
            .await
        {
            Ok(online) => online,
            Err(error) => return self.sign_in_refused(&error).await,
        };
        tracing::Span::current().record("account", member.id.0);
        tracing::info!(username = %member.username, "signed in");
        self.deliveries = Some(online.frames);
        if let Some(cluster) = &self.gateway.cluster {
            let (ready, subscribed) = tokio::sync::oneshot::channel();
            let signed_in = crate::cluster::Event::SignedIn {
                session: self.id,
                account: member.id,
                ready,
            };
            cluster.tell(signed_in).await;
            // Before Welcome: a chat made for the account once the client holds its
            // Welcome must reach it, from whichever process makes it.
            let _ = subscribed.await;
        }
        self.evicted = online.evicted;
        self.signed_in = Some(SignedIn {
            member: member.clone(),
            token_hash,
            device: None,
            online: online.guard,
        });
        self.write_frame(&ServerFrame::Welcome {
            me: member,
            session_token,
        })
        .await?;
        Ok(Flow::Continue)
    }

    /// Answers a refused sign-in: its error, and the connection closed if the code says so or
    /// after too many attempts.
    async fn sign_in_refused(&mut self, error: &Error) -> Result<Flow, Gone> {
        self.write_error(None, error).await?;
        let code = error.code();
        if code.closes_connection() {
            return Ok(Flow::Close(close_code::POLICY, "sign in again"));
        }
        if code != ErrorCode::Internal {
            self.failed_sign_ins += 1;
            if self.failed_sign_ins >= MAX_FAILED_SIGN_INS {
                return Ok(Flow::Close(
                    close_code::POLICY,
                    "too many failed sign-in attempts",
                ));
            }
        }
        Ok(Flow::Continue)
    }

    /// `authenticated`, unless its account holds its cap of open connections by now (a login
    /// checked before it made its session, but others may have signed in meanwhile): then
    /// `LimitReached`, and a session just created for this sign-in is deleted again.
    async fn within_session_cap(
        &mut self,
        authenticated: Authenticated,
    ) -> Result<Authenticated, Error> {
        let Err(refusal) = self.gateway.below_connection_cap(authenticated.member.id) else {
            return Ok(authenticated);
        };
        if authenticated.new_session
            && let Err(error) = self
                .gateway
                .storage
                .delete_session(authenticated.token_hash)
                .await
        {
            tracing::warn!(%error, "cannot delete a refused sign-in's session");
        }
        Err(refusal)
    }

    /// `Register`, unless this address has made its allowance of accounts recently: taken
    /// before the account is made (registrations racing each other must not all pass on the
    /// one left), and given back if none was.
    async fn limited_register(
        &mut self,
        username: Username,
        public_key: [u8; 32],
        signature: Vec<u8>,
        kdf_salt: Option<[u8; 16]>,
    ) -> Result<Authenticated, Error> {
        let quotas = &self.gateway.quotas;
        quotas.take_sign_up(self.peer)?;
        let outcome = self
            .gateway
            .register(
                &self.nonce,
                username,
                public_key,
                signature,
                kdf_salt,
                self.client.clone(),
            )
            .await;
        if outcome.is_err() {
            quotas.give_back_sign_up(self.peer);
        }
        outcome
    }

    /// `Login`, unless this address or account has used up its failed attempts; counts the
    /// outcome.
    async fn throttled_login(
        &mut self,
        username: Username,
        signature: Vec<u8>,
    ) -> Result<Authenticated, Error> {
        let attempts = &self.gateway.sign_in_attempts;
        let attempt = attempts.begin(self.peer, &username)?;
        let outcome = self
            .gateway
            .login(
                &self.nonce,
                username.clone(),
                signature,
                self.client.clone(),
            )
            .await;
        match &outcome {
            Ok(_) => {
                attempts.not_failed(attempt);
                attempts.succeeded(self.peer, &username);
            }
            Err(error)
                if matches!(
                    error.code(),
                    ErrorCode::NoSuchUser | ErrorCode::WrongPassphrase | ErrorCode::InvalidKey
                ) =>
            {
                attempts.failed(attempt);
            }
            Err(_) => attempts.not_failed(attempt),
        }
        outcome
    }

    /// Answers `LookUpSalt`: the random part of `username`'s passphrase salt (made up, the
    /// same every time, for a name nobody has). A connection asks a few times at most: more
    /// closes it, as asking is cheap only one at a time.
    pub(super) async fn look_up_salt(&mut self, username: Username) -> Result<Flow, Gone> {
        self.salt_lookups += 1;
        if self.salt_lookups > MAX_SALT_LOOKUPS {
            self.write_error(
                None,
                &Error::refused(
                    ErrorCode::Malformed,
                    "too many salt lookups on one connection",
                ),
            )
            .await?;
            return Ok(Flow::Close(close_code::POLICY, "too many salt lookups"));
        }
        match self.gateway.storage.kdf_salt(username.clone()).await {
            Ok(kdf_salt) => {
                self.write_frame(&ServerFrame::Salt { username, kdf_salt })
                    .await?
            }
            Err(error) => self.write_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `Logout`: ends the session as `EndSession` does — the devices of its
    /// browser's tabs leave the directory, its other connections are closed — then closes.
    pub(super) async fn logout(&mut self) -> Result<Flow, Gone> {
        let Some((me, token_hash)) = self
            .signed_in
            .as_ref()
            .map(|signed_in| (signed_in.member.id, signed_in.token_hash))
        else {
            return Ok(Flow::Continue);
        };
        let name = super::sessions::session_ref(&token_hash).0;
        match self.gateway.storage.end_session(me, name).await {
            Ok(ended) => {
                tracing::info!("signed out");
                if ended.is_some_and(|ended| !ended.deleted_devices.is_empty()) {
                    self.gateway.devices_changed(me, self.id).await;
                }
                // The session's other connections (another tab of the browser, or whoever
                // holds a copy of its token) end with it.
                self.gateway.session_ended(me, token_hash);
                Ok(Flow::Close(close_code::NORMAL, "signed out"))
            }
            Err(error) => {
                self.write_error(None, &error).await?;
                Ok(Flow::Continue)
            }
        }
    }
}
