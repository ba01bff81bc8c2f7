//! The names the tests give things: a test user's Ed25519 key (derived from the name, as the
//! app derives it from the passphrase), usernames, and distinct client message ids.

use merpati_protocol::{ClientMsgId, Username};
use vodozemac::Ed25519SecretKey;

/// The Ed25519 key of a test user, derived from the name (the app derives it from the
/// passphrase).
pub(crate) fn key(name: &str) -> Ed25519SecretKey {
    let mut seed = [0u8; 32];
    for (slot, byte) in seed.iter_mut().zip(name.bytes().cycle()) {
        *slot = byte;
    }
    Ed25519SecretKey::from_slice(&seed)
}

pub(crate) fn username(name: &str) -> Username {
    Username::parse(name).unwrap()
}

/// A distinct client message id.
pub(crate) fn msg_id(n: u64) -> ClientMsgId {
    let mut id = [0xa5u8; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    ClientMsgId(id)
}
