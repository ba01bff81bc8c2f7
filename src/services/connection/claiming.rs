//! Claiming a step's messages before they go: the tabs of a browser share the outbox, and any
//! of them may take back a message not sent yet — cancel a file while it uploads, delete a
//! text written offline — while another tab's engine still holds its copy. Before a step's
//! writes are stored, each message its frames send is claimed in the shared outbox
//! ([`IdbStore::claim_for_sending`]), but those that entered the outbox in this very step
//! (`Step::queued`: no other tab has seen them): claimed, it goes, and taking it back anywhere
//! is refused from then on. Found taken back, its frame is held back, its record is not
//! written again, and the engine takes it back (`Engine::gone_from_shared_outbox`). Found
//! delivered (sent from another tab, which heard it stored), it stays on screen and its frame
//! goes all the same: the server acknowledges a stored `client_msg_id` again, with its first
//! sequence number, and fans nothing out, so that acknowledgement settles it here as any
//! message sent — its record is not written back either.

use merpati_core::{OutboxRecord, StoreWrite};
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId};

use super::super::idb_store::{IdbStore, Standing};
use super::Inner;

/// Claims the messages that `frames` send but those `queued` in this step; answers the writes
/// and frames left to carry out: none of the claimed messages' outbox records (the claim wrote
/// them, found them gone, or — for a store that cannot be read now — `keep_unclaimed` writes
/// them), and no frame of a message taken back, or not claimed for a store that cannot be
/// read now (it goes on the next connection).
pub(super) async fn claim_sends(
    inner: &Inner,
    store: &IdbStore,
    mut writes: Vec<StoreWrite>,
    mut frames: Vec<ClientFrame>,
    queued: &[ClientMsgId],
) -> (Vec<StoreWrite>, Vec<ClientFrame>) {
    let sends: Vec<(ChatId, ClientMsgId, bool)> = frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                attachment,
                ..
            } if !queued.contains(client_msg_id) => {
                Some((*chat_id, *client_msg_id, attachment.is_some()))
            }
            _ => None,
        })
        .collect();
    for (chat, id, with_file) in sends {
        let as_sent = writes.iter().rev().find_map(|write| match write {
            StoreWrite::PutOutbox(record) if record.client_msg_id == id => Some(record.clone()),
            _ => None,
        });
        let goes = match store.claim_for_sending(chat, id, as_sent.as_ref()).await {
            Ok(Standing::Claimed | Standing::Waiting | Standing::Delivered) => true,
            Ok(Standing::TakenBack) => {
                inner.engine.borrow_mut().gone_from_shared_outbox(id);
                false
            }
            Err(error) if !with_file => {
                // A text goes as it did before texts were claimed, its record kept with the
                // step's other writes: held back, it would wait for the next connection
                // behind the texts written after it. Only a deletion in another tab in the
                // same moment could have taken it back.
                leptos::logging::warn!("claiming a text for sending failed: {error}");
                continue;
            }
            Err(error) => {
                leptos::logging::warn!("claiming a file's message for sending failed: {error}");
                if let Some(record) = &as_sent {
                    keep_unclaimed(store, record).await;
                }
                false
            }
        };
        writes.retain(
            |write| !matches!(write, StoreWrite::PutOutbox(record) if record.client_msg_id == id),
        );
        if !goes {
            frames.retain(|frame| {
                !matches!(frame, ClientFrame::Send { client_msg_id, .. } if *client_msg_id == id)
            });
        }
    }
    (writes, frames)
}

/// Keeps the engine's change to the record of a message it could not claim (its `sent` flag,
/// a failure cleared by a retry), whose frame waits for the next connection. Not with the
/// step's other writes: those are stored whatever the outbox holds, and another tab may have
/// removed this record meanwhile — taken the message back, which this put would revive as
/// claimed, so that the file went out after all. Rewritten only where the outbox still holds
/// it, in one transaction; if that fails too, the next claim marks it sent again.
async fn keep_unclaimed(store: &IdbStore, record: &OutboxRecord) {
    if let Err(error) = store.rewrite_if_held(record).await {
        leptos::logging::warn!("keeping an unclaimed message's record failed: {error}");
    }
}
