//! The end-to-end key flow's own rules: a refused request is not retried in a loop, a
//! message waiting for its key reads the backup again when it changes, keys are published in
//! frames the server reads cheaply, a fallback key counts as published only once the server
//! has answered the publish that carried it, a changed account key holds what is written
//! to that person until the change is confirmed, and someone who joins a group while a
//! message is on its way gets the key to read it (and nothing from before they joined).

use merpati_core::{Engine, Event, MemoryStore, MessageLock, e2e::Opened};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, Epoch, ErrorCode, Member, MessageFrame, Seq,
    ServerFrame, UserId, keys::OneTimeKey,
};

use crate::support::alice::{
    ALICE, BOB, CHAT, Net, apply, caught_up_alice, challenged_alice, member, message,
    published_alice, reconnect, reload, sent_body, sent_ids, take_frames,
};

#[test]
fn a_changed_account_key_holds_what_is_written_there_until_the_person_confirms() {
    let (mut engine, mut net) = published_alice();
    let before = engine.send_text(CHAT, "sebelum", 10).expect("a text");
    assert_eq!(sent_ids(&net.serve(&mut engine).frames), [before]);

    // The directory now shows another account key for bob (a lying server, or bob's new
    // passphrase): the device hears of it and pins nothing new silently.
    let other_key = vodozemac::Ed25519SecretKey::new().public_key();
    net.keys.swap_account_key(BOB, *other_key.as_bytes());
    engine.handle_frame(ServerFrame::DevicesChanged { user: BOB });
    let _ = net.serve(&mut engine);
    let held = engine.send_text(CHAT, "sesudah", 20).expect("a text");
    let step = net.serve(&mut engine);
    assert!(engine.key_change(CHAT).is_some(), "the chat says so");
    assert!(
        sent_ids(&step.frames).is_empty(),
        "nothing goes out: {:?}",
        step.frames
    );
    assert!(
        step.frames
            .iter()
            .all(|frame| !matches!(frame, ClientFrame::SendToDevice { .. })),
        "no key is shared either"
    );

    // The person compared the safety number and confirmed: what waited goes out.
    engine.acknowledge_key_change(CHAT);
    assert_eq!(engine.key_change(CHAT), None);
    assert_eq!(sent_ids(&net.serve(&mut engine).frames), [held]);
}

#[test]
fn a_refused_key_query_is_not_retried_in_a_loop_on_the_same_connection() {
    let mut engine = caught_up_alice();
    engine.handle_frame(ServerFrame::KeysPublished { one_time_keys: 50 });
    // Signed in with the passphrase: the backup's pins come first (there are none).
    let fetch = take_frames(&mut engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::FetchBackup { request, .. } => Some(request),
            _ => None,
        })
        .expect("the backup is read first");
    engine.handle_frame(ServerFrame::Backup {
        request: fetch,
        entries: Vec::new(),
        more: false,
    });
    let query = take_frames(&mut engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::QueryKeys { request, .. } => Some(request),
            _ => None,
        })
        .expect("bob's keys are asked for");
    engine.handle_frame(ServerFrame::Error {
        request: Some(query),
        code: ErrorCode::LimitReached,
        detail: String::new(),
    });
    let step = engine.take_step();
    assert!(
        !step
            .frames
            .iter()
            .any(|frame| matches!(frame, ClientFrame::QueryKeys { .. })),
        "not asked again on this connection"
    );
    assert!(
        step.events
            .iter()
            .all(|event| !matches!(event, Event::RequestFailed { .. })),
        "the key flow's own failure is not the person's"
    );
}

#[test]
fn a_waiting_message_reads_the_backup_again_when_another_device_adds_to_it() {
    let (mut engine, mut net) = published_alice();
    // A message under a session whose key alice's device was never sent.
    let (locked, _key_share_lost) = net.bob_rotates_and_writes(1, "lewat cadangan");
    engine.handle_frame(ServerFrame::Message(locked));
    assert_eq!(engine.timeline(CHAT)[0].lock, MessageLock::Waiting);
    let fetches = |frames: &[ClientFrame]| {
        frames
            .iter()
            .filter(|frame| matches!(frame, ClientFrame::FetchBackup { .. }))
            .count()
    };
    // It looks in the backup at once (the directory answers: nothing there yet) ...
    let _ = net.serve(&mut engine);
    assert_eq!(engine.timeline(CHAT)[0].lock, MessageLock::Waiting);
    assert!(take_frames(&mut engine).is_empty(), "then waits");
    // ... and again when another device of the account says it added keys.
    engine.handle_frame(ServerFrame::BackupChanged);
    let frames = take_frames(&mut engine);
    assert_eq!(fetches(&frames), 1, "{frames:?}");
}

