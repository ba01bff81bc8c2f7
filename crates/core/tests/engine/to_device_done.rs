//! To-device messages acknowledged in batches: a mailbox of hundreds in a few `ToDeviceDone`
//! frames (each costs the account a write of its allowance), every id once and none before
//! the step that stores its key; what a dropped connection did not acknowledge, the server
//! sends again and the next connection acknowledges.

use std::collections::HashMap;

use merpati_core::{Engine, Step, StoreWrite, e2e::CryptoRecordKey};
use merpati_protocol::{ClientFrame, Epoch, ServerFrame};

use crate::support::alice::{ALICE, BOB, CHAT, Net, published_alice, reconnect};

/// Ids one `ToDeviceDone` carries at most (docs/protocol.md, section 8).
const IDS_PER_FRAME: usize = 64;

/// The ids of the to-device messages among `frames`.
fn to_device_ids(frames: &[ServerFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::ToDevice { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The ids each `ToDeviceDone` among `frames` acknowledges.
fn done(frames: &[ClientFrame]) -> Vec<Vec<u64>> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::ToDeviceDone { ids } => Some(ids.clone()),
            _ => None,
        })
        .collect()
}

/// Takes alice's steps as the app does, her frames answered by the key directory, until she
/// sends nothing more; returns every step taken.
fn steps_until_quiet(engine: &mut Engine, net: &mut Net) -> Vec<Step> {
    let mut steps = Vec::new();
    loop {
        let step = engine.take_step();
        let quiet = step.frames.is_empty();
        for frame in &step.frames {
            if let Some(handled) = net.keys.handle(ALICE, &mut net.alice_device, frame) {
                for reply in handled.reply {
                    engine.handle_frame(reply);
                }
            }
        }
        steps.push(step);
        if quiet {
            return steps;
        }
    }
}

/// Alice once the acknowledgements still waiting (of what bob's first message brought) are
/// sent: nothing waits for her device.
fn alice_with_an_empty_mailbox() -> (Engine, Net) {
    let (mut engine, mut net) = published_alice();
    // Bob's device has a session with alice's, and she knows his device, once he has written.
    let _ = net.bob_says(&mut engine, 1, "halo");
    if let Some(due) = engine.next_clock_change_ms() {
        engine.advance_clock(due);
        let _ = steps_until_quiet(&mut engine, &mut net);
    }
    assert_eq!(net.keys.queued(), 0);
    (engine, net)
}

#[test]
fn a_mailbox_of_300_key_shares_is_acknowledged_in_a_few_frames_each_id_once_after_its_key() {
    let (mut engine, mut net) = alice_with_an_empty_mailbox();
    // 300 sessions of bob's, each shared with alice's device: her mailbox after a while away.
    let mut shares = Vec::new();
    for seq in 2..302 {
        // A session for members who are not a superset of the last one's: a new one each time.
        net.bob.ensure_outbound(CHAT, &[BOB].into(), 0);
        let (_message, share) = net.bob_rotates_and_writes(seq, "kunci baru");
        let session = net.bob.outbound_session_id(CHAT).expect("bob's session");
        shares.extend(share.into_iter().map(|frame| (frame, session.clone())));
    }
    let frames: Vec<ServerFrame> = shares.iter().map(|(frame, _)| frame.clone()).collect();
    let ids = to_device_ids(&frames);
    assert_eq!(ids.len(), 300);

    // They come a millisecond apart, a step taken after each, as the app takes them.
    let start = 1_000_000;
    let mut steps: Vec<Step> = Vec::new();
    let mut arrived_in: HashMap<u64, usize> = HashMap::new();
    for (n, ((frame, session), id)) in shares.into_iter().zip(&ids).enumerate() {
        engine.advance_clock(start + n as u64);
        engine.handle_frame(frame);
        arrived_in.insert(*id, steps.len());
        let taken = steps_until_quiet(&mut engine, &mut net);
        let stored = taken[0].writes.iter().any(|write| {
            matches!(write, StoreWrite::PutCrypto(record)
                if record.key == CryptoRecordKey::InboundGroupSession(session.clone()))
        });
        assert!(stored, "the step of message {id} stores its key");
        steps.extend(taken);
    }
    // The rest, once the last batch has waited.
    if let Some(due) = engine.next_clock_change_ms() {
        engine.advance_clock(due);
        steps.extend(steps_until_quiet(&mut engine, &mut net));
    }

    let mut acknowledged = Vec::new();
    let mut frames = 0;
    for (at, step) in steps.iter().enumerate() {
        for batch in done(&step.frames) {
            frames += 1;
            assert!(
                batch.len() <= IDS_PER_FRAME,
                "{} ids in one frame",
                batch.len()
            );
            for id in &batch {
                assert!(
                    arrived_in[id] <= at,
                    "message {id} is acknowledged before the step that stores its key"
                );
            }
            acknowledged.extend(batch);
        }
    }
    assert!(
        frames <= ids.len().div_ceil(IDS_PER_FRAME),
        "300 ids in {frames} frames"
    );
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, ids, "every id, once");
    assert_eq!(net.keys.queued(), 0, "nothing waits for alice's device");
}

#[test]
fn what_a_dropped_connection_did_not_acknowledge_the_next_one_does() {
    let (mut engine, mut net) = alice_with_an_empty_mailbox();
    let mut ids = Vec::new();
    for seq in 2..12 {
        let (_message, share) = net.bob_rotates_and_writes(seq, "kunci baru");
        ids.extend(to_device_ids(&share));
        for frame in share {
            engine.handle_frame(frame);
        }
        let steps = steps_until_quiet(&mut engine, &mut net);
        let sent = steps.iter().flat_map(|step| done(&step.frames));
        assert_eq!(sent.count(), 0, "the batch is neither full nor due");
    }
    assert_eq!(net.keys.queued(), ids.len());

    // The connection drops before the batch is due. Nothing of it goes out on the next one,
    // even once its time has passed: before the device is published there, the server would
    // refuse it. Nothing is lost either: the server sends the messages again after the
    // publish, and they are acknowledged then.
    reconnect(&mut engine, Epoch(7));
    net.alice_device = None;
    engine.advance_clock(60_000);
    let steps = steps_until_quiet(&mut engine, &mut net);
    let sent = steps.iter().flat_map(|step| done(&step.frames));
    assert_eq!(
        sent.count(),
        0,
        "the messages sent again wait for a batch of their own"
    );
    assert_eq!(net.keys.queued(), ids.len());
    let due = engine.next_clock_change_ms().expect("the batch is timed");
    engine.advance_clock(due);
    let steps = steps_until_quiet(&mut engine, &mut net);
    let acknowledged: Vec<Vec<u64>> = steps.iter().flat_map(|step| done(&step.frames)).collect();
    assert_eq!(acknowledged, [ids]);
    assert_eq!(net.keys.queued(), 0);
}
