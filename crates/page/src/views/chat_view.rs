//! One chat on screen.
//!
//! Its details (a 1:1 chat's safety number, a group's members) start open, as the UI test
//! contract says; once a person folds them they stay folded for every chat opened after, in
//! this browser, until unfolded: on a phone they fill half the screen above the messages.

use leptos::html::Section;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, MemberRow, MessageReceipts, MessageRow};
use merpati_protocol::{ChatId, ChatKind, Presence};
use merpati_words::{Count, Text, t, tn};
use wasm_bindgen::JsCast;

use super::attachment::{FileActions, PhotoViewer};
use super::chat_members::ChatMembers;
use super::chat_section::{details_open, section_listener};
use super::chat_security::{KeyChangeBanner, SafetyNumber};
use super::composer::{Composer, Composing};
use super::emoji_picker::{EmojiPicker, EmojiSource};
use super::message_list::MessageList;
use super::message_menu::MenuChoice;
use super::receipts::MessageReceiptsPanel;
use super::signals::{PresenceLine, TypingIndicator};
use crate::focus;

/// What the person did to a message (ids in hex, as `data-msg-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageAction {
    /// Answer `target` with `text`.
    Reply {
        /// The answered message.
        target: String,
        /// The answer.
        text: String,
    },
    /// Give an own message a new text.
    Edit {
        /// The edited message.
        target: String,
        /// Its new text.
        text: String,
    },
    /// Delete an own message for everyone.
    DeleteForEveryone(String),
    /// Delete a message on this account's devices only.
    DeleteForMe(String),
    /// React with an emoji (the same again takes it back).
    React {
        /// The message.
        target: String,
        /// The emoji.
        emoji: String,
    },
    /// Send a message's text to another chat.
    Forward {
        /// The message.
        target: String,
        /// The chat it goes to.
        to: ChatId,
    },
}

