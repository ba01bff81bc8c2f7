//! The members of a group, with a way to take someone out and to leave.

use leptos::prelude::*;
use merpati_bridge::MemberRow;

/// Shown instead of the composer once this account is out of the group.
pub const LEFT_NOTICE: &str =
    "You are no longer a member of this group. You can still read what you received.";

/// A group's members. While this account is a member, every other member has a "Remove"
/// button and the panel ends with "Leave group"; afterwards the list is read-only.
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
) -> impl IntoView {
    view! {
        <section data-testid="chat-members" class="chat-members" aria-label="Members">
            <ul>
                <For
                    each=move || members.get()
                    key=|member| (member.id, member.username.clone(), member.me)
                    children=move |member| {
                        let MemberRow { id, username, me } = member;
                        let label = format!("Remove {username}");
                        let attribute = username.clone();
                        view! {
                            <li data-testid="chat-member" data-username=attribute>
                                <span class="member-name">
                                    {username} {me.then_some(" (you)")}
                                </span>
                                {(!me)
                                    .then(|| {
                                        view! {
                                            <button
                                                data-testid="member-remove"
                                                type="button"
                                                class="link"
                                                aria-label=label
                                                hidden=move || !is_member.get()
                                                on:click=move |_| on_remove.run(id)
                                            >
                                                "Remove"
                                            </button>
                                        }
                                    })}
                            </li>
                        }
                    }
                />
            </ul>
            <Show when=move || is_member.get()>
                <button
                    data-testid="chat-leave"
                    type="button"
                    class="danger"
                    on:click=move |_| on_leave.run(())
                >
                    "Leave group"
                </button>
            </Show>
        </section>
    }
}
