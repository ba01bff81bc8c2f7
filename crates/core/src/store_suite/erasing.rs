//! The suite's cases on taking messages out of the store: erasing a message deleted for
//! everyone that the engine has not loaded (found by its chat and id wherever it lies, and
//! only if the deletion's sender sent it — never a line the server wrote), and removing every
//! message when the server's storage epoch changes.

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{ChatId, Seq, UserId};

use super::{apply, member, ok, sample_chat, sample_message, sample_outbox};
use crate::store::{MessageRecord, Store, StoreWrite};

/// A message is emptied by its chat and id alone, in its place, keeping its sender and time,
/// when the deletion's sender sent it; and after the rest of its batch, so that putting it again
/// there does not bring its body back.
pub async fn a_message_is_erased_by_its_id_only_for_its_sender<S: Store>(store: S) {
    // Three hundred positions: a store that keeps messages in pages has several of them.
    let mut held: Vec<MessageRecord> = (1..=300)
        .map(|seq| sample_message(1, seq, "rahasia"))
        .collect();
    let elsewhere = sample_message(2, 7, "di chat lain");
    held.push(elsewhere.clone());
    apply(&store, vec![StoreWrite::PutMessages(held.clone())]).await;

    let erase = |chat: u64, message: &MessageRecord, sender: UserId| StoreWrite::EraseMessage {
        chat_id: ChatId(chat),
        client_msg_id: message.client_msg_id,
        sender,
    };
    let old = &held[4];
    let put_again = &held[249];
    let not_theirs = &held[99];
    apply(
        &store,
        vec![
            erase(1, old, old.sender),
            erase(1, put_again, put_again.sender),
            StoreWrite::PutMessages(vec![put_again.clone()]),
            // Someone else's deletion, and an id of another chat: nothing changes.
            erase(1, not_theirs, UserId(9)),
            erase(1, &elsewhere, elsewhere.sender),
            erase(3, old, old.sender),
        ],
    )
    .await;

    let mut expected = held;
    for message in &mut expected {
        if message.chat_id == ChatId(1) && [Seq(5), Seq(250)].contains(&message.seq) {
            message.body = Vec::new();
        }
    }
    let mut stored = ok(store.messages_before(ChatId(1), Seq(u64::MAX), 500).await);
    stored.extend(ok(store
        .messages_before(ChatId(2), Seq(u64::MAX), 500)
        .await));
    assert_eq!(stored, expected);
}

/// A line the server wrote into a group is never erased, though its sender (the member whose
/// change it tells) asks: it is no one's message to delete.
pub async fn a_line_the_server_wrote_is_never_erased<S: Store>(store: S) {
    let mut line = sample_message(1, 3, "");
    line.body = SystemEvent::Added {
        by: member(line.sender.0, "bob"),
        user: member(9, "carol"),
    }
    .to_body();
    apply(&store, vec![StoreWrite::PutMessages(vec![line.clone()])]).await;
    apply(
        &store,
        vec![StoreWrite::EraseMessage {
            chat_id: line.chat_id,
            client_msg_id: line.client_msg_id,
            sender: line.sender,
        }],
    )
    .await;
    let stored = ok(store.messages_before(ChatId(1), Seq(u64::MAX), 10).await);
    assert_eq!(stored, vec![line]);
}

/// Every message of every chat is removed, and nothing else: the chats and the outbox stay,
/// and so do the messages put in the same batch, wherever they stand in it.
pub async fn every_message_is_removed_but_those_of_its_own_batch<S: Store>(store: S) {
    // Three hundred positions: a store that keeps messages in pages has several of them.
    let mut held: Vec<MessageRecord> = (1..=300)
        .map(|seq| sample_message(1, seq, "epoch lama"))
        .collect();
    held.push(sample_message(2, 7, "di chat lain"));
    apply(
        &store,
        vec![
            StoreWrite::PutChat(sample_chat(1, "Keluarga")),
            StoreWrite::PutOutbox(sample_outbox(1, "nanti")),
            StoreWrite::PutMessages(held),
        ],
    )
    .await;

    let before = sample_message(1, 2, "epoch baru");
    let after = sample_message(2, 1, "epoch baru");
    apply(
        &store,
        vec![
            StoreWrite::PutMessages(vec![before.clone()]),
            StoreWrite::RemoveAllMessages,
            StoreWrite::PutMessages(vec![after.clone()]),
        ],
    )
    .await;

    let all = Seq(u64::MAX);
    assert_eq!(
        ok(store.messages_before(ChatId(1), all, 500).await),
        [before]
    );
    assert_eq!(
        ok(store.messages_before(ChatId(2), all, 500).await),
        [after]
    );
    assert_eq!(ok(store.chats().await), [sample_chat(1, "Keluarga")]);
    assert_eq!(ok(store.outbox().await), [sample_outbox(1, "nanti")]);
}