#[test]
fn keys_are_published_in_frames_small_enough_for_the_servers_read_buffer() {
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    let mut stored = 0u32;
    let mut frames = 0;
    loop {
        let publishes: Vec<ClientFrame> = take_frames(&mut engine)
            .into_iter()
            .filter(|frame| matches!(frame, ClientFrame::PublishKeys { .. }))
            .collect();
        let Some(publish) = publishes.first() else {
            break;
        };
        let ClientFrame::PublishKeys { one_time_keys, .. } = publish else {
            unreachable!("filtered");
        };
        // The server reads frames into a 1 KiB buffer that a frame over half of it grows for
        // good (see `ONE_TIME_KEYS_PER_PUBLISH`).
        let size = merpati_protocol::encode(publish).len();
        assert!(size <= 500, "a {size}-byte PublishKeys");
        stored += one_time_keys.len() as u32;
        frames += 1;
        engine.handle_frame(ServerFrame::KeysPublished {
            one_time_keys: stored,
        });
        assert!(frames < 30, "tops up to a target and stops");
    }
    assert_eq!(stored, merpati_core::e2e::ONE_TIME_KEY_TARGET);
}

/// The publishes `engine` has queued: (one-time keys, fallback key) of each.
fn publishes(engine: &mut merpati_core::Engine) -> Vec<(usize, Option<[u8; 32]>)> {
    take_frames(engine)
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::PublishKeys {
                one_time_keys,
                fallback_key,
                ..
            } => Some((one_time_keys.len(), fallback_key.map(|key| key.key))),
            _ => None,
        })
        .collect()
}

#[test]
fn a_device_told_its_keys_were_claimed_tops_up_and_replaces_a_handed_out_fallback_key() {
    let mut engine = caught_up_alice();
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    let _ = take_frames(&mut engine);

    // Others claimed some keys: the device publishes more, and no new fallback key.
    engine.handle_frame(ServerFrame::KeysClaimed {
        one_time_keys: 30,
        fallback_claimed: false,
    });
    let topped_up = publishes(&mut engine);
    assert_eq!(topped_up.len(), 1, "{topped_up:?}");
    assert!(
        topped_up[0].0 > 0 && topped_up[0].1.is_none(),
        "{topped_up:?}"
    );

    // Its fallback key was handed out: a new one goes with the next publish, once.
    engine.handle_frame(ServerFrame::KeysClaimed {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
        fallback_claimed: true,
    });
    let rotated = publishes(&mut engine);
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert_eq!(rotated[0].0, 0, "no one-time keys were missing");
    assert!(rotated[0].1.is_some(), "a new fallback key: {rotated:?}");
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    assert!(publishes(&mut engine).is_empty(), "and nothing more");
}

#[test]
fn a_key_share_refused_whole_holds_the_messages_and_is_tried_again_later() {
    let (mut engine, mut net) = published_alice();
    engine.advance_clock(1_000);
    let written = engine.send_text(CHAT, "halo", 1_000).expect("a text");
    // Everything the key flow asks is answered but the share, which the server refuses whole
    // (too many requests): the message must not go out without its key.
    let step = net.serve_holding(&mut engine, |frame| {
        matches!(frame, ClientFrame::SendToDevice { .. })
    });
    assert!(
        sent_ids(&step.frames).is_empty(),
        "no message before its key"
    );
    let share = step.frames.iter().find_map(|frame| match frame {
        ClientFrame::SendToDevice { request, .. } => Some(*request),
        _ => None,
    });
    let share = share.expect("the key is shared");
    engine.handle_frame(ServerFrame::Error {
        request: Some(share),
        code: ErrorCode::TooManyRequests,
        detail: String::new(),
    });
    let step = engine.take_step();
    assert!(
        sent_ids(&step.frames).is_empty(),
        "still held: {:?}",
        step.frames
    );
    let retry_at = engine
        .next_clock_change_ms()
        .expect("the share is tried again at a time");
    assert!(retry_at > 1_000);

    // At that time the share goes again; once stored, the message follows.
    engine.advance_clock(retry_at);
    assert_eq!(sent_ids(&net.serve(&mut engine).frames), [written]);
}