/// A chat: its title, its messages and the composer. Under the header, a 1:1 chat shows its
/// safety number ("Verify") and a group its members, each in a disclosure that starts open
/// (so both are visible at once, to people and to browser tests) and folds away; a key change
/// shows as a banner until the person confirms it; once this account is out of a group the
/// composer gives way to a notice, as it does while the other person of a 1:1 chat is blocked.
/// The header shows a 1:1 chat's presence and a bell that mutes the chat in this browser (no
/// notifications of it), the list ends with who is typing, and a message's details (who has
/// it, who read it) open from its "Info".
#[component]
pub fn ChatView(
    /// Which chat: a new key gives a fresh message list and composer (no draft or scroll
    /// position carries over), while the header stays.
    #[prop(into)]
    key: Signal<u64>,
    /// The chat's title.
    #[prop(into)]
    title: Signal<String>,
    /// Its messages, oldest first.
    #[prop(into)]
    rows: Signal<Vec<MessageRow>>,
    /// Send a message; `Err` carries words to show.
    on_send: Callback<String, Result<(), String>>,
    /// The reader reached the top: load older messages.
    on_reach_top: Callback<()>,
    /// Send a refused message again (its id).
    on_retry: Callback<String>,
    /// Back to the chat list (narrow screens).
    on_back: Callback<()>,
    /// 1:1 or group; without it the header offers neither the safety number nor members.
    #[prop(into, optional)]
    kind: MaybeProp<ChatKind>,
    /// A 1:1 chat's safety number, once known.
    #[prop(into, optional)]
    safety_number: MaybeProp<String>,
    /// Words announcing a member's key change, while there is one.
    #[prop(into, optional)]
    key_change: MaybeProp<String>,
    /// The person confirmed the key change.
    #[prop(optional)]
    on_key_change_ok: Option<Callback<()>>,
    /// A group's members.
    #[prop(into, default = Signal::stored(Vec::new()))]
    members: Signal<Vec<MemberRow>>,
    /// Whether this account is (still) in the chat.
    #[prop(into, default = Signal::stored(true))]
    is_member: Signal<bool>,
    /// Take a member (their id) out of the group.
    #[prop(optional)]
    on_remove_member: Option<Callback<u64>>,
    /// Leave the group.
    #[prop(optional)]
    on_leave: Option<Callback<()>>,
    /// Who is typing in the chat.
    #[prop(into, default = Signal::stored(Vec::new()))]
    typing: Signal<Vec<String>>,
    /// A 1:1 chat's other person: online or last seen.
    #[prop(into, default = Signal::stored(None))]
    presence: Signal<Option<Presence>>,
    /// The time now (ms since the Unix epoch), so "last seen" ages.
    #[prop(into, default = Signal::stored(js_sys::Date::now()))]
    now_ms: Signal<f64>,
    /// The open message details, if any.
    #[prop(into, default = Signal::stored(None))]
    receipts: Signal<Option<MessageReceipts>>,
    /// Open a message's details (its id), or close them (`None`).
    #[prop(optional)]
    on_details: Option<Callback<Option<String>>>,
    /// Whether this account is an admin of the group.
    #[prop(into, default = Signal::stored(false))]
    am_admin: Signal<bool>,
    /// Make a member (their id) an admin or no longer one.
    #[prop(optional)]
    on_set_admin: Option<Callback<(u64, bool)>>,
    /// Rename the group.
    #[prop(optional)]
    on_rename: Option<Callback<String>>,
    /// Add a person (their username) to the group.
    #[prop(optional)]
    on_add_member: Option<Callback<String>>,
    /// Whether this account blocks the other person of the 1:1 chat.
    #[prop(into, default = Signal::stored(false))]
    blocked: Signal<bool>,
    /// Block (`true`) or unblock the other person of the 1:1 chat.
    #[prop(optional)]
    on_block: Option<Callback<bool>>,
    /// Whether this browser does not notify of the chat.
    #[prop(into, default = Signal::stored(false))]
    muted: Signal<bool>,
    /// Mute the chat (`true`) or no longer; without it the header offers no such button.
    #[prop(optional)]
    on_mute: Option<Callback<bool>>,
    /// An action on a message; without it messages have no menu. `Err` carries words for the
    /// composer.
    #[prop(optional)]
    on_action: Option<Callback<MessageAction, Result<(), String>>>,
    /// The chats a message can be forwarded to.
    #[prop(into, default = Signal::stored(Vec::new()))]
    forward_targets: Signal<Vec<ChatRow>>,
    /// What the composer starts with when the chat opens (its draft).
    #[prop(into, optional)]
    draft: MaybeProp<String>,
    /// Moves when another tab changed the draft (sent it, say): the composer then takes the
    /// draft again.
    #[prop(into, optional)]
    draft_taken: MaybeProp<u32>,
    /// The person typed in the composer (a new message or a reply, not an edit): its text.
    #[prop(optional)]
    on_input: Option<Callback<String>>,
    /// Why the last action on a message was refused (the engine's words).
    #[prop(into, optional)]
    action_error: MaybeProp<String>,
    /// A message to bring into sight (a search result chosen), by id.
    #[prop(into, default = Signal::stored(None))]
    reveal: Signal<Option<String>>,
    /// Bring a message not loaded into sight (a quote's target further back), by id.
    #[prop(optional)]
    on_show_message: Option<Callback<String>>,
) -> impl IntoView {
    let on_details = on_details.unwrap_or_else(|| Callback::new(|_| {}));
    let on_block = on_block.unwrap_or_else(|| Callback::new(|_| {}));
    let on_key_change_ok = on_key_change_ok.unwrap_or_else(|| Callback::new(|()| {}));
    let on_remove = on_remove_member.unwrap_or_else(|| Callback::new(|_| {}));
    let on_leave = on_leave.unwrap_or_else(|| Callback::new(|()| {}));
    let number = Signal::derive(move || safety_number.get());
    // Drawn afresh for each chat, as the composer is: a Leave question left open in one group,
    // or a name typed to rename it, must not be one click from acting on the next.
    let details = move || match (key.track(), kind.get()).1 {
        Some(ChatKind::Direct) => view! {
            <details class="chat-info" open=details_open()>
                <summary data-testid="chat-info">{t(Text::VerifySafetyNumber)}</summary>
                <div class="chat-info-panel">
                    <SafetyNumber number partner=title/>
                    <Show when=move || !blocked.get()>
                        <button
                            data-testid="block-user"
                            type="button"
                            class="danger"
                            on:click=move |_| on_block.run(true)
                        >
                            {t(Text::Block)}
                        </button>
                    </Show>
                </div>
            </details>
        }
        .into_any(),
        Some(ChatKind::Group) => view! {
            <details class="chat-info" open=details_open()>
                <summary data-testid="chat-info">
                    {move || tn(Count::MembersCount, members.with(Vec::len) as u64, &[])}
                </summary>
                <div class="chat-info-panel">
                    <ChatMembers
                        members
                        is_member
                        on_remove
                        on_leave
                        am_admin
                        on_set_admin=on_set_admin.unwrap_or_else(|| Callback::new(|_| {}))
                        on_rename=on_rename.unwrap_or_else(|| Callback::new(|_| {}))
                        on_add_member=on_add_member.unwrap_or_else(|| Callback::new(|_| {}))
                    />
                </div>
            </details>
        }
        .into_any(),
        None => ().into_any(),
    };
    crate::browser_back::while_open(crate::browser_back::Layer::Chat, on_back);
    let section = NodeRef::<Section>::new();
    // Files pasted or dropped onto the chat are sent like chosen ones, and the details folded
    // or unfolded are remembered. One listener for the five events, attached to the element,
    // costs the page's module less than five handlers; it hears them on their way down, since
    // `toggle` does not bubble, and is let go with the view.
    let listener = StoredValue::new_local(section_listener(section, use_context::<FileActions>()));
    section.on_load(move |element| {
        listener.with_value(|listener| {
            for kind in ["paste", "dragover", "dragleave", "drop", "toggle"] {
                let _ = element.add_event_listener_with_callback_and_bool(
                    kind,
                    listener.as_ref().unchecked_ref(),
                    true,
                );
            }
        });
    });
    view! {
        <section class="chat-view" node_ref=section>
            <PhotoViewer/>
            <header class="chat-header">
                <button
                    data-testid="chat-back"
                    type="button"
                    class="back"
                    aria-label=t(Text::BackToChats)
                    on:click=move |_| on_back.run(())
                >
                    "←"
                </button>
                <div class="chat-heading">
                    // Focusable from script only: a chat opened on a phone takes the focus here.
                    <h2 data-testid="chat-title" tabindex="-1" dir="auto">{title}</h2>
                    // Blocked: their presence is not shown (nor would the server share it).
                    <Show when=move || kind.get() == Some(ChatKind::Direct) && !blocked.get()>
                        <PresenceLine presence now_ms/>
                    </Show>
                </div>
                {on_mute
                    .map(|on_mute| {
                        view! {
                            <button
                                data-testid="chat-mute"
                                type="button"
                                class="mute"
                                aria-label=t(Text::MuteChat)
                                title=t(Text::MuteChat)
                                aria-pressed=move || muted.get().to_string()
                                on:click=move |_| on_mute.run(!muted.get_untracked())
                            >
                                {move || if muted.get() { "🔕" } else { "🔔" }}
                            </button>
                        }
                    })}
            </header>
            {details}
            <KeyChangeBanner notice=Signal::derive(move || key_change.get()) on_ok=on_key_change_ok/>
            {move || {
                key.track();
                // Drawn anew for each chat opened, which then takes the focus (`crate::focus`);
                // here rather than in an effect of its own, which would cost the page's module
                // another copy of the effect machinery.
                const TITLE: &str = "[data-testid=chat-title]";
                focus::move_to(if focus::on_a_phone() {
                    &[TITLE]
                } else {
                    &["[data-testid=composer-input]", TITLE]
                });
                let text = RwSignal::new(draft.get_untracked().unwrap_or_default());
                let composing = RwSignal::new(None::<Composing>);
                // Another tab sent this chat's draft, or wrote it on: the box follows, so that it
                // is not sent twice (an edit under way keeps its text, and puts the new draft
                // back after). Not on the echo of this tab's own typing, which moves only the
                // draft: that would take keystrokes typed since.
                Effect::new(move |seen: Option<Option<u32>>| {
                    let taken = draft_taken.get();
                    if seen.is_some_and(|seen| seen != taken) {
                        let now = draft.get_untracked().unwrap_or_default();
                        match composing.get_untracked() {
                            Some(Composing::Edit { target, .. }) => {
                                composing.set(Some(Composing::Edit { target, draft: now }))
                            }
                            _ => text.set(now),
                        }
                    }
                    taken
                });
                let local_error = RwSignal::new(None::<String>);
                // The message (id in hex) whose reaction the emoji picker is choosing.
                let reacting_to = RwSignal::new(None::<String>);
                let emoji_source = use_context::<EmojiSource>();
                let act = move |action: MessageAction| match on_action {
                    Some(on_action) => on_action.run(action),
                    None => Err(t(Text::CannotBeDoneHere)),
                };
                let on_choice = on_action
                    .map(|_| {
                        Callback::new(move |choice: MenuChoice| {
                            let action = match choice {
                                MenuChoice::Reply(row) => {
                                    // From an edit: its text goes, what was typed before it
                                    // comes back to be the reply.
                                    if let Some(Composing::Edit { draft, .. }) =
                                        composing.get_untracked()
                                    {
                                        text.set(draft);
                                    }
                                    let sender = match (row.own, row.sender) {
                                        (true, _) => t(Text::You),
                                        (false, Some(name)) => name,
                                        (false, None) => title.get_untracked(),
                                    };
                                    composing.set(Some(Composing::Reply {
                                        target: row.id,
                                        sender,
                                        text: row.text,
                                    }));
                                    focus_composer(section);
                                    return;
                                }
                                MenuChoice::Edit(row) => {
                                    let draft = match composing.get_untracked() {
                                        Some(Composing::Edit { draft, .. }) => draft,
                                        _ => text.get_untracked(),
                                    };
                                    text.set(row.text);
                                    composing.set(Some(Composing::Edit { target: row.id, draft }));
                                    focus_composer(section);
                                    return;
                                }
                                MenuChoice::Copy(text) => {
                                    copy_text(&text);
                                    return;
                                }
                                MenuChoice::DeleteForEveryone(id) => {
                                    MessageAction::DeleteForEveryone(id)
                                }
                                MenuChoice::DeleteForMe(id) => MessageAction::DeleteForMe(id),
                                MenuChoice::MoreReactions(target) => {
                                    if let Some(source) = emoji_source {
                                        source.load.run(());
                                    }
                                    reacting_to.set(Some(target));
                                    return;
                                }
                                MenuChoice::React { target, emoji } => {
                                    MessageAction::React { target, emoji }
                                }
                                MenuChoice::Forward { target, to } => {
                                    MessageAction::Forward { target, to }
                                }
                            };
                            local_error.set(act(action).err());
                        })
                    });
                let send = Callback::new(move |message: String| {
                    // The message answered or edited was deleted meanwhile: sent now, it would
                    // be refused after the box emptied, and what was typed lost. The reply or
                    // edit ends, the text stays, and the words say why.
                    if let Some(Composing::Reply { target, .. } | Composing::Edit { target, .. }) =
                        composing.get_untracked()
                        && rows.with_untracked(|rows| {
                            rows.iter().any(|row| row.id == target && row.deleted)
                        })
                    {
                        composing.set(None);
                        return Err(t(Text::MessageWasDeleted));
                    }
                    let sent = match composing.get_untracked() {
                        None => on_send.run(message),
                        Some(Composing::Reply { target, .. }) => {
                            act(MessageAction::Reply { target, text: message })
                        }
                        Some(Composing::Edit { target, draft }) => {
                            let edited = act(MessageAction::Edit { target, text: message });
                            if edited.is_ok() {
                                text.set(draft);
                            }
                            edited
                        }
                    };
                    if sent.is_ok() {
                        composing.set(None);
                        local_error.set(None);
                    }
                    sent
                });
                let cancel = Callback::new(move |()| {
                    if let Some(Composing::Edit { draft, .. }) = composing.get_untracked() {
                        text.set(draft);
                    }
                    composing.set(None);
                });
                let typed = Callback::new(move |value: String| {
                    let editing = matches!(composing.get_untracked(), Some(Composing::Edit { .. }));
                    if let (Some(on_input), false) = (on_input, editing) {
                        on_input.run(value);
                    }
                });
                let remote_error = Signal::derive(move || {
                    local_error.get().or_else(|| action_error.get())
                });
                // A reaction from every emoji: the picker above the composer; once chosen, or
                // closed, the message takes the focus back, as after its menu.
                let reaction_picker = emoji_source.map(|source| {
                    let done = move || {
                        if let Some(target) = reacting_to.get_untracked() {
                            focus_message(section, &target);
                        }
                        reacting_to.set(None);
                    };
                    view! {
                        <Show when=move || reacting_to.with(Option::is_some)>
                            <div class="reaction-picker">
                                <EmojiPicker
                                    source
                                    on_pick=Callback::new(move |emoji: String| {
                                        if let Some(target) = reacting_to.get_untracked() {
                                            local_error.set(
                                                act(MessageAction::React { target, emoji }).err(),
                                            );
                                        }
                                        done();
                                    })
                                    on_close=Callback::new(move |()| done())
                                />
                            </div>
                        </Show>
                    }
                });
                view! {
                    <MessageList
                        rows
                        on_reach_top
                        on_retry
                        on_details=Callback::new(move |id| on_details.run(Some(id)))
                        on_choice
                        forward_targets
                        reveal
                        on_unloaded=on_show_message.unwrap_or_else(|| Callback::new(|_| {}))
                    />
                    <MessageReceiptsPanel receipts on_close=Callback::new(move |()| on_details.run(None))/>
                    {reaction_picker}
                    <Show when=move || !blocked.get()>
                        <TypingIndicator names=typing/>
                    </Show>
                    <Show
                        when=move || is_member.get()
                        fallback=|| {
                            // Out of the group (left, or taken out), the composer and the Leave
                            // button gone with the focus they may have had: the title takes it,
                            // as when a chat left is opened.
                            focus::move_to(&["[data-testid=chat-title]"]);
                            view! {
                                <p data-testid="chat-left" class="chat-left" role="status">
                                    {t(Text::LeftNotice)}
                                </p>
                            }
                        }
                    >
                        <Show
                            when=move || !blocked.get()
                            fallback=move || {
                                view! {
                                    <div data-testid="chat-blocked" class="chat-blocked" role="status">
                                        <p>{t(Text::BlockedNotice)}</p>
                                        <button
                                            data-testid="chat-unblock"
                                            type="button"
                                            on:click=move |_| on_block.run(false)
                                        >
                                            {t(Text::Unblock)}
                                        </button>
                                    </div>
                                }
                            }
                        >
                            <Composer
                                on_send=send
                                text
                                on_input=typed
                                composing=Signal::derive(move || composing.get())
                                on_cancel=cancel
                                remote_error
                            />
                        </Show>
                    </Show>
                }
            }}
        </section>
    }
}

