//! This device's keys in the server's directory: published on every connection, one-time
//! keys topped up as others claim them, a handed-out fallback key replaced.
//!
//! A key counts as published once the server has answered the publish that carried it: a
//! publish lost with its connection, or refused, never reached the directory. One-time keys
//! need nothing more — the directory's count in `KeysPublished` asks for new ones — but a
//! fallback key is never asked for again, so the
//! device keeps it (`DeviceCrypto::unconfirmed_fallback_key`) and sends it with the next
//! connection's first publish until the server has answered one that carried it.
//!
//! A publish refused for now (the account's write allowance spent: `TooManyRequests`, naming
//! no request) is sent again after a growing wait on the shell's clock, on the same
//! connection: until the directory holds the device, the connection is sent no keys and the
//! key flow cannot start, so nothing end-to-end encrypted goes out. The first publish is the
//! connection's first frame after `Welcome`, and the server answers a connection's frames in
//! order, so a refusal before its answer is its own — not the sync's nor the privacy change's,
//! sent after it. A later one that names no request may be a publish's while none has been
//! accepted (one sent again goes after frames whose refusals name no request either): it is
//! sent again all the same, which costs a write at most.

use merpati_protocol::{ClientFrame, ErrorCode};

use super::{Engine, Event};

impl Engine {
    /// The server answered a publish, and holds `one_time_keys` of this device's one-time
    /// keys: tops them up, a few per publish, until the target is reached.
    pub(super) fn on_keys_published(&mut self, one_time_keys: u32) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        self.keys.published = true;
        self.keys.first_publish_answered = true;
        self.keys.publish_retry.served();
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

    /// An `Error` naming no request arrived: returns whether it is the refusal of this
    /// connection's first publish (see the module documentation), which is then answered.
    /// One refused for now, or a refusal that may be a later publish's, has the publish sent
    /// again after a wait; one refused as it is (a device key another account holds) is said.
    pub(super) fn on_publish_refused(&mut self, code: ErrorCode) -> bool {
        let first = !self.keys.first_publish_answered && self.keys.publishes_unanswered > 0;
        if first {
            self.keys.first_publish_answered = true;
            self.keys.publishes_unanswered -= 1;
        }
        let maybe_a_publish = first || (!self.keys.published && self.keys.publishes_unanswered > 0);
        if code == ErrorCode::TooManyRequests && maybe_a_publish {
            if !self.keys.publish_retry.is_waiting() {
                self.keys.publish_retry.refused(self.now_ms);
            }
        } else if first {
            self.events.push(Event::RequestFailed {
                request: None,
                code,
            });
        }
        first
    }

    /// The clock reached the time a refused publish is to be sent again: sent, binding the
    /// connection as the first did, unless one was accepted meanwhile (the refusal was
    /// another frame's).
    pub(super) fn retry_publish_if_due(&mut self) {
        if self.keys.publish_retry.take_due(self.now_ms)
            && !self.keys.published
            && self.is_authenticated()
        {
            self.publish_keys(true);
        }
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
