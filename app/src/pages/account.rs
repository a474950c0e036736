//! Sign-in and sign-up: plain forms posted to the server functions. The server answers with a
//! redirect: on success to the profile, on a refusal back here with `?error=<code>`, shown next to
//! the field it concerns. No script is involved.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{Field, FormProblem, SignIn, SignUp};
use crate::domain::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::i18n::{td, td_string};

/// The refusal named in the URL, if any, and the email to type again.
fn from_query() -> (Option<FormProblem>, String) {
    let query = use_query_map();
    let q = query.read_untracked();
    (q.get("error").and_then(|c| FormProblem::from_code(&c)), q.get("email").unwrap_or_default())
}

/// The message under a field, when the problem concerns that field.
fn field_error(problem: Option<FormProblem>, field: Field, id: &'static str) -> impl IntoView {
    problem.filter(|p| p.field() == field).map(|p| {
        view! { <span class="field-error" id=id data-testid=id>{p.message()}</span> }
    })
}

fn described_by(problem: Option<FormProblem>, field: Field, id: &'static str) -> Option<&'static str> {
    problem.filter(|p| p.field() == field).map(|_| id)
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let locale = crate::locale::current();
    let (problem, email) = from_query();
    view! {
        <section class="card narrow">
            <h1>{td_string!(locale, pages.account.sign_in_title)}</h1>
            {field_error(problem, Field::Form, "form-error")}
            <form method="post" action=SignIn::PATH>
                <label>{td_string!(locale, pages.account.email)}
                    <input type="email" name="email" autocomplete="username" required value=email
                        aria-invalid=problem.map(|_| "true") aria-describedby=problem.map(|_| "form-error")/>
                </label>
                <label>{td_string!(locale, pages.account.password)}
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit">{td_string!(locale, pages.account.sign_in_button)}</button>
            </form>
            <p>{td!(locale, pages.account.no_account, <link> = |children: ChildrenFn| view! { <a href="/signup">{children()}</a> })}</p>
        </section>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let locale = crate::locale::current();
    let (problem, email) = from_query();
    let invite = use_query_map().read_untracked().get("invite").unwrap_or_default();
    view! {
        <section class="card narrow">
            <h1>{td_string!(locale, pages.account.sign_up_title)}</h1>
            {(!invite.is_empty()).then(|| view! {
                <p class="notice">{td_string!(locale, pages.account.invite)}</p>
            })}
            {field_error(problem, Field::Form, "form-error")}
            <form method="post" action=SignUp::PATH>
                <input type="hidden" name="invite" value=invite/>
                <label>{td_string!(locale, pages.account.email)}
                    <input type="email" name="email" autocomplete="username" required value=email
                        aria-invalid=described_by(problem, Field::Email, "email-error").map(|_| "true")
                        aria-describedby=described_by(problem, Field::Email, "email-error")/>
                </label>
                {field_error(problem, Field::Email, "email-error")}
                <label>{td_string!(locale, pages.account.new_password, min = MIN_PASSWORD_LEN)}
                    <input type="password" name="password" autocomplete="new-password" minlength=MIN_PASSWORD_LEN maxlength=MAX_PASSWORD_LEN required
                        aria-invalid=described_by(problem, Field::Password, "password-error").map(|_| "true")
                        aria-describedby=described_by(problem, Field::Password, "password-error")/>
                </label>
                {field_error(problem, Field::Password, "password-error")}
                <button type="submit">{td_string!(locale, pages.account.sign_up_button)}</button>
            </form>
            <p>{td!(locale, pages.account.have_account, <link> = |children: ChildrenFn| view! { <a href="/signin">{children()}</a> })}</p>
        </section>
    }
}
