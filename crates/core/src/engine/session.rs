//! The session: the credentials the engine authenticates with, the phases of a connection,
//! signing up, in and out, restoring from the store, and the rules of what survives a failed
//! sign-in.
//!
//! The rules: a sign-in that fails for a transient reason ([`ErrorCode::is_transient`]) keeps
//! the credentials — a session token and passphrase keys alike, so that a surge meets clients
//! that come back after backoff instead of people retyping passphrases — and says so with
//! [`Event::AuthDeferred`]. `SessionExpired` drops the session token ([`Event::SessionExpired`]);
//! `UnsupportedVersion` blames the app, not the credentials, and keeps them
//! ([`Event::OutOfDate`]); any other failure drops the credentials ([`Event::AuthFailed`]).

use merpati_protocol::{
    ClientFrame, Epoch, ErrorCode, Member, PROTOCOL_VERSION, Seq, Username,
    auth::{AuthPurpose, challenge_message},
    frames::AuthMethod,
};
use vodozemac::Ed25519SecretKey;

use super::keys::KeyFlow;
use super::{ChatState, Engine, Event};
use crate::crypto::AccountKey;
use crate::e2e::DeviceCrypto;
use crate::store::{AccountRecord, AccountSecrets, MessageRecord, StoreWrite, StoredState};
use crate::store::{DeviceSettings, SettingsRecord};

/// Where the connection stands, as the person sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConnectionPhase {
    /// No connection; nothing is being tried right now.
    Offline,
    /// Opening a socket, proving who we are, or catching up.
    Connecting,
    /// Signed in and caught up: messages flow live.
    Online,
}

/// How the next connection authenticates.
pub(super) enum Credentials {
    Register {
        username: Username,
        key: Ed25519SecretKey,
        backup_key: [u8; 32],
        /// The random part of the passphrase salt the key was derived with (`None`: an
        /// account salted with its name alone, as before salts).
        kdf_salt: Option<[u8; 16]>,
        /// How many connections this sign-up went out on. Past the first, an earlier one may
        /// have made the account though its answer never came (the connection dropped, or
        /// the server failed after committing it): "taken" may mean taken by this sign-up.
        sent: u32,
    },
    Login {
        username: Username,
        key: Ed25519SecretKey,
        backup_key: [u8; 32],
        /// A sign-up answered "taken" after an earlier try of it went unanswered: this signs in
        /// with the same keys to find out. Refused, the name is someone else's after all.
        after_sign_up: bool,
    },
    Resume {
        session_token: [u8; 32],
    },
}

/// Where the connection stands, as the engine tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Offline,
    Opening,
    AwaitingChallenge,
    Authenticating,
    Syncing,
    Online,
}

impl Engine {
    /// Loads what the local store holds ([`StoredState::read`]): the account (whose session
    /// token the next connection resumes), the chats with their receipts, the newest stored
    /// messages of each chat, the outbox, this device's end-to-end keys, the drafts, the
    /// messages deleted for this account and the settings. Without stored keys (a new tab of
    /// a signed-in browser) the engine becomes a new device of the account when it connects,
    /// from the account's stored secrets.
    pub fn restore(&mut self, stored: StoredState) {
        let StoredState {
            account,
            chats,
            messages,
            outbox,
            crypto,
            hidden,
            settings,
            privacy_pending,
            browser,
            search,
        } = stored;
        self.search = super::SearchState::restore(search);
        self.crypto = DeviceCrypto::restore(crypto).filter(|crypto| {
            account
                .as_ref()
                .is_some_and(|account| account.me.id == crypto.user())
        });
        if let Some(account) = account {
            self.secrets = Some(account.secrets.clone());
            self.names
                .insert(account.me.id, account.me.username.clone());
            self.me = Some(account.me);
            self.session_token = Some(account.session_token);
            self.epoch = account.epoch;
            self.credentials = Some(Credentials::Resume {
                session_token: account.session_token,
            });
        }
        for chat in chats {
            self.learn_names(&chat.info.members);
            self.chats.insert(chat.info.id, ChatState::restore(chat));
        }
        self.hidden = crate::sorting::set_from(
            hidden
                .into_iter()
                .map(|hidden| (hidden.chat_id, hidden.client_msg_id)),
        );
        self.settings = settings.unwrap_or_default();
        self.privacy_unsent = privacy_pending;
        self.adopt_browser_choices(browser);
        let mut by_chat: std::collections::BTreeMap<_, Vec<MessageRecord>> =
            std::collections::BTreeMap::new();
        for message in messages {
            by_chat.entry(message.chat_id).or_default().push(message);
        }
        for (chat_id, messages) in by_chat {
            self.open_messages(&messages);
            if let Some(chat) = self.chats.get_mut(&chat_id) {
                chat.timeline.restore(messages);
            }
        }
        self.take_in_outbox(outbox);
        self.views_changed = true;
    }

