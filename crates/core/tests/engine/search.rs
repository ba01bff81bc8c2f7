//! Local search as the person meets it: what arrives and what they send is found by a word's
//! beginning; an edit, a deletion for everyone and a deletion for themselves change what is
//! found, whatever order they arrive in; the index comes back from the store sealed
//! records and all, in few records however many steps wrote it; and a new storage epoch
//! starts it afresh.

use merpati_core::{Engine, MemoryStore, Store, StoredState};
use merpati_protocol::{Epoch, ServerFrame, content::MessageContent};

use crate::support::alice::{ALICE, BOB, CHAT, apply, published_alice, reconnect, reload};

fn found(engine: &mut Engine, query: &str) -> Vec<String> {
    engine
        .search(query, 50)
        .into_iter()
        .map(|hit| hit.text)
        .collect()
}

#[test]
fn what_arrives_and_what_is_sent_is_found_by_the_beginning_of_a_word() {
    let (mut engine, mut net) = published_alice();
    let from_bob = net.bob_says(&mut engine, 1, "Ngopi di Kafe Tugu?");
    engine.handle_frame(ServerFrame::Message(from_bob));
    let _ = engine
        .send_text(CHAT, "Boleh, kafé yang baru", 5_000)
        .expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: engine_outbox_id(&engine),
        seq: merpati_protocol::Seq(2),
        sent_at_ms: 9_002,
    });

    assert_eq!(
        found(&mut engine, "kafe"),
        ["Boleh, kafé yang baru", "Ngopi di Kafe Tugu?"]
    );
    assert_eq!(found(&mut engine, "ngop"), ["Ngopi di Kafe Tugu?"]);
    assert!(
        found(&mut engine, "opi").is_empty(),
        "the middle of a word is not its beginning"
    );
    let hit = &engine.search("tugu", 5)[0];
    assert_eq!((hit.chat_id, hit.sender), (CHAT, BOB));
    assert_eq!(&hit.text[hit.matched[0].clone()], "Tugu");
    assert_eq!(engine.search("boleh", 5)[0].sender, ALICE);
}

/// The id of the one message alice has sent and not yet seen acknowledged.
fn engine_outbox_id(engine: &Engine) -> merpati_protocol::ClientMsgId {
    engine
        .timeline(CHAT)
        .into_iter()
        .find(|item| item.own)
        .map(|item| item.client_msg_id)
        .expect("alice's message shows")
}

#[test]
fn edits_and_deletions_change_what_is_found_in_any_order() {
    let (mut engine, mut net) = published_alice();
    let typo = net.bob_says(&mut engine, 1, "rapat jam tiga");
    let gone = net.bob_says(&mut engine, 2, "rahasia kecil");
    let early = net.bob_says(&mut engine, 3, "tipo");
    let edit = |target| MessageContent::Edit {
        target,
        text: "rapat jam empat".into(),
    };
    let fix = net.bob_sends(&mut engine, 4, edit(typo.client_msg_id));
    let deletion = net.bob_sends(
        &mut engine,
        5,
        MessageContent::Delete {
            target: gone.client_msg_id,
        },
    );
    let early_fix = net.bob_sends(
        &mut engine,
        6,
        MessageContent::Edit {
            target: early.client_msg_id,
            text: "typo fixed".into(),
        },
    );
    for message in [typo, gone.clone()] {
        engine.handle_frame(ServerFrame::Message(message));
    }
    assert_eq!(found(&mut engine, "tiga"), ["rapat jam tiga"]);
    assert_eq!(found(&mut engine, "rahasia"), ["rahasia kecil"]);

    for message in [fix, deletion, early_fix, early] {
        engine.handle_frame(ServerFrame::Message(message));
    }
    assert!(found(&mut engine, "tiga").is_empty());
    assert_eq!(found(&mut engine, "empat"), ["rapat jam empat"]);
    assert!(
        found(&mut engine, "rahasia").is_empty(),
        "deleted for everyone"
    );
    assert_eq!(
        found(&mut engine, "typo"),
        ["typo fixed"],
        "the edit came first"
    );
    assert!(found(&mut engine, "tipo").is_empty());

    let edited = engine.search("empat", 1)[0].id;
    engine.delete_for_me(CHAT, edited).expect("hidden");
    assert!(found(&mut engine, "rapat").is_empty(), "deleted for me");
    assert_eq!(engine.searchable_messages(), 1);
}

