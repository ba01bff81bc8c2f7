//! The connection indicator.

use leptos::prelude::*;
use merpati_bridge::ConnectionPhase;

/// Shows whether messages flow: `data-state` is `online`, `connecting` or `offline`.
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
        let waiting = match pending.get() {
            0 => String::new(),
            1 => " — 1 message will be sent when the connection is back".to_owned(),
            n => format!(" — {n} messages will be sent when the connection is back"),
        };
        match phase.get() {
            ConnectionPhase::Online => "Online".to_owned(),
            ConnectionPhase::Connecting => format!("Connecting…{waiting}"),
            ConnectionPhase::Offline => match retry_in_s.get() {
                Some(0) | None => format!("Offline{waiting}"),
                Some(seconds) => format!("Offline, retrying in {seconds} s{waiting}"),
            },
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
                            "Retry now"
                        </button>
                    }
                })}
        </span>
    }
}
