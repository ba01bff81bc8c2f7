//! What a client signs to prove it holds an account's key.
//!
//! The server sends a fresh random nonce in its `Challenge`; the client signs
//! [`challenge_message`] with the Ed25519 key it derived from the passphrase. Binding the
//! purpose, the username and the nonce means a signature cannot be replayed on another
//! connection, for another account, or to turn a sign-in into a sign-up.
//!
//! A session token, once handed out, can be turned into a [`sign_out_proof`]: enough to end
//! the session, never to resume it.

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
/// browser that signed out until the server has heard it ([`crate::frames::AuthMethod::SignOut`]).
/// The server stores only the proof's own hash.
pub fn sign_out_proof(session_token: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"merpati/sign-out/v1\0");
    hasher.update(session_token);
    hasher.finalize().into()
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
