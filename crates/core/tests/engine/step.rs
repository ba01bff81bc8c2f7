//! The step contract: a shell applies a step's writes before it sends the step's frames, so
//! every frame must come in the same step as (or a later one than) the writes it relies on.

use merpati_core::{Engine, Step, StoreWrite};
use merpati_protocol::{ClientFrame, ServerFrame};

use crate::support::alice::{ALICE, CHAT, Net, published_alice};

fn stores_crypto(step: &Step) -> bool {
    step.writes
        .iter()
        .any(|write| matches!(write, StoreWrite::PutCrypto(_)))
}

/// Takes alice's steps, answering her key frames, until she sends nothing more; returns
/// every step that sent something.
fn steps_until_quiet(engine: &mut Engine, net: &mut Net) -> Vec<Step> {
    let mut steps = Vec::new();
    loop {
        let step = engine.take_step();
        if step.frames.is_empty() {
            return steps;
        }
        for frame in &step.frames {
            if let Some(handled) = net.keys.handle(ALICE, &mut net.alice_device, frame) {
                for reply in handled.reply {
                    engine.handle_frame(reply);
                }
            }
        }
        steps.push(step);
    }
}

#[test]
fn a_message_and_its_key_share_leave_in_the_step_that_stores_the_ratchets_they_used() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "halo bob", 5_000).expect("queued");
    let steps = steps_until_quiet(&mut engine, &mut net);

    let sends = |frame: &ClientFrame| matches!(frame, ClientFrame::Send { client_msg_id, .. } if *client_msg_id == id);
    let shares = |frame: &ClientFrame| matches!(frame, ClientFrame::SendToDevice { .. });
    let send_step = steps
        .iter()
        .position(|step| step.frames.iter().any(sends))
        .expect("the message is sent");
    let share_step = steps
        .iter()
        .position(|step| step.frames.iter().any(shares))
        .expect("its key is shared with bob's device");
    assert!(
        stores_crypto(&steps[send_step]),
        "the Megolm index the message used is stored before it leaves"
    );
    assert!(
        stores_crypto(&steps[share_step]),
        "the Olm session the key share used is stored before it leaves"
    );
    let outbox_stored = steps[..=send_step].iter().any(|step| {
        step.writes.iter().any(
            |write| matches!(write, StoreWrite::PutOutbox(record) if record.client_msg_id == id),
        )
    });
    assert!(
        outbox_stored,
        "the outbox holds the message before it is sent"
    );
}

#[test]
fn a_room_key_is_stored_no_later_than_the_step_that_tells_the_server_it_is_done() {
    let (mut engine, mut net) = published_alice();
    // Bob's device has a session with alice's once it has written to her.
    let _ = net.bob_says(&mut engine, 1, "halo");
    let (_message, key_share) = net.bob_rotates_and_writes(2, "kunci baru");
    let ids: Vec<u64> = key_share
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::ToDevice { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "a key share for alice's device");
    for frame in key_share {
        engine.handle_frame(frame);
    }
    let arrived = engine.take_step();
    assert!(
        stores_crypto(&arrived),
        "the server may drop the key once done: the device's store holds it first"
    );
    // Acknowledged in that step or, with whatever else comes meanwhile, once the batch has
    // waited: never before.
    if let Some(due) = engine.next_clock_change_ms() {
        engine.advance_clock(due);
    }
    let later = engine.take_step();
    let done: Vec<u64> = [arrived, later]
        .into_iter()
        .flat_map(|step| step.frames)
        .flat_map(|frame| match frame {
            ClientFrame::ToDeviceDone { ids } => ids,
            _ => Vec::new(),
        })
        .collect();
    assert!(done.contains(&ids[0]), "{done:?} acknowledges {ids:?}");
}

#[test]
fn a_step_hands_over_everything_once() {
    let (mut engine, _net) = published_alice();
    let _ = engine.send_text(CHAT, "halo bob", 5_000).expect("queued");
    assert!(!engine.take_step().is_empty());
    assert!(
        engine.take_step().is_empty(),
        "nothing is handed over twice"
    );
}

#[test]
fn a_step_lists_the_messages_it_put_in_the_outbox_and_only_those() {
    let (mut engine, mut net) = published_alice();
    engine.on_disconnected();
    let offline = engine
        .send_text(CHAT, "ditulis offline", 10)
        .expect("a text");
    assert_eq!(engine.take_step().queued, [offline]);
    // Sent on the next connection: not new to the shared outbox any more.
    crate::support::alice::reconnect(&mut engine, merpati_protocol::Epoch(7));
    let online = engine
        .send_text(CHAT, "ditulis online", 20)
        .expect("a text");
    let steps = steps_until_quiet(&mut engine, &mut net);
    let queued: Vec<_> = steps.iter().flat_map(|step| step.queued.clone()).collect();
    assert_eq!(queued, [online]);
    let sent: Vec<_> = steps
        .iter()
        .flat_map(|step| crate::support::alice::sent_ids(&step.frames))
        .collect();
    assert_eq!(sent, [offline, online]);
}
