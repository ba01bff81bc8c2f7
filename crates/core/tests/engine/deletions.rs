//! Deleting a message, for everyone or only here: shown at once, the body dropped from view and
//! store (after a reload too), a deletion that arrives before its message, and one from someone
//! other than the sender ignored.

use merpati_core::{Engine, MemoryStore, SendError, Store, StoreWrite, StoredState};
use merpati_protocol::{ClientFrame, Seq, ServerFrame, content::MessageContent};
use merpati_words::Text;

use crate::actions::{alice_with_two_messages, item};
use crate::support::alice::{CHAT, published_alice};

#[tokio::test]
async fn deleting_for_everyone_shows_deleted_and_the_text_is_gone_from_view_and_store() {
    let (mut engine, mut net, _, own, seq) = alice_with_two_messages();
    let deletion = engine
        .delete_for_everyone(CHAT, own.client_msg_id, 6_000)
        .expect("queued");
    assert!(item(&engine, own.client_msg_id).deleted, "shown at once");
    let frames = net.serve(&mut engine).frames;
    assert!(
        frames.iter().any(|frame| matches!(frame,
            ClientFrame::SendDeletion { client_msg_id, target, .. }
                if *client_msg_id == deletion && *target == own.client_msg_id)),
        "{frames:?}"
    );
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: deletion,
        seq: Seq(seq + 1),
        sent_at_ms: 9_999,
    });
    let _ = net.serve(&mut engine);
    let shown = item(&engine, own.client_msg_id);
    assert_eq!(
        (shown.text.as_str(), shown.deleted, shown.edited),
        (Text::MessageDeleted.english(), true, false)
    );
    assert!(
        engine
            .timeline(CHAT)
            .iter()
            .all(|item| !item.text.contains("halo bob")),
        "the text is nowhere in the chat"
    );
    assert_eq!(
        engine.chat_list()[0].last_text.as_deref(),
        Some(Text::MessageDeleted.english())
    );
    assert_eq!(
        engine.edit_message(CHAT, own.client_msg_id, "lagi", 7_000),
        Err(SendError::Deleted)
    );

    // The device drops the stored body as the server does: it is not in the store, and a
    // reload still shows the message deleted.
    let store = MemoryStore::new();
    store
        .apply(net.alice_writes.clone())
        .await
        .unwrap_or_else(|never| match never {});
    let stored = store
        .messages_before(CHAT, Seq(u64::MAX), 50)
        .await
        .unwrap_or_else(|never| match never {});
    let record = stored
        .iter()
        .find(|message| message.client_msg_id == own.client_msg_id)
        .expect("its place is kept");
    assert!(record.body.is_empty());
    let mut reloaded = Engine::new();
    reloaded.restore(
        StoredState::read(&store, 50)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    let shown = item(&reloaded, own.client_msg_id);
    assert_eq!(
        (shown.text.as_str(), shown.deleted),
        (Text::MessageDeleted.english(), true)
    );
}

#[tokio::test]
async fn bobs_deletion_erases_his_message_here_even_when_it_arrives_first() {
    let (mut engine, mut net) = published_alice();
    let original = net.bob_says(&mut engine, 1, "rahasia");
    let deletion = net.bob_sends(
        &mut engine,
        2,
        MessageContent::Delete {
            target: original.client_msg_id,
        },
    );
    engine.handle_frame(ServerFrame::Message(deletion));
    engine.handle_frame(ServerFrame::Message(original.clone()));
    let _ = net.serve(&mut engine);
    let shown = engine.timeline(CHAT);
    assert_eq!(shown.len(), 1, "the deletion is no row of its own");
    assert_eq!(
        (
            shown[0].client_msg_id,
            shown[0].text.as_str(),
            shown[0].deleted
        ),
        (original.client_msg_id, Text::MessageDeleted.english(), true)
    );
    assert_eq!(engine.chat_list()[0].unread, 0, "nothing left to read");

    let store = MemoryStore::new();
    store
        .apply(net.alice_writes.clone())
        .await
        .unwrap_or_else(|never| match never {});
    let stored = store
        .messages_before(CHAT, Seq(u64::MAX), 50)
        .await
        .unwrap_or_else(|never| match never {});
    assert!(
        stored
            .iter()
            .any(|message| message.client_msg_id == original.client_msg_id
                && message.body.is_empty()),
        "{stored:?}"
    );
}

#[test]
fn a_deletion_by_someone_other_than_the_sender_is_ignored() {
    let (mut engine, mut net, _, own, _) = alice_with_two_messages();
    let forged = net.bob_sends(
        &mut engine,
        3,
        MessageContent::Delete {
            target: own.client_msg_id,
        },
    );
    engine.handle_frame(ServerFrame::Message(forged));
    let shown = item(&engine, own.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.deleted), ("halo bob", false));
}

#[tokio::test]
async fn deleting_for_me_hides_the_message_here_for_good_and_drops_its_body() {
    let (mut engine, mut net, from_bob, _, _) = alice_with_two_messages();
    engine
        .delete_for_me(CHAT, from_bob.client_msg_id)
        .expect("hidden");
    assert!(
        engine
            .timeline(CHAT)
            .iter()
            .all(|item| item.client_msg_id != from_bob.client_msg_id)
    );
    let writes = engine.take_step().writes;
    assert!(
        writes
            .iter()
            .any(|write| matches!(write, StoreWrite::HideMessage(hidden)
        if hidden.client_msg_id == from_bob.client_msg_id))
    );
    assert!(
        writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutMessages(messages)
        if messages[0].client_msg_id == from_bob.client_msg_id && messages[0].body.is_empty()))
    );
    assert!(
        net.serve(&mut engine).frames.is_empty(),
        "nobody else is told"
    );

    // After a reload it is still gone.
    let store = MemoryStore::new();
    let mut all = net.alice_writes.clone();
    all.extend(writes);
    store
        .apply(all)
        .await
        .unwrap_or_else(|never| match never {});
    let mut reopened = Engine::new();
    reopened.restore(
        StoredState::read(&store, 50)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert!(
        reopened
            .timeline(CHAT)
            .iter()
            .all(|item| item.client_msg_id != from_bob.client_msg_id)
    );
}
