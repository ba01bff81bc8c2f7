//! What the person asks: new chats, read positions and older history; and the chat list the
//! answers change.

use merpati_core::{Event, MemoryStore, RequestError, StoreWrite};
use merpati_protocol::{ChatId, ChatKind, ClientFrame, Epoch, Seq, ServerFrame, UserId};

use crate::support::alice::{
    ALICE, BOB, CHAT, apply, challenged_alice, chat_info, member, message, online_alice,
    published_alice, reconnect, reload, take_frames,
};

#[test]
fn unread_counts_others_messages_until_marked_read() {
    let (mut engine, mut net) = published_alice();
    let satu = net.bob_says(&mut engine, 1, "satu");
    let dua = net.bob_says(&mut engine, 2, "dua");
    engine.handle_frame(ServerFrame::Message(satu));
    engine.handle_frame(ServerFrame::Message(dua));
    let summary = &engine.chat_list()[0];
    assert_eq!((summary.title.as_str(), summary.unread), ("bob", 2));
    assert_eq!(summary.last_text.as_deref(), Some("dua"));
    engine.mark_read(CHAT);
    assert_eq!(engine.chat_list()[0].unread, 0);
    assert_eq!(
        take_frames(&mut engine),
        vec![
            ClientFrame::MarkRead {
                chat_id: CHAT,
                seq: Seq(2)
            },
            ClientFrame::MarkDelivered {
                chat_id: CHAT,
                seq: Seq(2)
            }
        ]
    );
}

#[test]
fn what_a_chat_last_received_is_never_the_persons_own_message() {
    let (mut engine, mut net) = published_alice();
    assert_eq!(engine.chat_list()[0].last_received, None);
    let satu = net.bob_says(&mut engine, 1, "satu");
    engine.handle_frame(ServerFrame::Message(satu));
    // Her own reply, waiting in the outbox, is the chat's last text, not what it received.
    engine.send_text(CHAT, "dua", 9_000).expect("queued");
    let summary = &engine.chat_list()[0];
    assert_eq!(summary.last_text.as_deref(), Some("dua"));
    assert_eq!(summary.last_received, Some((BOB, "satu".to_owned())));
}

#[test]
fn the_chat_list_is_ordered_by_latest_activity() {
    let mut engine = online_alice();
    let mut group = chat_info(0);
    group.id = ChatId(11);
    group.kind = ChatKind::Group;
    group.title = "Keluarga".into();
    group.created_ms = 500;
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group,
    });
    assert_eq!(engine.chat_list()[0].title, "bob", "created later");
    let mut in_group = message(1, BOB, "halo semua");
    in_group.chat_id = ChatId(11);
    engine.handle_frame(ServerFrame::Message(in_group));
    assert_eq!(
        engine.chat_list()[0].title,
        "Keluarga",
        "newest message first"
    );
}

#[test]
fn created_chats_are_reported_ready() {
    let mut engine = online_alice();
    let request = engine
        .create_group("Keluarga", "bob, carol")
        .expect("connected");
    assert!(matches!(
        take_frames(&mut engine).as_slice(),
        [ClientFrame::CreateChat { .. }]
    ));
    let mut group = chat_info(0);
    group.id = ChatId(12);
    engine.handle_frame(ServerFrame::Chat {
        request: Some(request),
        chat: group,
    });
    assert!(engine.take_step().events.contains(&Event::ChatReady {
        request,
        chat_id: ChatId(12)
    }));
    assert!(engine.create_direct("not valid!").is_err());
}

#[test]
fn a_removal_is_answered_with_the_changed_chat() {
    let mut engine = online_alice();
    let mut group = chat_info(0);
    group.id = ChatId(11);
    group.kind = ChatKind::Group;
    group.members.push(member(UserId(3), "carol"));
    // Only admins take others out.
    group.admins = vec![ALICE];
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group.clone(),
    });
    let request = engine
        .remove_member(ChatId(11), UserId(3))
        .expect("connected");
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::RemoveMember {
            request,
            chat_id: ChatId(11),
            user: UserId(3)
        }]
    );
    group.members.retain(|member| member.id != UserId(3));
    engine.handle_frame(ServerFrame::Chat {
        request: Some(request),
        chat: group,
    });
    assert!(engine.take_step().events.contains(&Event::ChatReady {
        request,
        chat_id: ChatId(11)
    }));
    assert!(engine.is_member(ChatId(11)));
    assert_eq!(engine.member_name(ChatId(11), UserId(3)), None);
    assert_eq!(
        engine
            .member_name(ChatId(11), ALICE)
            .map(ToString::to_string),
        Some("alice".to_owned())
    );
}

