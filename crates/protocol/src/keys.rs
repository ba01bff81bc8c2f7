//! The public keys of end-to-end encryption, as the server's key directory holds them.
//!
//! Every browser is a *device* with its own vodozemac Olm account: a Curve25519 identity key
//! (its name everywhere in the protocol, [`DeviceKey`]) and an Ed25519 signing key. A device
//! is bound to its account by a signature of the **account key** (the Ed25519 key derived
//! from the passphrase, which the server already holds) over [`device_keys_message`], so a
//! server cannot slip a device of its own into someone's account. One-time keys are signed
//! by the device's Ed25519 key ([`one_time_key_message`]).
//!
//! The server stores and hands out these keys; it never holds anything that decrypts.
//! `docs/security.md` says what each side learns.

use serde::{Deserialize, Serialize};

use crate::UserId;

/// A device's Curve25519 identity key: names one browser of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceKey(pub [u8; 32]);

/// One device of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceRef {
    /// The account.
    pub user: UserId,
    /// The device.
    pub device: DeviceKey,
}

/// A device's public keys, signed by its account key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The account the device belongs to.
    pub user: UserId,
    /// The device's Curve25519 identity key.
    pub device: DeviceKey,
    /// The device's Ed25519 key (it signs one-time keys).
    pub ed25519: [u8; 32],
    /// The account key's Ed25519 signature over [`device_keys_message`] (64 bytes).
    pub signature: Vec<u8>,
}

/// A Curve25519 key for starting one Olm session, signed by the device's Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeKey {
    /// The public key.
    pub key: [u8; 32],
    /// Whether it is the device's fallback key, handed out (and kept) when its one-time keys
    /// have run out.
    pub fallback: bool,
    /// The device's Ed25519 signature over [`one_time_key_message`] (64 bytes).
    pub signature: Vec<u8>,
}

/// Everything the directory knows about one account's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserKeys {
    /// The account.
    pub user: UserId,
    /// The account's Ed25519 key, from registration.
    pub account_key: [u8; 32],
    /// Its devices that published keys.
    pub devices: Vec<DeviceKeys>,
}

/// The answer to claiming a one-time key of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedKey {
    /// The device.
    pub device: DeviceRef,
    /// A one-time key (removed from the directory), the fallback key when none is left, or
    /// `None` when the device published neither.
    pub key: Option<OneTimeKey>,
}

/// An Olm-encrypted message for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDeviceMessage {
    /// The device it is for.
    pub recipient: DeviceRef,
    /// Opaque to the server: an encoded Olm message.
    pub body: Vec<u8>,
}

/// One entry of an account's key backup: a Megolm session key sealed with a key derived from
/// the passphrase, which the server never sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// Names the entry (a keyed hash of the session id); putting the same id replaces it.
    pub id: [u8; 32],
    /// Opaque to the server.
    pub sealed: Vec<u8>,
}

/// The bytes an account key signs to vouch for one of its devices.
pub fn device_keys_message(user: UserId, device: &DeviceKey, ed25519: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(96);
    message.extend_from_slice(b"merpati/device/v1/");
    message.extend_from_slice(&user.0.to_be_bytes());
    message.extend_from_slice(&device.0);
    message.extend_from_slice(ed25519);
    message
}

/// The bytes a device's Ed25519 key signs to bind a connection to it: the connection's
/// challenge nonce, so that a signature cannot be replayed on another connection.
pub fn device_binding_message(user: UserId, device: &DeviceKey, nonce: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(96);
    message.extend_from_slice(b"merpati/device-binding/v1/");
    message.extend_from_slice(&user.0.to_be_bytes());
    message.extend_from_slice(&device.0);
    message.extend_from_slice(nonce);
    message
}

/// The bytes a device's Ed25519 key signs to vouch for one of its one-time keys.
pub fn one_time_key_message(device: &DeviceKey, key: &[u8; 32], fallback: bool) -> Vec<u8> {
    let mut message = Vec::with_capacity(96);
    message.extend_from_slice(b"merpati/one-time-key/v1/");
    message.extend_from_slice(&device.0);
    message.extend_from_slice(key);
    message.push(u8::from(fallback));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_messages_bind_every_field() {
        let device = DeviceKey([1; 32]);
        let base = device_keys_message(UserId(1), &device, &[2; 32]);
        assert_ne!(base, device_keys_message(UserId(2), &device, &[2; 32]));
        assert_ne!(
            base,
            device_keys_message(UserId(1), &DeviceKey([3; 32]), &[2; 32])
        );
        assert_ne!(base, device_keys_message(UserId(1), &device, &[3; 32]));
        let key = one_time_key_message(&device, &[4; 32], false);
        assert_ne!(key, one_time_key_message(&device, &[4; 32], true));
        assert_ne!(
            key,
            one_time_key_message(&DeviceKey([5; 32]), &[4; 32], false)
        );
    }
}
