//! What the person does to a message: reply, edit, react, forward — shown at once, sent
//! encrypted through the outbox, merged when they arrive out of order, and refused with words
//! (nothing stored is lost) when they cannot be done. Deleting is in `deletions`.

use merpati_core::{
    Engine, Event, MemoryStore, MessageStatus, SendError, Store, StoreWrite, StoredState,
    TimelineItem, e2e::Opened,
};
use merpati_protocol::{
    ChatId, ChatKind, ClientFrame, ClientMsgId, ErrorCode, MAX_BODY_BYTES, MessageFrame, Seq,
    ServerFrame, UserId,
    content::{MAX_QUOTE_CHARS, MessageContent, Quote},
};

use crate::support::alice::{ALICE, BOB, CHAT, Net, apply, chat_info, member, published_alice};

/// Sends what alice queued, acknowledges each message as the server would (from `seq` on) and
/// returns them as stored.
fn store_sends(engine: &mut Engine, net: &mut Net, seq: &mut u64) -> Vec<MessageFrame> {
    let mut stored = Vec::new();
    for frame in net.serve(engine).frames {
        let (chat_id, client_msg_id, body) = match frame {
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                body,
                ..
            }
            | ClientFrame::SendDeletion {
                chat_id,
                client_msg_id,
                body,
                ..
            } => (chat_id, client_msg_id, body),
            _ => continue,
        };
        *seq += 1;
        engine.handle_frame(ServerFrame::Ack {
            chat_id,
            client_msg_id,
            seq: Seq(*seq),
            sent_at_ms: 9_000 + *seq,
        });
        stored.push(MessageFrame {
            chat_id,
            seq: Seq(*seq),
            client_msg_id,
            sender: ALICE,
            sent_at_ms: 9_000 + *seq,
            body,
        });
    }
    stored
}

/// What bob's device reads of a message alice sent.
fn bob_reads(net: &mut Net, message: &MessageFrame) -> MessageContent {
    match net.bob.open(message) {
        Opened::Content(content) => content,
        other => panic!("bob cannot read it: {other:?}"),
    }
}

pub(crate) fn item(engine: &Engine, id: ClientMsgId) -> TimelineItem {
    engine
        .timeline(CHAT)
        .into_iter()
        .find(|item| item.client_msg_id == id)
        .unwrap_or_else(|| panic!("{id:?} is not shown"))
}

/// Alice online with bob's message 1 ("jam tujuh?") and her own message 2 ("halo bob").
pub(crate) fn alice_with_two_messages() -> (Engine, Net, MessageFrame, MessageFrame, u64) {
    let (mut engine, mut net) = published_alice();
    let from_bob = net.bob_says(&mut engine, 1, "jam tujuh?");
    engine.handle_frame(ServerFrame::Message(from_bob.clone()));
    let _ = engine.send_text(CHAT, "halo bob", 5_000).expect("queued");
    let mut seq = 1;
    let own = store_sends(&mut engine, &mut net, &mut seq).remove(0);
    let _ = net.serve(&mut engine);
    (engine, net, from_bob, own, seq)
}

#[test]
fn a_reply_quotes_its_target_and_bob_reads_the_quote() {
    let (mut engine, mut net, from_bob, _, mut seq) = alice_with_two_messages();
    let reply = engine
        .send_reply(CHAT, from_bob.client_msg_id, "  ya, jam tujuh  ", 6_000)
        .expect("queued");
    let quote = Quote {
        target: from_bob.client_msg_id,
        sender: BOB,
        text: "jam tujuh?".into(),
    };
    let shown = item(&engine, reply);
    assert_eq!(
        (shown.text.as_str(), shown.quote.as_ref(), shown.status),
        ("ya, jam tujuh", Some(&quote), MessageStatus::Pending)
    );
    let sent = store_sends(&mut engine, &mut net, &mut seq);
    assert_eq!(
        bob_reads(&mut net, &sent[0]),
        MessageContent::Reply {
            text: "ya, jam tujuh".into(),
            quote
        }
    );
}

