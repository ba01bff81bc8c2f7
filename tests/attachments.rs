//! Photos and files in the views, in headless Chromium: a photo shows its thumbnail and opens
//! on click, a file shows its name and size and downloads on click, an upload shows a real
//! `<progress>` and a cancel, a failed download says why, the composer offers the file picker —
//! and without the app's file actions nothing is offered.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{AttachmentRow, DownloadState, PreviewRow};
use merpati_page::attachments::FileState;
use merpati_page::views::attachment::{Attachment, ById, Fetching, FileActions};
use merpati_page::views::composer::Composer;
use merpati_protocol::ClientMsgId;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/dom.rs"]
mod dom;
use dom::{attr, container, find, find_all, text};
#[path = "support/record.rs"]
mod record;
use record::{click, recorded, recorder};

const ID: &str = "00112233445566778899aabbccddeeff";

fn photo() -> AttachmentRow {
    AttachmentRow {
        name: "pantai.jpg".to_owned(),
        size: "2.4 MB".to_owned(),
        preview: Some(PreviewRow {
            jpeg: vec![0xff, 0xd8, 0xff, 0xd9],
            width: 1600,
            height: 1200,
        }),
        upload: None,
    }
}

fn file() -> AttachmentRow {
    AttachmentRow {
        name: "laporan.pdf".to_owned(),
        size: "10 MB".to_owned(),
        preview: None,
        upload: None,
    }
}

/// File actions that record what was opened and cancelled; `downloads` is theirs to set.
struct Recorded {
    actions: FileActions,
    opened: std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>,
    cancelled: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    downloads: RwSignal<ById<Fetching>>,
}

fn recorded_actions() -> Recorded {
    let (open, opened) = recorder::<(String, bool)>();
    let (cancel, cancelled) = recorder::<String>();
    let downloads = RwSignal::new(ById::default());
    Recorded {
        actions: FileActions {
            send: Callback::new(|_| {}),
            open,
            cancel,
            downloads: downloads.into(),
            viewer: RwSignal::new(None),
        },
        opened,
        cancelled,
        downloads,
    }
}

#[wasm_bindgen_test]
async fn a_photo_shows_its_thumbnail_and_opens_on_click() {
    let heard = recorded_actions();
    let actions = heard.actions;
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! { <Attachment id=ID.to_owned() row=Signal::derive(|| Some(photo()))/> }
    });
    leptos::task::tick().await;

    let attachment = find(&root, "attachment");
    assert_eq!(attr(&attachment, "data-kind"), "image");
    let preview = find(&root, "attachment-preview");
    assert!(
        attr(&preview, "src").starts_with("blob:"),
        "the thumbnail is shown"
    );
    assert!(find_all(&root, "attachment-download").is_empty());
    click(&find(&root, "attachment-open"));
    assert_eq!(recorded(&heard.opened), vec![(ID.to_owned(), true)]);
}

#[wasm_bindgen_test]
async fn a_file_shows_its_name_and_size_and_downloads_on_click() {
    let heard = recorded_actions();
    let actions = heard.actions;
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! { <Attachment id=ID.to_owned() row=Signal::derive(|| Some(file()))/> }
    });
    leptos::task::tick().await;

    assert_eq!(attr(&find(&root, "attachment"), "data-kind"), "file");
    assert_eq!(text(&find(&root, "attachment-name")), "laporan.pdf");
    assert_eq!(text(&find(&root, "attachment-size")), "10 MB");
    assert!(find_all(&root, "attachment-preview").is_empty());
    click(&find(&root, "attachment-download"));
    assert_eq!(recorded(&heard.opened), vec![(ID.to_owned(), false)]);
}

#[wasm_bindgen_test]
async fn an_upload_shows_its_progress_and_a_cancel_until_it_is_done() {
    let heard = recorded_actions();
    let actions = heard.actions;
    let row = RwSignal::new(Some(AttachmentRow {
        upload: Some((262_144, 10_487_360)),
        ..file()
    }));
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! { <Attachment id=ID.to_owned() row=row.into()/> }
    });
    leptos::task::tick().await;

    let progress = find(&root, "attachment-progress");
    assert_eq!(progress.tag_name(), "PROGRESS");
    assert_eq!(
        (attr(&progress, "value"), attr(&progress, "max")),
        ("262144".to_owned(), "10487360".to_owned())
    );
    click(&find(&root, "attachment-cancel"));
    assert_eq!(recorded(&heard.cancelled), vec![ID.to_owned()]);

    row.set(Some(file()));
    leptos::task::tick().await;
    assert!(find_all(&root, "attachment-progress").is_empty());
    assert!(find_all(&root, "attachment-cancel").is_empty());
}

