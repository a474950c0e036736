//! The upload service's decisions that do not depend on who asks: is the object really there, and
//! does it match what was signed? Confirm, the landing route and the reconciler all end here.

use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use crate::model::{PlainForm, SigningMethod, UploadRow, UploadStatus, UploadTicket};

use super::db::{self, uploads, users::User, DbError, Pool};
use super::doctor::MAX_CLOCK_SKEW_SECS;
use super::s3::post_policy::{PostPolicy, Success};
use super::s3::{Expiry, S3Client, S3Error};
use super::AppState;

/// Most uploads one user may request in a minute.
pub const UPLOADS_PER_MINUTE: i64 = 300;
/// Longest stored file name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Where S3 sends browsers after a form upload without JavaScript.
pub const LANDING_PATH: &str = "/uploads/landing";

/// Why an upload request, confirmation or landing was refused. The message is for the user;
/// internal details go to the log only.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("There is no such upload.")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many uploads in the last minute; please wait a moment.")]
    RateLimited,
    #[error("{0}")]
    Unavailable(String),
    #[error("Something went wrong on our side; please try again.")]
    Internal(String),
}

impl UploadError {
    pub fn status(&self) -> u16 {
        match self {
            UploadError::Unauthorized => 401,
            UploadError::NotFound => 404,
            UploadError::Invalid(_) => 400,
            UploadError::Conflict(_) => 409,
            UploadError::RateLimited => 429,
            UploadError::Unavailable(_) => 503,
            UploadError::Internal(_) => 500,
        }
    }
}

impl From<DbError> for UploadError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "upload: database error");
        UploadError::Internal(e.to_string())
    }
}

impl From<S3Error> for UploadError {
    fn from(e: S3Error) -> Self {
        tracing::error!(error = %e, "upload: S3 error");
        UploadError::Unavailable("The storage service did not answer; please try again.".into())
    }
}

impl From<VerifyError> for UploadError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Db(e) => e.into(),
            VerifyError::S3(e) => e.into(),
        }
    }
}

/// A file name safe to put in a key and show back: the last path component, no control
/// characters, no `/` or `\`, not `.` or `..`, at most [`MAX_NAME_BYTES`] (extension kept).
/// Unicode is kept as it is.
pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim_start_matches(|c: char| c == '.' || c.is_whitespace()).trim_end();
    let cleaned = if cleaned.is_empty() { "file".to_owned() } else { cleaned.to_owned() };
    if cleaned.len() <= MAX_NAME_BYTES {
        return cleaned;
    }
    let ext = cleaned.rsplit_once('.').map(|(_, e)| e).filter(|e| e.len() <= 16 && !e.is_empty());
    let budget = MAX_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut stem = String::new();
    for c in cleaned.chars() {
        if stem.len() + c.len_utf8() > budget {
            break;
        }
        stem.push(c);
    }
    match ext {
        Some(e) => format!("{stem}.{e}"),
        None => stem,
    }
}

fn expiry(state: &AppState) -> Expiry {
    Expiry::secs(state.config.upload_expiry_secs).expect("validated when the config was read")
}

/// Signing with a clock far off S3's only produces refusals; say so instead.
fn check_clock(state: &AppState) -> Result<(), UploadError> {
    let skew = state.clock_skew_secs.load(Ordering::Relaxed);
    if skew.abs() > MAX_CLOCK_SKEW_SECS {
        tracing::error!(skew, "refusing to sign: the server clock is off S3's");
        return Err(UploadError::Unavailable("Uploads are paused: the server's clock is off. Please tell the operator.".into()));
    }
    Ok(())
}

