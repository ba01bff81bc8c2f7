//! The live signals and the person's settings: typing (throttled out, expiring in), presence
//! (followed for the chat on screen, asked again after a reconnect), the privacy settings
//! (sent after every sign-in and when changed, remembered) and blocking.

use merpati_core::{
    BrowserChoices, ChatRecord, DeviceSettings, Engine, Event, MemoryStore, PrivacySettings,
    RECENT_EMOJI, SendError, StoreWrite, StoredState,
};
use merpati_protocol::{
    ChatId, ClientFrame, Epoch, Presence, Seq, ServerFrame, TYPING_INTERVAL_MS, TYPING_SHOWN_MS,
    Username,
};
use merpati_words::SkinTone;

use crate::support::alice::{
    BOB, CHAT, apply, chat_info, message, online_alice, reconnect, reload, stored_account,
    take_frames,
};

fn bob() -> Vec<Username> {
    vec![Username::parse("bob").expect("valid")]
}

/// Alice's chat with bob as her store keeps it.
fn chat_record() -> ChatRecord {
    ChatRecord {
        info: chat_info(0),
        floor: Seq(0),
        synced: Seq(0),
        delivered: Seq(0),
        read_log: Vec::new(),
    }
}

fn typing_frames(engine: &mut Engine) -> usize {
    take_frames(engine)
        .iter()
        .filter(|frame| matches!(frame, ClientFrame::Typing { .. }))
        .count()
}

#[test]
fn typing_goes_out_at_most_once_per_interval() {
    let mut engine = online_alice();
    let typed: Vec<usize> = [0, 1_000, 2_999, 3_000, 3_500, 6_100]
        .into_iter()
        .map(|at| {
            engine.typing(CHAT, 1_000_000 + at);
            take_frames(&mut engine).len()
        })
        .collect();
    assert_eq!(typed, vec![1, 0, 0, 1, 0, 1]);
    assert_eq!(TYPING_INTERVAL_MS, 3_000);
}

#[test]
fn typing_is_throttled_per_chat() {
    let mut engine = online_alice();
    let mut other = chat_info(0);
    other.id = ChatId(11);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: other,
    });
    let _ = engine.take_step();
    engine.typing(CHAT, 1_000_000);
    engine.typing(ChatId(11), 1_000_100);
    engine.typing(CHAT, 1_000_200);
    assert_eq!(
        take_frames(&mut engine),
        vec![
            ClientFrame::Typing { chat_id: CHAT },
            ClientFrame::Typing {
                chat_id: ChatId(11)
            }
        ]
    );
}

#[test]
fn after_sending_the_next_keystroke_says_typing_at_once() {
    let mut engine = online_alice();
    engine.typing(CHAT, 1_000_000);
    assert_eq!(typing_frames(&mut engine), 1);
    // Bob's "typing…" goes away as alice's message reaches him, so her next message must
    // say so again without waiting out the interval.
    engine.send_text(CHAT, "halo", 1_000_500).expect("queued");
    let _ = engine.take_step();
    engine.typing(CHAT, 1_001_000);
    assert_eq!(typing_frames(&mut engine), 1);
    engine.typing(CHAT, 1_002_000);
    assert_eq!(
        typing_frames(&mut engine),
        0,
        "and throttled again from there"
    );
}

#[test]
fn nothing_says_typing_while_offline_or_where_alice_cannot_write() {
    let mut engine = online_alice();
    engine.on_disconnected();
    let _ = engine.take_step();
    engine.typing(CHAT, 1_000_000);
    assert_eq!(typing_frames(&mut engine), 0);
    reconnect(&mut engine, Epoch(7));
    let _ = engine.take_step();
    engine.typing(ChatId(99), 1_000_100);
    assert_eq!(typing_frames(&mut engine), 0, "no such chat");
    engine.typing(CHAT, 1_000_200);
    assert_eq!(typing_frames(&mut engine), 1);
}