#[wasm_bindgen_test]
async fn a_download_shows_its_progress_and_a_failed_one_says_why() {
    let heard = recorded_actions();
    let (actions, downloads) = (heard.actions, heard.downloads);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! { <Attachment id=ID.to_owned() row=Signal::derive(|| Some(file()))/> }
    });
    downloads.update(|map| {
        map.insert(ID.to_owned(), Fetching::Progress(5, 10));
    });
    leptos::task::tick().await;
    assert_eq!(attr(&find(&root, "attachment-progress"), "value"), "5");
    assert!(
        find_all(&root, "attachment-cancel").is_empty(),
        "a download is not cancelled"
    );

    downloads.update(|map| {
        map.insert(
            ID.to_owned(),
            Fetching::Failed("changed on its way".to_owned()),
        );
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "attachment-progress").is_empty());
    assert_eq!(text(&find(&root, "attachment-error")), "changed on its way");
}

#[wasm_bindgen_test]
async fn without_the_apps_file_actions_files_show_but_nothing_is_offered() {
    let row = Some(AttachmentRow {
        upload: Some((1, 2)),
        ..file()
    });
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <Attachment id=ID.to_owned() row=Signal::derive(move || row.clone())/>
            <Composer on_send=Callback::new(|_| Ok(()))/>
        }
    });
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "attachment-name")), "laporan.pdf");
    assert!(find_all(&root, "attachment-cancel").is_empty());
    assert!(find_all(&root, "attach-input").is_empty());
    assert!(find_all(&root, "attach-button").is_empty());
}

#[wasm_bindgen_test]
async fn the_composer_offers_the_file_picker_where_the_app_sends_files() {
    let actions = recorded_actions().actions;
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! { <Composer on_send=Callback::new(|_| Ok(()))/> }
    });
    leptos::task::tick().await;
    let input = find(&root, "attach-input");
    assert_eq!(attr(&input, "type"), "file");
    assert!(input.has_attribute("multiple"));
    assert!(!attr(&find(&root, "attach-button"), "aria-label").is_empty());
}

#[wasm_bindgen_test]
async fn a_photo_is_answered_and_reacted_to_but_not_edited_or_forwarded() {
    use merpati_bridge::{MessageLock, MessageRow, MessageStatus};
    use merpati_page::views::message::{Message, MessageHandlers};
    use merpati_page::views::message_menu::MenuChoice;

    let row = MessageRow {
        id: ID.to_owned(),
        status: MessageStatus::Sent,
        own: true,
        lock: MessageLock::Open,
        text: "Photo".to_owned(),
        time: "09:41".to_owned(),
        attachment: Some(photo()),
        ..MessageRow::default()
    };
    let (on_choice, _) = recorder::<MenuChoice>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let handlers = MessageHandlers {
            on_choice: Some(on_choice),
            forward_targets: Signal::derive(Vec::new),
            on_quote: Callback::new(|_| {}),
            on_retry: None,
            on_details: None,
            highlighted: Signal::derive(|| None),
        };
        view! { <Message state=Signal::derive(move || row.clone()) handlers/> }
    });
    leptos::task::tick().await;
    assert!(
        find_all(&root, "message-text").is_empty(),
        "the photo shows, not its label"
    );
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("contextmenu", &init)
        .expect("a mouse event");
    find(&root, "message")
        .dispatch_event(&event)
        .expect("dispatched");
    leptos::task::tick().await;
    let menu = find(&root, "message-actions");
    for offered in ["message-reply", "message-react", "message-delete"] {
        find(&menu, offered);
    }
    assert!(find_all(&menu, "message-edit").is_empty());
    assert!(find_all(&menu, "message-forward").is_empty());
}

/// A chat view whose file actions note the names of the files sent; the chat's element.
async fn chat_noting_files_sent() -> (
    web_sys::Element,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use merpati_page::views::chat_view::ChatView;
    use std::sync::{Arc, Mutex, PoisonError};

    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = names.clone();
    let actions = FileActions {
        send: Callback::new(move |files: Vec<web_sys::File>| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(files.iter().map(web_sys::File::name));
        }),
        ..recorded_actions().actions
    };
    let root = container();
    let handle = mount_to(root.clone(), move || {
        provide_context(actions);
        view! {
            <ChatView
                key=Signal::stored(1)
                title=Signal::stored("bob".to_owned())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_: String| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_: String| {})
                on_back=Callback::new(|()| {})
            />
        }
    });
    handle.forget();
    leptos::task::tick().await;
    let section = root
        .query_selector(".chat-view")
        .expect("a query")
        .expect("the chat");
    (section, names)
}

/// A data transfer holding one small text file named `name`.
fn holding_a_file(name: &str) -> web_sys::DataTransfer {
    let transfer = web_sys::DataTransfer::new().expect("a data transfer");
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&b"jam tujuh"[..]));
    let file = web_sys::File::new_with_u8_array_sequence(&parts, name).expect("a file");
    transfer.items().add_with_file(&file).expect("added");
    transfer
}

