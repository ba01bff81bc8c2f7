//! The key directory a device trusts: whose account key is pinned, which of their devices
//! that key vouches for, when a pinned key changed, and the safety numbers derived from the
//! pinned keys.
//!
//! The server is only a directory: a device it lists counts when its account key signed it
//! ([`device_keys_message`]), and the first account key seen for a person is pinned — a
//! different one later is announced as a [`KeyChange`] until the person compares safety
//! numbers again. Pins go into the key backup (`backup`), so a new tab or device of the
//! account starts from the same pins instead of trusting what the server shows first.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use merpati_protocol::{
    UserId,
    keys::{DeviceKeys, DeviceRef, UserKeys, device_keys_message},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use super::DeviceCrypto;

/// A person's pinned account key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange {
    /// The person.
    pub user: UserId,
    /// When this device noticed, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// A person's keys as this device trusts them (persisted whole, safety number aside).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct KnownUser {
    account_key: [u8; 32],
    devices: Vec<DeviceKeys>,
    changed_ms: Option<u64>,
    /// The safety number with this person, computed when first shown (views ask on every
    /// change, and it costs 1,024 SHA-512 rounds); a new account key comes with a new entry.
    #[serde(skip)]
    safety_number: OnceCell<String>,
}

impl DeviceCrypto {
    /// Takes a `Keys` answer: keeps the devices whose signature the account key verifies,
    /// pins first-seen account keys, and reports pinned keys that changed — but never takes
    /// for this device's own account another key than its own.
    pub fn on_keys(&mut self, users: Vec<UserKeys>, now_ms: u64) -> Vec<KeyChange> {
        let mut changes = Vec::new();
        for keys in users {
            if keys.user == self.user && keys.account_key != self.account_key {
                // This device holds its own account's key: another one for the account is
                // the server's, as is every device it vouches for (who would then be given
                // every chat's keys as a device of the account's own).
                continue;
            }
            let Ok(account_key) = Ed25519PublicKey::from_slice(&keys.account_key) else {
                continue;
            };
            let devices: Vec<DeviceKeys> = keys
                .devices
                .into_iter()
                .filter(|device| device.user == keys.user && verify_device(&account_key, device))
                .collect();
            let changed_ms = match self.known.get(&keys.user) {
                Some(known) if known.account_key != keys.account_key => {
                    changes.push(KeyChange {
                        user: keys.user,
                        at_ms: now_ms,
                    });
                    Some(now_ms)
                }
                Some(known) => known.changed_ms,
                None => {
                    // Pinned on first sight: the account's other tabs and devices learn it
                    // from the key backup.
                    self.pins_to_back_up.insert(keys.user);
                    self.save_pins_to_back_up();
                    None
                }
            };
            // The same account key keeps its safety number; a new one gets its own.
            let safety_number = match self.known.get(&keys.user) {
                Some(known) if known.account_key == keys.account_key => known.safety_number.clone(),
                _ => OnceCell::new(),
            };
            self.known.insert(
                keys.user,
                KnownUser {
                    account_key: keys.account_key,
                    devices,
                    changed_ms,
                    safety_number,
                },
            );
            self.save_known_user(keys.user);
        }
        changes
    }

    /// Forgets another key for this device's own account, kept from before a `Keys` answer
    /// giving one was refused (see [`DeviceCrypto::on_keys`]), with the devices it vouched
    /// for: the next answer giving the account's own key takes its place.
    pub(super) fn forget_a_foreign_own_key(&mut self) {
        if self
            .known
            .get(&self.user)
            .is_some_and(|known| known.account_key != self.account_key)
        {
            self.known.remove(&self.user);
        }
    }

    /// The verified devices of these people, this device excluded.
    pub fn devices_of(&self, users: &BTreeSet<UserId>) -> BTreeSet<DeviceRef> {
        let me = self.device();
        crate::sorting::set_from(
            users
                .iter()
                .filter_map(|user| self.known.get(user))
                .flat_map(|known| &known.devices)
                .map(|device| DeviceRef {
                    user: device.user,
                    device: device.device,
                })
                .filter(|device| *device != me),
        )
    }