#[test]
fn requests_wait_for_a_connection_and_fail_when_it_drops() {
    let mut engine = online_alice();
    let request = engine.create_direct("bob").expect("connected");
    engine.on_disconnected();
    assert!(
        engine
            .take_step()
            .events
            .iter()
            .any(|event| matches!(event, Event::RequestFailed { request: Some(failed), .. } if *failed == request)),
        "the person learns it did not happen"
    );
    assert_eq!(engine.create_direct("bob"), Err(RequestError::NotConnected));
}

#[test]
fn older_history_comes_from_the_server_when_the_store_has_none() {
    // A new device: the chat already holds 100 messages, the sync sends the newest 50.
    let mut engine = holding_the_newest_fifty_of(100);
    let wanted = engine.older_wanted(CHAT).expect("older exist");
    assert_eq!(wanted.before, Seq(51));
    engine.insert_stored_older(CHAT, wanted, vec![]);
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::History {
            chat_id: CHAT,
            before: Seq(51),
            limit: 50
        }]
    );
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (1..=50).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    assert_eq!(engine.timeline(CHAT).len(), 100);
    assert_eq!(engine.older_wanted(CHAT), None);
}

#[tokio::test]
async fn history_the_store_lost_below_what_it_holds_is_asked_of_the_server() {
    // The chat's record says 1…10 are held, but the store keeps only 6…10 (another tab
    // started an epoch afresh under it, say).
    let mut engine = online_alice();
    for seq in 1..=10 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "m")));
    }
    let mut writes = engine.take_step().writes;
    for write in &mut writes {
        if let StoreWrite::PutMessages(messages) = write {
            messages.retain(|message| message.seq > Seq(5));
        }
    }
    let store = MemoryStore::new();
    apply(&store, writes).await;
    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    reloaded.handle_frame(ServerFrame::SyncDone);
    let _ = take_frames(&mut reloaded);

    let wanted = reloaded.older_wanted(CHAT).expect("older exist");
    assert_eq!(wanted.before, Seq(6));
    reloaded.insert_stored_older(CHAT, wanted, vec![]);
    let step = reloaded.take_step();
    assert_eq!(
        step.frames,
        vec![ClientFrame::History {
            chat_id: CHAT,
            before: Seq(6),
            limit: 50
        }]
    );
    assert!(
        step.writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutChat(_))),
        "the record says what is held again"
    );
    reloaded.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (1..=5).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    assert_eq!(reloaded.timeline(CHAT).len(), 10);
}

#[test]
fn older_history_stays_reachable_when_a_live_message_came_before_the_newest_page() {
    // A new device: the chat holds 200 messages, 201 arrives live before the sync's newest
    // page (102..=201) does.
    let mut engine = signed_in_with_a_chat_of(200);
    engine.handle_frame(ServerFrame::Message(message(201, BOB, "m")));
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (102..=201).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let _ = engine.take_step();

    // Scrolling up: the store holds nothing older than what is loaded, so each scroll asks
    // the server, which answers with the 50 messages before the position asked about.
    let mut asked = Vec::new();
    while let Some(wanted) = engine.older_wanted(CHAT)
        && asked.len() < 6
    {
        engine.insert_stored_older(CHAT, wanted, vec![]);
        let before = match take_frames(&mut engine).as_slice() {
            [ClientFrame::History { before, .. }] => *before,
            other => panic!("expected history asked for, got {other:?}"),
        };
        asked.push(before);
        let first = before.0.saturating_sub(50).max(1);
        engine.handle_frame(ServerFrame::Page {
            chat_id: CHAT,
            messages: (first..before.0)
                .map(|seq| message(seq, BOB, "m"))
                .collect(),
            // As the server says: whether older messages remain.
            more: first > 1,
        });
    }
    assert_eq!(asked, vec![Seq(102), Seq(52), Seq(2)]);
    assert_eq!(engine.timeline(CHAT).len(), 201, "the whole chat, from 1");
}

