//! The settings panel in headless Chromium: the theme's and the language's choice and what
//! they do to the page,
//! the privacy checkboxes, the notifications section and which arrivals it notifies of, and
//! the devices section — where the account is signed in, and signing another browser out.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{DeviceRow, Privacy};
use merpati_page::notify::{self, Arrival, NotifyPrefs};
use merpati_page::theme::{self, Theme};
use merpati_page::views::devices::DevicesList;
use merpati_page::views::notifications::{NotificationOffer, NotificationSettings};
use merpati_page::views::settings::SettingsPanel;
use merpati_protocol::ChatId;
use merpati_protocol::sessions::SessionRef;
use merpati_words::{Catalogue, Language};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{HtmlInputElement, HtmlSelectElement};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/dom.rs"]
mod dom;
use dom::{attr, container, find, find_all, text};
#[path = "support/focus.rs"]
mod focus;
#[path = "support/record.rs"]
mod record;
#[path = "support/rows.rs"]
mod rows;
use focus::{after_the_page_paints, focused};
use record::{click, recorded, recorder};
use rows::chat_row;

#[wasm_bindgen_test]
async fn the_settings_checkboxes_show_and_change_the_privacy_settings() {
    let privacy = RwSignal::new(Privacy::default());
    let (on_change, changes) = recorder::<Privacy>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <SettingsPanel
                theme=Theme::System
                on_theme=Callback::new(|_| {})
                language=Language::English
                on_language=Callback::new(|_| {})
                privacy
                on_change
                on_close=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let receipts: HtmlInputElement = find(&root, "setting-read-receipts")
        .dyn_into()
        .expect("box");
    let presence: HtmlInputElement = find(&root, "setting-presence").dyn_into().expect("box");
    assert!(receipts.checked() && presence.checked());

    receipts.click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&changes),
        vec![Privacy {
            share_read_receipts: false,
            share_presence: true
        }]
    );

    privacy.set(Privacy {
        share_read_receipts: false,
        share_presence: false,
    });
    leptos::task::tick().await;
    assert!(!receipts.checked() && !presence.checked());
}

#[wasm_bindgen_test]
async fn the_theme_select_shows_the_theme_and_reports_the_one_chosen() {
    let theme = RwSignal::new(Theme::System);
    let (on_theme, chosen) = recorder::<Theme>();
    let (on_change, _) = recorder::<Privacy>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <SettingsPanel
                theme
                on_theme
                language=Language::English
                on_language=Callback::new(|_| {})
                privacy=Privacy::default()
                on_change
                on_close=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let select: HtmlSelectElement = find(&root, "theme-select").dyn_into().expect("a select");
    assert_eq!(select.value(), "system");
    assert_eq!(select.length(), 3);

    select.set_value("dark");
    select
        .dispatch_event(&web_sys::Event::new("change").expect("an event"))
        .expect("dispatched");
    leptos::task::tick().await;
    assert_eq!(recorded(&chosen), vec![Theme::Dark]);

    theme.set(Theme::Light);
    leptos::task::tick().await;
    assert_eq!(select.value(), "light");
}

#[wasm_bindgen_test]
async fn the_language_select_names_each_language_in_itself_and_reports_the_one_chosen() {
    let (on_language, chosen) = recorder::<Language>();
    let (on_change, _) = recorder::<Privacy>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <SettingsPanel
                theme=Theme::System
                on_theme=Callback::new(|_| {})
                language=Language::Indonesian
                on_language
                privacy=Privacy::default()
                on_change
                on_close=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let select: HtmlSelectElement = find(&root, "language-select").dyn_into().expect("a select");
    assert_eq!(select.value(), "id");
    let options: Vec<(String, String)> = (0..select.length())
        .filter_map(|index| select.item(index))
        .map(|option| (text(&option), attr(&option, "lang")))
        .collect();
    assert_eq!(
        options,
        vec![
            ("English".to_owned(), "en".to_owned()),
            ("Bahasa Indonesia".to_owned(), "id".to_owned()),
        ]
    );

    select.set_value("en");
    select
        .dispatch_event(&web_sys::Event::new("change").expect("an event"))
        .expect("dispatched");
    leptos::task::tick().await;
    assert_eq!(recorded(&chosen), vec![Language::English]);
}

