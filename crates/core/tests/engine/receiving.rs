//! Messages arriving: each is shown once in sequence order, gaps and unfinished pages are fetched
//! (a gap again later when its page is refused for now), a reconnect resumes from the last
//! contiguous position (unless the server's storage changed: then nothing held under the old
//! epoch's positions stays, in memory or in the store), and a message whose key comes later opens
//! by itself.

use merpati_core::{Engine, MemoryStore, MessageLock, Store};
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, Epoch, ErrorCode, Seq, ServerFrame};

use crate::support::alice::{
    ALICE, BOB, CHAT, apply, caught_up_alice, challenged_alice, chat_info, member, message,
    online_alice, published_alice, reconnect, reload, take_frames,
};

/// The sequence numbers of the chat's timeline, in order.
fn seqs(engine: &Engine) -> Vec<Option<Seq>> {
    engine
        .timeline(CHAT)
        .into_iter()
        .map(|item| item.seq)
        .collect()
}

fn shown(engine: &Engine) -> Vec<(MessageLock, String)> {
    engine
        .timeline(CHAT)
        .into_iter()
        .map(|item| (item.lock, item.text))
        .collect()
}

#[test]
fn a_message_delivered_twice_is_shown_once_in_sequence_order() {
    let (mut engine, mut net) = published_alice();
    let satu = net.bob_says(&mut engine, 1, "satu");
    let dua = net.bob_says(&mut engine, 2, "dua");
    engine.handle_frame(ServerFrame::Message(dua.clone()));
    engine.handle_frame(ServerFrame::Message(satu.clone()));
    engine.handle_frame(ServerFrame::Message(dua.clone()));
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![satu, dua],
        more: false,
    });
    assert_eq!(
        shown(&engine),
        vec![
            (MessageLock::Open, "satu".to_owned()),
            (MessageLock::Open, "dua".to_owned())
        ]
    );
}

#[test]
fn a_message_whose_key_comes_later_opens_by_itself_and_a_changed_one_is_refused() {
    let (mut engine, mut net) = published_alice();
    let early = net.bob_says(&mut engine, 1, "halo");
    let (locked, key_share) = net.bob_rotates_and_writes(2, "kemudian");
    engine.handle_frame(ServerFrame::Message(early));
    engine.handle_frame(ServerFrame::Message(locked));
    assert_eq!(shown(&engine)[0], (MessageLock::Open, "halo".to_owned()));
    assert_eq!(shown(&engine)[1].0, MessageLock::Waiting);
    assert!(
        shown(&engine)[1].1.contains("Waiting"),
        "a clear placeholder"
    );

    // The key arrives after the message: the waiting one opens by itself.
    for frame in key_share {
        engine.handle_frame(frame);
    }
    let _ = net.serve(&mut engine);
    let later = net.bob_says(&mut engine, 3, "asli");
    let mut changed = later.clone();
    changed.seq = Seq(4);
    changed.client_msg_id = ClientMsgId([44; 16]);
    let last = changed.body.len() - 1;
    changed.body[last] ^= 1;
    engine.handle_frame(ServerFrame::Message(later));
    engine.handle_frame(ServerFrame::Message(changed));
    let now = shown(&engine);
    assert_eq!(now[1], (MessageLock::Open, "kemudian".to_owned()));
    assert_eq!(now[2], (MessageLock::Open, "asli".to_owned()));
    assert_eq!(
        now[3].0,
        MessageLock::Refused,
        "a changed byte is refused: {now:?}"
    );
    assert!(now[3].1.contains("altered"));
}

#[test]
fn a_message_beyond_the_start_of_an_empty_chat_fetches_what_came_before() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(3, BOB, "tiga")));
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::Fetch {
            chat_id: CHAT,
            after: Seq(0),
            limit: 500
        }]
    );
}

#[test]
fn a_gap_is_fetched_from_the_last_contiguous_sequence() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.handle_frame(ServerFrame::Message(message(4, BOB, "empat")));
    assert_eq!(
        take_frames(&mut engine),
        vec![
            ClientFrame::Fetch {
                chat_id: CHAT,
                after: Seq(1),
                limit: 500
            },
            // What is held without a gap is reported, once for the step.
            ClientFrame::MarkDelivered {
                chat_id: CHAT,
                seq: Seq(1)
            }
        ]
    );
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![
            message(2, BOB, "dua"),
            message(3, BOB, "tiga"),
            message(4, BOB, "empat"),
        ],
        more: false,
    });
    assert_eq!(
        seqs(&engine),
        vec![Some(Seq(1)), Some(Seq(2)), Some(Seq(3)), Some(Seq(4))]
    );
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(4)
        }],
        "caught up: no further fetch, the whole range held"
    );
}

