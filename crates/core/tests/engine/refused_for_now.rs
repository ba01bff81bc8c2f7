//! What the server refuses for now while a connection catches up (the account's allowance
//! spent), where the refusal names no request: the device's first publish, told apart by the
//! order answers come in and sent again after a growing wait, and a sync asked again without
//! losing the chats the first one already named.

use merpati_core::{Engine, MessageStatus, PrivacySettings, e2e::Opened};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, ErrorCode, MessageFrame, Seq,
    ServerFrame, keys::OneTimeKey,
};

use crate::support::alice::{
    ALICE, BOB, CHAT, Net, challenged_alice, chat_info, member, message, sent_body, sent_ids,
    take_frames,
};

const G1: ChatId = ChatId(30);
const G2: ChatId = ChatId(31);

/// A group of alice and bob.
fn group(id: ChatId) -> ServerFrame {
    ServerFrame::Chat {
        request: None,
        chat: ChatInfo {
            id,
            kind: ChatKind::Group,
            title: "arisan".into(),
            members: vec![member(ALICE, "alice"), member(BOB, "bob")],
            head: Seq(0),
            read: Seq(0),
            created_ms: 1_000,
            admins: vec![ALICE],
            receipts: Vec::new(),
        },
    }
}

/// The account's allowance is spent: refused, the refusal naming no request.
fn too_many_requests() -> ServerFrame {
    ServerFrame::Error {
        request: None,
        code: ErrorCode::TooManyRequests,
        detail: "too many requests of this kind; try again in 2 s".to_owned(),
    }
}

fn welcome() -> ServerFrame {
    ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    }
}

fn syncs(frames: &[ClientFrame]) -> usize {
    frames
        .iter()
        .filter(|frame| matches!(frame, ClientFrame::Sync { .. }))
        .count()
}

/// The publishes among `frames`: whether each proves the device, and its fallback key.
fn publishes(frames: &[ClientFrame]) -> Vec<(bool, Option<OneTimeKey>)> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::PublishKeys {
                device_proof,
                fallback_key,
                ..
            } => Some((device_proof.is_some(), fallback_key.clone())),
            _ => None,
        })
        .collect()
}

/// How message `id` shows in the chat.
fn status(engine: &Engine, chat_id: ChatId, id: ClientMsgId) -> Option<MessageStatus> {
    engine
        .timeline(chat_id)
        .iter()
        .find(|item| item.client_msg_id == id)
        .map(|item| item.status)
}

/// A privacy change made while away goes out between the publish and the sync; its refusal
/// names no request, so it may be the sync's, and the sync is asked again. The first sync was
/// served after all: the group it named before it was asked again is the account's, and is not
/// taken for one it left when that sync ends without naming it a second time.
#[test]
fn a_group_the_sync_named_before_it_was_asked_again_is_not_taken_for_left() {
    let mut engine = challenged_alice("correct horse battery");
    engine.advance_clock(1_000);
    engine.set_privacy(PrivacySettings {
        share_read_receipts: false,
        share_presence: true,
    });
    engine.handle_frame(welcome());
    let frames = take_frames(&mut engine);
    assert_eq!((publishes(&frames).len(), syncs(&frames)), (1, 1));
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    // The privacy change's refusal, or the sync's: the engine cannot tell.
    engine.handle_frame(too_many_requests());
    engine.handle_frame(group(G1));
    let queued = engine
        .send_text(G1, "halo", 1_500)
        .expect("a member writes");
    let _ = take_frames(&mut engine);

    let retry_at = engine
        .next_clock_change_ms()
        .expect("asked again at a time");
    engine.advance_clock(retry_at);
    assert_eq!(
        syncs(&take_frames(&mut engine)),
        1,
        "the sync is asked again"
    );
    // The rest of the first sync, and its end.
    engine.handle_frame(group(G2));
    engine.handle_frame(ServerFrame::SyncDone);
    assert!(engine.is_member(G1), "named by the sync: not left");
    assert!(engine.is_member(G2));
    assert_eq!(
        status(&engine, G1, queued),
        Some(MessageStatus::Pending),
        "what waits to be sent there is not failed"
    );
}

/// The publish is the first frame after `Welcome`, and the server answers a connection's
/// frames in order: a refusal that comes before the publish's answer is the publish's. It is
/// not taken for the sync's — which would have the whole sync asked again, and the groups it
/// named before that taken for left — and the publish goes again instead.
#[test]
fn a_refusal_before_the_publish_is_answered_is_the_publishs_not_the_syncs() {
    let mut engine = challenged_alice("correct horse battery");
    engine.advance_clock(1_000);
    engine.handle_frame(welcome());
    let _ = take_frames(&mut engine);
    engine.handle_frame(too_many_requests());
    engine.handle_frame(group(G1));
    let queued = engine
        .send_text(G1, "halo", 1_500)
        .expect("a member writes");
    let _ = take_frames(&mut engine);

    let retry_at = engine.next_clock_change_ms().expect("sent again at a time");
    engine.advance_clock(retry_at);
    let frames = take_frames(&mut engine);
    assert_eq!(syncs(&frames), 0, "the sync was not refused: {frames:?}");
    assert_eq!(publishes(&frames).len(), 1, "the publish was: {frames:?}");
    engine.handle_frame(group(G2));
    engine.handle_frame(ServerFrame::SyncDone);
    assert!(engine.is_member(G1), "named by the sync: not left");
    assert_eq!(status(&engine, G1, queued), Some(MessageStatus::Pending));
}

/// Without its device in the directory the engine can share no key and send nothing
/// end-to-end encrypted, nor be sent any key: a publish refused for now goes again on the
/// same connection, after a wait that grows with each refusal in a row, proving the device
/// and carrying the fallback key again; once it is accepted, the key flow runs.
#[test]
fn a_publish_refused_for_now_is_sent_again_and_the_key_flow_starts_once_it_is_accepted() {
    let mut engine = challenged_alice("correct horse battery");
    engine.advance_clock(1_000);
    engine.handle_frame(welcome());
    let first = publishes(&take_frames(&mut engine));
    let fallback = first[0].1.clone().expect("a new device's fallback key");
    engine.handle_frame(too_many_requests());
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(0),
    });
    engine.handle_frame(ServerFrame::SyncDone);
    let written = engine.send_text(CHAT, "halo", 1_500).expect("a text");
    let mut net = Net::new();
    let step = net.serve(&mut engine);
    assert!(net.alice_device.is_none() && sent_ids(&step.frames).is_empty());

    let retry_at = engine.next_clock_change_ms().expect("sent again at a time");
    engine.advance_clock(retry_at - 1);
    assert!(publishes(&take_frames(&mut engine)).is_empty(), "not yet");
    engine.advance_clock(retry_at);
    assert_eq!(
        publishes(&take_frames(&mut engine)),
        [(true, Some(fallback.clone()))],
        "the same publish again"
    );
    // Refused again: the next try waits twice as long.
    engine.handle_frame(too_many_requests());
    engine.advance_clock(retry_at + 2_000);
    assert!(publishes(&take_frames(&mut engine)).is_empty(), "longer");
    engine.advance_clock(retry_at + 4_000);
    let step = net.serve(&mut engine);
    assert!(net.alice_device.is_some(), "accepted this time");
    assert_eq!(sent_ids(&step.frames), [written], "the key flow ran");
    let stored = MessageFrame {
        client_msg_id: written,
        body: sent_body(&step.frames, written).expect("its body"),
        ..message(1, ALICE, "")
    };
    assert!(
        matches!(net.bob.open(&stored), Opened::Content(_)),
        "bob's device has the key"
    );
}
