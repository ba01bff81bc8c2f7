//! A photo or file in a message (`attachment`, `data-kind` image or file), the upload's
//! progress and cancel on one being sent, a download's progress, and the photo viewer.
//!
//! What can be done with files (send, open, save, cancel) is the app's [`FileActions`],
//! provided as a context by the app (`crate::attachments`): a view shown without it (a
//! component test) shows files but offers nothing.

use leptos::prelude::*;
use merpati_bridge::AttachmentRow;
use merpati_words::{Text, t, tf};

use crate::focus;

/// How far a download is, per message id (hex); gone once the file is handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetching {
    /// Bytes received, of all of them.
    Progress(u64, u64),
    /// Words saying why there is no file.
    Failed(String),
}

/// Values by message id (hex). A person has a handful of downloads going at once, so a list
/// searched in turn does, and the page carries no hash map for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ById<T>(Vec<(String, T)>);

impl<T> Default for ById<T> {
    fn default() -> ById<T> {
        ById(Vec::new())
    }
}

impl<T> ById<T> {
    /// The value for `id`.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.0
            .iter()
            .find(|(held, _)| held == id)
            .map(|(_, value)| value)
    }

    /// Sets the value for `id`.
    pub fn insert(&mut self, id: String, value: T) {
        self.remove(&id);
        self.0.push((id, value));
    }

    /// Takes the value for `id` out.
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let index = self.0.iter().position(|(held, _)| held == id)?;
        Some(self.0.swap_remove(index).1)
    }
}

/// What the person can do with files, provided by the app.
#[derive(Debug, Clone, Copy)]
pub struct FileActions {
    /// Send these files to the chat on screen.
    pub send: Callback<Vec<web_sys::File>>,
    /// Open a message's photo (`true`) in the viewer, or save its file (`false`).
    pub open: Callback<(String, bool)>,
    /// Stop sending a message's file.
    pub cancel: Callback<String>,
    /// Downloads under way or failed.
    pub downloads: Signal<ById<Fetching>>,
    /// The photo in the viewer: its `blob:` URL and name.
    pub viewer: RwSignal<Option<(String, String)>>,
}

