//! This device's keys in the server's directory: published on every connection, one-time
//! keys topped up as others claim them, a handed-out fallback key replaced.
//!
//! A key counts as published once the server has answered the publish that carried it: a
//! publish lost with its connection (or dropped by the shell after a failed store write)
//! never reached the directory. One-time keys need nothing more — the directory's count in
//! `KeysPublished` asks for new ones — but a fallback key is never asked for again, so the
//! device keeps it (`DeviceCrypto::unconfirmed_fallback_key`) and sends it with the next
//! connection's first publish until the server has answered one that carried it.

use merpati_protocol::ClientFrame;

use super::Engine;

impl Engine {
    /// The server answered a publish, and holds `one_time_keys` of this device's one-time
    /// keys: tops them up, a few per publish, until the target is reached.
    pub(super) fn on_keys_published(&mut self, one_time_keys: u32) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        self.keys.published = true;
        // Answers come in the order the publishes went: once all are answered, the one that
        // carried the fallback key was too.
        self.keys.publishes_unanswered = self.keys.publishes_unanswered.saturating_sub(1);
        if self.keys.publishes_unanswered == 0
            && let Some(key) = self.keys.fallback_sent.take()
        {
            crypto.fallback_key_held(&key);
        }
        if crypto.replenish(one_time_keys) {
            self.publish_keys(false);
        }
        self.send_outbox();
    }

    /// Publishes the device's keys not published yet. The publish that binds a connection to
    /// the device (`binding`: the first, after `Welcome`) proves the connection holds it, and
    /// carries again a fallback key whose publish the server never answered — lost with an
    /// earlier connection, without it the directory would have no fallback key to hand out
    /// once the one-time keys run out, and nothing would ever tell the device so.
    pub(super) fn publish_keys(&mut self, binding: bool) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        let (one_time_keys, mut fallback_key) = crypto.unpublished_keys();
        if binding && fallback_key.is_none() {
            fallback_key = crypto.unconfirmed_fallback_key();
        }
        if let Some(key) = &fallback_key {
            self.keys.fallback_sent = Some(key.key);
        }
        self.keys.publishes_unanswered = self.keys.publishes_unanswered.saturating_add(1);
        let device_proof = if binding {
            self.nonce.map(|nonce| crypto.device_proof(&nonce))
        } else {
            None
        };
        self.frames.push(ClientFrame::PublishKeys {
            device: crypto.device_keys(),
            device_proof,
            one_time_keys,
            fallback_key,
        });
    }

    /// Others' claims left this device short: tops up its one-time keys and, when its
    /// fallback key was handed out, replaces it (the answer, `KeysPublished`, asks for more
    /// until the target is reached).
    pub(super) fn on_keys_claimed(&mut self, one_time_keys: u32, fallback_claimed: bool) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        // A new fallback key goes alone (a publish stays small, see `ONE_TIME_KEYS_PER_PUBLISH`);
        // the answer to it asks for one-time keys again.
        let fresh = if fallback_claimed {
            crypto.rotate_fallback_key();
            true
        } else {
            crypto.replenish(one_time_keys)
        };
        if fresh {
            self.publish_keys(false);
        }
    }
}
