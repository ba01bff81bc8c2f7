//! The screens: they take the app context and hand its signals and actions to the views.

use leptos::prelude::*;
use merpati_bridge::Notifications;
use merpati_words::{Count, Text, t, tn};

use crate::notify::NotifyPrefs;
use crate::state::use_app;
use crate::views::ask_first::ask_first;
use crate::views::auth::AuthForm;
use crate::views::chat_list::ChatList;
use crate::views::chat_view::ChatView;
use crate::views::connection_status::ConnectionStatus;
use crate::views::devices::DevicesList;
use crate::views::new_chat::{NewChat, NewChatMode};
use crate::views::notifications::{NotificationOffer, NotificationSettings};
use crate::views::search::{SearchBox, SearchResults};
use crate::views::settings::SettingsPanel;
use crate::views::signals::UnreadTitle;
use crate::{focus, language, notify, theme};

/// Sign in or create an account.
#[component]
pub fn AuthScreen() -> impl IntoView {
    let app = use_app();
    focus::move_to(&["[data-testid=auth-username]"]);
    view! {
        <AuthForm
            progress=app.auth_progress()
            error=app.auth_error()
            busy=app.auth_busy()
            on_register=Callback::new(move |(username, passphrase)| app.sign_up(username, passphrase))
            on_login=Callback::new(move |(username, passphrase)| app.sign_in(username, passphrase))
        />
    }
}