#[wasm_bindgen_test]
async fn files_dropped_onto_the_chat_are_sent_and_the_chat_is_marked_while_dragged_over() {
    use std::sync::PoisonError;

    let (section, names) = chat_noting_files_sent().await;
    let transfer = holding_a_file("catatan.txt");
    let drag = |kind: &str| {
        let init = web_sys::DragEventInit::new();
        init.set_bubbles(true);
        init.set_cancelable(true);
        init.set_data_transfer(Some(&transfer));
        let event = web_sys::DragEvent::new_with_event_init_dict(kind, &init).expect("an event");
        section.dispatch_event(&event).expect("dispatched")
    };

    let taken = !drag("dragover");
    assert!(taken, "the chat takes the drag, so the drop lands");
    assert!(section.class_list().contains("dragging"));
    drag("drop");
    assert!(!section.class_list().contains("dragging"));
    assert_eq!(
        names.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        vec!["catatan.txt".to_owned()]
    );
}

#[wasm_bindgen_test]
async fn a_file_pasted_into_the_chat_is_sent_and_pasted_text_is_left_to_the_message_box() {
    use std::sync::PoisonError;

    let (section, names) = chat_noting_files_sent().await;
    let paste = |transfer: &web_sys::DataTransfer| {
        let init = web_sys::ClipboardEventInit::new();
        init.set_bubbles(true);
        init.set_cancelable(true);
        init.set_clipboard_data(Some(transfer));
        let event =
            web_sys::ClipboardEvent::new_with_event_init_dict("paste", &init).expect("an event");
        section.dispatch_event(&event).expect("dispatched")
    };

    let text = web_sys::DataTransfer::new().expect("a data transfer");
    text.set_data("text/plain", "sampai jumpa")
        .expect("text set");
    assert!(
        paste(&text),
        "pasted text is not taken from the message box"
    );
    assert!(
        names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );

    assert!(
        !paste(&holding_a_file("struk.txt")),
        "a pasted file is taken, not pasted as its name"
    );
    assert_eq!(
        names.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        vec!["struk.txt".to_owned()]
    );
}

#[wasm_bindgen_test]
async fn a_file_whose_message_waited_for_its_key_shows_once_the_message_opens() {
    use merpati_bridge::{MessageLock, MessageRow, MessageStatus};
    use merpati_page::views::message::{Message, MessageHandlers};

    // It arrived before its key: nothing is known of its file yet.
    let waiting = MessageRow {
        id: ID.to_owned(),
        status: MessageStatus::Sent,
        lock: MessageLock::Waiting,
        text: "Waiting for this message's key".to_owned(),
        time: "09:41".to_owned(),
        ..MessageRow::default()
    };
    let row = RwSignal::new(waiting.clone());
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let handlers = MessageHandlers {
            on_choice: None,
            forward_targets: Signal::derive(Vec::new),
            on_quote: Callback::new(|_| {}),
            on_retry: None,
            on_details: None,
            highlighted: Signal::derive(|| None),
        };
        view! { <Message state=Signal::derive(move || row.get()) handlers/> }
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "attachment").is_empty());

    // The key came: the same message now carries the file, and shows it, not its label.
    row.set(MessageRow {
        lock: MessageLock::Open,
        text: "laporan.pdf".to_owned(),
        attachment: Some(file()),
        ..waiting
    });
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "attachment-name")), "laporan.pdf");
    find(&root, "attachment-download");
    assert!(find_all(&root, "message-text").is_empty());
}

/// Whether a `blob:` URL still gives its file.
async fn url_gives_its_file(url: &str) -> bool {
    let window = web_sys::window().expect("a window");
    wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .is_ok()
}

fn a_photo_ready(files: FileState, id: u8) {
    let blob = web_sys::Blob::new().expect("a blob");
    files.answered(
        ClientMsgId([id; 16]),
        DownloadState::Ready,
        Some(blob.into()),
    );
}

#[wasm_bindgen_test]
async fn a_photo_overtaken_by_a_later_one_is_not_shown_and_signing_out_closes_the_viewer() {
    let files = FileState::default();
    let (first, second) = (ClientMsgId([1; 16]).to_hex(), ClientMsgId([2; 16]).to_hex());
    files.asked(&first, true, "pertama.jpg".to_owned());
    files.asked(&second, true, "kedua.jpg".to_owned());

    // The second asked for comes first, then the first, late: the second stays.
    a_photo_ready(files, 2);
    let (shown, name) = files.viewer.get_untracked().expect("a photo shown");
    assert_eq!(name, "kedua.jpg");
    a_photo_ready(files, 1);
    assert_eq!(
        files
            .viewer
            .get_untracked()
            .map(|(_, name)| name)
            .as_deref(),
        Some("kedua.jpg"),
        "the late one is not shown over it"
    );
    assert!(url_gives_its_file(&shown).await);

    // Signed out: the viewer closes and its photo is let go of; a download that ends after
    // it is neither shown nor saved.
    files.asked(
        &ClientMsgId([3; 16]).to_hex(),
        true,
        "ketiga.jpg".to_owned(),
    );
    files.forget();
    assert_eq!(files.viewer.get_untracked(), None);
    assert!(
        !url_gives_its_file(&shown).await,
        "the photo's URL is revoked"
    );
    a_photo_ready(files, 3);
    assert_eq!(files.viewer.get_untracked(), None);
}
