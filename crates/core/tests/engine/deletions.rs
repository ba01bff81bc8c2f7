//! Deleting a message, for everyone or only here: shown at once, the body dropped from view and
//! store (after a reload too), a deletion that arrives before its message, and one from someone
//! other than the sender ignored, as is one of a line the server wrote. A message of one's own that
//! has not left the device yet is taken back instead, after a reload too; one that may have reached
//! the server is deleted after it.

use merpati_core::{MemoryStore, SendError, Store, StoreWrite};
use merpati_protocol::content::{MessageContent, SystemEvent};
use merpati_protocol::{ClientFrame, ClientMsgId, Epoch, MessageFrame, Seq, ServerFrame};
use merpati_words::Text;

use crate::actions::{alice_with_two_messages, item};
use crate::attachments::{AES, photo};
use crate::support::alice::{
    ALICE, BOB, CHAT, apply, member, message, published_alice, reconnect, reload, sent_body,
};

/// A member other than alice and bob.
const CAROL: merpati_protocol::UserId = merpati_protocol::UserId(3);

#[tokio::test]
async fn deleting_for_everyone_shows_deleted_and_the_text_is_gone_from_view_and_store() {
    let (mut engine, mut net, _, own, seq) = alice_with_two_messages();
    let deletion = engine
        .delete_for_everyone(CHAT, own.client_msg_id, 6_000)
        .expect("queued")
        .expect("a deletion: the message is stored");
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
    apply(&store, net.alice_writes.clone()).await;
    let stored = store
        .messages_before(CHAT, Seq(u64::MAX), 50)
        .await
        .unwrap_or_else(|never| match never {});
    let record = stored
        .iter()
        .find(|message| message.client_msg_id == own.client_msg_id)
        .expect("its place is kept");
    assert!(record.body.is_empty());
    let reloaded = reload(&store).await;
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
    apply(&store, net.alice_writes.clone()).await;
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
    apply(&store, all).await;
    let reopened = reload(&store).await;
    assert!(
        reopened
            .timeline(CHAT)
            .iter()
            .all(|item| item.client_msg_id != from_bob.client_msg_id)
    );
}

/// What went out in `frames`, in order: each `Send`'s id, and each `SendDeletion`'s id with
/// the message it deletes.
fn sent(frames: &[ClientFrame]) -> Vec<(ClientMsgId, Option<ClientMsgId>)> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send { client_msg_id, .. } => Some((*client_msg_id, None)),
            ClientFrame::SendDeletion {
                client_msg_id,
                target,
                ..
            } => Some((*client_msg_id, Some(*target))),
            _ => None,
        })
        .collect()
}

#[test]
fn deleting_for_everyone_a_file_still_uploading_takes_it_back_and_nothing_is_sent() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1_000)
        .expect("queued");
    let _ = net.serve(&mut engine);
    assert_eq!(
        engine.delete_for_everyone(CHAT, id, 2_000),
        Ok(None),
        "taken back"
    );
    let step = net.serve(&mut engine);
    assert_eq!(
        sent(&step.frames),
        vec![],
        "nothing to delete on the server"
    );
    assert!(step.writes.contains(&StoreWrite::RemoveOutbox(id)));
    assert!(
        step.writes
            .contains(&StoreWrite::RemoveUpload(photo().blob)),
        "its kept copy goes too: {:?}",
        step.writes
    );
    assert!(
        !step
            .writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutOutbox(_))),
        "no deletion is queued: {:?}",
        step.writes
    );
    assert!(engine.timeline(CHAT).is_empty(), "gone, as if cancelled");
    assert!(engine.awaited_uploads().is_empty(), "its upload stops");
    assert_eq!(engine.pending_count(), 0);

    // An upload already past its last part still ends: the message does not go out.
    engine.upload_finished(id);
    assert_eq!(sent(&net.serve(&mut engine).frames), vec![]);
}

#[test]
fn deleting_for_everyone_a_text_written_offline_takes_it_back_with_the_actions_on_it() {
    let (mut engine, mut net) = published_alice();
    engine.on_disconnected();
    let id = engine.send_text(CHAT, "salah kirim", 1).expect("queued");
    let edit = engine
        .edit_message(CHAT, id, "masih salah", 2)
        .expect("queued");
    assert_eq!(engine.delete_for_everyone(CHAT, id, 3), Ok(None));
    let writes = engine.take_step().writes;
    for gone in [id, edit] {
        assert!(
            writes.contains(&StoreWrite::RemoveOutbox(gone)),
            "{writes:?}"
        );
    }
    assert!(engine.timeline(CHAT).is_empty());
    assert_eq!(engine.pending_count(), 0);

    reconnect(&mut engine, Epoch(7));
    assert_eq!(
        sent(&net.serve(&mut engine).frames),
        vec![],
        "nothing of it, not even the edit, ever leaves"
    );
}

