//! Sign-up, sign-in, sign-out and who is signed in.

use leptos::prelude::*;

use crate::model::CurrentUser;
#[cfg(feature = "ssr")]
use crate::model::Role;

#[cfg(feature = "ssr")]
use super::ctx;

#[cfg(feature = "ssr")]
fn public(u: crate::server::db::users::User) -> CurrentUser {
    let role = if u.is_admin() { Role::Admin } else { Role::User };
    CurrentUser { id: u.id, email: u.email, role }
}

#[server(endpoint = "auth/me")]
pub async fn me() -> Result<Option<CurrentUser>, ServerFnError> {
    Ok(ctx::user().await?.map(public))
}

#[cfg(feature = "ssr")]
fn valid_email(e: &str) -> bool {
    let e = e.trim();
    e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.contains(char::is_whitespace)
}

/// Creates an account and signs it in. With the one-time invite printed at start-up the account is
/// the admin; without it, sign-up must be enabled.
#[server(endpoint = "auth/sign-up")]
pub async fn sign_up(email: String, password: String, invite: Option<String>) -> Result<(), ServerFnError> {
    use crate::server::{auth, db::users};
    let state = ctx::state()?;
    let invite = invite.filter(|i| !i.is_empty());
    let as_admin = {
        let current = state.admin_invite.lock().unwrap_or_else(|e| e.into_inner());
        match (&invite, current.as_ref()) {
            (Some(given), Some(expected)) if given == expected => true,
            (Some(_), _) => return Err(ctx::fail(403, "This invitation link is not valid (any more).")),
            (None, _) => false,
        }
    };
    if !as_admin && !state.config.signup_enabled {
        return Err(ctx::fail(403, "Sign-up is closed; ask an administrator for an account."));
    }
    if !valid_email(&email) {
        return Err(ctx::fail(400, "Please enter a valid email address."));
    }
    if password.chars().count() < auth::MIN_PASSWORD_LEN {
        return Err(ctx::fail(
            400,
            format!("Please choose a password of at least {} characters.", auth::MIN_PASSWORD_LEN),
        ));
    }
    if users::by_email(&state.db, &email).await.map_err(ctx::internal)?.is_some() {
        return Err(ctx::fail(409, "An account with this email exists already; please sign in."));
    }
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await.map_err(ctx::internal)?;
    let user = users::create(&state.db, &email, if as_admin { "admin" } else { "user" }, &hash)
        .await
        .map_err(|_| ctx::fail(409, "An account with this email exists already; please sign in."))?;
    if as_admin {
        state.admin_invite.lock().unwrap_or_else(|e| e.into_inner()).take();
        tracing::info!(email = %user.email, "the admin account was created through the invitation link");
    }
    let token = auth::start_session(&state.db, &user.id).await.map_err(ctx::internal)?;
    ctx::set_cookie(&auth::session_cookie(&token, state.config.secure_cookies()));
    leptos_axum::redirect("/profile");
    Ok(())
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
pub async fn sign_in(email: String, password: String) -> Result<(), ServerFnError> {
    use crate::server::auth::{self, ACCOUNT_LIMIT, ADDRESS_LIMIT};
    use crate::server::db::users;
    let state = ctx::state()?;
    let account_key = format!("account:{}", email.trim().to_lowercase());
    let address_key = format!("address:{}", client_address(state.config.trust_forwarded_for));
    if state.attempts.blocked(&account_key, ACCOUNT_LIMIT) || state.attempts.blocked(&address_key, ADDRESS_LIMIT) {
        return Err(ctx::fail(429, "Too many failed sign-ins; please wait 15 minutes and try again."));
    }
    let user = users::by_email(&state.db, &email).await.map_err(ctx::internal)?;
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| auth::dummy_hash().to_owned());
    let ok =
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await.map_err(ctx::internal)?;
    let Some(user) = user.filter(|_| ok) else {
        state.attempts.fail(&account_key);
        state.attempts.fail(&address_key);
        return Err(ctx::fail(401, "Wrong email or password."));
    };
    state.attempts.clear(&account_key);
    let token = auth::start_session(&state.db, &user.id).await.map_err(ctx::internal)?;
    ctx::set_cookie(&auth::session_cookie(&token, state.config.secure_cookies()));
    leptos_axum::redirect("/profile");
    Ok(())
}

#[server(endpoint = "auth/sign-out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    use crate::server::{auth, db::sessions};
    let state = ctx::state()?;
    if let Some(token) = auth::cookie_token(&ctx::request_headers()) {
        sessions::revoke(&state.db, &auth::token_hash(&token)).await.map_err(ctx::internal)?;
    }
    ctx::set_cookie(&auth::cleared_cookie(state.config.secure_cookies()));
    leptos_axum::redirect("/");
    Ok(())
}
