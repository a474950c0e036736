//! Plain Axum routes beside the Leptos ones.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use app::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// 200 when the database answers and the bucket is reachable with our credentials, else 503.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let h = app::server::health::check(&state).await;
    let word = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let code = if h.ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if h.ok() { "ok" } else { "unavailable" },
        "database": word(&h.database),
        "bucket": word(&h.bucket),
    });
    (code, Json(body))
}