#[tokio::test]
async fn the_index_comes_back_from_the_store_in_a_few_records() {
    let (mut engine, mut net) = published_alice();
    let mut seq = 0;
    let store = MemoryStore::new();
    for round in 0..250_u64 {
        seq += 1;
        let text = format!("pesan {round} dari bob");
        let message = net.bob_says(&mut engine, seq, &text);
        engine.handle_frame(ServerFrame::Message(message));
        let _ = net.serve(&mut engine);
    }
    // Every write of every step, as alice's store would have applied them.
    apply(&store, net.alice_writes.clone()).await;
    assert_eq!(engine.searchable_messages(), 250);
    let segments = store
        .search_segments()
        .await
        .unwrap_or_else(|never| match never {});
    assert!(
        !segments.is_empty() && segments.len() <= 18,
        "250 steps wrote {} segments",
        segments.len()
    );
    assert!(
        segments
            .iter()
            .flat_map(|segment| &segment.docs)
            .all(|doc| doc.text.is_some()),
        "a rewrite keeps no deleted entries"
    );

    let mut reopened = Engine::new();
    reopened.restore(
        StoredState::read(&store, 1)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert_eq!(reopened.searchable_messages(), 250);
    assert_eq!(
        found(&mut reopened, "pesan 24"),
        [
            "pesan 249 dari bob",
            "pesan 248 dari bob",
            "pesan 247 dari bob",
            "pesan 246 dari bob",
            "pesan 245 dari bob",
            "pesan 244 dari bob",
            "pesan 243 dari bob",
            "pesan 242 dari bob",
            "pesan 241 dari bob",
            "pesan 240 dari bob",
            "pesan 24 dari bob"
        ]
    );
    assert_eq!(found(&mut reopened, "249"), ["pesan 249 dari bob"]);
    assert_eq!(reopened.search("bob", 1000).len(), 250);
}

#[tokio::test]
async fn after_an_epoch_change_the_old_epochs_messages_are_found_no_more() {
    let (mut engine, mut net) = published_alice();
    let store = MemoryStore::new();
    let gone = net.bob_says(&mut engine, 1, "rapat jam tujuh");
    engine.handle_frame(ServerFrame::Message(gone.clone()));
    let _ = net.serve(&mut engine);
    apply(&store, net.alice_writes.clone()).await;
    assert_eq!(found(&mut engine, "rapat"), ["rapat jam tujuh"]);

    // The server's database was restored from a backup that ends before that message: the
    // device drops what it held, and its index with it.
    reconnect(&mut engine, Epoch(8));
    apply(&store, engine.take_step().writes).await;
    assert!(found(&mut engine, "rapat").is_empty());
    assert_eq!(engine.position_of(CHAT, gone.client_msg_id), None);
    let stored = store
        .search_segments()
        .await
        .unwrap_or_else(|never| match never {});
    assert!(stored.is_empty(), "{stored:?}");

    // The new epoch's messages are found, at their positions, after a reload too.
    let again = net.bob_says(&mut engine, 1, "rapat diundur");
    engine.handle_frame(ServerFrame::Message(again.clone()));
    apply(&store, engine.take_step().writes).await;
    let mut reloaded = reload(&store).await;
    assert_eq!(found(&mut reloaded, "rapat"), ["rapat diundur"]);
}

/// A step that indexes more than the base holds (a catch-up page of a small history) writes a
/// segment larger than the base; the merges after a reload must still write the segments
/// before it below it, or a deletion in it loses to the text it deleted.
#[tokio::test]
async fn text_deleted_in_a_step_larger_than_the_base_stays_deleted_across_reloads_and_merges() {
    let (mut engine, mut net) = published_alice();
    let store = MemoryStore::new();
    engine.set_chat_on_screen(Some(CHAT));
    let secret = net.bob_says(&mut engine, 1, "rahasia lama");
    engine.handle_frame(ServerFrame::Message(secret.clone()));
    let _ = net.serve(&mut engine);
    for seq in 2..=17 {
        let message = net.bob_says(&mut engine, seq, &format!("pesan {seq}"));
        engine.handle_frame(ServerFrame::Message(message));
        let _ = net.serve(&mut engine);
    }
    // One step: the deletion among a page of messages, more than the index held before.
    let mut page = vec![net.bob_sends(
        &mut engine,
        18,
        MessageContent::Delete {
            target: secret.client_msg_id,
        },
    )];
    for seq in 19..=201 {
        page.push(net.bob_says(&mut engine, seq, &format!("kabar {seq}")));
    }
    for message in page {
        engine.handle_frame(ServerFrame::Message(message));
    }
    let _ = net.serve(&mut engine);
    apply(&store, net.alice_writes.clone()).await;
    assert!(found(&mut engine, "rahasia").is_empty());

    // Reloaded, enough steps for the recent segments to be merged; reloaded again.
    let mut reloaded = reload(&store).await;
    assert!(found(&mut reloaded, "rahasia").is_empty());
    reloaded.set_chat_on_screen(Some(CHAT));
    let mut writes = Vec::new();
    for seq in 202..=220 {
        let message = net.bob_says(&mut reloaded, seq, &format!("lagi {seq}"));
        reloaded.handle_frame(ServerFrame::Message(message));
        writes.extend(net.serve(&mut reloaded).writes);
    }
    apply(&store, writes).await;
    let mut again = reload(&store).await;
    assert!(
        found(&mut again, "rahasia").is_empty(),
        "deleted for everyone"
    );
}
