//! The page's side of the emoji picker: fetches the emoji in the language spoken
//! (`/emoji/<code>.txt`, about 30 KB as served) the first time the picker opens, not before,
//! and keeps them for the page's life. Provides the views' [`EmojiSource`], with the emoji this
//! browser chose lately and its skin tone, which the engine keeps sealed.

use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use merpati_words::EmojiSet;

use crate::own_files;
use crate::state::AppContext;
use crate::views::emoji_picker::{EmojiLoad, EmojiSource};

/// The views' emoji source over `app` (the emoji chosen lately are the engine's): nothing
/// fetched until a picker asks.
pub fn source(app: AppContext) -> EmojiSource {
    let emoji = RwSignal::new(EmojiLoad::NotAsked);
    EmojiSource {
        emoji: emoji.into(),
        recent: app.recent_emoji(),
        used: Callback::new(move |emoji| app.emoji_used(emoji)),
        tone: app.skin_tone(),
        set_tone: Callback::new(move |tone| app.set_skin_tone(tone)),
        load: Callback::new(move |()| {
            // Once loaded, or while loading, there is nothing to start; after a failure a new
            // ask tries again.
            if matches!(
                emoji.get_untracked(),
                EmojiLoad::Ready(_) | EmojiLoad::Loading
            ) {
                return;
            }
            emoji.set(EmojiLoad::Loading);
            spawn_local(async move {
                emoji.set(match fetch().await {
                    Ok(set) => EmojiLoad::Ready(Arc::new(set)),
                    Err(error) => {
                        leptos::logging::warn!("the emoji could not be loaded: {error}");
                        EmojiLoad::Failed
                    }
                });
            });
        }),
    }
}

async fn fetch() -> Result<EmojiSet, String> {
    let path = format!("/emoji/{}.txt", merpati_words::language().code());
    let source = own_files::fetch_text(&path)
        .await
        .map_err(|error| format!("{error:?}"))?;
    EmojiSet::parse(&source).map_err(|error| error.to_string())
}
