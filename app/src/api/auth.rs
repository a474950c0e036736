//! Sign-up, sign-in, sign-out and who is signed in.

use leptos::prelude::*;

use super::ApiError;
use crate::model::CurrentUser;

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

#[cfg(feature = "ssr")]
const EMAIL_TAKEN: &str = "An account with this email exists already; please sign in.";

/// Creates an account and signs it in. With the one-time invite printed at start-up the account is
/// the admin; without it, sign-up must be enabled.
#[server(endpoint = "auth/sign-up")]
pub async fn sign_up(email: String, password: String, invite: Option<String>) -> Result<(), ApiError> {
    use crate::domain::{Email, Password};
    use crate::model::Role;
    use crate::server::db::users::{self, CreateError};
    use crate::server::{auth, error::Failure};
    ctx::answer(async move {
        let state = ctx::state()?;
        let invite = invite.filter(|i| !i.is_empty());
        let as_admin = {
            let current = state.admin_invite.lock().unwrap_or_else(|e| e.into_inner());
            match (&invite, current.as_ref()) {
                (Some(given), Some(expected)) if given == expected => true,
                (Some(_), _) => {
                    return Err(ApiError::Forbidden("This invitation link is not valid (any more).".into()))
                }
                (None, _) => false,
            }
        };
        if !as_admin && !state.config.signup_enabled {
            return Err(ApiError::Forbidden("Sign-up is closed; ask an administrator for an account.".into()));
        }
        let email = Email::parse(&email).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let password = Password::new(password).map_err(|e| ApiError::Invalid(e.to_string()))?;
        if users::by_email(&state.db, &email).await?.is_some() {
            return Err(ApiError::Conflict(EMAIL_TAKEN.into()));
        }
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(password.as_str())).await?;
        let role = if as_admin { Role::Admin } else { Role::User };
        let user = users::create(&state.db, &email, role, &hash).await.map_err(|e| match e {
            // Someone else took it between the look-up and now.
            CreateError::EmailTaken => ApiError::Conflict(EMAIL_TAKEN.into()),
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
    use crate::domain::Email;
    use crate::server::auth::{self, ACCOUNT_LIMIT, ADDRESS_LIMIT};
    use crate::server::db::users;
    ctx::answer(async move {
        let state = ctx::state()?;
        let account_key = format!("account:{}", Email::canonical(&email));
        let address_key = format!("address:{}", client_address(state.config.trust_forwarded_for));
        if state.attempts.blocked(&account_key, ACCOUNT_LIMIT) || state.attempts.blocked(&address_key, ADDRESS_LIMIT) {
            return Err(ApiError::RateLimited(
                "Too many failed sign-ins; please wait 15 minutes and try again.".into(),
            ));
        }
        // An address that cannot be an account's is looked up like an unknown one: same answer, same time.
        let user = match Email::parse(&email) {
            Ok(email) => users::by_email(&state.db, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| auth::dummy_hash().to_owned());
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await?;
        let Some(user) = user.filter(|_| ok) else {
            state.attempts.fail(&account_key);
            state.attempts.fail(&address_key);
            return Err(ApiError::WrongCredentials);
        };
        state.attempts.clear(&account_key);
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
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}