#[test]
fn a_gap_whose_page_was_refused_for_now_is_asked_for_again_in_time() {
    let mut engine = online_alice();
    // The device's publish went first, and was answered first: a refusal naming no request
    // that comes before that answer is the publish's.
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    let _ = engine.take_step();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.handle_frame(ServerFrame::Message(message(3, BOB, "tiga")));
    let fetch = ClientFrame::Fetch {
        chat_id: CHAT,
        after: Seq(1),
        limit: 500,
    };
    assert!(take_frames(&mut engine).contains(&fetch));
    // The account asked for more than its allowance: refused, without saying which request.
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code: ErrorCode::TooManyRequests,
        detail: "too many requests; try again in 2 s".to_owned(),
    });
    assert!(take_frames(&mut engine).is_empty(), "not again at once");
    let retry_at = engine
        .next_clock_change_ms()
        .expect("asked again at a time");
    engine.advance_clock(retry_at - 1);
    assert!(take_frames(&mut engine).is_empty());
    engine.advance_clock(retry_at);
    assert_eq!(take_frames(&mut engine), [fetch], "asked again");
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![message(2, BOB, "dua"), message(3, BOB, "tiga")],
        more: false,
    });
    assert_eq!(seqs(&engine), [Some(Seq(1)), Some(Seq(2)), Some(Seq(3))]);
    assert_eq!(engine.next_clock_change_ms(), None, "nothing more to ask");
}

#[tokio::test]
async fn a_reload_before_a_gap_fills_catches_up_past_the_messages_that_waited_behind_it() {
    // Messages 1 and 3 arrive and are stored; the tab reloads before 2 does.
    let mut engine = caught_up_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.handle_frame(ServerFrame::Message(message(3, BOB, "tiga")));
    let store = MemoryStore::new();
    apply(&store, engine.take_step().writes).await;
    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    assert!(take_frames(&mut reloaded).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(7)),
        positions: vec![(CHAT, Seq(1))],
    }));

    // The catch-up fills the gap and goes past the message that waited behind it.
    reloaded.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (2..=4).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    assert_eq!(
        take_frames(&mut reloaded),
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(4)
        }],
        "caught up: nothing asked again"
    );
    assert_eq!(
        seqs(&reloaded),
        (1..=4).map(|seq| Some(Seq(seq))).collect::<Vec<_>>()
    );
}

#[test]
fn resync_sends_the_last_contiguous_position_per_chat() {
    let mut engine = online_alice();
    for seq in 1..=3 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "m")));
    }
    reconnect(&mut engine, Epoch(7));
    assert!(take_frames(&mut engine).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(7)),
        positions: vec![(CHAT, Seq(3))],
    }));
}

#[test]
fn a_changed_epoch_drops_old_positions() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "m")));
    reconnect(&mut engine, Epoch(8));
    assert!(take_frames(&mut engine).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(8)),
        positions: vec![],
    }));
}

/// Message `seq` of the chat in the server's new storage epoch: another message than the old
/// epoch's at that position.
fn renumbered(seq: u64) -> merpati_protocol::MessageFrame {
    merpati_protocol::MessageFrame {
        client_msg_id: ClientMsgId([100 + seq as u8; 16]),
        ..message(seq, BOB, "baru")
    }
}

/// Alice has read messages 1–5 of the chat, stored under epoch 7.
async fn alice_read_five(store: &MemoryStore) -> Engine {
    let mut engine = caught_up_alice();
    for seq in 1..=5 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "lama")));
    }
    engine.set_chat_on_screen(Some(CHAT));
    engine.set_chat_on_screen(None);
    apply(store, engine.take_step().writes).await;
    engine
}

