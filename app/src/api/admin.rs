//! Administrators only: everyone's upload history.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use super::ApiError;
use crate::model::{HistoryFilter, HistoryPage, HistorySummary};

#[cfg(feature = "ssr")]
use super::ctx;

pub const PAGE_SIZE: i64 = 50;

#[server(endpoint = "admin/history", input = Json)]
pub async fn admin_history(filter: HistoryFilter) -> Result<HistoryPage, ApiError> {
    ctx::answer(async move {
        ctx::require_admin().await?;
        Ok(crate::server::db::history::page(&ctx::state()?.db, &filter, PAGE_SIZE).await?)
    })
    .await
}

#[server(endpoint = "admin/summary", input = Json)]
pub async fn admin_summary(filter: HistoryFilter) -> Result<HistorySummary, ApiError> {
    use crate::server::db;
    ctx::answer(async move {
        ctx::require_admin().await?;
        Ok(db::history::summary(&ctx::state()?.db, &filter, db::now_millis()).await?)
    })
    .await
}
