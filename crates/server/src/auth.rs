//! Proving who a client is: challenge nonces, Ed25519 signatures and session tokens.
//!
//! The server never sees a passphrase. A client signs
//! [`challenge_message`] with the Ed25519 key it
//! derived from its passphrase, and the server checks it against the account's public key:
//! one verification, microseconds. A session token is 32 random bytes handed to the client;
//! the server keeps only its SHA-256, so a copy of the database cannot resume anyone. A
//! token rotates about once a day ([`rotated_token`]), and can be turned by the client into
//! a sign-out proof, of which the server keeps a hash too ([`SessionKeys`]).
//!
//! The same account key vouches for each of the account's devices in the key directory
//! ([`verify_device`]), so the server cannot add a device of its own to someone's account
//! without the other members' clients noticing.

use merpati_protocol::auth::{AuthPurpose, challenge_message, sign_out_proof};
use merpati_protocol::keys::{DeviceKeys, device_binding_message, device_keys_message};
use merpati_protocol::{ErrorCode, Username};
use sha2::{Digest, Sha256};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use crate::Error;

/// 32 fresh random bytes: a challenge nonce or a session token.
pub(crate) fn random_bytes() -> Result<[u8; 32], Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// What the server stores for a session token.
pub(crate) fn token_hash(token: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// What the server keeps of a session token: the hash it is found by, and the hash of its
/// sign-out proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionKeys {
    pub(crate) token_hash: [u8; 32],
    pub(crate) sign_out_hash: [u8; 32],
}

impl SessionKeys {
    pub(crate) fn of(token: &[u8; 32]) -> SessionKeys {
        SessionKeys {
            token_hash: token_hash(token),
            sign_out_hash: sign_out_hash(&sign_out_proof(token)),
        }
    }
}

/// The passphrase salt answered for `username` when nobody has that name: from the server's
/// secret, so the same every time and like any account's.
pub(crate) fn made_up_salt(secret: &[u8; 32], username: &Username) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(b"merpati/made-up-salt/v1\0");
    hasher.update(secret);
    hasher.update(username.as_str().as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    salt
}

/// What the server stores for a sign-out proof.
pub(crate) fn sign_out_hash(proof: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(proof).into()
}

/// The token a session rotates to from `presented`, with the random `salt` stored for the
/// rotation: whoever presents the token before can be given this one again, and a copy of
/// the database (hashes and salts, no tokens) cannot compute it.
pub(crate) fn rotated_token(presented: &[u8; 32], salt: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"merpati/session-rotation/v1\0");
    hasher.update(salt);
    hasher.update(presented);
    hasher.finalize().into()
}

/// Parses a public key; `InvalidKey` if it is not a valid Ed25519 point.
pub(crate) fn public_key(bytes: &[u8; 32]) -> Result<Ed25519PublicKey, Error> {
    Ed25519PublicKey::from_slice(bytes).map_err(|_| {
        Error::refused(
            ErrorCode::InvalidKey,
            "the public key is not a valid Ed25519 key",
        )
    })
}

/// Checks that `signature` signs the challenge for `purpose`, `username` and `nonce`.
///
/// A signature that is not 64 bytes of Ed25519 material is `InvalidKey`; a well-formed one that
/// does not verify is `mismatch` (the caller knows whether that means a wrong passphrase).
pub(crate) fn verify(
    key: &Ed25519PublicKey,
    purpose: AuthPurpose,
    username: &Username,
    nonce: &[u8; 32],
    signature: &[u8],
    mismatch: ErrorCode,
) -> Result<(), Error> {
    let signature = Ed25519Signature::from_slice(signature).map_err(|_| {
        Error::refused(
            ErrorCode::InvalidKey,
            "the signature is not 64 bytes of Ed25519",
        )
    })?;
    key.verify(&challenge_message(purpose, username, nonce), &signature)
        .map_err(|_| Error::refused(mismatch, "the signature does not match"))
}

