//! The members of a group, with what admins can do (add someone, rename, make or remove
//! admins, take someone out), and leaving (asked first).

use leptos::prelude::*;
use merpati_bridge::MemberRow;
use merpati_words::{Text, t, tf};

use crate::focus;
use crate::views::ask_first::ask_first;

/// A group's members; admins are marked "admin". While this account is an admin (and a
/// member), every other member has "Remove" and one "Make admin" / "Remove admin" toggle, and
/// the panel offers to add someone by username and to rename the group; every member can
/// leave. Afterwards the list is read-only.
#[component]
pub fn ChatMembers(
    /// The members, in the server's order.
    #[prop(into)]
    members: Signal<Vec<MemberRow>>,
    /// Whether this account is still in the group.
    #[prop(into)]
    is_member: Signal<bool>,
    /// Take this member (their id) out of the group.
    on_remove: Callback<u64>,
    /// Leave the group.
    on_leave: Callback<()>,
    /// Whether this account is an admin of the group.
    #[prop(into, default = Signal::stored(false))]
    am_admin: Signal<bool>,
    /// Make a member (their id) an admin (`true`) or no longer one.
    #[prop(optional)]
    on_set_admin: Option<Callback<(u64, bool)>>,
    /// Rename the group.
    #[prop(optional)]
    on_rename: Option<Callback<String>>,
    /// Add a person (the username as typed) to the group.
    #[prop(optional)]
    on_add_member: Option<Callback<String>>,
) -> impl IntoView {
    let on_set_admin = on_set_admin.unwrap_or_else(|| Callback::new(|_| {}));
    let on_rename = on_rename.unwrap_or_else(|| Callback::new(|_| {}));
    let on_add_member = on_add_member.unwrap_or_else(|| Callback::new(|_| {}));
    let can_administer = Signal::derive(move || is_member.get() && am_admin.get());
    let new_title = RwSignal::new(String::new());
    let new_member = RwSignal::new(String::new());
    view! {
        <section data-testid="chat-members" class="chat-members" aria-label=t(Text::Members)>
            <Show when=move || can_administer.get()>
                <form
                    data-testid="group-add-member"
                    class="group-add-member"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        let username = new_member.get_untracked().trim().to_owned();
                        if !username.is_empty() {
                            on_add_member.run(username);
                            new_member.set(String::new());
                        }
                    }
                >
                    <input
                        data-testid="group-add-member-input"
                        type="text"
                        placeholder=t(Text::Username)
                        aria-label=t(Text::UsernameToAdd)
                        autocomplete="off"
                        prop:value=move || new_member.get()
                        on:input=move |ev| new_member.set(event_target_value(&ev))
                    />
                    <button data-testid="group-add-member-submit" type="submit">
                        {t(Text::AddMember)}
                    </button>
                </form>
                <form
                    data-testid="group-rename"
                    class="group-rename"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        let title = new_title.get_untracked();
                        if !title.trim().is_empty() {
                            on_rename.run(title);
                            new_title.set(String::new());
                        }
                    }
                >
                    <input
                        data-testid="group-rename-input"
                        type="text"
                        placeholder=t(Text::NewGroupName)
                        aria-label=t(Text::NewGroupName)
                        prop:value=move || new_title.get()
                        on:input=move |ev| new_title.set(event_target_value(&ev))
                    />
                    <button data-testid="group-rename-submit" type="submit">
                        {t(Text::Rename)}
                    </button>
                </form>
            </Show>
            <ul>
                // Drawn whole when the members change (a keyed list costs the page's module
                // 2 KB): a group's members are few. A row's buttons are made anew with it, so
                // the focus never passes from a member taken out to the next one; taking one
                // out gives it to the details' summary.
                {move || {
                    members
                        .get()
                        .into_iter()
                        .map(|member| {
                            let MemberRow { id, username, me, admin } = member;
                            let label = tf(Text::RemoveMemberNamed, &[("name", &username)]);
                            let attribute = username.clone();
                            view! {
                                <li
                                    data-testid="chat-member"
                                    data-username=attribute
                                    data-admin=if admin { "true" } else { "false" }
                                >
                                    <span class="member-name">
                                        {username} {me.then(|| format!(" {}", t(Text::YouMarker)))}
                                    </span>
                                    {admin
                                        .then(|| view! { <span class="admin-label">{t(Text::AdminLabel)}</span> })}
                                    {(!me)
                                        .then(|| {
                                            view! {
                                                <Show when=move || can_administer.get()>
                                                    <button
                                                        data-testid="member-admin"
                                                        type="button"
                                                        class="link"
                                                        aria-pressed=if admin { "true" } else { "false" }
                                                        on:click=move |_| on_set_admin.run((id, !admin))
                                                    >
                                                        {t(if admin { Text::RemoveAdmin } else { Text::MakeAdmin })}
                                                    </button>
                                                    <button
                                                        data-testid="member-remove"
                                                        type="button"
                                                        class="link"
                                                        aria-label=label.clone()
                                                        on:click=move |_| {
                                                            on_remove.run(id);
                                                            // The row goes: to the summary, which
                                                            // counts the members left.
                                                            focus::move_to(&["[data-testid=chat-info]"]);
                                                        }
                                                    >
                                                        {t(Text::Remove)}
                                                    </button>
                                                </Show>
                                            }
                                        })}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <Show when=move || is_member.get()>
                // What leaving loses is the one membership: only an admin can add one back,
                // and nothing sent meanwhile can be read later. So it always asks.
                {ask_first(
                    ["chat-leave", "chat-leave-question", "chat-leave-confirm", "chat-leave-cancel"],
                    Text::LeaveGroup,
                    Signal::stored(1),
                    |_| t(Text::LeaveGroupQuestion),
                    Text::LeaveGroup,
                    on_leave,
                )}
            </Show>
        </section>
    }
}
