//! The browser's own choices (its notification settings, muted chats, recent emoji and skin
//! tone, its drafts) shared by its tabs: each tab reads them at start, takes another tab's change as
//! stored, and keeps its own change waiting to be stored.

use merpati_core::{BrowserChoices, DeviceSettings, MemoryStore, StoreWrite};
use merpati_protocol::ChatId;
use merpati_words::SkinTone;

use crate::support::alice::{apply, reload, stored_account};

/// Two tabs of one browser share its store. What one chooses for the browser, the other takes
/// when told (it read them once, at start): a chat muted in one is muted in the other, and the
/// other's next change keeps it rather than writing back what it read at start.
#[tokio::test]
async fn what_another_tab_chose_for_the_browser_is_taken_as_stored_and_kept_by_the_next_change() {
    let store = MemoryStore::new();
    apply(&store, vec![StoreWrite::PutAccount(stored_account())]).await;
    let mut here = reload(&store).await;
    let mut there = reload(&store).await;
    let (chat, other) = (ChatId(7), ChatId(8));

    let notify = DeviceSettings {
        notify: true,
        notify_hide_text: true,
        notify_offer_declined: false,
    };
    there.set_muted(chat, true);
    there.set_device_settings(notify);
    there.set_skin_tone(SkinTone::Dark);
    there.emoji_used("🎉");
    let writes = there.take_step().writes;
    assert!(writes.iter().all(BrowserChoices::changed_by));
    apply(&store, writes).await;

    let _ = here.take_step();
    here.adopt_browser_choices(
        BrowserChoices::read(&store)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert!(here.is_muted(chat) && !here.is_muted(other));
    assert_eq!(here.device_settings(), notify);
    assert_eq!(here.skin_tone(), SkinTone::Dark);
    assert_eq!(here.recent_emoji(), ["🎉"]);
    let step = here.take_step();
    assert!(step.views_changed, "the views show them");
    assert!(step.writes.is_empty(), "taken as stored, nothing written");

    here.set_muted(other, true);
    assert_eq!(
        here.take_step().writes,
        vec![StoreWrite::PutMutedChats(vec![chat, other])],
        "the other tab's choice kept"
    );
}

/// A change this tab made and has not stored yet is newer than what another tab stored
/// before it: reading the other tab's back does not undo it.
#[tokio::test]
async fn a_change_waiting_to_be_stored_is_not_undone_by_another_tabs_earlier_one() {
    let store = MemoryStore::new();
    apply(&store, vec![StoreWrite::PutAccount(stored_account())]).await;
    let mut here = reload(&store).await;
    let mut there = reload(&store).await;
    let (chat, other) = (ChatId(7), ChatId(8));
    there.set_muted(other, true);
    apply(&store, there.take_step().writes).await;
    let _ = here.take_step();

    here.set_muted(chat, true);
    here.adopt_browser_choices(
        BrowserChoices::read(&store)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert!(here.is_muted(chat) && !here.is_muted(other));
    assert_eq!(
        here.take_step().writes,
        vec![StoreWrite::PutMutedChats(vec![chat])]
    );
}

/// A draft is the browser's too: one sent (or emptied) in one tab leaves the other tab's chat
/// list and composer, and one typed there shows here, once told.
#[tokio::test]
async fn a_draft_typed_or_sent_in_one_tab_is_taken_by_the_other() {
    let store = MemoryStore::new();
    let chat = crate::support::alice::CHAT;
    let record = merpati_core::ChatRecord {
        info: crate::support::alice::chat_info(0),
        floor: merpati_protocol::Seq(0),
        synced: merpati_protocol::Seq(0),
        delivered: merpati_protocol::Seq(0),
        read_log: Vec::new(),
    };
    apply(
        &store,
        vec![
            StoreWrite::PutAccount(stored_account()),
            StoreWrite::PutChat(record),
        ],
    )
    .await;
    let mut there = reload(&store).await;
    there.set_draft(chat, "halo, besok jadi?");
    apply(&store, there.take_step().writes).await;

    let mut here = reload(&store).await;
    assert_eq!(here.draft(chat), Some("halo, besok jadi?"));
    let _ = here.take_step();

    // Typing here moves the draft, not the count a composer on screen follows: its own echo
    // must not take the box from under the person.
    let before = here.draft_taken(chat);
    here.set_draft(chat, "halo, besok jadi? jam");
    apply(&store, here.take_step().writes).await;
    assert_eq!(here.draft_taken(chat), before);

    there.set_draft(chat, "");
    let writes = there.take_step().writes;
    assert!(writes.iter().any(BrowserChoices::changed_by));
    apply(&store, writes).await;
    here.adopt_browser_choices(
        BrowserChoices::read(&store)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert_eq!(here.draft(chat), None, "sent in the other tab: gone here");
    assert_ne!(
        here.draft_taken(chat),
        before,
        "the composer on screen is told to empty its box"
    );
    assert!(here.take_step().writes.is_empty(), "taken as stored");

    // Read again with nothing changed, the count stands.
    let taken = here.draft_taken(chat);
    here.adopt_browser_choices(
        BrowserChoices::read(&store)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    assert_eq!(here.draft_taken(chat), taken);
}