/// Checks that the account key signed `device`'s keys: `InvalidKey` for a signature that is not
/// 64 bytes of Ed25519, `InvalidSignature` for one that does not verify.
pub(crate) fn verify_device(
    account_key: &Ed25519PublicKey,
    device: &DeviceKeys,
) -> Result<(), Error> {
    let signature = Ed25519Signature::from_slice(&device.signature).map_err(|_| {
        Error::refused(
            ErrorCode::InvalidKey,
            "the device signature is not 64 bytes of Ed25519",
        )
    })?;
    let message = device_keys_message(device.user, &device.device, &device.ed25519);
    account_key.verify(&message, &signature).map_err(|_| {
        Error::refused(
            ErrorCode::InvalidSignature,
            "the device's keys are not signed by the account key",
        )
    })
}

/// Checks that a connection holds the device it binds to: `proof` is the device's own
/// Ed25519 key (`device.ed25519`, which the account key vouches for) signing this
/// connection's challenge `nonce`. The account's session alone cannot make it.
pub(crate) fn verify_device_binding(
    device: &DeviceKeys,
    nonce: &[u8; 32],
    proof: Option<&[u8]>,
) -> Result<(), Error> {
    let refused = || {
        Error::refused(
            ErrorCode::InvalidSignature,
            "this connection did not prove it holds the device's key",
        )
    };
    let key = Ed25519PublicKey::from_slice(&device.ed25519).map_err(|_| refused())?;
    let signature = proof
        .and_then(|proof| Ed25519Signature::from_slice(proof).ok())
        .ok_or_else(refused)?;
    let message = device_binding_message(device.user, &device.device, nonce);
    key.verify(&message, &signature).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use vodozemac::Ed25519SecretKey;

    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_own_challenge() {
        let secret = Ed25519SecretKey::from_slice(&[3; 32]);
        let key = public_key(secret.public_key().as_bytes()).expect("valid key");
        let alice = Username::parse("alice").expect("valid name");
        let nonce = [1; 32];
        let signature = secret
            .sign(&challenge_message(AuthPurpose::Login, &alice, &nonce))
            .to_bytes();
        let check = |purpose, nonce: &[u8; 32], signature: &[u8]| {
            verify(
                &key,
                purpose,
                &alice,
                nonce,
                signature,
                ErrorCode::WrongPassphrase,
            )
            .map_err(|error| error.code())
        };
        assert_eq!(check(AuthPurpose::Login, &nonce, &signature), Ok(()));
        assert_eq!(
            check(AuthPurpose::Register, &nonce, &signature),
            Err(ErrorCode::WrongPassphrase)
        );
        assert_eq!(
            check(AuthPurpose::Login, &[2; 32], &signature),
            Err(ErrorCode::WrongPassphrase)
        );
        assert_eq!(
            check(AuthPurpose::Login, &nonce, &signature[..10]),
            Err(ErrorCode::InvalidKey)
        );
    }

    #[test]
    fn a_device_verifies_only_with_its_own_account_signature() {
        use merpati_protocol::UserId;
        use merpati_protocol::keys::DeviceKey;

        let account = Ed25519SecretKey::from_slice(&[5; 32]);
        let key = public_key(account.public_key().as_bytes()).expect("valid key");
        let mut device = DeviceKeys {
            user: UserId(7),
            device: DeviceKey([1; 32]),
            ed25519: [2; 32],
            signature: Vec::new(),
        };
        device.signature = account
            .sign(&device_keys_message(
                device.user,
                &device.device,
                &device.ed25519,
            ))
            .to_bytes()
            .to_vec();
        assert!(verify_device(&key, &device).is_ok());
        let check = |device: &DeviceKeys| verify_device(&key, device).map_err(|e| e.code());
        let other_user = DeviceKeys {
            user: UserId(8),
            ..device.clone()
        };
        assert_eq!(check(&other_user), Err(ErrorCode::InvalidSignature));
        let short = DeviceKeys {
            signature: device.signature[..63].to_vec(),
            ..device
        };
        assert_eq!(check(&short), Err(ErrorCode::InvalidKey));
    }

    #[test]
    fn tokens_are_stored_as_their_hash() {
        let token = [4; 32];
        assert_ne!(token_hash(&token), token);
        assert_eq!(token_hash(&token), token_hash(&[4; 32]));
    }
}