    /// Signs up on the next connection with the keys derived from the passphrase, salted
    /// with `kdf_salt` (which the server keeps for the account's other browsers; see
    /// [`AccountKey::derive`]).
    pub fn sign_up(&mut self, username: Username, key: &AccountKey, kdf_salt: Option<[u8; 16]>) {
        self.credentials = Some(Credentials::Register {
            username,
            key: key.auth_key(),
            backup_key: key.backup_key(),
            kdf_salt,
            sent: 0,
        });
    }

    /// Signs in on the next connection with the keys derived from the passphrase.
    pub fn sign_in(&mut self, username: Username, key: &AccountKey) {
        self.credentials = Some(Credentials::Login {
            username,
            key: key.auth_key(),
            backup_key: key.backup_key(),
            after_sign_up: false,
        });
    }

    /// Whether the engine knows how to authenticate a connection: while it does, the shell
    /// keeps (re)connecting.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Who is signed in.
    pub fn me(&self) -> Option<&Member> {
        self.me.as_ref()
    }

    /// Signs out here; returns the session's sign-out proof
    /// ([`merpati_protocol::auth::sign_out_proof`]), which the shell keeps outside the store
    /// (which it deletes) and sends the server on a connection of its own until the server has
    /// heard it — online now, or whenever this browser is next. The proof ends the session;
    /// it cannot resume it. `None` if there was no session.
    pub fn sign_out(&mut self) -> Option<[u8; 32]> {
        let proof = self
            .session_token
            .as_ref()
            .map(merpati_protocol::auth::sign_out_proof);
        self.credentials = None;
        self.session_token = None;
        self.secrets = None;
        proof
    }

    /// The session token this device presents now: what its requests for files' blobs over
    /// HTTP carry (`merpati_protocol::blobs`). `None` while signed out.
    pub fn session_token(&self) -> Option<[u8; 32]> {
        self.session_token
    }

    /// The session token the store holds now: another tab of this browser may have resumed
    /// since this engine read it, and been given a rotated token. Resuming with the newest
    /// keeps this tab signed in however many rotations it slept through.
    pub fn adopt_stored_session_token(&mut self, stored: &AccountRecord) {
        let same_account = self.me.as_ref().is_some_and(|me| me.id == stored.me.id);
        if same_account && let Some(Credentials::Resume { session_token }) = &mut self.credentials {
            *session_token = stored.session_token;
            self.session_token = Some(stored.session_token);
        }
    }

    /// The shell is opening a socket (the person sees "connecting", not "offline").
    pub fn on_connecting(&mut self) {
        if self.phase == Phase::Offline {
            self.phase = Phase::Opening;
            self.views_changed = true;
        }
    }

    /// A socket is open: the server's challenge comes next.
    pub fn on_connected(&mut self) {
        self.frames.clear();
        self.keys = KeyFlow::default();
        self.sync_retry = super::retry::Retry::default();
        self.privacy_retry = super::retry::Retry::default();
        self.page_retry = super::retry::Retry::default();
        self.sent_this_connection.clear();
        self.early.clear();
        self.liveness_connected();
        self.phase = Phase::AwaitingChallenge;
        self.views_changed = true;
    }

