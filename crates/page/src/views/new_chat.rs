//! Starting a chat: a 1:1 chat with a username, or a group.

use super::close_on_escape;
use leptos::prelude::*;
use merpati_words::{Text, t};

/// Which form is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewChatMode {
    /// A 1:1 chat.
    Direct,
    /// A group.
    Group,
}

/// The new-chat panel, showing the form for `mode`.
#[component]
pub fn NewChat(
    /// Which form shows.
    #[prop(into)]
    mode: Signal<NewChatMode>,
    /// Start a 1:1 chat with a username.
    on_direct: Callback<String>,
    /// Create a group: name and comma-separated member usernames.
    on_group: Callback<(String, String)>,
    /// Switch between the forms.
    on_mode: Callback<NewChatMode>,
    /// Close the panel.
    on_close: Callback<()>,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let group_name = RwSignal::new(String::new());
    let members = RwSignal::new(String::new());
    let direct_form = move || {
        view! {
            <form
                class="new-chat-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    on_direct.run(username.get_untracked());
                }
            >
                <label>
                    {t(Text::Username)}
                    <input
                        data-testid="new-chat-username"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder=t(Text::ExampleUsername)
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                </label>
                <button data-testid="new-chat-submit" type="submit" class="primary">
                    {t(Text::StartChat)}
                </button>
            </form>
        }
    };
    let group_form = move || {
        view! {
            <form
                class="new-chat-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    on_group.run((group_name.get_untracked(), members.get_untracked()));
                }
            >
                <label>
                    {t(Text::GroupName)}
                    <input
                        data-testid="group-name"
                        placeholder=t(Text::ExampleGroupName)
                        prop:value=move || group_name.get()
                        on:input=move |ev| group_name.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    {t(Text::Members)}
                    <input
                        data-testid="group-members"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder="budi, sari, wayan"
                        prop:value=move || members.get()
                        on:input=move |ev| members.set(event_target_value(&ev))
                    />
                </label>
                <button data-testid="group-submit" type="submit" class="primary">
                    {t(Text::CreateGroup)}
                </button>
            </form>
        }
    };
    view! {
        <section
            class="new-chat"
            aria-label=t(Text::NewChat)
            on:keydown=close_on_escape(on_close)
        >
            <div class="tabs" role="tablist">
                <button
                    type="button"
                    role="tab"
                    class:active=move || mode.get() == NewChatMode::Direct
                    aria-selected=move || (mode.get() == NewChatMode::Direct).to_string()
                    on:click=move |_| on_mode.run(NewChatMode::Direct)
                >
                    {t(Text::Person)}
                </button>
                <button
                    type="button"
                    role="tab"
                    class:active=move || mode.get() == NewChatMode::Group
                    aria-selected=move || (mode.get() == NewChatMode::Group).to_string()
                    on:click=move |_| on_mode.run(NewChatMode::Group)
                >
                    {t(Text::Group)}
                </button>
                <button
                    type="button"
                    class="close"
                    aria-label=t(Text::Close)
                    on:click=move |_| on_close.run(())
                >
                    "×"
                </button>
            </div>
            {move || match mode.get() {
                NewChatMode::Direct => direct_form().into_any(),
                NewChatMode::Group => group_form().into_any(),
            }}
        </section>
    }
}