#[test]
fn a_quote_keeps_only_the_start_of_a_long_text() {
    let (mut engine, mut net) = published_alice();
    let long = net.bob_says(&mut engine, 1, &"panjang ".repeat(100));
    engine.handle_frame(ServerFrame::Message(long.clone()));
    let reply = engine
        .send_reply(CHAT, long.client_msg_id, "ok", 1)
        .expect("queued");
    let quoted = item(&engine, reply).quote.expect("a quote").text;
    assert_eq!(quoted.chars().count(), MAX_QUOTE_CHARS);
}

#[test]
fn an_edit_shows_at_once_reaches_bob_encrypted_and_stays_after_its_ack() {
    let (mut engine, mut net, _, own, mut seq) = alice_with_two_messages();
    let edit = engine
        .edit_message(CHAT, own.client_msg_id, "halo bob!", 6_000)
        .expect("queued");
    let shown = item(&engine, own.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.edited), ("halo bob!", true));
    assert!(
        engine
            .timeline(CHAT)
            .iter()
            .all(|item| item.client_msg_id != edit),
        "an edit is not a message of its own"
    );
    let sent = store_sends(&mut engine, &mut net, &mut seq);
    assert_eq!(
        bob_reads(&mut net, &sent[0]),
        MessageContent::Edit {
            target: own.client_msg_id,
            text: "halo bob!".into()
        }
    );
    engine.handle_frame(ServerFrame::Message(sent[0].clone()));
    let shown = item(&engine, own.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.edited), ("halo bob!", true));
    assert_eq!(engine.pending_count(), 0);
}

#[test]
fn an_edit_that_arrives_before_its_message_applies_when_the_message_arrives() {
    let (mut engine, mut net) = published_alice();
    let original = net.bob_says(&mut engine, 1, "tipo");
    let edit = net.bob_sends(
        &mut engine,
        2,
        MessageContent::Edit {
            target: original.client_msg_id,
            text: "typo".into(),
        },
    );
    engine.handle_frame(ServerFrame::Message(edit));
    assert!(engine.timeline(CHAT).is_empty(), "nothing to show yet");
    engine.handle_frame(ServerFrame::Message(original.clone()));
    let shown = item(&engine, original.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.edited), ("typo", true));
}

#[tokio::test]
async fn an_edit_applies_to_its_message_read_later_from_the_store_while_scrolling_back() {
    let (mut engine, mut net) = published_alice();
    let original = net.bob_says(&mut engine, 1, "tipo");
    let edit = net.bob_sends(
        &mut engine,
        2,
        MessageContent::Edit {
            target: original.client_msg_id,
            text: "typo".into(),
        },
    );
    let _ = net.serve(&mut engine);
    let store = MemoryStore::new();
    let mut writes = net.alice_writes.clone();
    writes.push(StoreWrite::PutMessages(vec![original.clone(), edit]));
    // Read: a reload reads every unread message, and these must stay in the store.
    let mut info = chat_info(2);
    info.read = Seq(2);
    writes.push(StoreWrite::PutChat(merpati_core::ChatRecord {
        info,
        floor: Seq(1),
        synced: Seq(2),
        delivered: Seq(2),
        read_log: Vec::new(),
    }));
    apply(&store, writes).await;

    // The app opens with the newest message only: the edit, whose target is older.
    let mut reopened = Engine::new();
    reopened.restore(
        StoredState::read(&store, 1)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert!(reopened.timeline(CHAT).is_empty());
    let wanted = reopened.older_wanted(CHAT).expect("older exist");
    let older = store
        .messages_before(CHAT, wanted.before, 50)
        .await
        .unwrap_or_else(|never| match never {});
    reopened.insert_stored_older(CHAT, wanted, older);
    let shown = item(&reopened, original.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.edited), ("typo", true));
}