#[test]
fn someone_typing_shows_until_the_signal_is_old_or_their_message_arrives() {
    let mut engine = online_alice();
    engine.advance_clock(50_000);
    engine.handle_frame(ServerFrame::Typing {
        chat_id: CHAT,
        user: BOB,
    });
    assert!(engine.take_step().views_changed);
    assert_eq!(engine.typing_in(CHAT, 50_001), bob());
    assert_eq!(
        engine.next_clock_change_ms(),
        Some(50_000 + TYPING_SHOWN_MS),
        "the shell looks again then"
    );
    assert!(engine.typing_in(CHAT, 50_000 + TYPING_SHOWN_MS).is_empty());
    engine.advance_clock(50_000 + TYPING_SHOWN_MS);
    assert!(engine.take_step().views_changed, "it went away");
    assert_eq!(engine.next_clock_change_ms(), None);

    engine.handle_frame(ServerFrame::Typing {
        chat_id: CHAT,
        user: BOB,
    });
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "sudah")));
    assert!(
        engine.typing_in(CHAT, 50_000 + TYPING_SHOWN_MS).is_empty(),
        "gone at once when the message arrives"
    );
}

#[test]
fn presence_is_followed_for_the_chat_on_screen_and_asked_again_after_a_reconnect() {
    let mut engine = online_alice();
    engine.watch_presence(Some(CHAT));
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::WatchPresence { user: Some(BOB) }]
    );
    engine.handle_frame(ServerFrame::Presence {
        user: BOB,
        presence: Presence::Online,
    });
    assert!(engine.take_step().views_changed);
    assert_eq!(engine.presence(CHAT), Some(Presence::Online));

    reconnect(&mut engine, Epoch(7));
    assert_eq!(
        engine.presence(CHAT),
        None,
        "not known on a new connection yet"
    );
    assert!(take_frames(&mut engine).contains(&ClientFrame::WatchPresence { user: Some(BOB) }));
    engine.watch_presence(None);
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::WatchPresence { user: None }]
    );
}

#[test]
fn hiding_presence_hides_everyone_elses_too() {
    let mut engine = online_alice();
    engine.watch_presence(Some(CHAT));
    engine.handle_frame(ServerFrame::Presence {
        user: BOB,
        presence: Presence::LastSeen { at_ms: 42 },
    });
    let _ = engine.take_step();
    assert_eq!(
        engine.presence(CHAT),
        Some(Presence::LastSeen { at_ms: 42 })
    );
    engine.set_privacy(PrivacySettings {
        share_read_receipts: true,
        share_presence: false,
    });
    assert!(engine.take_step().views_changed);
    assert_eq!(
        engine.presence(CHAT),
        Some(Presence::Hidden),
        "what the server told before the change does not show"
    );
}

/// The `Privacy` frame the server sends with `settings`.
fn privacy(settings: PrivacySettings) -> ServerFrame {
    ServerFrame::Privacy {
        share_read_receipts: settings.share_read_receipts,
        share_presence: settings.share_presence,
    }
}

/// The `SetPrivacy` frame this device sends with `settings`.
fn set_privacy(settings: PrivacySettings) -> ClientFrame {
    ClientFrame::SetPrivacy {
        share_read_receipts: settings.share_read_receipts,
        share_presence: settings.share_presence,
    }
}