#[tokio::test]
async fn after_a_reload_a_text_written_offline_is_still_taken_back_and_one_sent_is_not() {
    let (mut engine, mut net) = published_alice();
    let sent_once = engine.send_text(CHAT, "terkirim", 1).expect("queued");
    assert_eq!(
        sent(&net.serve(&mut engine).frames),
        vec![(sent_once, None)]
    );
    engine.on_disconnected();
    let unsent = engine.send_text(CHAT, "salah kirim", 2).expect("queued");
    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    apply(&store, engine.take_step().writes).await;

    // Reloaded offline: the one that never left is taken back, nothing of it ever goes.
    let mut reloaded = reload(&store).await;
    assert_eq!(reloaded.delete_for_everyone(CHAT, unsent, 3), Ok(None));
    // The one that went out may be on the server: its deletion follows it.
    let deletion = reloaded
        .delete_for_everyone(CHAT, sent_once, 4)
        .expect("accepted")
        .expect("a deletion, not taken back");
    reconnect(&mut reloaded, Epoch(7));
    assert_eq!(
        sent(&net.serve(&mut reloaded).frames),
        vec![(sent_once, None), (deletion, Some(sent_once))]
    );
}

#[test]
fn deleting_for_everyone_a_text_awaiting_its_ack_follows_it_and_applies_once_stored() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "halo bob", 1).expect("queued");
    assert_eq!(sent(&net.serve(&mut engine).frames), vec![(id, None)]);
    let deletion = engine
        .delete_for_everyone(CHAT, id, 2)
        .expect("accepted")
        .expect("a deletion, not taken back");
    assert!(item(&engine, id).deleted, "shown deleted at once");
    assert_eq!(
        sent(&net.serve(&mut engine).frames),
        vec![(deletion, Some(id))],
        "the server may store it: the deletion goes after it"
    );

    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(1),
        sent_at_ms: 3,
    });
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: deletion,
        seq: Seq(2),
        sent_at_ms: 4,
    });
    let writes = net.serve(&mut engine).writes;
    let shown = item(&engine, id);
    assert_eq!(
        (shown.text.as_str(), shown.deleted),
        (Text::MessageDeleted.english(), true)
    );
    assert!(
        writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutMessages(messages)
            if messages.iter().any(|m| m.client_msg_id == id && m.body.is_empty()))),
        "its stored body is dropped: {writes:?}"
    );
    assert_eq!(engine.pending_count(), 0);
}

#[test]
fn a_message_sent_before_the_connection_dropped_is_resent_then_deleted_not_taken_back() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "halo bob", 1).expect("queued");
    assert_eq!(sent(&net.serve(&mut engine).frames), vec![(id, None)]);
    // The server may have stored it; its Ack was lost with the connection.
    engine.on_disconnected();
    let deletion = engine
        .delete_for_everyone(CHAT, id, 2)
        .expect("accepted")
        .expect("a deletion, not taken back");
    reconnect(&mut engine, Epoch(7));
    assert_eq!(
        sent(&net.serve(&mut engine).frames),
        vec![(id, None), (deletion, Some(id))]
    );
}

#[tokio::test]
async fn after_a_reload_a_sent_files_deletion_follows_it_and_does_not_take_it_back() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.upload_finished(id);
    assert_eq!(sent(&net.serve(&mut engine).frames), vec![(id, None)]);

    // Reloaded before its Ack: this device cannot tell whether the server stored it. Its
    // upload was done before it went out, so it goes out again at once.
    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    assert_eq!(sent(&net.serve(&mut reloaded).frames), vec![(id, None)]);
    let deletion = reloaded
        .delete_for_everyone(CHAT, id, 2)
        .expect("accepted")
        .expect("a deletion, not taken back");
    assert_eq!(
        sent(&net.serve(&mut reloaded).frames),
        vec![(deletion, Some(id))],
        "the deletion after the message it deletes"
    );
}

