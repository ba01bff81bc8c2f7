//! Signing in as a raw client: the `Authenticate` frame for each way in.
//!
//! Registering and logging in prove the account key by signing the server's challenge
//! ([`merpati_protocol::auth::challenge_message`]); [`sign_challenge`] is the one place test
//! and benchmark code does it. (The engine in `merpati-core` signs its own, in production.)

use merpati_protocol::auth::{AuthPurpose, challenge_message};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ClientFrame, PROTOCOL_VERSION, Username};
use vodozemac::Ed25519SecretKey;

/// A way to sign in on a connection.
#[derive(Clone, Copy)]
pub enum SignIn<'a> {
    /// Create the account `username` with `key` as its account key.
    Register {
        /// The new account's name.
        username: &'a Username,
        /// Its account key.
        key: &'a Ed25519SecretKey,
    },
    /// Sign in to `username` by proving `key`.
    Login {
        /// The account's name.
        username: &'a Username,
        /// Its account key.
        key: &'a Ed25519SecretKey,
    },
    /// Resume the session `session_token` names.
    Resume {
        /// A token from an earlier `Welcome`.
        session_token: [u8; 32],
    },
}

impl std::fmt::Debug for SignIn<'_> {
    // Names the account, never the key or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignIn::Register { username, .. } => write!(f, "Register({username:?})"),
            SignIn::Login { username, .. } => write!(f, "Login({username:?})"),
            SignIn::Resume { .. } => f.write_str("Resume"),
        }
    }
}

impl SignIn<'_> {
    /// The `Authenticate` frame for a connection whose challenge carried `nonce`.
    pub fn frame(&self, nonce: &[u8; 32]) -> ClientFrame {
        let method = match *self {
            SignIn::Register { username, key } => AuthMethod::Register {
                username: username.clone(),
                public_key: *key.public_key().as_bytes(),
                signature: sign_challenge(key, AuthPurpose::Register, username, nonce),
            },
            SignIn::Login { username, key } => AuthMethod::Login {
                username: username.clone(),
                signature: sign_challenge(key, AuthPurpose::Login, username, nonce),
            },
            SignIn::Resume { session_token } => AuthMethod::Resume { session_token },
        };
        ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method,
        }
    }
}

/// `key`'s signature over the challenge `nonce` for `purpose` and `username`.
pub fn sign_challenge(
    key: &Ed25519SecretKey,
    purpose: AuthPurpose,
    username: &Username,
    nonce: &[u8; 32],
) -> Vec<u8> {
    key.sign(&challenge_message(purpose, username, nonce))
        .to_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_own_nonce_purpose_and_name_only() -> Result<(), String> {
        let key = Ed25519SecretKey::from_slice(&[7; 32]);
        let alice = Username::parse("alice").map_err(|error| error.to_string())?;
        let bob = Username::parse("bob").map_err(|error| error.to_string())?;
        let signature = sign_challenge(&key, AuthPurpose::Login, &alice, &[1; 32]);
        let signature = vodozemac::Ed25519Signature::from_slice(&signature)
            .map_err(|error| error.to_string())?;
        let verifies = |purpose, name, nonce| {
            key.public_key()
                .verify(&challenge_message(purpose, name, nonce), &signature)
                .is_ok()
        };
        assert!(verifies(AuthPurpose::Login, &alice, &[1; 32]));
        assert!(!verifies(AuthPurpose::Register, &alice, &[1; 32]));
        assert!(!verifies(AuthPurpose::Login, &bob, &[1; 32]));
        assert!(!verifies(AuthPurpose::Login, &alice, &[2; 32]));
        Ok(())
    }
}