#[test]
fn a_refused_claim_or_query_holds_the_messages_and_is_tried_again_later() {
    for refused in ["claim", "query"] {
        let (mut engine, mut net) = published_alice();
        engine.advance_clock(1_000);
        let written = engine.send_text(CHAT, "halo", 1_000).expect("a text");
        let held = |frame: &ClientFrame| match frame {
            ClientFrame::ClaimKeys { request, .. } if refused == "claim" => Some(*request),
            ClientFrame::QueryKeys { request, .. } if refused == "query" => Some(*request),
            _ => None,
        };
        let step = net.serve_holding(&mut engine, |frame| held(frame).is_some());
        let request = step.frames.iter().find_map(held);
        let request = request.unwrap_or_else(|| panic!("a {refused}: {:?}", step.frames));
        // Too many asked of the server for now: bob's device is not left out of the key.
        engine.handle_frame(ServerFrame::Error {
            request: Some(request),
            code: ErrorCode::TooManyRequests,
            detail: String::new(),
        });
        let step = engine.take_step();
        assert!(
            sent_ids(&step.frames).is_empty(),
            "after a refused {refused}, still held: {:?}",
            step.frames
        );
        let retry_at = engine
            .next_clock_change_ms()
            .expect("the request is made again at a time");
        assert!(retry_at > 1_000);
        engine.advance_clock(retry_at);
        let step = net.serve(&mut engine);
        assert_eq!(
            sent_ids(&step.frames),
            [written],
            "after a refused {refused}"
        );
        assert!(
            matches!(net.bob.open(&as_stored(&step.frames)), Opened::Content(_)),
            "bob's device has the key"
        );
    }
}

#[test]
fn a_query_whose_answer_would_not_fit_a_frame_is_asked_of_fewer_at_a_time() {
    let (mut engine, mut net) = published_alice();
    let carol = UserId(3);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(
            vec![
                member(ALICE, "alice"),
                member(BOB, "bob"),
                member(carol, "carol"),
            ],
            0,
        ),
    });
    let written = engine.send_text(GROUP, "halo", 1_000).expect("a text");
    let is_query = |frame: &ClientFrame| matches!(frame, ClientFrame::QueryKeys { .. });
    let asked = |frames: &[ClientFrame]| {
        frames.iter().find_map(|frame| match frame {
            ClientFrame::QueryKeys { request, users } => Some((*request, users.len())),
            _ => None,
        })
    };
    let step = net.serve_holding(&mut engine, is_query);
    let (request, people) = asked(&step.frames).expect("a query");
    assert_eq!(people, 2, "bob and carol");
    // The server cannot fit their keys in one frame.
    engine.handle_frame(ServerFrame::Error {
        request: Some(request),
        code: ErrorCode::LimitReached,
        detail: String::new(),
    });
    let step = net.serve_holding(&mut engine, is_query);
    assert!(sent_ids(&step.frames).is_empty(), "nothing before the keys");
    let (_, people) = asked(&step.frames).expect("asked again at once");
    assert_eq!(people, 1, "half as many at a time");
    for frame in step.frames.iter().filter(|frame| is_query(frame)) {
        let handled = net.keys.handle(ALICE, &mut net.alice_device, frame);
        for reply in handled.map(|handled| handled.reply).unwrap_or_default() {
            engine.handle_frame(reply);
        }
    }
    // The other one is asked next; then the message goes.
    assert_eq!(sent_ids(&net.serve(&mut engine).frames), [written]);
}

#[test]
fn a_device_a_claim_is_answered_without_is_not_claimed_again_and_again() {
    let (mut engine, mut net) = published_alice();
    let written = engine.send_text(CHAT, "halo", 1_000).expect("a text");
    let is_claim = |frame: &ClientFrame| matches!(frame, ClientFrame::ClaimKeys { .. });
    let step = net.serve_holding(&mut engine, is_claim);
    let claim = step.frames.into_iter().find(is_claim).expect("a claim");
    // Bob's device is signed out after it was listed: the claim's answer leaves it out.
    let bobs = net.bob_device.expect("bob's device");
    net.keys.forget_device(bobs);
    let handled = net.keys.handle(ALICE, &mut net.alice_device, &claim);
    for reply in handled.map(|handled| handled.reply).unwrap_or_default() {
        engine.handle_frame(reply);
    }
    let step = net.serve_holding(&mut engine, is_claim);
    assert!(
        !step.frames.iter().any(is_claim),
        "not claimed again: {:?}",
        step.frames
    );
    assert_eq!(sent_ids(&step.frames), [written]);
}