/// Checks the user and the limits, records a pending upload and signs a POST for exactly this
/// key, type and size.
pub async fn request(
    state: &AppState,
    user: &User,
    file_name: &str,
    size: u64,
    content_type: &str,
) -> Result<UploadTicket, UploadError> {
    let limits = &state.config.limits;
    let content_type = match content_type.trim() {
        "" => "application/octet-stream".to_owned(),
        t => t.to_ascii_lowercase(),
    };
    if size == 0 {
        return Err(UploadError::Invalid("The file is empty.".into()));
    }
    if size > limits.max_bytes {
        return Err(UploadError::Invalid(format!(
            "The file is {}; the limit is {}.",
            crate::model::human_size(size),
            crate::model::human_size(limits.max_bytes)
        )));
    }
    if !limits.allows_type(&content_type) || content_type.contains(['\r', '\n']) {
        return Err(UploadError::Invalid(format!(
            "Files of type {content_type} are not accepted (allowed: {}).",
            limits.allowed_types.join(", ")
        )));
    }
    check_clock(state)?;
    let signed_at = OffsetDateTime::now_utc();
    let now = (signed_at.unix_timestamp_nanos() / 1_000_000) as i64;
    if uploads::count_since(&state.db, &user.id, now - 60_000).await? >= UPLOADS_PER_MINUTE {
        return Err(UploadError::RateLimited);
    }
    let name = sanitize_file_name(file_name);
    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("uploads/{}/{id}/{name}", user.id);
    let form = PostPolicy::for_key(&key, expiry(state))
        .content_type(&content_type)
        .length_range(size, size)
        .success(Success::Status(201))
        .sign(state.s3.bucket(), signed_at)
        .map_err(|e| UploadError::Invalid(e.to_string()))?;
    let expires_at = (form.expires_at.unix_timestamp_nanos() / 1_000_000) as i64;
    uploads::insert_pending(
        &state.db,
        &id,
        &uploads::NewUpload {
            owner_id: &user.id,
            object_key: &key,
            file_name: &name,
            content_type: &content_type,
            declared_size: size as i64,
            checksum_sha256: None,
            method: SigningMethod::Post,
            expires_at,
        },
    )
    .await?;
    Ok(UploadTicket { upload_id: id, object_key: key, url: form.url, fields: form.fields, expires_at, server_time: now })
}

async fn own_upload(state: &AppState, user: &User, id: &str) -> Result<UploadRow, UploadError> {
    match uploads::get(&state.db, id).await? {
        // Another user's upload is "no such upload": its existence is not theirs to learn.
        Some(row) if row.owner_id == user.id => Ok(row),
        _ => Err(UploadError::NotFound),
    }
}

/// Turns what verifying found into the row, or the reason it is not completed.
async fn settle(state: &AppState, row: UploadRow) -> Result<UploadRow, UploadError> {
    match verify(&state.db, &state.s3, &row).await? {
        Verified::Completed { .. } => Ok(uploads::get(&state.db, &row.id).await?.ok_or(UploadError::NotFound)?),
        Verified::Missing => Err(UploadError::Conflict("The storage has no file for this upload (yet).".into())),
        Verified::Mismatch { reason } => {
            uploads::mark_ended(&state.db, &row.id, UploadStatus::Failed, Some(&reason)).await?;
            Err(UploadError::Conflict(format!("The stored file does not match the upload: {reason}.")))
        }
        Verified::NotPending(status) => Err(UploadError::Conflict(format!("This upload is {}.", status.as_str()))),
    }
}

/// The dropzone's confirmation once S3 answered: HEAD, compare, complete. Idempotent.
pub async fn confirm(state: &AppState, user: &User, id: &str) -> Result<UploadRow, UploadError> {
    let row = own_upload(state, user, id).await?;
    settle(state, row).await
}

/// The user gave up on this upload; an object that slipped through anyway is removed.
pub async fn cancel(state: &AppState, user: &User, id: &str) -> Result<UploadRow, UploadError> {
    let row = own_upload(state, user, id).await?;
    if !uploads::mark_ended(&state.db, &row.id, UploadStatus::Cancelled, Some("cancelled by the user")).await? {
        return Err(UploadError::Conflict(format!("This upload is already {}.", row.status.as_str())));
    }
    if let Err(e) = state.s3.delete_object(&row.object_key).await {
        tracing::warn!(error = %e, key = %row.object_key, "cancel: could not delete the object");
    }
    Ok(uploads::get(&state.db, id).await?.ok_or(UploadError::NotFound)?)
}

