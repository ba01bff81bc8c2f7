//! A member removed from a group gets no key for later messages: they are stored but never
//! reach her, and when she is handed them anyway (read from the server's SQLite file) she
//! cannot open them, while she still reads what was said while she was a member.

use std::path::Path;
use std::time::{Duration, Instant};

use merpati_core::timeline::MessageLock;
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::{ChatId, ClientMsgId, MessageFrame, Seq, ServerFrame, UserId};
use rusqlite::{Connection, OpenFlags};

use crate::{Conversation, Device, MARKER, PATIENCE, Transcript, knows, reads_everything, shown};

/// The group's stored messages after `after`, as the server would deliver them (its own
/// lines included).
fn stored_after(data: &Path, chat: ChatId, after: Seq) -> Vec<MessageFrame> {
    let db = Connection::open_with_flags(data.join("merpati.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut statement = db
        .prepare(
            "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages \
             WHERE chat_id = ?1 AND seq > ?2 ORDER BY seq",
        )
        .unwrap();
    statement
        .query_map(
            [
                i64::try_from(chat.0).unwrap(),
                i64::try_from(after.0).unwrap(),
            ],
            |row| {
                let seq: i64 = row.get(0)?;
                let id: Vec<u8> = row.get(1)?;
                let sender: i64 = row.get(2)?;
                let sent_at_ms: i64 = row.get(3)?;
                Ok(MessageFrame {
                    chat_id: chat,
                    seq: Seq(u64::try_from(seq).unwrap()),
                    client_msg_id: ClientMsgId(id.try_into().unwrap()),
                    sender: UserId(u64::try_from(sender).unwrap()),
                    sent_at_ms: u64::try_from(sent_at_ms).unwrap(),
                    body: row.get(4)?,
                })
            },
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits until `device` sees `chat` without `user` among its members.
async fn sees_removed(device: &Device, chat: ChatId, user: UserId) {
    let started = Instant::now();
    loop {
        let snapshot = device.client.snapshot().await.unwrap();
        let members = snapshot
            .members
            .iter()
            .find(|(id, _)| *id == chat)
            .map(|(_, members)| members.clone())
            .unwrap_or_default();
        if !members.is_empty() && !members.contains(&user) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} still sees user {} in chat {}",
            device.name,
            user.0,
            chat.0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_gets_no_key_for_later_messages() {
    let started = Instant::now();
    let talk = Conversation::start().await;
    let mut said = Transcript::default();
    let group = talk.group;
    let (alice, bob, carol) = (&talk.alice, &talk.bob, &talk.carol);

    // While carol is a member, she reads everything.
    for device in [alice, bob, carol] {
        said.say(device, group).await;
    }
    for device in [alice, bob, carol] {
        reads_everything(device, group, said.sent_in(group)).await;
    }
    let before = said.sent_in(group).to_vec();
    let carol_id = carol.client.snapshot().await.unwrap().me.unwrap().id;
    // Where the group's log stood at the removal: the newest position of what was said before
    // (the group's lines take positions too).
    let removed_after = shown(&alice.client.snapshot().await.unwrap(), group)
        .iter()
        .filter(|(_, id, _, _)| before.iter().any(|(said, _)| said == id))
        .map(|(seq, _, _, _)| *seq)
        .max()
        .unwrap();

    alice
        .client
        .remove_member(group, carol_id)
        .await
        .unwrap()
        .expect("alice removes carol");
    // Everyone encrypts for the members they know of; wait until the removal reached all,
    // carol included (she learns it too, and keeps the group read-only).
    for device in [alice, bob, carol] {
        sees_removed(device, group, carol_id).await;
    }

    // After the removal: alice and bob talk on.
    for _ in 0..3 {
        said.say(alice, group).await;
        said.say(bob, group).await;
    }
    let after: Vec<(ClientMsgId, String)> = said.sent_in(group)[before.len()..].to_vec();
    for device in [alice, bob] {
        reads_everything(device, group, said.sent_in(group)).await;
    }

    // The server stored them (alice's and bob's in whatever order they arrived), and did
    // not send them to carol. Beside them it wrote its own line saying she was removed, which
    // carries no key and which she was sent.
    let (system, frames): (Vec<MessageFrame>, Vec<MessageFrame>) =
        stored_after(&talk.data, group, removed_after)
            .into_iter()
            .partition(|frame| {
                matches!(
                    EncryptedBody::from_body(&frame.body),
                    Some(EncryptedBody::System(_))
                )
            });
    assert_eq!(system.len(), 1, "the removal's line: {system:?}");
    let mut stored: Vec<ClientMsgId> = frames.iter().map(|frame| frame.client_msg_id).collect();
    let mut written: Vec<ClientMsgId> = after.iter().map(|(id, _)| *id).collect();
    stored.sort();
    written.sort();
    assert_eq!(stored, written, "the server's log after the removal");
    reads_everything(carol, group, &before).await;

    // Hand carol the ciphertext anyway, as a curious server (or a leaked database) could:
    // she holds no key for it, and none arrives. Sentinels show that whatever could bring one
    // has come: her own request after the feed is answered after the backup she asks for on
    // meeting a locked message, and a chat that alice and bob each open with her afterwards
    // reaches her after anything their devices sent her before.
    for frame in frames {
        carol
            .client
            .feed(ServerFrame::Message(frame))
            .await
            .unwrap();
    }
    carol.client.create_direct("alice").await.unwrap().unwrap();
    for (title, opener) in [("sentinel-alice", alice), ("sentinel-bob", bob)] {
        let chat = opener
            .client
            .create_group(title, "carol")
            .await
            .unwrap()
            .unwrap();
        knows(carol, chat).await;
    }
    let snapshot = carol.client.snapshot().await.unwrap();
    let shown = shown(&snapshot, group);
    for (id, text) in &after {
        let (_, _, lock, shown_text) = shown
            .iter()
            .find(|(_, held, _, _)| held == id)
            .unwrap_or_else(|| panic!("carol was handed {id:?} but does not hold it"));
        assert_eq!(
            *lock,
            MessageLock::Waiting,
            "carol, removed, opened a later message"
        );
        assert!(!shown_text.contains(MARKER), "carol shows {shown_text:?}");
        assert_ne!(shown_text, text);
    }
    // What she read while a member, she still reads.
    for (id, text) in &before {
        assert!(
            shown.iter().any(|(_, held, lock, shown_text)| held == id
                && *lock == MessageLock::Open
                && shown_text == text),
            "carol lost a message from before her removal"
        );
    }

    for device in [alice, bob, carol] {
        device.client.stop();
    }
    eprintln!(
        "removal test: {} messages before carol's removal, {} after (stored, not opened by \
         her); {:?} in all",
        before.len(),
        after.len(),
        started.elapsed()
    );
}