#[test]
fn a_new_browser_of_the_account_trusts_the_pins_of_its_other_browsers_not_the_server() {
    // Alice's first browser writes to bob: it pins bob's key and puts the pin in the backup.
    let (mut first, mut net) = published_alice();
    first.send_text(CHAT, "halo", 10).expect("a text");
    assert_eq!(sent_ids(&net.serve(&mut first).frames).len(), 1);

    // Then the server shows another key for bob (it swaps his account key) — to a browser of
    // alice's that has never seen bob's.
    let other_key = vodozemac::Ed25519SecretKey::new().public_key();
    net.keys.swap_account_key(BOB, *other_key.as_bytes());
    let mut second = caught_up_alice();
    let mut second_device = None;
    std::mem::swap(&mut net.alice_device, &mut second_device);
    second.send_text(CHAT, "dari laptop", 20).expect("a text");
    let step = net.serve(&mut second);
    std::mem::swap(&mut net.alice_device, &mut second_device);

    // It read the account's pin before asking for bob's keys, so the new key is a change to
    // confirm, not a first sight to trust; and nothing went out to it.
    assert!(
        step.events.contains(&Event::KeyChanged { user: BOB }),
        "{:?}",
        step.events
    );
    assert!(second.key_change(CHAT).is_some());
    assert!(sent_ids(&step.frames).is_empty(), "{:?}", step.frames);
}

/// The first message among `frames` as the server would store it (number 1 of the chat).
fn as_stored(frames: &[ClientFrame]) -> MessageFrame {
    let client_msg_id = *sent_ids(frames).first().expect("a message sent");
    let body = sent_body(frames, client_msg_id).expect("its body");
    MessageFrame {
        client_msg_id,
        body,
        ..message(1, ALICE, "")
    }
}