#[wasm_bindgen_test]
async fn with_indonesian_installed_the_settings_speak_indonesian() {
    let indonesian = Catalogue::parse(
        Language::Indonesian,
        include_str!("../public/locales/id.txt"),
    )
    .expect("the catalogue parses");
    merpati_words::install(indonesian);
    let (on_change, _) = recorder::<Privacy>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <SettingsPanel
                theme=Theme::System
                on_theme=Callback::new(|_| {})
                language=Language::Indonesian
                on_language=Callback::new(|_| {})
                privacy=Privacy::default()
                on_change
                on_close=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    let shown = text(&root);
    merpati_words::install(Catalogue::english());
    assert!(shown.contains("Pengaturan"), "{shown}");
    assert!(shown.contains("Kirim tanda dibaca"), "{shown}");
    assert!(!shown.contains("Settings"), "{shown}");
    let theme_names: Vec<String> = find(&root, "theme-select")
        .dyn_into::<HtmlSelectElement>()
        .map(|select| {
            (0..select.length())
                .filter_map(|i| select.item(i))
                .map(|o| text(&o))
                .collect()
        })
        .expect("a select");
    assert_eq!(theme_names, vec!["Sesuai perangkat", "Terang", "Gelap"]);
}

#[wasm_bindgen_test]
fn a_chosen_theme_is_on_the_page_and_remembered_and_the_system_one_is_neither() {
    let root = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.document_element())
        .expect("a document");
    let storage = web_sys::window()
        .and_then(|window| window.local_storage().ok().flatten())
        .expect("local storage");

    theme::choose(Theme::Dark).expect("shown");
    assert_eq!(root.get_attribute("data-theme").as_deref(), Some("dark"));
    assert_eq!(
        storage
            .get_item(theme::STORAGE_KEY)
            .expect("readable")
            .as_deref(),
        Some("dark")
    );
    assert_eq!(theme::chosen(), Theme::Dark);

    theme::choose(Theme::System).expect("shown");
    assert_eq!(root.get_attribute("data-theme"), None);
    assert_eq!(
        storage.get_item(theme::STORAGE_KEY).expect("readable"),
        None
    );
    assert_eq!(theme::chosen(), Theme::System);
}

fn device(byte: u8, name: &str, current: bool) -> DeviceRow {
    DeviceRow {
        session: SessionRef([byte; 16]),
        name: name.to_owned(),
        last_active: "Active today".to_owned(),
        signed_in: "Signed in 3 Dec 2026".to_owned(),
        current,
    }
}

#[wasm_bindgen_test]
async fn the_devices_section_lists_each_browser_and_signs_out_any_but_this_one() {
    let devices = RwSignal::new(None::<Vec<DeviceRow>>);
    let (on_sign_out, signed_out) = recorder::<SessionRef>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <DevicesList devices on_sign_out/> }
    });
    leptos::task::tick().await;
    assert!(
        find_all(&root, "device-item").is_empty(),
        "nothing until listed"
    );

    devices.set(Some(vec![
        device(1, "Chrome on Linux", true),
        device(2, "Browser · device 1a2b3c4d", false),
    ]));
    leptos::task::tick().await;
    let items = find_all(&root, "device-item");
    assert_eq!(items.len(), 2);
    assert_eq!(attr(&items[0], "data-current"), "true");
    assert_eq!(attr(&items[1], "data-current"), "false");
    assert!(text(&items[0]).contains("Chrome on Linux · This browser"));
    assert!(!text(&items[1]).contains("This browser"));
    assert!(text(&items[1]).contains("Active today"));
    let buttons = find_all(&root, "device-signout");
    assert_eq!(
        buttons.len(),
        1,
        "this browser has no sign-out of its own here"
    );
    click(&buttons[0]);
    leptos::task::tick().await;
    assert_eq!(recorded(&signed_out), vec![SessionRef([2; 16])]);
}

