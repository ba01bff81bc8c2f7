//! Where the account is signed in (the settings' devices section): one row per browser, when
//! it was last active, this one marked, and "Sign out" on every other.
//!
//! Signing one out takes the focus to the section's heading: the row goes once the server
//! answers, and the list is drawn anew, so a focus left on the button would fall to the page
//! or land on another device's "Sign out", where a second press would sign that one out.

use leptos::prelude::*;
use merpati_bridge::DeviceRow;
use merpati_protocol::sessions::SessionRef;
use merpati_words::{Text, t, tf};

use crate::focus;

/// The devices section: its rows once the server has listed them.
#[component]
pub fn DevicesList(
    /// The account's devices, newest use first; `None` while asked for.
    #[prop(into)]
    devices: Signal<Option<Vec<DeviceRow>>>,
    /// Sign a device out.
    on_sign_out: Callback<SessionRef>,
) -> impl IntoView {
    view! {
        <h3 id="devices-heading" tabindex="-1">{t(Text::Devices)}</h3>
        {move || match devices.get() {
            None => view! { <p class="devices-loading">{t(Text::FindingDevices)}</p> }.into_any(),
            Some(rows) => view! {
                <ul data-testid="devices" class="devices" aria-labelledby="devices-heading">
                    {rows.into_iter().map(|row| view! { <DeviceItem row on_sign_out/> }).collect_view()}
                </ul>
            }
            .into_any(),
        }}
    }
}

/// One device: what it is, when it was active, and a way to sign it out unless it is this one.
#[component]
fn DeviceItem(row: DeviceRow, on_sign_out: Callback<SessionRef>) -> impl IntoView {
    let session = row.session;
    let label = tf(Text::SignOutDevice, &[("name", &row.name)]);
    view! {
        <li data-testid="device-item" data-current=row.current.to_string() class="device-item">
            <span class="device-name">
                {row.name}
                {row.current.then(|| view! { <span class="device-this">" · " {t(Text::ThisBrowser)}</span> })}
            </span>
            <span class="device-when">{row.last_active} " · " {row.signed_in}</span>
            {(!row.current).then(|| view! {
                <button
                    data-testid="device-signout"
                    type="button"
                    aria-label=label
                    on:click=move |_| {
                        on_sign_out.run(session);
                        focus::move_to(&["#devices-heading"]);
                    }
                >
                    {t(Text::SignOut)}
                </button>
            })}
        </li>
    }
}