/// The chats and the open chat.
#[component]
pub fn MainScreen() -> impl IntoView {
    let app = use_app();
    let new_chat = app.new_chat();
    let request_error = app.request_error();
    let open_chat_id = app.open_chat_id();
    let settings_open = RwSignal::new(false);
    focus::move_to(&["[data-testid=chat-list-item]", "[data-testid=new-chat]"]);
    let theme = RwSignal::new(theme::chosen());
    // This browser's notification settings, as its sealed store keeps them.
    let notifications = app.notifications();
    let notify_prefs = Signal::derive(move || {
        notifications.with(|kept| NotifyPrefs {
            enabled: kept.enabled,
            hide_text: kept.hide_text,
        })
    });
    let keep_prefs = move |prefs: NotifyPrefs| {
        app.set_notifications(Notifications {
            enabled: prefs.enabled,
            hide_text: prefs.hide_text,
            ..notifications.get_untracked()
        });
    };
    let notify_note = RwSignal::new(None::<String>);
    // Answered on this page: gone at once, whatever the browser then says to "Turn on".
    let offer_answered = RwSignal::new(false);
    let offer_shown = Memo::new(move |_| {
        notify::offer_wanted(
            notify_prefs.get(),
            notify::permission(),
            app.chats().with(|chats| !chats.is_empty()),
            offer_answered.get() || notifications.with(|kept| kept.offer_declined),
        )
    });
    // The chat closed with its back button or the browser's Back, whose row in the list takes
    // the focus once the list is on screen: when the engine says no chat is open, which is
    // after a paint or more on a slow device (a hidden row cannot take the focus).
    let back_to = StoredValue::new(None::<u64>);
    notify::watch(app.chats(), open_chat_id, app.phase(), notify_prefs);
    notify::listen_to_service_worker(move |chat| app.open_chat(chat));
    view! {
        <UnreadTitle chats=app.chats()/>
        <div class="main-screen" class:chat-open=move || open_chat_id.with(Option::is_some)>
            <header class="top-bar">
                <span class="brand">
                    <img src="/favicon.svg" alt="" width="28" height="28"/>
                    <span class="brand-name">"Merpati"</span>
                </span>
                <ConnectionStatus
                    phase=app.phase()
                    pending=app.pending()
                    retry_in_s=app.retry_in_s()
                    on_retry=Callback::new(move |()| app.retry_now())
                />
                <span class="me" data-testid="me">{move || app.me().get()}</span>
                <button
                    data-testid="settings"
                    type="button"
                    aria-expanded=move || settings_open.get().to_string()
                    on:click=move |_| {
                        let opening = !settings_open.get_untracked();
                        if opening {
                            // Another tab may have chosen since (theme.js shows it here).
                            theme.set(theme::chosen());
                            app.list_devices();
                            focus::move_to(&["[data-testid=theme-select]"]);
                        }
                        settings_open.set(opening);
                    }
                >
                    {t(Text::Settings)}
                </button>
                {ask_first(
                    ["logout", "logout-question", "logout-confirm", "logout-cancel"],
                    Text::SignOut,
                    // Signing out deletes this browser's copy of the chats, and with it what
                    // the outbox still holds: the one thing signing in again cannot bring
                    // back. Only then does it ask.
                    app.pending(),
                    |waiting| tn(Count::SignOutLoses, waiting as u64, &[]),
                    Text::SignOut,
                    Callback::new(move |()| app.sign_out()),
                )}
            </header>
            <Show when=move || settings_open.get()>
                <SettingsPanel
                    theme
                    on_theme=Callback::new(move |chosen| {
                        if let Err(error) = theme::choose(chosen) {
                            leptos::logging::warn!("cannot show the theme: {error:?}");
                        }
                        theme.set(chosen);
                    })
                    language=merpati_words::language()
                    on_language=Callback::new(move |chosen| {
                        if let Err(error) = language::choose(chosen) {
                            leptos::logging::warn!("cannot speak that language: {error:?}");
                        }
                    })
                    privacy=app.privacy()
                    on_change=Callback::new(move |privacy| app.set_privacy(privacy))
                    on_close=Callback::new(move |()| {
                        settings_open.set(false);
                        focus::move_to(&["[data-testid=settings]"]);
                    })
                >
                    <NotificationSettings
                        prefs=notify_prefs
                        note=notify_note
                        on_change=Callback::new(move |next| {
                            notify::change(next, notify_prefs.get_untracked(), keep_prefs, notify_note)
                        })
                    />
                    <DevicesList
                        devices=app.devices()
                        on_sign_out=Callback::new(move |session| app.end_device(session))
                    />
                </SettingsPanel>
            </Show>
            <aside class="sidebar">
                <div class="toolbar">
                    <button
                        data-testid="new-chat"
                        type="button"
                        class="primary"
                        on:click=move |_| app.show_new_chat(Some(NewChatMode::Direct))
                    >
                        {t(Text::NewChat)}
                    </button>
                    <button
                        data-testid="new-group"
                        type="button"
                        on:click=move |_| app.show_new_chat(Some(NewChatMode::Group))
                    >
                        {t(Text::NewGroup)}
                    </button>
                </div>
                <Show when=move || new_chat.get().is_some()>
                    <NewChat
                        mode=Signal::derive(move || new_chat.get().unwrap_or(NewChatMode::Direct))
                        on_direct=Callback::new(move |username| app.create_direct(username))
                        on_group=Callback::new(move |(name, members)| app.create_group(name, members))
                        on_mode=Callback::new(move |mode| app.show_new_chat(Some(mode)))
                        on_close=Callback::new(move |()| app.show_new_chat(None))
                    />
                </Show>
                <Show when=move || request_error.with(Option::is_some)>
                    <div class="request-error" role="alert">
                        <p data-testid="request-error">
                            {move || request_error.get().unwrap_or_default()}
                        </p>
                        <button
                            type="button"
                            aria-label=t(Text::Dismiss)
                            on:click=move |_| app.dismiss_request_error()
                        >
                            "×"
                        </button>
                    </div>
                </Show>
                <Show when=move || offer_shown.get()>
                    <NotificationOffer
                        on_accept=Callback::new(move |()| {
                            let current = notify_prefs.get_untracked();
                            let next = NotifyPrefs {
                                enabled: true,
                                ..current
                            };
                            notify::change(next, current, keep_prefs, notify_note);
                            offer_answered.set(true);
                        })
                        on_dismiss=Callback::new(move |()| {
                            app.set_notifications(Notifications {
                                offer_declined: true,
                                ..notifications.get_untracked()
                            });
                            offer_answered.set(true);
                        })
                    />
                </Show>
                <SearchBox
                    query=app.search_query()
                    on_input=Callback::new(move |query| app.search_for(query))
                />
                <Show
                    when=move || app.search_query().with(|query| query.trim().is_empty())
                    fallback=move || {
                        view! {
                            <SearchResults
                                results=app.search_results()
                                on_open=Callback::new(move |row| app.open_result(&row))
                            />
                        }
                    }
                >
                    <ChatList
                        chats=app.chats()
                        selected=open_chat_id
                        on_select=Callback::new(move |chat| app.open_chat(chat))
                    />
                </Show>
            </aside>
            <section class="conversation">
                <Show
                    when=move || open_chat_id.with(Option::is_some)
                    fallback=move || {
                        if let Some(chat) = back_to.try_update_value(Option::take).flatten() {
                            focus::move_to_element(format!(
                                "[data-testid=chat-list-item][data-chat-id=\"{chat}\"]"
                            ));
                        }
                        view! { <p class="placeholder">{t(Text::PickAChat)}</p> }
                    }
                >
                    <ChatView
                        key=Signal::derive(move || open_chat_id.get().map_or(0, |chat| chat.0))
                        title=app.title()
                        rows=app.rows()
                        on_send=Callback::new(move |text| app.send_text(text))
                        on_reach_top=Callback::new(move |()| app.load_older())
                        on_retry=Callback::new(move |id| app.retry_message(id))
                        on_back=Callback::new(move |()| {
                            back_to.set_value(app.open_chat_id_untracked().map(|chat| chat.0));
                            app.close_chat();
                        })
                        kind=app.kind()
                        safety_number=app.safety_number()
                        key_change=app.key_change()
                        on_key_change_ok=Callback::new(move |()| app.acknowledge_key_change())
                        members=app.members()
                        is_member=app.is_member()
                        on_remove_member=Callback::new(move |user| app.remove_member(user))
                        on_leave=Callback::new(move |()| app.leave_chat())
                        typing=app.typing()
                        presence=app.presence()
                        now_ms=app.now_ms()
                        receipts=app.receipts()
                        on_details=Callback::new(move |id| app.show_receipts(id))
                        am_admin=app.am_admin()
                        on_set_admin=Callback::new(move |(user, admin)| app.set_admin(user, admin))
                        on_rename=Callback::new(move |title| app.rename_group(title))
                        on_add_member=Callback::new(move |username| app.add_member(username))
                        blocked=app.blocked()
                        on_block=Callback::new(move |blocked| app.set_blocked(blocked))
                        muted=app.muted()
                        on_mute=Callback::new(move |muted| app.set_muted(muted))
                        on_action=Callback::new(move |action| app.message_action(action))
                        forward_targets=app.forward_targets()
                        draft=app.draft()
                        draft_taken=app.draft_taken()
                        reveal=app.reveal()
                        on_show_message=Callback::new(move |id| app.show_message(id))
                        on_input=Callback::new(move |text| app.composer_input(text))
                        action_error=app.action_error()
                    />
                </Show>
            </section>
        </div>
    }
}
