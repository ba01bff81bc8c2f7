//! Telling the server which to-device messages this device has processed (`ToDeviceDone`), a
//! batch at a time.
//!
//! A device back after a while may find thousands of key shares in its mailbox, one `ToDevice`
//! frame each, and a shell takes a step per frame. Every `ToDeviceDone` costs the account at
//! least one write of its allowance (one per started 64 ids, operations.md, "Hostile
//! clients"): one frame per message would spend the burst on a mailbox that large, be refused,
//! and have the connection closed for asking on (`Goodbye { RateLimited }`), again after every
//! reconnect. So the ids are gathered across steps and sent [`IDS_PER_FRAME`] at a time, or
//! [`WAIT_MS`] after the first of a batch came, on the shell's clock (the shell calls
//! `Engine::advance_clock` at `Engine::next_clock_change_ms`).
//!
//! An id may leave later than the step that processed its message, never earlier: that step
//! holds the writes that keep the message's key (the held room key, the Olm session), and the
//! shell applies a step's writes before it sends that step's frames and before it takes the
//! next step (`Step`). Once the server drops the message, only the device's store has the key.
//! A batch belongs to its connection (it is reset with the key flow): ids not sent when the
//! connection drops are sent again by the server after the next connection's `PublishKeys`,
//! and acknowledged then.

use merpati_protocol::ClientFrame;

use super::Engine;

/// Ids per `ToDeviceDone`: the server charges one write per started 64, and 64 ids (five bytes
/// each below 2^35) keep the frame under the 500 bytes a client's frame should stay under
/// (docs/protocol.md, section 8), far below the server's limit (`MAX_PENDING_TO_DEVICE`).
const IDS_PER_FRAME: usize = 64;

/// How long the first id of a batch that is not full waits for more, in milliseconds of the
/// shell's clock: a mailbox read after a reconnect comes in far quicker, and a live key share
/// is acknowledged within it.
const WAIT_MS: u64 = 500;

/// The ids processed and not yet sent as done, on this connection.
#[derive(Debug, Default)]
pub(super) struct DoneBatch {
    ids: Vec<u64>,
    /// When the batch goes out if it is not full before.
    due_ms: Option<u64>,
}

impl DoneBatch {
    /// Adds a processed message's id at `now_ms`; returns the batch if that filled it.
    fn add(&mut self, id: u64, now_ms: u64) -> Option<Vec<u64>> {
        // The same id may come twice, queued and live (docs/protocol.md, section 8).
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
        self.due_ms.get_or_insert(now_ms.saturating_add(WAIT_MS));
        (self.ids.len() >= IDS_PER_FRAME).then(|| self.take())
    }

    /// The batch, if its time has come at `now_ms`.
    fn take_due(&mut self, now_ms: u64) -> Option<Vec<u64>> {
        self.due_ms
            .is_some_and(|due| now_ms >= due)
            .then(|| self.take())
    }

    fn take(&mut self) -> Vec<u64> {
        self.due_ms = None;
        std::mem::take(&mut self.ids)
    }

    /// When the batch is due, if there is one.
    pub(super) fn due_ms(&self) -> Option<u64> {
        self.due_ms
    }
}

impl Engine {
    /// The to-device message `id` is processed (its key is in this step's writes, or it was
    /// dropped): it is acknowledged with the batch it joins.
    pub(super) fn acknowledge_to_device(&mut self, id: u64) {
        if let Some(ids) = self.keys.done.add(id, self.now_ms) {
            self.frames.push(ClientFrame::ToDeviceDone { ids });
        }
    }

    /// The clock reached the time the batch of processed ids is due: send it.
    pub(super) fn send_to_device_done_if_due(&mut self) {
        if let Some(ids) = self.keys.done.take_due(self.now_ms) {
            self.frames.push(ClientFrame::ToDeviceDone { ids });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_when_full_or_when_its_first_id_has_waited() {
        let mut batch = DoneBatch::default();
        assert_eq!(batch.add(1, 1_000), None);
        assert_eq!(batch.add(1, 1_001), None, "the same id counts once");
        assert_eq!(batch.due_ms(), Some(1_000 + WAIT_MS));
        let mut full = None;
        for id in 2..=IDS_PER_FRAME as u64 {
            full = full.or(batch.add(id, 1_100));
        }
        assert_eq!(full, Some((1..=IDS_PER_FRAME as u64).collect()));
        assert_eq!(batch.due_ms(), None);

        assert_eq!(batch.add(100, 2_000), None);
        assert_eq!(batch.add(101, 2_400), None);
        assert_eq!(batch.take_due(2_000 + WAIT_MS - 1), None);
        assert_eq!(batch.take_due(2_000 + WAIT_MS), Some(vec![100, 101]));
        assert_eq!(batch.take_due(u64::MAX), None, "nothing left");
    }
}
