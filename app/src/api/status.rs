//! Public facts about the service: its limits and whether it is healthy.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{Health, Limits};

#[cfg(feature = "ssr")]
use super::ctx;

#[server(endpoint = "status/limits")]
pub async fn get_limits() -> Result<Limits, ApiError> {
    ctx::answer(async move { Ok(ctx::state()?.config.limits.clone()) }).await
}

#[server(endpoint = "status/health")]
pub async fn check_health() -> Result<Health, ApiError> {
    ctx::answer(async move { Ok(crate::server::health::check(&ctx::state()?, crate::locale::current()).await) }).await
}
