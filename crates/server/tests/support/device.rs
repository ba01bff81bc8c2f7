//! A browser's end-to-end encryption identity for the key directory's tests: a real vodozemac
//! Olm account, its keys vouched for by the account key as the app does it.

use merpati_protocol::UserId;
use merpati_protocol::keys::{
    DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, device_binding_message, device_keys_message,
    one_time_key_message,
};

use super::key;

/// A browser's end-to-end encryption identity: a real vodozemac Olm account, as the app has.
pub(crate) struct Device {
    pub(crate) olm: vodozemac::olm::Account,
    /// The account it belongs to.
    pub(crate) user: UserId,
    /// The username whose account key vouches for it.
    name: String,
}

impl Device {
    pub(crate) fn new(name: &str, user: UserId) -> Device {
        Device {
            olm: vodozemac::olm::Account::new(),
            user,
            name: name.to_owned(),
        }
    }

    pub(crate) fn key(&self) -> DeviceKey {
        DeviceKey(self.olm.curve25519_key().to_bytes())
    }

    pub(crate) fn at(&self) -> DeviceRef {
        DeviceRef {
            user: self.user,
            device: self.key(),
        }
    }

    /// Its keys, signed with `signer`'s account key.
    pub(crate) fn keys_signed_by(&self, signer: &str) -> DeviceKeys {
        let ed25519 = *self.olm.ed25519_key().as_bytes();
        let message = device_keys_message(self.user, &self.key(), &ed25519);
        DeviceKeys {
            user: self.user,
            device: self.key(),
            ed25519,
            signature: key(signer).sign(&message).to_bytes().to_vec(),
        }
    }

    /// Its keys, signed by its own account's key, as the app signs them.
    pub(crate) fn keys(&self) -> DeviceKeys {
        self.keys_signed_by(&self.name)
    }

    /// Its proof, for the publish that binds a connection to it, that the connection holds
    /// it: its own signature over the connection's challenge nonce.
    pub(crate) fn proof(&self, nonce: &[u8; 32]) -> Vec<u8> {
        let message = device_binding_message(self.user, &self.key(), nonce);
        self.olm.sign(message).to_bytes().to_vec()
    }

    fn signed(&self, key: [u8; 32], fallback: bool) -> OneTimeKey {
        let signature = self
            .olm
            .sign(one_time_key_message(&self.key(), &key, fallback))
            .to_bytes()
            .to_vec();
        OneTimeKey {
            key,
            fallback,
            signature,
        }
    }

    /// `count` fresh one-time keys, signed by the device.
    pub(crate) fn one_time_keys(&mut self, count: usize) -> Vec<OneTimeKey> {
        let created = self.olm.generate_one_time_keys(count).created;
        self.olm.mark_keys_as_published();
        created
            .iter()
            .map(|key| self.signed(key.to_bytes(), false))
            .collect()
    }

    /// A fresh fallback key, signed by the device.
    pub(crate) fn fallback_key(&mut self) -> OneTimeKey {
        let key = self.olm.generate_fallback_key();
        let key = match key {
            Some(key) => key,
            None => *self.olm.fallback_key().values().next().unwrap(),
        };
        self.signed(key.to_bytes(), true)
    }
}
