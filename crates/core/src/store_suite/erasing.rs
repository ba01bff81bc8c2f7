//! The suite's case on erasing a message deleted for everyone that the engine has not loaded:
//! found by its chat and id wherever it lies, and only if the deletion's sender sent it.

use merpati_protocol::{ChatId, Seq, UserId};

use super::{apply, ok, sample_message};
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
