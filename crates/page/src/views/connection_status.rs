//! The connection indicator.

use leptos::prelude::*;
use merpati_bridge::ConnectionPhase;
use merpati_words::{Count, Text, t, tf, tn};

/// Shows whether messages flow: `data-state` is `online`, `connecting`, `offline`, or
/// `unsaved` while this device cannot store them.
#[component]
pub fn ConnectionStatus(
    /// Where the connection stands.
    #[prop(into)]
    phase: Signal<ConnectionPhase>,
    /// How many messages wait in the outbox.
    #[prop(into)]
    pending: Signal<usize>,
    /// Seconds until the next connection attempt, while one is scheduled.
    #[prop(optional, into)]
    retry_in_s: MaybeProp<u32>,
    /// "Retry now": shown while offline when given.
    #[prop(optional)]
    on_retry: Option<Callback<()>>,
) -> impl IntoView {
    let offline = move || phase.get() == ConnectionPhase::Offline;
    let words = move || {
        let state = match phase.get() {
            ConnectionPhase::Online => return t(Text::Online),
            ConnectionPhase::Unsaved => return t(Text::CannotSave),
            ConnectionPhase::Connecting => t(Text::Connecting),
            ConnectionPhase::Offline => match retry_in_s.get() {
                Some(0) | None => t(Text::Offline),
                Some(seconds) => tf(
                    Text::OfflineRetryingIn,
                    &[("seconds", &seconds.to_string())],
                ),
            },
        };
        match pending.get() {
            0 => state,
            n => format!("{state} — {}", tn(Count::WaitingToSend, n as u64, &[])),
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
            {on_retry
                .map(|on_retry| {
                    view! {
                        <button
                            type="button"
                            class="link"
                            data-testid="connection-retry"
                            hidden=move || !offline()
                            on:click=move |_| on_retry.run(())
                        >
                            {t(Text::RetryNow)}
                        </button>
                    }
                })}
        </span>
    }
}