    /// Whether `sender` is a device its account key vouches for, as far as this device knows.
    pub fn is_verified_device(&self, sender: DeviceRef) -> bool {
        self.verified_device(sender).is_some()
    }

    /// The keys of `device`, if its account key vouches for it.
    pub(super) fn verified_device(&self, device: DeviceRef) -> Option<&DeviceKeys> {
        self.known
            .get(&device.user)?
            .devices
            .iter()
            .find(|known| known.device == device.device)
    }

    /// When the person's pinned account key last changed, if it ever did.
    pub fn key_changed(&self, user: UserId) -> Option<u64> {
        self.known.get(&user)?.changed_ms
    }

    /// The person has compared safety numbers again: stop announcing the change.
    pub fn acknowledge_key_change(&mut self, user: UserId) {
        if let Some(known) = self.known.get_mut(&user)
            && known.changed_ms.take().is_some()
        {
            self.save_known_user(user);
            // The confirmed key is the account's pin now, on every device.
            self.pins_to_back_up.insert(user);
            self.save_pins_to_back_up();
        }
    }

    /// The pinned account key of `user`, if any.
    pub(super) fn pinned_key(&self, user: UserId) -> Option<[u8; 32]> {
        self.known.get(&user).map(|known| known.account_key)
    }

    /// Takes a pin from the key backup (another tab or device of the account made it): a
    /// person not known here is pinned to it, before the server can show another key first;
    /// a key change this device announces is settled if the pin confirms the new key.
    pub(super) fn take_backed_up_pin(&mut self, user: UserId, account_key: [u8; 32]) {
        match self.known.get_mut(&user) {
            None => {
                self.known.insert(
                    user,
                    KnownUser {
                        account_key,
                        devices: Vec::new(),
                        changed_ms: None,
                        safety_number: OnceCell::new(),
                    },
                );
                self.save_known_user(user);
            }
            Some(known) if known.account_key == account_key && known.changed_ms.is_some() => {
                known.changed_ms = None;
                self.save_known_user(user);
            }
            Some(_) => {}
        }
    }

    /// The safety number of a conversation between this account and `other`: 60 digits in
    /// 12 groups, the same on both sides, derived from both pinned account keys. `None`
    /// until `other`'s keys are known.
    pub fn safety_number(&self, other: UserId) -> Option<String> {
        let known = self.known.get(&other)?;
        let number = known.safety_number.get_or_init(|| {
            safety_number((self.user, self.account_key), (other, known.account_key))
        });
        Some(number.clone())
    }
}

fn verify_device(account_key: &Ed25519PublicKey, device: &DeviceKeys) -> bool {
    let Ok(signature) = Ed25519Signature::from_slice(&device.signature) else {
        return false;
    };
    account_key
        .verify(
            &device_keys_message(device.user, &device.device, &device.ed25519),
            &signature,
        )
        .is_ok()
}

/// The safety number of two accounts: SHA-512 iterated over both (id, key) pairs in a fixed
/// order, read as 12 groups of 5 digits. Both sides compute the same string; comparing it in
/// person proves no one sits between them.
pub fn safety_number(a: (UserId, [u8; 32]), b: (UserId, [u8; 32])) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut digest = Sha512::new();
    digest.update(b"merpati/safety-number/v1");
    for (user, key) in [first, second] {
        digest.update(user.0.to_be_bytes());
        digest.update(key);
    }
    let mut hash = digest.finalize();
    // Iterating makes a brute-force search for a colliding key pair costlier.
    for _ in 0..1024 {
        let mut round = Sha512::new();
        round.update(hash);
        round.update(first.1);
        round.update(second.1);
        hash = round.finalize();
    }
    hash.chunks(5)
        .take(12)
        .map(|chunk| {
            let value = chunk
                .iter()
                .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}
