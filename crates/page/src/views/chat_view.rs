//! One chat on screen.

use leptos::prelude::*;
use merpati_bridge::{MemberRow, MessageReceipts, MessageRow};
use merpati_protocol::{ChatKind, Presence};

use super::chat_members::{ChatMembers, LEFT_NOTICE};
use super::chat_security::{KeyChangeBanner, SafetyNumber};
use super::composer::Composer;
use super::message_list::MessageList;
use super::receipts::MessageReceiptsPanel;
use super::signals::{PresenceLine, TypingIndicator};

/// Shown instead of the composer in a 1:1 chat whose other person this account blocks.
pub const BLOCKED_NOTICE: &str = "You blocked this person. They cannot message you here.";

/// A chat: its title, its messages and the composer. Under the header, a 1:1 chat shows its
/// safety number ("Verify") and a group its members, each in a disclosure that starts open
/// (so both are visible at once, to people and to browser tests) and folds away; a key change
/// shows as a banner until the person confirms it; once this account is out of a group the
/// composer gives way to a notice, as it does while the other person of a 1:1 chat is blocked.
/// The header shows a 1:1 chat's presence, the list ends with who is typing, and a message's
/// details (who has it, who read it) open from its "Info".
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
    /// The person is typing (each input in the composer).
    #[prop(optional)]
    on_typing: Option<Callback<()>>,
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
    /// Whether this account blocks the other person of the 1:1 chat.
    #[prop(into, default = Signal::stored(false))]
    blocked: Signal<bool>,
    /// Block (`true`) or unblock the other person of the 1:1 chat.
    #[prop(optional)]
    on_block: Option<Callback<bool>>,
) -> impl IntoView {
    let on_typing = on_typing.unwrap_or_else(|| Callback::new(|()| {}));
    let on_details = on_details.unwrap_or_else(|| Callback::new(|_| {}));
    let on_block = on_block.unwrap_or_else(|| Callback::new(|_| {}));
    let on_key_change_ok = on_key_change_ok.unwrap_or_else(|| Callback::new(|()| {}));
    let on_remove = on_remove_member.unwrap_or_else(|| Callback::new(|_| {}));
    let on_leave = on_leave.unwrap_or_else(|| Callback::new(|()| {}));
    let number = Signal::derive(move || safety_number.get());
    let details = move || match kind.get() {
        Some(ChatKind::Direct) => view! {
            <details class="chat-info" open>
                <summary data-testid="chat-info">"Verify safety number"</summary>
                <div class="chat-info-panel">
                    <SafetyNumber number partner=title/>
                    <Show when=move || !blocked.get()>
                        <button
                            data-testid="chat-block"
                            type="button"
                            class="danger"
                            on:click=move |_| on_block.run(true)
                        >
                            "Block"
                        </button>
                    </Show>
                </div>
            </details>
        }
        .into_any(),
        Some(ChatKind::Group) => view! {
            <details class="chat-info" open>
                <summary data-testid="chat-info">
                    "Members (" {move || members.with(Vec::len)} ")"
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
                    />
                </div>
            </details>
        }
        .into_any(),
        None => ().into_any(),
    };
    view! {
        <section class="chat-view">
            <header class="chat-header">
                <button
                    type="button"
                    class="back"
                    aria-label="Back to chats"
                    on:click=move |_| on_back.run(())
                >
                    "←"
                </button>
                <div class="chat-heading">
                    <h2 data-testid="chat-title">{title}</h2>
                    // Blocked: their presence is not shown (nor would the server share it).
                    <Show when=move || kind.get() == Some(ChatKind::Direct) && !blocked.get()>
                        <PresenceLine presence now_ms/>
                    </Show>
                </div>
            </header>
            {details}
            <KeyChangeBanner notice=Signal::derive(move || key_change.get()) on_ok=on_key_change_ok/>
            {move || {
                key.track();
                view! {
                    <MessageList
                        rows
                        on_reach_top
                        on_retry
                        on_details=Callback::new(move |id| on_details.run(Some(id)))
                    />
                    <MessageReceiptsPanel receipts on_close=Callback::new(move |()| on_details.run(None))/>
                    <Show when=move || !blocked.get()>
                        <TypingIndicator names=typing/>
                    </Show>
                    <Show
                        when=move || is_member.get()
                        fallback=|| {
                            view! {
                                <p data-testid="chat-left" class="chat-left" role="status">
                                    {LEFT_NOTICE}
                                </p>
                            }
                        }
                    >
                        <Show
                            when=move || !blocked.get()
                            fallback=move || {
                                view! {
                                    <div data-testid="chat-blocked" class="chat-blocked" role="status">
                                        <p>{BLOCKED_NOTICE}</p>
                                        <button
                                            data-testid="chat-unblock"
                                            type="button"
                                            on:click=move |_| on_block.run(false)
                                        >
                                            "Unblock"
                                        </button>
                                    </div>
                                }
                            }
                        >
                            // Input events bubble from the composer's box: each one is typing.
                            <div class="composer-slot" on:input=move |_| on_typing.run(())>
                                <Composer on_send/>
                            </div>
                        </Show>
                    </Show>
                }
            }}
        </section>
    }
}