/// The browser reports S3's refusal; the row records it (the reason is S3's words, shortened).
pub async fn report_failure(state: &AppState, user: &User, id: &str, reason: &str) -> Result<UploadRow, UploadError> {
    let row = own_upload(state, user, id).await?;
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(300).collect();
    uploads::mark_ended(&state.db, &row.id, UploadStatus::Failed, Some(&reason)).await?;
    Ok(uploads::get(&state.db, id).await?.ok_or(UploadError::NotFound)?)
}

/// A form for the profile page without JavaScript: the key is fixed up to a fresh folder of the
/// user's, S3 fills in the file name, and S3 redirects to our landing route.
pub fn plain_form(state: &AppState, user: &User) -> Result<PlainForm, UploadError> {
    check_clock(state)?;
    let prefix = format!("uploads/{}/{}/", user.id, uuid::Uuid::new_v4());
    let form = PostPolicy::for_key(format!("{prefix}${{filename}}"), expiry(state))
        .key_starts_with(prefix)
        .length_range(1, state.config.limits.max_bytes)
        .success(Success::Redirect(format!("{}{LANDING_PATH}", state.config.public_url)))
        .sign(state.s3.bucket(), OffsetDateTime::now_utc())
        .map_err(|e| UploadError::Invalid(e.to_string()))?;
    Ok(PlainForm { url: form.url, fields: form.fields })
}

/// S3's 303 after a form upload: check the key is the user's, HEAD it, and record it completed.
pub async fn land(state: &AppState, user: &User, bucket: &str, key: &str) -> Result<UploadRow, UploadError> {
    let own_prefix = format!("uploads/{}/", user.id);
    if bucket != state.config.s3.bucket || !key.starts_with(&own_prefix) {
        tracing::warn!(user = %user.id, bucket, key, "landing: refused a key that is not the user's");
        return Err(UploadError::NotFound);
    }
    if let Some(row) = uploads::by_key(&state.db, key).await? {
        return if row.owner_id == user.id { settle(state, row).await } else { Err(UploadError::NotFound) };
    }
    // A form upload: the row is recorded now that S3 says there is an object.
    let rest = &key[own_prefix.len()..];
    let Some((id, name)) = rest.split_once('/').filter(|(id, n)| uuid::Uuid::parse_str(id).is_ok() && !n.is_empty())
    else {
        return Err(UploadError::NotFound);
    };
    let Some(info) = state.s3.head_object(key).await? else {
        return Err(UploadError::Conflict("The storage has no such file.".into()));
    };
    let content_type = mime_guess::from_path(name).first_or_octet_stream().essence_str().to_owned();
    let row = uploads::insert_pending(
        &state.db,
        id,
        &uploads::NewUpload {
            owner_id: &user.id,
            object_key: key,
            file_name: &sanitize_file_name(name),
            content_type: &content_type,
            declared_size: info.size as i64,
            checksum_sha256: None,
            method: SigningMethod::Post,
            expires_at: db::now_millis(),
        },
    )
    .await?;
    if !state.config.limits.allows_type(&content_type) {
        let reason = format!("files of type {content_type} are not accepted");
        uploads::mark_ended(&state.db, id, UploadStatus::Failed, Some(&reason)).await?;
        if let Err(e) = state.s3.delete_object(key).await {
            tracing::warn!(error = %e, key, "landing: could not delete a refused object");
        }
        return Err(UploadError::Invalid(format!("{name}: {reason}.")));
    }
    settle(state, row).await
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    S3(#[from] S3Error),
}

/// What checking one upload against the bucket found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The object is there with the signed size; the row is completed, by this call when `newly`.
    Completed { size: i64, etag: String, newly: bool },
    /// No object (yet).
    Missing,
    /// An object is there but not the one that was signed for.
    Mismatch { reason: String },
    /// The row was no longer pending (cancelled, failed, expired) and stays as it is.
    NotPending(UploadStatus),
}

