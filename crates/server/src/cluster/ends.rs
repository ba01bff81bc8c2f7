//! Word that a session ended, on one subject every process hears (`merpati.sessions.ended`):
//! the storage epoch, the account, and the session's name (its first token's hash).
//!
//! Not on the account's subject, which a process hears only once the account has a session
//! there: a `Resume` on a process the account is not on yet reads its session, goes online,
//! reads it again (`Gateway::go_online`), and only then subscribes to the account's subject.
//! An end committed before that second read refuses it; word of an end committed after it
//! would pass it by on the account's subject until the subscription is in place, and the
//! session would stay welcome until the next head check. Heard by every process from its
//! start, the end finds the connection online and closes it (and moves the fan-out's count of
//! ends, which any sign-in going online meanwhile compares). Sessions end by hand (a sign-out,
//! `EndSession`, a login past the account's cap), so every process hearing every end costs
//! little.

use bytes::{BufMut, Bytes, BytesMut};
use merpati_protocol::{Epoch, UserId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::to_nats::ToNats;
use super::{Event, State, u64_at};

/// The subject every process hears ends on.
const SUBJECT: &str = "merpati.sessions.ended";

/// Subscribes to word of ends, before the process serves anyone: it waits (a while at most)
/// for the subscription to be written to NATS. Should NATS be unreachable, head checks close
/// the connections of sessions ended elsewhere until the subscription is made.
pub(super) async fn subscribe(to_nats: &ToNats, sender: &mpsc::Sender<Event>) -> JoinHandle<()> {
    let (ends, subscribed) =
        to_nats.forward_written(SUBJECT.to_owned(), sender, Event::SessionEndedElsewhere);
    subscribed.await;
    ends
}

/// The word that `account`'s session named `token_hash` ended.
fn write(epoch: Epoch, account: UserId, token_hash: &[u8; 32]) -> Bytes {
    let mut payload = BytesMut::with_capacity(48);
    payload.put_u64_le(epoch.0);
    payload.put_u64_le(account.0);
    payload.put_slice(token_hash);
    payload.freeze()
}

/// The account and session of a word of this epoch, if well formed.
fn read(epoch: Epoch, payload: &[u8]) -> Option<(UserId, [u8; 32])> {
    if u64_at(payload, 0)? != epoch.0 {
        return None;
    }
    let account = UserId(u64_at(payload, 8)?);
    let token_hash = payload.get(16..48)?.try_into().ok()?;
    Some((account, token_hash))
}

impl State {
    /// Tells every other process that `account`'s session named `token_hash` ended here.
    pub(super) fn publish_session_ended(&self, account: UserId, token_hash: &[u8; 32]) {
        #[cfg(debug_assertions)]
        if self.loses_pushes == super::LostPushes::All {
            return;
        }
        // Should it be dropped, the others' head checks find the session gone.
        let payload = write(self.epoch, account, token_hash);
        self.to_nats.publish(SUBJECT.to_owned(), payload);
    }

    /// Another process ended a session: its connections here close, and a sign-in to it
    /// going online meanwhile finds the count of ends moved.
    pub(super) fn session_ended_elsewhere(&self, payload: &[u8]) {
        if let Some((account, token_hash)) = read(self.epoch, payload) {
            self.gateway.fanout().end_session(account, &token_hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_of_an_end_reads_back_only_in_its_epoch() {
        let payload = write(Epoch(7), UserId(42), &[9; 32]);
        assert_eq!(read(Epoch(7), &payload), Some((UserId(42), [9; 32])));
        assert_eq!(read(Epoch(8), &payload), None);
        assert_eq!(read(Epoch(7), &payload[..47]), None);
    }
}
