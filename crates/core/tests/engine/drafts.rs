//! Drafts: what the person typed and has not sent, kept per chat through a reload, and cleared
//! by sending from the composer — not by reacting, editing an earlier message, or deleting.

use merpati_core::{MemoryStore, StoreWrite};
use merpati_protocol::{ChatId, ChatKind, Seq, ServerFrame, UserId};

use crate::support::alice::{
    ALICE, BOB, CHAT, apply, caught_up_alice, chat_info, member, published_alice, reload,
};

#[tokio::test]
async fn a_draft_survives_a_reload_and_sending_clears_it_for_good() {
    let mut engine = caught_up_alice();
    let store = MemoryStore::new();
    apply(&store, engine.take_step().writes).await;

    engine.set_draft(CHAT, "sampai jumpa");
    let step = engine.take_step();
    assert!(step.views_changed, "the chat list shows it");
    apply(&store, step.writes).await;
    engine.set_draft(CHAT, "sampai jumpa");
    assert!(
        engine.take_step().writes.is_empty(),
        "the same text again is not stored again"
    );

    let mut reloaded = reload(&store).await;
    assert_eq!(reloaded.draft(CHAT), Some("sampai jumpa"));
    assert_eq!(
        reloaded.chat_list()[0].draft.as_deref(),
        Some("sampai jumpa")
    );

    // Sent (offline: into the outbox), the draft is gone, here and in the store.
    reloaded
        .send_text(CHAT, "sampai jumpa", 5_000)
        .expect("queued");
    let step = reloaded.take_step();
    assert!(step.writes.contains(&StoreWrite::RemoveDraft(CHAT)));
    apply(&store, step.writes).await;
    assert_eq!(reloaded.draft(CHAT), None);
    assert_eq!(reload(&store).await.draft(CHAT), None);
}

#[test]
fn an_emptied_composer_removes_the_draft() {
    let mut engine = caught_up_alice();
    engine.set_draft(CHAT, "ha");
    let _ = engine.take_step();
    engine.set_draft(CHAT, "   ");
    assert_eq!(
        engine.take_step().writes,
        vec![StoreWrite::RemoveDraft(CHAT)]
    );
    assert_eq!(engine.draft(CHAT), None);
    assert_eq!(engine.chat_list()[0].draft, None);
    engine.set_draft(ChatId(99), "ke mana?");
    assert!(engine.take_step().is_empty(), "no such chat: nothing kept");
}

#[test]
fn reacting_and_editing_keep_the_draft_and_replying_clears_it() {
    let (mut engine, mut net) = published_alice();
    let from_bob = net.bob_says(&mut engine, 1, "halo");
    engine.handle_frame(ServerFrame::Message(from_bob.clone()));
    engine.set_draft(CHAT, "belum selesai");
    let _ = net.serve(&mut engine);

    // A reaction is not what the composer holds.
    engine
        .react(CHAT, from_bob.client_msg_id, "👍", 5_000)
        .expect("queued");
    assert_eq!(engine.draft(CHAT), Some("belum selesai"));
    assert!(
        !net.serve(&mut engine)
            .writes
            .contains(&StoreWrite::RemoveDraft(CHAT))
    );

    // Nor is an edit of an earlier message: the composer shows the draft again after it.
    let own = engine
        .send_text(CHAT, "sampai jumpa", 5_000)
        .expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: own,
        seq: Seq(2),
        sent_at_ms: 5_000,
    });
    engine.set_draft(CHAT, "belum selesai");
    let _ = net.serve(&mut engine);
    engine
        .edit_message(CHAT, own, "sampai besok", 5_001)
        .expect("queued");
    assert_eq!(engine.draft(CHAT), Some("belum selesai"));
    assert!(
        !net.serve(&mut engine)
            .writes
            .contains(&StoreWrite::RemoveDraft(CHAT))
    );

    engine
        .send_reply(CHAT, from_bob.client_msg_id, "belum selesai!", 5_001)
        .expect("queued");
    assert_eq!(engine.draft(CHAT), None);
    assert!(
        net.serve(&mut engine)
            .writes
            .contains(&StoreWrite::RemoveDraft(CHAT))
    );
}

/// Taken out of a group with a draft there: the chat list no longer shows it (the composer
/// is gone, and with it any way to clear it); added back, it is there again.
#[test]
fn a_draft_in_a_group_this_account_left_is_not_shown_while_out() {
    let mut engine = caught_up_alice();
    let mut group = chat_info(0);
    group.kind = ChatKind::Group;
    group.members.push(member(UserId(3), "cici"));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group.clone(),
    });
    engine.set_draft(CHAT, "setengah kalimat");
    assert_eq!(
        engine.chat_list()[0].draft.as_deref(),
        Some("setengah kalimat")
    );

    let mut without_alice = group.clone();
    without_alice.members.retain(|person| person.id != ALICE);
    without_alice.head = Seq(1);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: without_alice,
    });
    assert_eq!(engine.chat_list()[0].draft, None, "not shown while out");

    let mut back = group;
    back.members.retain(|person| person.id != BOB);
    back.head = Seq(2);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: back,
    });
    assert_eq!(
        engine.chat_list()[0].draft.as_deref(),
        Some("setengah kalimat"),
        "added back: there again"
    );
}
