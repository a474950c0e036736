//! Server functions: the only way pages talk to the server.

pub mod admin;
pub mod auth;
pub mod status;
pub mod uploads;

/// What every server function needs on the server side: the state, the caller, and a way to
/// answer with the right HTTP status.
#[cfg(feature = "ssr")]
pub(crate) mod ctx {
    use leptos::prelude::*;

    use crate::server::db::users::User;
    use crate::server::uploads::UploadError;
    use crate::server::{auth, AppState};

    pub fn state() -> Result<AppState, ServerFnError> {
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("the server is not set up"))
    }

    /// Sets the response status and returns the error with a message meant for the user.
    pub fn fail(status: u16, message: impl Into<String>) -> ServerFnError {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
        }
        ServerFnError::new(message.into())
    }

    pub fn upload_error(e: UploadError) -> ServerFnError {
        fail(e.status(), e.to_string())
    }

    pub fn internal(e: impl std::fmt::Display) -> ServerFnError {
        tracing::error!(error = %e, "server function failed");
        fail(500, "Something went wrong on our side; please try again.")
    }

    pub fn request_headers() -> http::HeaderMap {
        use_context::<http::request::Parts>().map(|p| p.headers).unwrap_or_default()
    }

    /// The signed-in user, if the session cookie names a live session.
    pub async fn user() -> Result<Option<User>, ServerFnError> {
        auth::user_from_headers(&state()?.db, &request_headers()).await.map_err(internal)
    }

    pub async fn require_user() -> Result<User, ServerFnError> {
        user().await?.ok_or_else(|| fail(401, "Please sign in first."))
    }

    pub async fn require_admin() -> Result<User, ServerFnError> {
        let user = require_user().await?;
        if !user.is_admin() {
            return Err(fail(403, "Only administrators may do this."));
        }
        Ok(user)
    }

    pub fn set_cookie(value: &str) {
        if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
        {
            res.append_header(http::header::SET_COOKIE, v);
        }
    }
}
