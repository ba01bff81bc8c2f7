//! One message bubble: its sender, the quote it answers, its text (or the deleted words) with
//! its web addresses as links, the forwarded and edited marks, its status, its reactions, and
//! the menu of what can be done to it.
//!
//! A link opens in a new tab, with neither this page nor its address given to the site
//! (`noopener noreferrer`), and only over `http` or `https`. A right-click on a link gives the
//! browser's menu (to copy the address), not the message's.
//!
//! The menu opens by right-click, by a long press on a touch screen (a pointer held still for
//! [`LONG_PRESS_MS`]), and from the keyboard: the message is focusable, and the ContextMenu key
//! or Shift+F10 opens it, as does its "⋯" button (shown on hover and focus).

use leptos::html::Div;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, LinkSpan, MessageRow, MessageStatus};
use merpati_words::{Text, refusals, t, tf};

use super::attachment::Attachment;
use super::message_menu::{MenuChoice, MessageMenu};

/// How long a touch must be held still to open the menu, in milliseconds.
pub const LONG_PRESS_MS: u64 = 500;
/// How far a touch may move, in CSS pixels, and still be a long press (not a scroll).
const LONG_PRESS_SLOP_PX: i32 = 10;

/// What a message offers beyond showing itself: the menu's choices, the quote's jump, retry.
#[derive(Debug, Clone, Copy)]
pub struct MessageHandlers {
    /// A choice in the menu; without it there is no menu.
    pub on_choice: Option<Callback<MenuChoice>>,
    /// The chats the menu offers to forward to.
    pub forward_targets: Signal<Vec<ChatRow>>,
    /// The quote was clicked: show the quoted message (its id).
    pub on_quote: Callback<String>,
    /// Send a refused message again (its id); offered on failed messages when given.
    pub on_retry: Option<Callback<String>>,
    /// Open a message's details (its id): who has it and who read it; offered on own
    /// messages when given.
    pub on_details: Option<Callback<String>>,
    /// The message to highlight briefly (the one a quote jumped to).
    pub highlighted: Signal<Option<String>>,
}

