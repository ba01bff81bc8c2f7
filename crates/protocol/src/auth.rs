//! What a client signs to prove it holds an account's key.
//!
//! The server sends a fresh random nonce in its `Challenge`; the client signs
//! [`challenge_message`] with the Ed25519 key it derived from the passphrase. Binding the
//! purpose, the username and the nonce means a signature cannot be replayed on another
//! connection, for another account, or to turn a sign-in into a sign-up.

use serde::{Deserialize, Serialize};

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