/// The attachment of the message `id`, as `row` shows it now.
#[component]
pub fn Attachment(id: String, row: Signal<Option<AttachmentRow>>) -> impl IntoView {
    let actions = use_context::<FileActions>();
    let initial = row.get_untracked();
    let image = initial.as_ref().is_some_and(|row| row.preview.is_some());
    let name = initial
        .as_ref()
        .map(|row| row.name.clone())
        .unwrap_or_default();
    // The thumbnail's URL is made once and let go with the view.
    let preview_url = initial
        .as_ref()
        .and_then(|row| row.preview.as_ref())
        .and_then(|preview| blob_url(&preview.jpeg, "image/jpeg"));
    if let Some(url) = preview_url.clone() {
        on_cleanup(move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
    }
    let (width, height) = initial
        .as_ref()
        .and_then(|row| row.preview.as_ref())
        .map_or((0, 0), |preview| (preview.width, preview.height));
    let upload = move || row.with(|row| row.as_ref().and_then(|row| row.upload));
    let fetching = {
        let id = id.clone();
        move || actions.and_then(|actions| actions.downloads.with(|map| map.get(&id).cloned()))
    };
    let open = {
        let id = id.clone();
        move || {
            if let Some(actions) = actions {
                actions.open.run((id.clone(), image));
            }
        }
    };
    let cancel = {
        let id = id.clone();
        move |_| {
            if let Some(actions) = actions {
                actions.cancel.run(id.clone());
            }
        }
    };
    let progress = {
        let fetching = fetching.clone();
        move || {
            let (done, total) = upload().or_else(|| match fetching() {
                Some(Fetching::Progress(done, total)) => Some((done, total)),
                _ => None,
            })?;
            let label = if upload().is_some() {
                Text::Uploading
            } else {
                Text::Downloading
            };
            Some(view! {
                <progress
                    data-testid="attachment-progress"
                    aria-label=t(label)
                    max=total.to_string()
                    value=done.to_string()
                ></progress>
            })
        }
    };
    let error = move || match fetching() {
        Some(Fetching::Failed(words)) => Some(view! {
            <p data-testid="attachment-error" class="error" role="alert">{words}</p>
        }),
        _ => None,
    };
    let body = if image {
        let open = open.clone();
        view! {
            <button
                type="button"
                class="attachment-open"
                data-testid="attachment-open"
                aria-label=t(Text::OpenPhoto)
                on:click=move |_| open()
            >
                <img
                    data-testid="attachment-preview"
                    src=preview_url.unwrap_or_default()
                    alt=t(Text::Photo)
                    width=width.min(320).to_string()
                    style:aspect-ratio=format!("{width} / {height}")
                />
            </button>
        }
        .into_any()
    } else {
        let size = initial
            .as_ref()
            .map(|row| row.size.clone())
            .unwrap_or_default();
        let label = tf(Text::DownloadFile, &[("name", &name)]);
        view! {
            <div class="attachment-file">
                <span class="attachment-icon" aria-hidden="true">"📄"</span>
                <span class="attachment-details">
                    <span data-testid="attachment-name" class="attachment-name">{name.clone()}</span>
                    <span data-testid="attachment-size" class="attachment-size">{size}</span>
                </span>
                <button
                    type="button"
                    data-testid="attachment-download"
                    aria-label=label
                    on:click=move |_| open()
                >
                    "⤓"
                </button>
            </div>
        }
        .into_any()
    };
    view! {
        <div
            class="attachment"
            data-testid="attachment"
            data-kind=if image { "image" } else { "file" }
        >
            {body}
            {progress}
            <Show when=move || upload().is_some() && actions.is_some()>
                <button
                    type="button"
                    data-testid="attachment-cancel"
                    class="attachment-cancel"
                    aria-label=t(Text::CancelUpload)
                    on:click=cancel.clone()
                >
                    "×"
                </button>
            </Show>
            {error}
        </div>
    }
}

/// The photo viewer: the opened photo at full size, over the chat, until closed.
#[component]
pub fn PhotoViewer() -> impl IntoView {
    let Some(actions) = use_context::<FileActions>() else {
        return ().into_any();
    };
    let close = move || {
        if let Some((url, _)) = actions.viewer.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
        actions.viewer.set(None);
        focus::out_of_dialog();
    };
    // Re-run only when the photo in the viewer changes.
    (move || {
        actions.viewer.with(Option::is_some).then(|| {
            // The phone's back gesture closes the photo, not the chat under it.
            crate::browser_back::while_open(
                crate::browser_back::Layer::Photo,
                Callback::new(move |()| close()),
            );
            view! {
                <div
                    class="photo-viewer"
                    data-testid="attachment-viewer"
                    role="dialog"
                    aria-modal="true"
                    aria-label=t(Text::Photo)
                    on:keydown=move |ev| {
                        match ev.key().as_str() {
                            "Escape" => close(),
                            // The close button is all there is to reach: the focus stays in
                            // the dialog while it is open.
                            "Tab" => ev.prevent_default(),
                            _ => {}
                        }
                    }
                >
                    <button
                        type="button"
                        data-testid="attachment-viewer-close"
                        aria-label=t(Text::ClosePhoto)
                        on:click=move |_| close()
                    >
                        "×"
                    </button>
                    <img
                        data-testid="attachment-full"
                        src=actions.viewer.get_untracked().map(|(url, _)| url).unwrap_or_default()
                        alt=actions.viewer.get_untracked().map(|(_, name)| name).unwrap_or_default()
                    />
                </div>
            }
            .into_any()
        })
    })
    .into_any()
}

/// A `blob:` URL of `bytes` (let go with `URL.revokeObjectURL`).
pub fn blob_url(bytes: &[u8], media_type: &str) -> Option<String> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}

/// The files of a picker, a paste or a drop.
pub fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|index| list.get(index))
        .collect()
}