    /// The socket closed, or could not be opened. Unacknowledged messages stay in the outbox
    /// and go out again after the next sign-in; requests in flight fail.
    pub fn on_disconnected(&mut self) {
        // Frames not yet sent belong to the connection that is gone; the outbox, not the
        // frame queue, carries messages across connections.
        self.frames.clear();
        self.keys = KeyFlow::default();
        self.sync_retry = super::retry::Retry::default();
        self.privacy_retry = super::retry::Retry::default();
        self.page_retry = super::retry::Retry::default();
        self.sent_this_connection.clear();
        self.delivery_unsure = std::mem::take(&mut self.delivery_reported);
        self.listed_in_sync = None;
        self.phase = Phase::Offline;
        self.views_changed = true;
        self.forget_signals();
        for chat in self.chats.values_mut() {
            chat.fetching = false;
            chat.history = super::HistoryAsked::Not;
            // The next sync describes every chat anew (under another epoch, perhaps, whose
            // heads are lower).
            chat.described_at = Seq(0);
        }
        for request in std::mem::take(&mut self.pending_requests) {
            self.events.push(Event::RequestFailed {
                request: Some(request),
                code: ErrorCode::Internal,
            });
        }
    }

    /// Where the connection stands.
    pub fn connection_phase(&self) -> ConnectionPhase {
        match self.phase {
            Phase::Offline => ConnectionPhase::Offline,
            Phase::Opening | Phase::AwaitingChallenge | Phase::Authenticating | Phase::Syncing => {
                ConnectionPhase::Connecting
            }
            Phase::Online => ConnectionPhase::Online,
        }
    }

    /// Signed in on this connection: requests may go out.
    pub(super) fn is_authenticated(&self) -> bool {
        matches!(self.phase, Phase::Syncing | Phase::Online)
    }

    /// Still proving who we are on this connection: an `Error` now answers the sign-in.
    pub(super) fn is_signing_in(&self) -> bool {
        matches!(self.phase, Phase::AwaitingChallenge | Phase::Authenticating)
    }

    pub(super) fn on_challenge(&mut self, nonce: [u8; 32], epoch: Epoch) {
        if self.epoch.is_some_and(|known| known != epoch) || self.old_epoch_in_store {
            self.forget_old_epoch();
        }
        self.epoch = Some(epoch);
        self.nonce = Some(nonce);
        self.authenticate(nonce);
    }

