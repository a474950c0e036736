//! Server functions: the only way pages talk to the server. Each answers `Result<T, ApiError>`.

pub mod admin;
pub mod auth;
pub mod error;
pub mod status;
pub mod uploads;

pub use error::ApiError;

/// What every server function needs on the server side: the state, the caller, and the one way a
/// failure becomes the response's status.
#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use std::future::Future;

    use leptos::prelude::*;

    use super::ApiError;
    use crate::server::db::users::User;
    use crate::server::error::Failure;
    use crate::server::{auth, AppState};

    /// Runs a server function's body; a failure sets the response status from its kind.
    pub async fn answer<T>(body: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
        body.await.inspect_err(set_status)
    }

    /// Sets the status of the response being made (a server function's, or the page's while it
    /// is rendered on the server).
    pub fn set_status(e: &ApiError) {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
        }
    }

    pub fn state() -> Result<AppState, ApiError> {
        use_context::<AppState>().ok_or_else(|| Failure::Internal("the server is not set up".into()).into())
    }

    pub fn request_headers() -> http::HeaderMap {
        use_context::<http::request::Parts>().map(|p| p.headers).unwrap_or_default()
    }

    /// The signed-in user, if the session cookie names a live session.
    pub async fn user() -> Result<Option<User>, ApiError> {
        Ok(auth::user_from_headers(&state()?.sessions, &request_headers()).await?)
    }

    pub async fn require_user() -> Result<User, ApiError> {
        user().await?.ok_or(ApiError::Unauthorized)
    }

    pub async fn require_admin() -> Result<User, ApiError> {
        let user = require_user().await?;
        if !user.is_admin() {
            return Err(ApiError::admins_only());
        }
        Ok(user)
    }

    /// A browser posting a form by itself (no script): it wants a page back, not JSON.
    pub fn is_form_post() -> bool {
        request_headers()
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    }

    pub fn set_cookie(value: &str) {
        if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
        {
            res.append_header(http::header::SET_COOKIE, v);
        }
    }
}