#[test]
fn privacy_settings_are_the_accounts_and_a_change_here_stands_until_the_server_answers_it() {
    let private = PrivacySettings {
        share_read_receipts: false,
        share_presence: false,
    };
    let seen_online = PrivacySettings {
        share_read_receipts: false,
        share_presence: true,
    };
    let mut engine = online_alice();
    engine.set_privacy(private);
    let step = engine.take_step();
    assert_eq!(step.frames, vec![set_privacy(private)]);
    let settings = step
        .writes
        .into_iter()
        .find_map(|write| match write {
            StoreWrite::PutSettings(settings) => Some(settings),
            _ => None,
        })
        .expect("remembered");
    engine.set_privacy(private);
    assert!(engine.take_step().is_empty(), "no change, nothing to do");
    engine.handle_frame(privacy(private));
    assert_eq!(
        engine.take_step().writes,
        vec![StoreWrite::PutPrivacyPending(false)],
        "the answer: as held, and nothing waits now"
    );

    // Changed on another device: held here too, and remembered.
    engine.handle_frame(privacy(seen_online));
    assert_eq!(engine.privacy(), seen_online);
    let step = engine.take_step();
    assert!(step.views_changed);
    assert!(step.writes.iter().any(|write| matches!(
        write,
        StoreWrite::PutSettings(settings) if settings.privacy == seen_online
    )));
    // A device that was away tells the server nothing of its own: the sync says.
    reconnect(&mut engine, Epoch(7));
    assert!(
        !take_frames(&mut engine)
            .iter()
            .any(|frame| matches!(frame, ClientFrame::SetPrivacy { .. }))
    );

    // Changed here while offline: sent after the Welcome, before the sync, and it stands
    // against whatever the server says until the server answers with it.
    engine.on_disconnected();
    engine.set_privacy(private);
    assert!(
        !take_frames(&mut engine)
            .iter()
            .any(|frame| matches!(frame, ClientFrame::SetPrivacy { .. })),
        "offline"
    );
    reconnect(&mut engine, Epoch(7));
    let frames = take_frames(&mut engine);
    let sent = frames
        .iter()
        .position(|frame| *frame == set_privacy(private));
    let sync = frames
        .iter()
        .position(|frame| matches!(frame, ClientFrame::Sync { .. }));
    assert!(sent.is_some() && sent < sync, "{frames:?}");
    engine.handle_frame(privacy(seen_online));
    assert_eq!(engine.privacy(), private, "not answered yet");
    engine.handle_frame(privacy(private));
    engine.handle_frame(privacy(PrivacySettings::default()));
    assert_eq!(
        engine.privacy(),
        PrivacySettings::default(),
        "answered: the account's again"
    );

    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        chats: vec![chat_record()],
        settings: Some(settings.clone()),
        ..StoredState::default()
    });
    assert_eq!(reloaded.privacy(), private);
    assert_eq!(reloaded.presence(CHAT), Some(Presence::Hidden));

    // Changed offline, then reloaded before it went out: it still waits, and still goes.
    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        chats: vec![chat_record()],
        settings: Some(settings),
        privacy_pending: true,
        ..StoredState::default()
    });
    reconnect(&mut reloaded, Epoch(7));
    assert!(take_frames(&mut reloaded).contains(&set_privacy(private)));
    reloaded.handle_frame(privacy(PrivacySettings::default()));
    assert_eq!(reloaded.privacy(), private, "not undone by the sync");
}

/// A privacy change the server refuses for now (past the account's write allowance: the
/// refusal names no request) is sent again after a wait, not only at the next connection —
/// meanwhile the server would go on applying the old setting — and the setting shown here
/// stands until the server answers with it.
#[test]
fn a_privacy_change_refused_for_now_is_sent_again_on_the_same_connection() {
    let private = PrivacySettings {
        share_read_receipts: false,
        share_presence: true,
    };
    let mut engine = online_alice();
    // The device's publish went first, and was answered first: a refusal naming no request
    // that comes before that answer is the publish's.
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    let _ = engine.take_step();
    engine.set_privacy(private);
    assert_eq!(engine.take_step().frames, vec![set_privacy(private)]);
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code: merpati_protocol::ErrorCode::TooManyRequests,
        detail: "too many requests".to_owned(),
    });
    // What the server held before, pushed meanwhile, does not undo the choice.
    engine.handle_frame(privacy(PrivacySettings::default()));
    assert_eq!(engine.privacy(), private);

    let at = engine.next_clock_change_ms().expect("a retry is timed");
    engine.advance_clock(at);
    assert_eq!(engine.take_step().frames, vec![set_privacy(private)]);
    engine.handle_frame(privacy(private));
    engine.advance_clock(at + 3_600_000);
    assert!(
        !engine.take_step().frames.contains(&set_privacy(private)),
        "answered: not sent again"
    );
    assert_eq!(engine.privacy(), private);
}

