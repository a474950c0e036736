//! Public facts about the service: its limits and whether it is healthy.

use leptos::prelude::*;

use crate::model::{Health, Limits};

#[cfg(feature = "ssr")]
fn state() -> Result<crate::server::AppState, ServerFnError> {
    use_context::<crate::server::AppState>().ok_or_else(|| ServerFnError::new("the server is not set up"))
}

#[server(endpoint = "status/limits")]
pub async fn get_limits() -> Result<Limits, ServerFnError> {
    Ok(state()?.config.limits.clone())
}

#[server(endpoint = "status/health")]
pub async fn check_health() -> Result<Health, ServerFnError> {
    Ok(crate::server::health::check(&state()?).await)
}