/// Gives the focus to the message `id` (hex) in `section`, if it is on screen.
fn focus_message(section: NodeRef<Section>, id: &str) {
    focus_in(section, &format!("[data-msg-id=\"{id}\"]"));
}

/// Puts the focus in the chat's message box (a reply or edit was chosen from a menu).
fn focus_composer(section: NodeRef<Section>) {
    focus_in(section, "[data-testid=composer-input]");
}

/// Gives the focus to the first element in `section` that `selector` finds, if any.
fn focus_in(section: NodeRef<Section>, selector: &str) {
    let found = section
        .get_untracked()
        .and_then(|section| section.query_selector(selector).ok().flatten());
    if let Some(element) = found.and_then(|found| found.dyn_into::<web_sys::HtmlElement>().ok()) {
        // Focusing cannot fail in a way the person could act on.
        let _ = element.focus();
    }
}

/// Puts `text` on the clipboard. A write a click made needs no permission; a browser that
/// refuses it anyway (a page not served securely) leaves the clipboard as it was, which the
/// person sees when pasting.
fn copy_text(text: &str) {
    if let Some(window) = web_sys::window() {
        // The promise is not awaited: words for the rare refusal would cost the page's
        // module more than it has to spare (bench/NOTES.md).
        let _ = window.navigator().clipboard().write_text(text);
    }
}