#[test]
fn choosing_the_same_reaction_again_takes_it_back() {
    let (mut engine, mut net, from_bob, _, mut seq) = alice_with_two_messages();
    let target = from_bob.client_msg_id;
    engine.react(CHAT, target, "👍", 6_000).expect("queued");
    let reactions = item(&engine, target).reactions;
    assert_eq!(
        reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.count, r.mine))
            .collect::<Vec<_>>(),
        vec![("👍", 1, true)]
    );
    engine.react(CHAT, target, "👍", 6_001).expect("queued");
    assert!(
        item(&engine, target).reactions.is_empty(),
        "taken back at once"
    );
    let sent = store_sends(&mut engine, &mut net, &mut seq);
    let emojis: Vec<Option<String>> = sent
        .iter()
        .map(|message| match bob_reads(&mut net, message) {
            MessageContent::Reaction { emoji, .. } => emoji,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(emojis, vec![Some("👍".to_owned()), None]);
}

#[test]
fn a_reaction_stays_after_its_author_is_removed_and_keeps_their_name() {
    let (mut engine, mut net, _, own, _) = alice_with_two_messages();
    let mut group = chat_info(3);
    group.kind = ChatKind::Group;
    group.members.push(member(UserId(3), "carol"));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group.clone(),
    });
    let reaction = net.bob_sends(
        &mut engine,
        3,
        MessageContent::Reaction {
            target: own.client_msg_id,
            emoji: Some("🎉".into()),
        },
    );
    engine.handle_frame(ServerFrame::Message(reaction));
    let mut without_bob = group;
    without_bob.members.retain(|member| member.id != BOB);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: without_bob,
    });
    let reactions = item(&engine, own.client_msg_id).reactions;
    assert_eq!(reactions.len(), 1);
    assert_eq!(
        reactions[0].people[0]
            .username
            .as_ref()
            .map(ToString::to_string),
        Some("bob".to_owned())
    );
}

#[test]
fn a_forward_is_sent_as_a_new_message_in_the_other_chat_marked_forwarded() {
    let (mut engine, mut net, from_bob, _, _) = alice_with_two_messages();
    let mut other = chat_info(0);
    other.id = ChatId(11);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: other,
    });
    let before = engine.timeline(CHAT);
    let forwarded = engine
        .forward(CHAT, from_bob.client_msg_id, ChatId(11), 7_000)
        .expect("queued");
    let shown = engine.timeline(ChatId(11));
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (
            shown[0].client_msg_id,
            shown[0].text.as_str(),
            shown[0].forwarded,
            shown[0].status
        ),
        (forwarded, "jam tujuh?", true, MessageStatus::Pending)
    );
    assert_eq!(
        engine.timeline(CHAT),
        before,
        "the source chat is untouched"
    );

    let sends: Vec<(ChatId, ClientMsgId, Vec<u8>)> = net
        .serve(&mut engine)
        .frames
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                body,
                ..
            } => Some((chat_id, client_msg_id, body)),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "one new message");
    let (chat_id, client_msg_id, body) = sends[0].clone();
    assert_eq!((chat_id, client_msg_id), (ChatId(11), forwarded));
    assert_ne!(forwarded, from_bob.client_msg_id, "a message of its own");
    let stored = MessageFrame {
        chat_id,
        seq: Seq(1),
        client_msg_id,
        sender: ALICE,
        sent_at_ms: 7_001,
        body,
    };
    assert_eq!(
        bob_reads(&mut net, &stored),
        MessageContent::Forwarded {
            text: "jam tujuh?".into()
        }
    );
}

