//! What a client signs to prove it holds an account's key.
//!
//! The server sends a fresh random nonce in its `Challenge`; the client signs
//! [`challenge_message`] with the Ed25519 key it derived from the passphrase. Binding the
//! purpose, the username and the nonce means a signature cannot be replayed on another
//! connection, for another account, or to turn a sign-in into a sign-up.
//!
//! A session token, once handed out, can be turned into a [`sign_out_proof`]: enough to end
//! the session, never to resume it. [`AuthMethod`] lists the ways a client answers the
//! challenge.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Username;

/// Why the client is answering the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthPurpose {
    /// Creating an account.
    Register,
    /// Signing in to an existing account.
    Login,
}

/// The bytes a client signs to answer a challenge.
pub fn challenge_message(purpose: AuthPurpose, username: &Username, nonce: &[u8; 32]) -> Vec<u8> {
    let purpose = match purpose {
        AuthPurpose::Register => "register",
        AuthPurpose::Login => "login",
    };
    let mut message = Vec::with_capacity(64 + username.as_str().len());
    message.extend_from_slice(b"merpati/auth/v1/");
    message.extend_from_slice(purpose.as_bytes());
    message.push(0);
    message.extend_from_slice(username.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(nonce);
    message
}

/// What ends a session without being able to resume it: a hash of its token, kept by a
/// browser that signed out until the server has heard it ([`AuthMethod::SignOut`]).
/// The server stores only the proof's own hash.
pub fn sign_out_proof(session_token: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"merpati/sign-out/v1\0");
    hasher.update(session_token);
    hasher.finalize().into()
}

/// How a client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    /// Create an account whose Ed25519 public key is `public_key`. The signature covers
    /// [`crate::auth::challenge_message`] with [`crate::auth::AuthPurpose::Register`].
    Register {
        /// The name to register.
        username: Username,
        /// The account's Ed25519 public key.
        public_key: [u8; 32],
        /// The Ed25519 signature of the challenge message (64 bytes).
        signature: Vec<u8>,
    },
    /// Sign in; the signature covers the challenge message with
    /// [`crate::auth::AuthPurpose::Login`].
    Login {
        /// The account.
        username: Username,
        /// The Ed25519 signature of the challenge message (64 bytes).
        signature: Vec<u8>,
    },
    /// Reconnect a device that signed in before, without the passphrase.
    Resume {
        /// The token the server gave in [`crate::ServerFrame::Welcome`] (the newest one; the
        /// one before the last rotation is still taken, and answered with the newest).
        session_token: [u8; 32],
    },
    /// End a session this browser signed out of while it could not tell the server (offline,
    /// or the tab closed first): not a sign-in. Answered by [`crate::ServerFrame::SignedOut`]
    /// (also for a session that is gone already), then the server closes the connection.
    SignOut {
        /// [`crate::auth::sign_out_proof`] of the session's token: it can end the session, not
        /// resume it, so it may wait unsealed on the device until it can be sent.
        proof: [u8; 32],
    },
    /// As `Register`, for a key derived with a random per-account salt
    /// (16 random bytes, made by the client), which the server keeps and
    /// hands to whoever asks (`LookUpSalt`): a passphrase guess then works for this account
    /// only, not for every deployment's account of the same name.
    RegisterWithSalt {
        /// The name to register.
        username: Username,
        /// The account's Ed25519 public key.
        public_key: [u8; 32],
        /// The Ed25519 signature of the challenge message (64 bytes), as for `Register`.
        signature: Vec<u8>,
        /// The random part of the passphrase salt.
        kdf_salt: [u8; 16],
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_binds_purpose_username_and_nonce() {
        let alice = Username::parse("alice").expect("valid");
        let bob = Username::parse("bob").expect("valid");
        let nonce = [7; 32];
        let base = challenge_message(AuthPurpose::Login, &alice, &nonce);
        assert_ne!(
            base,
            challenge_message(AuthPurpose::Register, &alice, &nonce)
        );
        assert_ne!(base, challenge_message(AuthPurpose::Login, &bob, &nonce));
        assert_ne!(
            base,
            challenge_message(AuthPurpose::Login, &alice, &[8; 32])
        );
    }
}
