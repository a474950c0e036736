//! Asking for, confirming, cancelling and listing the caller's own uploads.

use leptos::prelude::*;

use crate::model::{PlainForm, UploadRow, UploadTicket};

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::server::uploads as service;

#[server(endpoint = "uploads/request")]
pub async fn request_upload(file_name: String, size: u64, content_type: String) -> Result<UploadTicket, ServerFnError> {
    let user = ctx::require_user().await?;
    service::request(&ctx::state()?, &user, &file_name, size, &content_type).await.map_err(ctx::upload_error)
}

#[server(endpoint = "uploads/confirm")]
pub async fn confirm_upload(id: String) -> Result<UploadRow, ServerFnError> {
    let user = ctx::require_user().await?;
    service::confirm(&ctx::state()?, &user, &id).await.map_err(ctx::upload_error)
}

#[server(endpoint = "uploads/cancel")]
pub async fn cancel_upload(id: String) -> Result<UploadRow, ServerFnError> {
    let user = ctx::require_user().await?;
    service::cancel(&ctx::state()?, &user, &id).await.map_err(ctx::upload_error)
}

/// The browser tells us S3 refused the file, in S3's words.
#[server(endpoint = "uploads/failed")]
pub async fn report_upload_failure(id: String, reason: String) -> Result<UploadRow, ServerFnError> {
    let user = ctx::require_user().await?;
    service::report_failure(&ctx::state()?, &user, &id, &reason).await.map_err(ctx::upload_error)
}

#[server(endpoint = "uploads/mine")]
pub async fn my_uploads() -> Result<Vec<UploadRow>, ServerFnError> {
    let user = ctx::require_user().await?;
    crate::server::db::uploads::list_for_owner(&ctx::state()?.db, &user.id, None, 100).await.map_err(ctx::internal)
}

#[server(endpoint = "uploads/plain-form")]
pub async fn signed_plain_form() -> Result<PlainForm, ServerFnError> {
    let user = ctx::require_user().await?;
    service::plain_form(&ctx::state()?, &user).map_err(ctx::upload_error)
}
