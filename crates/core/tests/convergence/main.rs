//! Property test of the sync engine: whatever the interleaving of sends, edits, deletions for
//! everyone, reactions, read positions, acknowledgements, disconnects, duplicated and
//! reordered deliveries, every device converges to the server's order with nothing lost and
//! nothing doubled, and shows every message as the merge rules make it of the server's log
//! (`merpati_core::annotations`): edited, deleted, reacted to, and — for its own messages —
//! delivered or read as the server's receipts say.
//!
//! The server here is a small model of the real one's contract (`docs/protocol.md`): it
//! deduplicates on `client_msg_id`, numbers messages per chat without gaps, acknowledges the
//! sender and fans out to every connected member, drops a deleted message's body, keeps each
//! member's delivery and read positions and pushes `Receipt`s; its key directory is
//! `support::KeyDirectory`. Every message is end-to-end encrypted, so converging also means
//! every device opened every message to the words that were written — whichever came first, a
//! message or its key. The expected view is computed here from the log and what each message
//! said, by the rules written out again (`expected_view`), not by the engine's code.
//!
//! Beside it, one fixed set of events (edits before and after their target, a deletion racing
//! a reaction, an edit after a deletion, receipts out of order) is delivered in every one of
//! its orders, and every order shows the same.
//!
//! By part: the model server is `model_server`, the steps and the strategy that draws them
//! `steps`, the devices and everything between them and the server `world`, the expected view
//! and the check `expected`; the fixed set of events in every order is `every_order`.

#[path = "../support/mod.rs"]
mod support;

use merpati_protocol::{ChatId, Epoch};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use expected::check_converged;
use steps::{Step, step_strategy};
use world::World;

mod every_order;
mod expected;
mod model_server;
mod steps;
mod world;

const CHAT: ChatId = ChatId(1);
const EPOCH: Epoch = Epoch(7);
const EMOJI: [&str; 3] = ["👍", "❤", "😂"];

proptest! {
    // Its seeds are kept next to this file (`main.proptest-regressions`): with a `main.rs`
    // in this directory, proptest's default would look in `tests/proptest-regressions/`.
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn devices_converge_to_the_server_order(
        steps in proptest::collection::vec(step_strategy(3), 0..160),
        page_limit in 1usize..6,
    ) {
        let mut world = World::new(page_limit);
        for step in steps {
            world.apply(step);
        }
        world.settle();
        check_converged(&world);
    }
}

#[test]
fn a_lost_ack_is_repaired_by_an_idempotent_resend() {
    let mut world = World::new(100);
    world.settle();
    world.apply(Step::Write { device: 2 });
    world.apply(Step::ClientToServer { device: 2 });
    // The connection drops before the ack (and the fan-out) reach the device.
    world.apply(Step::Disconnect { device: 2 });
    world.settle();
    assert_eq!(world.server.log.len(), 1, "the resend was stored once");
    check_converged(&world);
}

#[test]
fn a_new_browser_of_the_account_reads_the_history_written_before_it() {
    let mut world = World::new(3);
    for device in [0, 2, 1, 2, 0, 2, 2, 1] {
        world.apply(Step::Write { device });
    }
    world.settle();
    check_converged(&world);
    // Nobody shared those messages' keys with a device that did not exist: it reads them
    // through the key backup its account's other devices filled.
    let alice = world.devices[0].me.clone();
    world.add_device(alice);
    world.settle();
    assert_eq!(world.devices.len(), 4);
    check_converged(&world);
    // And what is written from now on reaches it directly.
    world.apply(Step::Write { device: 2 });
    world.settle();
    check_converged(&world);
}