/// One message bubble; `state` is the row as it shows now (its id never changes).
#[component]
pub fn Message(state: Signal<MessageRow>, handlers: MessageHandlers) -> impl IntoView {
    let MessageHandlers {
        on_choice,
        forward_targets,
        on_quote,
        on_retry,
        on_details,
        highlighted,
    } = handlers;
    let (id, own, sender, system) =
        state.with_untracked(|row| (row.id.clone(), row.own, row.sender.clone(), row.system));
    if system {
        // A line the server wrote ("alice renamed the group to …"): nobody's message, and
        // nothing to do with it.
        return view! {
            <div data-testid="message-system" class="message-system" data-msg-id=id role="note">
                {move || state.with(|row| row.text.clone())}
            </div>
        }
        .into_any();
    }
    // A row gains its file when it opens (it arrived before its key) and loses it when
    // deleted; the file's view is made anew then (its thumbnail's URL with it), and its
    // progress follows the row. A plain closure over a memo rather than `Show`: it re-runs
    // only on those two changes, and costs the page's module far less.
    let text = move || state.with(|row| linked_text(&row.text, &row.links));
    let with_file = Memo::new(move |_| state.with(|row| row.attachment.is_some() && !row.deleted));
    let file = Signal::derive(move || state.with(|row| row.attachment.clone()));
    let file_id = id.clone();
    let body = (move || {
        if with_file.get() {
            view! { <Attachment id=file_id.clone() row=file/> }.into_any()
        } else {
            view! { <p data-testid="message-text" class="message-text" dir="auto">{text}</p> }
                .into_any()
        }
    })
    .into_any();
    let bubble = NodeRef::<Div>::new();
    let menu_open = RwSignal::new(false);
    let press = StoredValue::new_local(None::<(i32, i32, TimeoutHandle)>);
    let open_menu = move || {
        // Setting it again would rebuild an open menu.
        if on_choice.is_some() && !menu_open.get_untracked() {
            menu_open.set(true);
        }
    };
    let close_menu = Callback::new(move |()| {
        if menu_open.get_untracked() {
            menu_open.set(false);
            if let Some(bubble) = bubble.get_untracked() {
                // The focus goes back to the message that opened the menu.
                let _ = bubble.focus();
            }
        }
    });
    let cancel_press = move || {
        if let Some((_, _, timer)) = press.try_update_value(Option::take).flatten() {
            timer.clear();
        }
    };
    let on_pointerdown = move |ev: web_sys::PointerEvent| {
        if ev.pointer_type() != "touch" {
            return;
        }
        cancel_press();
        let timer = set_timeout_with_handle(
            move || {
                press.set_value(None);
                open_menu();
            },
            std::time::Duration::from_millis(LONG_PRESS_MS),
        );
        if let Ok(timer) = timer {
            press.set_value(Some((ev.client_x(), ev.client_y(), timer)));
        }
    };
    let on_pointermove = move |ev: web_sys::PointerEvent| {
        let moved = press.with_value(|press| {
            press.as_ref().is_some_and(|(x, y, _)| {
                (ev.client_x() - x).abs() > LONG_PRESS_SLOP_PX
                    || (ev.client_y() - y).abs() > LONG_PRESS_SLOP_PX
            })
        });
        if moved {
            cancel_press();
        }
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        let opens = ev.key() == "ContextMenu" || (ev.key() == "F10" && ev.shift_key());
        if opens && !menu_open.get_untracked() {
            ev.prevent_default();
            open_menu();
        }
    };

    let status = move || state.with(|row| row.status);
    let status_words = move || match status() {
        MessageStatus::Pending => t(Text::Sending),
        MessageStatus::Sent => t(Text::Sent),
        MessageStatus::Delivered => t(Text::Delivered),
        MessageStatus::Read => t(Text::Read),
        // Why, when the server said: blocked, no longer in the chat, too long...
        MessageStatus::Failed => match state.with(|row| row.failure) {
            Some(code) => tf(
                Text::NotSentBecause,
                &[("reason", &refusals::request(code))],
            ),
            None => t(Text::NotSent),
        },
    };
    let quote = move || {
        state.with(|row| row.quote.clone()).map(|quote| {
            let target = quote.target.clone();
            let label = tf(Text::ShowQuoted, &[("name", &quote.sender)]);
            view! {
                <button
                    type="button"
                    class="message-quote"
                    data-testid="message-quote"
                    data-target-id=quote.target
                    aria-label=label
                    on:click=move |_| on_quote.run(target.clone())
                >
                    <span class="quote-sender">{quote.sender}</span>
                    <span class="quote-text">{quote.text}</span>
                </button>
            }
            .into_any()
        })
    };
    let reactions = {
        let id = id.clone();
        move || {
            let reactions = state.with(|row| row.reactions.clone());
            (!reactions.is_empty()).then(|| {
                let id = id.clone();
                view! {
                    <div class="reactions">
                        {reactions
                            .into_iter()
                            .map(|reaction| {
                                let who = reaction.people.join(", ");
                                let label = tf(
                                    Text::ReactionLabel,
                                    &[
                                        ("emoji", &reaction.emoji),
                                        ("count", &reaction.count.to_string()),
                                        ("people", &who),
                                    ],
                                );
                                let emoji = reaction.emoji.clone();
                                let choice = MenuChoice::React {
                                    target: id.clone(),
                                    emoji: reaction.emoji.clone(),
                                };
                                view! {
                                    <button
                                        type="button"
                                        class="reaction"
                                        class:mine=reaction.mine
                                        data-testid="reaction"
                                        data-emoji=emoji
                                        data-count=reaction.count.to_string()
                                        aria-pressed=if reaction.mine { "true" } else { "false" }
                                        title=who
                                        aria-label=label
                                        on:click=move |_| {
                                            if let Some(on_choice) = on_choice {
                                                on_choice.run(choice.clone());
                                            }
                                        }
                                    >
                                        <span class="emoji">{reaction.emoji}</span>
                                        " "
                                        {reaction.count}
                                    </button>
                                }
                                .into_any()
                            })
                            .collect_view()}
                    </div>
                }
            })
        }
    };
    let retry_id = id.clone();
    let details_id = id.clone();
    let highlight_id = id.clone();
    view! {
        <div
            data-testid="message"
            class="message"
            class:own=own
            class:highlighted=move || highlighted.with(|shown| shown.as_deref() == Some(&highlight_id))
            data-msg-id=id.clone()
            data-status=move || status().as_str()
            data-own=if own { "true" } else { "false" }
            data-lock=move || state.with(|row| row.lock.as_str())
            data-deleted=move || if state.with(|row| row.deleted) { "true" } else { "false" }
            tabindex="0"
            node_ref=bubble
            on:contextmenu=move |ev| {
                if on_choice.is_some() && !on_link(&ev) {
                    ev.prevent_default();
                    open_menu();
                }
            }
            on:keydown=on_keydown
            on:pointerdown=on_pointerdown
            on:pointermove=on_pointermove
            on:pointerup=move |_| cancel_press()
            on:pointercancel=move |_| cancel_press()
        >
            {sender.map(|name| view! { <span class="sender">{name}</span> })}
            {move || {
                state
                    .with(|row| row.forwarded)
                    .then(|| {
                        view! {
                            <span class="forwarded" data-testid="message-forwarded">
                                {t(Text::Forwarded)}
                            </span>
                        }
                    })
            }}
            {quote}
            {body}
            {reactions}
            <span class="meta">
                {move || {
                    state
                        .with(|row| row.edited && !row.deleted)
                        .then(|| {
                            view! {
                                <span class="edited" data-testid="message-edited">
                                    {t(Text::Edited)}
                                </span>
                            }
                        })
                }}
                <time>{move || state.with(|row| row.time.clone())}</time>
                {own
                    .then(|| {
                        view! {
                            <span data-testid="message-status" class="status">
                                {status_words}
                            </span>
                        }
                    })}
                {on_details
                    .filter(|_| own)
                    .map(|on_details| {
                        view! {
                            <button
                                type="button"
                                class="link"
                                data-testid="message-info"
                                aria-label=t(Text::InfoAboutMessage)
                                hidden=move || {
                                    matches!(status(), MessageStatus::Pending | MessageStatus::Failed)
                                }
                                on:click=move |_| on_details.run(details_id.clone())
                            >
                                {t(Text::Info)}
                            </button>
                        }
                    })}
                {on_retry
                    .filter(|_| own)
                    .map(|on_retry| {
                        view! {
                            <button
                                type="button"
                                class="link"
                                data-testid="message-retry"
                                hidden=move || status() != MessageStatus::Failed
                                on:click=move |_| on_retry.run(retry_id.clone())
                            >
                                {t(Text::Retry)}
                            </button>
                        }
                    })}
                {on_choice
                    .map(|_| {
                        view! {
                            <button
                                type="button"
                                class="message-menu-button"
                                data-testid="message-menu"
                                aria-label=t(Text::MessageActions)
                                aria-haspopup="menu"
                                aria-expanded=move || if menu_open.get() { "true" } else { "false" }
                                on:click=move |_| open_menu()
                            >
                                "⋯"
                            </button>
                        }
                    })}
            </span>
            {move || {
                let on_choice = on_choice?;
                // A choice closes the menu, and the focus goes back to the message — but for a
                // reply or an edit, which puts it in the composer, and more reactions, in the
                // picker — or the next Tab would start from the top of the page.
                let on_choose = Callback::new(move |choice: MenuChoice| {
                    let elsewhere = matches!(
                        choice,
                        MenuChoice::Reply(_) | MenuChoice::Edit(_) | MenuChoice::MoreReactions(_)
                    );
                    menu_open.set(false);
                    on_choice.run(choice);
                    if let (false, Some(bubble)) = (elsewhere, bubble.get_untracked()) {
                        let _ = bubble.focus();
                    }
                });
                menu_open
                    .get()
                    .then(|| {
                        view! {
                            <MessageMenu
                                row=state.get_untracked()
                                forward_targets
                                on_choose
                                on_close=close_menu
                            />
                        }
                        .into_any()
                    })
            }}
        </div>
    }
    .into_any()
}

/// `text` with the addresses at `links` as links; an address the text does not hold where
/// it says (it cannot happen) stays text, and only `http` and `https` ones are made links.
fn linked_text(text: &str, links: &[LinkSpan]) -> Vec<AnyView> {
    let mut parts = Vec::with_capacity(links.len() * 2 + 1);
    let mut at = 0;
    for link in links {
        let (start, end) = (link.start as usize, link.end as usize);
        let href = link.href.to_ascii_lowercase();
        let web = href.starts_with("https://") || href.starts_with("http://");
        let (Some(before), Some(shown), true) = (text.get(at..start), text.get(start..end), web)
        else {
            continue;
        };
        parts.push(before.to_owned().into_any());
        parts.push(
            view! {
                <a
                    data-testid="message-link"
                    href=link.href.clone()
                    target="_blank"
                    rel="noopener noreferrer"
                >
                    {shown.to_owned()}
                </a>
            }
            .into_any(),
        );
        at = end;
    }
    parts.push(text.get(at..).unwrap_or_default().to_owned().into_any());
    parts
}

/// Whether `ev` happened on a link in the message.
fn on_link(ev: &web_sys::MouseEvent) -> bool {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .and_then(|target| target.closest("a[href]").ok().flatten())
        .is_some()
}