#[test]
fn the_devices_are_listed_and_ending_one_lists_them_again() {
    use merpati_protocol::sessions::{SessionInfo, SessionRef};

    let session = |byte: u8, current: bool| SessionInfo {
        session: SessionRef([byte; 16]),
        device: None,
        created_ms: 1_000,
        last_used_ms: 86_400_000,
        current,
        client: None,
    };
    let mut engine = online_alice();
    assert_eq!(engine.devices(), None, "not asked yet");
    let listed = engine.list_devices().expect("online");
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::ListSessions { request: listed }]
    );
    engine.handle_frame(ServerFrame::Sessions {
        request: listed,
        sessions: vec![session(1, true), session(2, false)],
    });
    assert!(
        engine
            .take_step()
            .events
            .contains(&Event::RequestDone { request: listed })
    );
    assert_eq!(engine.devices().map(<[_]>::len), Some(2));

    let ended = engine.end_device(SessionRef([2; 16])).expect("online");
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::EndSession {
            request: ended,
            session: SessionRef([2; 16])
        }]
    );
    engine.handle_frame(ServerFrame::SessionEnded { request: ended });
    let step = engine.take_step();
    assert!(step.events.contains(&Event::RequestDone { request: ended }));
    let again = match step.frames.as_slice() {
        [ClientFrame::ListSessions { request }] => *request,
        other => panic!("expected the list asked for again, got {other:?}"),
    };
    engine.handle_frame(ServerFrame::Sessions {
        request: again,
        sessions: vec![session(1, true)],
    });
    assert_eq!(engine.devices().map(<[_]>::len), Some(1));
}

#[test]
fn devices_are_not_asked_for_offline() {
    let mut engine = challenged_alice("correct horse battery");
    assert_eq!(engine.list_devices(), Err(RequestError::NotConnected));
}

/// A new device signed in, told of a chat of `head` messages and nothing of them yet.
fn signed_in_with_a_chat_of(head: u64) -> merpati_core::Engine {
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(head),
    });
    engine
}

/// A new device holding the newest 50 of a chat's `head` messages, caught up.
fn holding_the_newest_fifty_of(head: u64) -> merpati_core::Engine {
    let mut engine = signed_in_with_a_chat_of(head);
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (head - 49..=head)
            .map(|seq| message(seq, BOB, "m"))
            .collect(),
        more: false,
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let _ = engine.take_step();
    engine
}

/// Asks for older messages where the store has none; the frames that sends.
fn scrolled_to_the_top(engine: &mut merpati_core::Engine) -> Vec<ClientFrame> {
    let wanted = engine.older_wanted(CHAT).expect("older exist");
    engine.insert_stored_older(CHAT, wanted, vec![]);
    take_frames(engine)
}

fn history_before(seq: u64) -> ClientFrame {
    ClientFrame::History {
        chat_id: CHAT,
        before: Seq(seq),
        limit: 50,
    }
}

#[test]
fn history_answered_after_the_store_gave_some_of_it_is_taken_and_the_next_asks_below_it() {
    let mut engine = holding_the_newest_fifty_of(200);
    assert_eq!(scrolled_to_the_top(&mut engine), [history_before(151)]);
    // Meanwhile another tab of the browser stored 146…150, which this one reads from the
    // store.
    let wanted = engine.older_wanted(CHAT).expect("older exist");
    let stored = (146..=150).map(|seq| message(seq, BOB, "m")).collect();
    engine.insert_stored_older(CHAT, wanted, stored);
    // The answer, 101…150, ends above the floor now, and is still the history asked for.
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (101..=150).map(|seq| message(seq, BOB, "m")).collect(),
        more: true,
    });
    let _ = engine.take_step();
    assert_eq!(engine.timeline(CHAT).len(), 100);
    // So the next scroll to the top asks for what lies below it.
    assert_eq!(scrolled_to_the_top(&mut engine), [history_before(101)]);
}

#[test]
fn history_that_ends_at_the_joining_line_is_not_asked_for_again_on_the_connection() {
    // Alice was added at 50: below her first message the server has nothing for her.
    let mut engine = holding_the_newest_fifty_of(100);
    assert_eq!(scrolled_to_the_top(&mut engine).len(), 1);
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: Vec::new(),
        more: false,
    });
    let _ = engine.take_step();
    assert_eq!(scrolled_to_the_top(&mut engine), [], "asked again");
    // A new connection asks once more.
    reconnect(&mut engine, Epoch(7));
    engine.handle_frame(ServerFrame::SyncDone);
    let _ = engine.take_step();
    assert_eq!(scrolled_to_the_top(&mut engine).len(), 1);
}