#[wasm_bindgen_test]
async fn signing_a_device_out_takes_the_focus_to_the_devices_heading_not_another_row() {
    let devices = RwSignal::new(Some(vec![
        device(1, "Chrome on Linux", true),
        device(2, "Firefox on Windows", false),
        device(3, "Safari on macOS", false),
    ]));
    let (on_sign_out, signed_out) = recorder::<SessionRef>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <DevicesList devices on_sign_out/> }
    });
    leptos::task::tick().await;
    let first_sign_out = find_all(&root, "device-signout")
        .into_iter()
        .next()
        .expect("the other browsers have a sign-out");
    first_sign_out
        .dyn_ref::<web_sys::HtmlElement>()
        .expect("a button")
        .focus()
        .expect("focusable");
    click(&first_sign_out);
    leptos::task::tick().await;
    assert_eq!(recorded(&signed_out), vec![SessionRef([2; 16])]);

    // The server's answer: the list without the browser signed out.
    devices.set(Some(vec![
        device(1, "Chrome on Linux", true),
        device(3, "Safari on macOS", false),
    ]));
    leptos::task::tick().await;
    after_the_page_paints().await;
    let focus = focused().expect("something has the focus");
    assert_eq!(
        focus.id(),
        "devices-heading",
        "the focus is on <{}> {:?}: a second press there must not sign out another browser",
        focus.tag_name(),
        focus.text_content()
    );
}

#[wasm_bindgen_test]
fn notifications_are_offered_only_when_off_possible_useful_and_not_declined() {
    use notify::Permission::{Ask, Denied, Granted, Unsupported};
    let off = NotifyPrefs::default();
    let on = NotifyPrefs {
        enabled: true,
        hide_text: false,
    };
    assert!(notify::offer_wanted(off, Ask, true, false));
    assert!(notify::offer_wanted(off, Granted, true, false));
    assert!(!notify::offer_wanted(on, Ask, true, false), "on already");
    assert!(
        !notify::offer_wanted(off, Denied, true, false),
        "the browser says no"
    );
    assert!(!notify::offer_wanted(off, Unsupported, true, false));
    assert!(
        !notify::offer_wanted(off, Ask, false, false),
        "no chat to hear from"
    );
    assert!(
        !notify::offer_wanted(off, Ask, true, true),
        "\"Not now\" was said"
    );
}

#[wasm_bindgen_test]
async fn the_notification_offer_reports_turn_on_and_not_now() {
    let (on_accept, accepted) = recorder::<()>();
    let (on_dismiss, dismissed) = recorder::<()>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <NotificationOffer on_accept on_dismiss/> }
    });
    leptos::task::tick().await;
    find(&root, "notifications-offer");
    click(&find(&root, "notifications-offer-dismiss"));
    leptos::task::tick().await;
    assert_eq!(
        (recorded(&accepted).len(), recorded(&dismissed).len()),
        (0, 1)
    );
    click(&find(&root, "notifications-offer-accept"));
    leptos::task::tick().await;
    assert_eq!(
        (recorded(&accepted).len(), recorded(&dismissed).len()),
        (1, 1)
    );
}

#[wasm_bindgen_test]
fn a_notification_is_for_a_chat_whose_unread_count_rose_out_of_sight() {
    let on = NotifyPrefs {
        enabled: true,
        hide_text: false,
    };
    let before = [(ChatId(1), 0), (ChatId(2), 3)];
    let chats = vec![
        chat_row(1, "ayu", "Makan siang?", 1),
        chat_row(2, "Keluarga", "sudah", 3),
        chat_row(3, "baru", "halo", 5),
    ];
    // Chat 1 rose; 2 did not; 3 is new, its first messages news.
    let shown = notify::arrivals(&before, &chats, None, true, on);
    assert_eq!(
        shown,
        vec![
            Arrival {
                chat: ChatId(1),
                title: "ayu".to_owned(),
                body: "Makan siang?".to_owned()
            },
            Arrival {
                chat: ChatId(3),
                title: "baru".to_owned(),
                body: "halo".to_owned()
            }
        ]
    );
    // Looking at it: not that one; the tab hidden: that one too.
    assert_eq!(
        notify::arrivals(&before, &chats, Some(ChatId(1)), true, on).len(),
        1
    );
    assert_eq!(
        notify::arrivals(&before, &chats, Some(ChatId(1)), false, on).len(),
        2
    );
    // The text hidden, or notifications off.
    let hidden = NotifyPrefs {
        enabled: true,
        hide_text: true,
    };
    assert_eq!(
        notify::arrivals(&before, &chats, None, true, hidden)[0].body,
        notify::HIDDEN_TEXT.english()
    );
    assert!(notify::arrivals(&before, &chats, None, true, NotifyPrefs::default()).is_empty());
    // A muted chat: never, tab hidden or not.
    let mut muted = chats.clone();
    muted[0].muted = true;
    let shown = notify::arrivals(&before, &muted, None, false, on);
    assert_eq!(
        shown.iter().map(|arrival| arrival.chat).collect::<Vec<_>>(),
        [ChatId(3)]
    );
}

