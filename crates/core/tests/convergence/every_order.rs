//! One fixed set of events delivered to alice's device in every order: an edit before its
//! target, a reaction racing a deletion, an edit after the deletion, and (in the shuffled
//! runs) her own message with receipts out of order. Every order shows the same timeline.
//!
//! Alice's device is set up once (its keys, bob's key share) and restored from what its store
//! would hold for each order, so that thousands of orders stay cheap.

use merpati_core::{Engine, MemoryStore, MessageStatus, Store, StoredState, TimelineItem};
use merpati_protocol::{
    ClientMsgId, MessageFrame, Receipt, Seq, ServerFrame, content::MessageContent,
};
use proptest::prelude::*;

use crate::support::alice::{ALICE, BOB, CHAT, message, published_alice};

/// The events, as the server would push them, and alice's store before any of them.
struct Events {
    frames: Vec<ServerFrame>,
    store: MemoryStore,
}

fn id(seq: u64) -> ClientMsgId {
    message(seq, BOB, "").client_msg_id
}

/// Six messages from bob (two texts, an edit of each — one after the second is deleted — a
/// reaction and the deletion), then alice's own message and two receipts of bob's, the later
/// one first.
async fn events() -> Events {
    let (mut engine, mut net) = published_alice();
    let contents = [
        MessageContent::Text {
            text: "satu".into(),
        },
        MessageContent::Edit {
            target: id(1),
            text: "satu, diubah".into(),
        },
        MessageContent::Text { text: "dua".into() },
        MessageContent::Reaction {
            target: id(3),
            emoji: Some("❤".into()),
        },
        MessageContent::Delete { target: id(3) },
        MessageContent::Edit {
            target: id(3),
            text: "terlambat".into(),
        },
    ];
    let mut frames: Vec<ServerFrame> = contents
        .into_iter()
        .zip(1..)
        .map(|(content, seq)| ServerFrame::Message(net.bob_sends(&mut engine, seq, content)))
        .collect();
    let _ = net.serve(&mut engine);
    // Alice's own message (from another device of hers: it does not open here, but it is
    // hers, and its status comes from bob's receipts).
    frames.push(ServerFrame::Message(MessageFrame {
        body: vec![0xff],
        ..message(7, ALICE, "")
    }));
    for (delivered, read, at) in [(7, 7, 900), (7, 2, 400)] {
        frames.push(ServerFrame::Receipt {
            chat_id: CHAT,
            receipt: Receipt {
                user: BOB,
                delivered: Seq(delivered),
                read: Seq(read),
                read_at_ms: at,
            },
        });
    }
    let store = MemoryStore::new();
    store
        .apply(net.alice_writes.clone())
        .await
        .unwrap_or_else(|never| match never {});
    Events { frames, store }
}

/// Alice's device, restored, handed `frames` in this order.
async fn shown_after(events: &Events, order: &[usize]) -> Vec<TimelineItem> {
    let stored = StoredState::read(&events.store, 100)
        .await
        .unwrap_or_else(|never| match never {});
    let mut engine = Engine::new();
    engine.restore(stored);
    for index in order {
        engine.handle_frame(events.frames[*index].clone());
    }
    engine.timeline(CHAT)
}

/// Every ordering of `0..n`, by Heap's algorithm.
fn orders(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, items: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, items, out);
            items.swap(if k.is_multiple_of(2) { i } else { 0 }, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

#[tokio::test]
async fn every_arrival_order_of_edits_deletions_and_reactions_shows_the_same() {
    let events = events().await;
    let in_order = shown_after(&events, &[0, 1, 2, 3, 4, 5]).await;
    let summary: Vec<(&str, bool, bool, usize)> = in_order
        .iter()
        .map(|item| {
            (
                item.text.as_str(),
                item.edited,
                item.deleted,
                item.reactions.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("satu, diubah", true, false, 0),
            ("This message was deleted", false, true, 0),
        ],
        "the edit applies; the deletion is terminal: no reaction, no later edit"
    );
    let all = orders(6);
    assert_eq!(all.len(), 720);
    for order in all {
        assert_eq!(
            shown_after(&events, &order).await,
            in_order,
            "order {order:?}"
        );
    }
}

proptest! {
    // Its seeds are kept next to this file (`every_order.proptest-regressions`): with a
    // `main.rs` in this directory, proptest's default would look in `tests/proptest-regressions/`.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_order_with_receipts_out_of_order_shows_the_same(
        order in Just((0..9).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|error| panic!("{error}"));
        runtime.block_on(async {
            let events = events().await;
            let expected = shown_after(&events, &(0..9).collect::<Vec<_>>()).await;
            let own = expected.last().map(|item| (item.own, item.status));
            assert_eq!(own, Some((true, MessageStatus::Read)), "bob read up to it");
            assert_eq!(shown_after(&events, &order).await, expected);
        });
    }
}
