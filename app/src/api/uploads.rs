//! Asking for, confirming, cancelling and listing the caller's own uploads.

use leptos::prelude::*;

use super::ApiError;
use crate::model::{FileRequest, PartChecksum, PartUrls, PlainForm, UploadRow, UploadTicket};

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::server::uploads as service;

/// A ticket for one file. Below the multipart threshold `sha256` (base64 SHA-256 of the whole
/// file) is required; above it, `last_modified` and `first_part_sha256` let the same file resume.
#[server(endpoint = "uploads/request")]
pub async fn request_upload(
    file_name: String,
    size: u64,
    content_type: String,
    sha256: Option<String>,
    last_modified: Option<i64>,
    first_part_sha256: Option<String>,
) -> Result<UploadTicket, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        let file = FileRequest { file_name, size, content_type, sha256, last_modified, first_part_sha256 };
        Ok(service::request(&ctx::state()?, &user, &file.into()).await?)
    })
    .await
}

/// Tickets for many files in one round trip, each answered on its own: a refused file (too
/// large, a type not allowed, the per-minute allowance spent) does not hold back the others.
/// The answers are in the order of the files, `{"Ok": ticket}` or `{"Err": {"kind", "message"}}`.
#[server(endpoint = "uploads/request-many", input = leptos::server_fn::codec::Json)]
pub async fn request_uploads(files: Vec<FileRequest>) -> Result<Vec<Result<UploadTicket, ApiError>>, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        let state = ctx::state()?;
        check_batch(files.len())?;
        // All at once: the ticket writer then records them in one transaction. Each takes its
        // place in the allowance in the order of the files.
        let (state, user) = (&state, &user);
        Ok(futures::future::join_all(
            files
                .into_iter()
                .map(|f| async move { service::request(state, user, &f.into()).await.map_err(ApiError::from) }),
        )
        .await)
    })
    .await
}

/// Confirms many uploads in one round trip; the objects are looked at (HEAD) several at a time.
/// Each answer, in the order of the ids, is the row or why it is not completed.
#[server(endpoint = "uploads/confirm-many", input = leptos::server_fn::codec::Json)]
pub async fn confirm_uploads(ids: Vec<String>) -> Result<Vec<Result<UploadRow, ApiError>>, ApiError> {
    use futures::StreamExt;
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        let state = ctx::state()?;
        check_batch(ids.len())?;
        let (state, user) = (&state, &user);
        Ok(futures::stream::iter(ids)
            .map(|id| async move { service::confirm(state, user, &id).await.map_err(ApiError::from) })
            .buffered(CONFIRM_CONCURRENCY)
            .collect()
            .await)
    })
    .await
}

/// How many objects one batched confirmation HEADs at once.
#[cfg(feature = "ssr")]
const CONFIRM_CONCURRENCY: usize = 8;

#[cfg(feature = "ssr")]
fn check_batch(n: usize) -> Result<(), ApiError> {
    use crate::i18n::td_string;
    if n > crate::model::MAX_BATCH {
        let l = crate::locale::current();
        return Err(ApiError::Invalid(
            td_string!(l, errors.upload.batch_too_large, count_sent = n, most = crate::model::MAX_BATCH).to_string(),
        ));
    }
    Ok(())
}

/// Signed URLs for the next parts of a multipart upload, each pinned to its checksum.
#[server(endpoint = "uploads/parts", input = leptos::server_fn::codec::Json)]
pub async fn sign_upload_parts(id: String, parts: Vec<PartChecksum>) -> Result<PartUrls, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::sign_parts(&ctx::state()?, &user, &id, &parts).await?)
    })
    .await
}

/// Completes a multipart upload from the parts S3 holds, then verifies it.
#[server(endpoint = "uploads/complete")]
pub async fn complete_upload(id: String) -> Result<UploadRow, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::complete(&ctx::state()?, &user, &id).await?)
    })
    .await
}

#[server(endpoint = "uploads/confirm")]
pub async fn confirm_upload(id: String) -> Result<UploadRow, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::confirm(&ctx::state()?, &user, &id).await?)
    })
    .await
}

#[server(endpoint = "uploads/cancel")]
pub async fn cancel_upload(id: String) -> Result<UploadRow, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::cancel(&ctx::state()?, &user, &id).await?)
    })
    .await
}

/// The browser tells us S3 refused the file, in S3's words.
#[server(endpoint = "uploads/failed")]
pub async fn report_upload_failure(id: String, reason: String) -> Result<UploadRow, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::report_failure(&ctx::state()?, &user, &id, &reason).await?)
    })
    .await
}

#[server(endpoint = "uploads/mine")]
pub async fn my_uploads() -> Result<Vec<UploadRow>, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(crate::server::db::uploads::list_for_owner(&ctx::state()?.db, &user.id, None, 100).await?)
    })
    .await
}

#[server(endpoint = "uploads/plain-form")]
pub async fn signed_plain_form() -> Result<PlainForm, ApiError> {
    ctx::answer(async move {
        let user = ctx::require_user().await?;
        Ok(service::plain_form(&ctx::state()?, &user)?)
    })
    .await
}