#[wasm_bindgen_test]
fn a_chat_read_here_or_elsewhere_or_gone_has_its_notification_closed() {
    let before = [
        (ChatId(1), 2),
        (ChatId(2), 3),
        (ChatId(3), 0),
        (ChatId(4), 1),
    ];
    let chats = vec![
        // Read (here, or on another device whose read position came back): none unread now.
        chat_row(1, "ayu", "Makan siang?", 0),
        // One read of three: the rest still wait, and so does the notification.
        chat_row(2, "Keluarga", "sudah", 2),
        // Nothing unread before: no notification to close.
        chat_row(3, "baru", "halo", 0),
        // Chat 4 is gone from the list (the person left the group).
    ];
    assert_eq!(notify::read_since(&before, &chats), [ChatId(1), ChatId(4)]);
    assert!(notify::read_since(&[], &chats).is_empty());
}

#[wasm_bindgen_test]
fn a_notification_says_what_was_received_and_in_a_group_who_sent_it() {
    let on = NotifyPrefs {
        enabled: true,
        hide_text: false,
    };
    let mut direct = chat_row(1, "ayu", "Makan siang?", 1);
    // The person's own reply, still sending, is the chat's last text: not what arrived.
    direct.last_text = Some("Ayo!".to_owned());
    let mut group = chat_row(2, "Keluarga", "sudah", 1);
    group.last_received = Some("otw".to_owned());
    group.last_received_from = Some("ilham".to_owned());
    let bodies = |prefs| {
        notify::arrivals(&[], &[direct.clone(), group.clone()], None, true, prefs)
            .into_iter()
            .map(|arrival| (arrival.title, arrival.body))
            .collect::<Vec<_>>()
    };
    let pair = |title: &str, body: &str| (title.to_owned(), body.to_owned());
    assert_eq!(
        bodies(on),
        [pair("ayu", "Makan siang?"), pair("Keluarga", "ilham: otw")]
    );
    let hidden = NotifyPrefs {
        enabled: true,
        hide_text: true,
    };
    assert_eq!(
        bodies(hidden),
        [
            pair("ayu", "New message"),
            pair("Keluarga", "ilham: New message")
        ]
    );
}

#[wasm_bindgen_test]
async fn the_notification_settings_report_each_change() {
    let prefs = RwSignal::new(NotifyPrefs::default());
    let (on_change, changes) = recorder::<NotifyPrefs>();
    let root = container();
    let note = Signal::stored(None::<String>);
    let _handle = mount_to(root.clone(), move || {
        view! { <NotificationSettings prefs note on_change/> }
    });
    leptos::task::tick().await;
    let enabled: HtmlInputElement = find(&root, "setting-notifications")
        .dyn_into()
        .expect("box");
    let text: HtmlInputElement = find(&root, "setting-notifications-text")
        .dyn_into()
        .expect("box");
    assert!(
        !enabled.checked() && text.disabled(),
        "off, and the text choice with it"
    );

    enabled.click();
    leptos::task::tick().await;
    let on = NotifyPrefs {
        enabled: true,
        hide_text: false,
    };
    assert_eq!(recorded(&changes), vec![on]);

    prefs.set(on);
    leptos::task::tick().await;
    assert!(text.checked() && !text.disabled());
    text.click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&changes).last(),
        Some(&NotifyPrefs {
            enabled: true,
            hide_text: true
        })
    );
}
