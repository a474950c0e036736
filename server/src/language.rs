//! `/language?to=fr&back=/profile`: keeps the reader's choice of language in a cookie (ahead of
//! the browser's `Accept-Language`, see `app::locale`) and sends them back to the page they were
//! on. A plain link in every page's header, so it works with JavaScript off.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use app::locale;
use app::server::AppState;

/// How long a choice is kept: a year, like any site's language preference.
const KEEP_SECS: u32 = 365 * 24 * 3600;

pub fn router() -> Router<AppState> {
    Router::new().route("/language", get(switch))
}

#[derive(Deserialize)]
struct Switch {
    to: String,
    #[serde(default)]
    back: String,
}

async fn switch(State(state): State<AppState>, query: Result<Query<Switch>, QueryRejection>) -> Response {
    let Ok(Query(Switch { to, back })) = query else {
        return (StatusCode::BAD_REQUEST, "Say which language: /language?to=fr&back=/").into_response();
    };
    let Some(chosen) = locale::from_tag(&to) else {
        let spoken: Vec<&str> = locale::all().iter().map(|l| locale::tag(*l)).collect();
        let message = format!("This site does not speak {to:?}; it speaks {}.", spoken.join(", "));
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let cookie = format!(
        "{}={}; Path=/; SameSite=Lax; Max-Age={KEEP_SECS}{}",
        locale::COOKIE,
        locale::tag(chosen),
        if state.config.secure_cookies() { "; Secure" } else { "" }
    );
    let location = local_path(&back).unwrap_or("/").to_owned();
    (StatusCode::SEE_OTHER, [(header::LOCATION, location), (header::SET_COOKIE, cookie)]).into_response()
}

/// `back` if it is a path on this site; anything that could lead elsewhere (`//host`, `/\host`,
/// a scheme, control characters) is not followed.
fn local_path(back: &str) -> Option<&str> {
    let local = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(|c| c.is_control());
    local.then_some(back)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        assert_eq!(local_path("/profile?uploaded=a.txt"), Some("/profile?uploaded=a.txt"));
        assert_eq!(local_path("/"), Some("/"));
        for elsewhere in
            ["", "https://evil.example/", "//evil.example/", "/\\evil.example", "profile", "/a\r\nSet-Cookie: x=1"]
        {
            assert_eq!(local_path(elsewhere), None, "{elsewhere:?}");
        }
    }
}