#[test]
fn a_blocked_person_cannot_be_written_to_and_their_signals_are_not_shown() {
    let mut engine = online_alice();
    let request = engine.set_blocked(BOB, true).expect("connected");
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::SetBlocked {
            request,
            user: BOB,
            blocked: true
        }]
    );
    engine.handle_frame(ServerFrame::BlockList {
        request: Some(request),
        users: vec![BOB],
    });
    let step = engine.take_step();
    assert!(step.events.contains(&Event::RequestDone { request }));
    assert!(
        step.writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutSettings(settings) if settings.blocked.contains(&BOB)))
    );
    assert!(engine.is_blocked(BOB));
    assert_eq!(engine.blocked_people()[0].id, BOB);
    assert_eq!(engine.send_text(CHAT, "halo", 1), Err(SendError::Blocked));
    assert_eq!(
        SendError::Blocked.to_string(),
        "You blocked this person — unblock them to send messages"
    );
    engine.handle_frame(ServerFrame::Typing {
        chat_id: CHAT,
        user: BOB,
    });
    assert!(engine.typing_in(CHAT, 0).is_empty());
    assert_eq!(engine.presence(CHAT), Some(Presence::Hidden));

    // Unblocked on another device: the list says so.
    engine.handle_frame(ServerFrame::BlockList {
        request: None,
        users: vec![],
    });
    assert!(!engine.is_blocked(BOB));
    assert!(engine.send_text(CHAT, "halo lagi", 2).is_ok());
}

#[tokio::test]
async fn the_block_list_is_kept_and_applied_after_a_reload_before_any_connection() {
    let mut engine = online_alice();
    // The sync ends with the account's block list (set on another device).
    engine.handle_frame(ServerFrame::BlockList {
        request: None,
        users: vec![BOB],
    });
    let store = MemoryStore::new();
    let mut writes = vec![StoreWrite::PutAccount(stored_account())];
    writes.extend(engine.take_step().writes);
    writes.push(StoreWrite::PutChat(chat_record()));
    apply(&store, writes).await;

    let mut reloaded = reload(&store).await;
    assert!(reloaded.is_blocked(BOB));
    assert_eq!(reloaded.send_text(CHAT, "halo", 1), Err(SendError::Blocked));
    assert_eq!(reloaded.presence(CHAT), Some(Presence::Hidden));
    assert!(
        reloaded.take_step().writes.is_empty(),
        "nothing was put in the outbox"
    );
}

#[test]
fn this_browsers_notification_settings_are_kept_sealed_and_never_sent() {
    let mut engine = online_alice();
    assert_eq!(
        engine.device_settings(),
        DeviceSettings::default(),
        "off until chosen"
    );
    let chosen = DeviceSettings {
        notify: true,
        notify_hide_text: true,
        notify_offer_declined: false,
    };
    engine.set_device_settings(chosen);
    let step = engine.take_step();
    assert!(step.views_changed);
    assert!(step.frames.is_empty(), "the server learns nothing of them");
    assert_eq!(step.writes, vec![StoreWrite::PutDeviceSettings(chosen)]);
    engine.set_device_settings(chosen);
    assert!(engine.take_step().is_empty(), "no change, nothing to do");

    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        browser: BrowserChoices {
            device_settings: Some(chosen),
            ..BrowserChoices::default()
        },
        ..StoredState::default()
    });
    assert_eq!(reloaded.device_settings(), chosen);
}

