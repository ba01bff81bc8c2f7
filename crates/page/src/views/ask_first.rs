//! A button whose action would lose something that cannot be had back (signing out while
//! messages wait to be sent): while it would, its click only asks, in place, and the action
//! runs on the answer; otherwise it acts at once, as the UI test contract says it does. The
//! question names the group of its two answers, so a screen reader says it as the focus comes
//! to the first answer; an answer gives the focus back to the button.

use leptos::prelude::*;
use merpati_words::{Text, t};

use crate::focus;

/// The button, and its question once clicked while `asks`. `testids` are the button's, the
/// question's, the answer's that acts and Cancel's; `words` the button's.
///
/// The question is drawn with the button and hidden until asked: one view, shown or not, is
/// less of the page's module than one made when asked.
pub fn ask_first(
    testids: [&'static str; 4],
    words: Text,
    asks: Signal<bool>,
    question: String,
    answer: Text,
    on_answer: Callback<()>,
) -> impl IntoView {
    let [button, asked, act, cancel] = testids;
    let asking = RwSignal::new(false);
    let answered = move |acts: bool| {
        asking.set(false);
        if acts {
            on_answer.run(());
        }
        // Back to the button, if the answer left it on the page.
        focus::out_of_dialog();
    };
    let group_label = question.clone();
    view! {
        <button
            data-testid=button
            type="button"
            class="danger"
            aria-expanded=move || asking.get().to_string()
            on:click=move |_| {
                if asks.get_untracked() {
                    asking.set(true);
                    // The button clicked has the focus: an answer gives it back.
                    focus::into_dialog(&["[aria-expanded=true] + .question button"]);
                } else {
                    on_answer.run(());
                }
            }
        >
            {t(words)}
        </button>
        <div role="group" class="question" aria-label=group_label hidden=move || !asking.get()>
            <p data-testid=asked aria-hidden="true">{question}</p>
            <button data-testid=act type="button" class="danger" on:click=move |_| answered(true)>
                {t(answer)}
            </button>
            <button data-testid=cancel type="button" on:click=move |_| answered(false)>
                {t(Text::Cancel)}
            </button>
        </div>
    }
}
