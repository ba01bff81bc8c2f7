//! The page's side of photos and files: hands chosen, pasted or dropped files to the worker
//! (refusing one over the cap before anything is read), asks it to download a message's file,
//! and does what the person asked with the file it hands back — a photo into the viewer, any
//! other file saved under its name. Provides the views' [`FileActions`].

use leptos::prelude::*;
use merpati_bridge::{Command, DownloadState, MessageRow};
use merpati_protocol::ClientMsgId;
use merpati_protocol::blobs::MAX_FILE_BYTES;
use merpati_words::{Text, refusals, t};
use wasm_bindgen::{JsCast, JsValue};

use crate::state::AppContext;
use crate::views::attachment::{ById, Fetching, FileActions};

/// How long a saved file's `blob:` URL is kept after the save began: the browser has copied
/// what it needs by then.
const SAVED_URL_KEPT_MS: u64 = 60_000;

/// The downloads under way and what each was for.
#[derive(Debug, Clone, Copy)]
pub struct FileState {
    downloads: RwSignal<ById<Fetching>>,
    /// Per message id: open in the viewer (`true`) or save (`false`), and the file's name.
    wanted: StoredValue<ById<(bool, String)>>,
    /// The photo asked for last: one asked before it and ready after it is not shown.
    latest_photo: StoredValue<Option<String>>,
    /// The photo in the viewer: its `blob:` URL and name.
    pub viewer: RwSignal<Option<(String, String)>>,
}

impl Default for FileState {
    fn default() -> FileState {
        FileState {
            downloads: RwSignal::new(ById::default()),
            wanted: StoredValue::new(ById::default()),
            latest_photo: StoredValue::new(None),
            viewer: RwSignal::new(None),
        }
    }
}

impl FileState {
    /// The views' file actions over `app`.
    pub fn actions(self, app: AppContext) -> FileActions {
        FileActions {
            send: Callback::new(move |files: Vec<web_sys::File>| send_files(app, files)),
            open: Callback::new(move |(id, image): (String, bool)| self.open(app, &id, image)),
            cancel: Callback::new(move |id: String| {
                if let Some(id) = ClientMsgId::from_hex(&id) {
                    app.send(Command::CancelUpload(id));
                }
            }),
            downloads: self.downloads.into(),
            viewer: self.viewer,
        }
    }

    /// The worker's news of a download; `object` is the file once it is ready.
    pub fn answered(self, id: ClientMsgId, state: DownloadState, object: Option<JsValue>) {
        let id = id.to_hex();
        match state {
            DownloadState::Progress { done, total } => self.downloads.update(|map| {
                map.insert(id, Fetching::Progress(done, total));
            }),
            DownloadState::Failed(words) => {
                self.wanted.update_value(|wanted| {
                    wanted.remove(&id);
                });
                self.downloads.update(|map| {
                    map.insert(id, Fetching::Failed(words));
                });
            }
            DownloadState::Ready => {
                self.downloads.update(|map| {
                    map.remove(&id);
                });
                let wanted = self
                    .wanted
                    .try_update_value(|wanted| wanted.remove(&id))
                    .flatten();
                let file = object.and_then(|object| object.dyn_into::<web_sys::Blob>().ok());
                let (Some((image, name)), Some(file)) = (wanted, file) else {
                    return;
                };
                // A photo overtaken by one asked for after it is not shown over that one.
                if image
                    && self
                        .latest_photo
                        .with_value(|latest| latest.as_ref() != Some(&id))
                {
                    return;
                }
                let Ok(url) = web_sys::Url::create_object_url_with_blob(&file) else {
                    return;
                };
                if image {
                    // The thumbnail clicked still has the focus; the viewer's close button
                    // takes it, and gives it back on close.
                    crate::focus::into_dialog(&["[data-testid=attachment-viewer-close]"]);
                    self.show(Some((url, name)));
                } else {
                    save(&url, &name);
                }
            }
        }
    }

    /// Forgets every download and closes the viewer: the account signed out, and nothing it
    /// opened stays on screen for whoever signs in next, nor is shown or saved when its
    /// download ends later.
    pub fn forget(self) {
        self.wanted.set_value(ById::default());
        self.latest_photo.set_value(None);
        self.downloads.set(ById::default());
        self.show(None);
    }

    /// Puts `photo` (its `blob:` URL and name) in the viewer, or closes it; the photo shown
    /// before is let go of.
    fn show(self, photo: Option<(String, String)>) {
        if let Some((shown, _)) = self.viewer.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&shown);
        }
        self.viewer.set(photo);
    }

    /// Notes that the message's file (`id` in hex) was asked for: to open in the viewer
    /// (`image`) or to save under `name`.
    pub fn asked(self, id: &str, image: bool, name: String) {
        if image {
            self.latest_photo.set_value(Some(id.to_owned()));
        }
        self.wanted.update_value(|wanted| {
            wanted.insert(id.to_owned(), (image, name));
        });
        self.downloads.update(|map| {
            map.insert(id.to_owned(), Fetching::Progress(0, 1));
        });
    }

    fn open(self, app: AppContext, id: &str, image: bool) {
        let (Some(chat), Some(message)) = (app.open_chat_id_untracked(), ClientMsgId::from_hex(id))
        else {
            return;
        };
        let name = app
            .rows()
            .with_untracked(|rows| row_name(rows, id))
            .unwrap_or_else(|| t(Text::Photo));
        self.asked(id, image, name);
        app.send(Command::Download { chat, id: message });
    }
}

fn row_name(rows: &[MessageRow], id: &str) -> Option<String> {
    rows.iter()
        .find(|row| row.id == id)
        .and_then(|row| row.attachment.as_ref())
        .map(|attachment| attachment.name.clone())
}

/// Hands files to the worker for the chat on screen; one over the cap is refused with words
/// before it is read, and the words stay while the others picked with it go.
fn send_files(app: AppContext, files: Vec<web_sys::File>) {
    let Some(chat) = app.open_chat_id_untracked() else {
        return;
    };
    app.action_error.set(None);
    for file in files {
        if file.size() > MAX_FILE_BYTES as f64 {
            app.action_error.set(Some(refusals::file_too_large()));
        } else {
            app.send_with(Command::SendFile(chat), file.into());
        }
    }
}

/// Saves a file under its name, as the browser saves a download.
fn save(url: &str, name: &str) {
    let anchor = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.create_element("a").ok())
        .and_then(|element| element.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(anchor) = anchor {
        anchor.set_href(url);
        anchor.set_download(name);
        anchor.click();
    }
    let url = url.to_owned();
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_millis(SAVED_URL_KEPT_MS),
    );
}
