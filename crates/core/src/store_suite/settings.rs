//! The suite's cases on what this account and this browser keep beside the messages: messages
//! deleted for the account, the settings, and the emoji picker's choices.

use merpati_protocol::{ChatId, ClientMsgId, UserId};
use merpati_words::SkinTone;

use super::{apply, ok};
use crate::store::{
    DeviceSettings, HiddenRecord, PrivacySettings, SettingsRecord, Store, StoreWrite,
};

/// Messages deleted for this account are remembered, once each; the settings are replaced
/// whole.
pub async fn hidden_messages_and_settings_are_kept<S: Store>(store: S) {
    let hidden = |chat: u64, id: u8| HiddenRecord {
        chat_id: ChatId(chat),
        client_msg_id: ClientMsgId([id; 16]),
    };
    apply(
        &store,
        vec![
            StoreWrite::HideMessage(hidden(1, 7)),
            StoreWrite::HideMessage(hidden(2, 8)),
            StoreWrite::HideMessage(hidden(1, 7)),
        ],
    )
    .await;
    let mut kept = ok(store.hidden().await);
    kept.sort();
    assert_eq!(kept, vec![hidden(1, 7), hidden(2, 8)]);
    let mut settings = SettingsRecord {
        privacy: PrivacySettings {
            share_read_receipts: false,
            share_presence: true,
        },
        blocked: [UserId(5), UserId(9)].into(),
    };
    apply(&store, vec![StoreWrite::PutSettings(settings.clone())]).await;
    assert_eq!(ok(store.settings().await), Some(settings.clone()));
    settings.blocked.clear();
    apply(&store, vec![StoreWrite::PutSettings(settings.clone())]).await;
    assert_eq!(ok(store.settings().await), Some(settings.clone()));
    // This browser's own settings are a record of their own: neither replaces the other.
    let device = DeviceSettings {
        notify: true,
        notify_hide_text: true,
        notify_offer_declined: false,
    };
    apply(&store, vec![StoreWrite::PutDeviceSettings(device)]).await;
    assert_eq!(ok(store.device_settings().await), Some(device));
    assert_eq!(ok(store.settings().await), Some(settings.clone()));
    // So is whether a privacy change made here waits for the server's answer.
    assert!(
        !ok(store.privacy_pending().await),
        "nothing waits until noted"
    );
    apply(&store, vec![StoreWrite::PutPrivacyPending(true)]).await;
    assert!(ok(store.privacy_pending().await));
    assert_eq!(ok(store.settings().await), Some(settings));
    apply(&store, vec![StoreWrite::PutPrivacyPending(false)]).await;
    assert!(!ok(store.privacy_pending().await));
}

/// The emoji picker's choices in this browser are records of their own beside its settings,
/// each replaced whole: the recently chosen emoji (in their order) and the skin tone.
pub async fn this_browsers_emoji_choices_are_kept<S: Store>(store: S) {
    let device = DeviceSettings {
        notify: true,
        ..DeviceSettings::default()
    };
    apply(&store, vec![StoreWrite::PutDeviceSettings(device)]).await;
    let recent = vec!["🎉".to_owned(), "\u{2615}\u{fe0f}".to_owned()];
    apply(&store, vec![StoreWrite::PutRecentEmoji(recent.clone())]).await;
    assert_eq!(ok(store.recent_emoji().await), recent);
    let again = vec!["👍\u{1F3FD}".to_owned()];
    apply(&store, vec![StoreWrite::PutRecentEmoji(again.clone())]).await;
    assert_eq!(ok(store.recent_emoji().await), again);
    for tone in [SkinTone::MediumDark, SkinTone::Light] {
        apply(&store, vec![StoreWrite::PutSkinTone(tone)]).await;
        assert_eq!(ok(store.skin_tone().await), tone);
    }
    assert_eq!(ok(store.recent_emoji().await), again);
    assert_eq!(ok(store.device_settings().await), Some(device));
}

/// The chats this browser does not notify of are a record of their own, replaced whole.
pub async fn this_browsers_muted_chats_are_kept<S: Store>(store: S) {
    apply(
        &store,
        vec![StoreWrite::PutMutedChats(vec![ChatId(3), ChatId(9)])],
    )
    .await;
    assert_eq!(ok(store.muted_chats().await), [ChatId(3), ChatId(9)]);
    apply(&store, vec![StoreWrite::PutMutedChats(vec![ChatId(9)])]).await;
    assert_eq!(ok(store.muted_chats().await), [ChatId(9)]);
    assert_eq!(ok(store.skin_tone().await), SkinTone::Default);
    assert!(ok(store.recent_emoji().await).is_empty());
}
