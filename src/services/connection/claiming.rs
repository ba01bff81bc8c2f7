//! Claiming a step's messages with files before they go: the tabs of a browser share the
//! outbox, and any of them may take a message back while its file uploads, so the engine's
//! copy may still hold a message another tab took back. Before a step's writes are stored,
//! each message with a file among its frames is claimed in the shared outbox
//! ([`IdbStore::claim_for_sending`]): claimed, it goes, and a cancel anywhere is refused from
//! then on; found gone, its frame is held back, its record is not written again, and the
//! engine takes it back (`Engine::gone_from_shared_outbox`). Messages without a file are not
//! claimed: they cannot be taken back once written.

use merpati_core::StoreWrite;
use merpati_protocol::{ClientFrame, ClientMsgId};

use super::super::idb_store::IdbStore;
use super::Inner;

/// Claims the messages with files that `frames` send; answers the writes and frames left to
/// carry out: none of the claimed messages' outbox records (the claim wrote them, or found
/// them gone), and no frame of a message found gone, or not claimed for a store that cannot be
/// read now (it goes on the next connection).
pub(super) async fn claim_files(
    inner: &Inner,
    store: &IdbStore,
    mut writes: Vec<StoreWrite>,
    mut frames: Vec<ClientFrame>,
) -> (Vec<StoreWrite>, Vec<ClientFrame>) {
    let files: Vec<ClientMsgId> = frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send {
                client_msg_id,
                attachment: Some(_),
                ..
            } => Some(*client_msg_id),
            _ => None,
        })
        .collect();
    for id in files {
        let as_sent = writes.iter().rev().find_map(|write| match write {
            StoreWrite::PutOutbox(record) if record.client_msg_id == id => Some(record.clone()),
            _ => None,
        });
        let claimed = match store.claim_for_sending(id, as_sent.as_ref()).await {
            Ok(true) => true,
            Ok(false) => {
                inner.engine.borrow_mut().gone_from_shared_outbox(id);
                false
            }
            Err(error) => {
                leptos::logging::warn!("claiming a file's message for sending failed: {error}");
                false
            }
        };
        writes.retain(
            |write| !matches!(write, StoreWrite::PutOutbox(record) if record.client_msg_id == id),
        );
        if !claimed {
            frames.retain(|frame| {
                !matches!(frame, ClientFrame::Send { client_msg_id, .. } if *client_msg_id == id)
            });
        }
    }
    (writes, frames)
}