    /// Sends the credentials' `Authenticate` for this connection's challenge.
    fn authenticate(&mut self, nonce: [u8; 32]) {
        let method = match &mut self.credentials {
            None => return,
            Some(Credentials::Register {
                username,
                key,
                kdf_salt,
                sent,
                ..
            }) => {
                *sent += 1;
                let public_key = *key.public_key().as_bytes();
                let signature = key
                    .sign(&challenge_message(AuthPurpose::Register, username, &nonce))
                    .to_bytes()
                    .to_vec();
                match kdf_salt {
                    Some(kdf_salt) => AuthMethod::RegisterWithSalt {
                        username: username.clone(),
                        public_key,
                        signature,
                        kdf_salt: *kdf_salt,
                    },
                    None => AuthMethod::Register {
                        username: username.clone(),
                        public_key,
                        signature,
                    },
                }
            }
            Some(Credentials::Login { username, key, .. }) => AuthMethod::Login {
                username: username.clone(),
                signature: key
                    .sign(&challenge_message(AuthPurpose::Login, username, &nonce))
                    .to_bytes()
                    .to_vec(),
            },
            Some(Credentials::Resume { session_token }) => AuthMethod::Resume {
                session_token: *session_token,
            },
        };
        self.phase = Phase::Authenticating;
        self.frames.push(ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method,
        });
    }

    pub(super) fn on_welcome(&mut self, me: Member, session_token: Option<[u8; 32]>) {
        // This connection's `Authenticate` left only once the challenge's step was durable:
        // the store holds nothing of an old epoch any more.
        self.old_epoch_in_store = false;
        let passphrase_keys = match &self.credentials {
            Some(Credentials::Register {
                key, backup_key, ..
            })
            | Some(Credentials::Login {
                key, backup_key, ..
            }) => Some(AccountSecrets {
                account_key: *key.to_bytes(),
                backup_key: *backup_key,
            }),
            _ => None,
        };
        let signed_in_with_passphrase = passphrase_keys.is_some();
        if let Some(secrets) = passphrase_keys {
            self.secrets = Some(secrets);
        }
        if let Some(token) = session_token {
            self.session_token = Some(token);
            self.credentials = Some(Credentials::Resume {
                session_token: token,
            });
        }
        if self.me.as_ref().is_some_and(|known| known.id != me.id) {
            // Another account signed in on this engine: nothing of the old one may show.
            self.chats.clear();
            self.outbox.clear();
            self.opened.clear();
            self.opened_at.clear();
            self.replayed.clear();
            self.waiting.clear();
            self.drafts.clear();
            self.hidden.clear();
            self.settings = SettingsRecord::default();
            self.privacy_unsent = false;
            self.device_settings = DeviceSettings::default();
            self.recent_emoji.clear();
            self.skin_tone = merpati_words::SkinTone::Default;
            self.muted_chats.clear();
            self.names.clear();
            self.watched = None;
        }
        if self
            .crypto
            .as_ref()
            .is_none_or(|crypto| crypto.user() != me.id)
            && let Some(secrets) = &self.secrets
        {
            // A browser (or tab) new to this account: a new device with its own keys.
            // Without randomness there is no device: the engine stays signed in but cannot
            // send, and every message it cannot open says so.
            let account_key = Ed25519SecretKey::from_slice(&secrets.account_key);
            self.crypto = DeviceCrypto::new(me.id, &account_key, secrets.backup_key).ok();
            // Earlier history's keys are in the backup, and the account's pins.
            if let Some(crypto) = self.crypto.as_mut() {
                crypto.read_backup_from_start();
            }
        }
        if signed_in_with_passphrase && let Some(crypto) = self.crypto.as_mut() {
            crypto.read_backup_from_start();
        }
        self.names.insert(me.id, me.username.clone());
        self.me = Some(me.clone());
        self.views_changed = true;
        if let (Some(session_token), Some(secrets)) = (self.session_token, self.secrets.clone()) {
            self.writes.push(StoreWrite::PutAccount(AccountRecord {
                me: me.clone(),
                session_token,
                epoch: self.epoch,
                secrets,
            }));
        }
        self.phase = Phase::Syncing;
        // The device first, so that keys waiting for it arrive before the messages they open.
        self.publish_keys(true);
        // A change made while away, before the sync, so that the receipts it carries already
        // follow it (and the sync's `Privacy` says it).
        if self.privacy_unsent {
            self.frames.push(self.privacy_frame());
        }
        self.start_sync();
        if let Some(user) = self.watched {
            self.frames
                .push(ClientFrame::WatchPresence { user: Some(user) });
        }
        // The outbox goes out once the device is published and keys are shared
        // (`send_outbox`).
        self.events.push(Event::SignedIn(me));
    }

    /// The server refused the sign-in; see the module documentation for what survives.
    pub(super) fn on_sign_in_refused(&mut self, code: ErrorCode) {
        if code.is_transient() {
            self.events.push(Event::AuthDeferred(code));
        } else if code == ErrorCode::SessionExpired {
            self.credentials = None;
            self.session_token = None;
            self.events.push(Event::SessionExpired);
        } else if code == ErrorCode::UnsupportedVersion {
            self.events.push(Event::OutOfDate);
        } else if code == ErrorCode::UsernameTaken && self.sign_in_after_sign_up() {
            // Signing in with the sign-up's keys on this connection, to find out whose it is.
        } else {
            let code = match self.credentials.take() {
                Some(Credentials::Login {
                    after_sign_up: true,
                    ..
                }) => ErrorCode::UsernameTaken,
                _ => code,
            };
            self.events.push(Event::AuthFailed(code));
        }
    }

    /// A sign-up answered "taken" after an earlier try went unanswered: that try may have
    /// made the account. Signs in with the same keys instead, on this connection (its
    /// challenge stands); false if this sign-up went out once only.
    fn sign_in_after_sign_up(&mut self) -> bool {
        let Some(Credentials::Register { sent: 2.., .. }) = &self.credentials else {
            return false;
        };
        let Some(Credentials::Register {
            username,
            key,
            backup_key,
            ..
        }) = self.credentials.take()
        else {
            return false;
        };
        self.credentials = Some(Credentials::Login {
            username,
            key,
            backup_key,
            after_sign_up: true,
        });
        if let Some(nonce) = self.nonce {
            self.authenticate(nonce);
        }
        true
    }
}