#[tokio::test]
async fn after_an_epoch_change_the_old_epochs_messages_and_read_position_do_not_come_back() {
    let store = MemoryStore::new();
    let mut engine = alice_read_five(&store).await;

    // The server's database was restored from a backup: a new epoch, in which the chat ends
    // at 3 and alice had read it all.
    reconnect(&mut engine, Epoch(8));
    let mut restored = chat_info(3);
    restored.read = Seq(3);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: restored.clone(),
    });
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (1..=3).map(renumbered).collect(),
        more: false,
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let step = engine.take_step();
    assert!(
        !step
            .frames
            .iter()
            .any(|frame| matches!(frame, ClientFrame::MarkRead { .. })),
        "the old epoch's read position means nothing here: {:?}",
        step.frames
    );
    apply(&store, step.writes).await;

    // After a reload, the chat resumes from the new epoch's position, and the new epoch's
    // fourth message is shown, and unread.
    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(8));
    assert!(take_frames(&mut reloaded).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(8)),
        positions: vec![(CHAT, Seq(3))],
    }));
    reloaded.handle_frame(ServerFrame::Chat {
        request: None,
        chat: restored,
    });
    reloaded.handle_frame(ServerFrame::SyncDone);
    reloaded.handle_frame(ServerFrame::Message(renumbered(4)));
    let held: Vec<(Option<Seq>, ClientMsgId)> = reloaded
        .timeline(CHAT)
        .into_iter()
        .map(|item| (item.seq, item.client_msg_id))
        .collect();
    let expected: Vec<(Option<Seq>, ClientMsgId)> = (1..=4)
        .map(|seq| (Some(Seq(seq)), renumbered(seq).client_msg_id))
        .collect();
    assert_eq!(held, expected);
    assert_eq!(reloaded.chat_list()[0].unread, 1);
}

#[tokio::test]
async fn an_epoch_change_whose_store_writes_failed_is_carried_out_on_the_next_connection() {
    let store = MemoryStore::new();
    let mut engine = alice_read_five(&store).await;

    // The first connection under the new epoch: the step's writes fail, so the shell sends
    // nothing and drops the connection.
    engine.on_disconnected();
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [2; 32],
        epoch: Epoch(8),
    });
    let _failed = engine.take_step();

    reconnect(&mut engine, Epoch(8));
    apply(&store, engine.take_step().writes).await;
    let mut reloaded = reload(&store).await;
    assert!(reloaded.timeline(CHAT).is_empty());
    reconnect(&mut reloaded, Epoch(8));
    assert!(take_frames(&mut reloaded).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(8)),
        positions: vec![],
    }));
}

#[test]
fn a_message_of_an_unknown_chat_is_ignored() {
    let mut engine = online_alice();
    let mut elsewhere = message(1, BOB, "m");
    elsewhere.chat_id = ChatId(99);
    engine.handle_frame(ServerFrame::Message(elsewhere));
    assert!(engine.take_step().is_empty());
    assert!(engine.timeline(ChatId(99)).is_empty());
}

#[test]
fn a_message_the_server_delivers_again_is_refused_as_a_replay_and_the_first_stays() {
    let (mut engine, mut net) = published_alice();
    let original = net.bob_says(&mut engine, 1, "kirim 100 ribu");
    engine.handle_frame(ServerFrame::Message(original.clone()));
    // The same ciphertext as a new message (another id, the next position)...
    let mut as_new = original.clone();
    as_new.seq = Seq(2);
    as_new.client_msg_id = ClientMsgId([77; 16]);
    // ...and under its own id at another position.
    let mut same_id = original.clone();
    same_id.seq = Seq(3);
    engine.handle_frame(ServerFrame::Message(as_new));
    engine.handle_frame(ServerFrame::Message(same_id));
    // Delivered again at its own position: the same message, shown once.
    engine.handle_frame(ServerFrame::Message(original));
    let now = shown(&engine);
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(now[0], (MessageLock::Open, "kirim 100 ribu".to_owned()));
    for replay in &now[1..] {
        assert_eq!(replay.0, MessageLock::Refused, "{now:?}");
        assert!(replay.1.contains("copy of an earlier message"), "{now:?}");
    }
}

#[test]
fn a_member_added_again_catches_up_from_the_second_joining_without_asking_again_and_again() {
    // Alice held 1…3, was removed, and is added again at 6: the server lets her read from 6
    // on, so a page after 3 starts at 6, and 4 and 5 are not hers to hold.
    let mut engine = online_alice();
    for seq in 1..=3 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "lama")));
    }
    let _ = take_frames(&mut engine);
    engine.handle_frame(ServerFrame::Message(message(7, BOB, "tujuh")));
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::Fetch {
            chat_id: CHAT,
            after: Seq(3),
            limit: 500
        }]
    );
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![message(6, BOB, "enam"), message(7, BOB, "tujuh")],
        more: false,
    });
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(7)
        }],
        "caught up: what the server skipped is not asked for again"
    );
    assert_eq!(
        seqs(&engine),
        [1, 2, 3, 6, 7].map(|seq| Some(Seq(seq))).to_vec()
    );
    // And the next message follows on.
    engine.handle_frame(ServerFrame::Message(message(8, BOB, "delapan")));
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(8)
        }]
    );
}

