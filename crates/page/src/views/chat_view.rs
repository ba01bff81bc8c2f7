//! One chat on screen.

use leptos::prelude::*;
use merpati_bridge::{MemberRow, MessageRow};
use merpati_protocol::ChatKind;

use super::chat_members::{ChatMembers, LEFT_NOTICE};
use super::chat_security::{KeyChangeBanner, SafetyNumber};
use super::composer::Composer;
use super::message_list::MessageList;

/// A chat: its title, its messages and the composer. Under the header, a 1:1 chat shows its
/// safety number ("Verify") and a group its members, each in a disclosure that starts open
/// (so both are visible at once, to people and to browser tests) and folds away; a key change
/// shows as a banner until the person confirms it; once this account is out of a group the
/// composer gives way to a notice.
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
) -> impl IntoView {
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
                    <ChatMembers members is_member on_remove on_leave/>
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
                <h2 data-testid="chat-title">{title}</h2>
            </header>
            {details}
            <KeyChangeBanner notice=Signal::derive(move || key_change.get()) on_ok=on_key_change_ok/>
            {move || {
                key.track();
                view! {
                    <MessageList rows on_reach_top on_retry/>
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
                        <Composer on_send/>
                    </Show>
                }
            }}
        </section>
    }
}