#[tokio::test]
async fn a_deletion_of_a_message_not_loaded_erases_its_stored_body_too() {
    // Bob's photo (1) and text (2), a message of alice's (3), and 57 more, all read: a reload
    // loads the newest 50, so 1 to 10 stay in the store only.
    let (mut engine, mut net) = published_alice();
    let photo_message = net.bob_sends(&mut engine, 1, MessageContent::file(AES, photo()));
    let text = net.bob_says(&mut engine, 2, "rahasia lama");
    let own = message(3, ALICE, "punyaku");
    for message in [photo_message.clone(), text.clone(), own.clone()] {
        engine.handle_frame(ServerFrame::Message(message));
    }
    for seq in 4..=60 {
        let later = net.bob_says(&mut engine, seq, &format!("pesan {seq}"));
        engine.handle_frame(ServerFrame::Message(later));
    }
    engine.handle_frame(ServerFrame::Receipt {
        chat_id: CHAT,
        receipt: merpati_protocol::Receipt {
            user: ALICE,
            delivered: Seq(60),
            read: Seq(60),
            read_at_ms: 900,
        },
    });
    let _ = net.serve(&mut engine);
    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    let mut reloaded = reload(&store).await;
    assert_eq!(
        reloaded.timeline(CHAT)[0].seq,
        Some(Seq(11)),
        "1 to 10 not loaded"
    );

    // Bob deletes his two for everyone, and tries to delete alice's.
    let written = net.alice_writes.len();
    for (seq, target) in [
        (61, photo_message.client_msg_id),
        (62, text.client_msg_id),
        (63, own.client_msg_id),
    ] {
        let deletion = net.bob_sends(&mut reloaded, seq, MessageContent::Delete { target });
        reloaded.handle_frame(ServerFrame::Message(deletion));
    }
    let _ = net.serve(&mut reloaded);
    apply(&store, net.alice_writes[written..].to_vec()).await;
    let stored = store
        .messages_before(CHAT, Seq(4), 10)
        .await
        .unwrap_or_else(|never| match never {});
    let bodies: Vec<(Seq, bool)> = stored
        .iter()
        .map(|message| (message.seq, message.body.is_empty()))
        .collect();
    assert_eq!(
        bodies,
        vec![(Seq(1), true), (Seq(2), true), (Seq(3), false)],
        "bob's two are erased where they lie, in their places; alice's is not his to delete"
    );
}

#[tokio::test]
async fn a_line_the_server_wrote_cannot_be_deleted_by_the_member_it_names() {
    // "bob added carol": the server writes it with bob as its sender. A client of bob's that
    // sends a deletion of it as an ordinary message must not take it off the chat.
    let (mut engine, mut net) = published_alice();
    let line = MessageFrame {
        body: SystemEvent::Added {
            by: member(BOB, "bob"),
            user: member(CAROL, "carol"),
        }
        .to_body(),
        ..message(1, BOB, "")
    };
    let deletion = net.bob_sends(
        &mut engine,
        2,
        MessageContent::Delete {
            target: line.client_msg_id,
        },
    );
    engine.handle_frame(ServerFrame::Message(line.clone()));
    engine.handle_frame(ServerFrame::Message(deletion));
    let step = net.serve(&mut engine);
    let shown = item(&engine, line.client_msg_id);
    assert!(shown.system.is_some() && !shown.deleted, "{shown:?}");
    assert!(
        !step.writes.iter().any(|write| matches!(
            write,
            StoreWrite::PutMessages(messages)
                if messages.iter().any(|message| message.body.is_empty())
        )),
        "nothing erased"
    );

    // Nor where it lies in the store, not loaded: the store keeps it whoever asks.
    let store = MemoryStore::new();
    apply(
        &store,
        vec![
            StoreWrite::PutMessages(vec![line.clone()]),
            StoreWrite::EraseMessage {
                chat_id: CHAT,
                client_msg_id: line.client_msg_id,
                sender: BOB,
            },
        ],
    )
    .await;
    let stored = store
        .messages_before(CHAT, Seq(u64::MAX), 10)
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(stored, vec![line]);
}

#[tokio::test]
async fn a_message_deleted_for_me_on_its_way_keeps_no_body_once_it_arrives() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "salah kirim", 1).expect("queued");
    let body = sent_body(&net.serve(&mut engine).frames, id).expect("sent");
    // Deleted here before the server answered: nothing is left in the outbox for the Ack.
    engine.delete_for_me(CHAT, id).expect("deleted");
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(1),
        sent_at_ms: 2,
    });
    engine.handle_frame(ServerFrame::Message(MessageFrame {
        client_msg_id: id,
        body,
        ..message(1, ALICE, "")
    }));
    let _ = net.serve(&mut engine);

    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    let stored = store
        .messages_before(CHAT, Seq(u64::MAX), 10)
        .await
        .unwrap_or_else(|never| match never {});
    assert!(
        stored
            .iter()
            .all(|message| message.client_msg_id != id || message.body.is_empty()),
        "{stored:?}"
    );
}
