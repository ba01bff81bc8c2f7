//! The message box.

use leptos::prelude::*;

/// Where a person writes. Enter sends, Shift+Enter starts a new line; an empty message is not
/// sent. `on_send` answers `Err(words)` when the message cannot be sent (e.g. too long): the
/// text stays and the words show.
#[component]
pub fn Composer(
    /// Send a message; `Err` carries words to show.
    on_send: Callback<String, Result<(), String>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let send = move || {
        let message = text.get_untracked();
        if message.trim().is_empty() {
            return;
        }
        match on_send.run(message) {
            Ok(()) => {
                text.set(String::new());
                error.set(None);
            }
            Err(words) => error.set(Some(words)),
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <textarea
                data-testid="composer-input"
                rows="1"
                placeholder="Write a message"
                aria-label="Message"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <button data-testid="composer-send" type="submit" class="primary" aria-label="Send">
                "Send"
            </button>
            <Show when=move || error.with(Option::is_some)>
                <p data-testid="composer-error" class="error" role="alert">
                    {move || error.get().unwrap_or_default()}
                </p>
            </Show>
        </form>
    }
}
