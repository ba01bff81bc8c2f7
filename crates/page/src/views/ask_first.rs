//! A button whose action would lose what cannot be had back (signing out while messages wait
//! to be sent, leaving a group one cannot rejoin alone): while it would, its click only asks,
//! in place, saying what is lost, and the action runs on the answer; otherwise it acts at
//! once, as the UI test contract says it does. The question names the group of its two
//! answers, so a screen reader says it as the focus comes to the first answer; an answer
//! gives the focus back to the button.

use leptos::prelude::*;
use merpati_words::{Text, t};

use crate::focus;

/// The button, and its question once clicked while it would lose `losing` things (more than
/// none), in the words `question` gives for that many. `testids` are the button's, the
/// question's (also its id), the answer's that acts and Cancel's; `words` the button's.
///
/// The question is drawn with the button and hidden until asked: one view, shown or not, is
/// less of the page's module than one made when asked.
pub fn ask_first(
    testids: [&'static str; 4],
    words: Text,
    losing: Signal<usize>,
    question: fn(usize) -> String,
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
    view! {
        <button
            data-testid=button
            type="button"
            class="danger"
            aria-expanded=move || asking.get().to_string()
            on:click=move |_| {
                if losing.get_untracked() > 0 {
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
        <div role="group" class="question" aria-labelledby=asked hidden=move || !asking.get()>
            <p data-testid=asked id=asked aria-hidden="true">
                {move || question(losing.get())}
            </p>
            <button data-testid=act type="button" class="danger" on:click=move |_| answered(true)>
                {t(answer)}
            </button>
            <button data-testid=cancel type="button" on:click=move |_| answered(false)>
                {t(Text::Cancel)}
            </button>
        </div>
    }
}
