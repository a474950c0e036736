//! Sign-in and sign-up: plain forms that work without JavaScript too.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{SignIn, SignUp};
use crate::api::ApiError;
use crate::domain::MIN_PASSWORD_LEN;

fn error_of(r: Option<Result<(), ApiError>>) -> Option<String> {
    r.and_then(Result::err).map(|e| e.to_string())
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    view! {
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <ActionForm action=action>
                <label>"Email"<input type="email" name="email" autocomplete="username" required/></label>
                <label>"Password"<input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            <p class="error" role="alert" data-testid="form-error">{move || error_of(action.value().get())}</p>
            <p>"No account yet? "<a href="/signup">"Sign up"</a></p>
        </section>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let query = use_query_map();
    let invite = move || query.read().get("invite").unwrap_or_default();
    view! {
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <Show when=move || !invite().is_empty()>
                <p class="notice">"This one-time link makes the new account the administrator."</p>
            </Show>
            <ActionForm action=action>
                <input type="hidden" name="invite" prop:value=invite/>
                <label>"Email"<input type="email" name="email" autocomplete="username" required/></label>
                <label>{format!("Password (at least {MIN_PASSWORD_LEN} characters)")}
                    <input type="password" name="password" autocomplete="new-password" minlength=MIN_PASSWORD_LEN required/>
                </label>
                <button type="submit" disabled=move || action.pending().get()>"Create account"</button>
            </ActionForm>
            <p class="error" role="alert" data-testid="form-error">{move || error_of(action.value().get())}</p>
            <p>"Have an account? "<a href="/signin">"Sign in"</a></p>
        </section>
    }
}
