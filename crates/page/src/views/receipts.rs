//! A message's details: who of the others has it, and who read it when.

use super::close_on_escape;
use leptos::prelude::*;
use merpati_bridge::{MessageReceipts, ReceiptRow, ReceiptState};
use merpati_words::{Text, t, tf};

/// The receipts of one of this account's messages, one row per other member, with a way to
/// close them. Nothing while no message's details are open.
#[component]
pub fn MessageReceiptsPanel(
    /// The open details, if any.
    #[prop(into)]
    receipts: Signal<Option<MessageReceipts>>,
    /// Close the details.
    on_close: Callback<()>,
) -> impl IntoView {
    move || {
        receipts.get().map(|receipts| {
            let rows = receipts.members.into_iter().map(receipt_row).collect_view();
            view! {
                <section
                    data-testid="message-receipts"
                    class="message-receipts"
                    data-msg-id=receipts.id
                    aria-label=t(Text::MessageDetails)
                    on:keydown=close_on_escape(on_close)
                >
                    <header>
                        <h3>{t(Text::MessageDetails)}</h3>
                        <button
                            data-testid="message-receipts-close"
                            type="button"
                            class="link"
                            on:click=move |_| on_close.run(())
                        >
                            {t(Text::Close)}
                        </button>
                    </header>
                    <ul>{rows}</ul>
                </section>
            }
            .into_any()
        })
    }
}

fn receipt_row(row: ReceiptRow) -> impl IntoView {
    let words = match (row.state, row.read_at) {
        (ReceiptState::Read, Some(at)) => tf(Text::ReadAt, &[("time", &at)]),
        (ReceiptState::Read, None) => t(Text::Read),
        (ReceiptState::Delivered, _) => t(Text::Delivered),
        (ReceiptState::Sent, _) => t(Text::Sent),
    };
    let name = row.username.clone();
    view! {
        <li data-testid="message-receipt" data-username=row.username data-state=row.state.as_str()>
            <span class="member-name">{name}</span>
            " "
            <span class="receipt-state">{words}</span>
        </li>
    }
}