/// Older messages read from the store while the server's storage epoch changed (every position
/// renumbered, the timeline emptied) are not put under the new epoch's positions, whether they
/// come back before the new epoch's messages or after: the new epoch's messages show.
#[tokio::test]
async fn older_messages_read_from_the_store_across_an_epoch_change_are_dropped() {
    for page_first in [true, false] {
        let mut engine = caught_up_alice();
        for seq in 1..=60 {
            engine.handle_frame(ServerFrame::Message(message(seq, BOB, "lama")));
        }
        // Read, so that a reload loads the newest page alone.
        engine.set_chat_on_screen(Some(CHAT));
        engine.set_chat_on_screen(None);
        let store = MemoryStore::new();
        apply(&store, engine.take_step().writes).await;
        let mut reloaded = reload(&store).await;
        reconnect(&mut reloaded, Epoch(7));
        let wanted = reloaded.older_wanted(CHAT).expect("older exist");
        assert_eq!(wanted.before, Seq(11), "the newest 50 loaded");
        let older = store
            .messages_before(CHAT, wanted.before, 50)
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(older.len(), 10);

        // The store was being read when the server's database came back from a backup.
        reconnect(&mut reloaded, Epoch(8));
        let new_epoch = ServerFrame::Page {
            chat_id: CHAT,
            messages: (1..=60).map(renumbered).collect(),
            more: false,
        };
        if page_first {
            reloaded.handle_frame(new_epoch.clone());
        }
        reloaded.insert_stored_older(CHAT, wanted, older);
        if !page_first {
            reloaded.handle_frame(new_epoch);
        }
        let shown: Vec<(Option<Seq>, ClientMsgId)> = reloaded
            .timeline(CHAT)
            .into_iter()
            .map(|item| (item.seq, item.client_msg_id))
            .collect();
        let new_epochs: Vec<(Option<Seq>, ClientMsgId)> = (1..=60)
            .map(|seq| (Some(Seq(seq)), renumbered(seq).client_msg_id))
            .collect();
        assert_eq!(shown, new_epochs, "page first: {page_first}");
    }
}

/// The server's storage was restored from a copy older than alice's chat with bob, and the
/// chat's id was given to another chat meanwhile: a group. What alice wrote to bob and was
/// never acknowledged must not go out there: it is taken out of the outbox and said to have
/// failed, and the group starts with nothing of the old chat in it.
#[test]
fn a_message_waiting_in_a_chat_whose_id_a_new_epoch_gave_to_another_goes_nowhere() {
    let (mut engine, mut net) = published_alice();
    engine.on_disconnected();
    let id = engine
        .send_text(CHAT, "rahasia, untuk bob saja", 2_000)
        .expect("queued");
    let _ = engine.take_step();

    reconnect(&mut engine, Epoch(8));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: merpati_protocol::ChatInfo {
            kind: merpati_protocol::ChatKind::Group,
            title: "Arisan".to_owned(),
            created_ms: 9_000,
            ..chat_info(0)
        },
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let step = net.serve(&mut engine);
    assert!(
        !step.frames.iter().any(
            |frame| matches!(frame, ClientFrame::Send { client_msg_id, .. } if *client_msg_id == id)
        ),
        "nothing goes to the other chat: {:?}",
        step.frames
    );
    assert!(step.events.iter().any(|event| matches!(
        event,
        merpati_core::Event::SendFailed { client_msg_id, .. } if *client_msg_id == id
    )));
    assert!(
        engine.timeline(CHAT).is_empty(),
        "nothing of it shows there"
    );
    assert!(
        step.writes.iter().any(
            |write| matches!(write, merpati_core::StoreWrite::RemoveOutbox(gone) if *gone == id)
        ),
        "nor comes back after a reload"
    );
}

/// bob's message is committed just after alice is added to the chat, and its fan-out reaches
/// her before the chat's description does: it is held, not dropped, and shows once the chat
/// comes — the description names a head just before it, so nothing else would ask for it.
#[test]
fn a_message_that_comes_before_its_chat_shows_once_the_chat_comes() {
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let _ = engine.take_step();

    engine.handle_frame(ServerFrame::Message(message(12, BOB, "selamat datang")));
    assert!(
        engine.timeline(CHAT).is_empty(),
        "no chat to show it in yet"
    );
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(11),
    });
    assert!(
        seqs(&engine).contains(&Some(Seq(12))),
        "shown with its chat: {:?}",
        seqs(&engine)
    );
}