#[test]
fn what_cannot_be_done_is_refused_with_words_and_nothing_is_stored_or_sent() {
    let (mut engine, _net, from_bob, own, _) = alice_with_two_messages();
    let before = engine.timeline(CHAT);
    let bob_message = from_bob.client_msg_id;
    // What each would have answered does not matter: each is refused.
    let refusals = [
        (
            engine
                .edit_message(CHAT, bob_message, "bukan punyaku", 1)
                .map(drop),
            SendError::NotYourMessage,
        ),
        (
            engine.delete_for_everyone(CHAT, bob_message, 1).map(drop),
            SendError::NotYourMessage,
        ),
        (
            engine
                .edit_message(CHAT, own.client_msg_id, &"a".repeat(MAX_BODY_BYTES), 1)
                .map(drop),
            SendError::TooLarge,
        ),
        (
            engine
                .edit_message(CHAT, own.client_msg_id, "   ", 1)
                .map(drop),
            SendError::Empty,
        ),
        (
            engine
                .react(CHAT, ClientMsgId([0xee; 16]), "👍", 1)
                .map(drop),
            SendError::NoSuchMessage,
        ),
        (
            engine
                .react(CHAT, bob_message, &"👍".repeat(20), 1)
                .map(drop),
            SendError::InvalidReaction,
        ),
    ];
    for (result, expected) in refusals {
        assert_eq!(result, Err(expected.clone()));
        assert!(!expected.to_string().is_empty());
    }
    assert_eq!(
        SendError::NotYourMessage.to_string(),
        "You can only edit or delete your own messages"
    );

    // Removed from the chat: reacting there is refused too.
    let mut without_alice = chat_info(2);
    without_alice.members.retain(|member| member.id != ALICE);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: without_alice,
    });
    let _ = engine.take_step();
    assert_eq!(
        engine.react(CHAT, bob_message, "👍", 1),
        Err(SendError::NotAMember)
    );
    assert_eq!(
        SendError::NotAMember.to_string(),
        "You are no longer a member of this chat"
    );
    let step = engine.take_step();
    assert!(step.writes.is_empty() && step.frames.is_empty());
    assert_eq!(engine.timeline(CHAT), before, "nothing shown changed");
}

#[test]
fn an_action_the_server_refuses_is_dropped_and_the_person_hears_why() {
    let (mut engine, mut net, _, own, _) = alice_with_two_messages();
    let edit = engine
        .edit_message(CHAT, own.client_msg_id, "diubah", 6_000)
        .expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: edit,
        code: ErrorCode::NoSuchChat,
    });
    let step = engine.take_step();
    assert!(step.events.contains(&Event::SendFailed {
        chat_id: CHAT,
        client_msg_id: edit,
        code: ErrorCode::NoSuchChat
    }));
    assert!(step.writes.contains(&StoreWrite::RemoveOutbox(edit)));
    let shown = item(&engine, own.client_msg_id);
    assert_eq!((shown.text.as_str(), shown.edited), ("halo bob", false));
    assert_eq!(engine.pending_count(), 0);
}

#[test]
fn a_quote_shows_its_target_as_it_stands_not_as_the_reply_said() {
    let (mut engine, mut net, from_bob, own, mut seq) = alice_with_two_messages();
    // bob's reply claims alice's message says what it never said, and that he wrote it.
    let forged = net.bob_sends(
        &mut engine,
        3,
        MessageContent::Reply {
            text: "kamu bilang begitu".into(),
            quote: Quote {
                target: own.client_msg_id,
                sender: BOB,
                text: "aku tidak datang".into(),
            },
        },
    );
    // He edits his own message after replying to it.
    let answered = net.bob_sends(
        &mut engine,
        4,
        MessageContent::Reply {
            text: "atau jam delapan".into(),
            quote: Quote {
                target: from_bob.client_msg_id,
                sender: BOB,
                text: "jam tujuh?".into(),
            },
        },
    );
    let edit = net.bob_sends(
        &mut engine,
        5,
        MessageContent::Edit {
            target: from_bob.client_msg_id,
            text: "jam delapan?".into(),
        },
    );
    for frame in [forged.clone(), answered.clone(), edit] {
        engine.handle_frame(ServerFrame::Message(frame));
    }
    seq = seq.max(5);
    let quote_of = |engine: &Engine, reply: &MessageFrame| {
        let quote = item(engine, reply.client_msg_id).quote.expect("a quote");
        (quote.sender, quote.text)
    };
    assert_eq!(
        quote_of(&engine, &forged),
        (ALICE, "halo bob".to_owned()),
        "who wrote it and what it says, as held here"
    );
    assert_eq!(
        quote_of(&engine, &answered),
        (BOB, "jam delapan?".to_owned())
    );

    // alice deletes hers for everyone: the quote no longer shows its words.
    engine
        .delete_for_everyone(CHAT, own.client_msg_id, 9_500)
        .expect("deleted");
    store_sends(&mut engine, &mut net, &mut seq);
    let deleted = merpati_words::Text::MessageDeleted.english().to_owned();
    assert_eq!(quote_of(&engine, &forged), (ALICE, deleted));
}
