//! Administrators only: everyone's upload history.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::model::{HistoryFilter, HistoryPage, HistorySummary};

#[cfg(feature = "ssr")]
use super::ctx;

pub const PAGE_SIZE: i64 = 50;

#[server(endpoint = "admin/history", input = Json)]
pub async fn admin_history(filter: HistoryFilter) -> Result<HistoryPage, ServerFnError> {
    ctx::require_admin().await?;
    crate::server::db::history::page(&ctx::state()?.db, &filter, PAGE_SIZE).await.map_err(ctx::internal)
}

#[server(endpoint = "admin/summary", input = Json)]
pub async fn admin_summary(filter: HistoryFilter) -> Result<HistorySummary, ServerFnError> {
    use crate::server::db;
    ctx::require_admin().await?;
    db::history::summary(&ctx::state()?.db, &filter, db::now_millis()).await.map_err(ctx::internal)
}