#[test]
fn the_emoji_chosen_lately_come_first_once_each_at_most_a_few_and_stay_across_a_reload() {
    let mut engine = online_alice();
    assert!(engine.recent_emoji().is_empty());
    for emoji in ["🎉", "👍", "🎉"] {
        engine.emoji_used(emoji);
    }
    assert_eq!(
        engine.recent_emoji(),
        ["🎉", "👍"],
        "most recent first, once each"
    );
    let step = engine.take_step();
    assert!(step.views_changed);
    assert!(step.frames.is_empty(), "the server learns nothing of them");
    assert_eq!(
        step.writes.last(),
        Some(&StoreWrite::PutRecentEmoji(vec![
            "🎉".to_owned(),
            "👍".to_owned()
        ]))
    );
    engine.emoji_used("🎉");
    assert!(
        engine.take_step().is_empty(),
        "already first: nothing to do"
    );
    // Nothing that could not be a reaction: no picker offers it.
    engine.emoji_used("");
    engine.emoji_used(&"x".repeat(merpati_protocol::content::MAX_REACTION_BYTES + 1));
    assert!(engine.take_step().is_empty());
    assert_eq!(engine.recent_emoji(), ["🎉", "👍"]);
    // At most RECENT_EMOJI, the oldest dropped.
    let many: Vec<String> = (0..RECENT_EMOJI + 3).map(|n| format!("e{n}")).collect();
    for emoji in &many {
        engine.emoji_used(emoji);
    }
    assert_eq!(engine.recent_emoji().len(), RECENT_EMOJI);
    assert_eq!(engine.recent_emoji()[0], many[many.len() - 1]);
    assert!(!engine.recent_emoji().contains(&"🎉".to_owned()));

    let kept = engine.recent_emoji().to_vec();
    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        browser: BrowserChoices {
            recent_emoji: kept.clone(),
            ..BrowserChoices::default()
        },
        ..StoredState::default()
    });
    assert_eq!(reloaded.recent_emoji(), kept);
}

#[test]
fn the_skin_tone_chosen_is_kept_sealed_never_sent_and_stays_across_a_reload() {
    let mut engine = online_alice();
    assert_eq!(engine.skin_tone(), SkinTone::Default);
    engine.set_skin_tone(SkinTone::Medium);
    let step = engine.take_step();
    assert!(step.views_changed);
    assert!(step.frames.is_empty(), "the server learns nothing of it");
    assert_eq!(step.writes, vec![StoreWrite::PutSkinTone(SkinTone::Medium)]);
    engine.set_skin_tone(SkinTone::Medium);
    assert!(engine.take_step().is_empty(), "no change, nothing to do");

    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        browser: BrowserChoices {
            skin_tone: SkinTone::Medium,
            ..BrowserChoices::default()
        },
        ..StoredState::default()
    });
    assert_eq!(reloaded.skin_tone(), SkinTone::Medium);
}

#[test]
fn a_muted_chat_is_kept_sealed_never_sent_and_stays_across_a_reload() {
    let mut engine = online_alice();
    let (chat, other) = (ChatId(7), ChatId(8));
    assert!(!engine.is_muted(chat));
    engine.set_muted(chat, true);
    engine.set_muted(other, true);
    let step = engine.take_step();
    assert!(step.views_changed);
    assert!(step.frames.is_empty(), "nobody else learns of it");
    assert_eq!(
        step.writes.last(),
        Some(&StoreWrite::PutMutedChats(vec![chat, other]))
    );
    engine.set_muted(chat, true);
    assert!(engine.take_step().is_empty(), "no change, nothing to do");
    engine.set_muted(other, false);
    assert_eq!(
        engine.take_step().writes,
        vec![StoreWrite::PutMutedChats(vec![chat])]
    );
    assert!(engine.is_muted(chat) && !engine.is_muted(other));

    let mut reloaded = Engine::new();
    reloaded.restore(StoredState {
        account: Some(stored_account()),
        browser: BrowserChoices {
            muted_chats: vec![chat],
            ..BrowserChoices::default()
        },
        ..StoredState::default()
    });
    assert!(reloaded.is_muted(chat) && !reloaded.is_muted(other));
}