/// The fallback keys of the publishes among `frames` (`None`: a publish without one).
fn fallback_keys(frames: Vec<ClientFrame>) -> Vec<Option<OneTimeKey>> {
    frames
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::PublishKeys { fallback_key, .. } => Some(fallback_key),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fallback_key_whose_publish_was_lost_goes_again_with_the_next_connection() {
    let mut engine = caught_up_alice();
    // The step's frames never reach the server (the connection dropped first, or the
    // shell's store write failed and it dropped them).
    let lost = fallback_keys(take_frames(&mut engine));
    let fallback = lost[0]
        .clone()
        .expect("a new device publishes a fallback key");

    reconnect(&mut engine, Epoch(7));
    assert_eq!(
        fallback_keys(take_frames(&mut engine)),
        [Some(fallback)],
        "the server has no fallback key of this device yet"
    );

    // The server answered that publish: the key is held, and not sent again.
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    let _ = take_frames(&mut engine);
    reconnect(&mut engine, Epoch(7));
    assert_eq!(fallback_keys(take_frames(&mut engine)), [None]);
}

#[tokio::test]
async fn a_fallback_key_whose_publish_was_lost_goes_again_after_a_reload() {
    let mut engine = caught_up_alice();
    // The step's writes are durable, but its frames never leave: the tab closes first.
    let step = engine.take_step();
    let fallback = fallback_keys(step.frames)[0]
        .clone()
        .expect("a new device publishes a fallback key");
    let store = MemoryStore::new();
    apply(&store, step.writes).await;

    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    assert_eq!(fallback_keys(take_frames(&mut reloaded)), [Some(fallback)]);
}

#[test]
fn a_replacement_fallback_key_whose_publish_was_lost_goes_again_not_a_third_one() {
    let mut engine = caught_up_alice();
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    let _ = take_frames(&mut engine);
    engine.handle_frame(ServerFrame::KeysClaimed {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
        fallback_claimed: true,
    });
    let replacement = fallback_keys(take_frames(&mut engine))[0]
        .clone()
        .expect("a new fallback key");

    // That publish is lost: the next connection carries the same replacement, so the server
    // stops handing out the old key and the device keeps the one sessions may still use.
    reconnect(&mut engine, Epoch(7));
    assert_eq!(fallback_keys(take_frames(&mut engine)), [Some(replacement)]);
}

/// Alice's group: she created it, alone in it at first.
const GROUP: ChatId = ChatId(20);

fn group(members: Vec<Member>, head: u64) -> ChatInfo {
    ChatInfo {
        id: GROUP,
        kind: ChatKind::Group,
        title: "arisan".into(),
        members,
        head: Seq(head),
        read: Seq(0),
        created_ms: 1_000,
        admins: vec![ALICE],
        receipts: Vec::new(),
    }
}

/// Alice sends `text` in the group; the message as the server will serve it at `seq`.
fn sent_in_group(engine: &mut Engine, net: &mut Net, text: &str, seq: u64) -> MessageFrame {
    let id = engine.send_text(GROUP, text, 10).expect("a text");
    let body = sent_body(&net.serve(engine).frames, id).expect("sent");
    MessageFrame {
        chat_id: GROUP,
        seq: Seq(seq),
        client_msg_id: id,
        sender: ALICE,
        sent_at_ms: 10,
        body,
    }
}

fn acknowledge(engine: &mut Engine, message: &MessageFrame) {
    engine.handle_frame(ServerFrame::Ack {
        chat_id: GROUP,
        client_msg_id: message.client_msg_id,
        seq: message.seq,
        sent_at_ms: message.sent_at_ms,
    });
}

#[test]
fn someone_added_while_a_message_is_on_its_way_gets_its_key_whichever_alice_hears_first() {
    for ack_first in [false, true] {
        let (mut engine, mut net) = published_alice();
        engine.handle_frame(ServerFrame::Chat {
            request: None,
            chat: group(vec![member(ALICE, "alice")], 1),
        });
        let before = sent_in_group(&mut engine, &mut net, "sebelum", 2);
        acknowledge(&mut engine, &before);
        let _ = net.serve(&mut engine);

        // Bob is added (the line at 3) while her next message is on its way: stored after it
        // (4), so the server serves it to him. She may hear of either first.
        let during = sent_in_group(&mut engine, &mut net, "selama", 4);
        let added = ServerFrame::Chat {
            request: None,
            chat: group(vec![member(ALICE, "alice"), member(BOB, "bob")], 3),
        };
        if ack_first {
            acknowledge(&mut engine, &during);
            engine.handle_frame(added);
        } else {
            engine.handle_frame(added);
            acknowledge(&mut engine, &during);
        }
        // Nothing more is sent, yet the key goes to bob's device.
        let _ = net.serve(&mut engine);
        assert!(
            matches!(net.bob.open(&during), Opened::Content(_)),
            "bob reads the message stored after he joined (Ack first: {ack_first})"
        );
        assert!(
            !matches!(net.bob.open(&before), Opened::Content(_)),
            "but not the one stored before (Ack first: {ack_first})"
        );
    }
}

/// Two changes to a group committed together are pushed in either order: the older
/// description, arriving after the newer one, neither puts back a member just removed nor
/// shares the group's key with them.
#[test]
fn an_older_description_of_a_group_pushed_late_does_not_bring_back_a_removed_member() {
    let (mut engine, mut net) = published_alice();
    let both = vec![member(ALICE, "alice"), member(BOB, "bob")];
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(both.clone(), 1),
    });
    let before = sent_in_group(&mut engine, &mut net, "sebelum", 2);
    acknowledge(&mut engine, &before);
    let _ = net.serve(&mut engine);
    assert!(matches!(net.bob.open(&before), Opened::Content(_)));

    // Bob is removed (4) just after the group was renamed (3): the removal's description
    // comes first, the rename's, which still names bob, after it.
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(vec![member(ALICE, "alice")], 4),
    });
    let mut renamed = group(both, 3);
    renamed.title = "arisan baru".into();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: renamed,
    });
    assert!(engine.member_name(GROUP, BOB).is_none(), "bob is back");
    let after = sent_in_group(&mut engine, &mut net, "sesudah", 5);
    let _ = net.serve(&mut engine);
    assert!(
        !matches!(net.bob.open(&after), Opened::Content(_)),
        "bob reads what was written after he was removed"
    );
}
