//! The sign-in / sign-up form.

use leptos::prelude::*;
use merpati_words::{Text, t};

/// What the form submits: username and passphrase as typed.
pub type Credentials = (String, String);

/// The auth screen's form. `progress` shows while keys are derived or the server is asked;
/// `error` shows the last failure in words.
#[component]
pub fn AuthForm(
    /// Progress text ("Securing your passphrase…"), if an attempt is under way.
    #[prop(into)]
    progress: Signal<Option<String>>,
    /// The last failure, in words a person can act on.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// Whether the buttons are disabled (keys are being derived).
    #[prop(into)]
    busy: Signal<bool>,
    /// Create an account.
    on_register: Callback<Credentials>,
    /// Sign in.
    on_login: Callback<Credentials>,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let credentials = move || (username.get_untracked(), passphrase.get_untracked());
    view! {
        <main class="auth">
            <form
                class="auth-card"
                on:submit=move |ev| {
                    ev.prevent_default();
                    on_login.run(credentials());
                }
            >
                <h1 class="brand">
                    <img src="/favicon.svg" alt="" width="40" height="40"/>
                    "Merpati"
                </h1>
                <p class="tagline">{t(Text::Tagline)}</p>
                <label>
                    {t(Text::Username)}
                    <input
                        data-testid="auth-username"
                        name="username"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    {t(Text::Passphrase)}
                    <input
                        data-testid="auth-passphrase"
                        name="passphrase"
                        type="password"
                        autocomplete="current-password"
                        prop:value=move || passphrase.get()
                        on:input=move |ev| passphrase.set(event_target_value(&ev))
                    />
                </label>
                <p class="hint">{t(Text::PassphraseHint)}</p>
                <div class="auth-actions">
                    <button data-testid="auth-login" type="submit" class="primary" disabled=busy>
                        {t(Text::SignIn)}
                    </button>
                    <button
                        data-testid="auth-register"
                        type="button"
                        disabled=busy
                        on:click=move |_| on_register.run(credentials())
                    >
                        {t(Text::CreateAccount)}
                    </button>
                </div>
                // Shown or hidden, but never replaced while shown: the text updates in place.
                <Show when=move || progress.with(Option::is_some)>
                    <p data-testid="auth-progress" class="progress" role="status">
                        {move || progress.get().unwrap_or_default()}
                    </p>
                </Show>
                <Show when=move || error.with(Option::is_some)>
                    <p data-testid="auth-error" class="error" role="alert">
                        {move || error.get().unwrap_or_default()}
                    </p>
                </Show>
            </form>
        </main>
    }
}
