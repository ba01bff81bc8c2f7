//! The connection indicator.

use leptos::prelude::*;
use merpati_core::ConnectionPhase;

/// Shows whether messages flow: `data-state` is `online`, `connecting` or `offline`.
#[component]
pub fn ConnectionStatus(
    /// Where the connection stands.
    #[prop(into)]
    phase: Signal<ConnectionPhase>,
    /// How many messages wait in the outbox.
    #[prop(into)]
    pending: Signal<usize>,
) -> impl IntoView {
    let words = move || {
        let pending = pending.get();
        match phase.get() {
            ConnectionPhase::Online => "Online".to_owned(),
            ConnectionPhase::Connecting => "Connecting…".to_owned(),
            ConnectionPhase::Offline if pending == 1 => {
                "Offline — 1 message will be sent when the connection is back".to_owned()
            }
            ConnectionPhase::Offline if pending > 1 => {
                format!("Offline — {pending} messages will be sent when the connection is back")
            }
            ConnectionPhase::Offline => "Offline".to_owned(),
        }
    };
    view! {
        <span
            data-testid="connection-status"
            class="connection-status"
            data-state=move || phase.get().as_str()
            role="status"
        >
            <span class="dot" aria-hidden="true"></span>
            <span class="words">{words}</span>
        </span>
    }
}