/// HEADs the upload's object and, when it matches, moves the row pending → completed.
pub async fn verify(pool: &Pool, s3: &S3Client, upload: &UploadRow) -> Result<Verified, VerifyError> {
    if upload.status == UploadStatus::Completed {
        return Ok(Verified::Completed {
            size: upload.confirmed_size.unwrap_or(upload.declared_size),
            etag: upload.etag.clone().unwrap_or_default(),
            newly: false,
        });
    }
    if upload.status != UploadStatus::Pending {
        return Ok(Verified::NotPending(upload.status));
    }
    let Some(info) = s3.head_object(&upload.object_key).await? else { return Ok(Verified::Missing) };
    let size = info.size as i64;
    if size != upload.declared_size {
        return Ok(Verified::Mismatch {
            reason: format!("the stored object has {size} bytes, {} were signed for", upload.declared_size),
        });
    }
    let newly = uploads::mark_completed(pool, &upload.id, size, &info.etag).await?;
    if !newly {
        // Someone else moved it first; report what the row says now.
        let now = uploads::get(pool, &upload.id).await?.map(|r| r.status).unwrap_or(UploadStatus::Failed);
        if now != UploadStatus::Completed {
            return Ok(Verified::NotPending(now));
        }
    }
    Ok(Verified::Completed { size, etag: info.etag, newly })
}

/// What one reconciler pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub completed: usize,
    pub expired: usize,
    pub failed: usize,
    pub errors: usize,
}

/// Settles pending uploads whose signature has expired: an object that matches completes them
/// (the redirect or callback was lost), no object expires them. Each change is a conditional
/// UPDATE, so reconcilers on several servers at once change each row once.
pub async fn reconcile(pool: &Pool, s3: &S3Client, batch: i64) -> Result<ReconcileReport, DbError> {
    let mut report = ReconcileReport::default();
    for upload in uploads::pending_expired_before(pool, db::now_millis(), batch).await? {
        match verify(pool, s3, &upload).await {
            Ok(Verified::Completed { newly, .. }) => report.completed += newly as usize,
            Ok(Verified::Missing) => {
                if uploads::mark_ended(pool, &upload.id, UploadStatus::Expired, Some("the signature expired before an object arrived")).await? {
                    report.expired += 1;
                }
            }
            Ok(Verified::Mismatch { reason }) => {
                if uploads::mark_ended(pool, &upload.id, UploadStatus::Failed, Some(&reason)).await? {
                    report.failed += 1;
                }
            }
            Ok(Verified::NotPending(_)) => {}
            Err(e) => {
                tracing::warn!(upload = %upload.id, error = %e, "reconcile: could not check the object");
                report.errors += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters_but_keep_unicode() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(sanitize_file_name("  ..hidden "), "hidden");
        assert_eq!(sanitize_file_name(".."), "file");
        assert_eq!(sanitize_file_name(". .x"), "x");
        assert_eq!(sanitize_file_name(""), "file");
        assert_eq!(sanitize_file_name("Résumé 履歴書.pdf"), "Résumé 履歴書.pdf");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(300));
        let cut = sanitize_file_name(&long);
        assert!(cut.len() <= MAX_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with(".jpeg"));
        assert!(cut.starts_with("éé"));
    }

    proptest::proptest! {
        #[test]
        fn sanitized_names_are_always_safe_key_segments(name in "\\PC{0,300}|[./\\\\\\x00-\\x1f]{0,20}") {
            let s = sanitize_file_name(&name);
            proptest::prop_assert!(!s.is_empty() && s.len() <= MAX_NAME_BYTES);
            proptest::prop_assert!(!s.contains('/') && !s.contains('\\'));
            proptest::prop_assert!(!s.chars().any(char::is_control));
            proptest::prop_assert!(s != "." && s != ".." && !s.starts_with('.'));
        }
    }
}
