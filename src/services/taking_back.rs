//! Deleting for everyone a message this tab still holds unsent.
//!
//! The tabs of a browser share one outbox, and each tab's engine keeps its own copy of it, so
//! this tab may hold as unsent a message another tab sent meanwhile (its file's upload done
//! there, or its socket up while this one's is down). Taking that back here would leave it
//! with everyone. So the shared outbox decides, as it does for a cancel (`files`): a message
//! no tab claimed is taken back; one claimed or delivered is deleted as any message sent,
//! its deletion going after it.

use merpati_protocol::{ChatId, ClientMsgId};
use merpati_words::{Text, t};

use super::clock;
use super::connection::Client;
use super::files::Files;
use super::idb_store::TakingBack;

/// Deletes one of this account's messages for everyone (see the module documentation); the
/// words of a refusal otherwise.
pub async fn delete_for_everyone(
    client: &Client,
    files: Option<&Files>,
    chat: ChatId,
    target: ClientMsgId,
) -> Result<(), String> {
    let unsent_here = client.read(|engine| engine.holds_unsent(chat, target));
    if unsent_here && let Some(store) = client.store() {
        match store.take_back_unsent(chat, target).await {
            Ok(TakingBack::AlreadySent) => client.act(|engine| engine.sent_elsewhere(target)),
            Ok(TakingBack::TakenBack | TakingBack::Gone) => {
                if let Some(files) = files {
                    files.stop_upload(target);
                }
            }
            Err(error) => {
                leptos::logging::warn!("taking back a message failed: {error}");
                return Err(t(Text::SomethingWentWrong));
            }
        }
    }
    client
        .act(|engine| engine.delete_for_everyone(chat, target, clock::now_ms()))
        .map(|_| ())
        .map_err(|error| error.words())
}
