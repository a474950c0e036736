//! Sign-up, sign-in, sign-out and who is signed in.

use leptos::prelude::*;

use super::ApiError;
use crate::domain::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::i18n::{td_string, Locale};
use crate::model::CurrentUser;

/// Why an account form was refused, as the form's page shows it next to the field it concerns.
/// A browser posting the form itself (no script) is sent back to the page with `?error=<code>`:
/// the page says the words, so no text from a URL is ever shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormProblem {
    WrongCredentials,
    TooManyAttempts,
    TooManySignUps,
    BadEmail,
    ShortPassword,
    LongPassword,
    EmailTaken,
    SignUpClosed,
    BadInvite,
    Unavailable,
}

/// The field a problem is shown beside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Email,
    Password,
    Form,
}

impl FormProblem {
    const ALL: [FormProblem; 10] = [
        FormProblem::WrongCredentials,
        FormProblem::TooManyAttempts,
        FormProblem::TooManySignUps,
        FormProblem::BadEmail,
        FormProblem::ShortPassword,
        FormProblem::LongPassword,
        FormProblem::EmailTaken,
        FormProblem::SignUpClosed,
        FormProblem::BadInvite,
        FormProblem::Unavailable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            FormProblem::WrongCredentials => "wrong-credentials",
            FormProblem::TooManyAttempts => "too-many-attempts",
            FormProblem::TooManySignUps => "too-many-sign-ups",
            FormProblem::BadEmail => "bad-email",
            FormProblem::ShortPassword => "short-password",
            FormProblem::LongPassword => "long-password",
            FormProblem::EmailTaken => "email-taken",
            FormProblem::SignUpClosed => "sign-up-closed",
            FormProblem::BadInvite => "bad-invite",
            FormProblem::Unavailable => "unavailable",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn field(self) -> Field {
        match self {
            FormProblem::BadEmail | FormProblem::EmailTaken => Field::Email,
            FormProblem::ShortPassword | FormProblem::LongPassword => Field::Password,
            _ => Field::Form,
        }
    }

    /// The words shown beside the field, in the language of the page being made (see
    /// [`crate::locale::current`]).
    pub fn message(self) -> String {
        self.words(crate::locale::current())
    }

    /// The words in `locale`.
    pub fn words(self, locale: Locale) -> String {
        match self {
            FormProblem::WrongCredentials => ApiError::WrongCredentials.words(locale),
            FormProblem::TooManyAttempts => td_string!(locale, errors.form.too_many_attempts).to_owned(),
            FormProblem::TooManySignUps => td_string!(locale, errors.form.too_many_sign_ups).to_owned(),
            FormProblem::BadEmail => td_string!(locale, errors.form.bad_email).to_owned(),
            FormProblem::ShortPassword => {
                td_string!(locale, errors.form.short_password, min = MIN_PASSWORD_LEN).to_string()
            }
            FormProblem::LongPassword => {
                td_string!(locale, errors.form.long_password, max = MAX_PASSWORD_LEN).to_string()
            }
            FormProblem::EmailTaken => td_string!(locale, errors.form.email_taken).to_owned(),
            FormProblem::SignUpClosed => td_string!(locale, errors.form.sign_up_closed).to_owned(),
            FormProblem::BadInvite => td_string!(locale, errors.form.bad_invite).to_owned(),
            FormProblem::Unavailable => td_string!(locale, errors.form.unavailable).to_owned(),
        }
    }

    /// The refusal a server function answers with for this problem, worded for the request being
    /// answered. [`problem_of`] reads the problem back from these words.
    #[cfg(feature = "ssr")]
    pub(crate) fn refusal(self) -> ApiError {
        let words = self.message();
        match self {
            FormProblem::TooManyAttempts | FormProblem::TooManySignUps => ApiError::RateLimited(words),
            FormProblem::EmailTaken => ApiError::Conflict(words),
            FormProblem::SignUpClosed | FormProblem::BadInvite => ApiError::Forbidden(words),
            FormProblem::WrongCredentials => ApiError::WrongCredentials,
            FormProblem::BadEmail | FormProblem::ShortPassword | FormProblem::LongPassword => ApiError::Invalid(words),
            FormProblem::Unavailable => ApiError::Unavailable(words),
        }
    }
}

/// Answers a browser's plain form post that failed with a redirect back to the form, naming the
/// problem and keeping the email typed; other callers (scripts, tests) get the error and its status.
#[cfg(feature = "ssr")]
fn back_to_form(
    result: Result<(), ApiError>,
    page: &str,
    problem: FormProblem,
    keep: &[(&str, &str)],
) -> Result<(), ApiError> {
    let Err(e) = result else { return Ok(()) };
    if !ctx::is_form_post() {
        return Err(e);
    }
    let mut url = format!("{page}?error={}", problem.code());
    for (name, value) in keep.iter().filter(|(_, v)| !v.is_empty()) {
        url.push_str(&format!("&{name}={}", form_urlencoded_component(value)));
    }
    leptos_axum::redirect(&url);
    Ok(())
}

/// Percent-encodes everything but unreserved characters.
pub fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a server-side failure means for an account form.
#[cfg(feature = "ssr")]
fn problem_of(e: &ApiError, invalid: FormProblem) -> FormProblem {
    match e {
        ApiError::WrongCredentials => FormProblem::WrongCredentials,
        // Made by `FormProblem::refusal` in this same request, so in the same language.
        ApiError::RateLimited(m) if *m == FormProblem::TooManySignUps.message() => FormProblem::TooManySignUps,
        ApiError::RateLimited(_) => FormProblem::TooManyAttempts,
        ApiError::Conflict(_) => FormProblem::EmailTaken,
        ApiError::Forbidden(m) if *m == FormProblem::BadInvite.message() => FormProblem::BadInvite,
        ApiError::Forbidden(_) => FormProblem::SignUpClosed,
        ApiError::Invalid(_) => invalid,
        _ => FormProblem::Unavailable,
    }
}

#[cfg(feature = "ssr")]
use super::ctx;

#[cfg(feature = "ssr")]
fn public(u: crate::server::db::users::User) -> CurrentUser {
    CurrentUser { id: u.id, email: u.email, role: u.role }
}

#[server(endpoint = "auth/me")]
pub async fn me() -> Result<Option<CurrentUser>, ApiError> {
    ctx::answer(async move { Ok(ctx::user().await?.map(public)) }).await
}

/// Creates an account and signs it in. With the one-time invite printed at start-up the account is
/// the admin; without it, sign-up must be enabled.
#[server(endpoint = "auth/sign-up")]
pub async fn sign_up(email: String, password: String, invite: Option<String>) -> Result<(), ApiError> {
    let typed = email.clone();
    let kept_invite = invite.clone().unwrap_or_default();
    let too_long = password.chars().count() > MAX_PASSWORD_LEN;
    let result = sign_up_inner(email, password, invite).await;
    // Refused values: the email is checked first, so a valid one means the password was refused.
    let invalid = if crate::domain::Email::parse(&typed).is_err() {
        FormProblem::BadEmail
    } else if too_long {
        FormProblem::LongPassword
    } else {
        FormProblem::ShortPassword
    };
    let problem = result.as_ref().err().map(|e| problem_of(e, invalid));
    back_to_form(
        result,
        "/signup",
        problem.unwrap_or(FormProblem::Unavailable),
        &[("email", &typed), ("invite", &kept_invite)],
    )
}

#[cfg(feature = "ssr")]
async fn sign_up_inner(email: String, password: String, invite: Option<String>) -> Result<(), ApiError> {
    use crate::domain::{Email, Password};
    use crate::model::Role;
    use crate::server::db::users::{self, CreateError};
    use crate::server::db::{attempts, invites};
    use crate::server::{auth, error::Failure};
    ctx::answer(async move {
        let state = ctx::state()?;
        let invite = invite.filter(|i| !i.is_empty());
        if invite.is_none() && !state.config.signup_enabled {
            return Err(FormProblem::SignUpClosed.refusal());
        }
        let locale = crate::locale::current();
        let email = Email::parse(&email).map_err(|e| ApiError::Invalid(e.words(locale)))?;
        let password = Password::new(password).map_err(|e| ApiError::Invalid(e.words(locale)))?;
        if users::by_email(&state.db, &email).await?.is_some() {
            return Err(FormProblem::EmailTaken.refusal());
        }
        // Every sign-up that gets this far costs a password hash: counted per address.
        let address_key = format!("sign-up:{}", client_address(state.config.trust_forwarded_for));
        let now = crate::server::db::now_millis();
        let since = now - auth::ATTEMPT_WINDOW.as_millis() as i64;
        if !attempts::take(&state.db, &address_key, state.config.signups_per_address, since, now).await? {
            return Err(FormProblem::TooManySignUps.refusal());
        }
        let hash = auth::hashing(move || auth::hash_password(password.as_str())).await?;
        // The invitation is taken last, in the database: of two sign-ups racing with it (on one
        // server or two) exactly one is the admin, and a sign-up that fails gives it back.
        let as_admin = match &invite {
            Some(token) if invites::claim(&state.db, token).await? => true,
            Some(_) => return Err(FormProblem::BadInvite.refusal()),
            None => false,
        };
        let role = if as_admin { Role::Admin } else { Role::User };
        let created = users::create(&state.db, &email, role, &hash).await;
        if let (Err(_), Some(token)) = (&created, invite.as_ref().filter(|_| as_admin)) {
            invites::release(&state.db, token).await?;
        }
        let user = created.map_err(|e| match e {
            // Someone else took it between the look-up and now.
            CreateError::EmailTaken => FormProblem::EmailTaken.refusal(),
            CreateError::Db(e) => Failure::from(e).into(),
        })?;
        if as_admin {
            state.admin_invite.lock().unwrap_or_else(|e| e.into_inner()).take();
            tracing::info!(email = %user.email, "the admin account was created through the invitation link");
        }
        let token = auth::start_session(&state.db, &user.id).await?;
        ctx::set_cookie(&auth::session_cookie(&token, state.config.secure_cookies()));
        leptos_axum::redirect("/profile");
        Ok(())
    })
    .await
}

/// The address sign-in attempts are counted against: the peer, or with `TRUST_FORWARDED_FOR`
/// the first `X-Forwarded-For` entry.
#[cfg(feature = "ssr")]
fn client_address(trust_forwarded_for: bool) -> String {
    let Some(parts) = use_context::<http::request::Parts>() else { return "unknown".into() };
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| trust_forwarded_for && !v.is_empty());
    forwarded
        .or_else(|| {
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Signs in. The message is the same whether the account exists or not, and repeated failures
/// per account and per address are refused for a while.
#[server(endpoint = "auth/sign-in")]
pub async fn sign_in(email: String, password: String) -> Result<(), ApiError> {
    let typed = email.clone();
    let result = sign_in_inner(email, password).await;
    let problem = result.as_ref().err().map(|e| problem_of(e, FormProblem::WrongCredentials));
    back_to_form(result, "/signin", problem.unwrap_or(FormProblem::Unavailable), &[("email", &typed)])
}

#[cfg(feature = "ssr")]
async fn sign_in_inner(email: String, password: String) -> Result<(), ApiError> {
    use crate::domain::Email;
    use crate::server::auth::{self, ACCOUNT_LIMIT, ADDRESS_LIMIT, ATTEMPT_WINDOW};
    use crate::server::db::attempts;
    use crate::server::db::users;
    ctx::answer(async move {
        let state = ctx::state()?;
        let account_key = format!("account:{}", Email::canonical(&email));
        let address_key = format!("address:{}", client_address(state.config.trust_forwarded_for));
        let now = crate::server::db::now_millis();
        let since = now - ATTEMPT_WINDOW.as_millis() as i64;
        if attempts::blocked(&state.db, &account_key, ACCOUNT_LIMIT, since).await?
            || attempts::blocked(&state.db, &address_key, ADDRESS_LIMIT, since).await?
        {
            return Err(FormProblem::TooManyAttempts.refusal());
        }
        // An address that cannot be an account's is looked up like an unknown one: same answer, same time.
        let user = match Email::parse(&email) {
            Ok(email) => users::by_email(&state.db, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| auth::dummy_hash().to_owned());
        let ok = auth::hashing(move || auth::verify_password(&password, &hash)).await?;
        let Some(user) = user.filter(|_| ok) else {
            attempts::fail(&state.db, &account_key, now).await?;
            attempts::fail(&state.db, &address_key, now).await?;
            return Err(ApiError::WrongCredentials);
        };
        attempts::clear(&state.db, &account_key).await?;
        let token = auth::start_session(&state.db, &user.id).await?;
        ctx::set_cookie(&auth::session_cookie(&token, state.config.secure_cookies()));
        leptos_axum::redirect("/profile");
        Ok(())
    })
    .await
}

#[server(endpoint = "auth/sign-out")]
pub async fn sign_out() -> Result<(), ApiError> {
    use crate::server::{auth, db::sessions};
    ctx::answer(async move {
        let state = ctx::state()?;
        if let Some(token) = auth::cookie_token(&ctx::request_headers()) {
            sessions::revoke(&state.db, &auth::token_hash(&token)).await?;
        }
        ctx::set_cookie(&auth::cleared_cookie(state.config.secure_cookies()));
        leptos_axum::redirect("/?done=signed-out");
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_has_english_words_as_before_and_french_ones() {
        assert_eq!(FormProblem::WrongCredentials.words(Locale::en), "Wrong email or password.");
        assert_eq!(FormProblem::BadEmail.words(Locale::en), "This is not an email address.");
        assert_eq!(FormProblem::ShortPassword.words(Locale::en), "The password needs at least 10 characters.");
        assert_eq!(
            FormProblem::ShortPassword.words(Locale::fr),
            "Le mot de passe doit comporter au moins 10 caractères."
        );
        for p in FormProblem::ALL {
            assert_eq!(FormProblem::from_code(p.code()), Some(p));
            assert_ne!(p.words(Locale::fr), p.words(Locale::en), "{p:?}");
            // Outside a request (tests, the log) the page's words are the English ones.
            assert_eq!(p.message(), p.words(Locale::en), "{p:?}");
        }
    }

    /// The refusals are worded in the request's language, and read back as the same problem.
    #[cfg(feature = "ssr")]
    #[test]
    fn refusals_read_back_as_their_problem_in_either_language() {
        for accept_language in ["en", "fr"] {
            crate::api::error::in_request(accept_language, || {
                for p in [
                    FormProblem::TooManyAttempts,
                    FormProblem::TooManySignUps,
                    FormProblem::EmailTaken,
                    FormProblem::SignUpClosed,
                    FormProblem::BadInvite,
                    FormProblem::WrongCredentials,
                ] {
                    let refusal = p.refusal();
                    assert_eq!(refusal.message(), p.message(), "{accept_language}: {p:?}");
                    assert_eq!(problem_of(&refusal, FormProblem::BadEmail), p, "{accept_language}: {p:?}");
                }
            });
        }
        let french = crate::api::error::in_request("fr", || FormProblem::BadInvite.refusal());
        assert_eq!(french.message(), "Ce lien d'invitation n'est pas (ou plus) valide.");
    }
}
