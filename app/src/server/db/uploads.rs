//! Uploads and their life: `pending` moves to exactly one of completed, failed, expired or
//! cancelled, each move a single conditional UPDATE so racing confirmers change a row once.

use crate::model::{SigningMethod, UploadRow, UploadStatus};

use super::{now_millis, DbError, Pool};

const COLUMNS: &str = "id, owner_id, object_key, file_name, content_type, declared_size, confirmed_size, etag, \
    checksum_sha256, status, method, error, created_at, expires_at, confirmed_at";

/// What the upload service knows before the browser sends anything.
#[derive(Clone, Debug)]
pub struct NewUpload<'a> {
    pub owner_id: &'a str,
    pub object_key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub declared_size: i64,
    pub checksum_sha256: Option<&'a str>,
    pub method: SigningMethod,
    pub expires_at: i64,
}

pub async fn insert_pending(pool: &Pool, id: &str, u: &NewUpload<'_>) -> Result<UploadRow, DbError> {
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, checksum_sha256, \
         status, method, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)",
    )
    .bind(id)
    .bind(u.owner_id)
    .bind(u.object_key)
    .bind(u.file_name)
    .bind(u.content_type)
    .bind(u.declared_size)
    .bind(u.checksum_sha256)
    .bind(u.method.as_str())
    .bind(now_millis())
    .bind(u.expires_at)
    .execute(pool)
    .await?;
    Ok(get(pool, id).await?.expect("the row was just inserted"))
}

pub async fn get(pool: &Pool, id: &str) -> Result<Option<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1")).bind(id).fetch_optional(pool).await?)
}

pub async fn by_key(pool: &Pool, key: &str) -> Result<Option<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE object_key = $1"))
        .bind(key)
        .fetch_optional(pool)
        .await?)
}

/// pending → completed with what S3 reported. `false` if the row was not pending (someone else
/// confirmed it first, or it was cancelled).
pub async fn mark_completed(pool: &Pool, id: &str, size: i64, etag: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE uploads SET status = 'completed', confirmed_size = $2, etag = $3, confirmed_at = $4 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(size)
    .bind(etag)
    .bind(now_millis())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// pending → failed, expired or cancelled, with the reason. `false` if it was not pending.
pub async fn mark_ended(pool: &Pool, id: &str, status: UploadStatus, reason: Option<&str>) -> Result<bool, DbError> {
    assert!(!matches!(status, UploadStatus::Pending | UploadStatus::Completed), "use mark_completed");
    let done = sqlx::query("UPDATE uploads SET status = $2, error = $3 WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A user's uploads, newest first; `before` is the `(created_at, id)` of the last row already seen.
pub async fn list_for_owner(
    pool: &Pool,
    owner_id: &str,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<UploadRow>, DbError> {
    let (t, id) = before.unwrap_or((i64::MAX, ""));
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE owner_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(owner_id)
    .bind(t)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Pending uploads whose signature expired before `now`: the reconciler's work list.
pub async fn pending_expired_before(pool: &Pool, now: i64, limit: i64) -> Result<Vec<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE status = 'pending' AND expires_at < $1 ORDER BY expires_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// How many uploads a user asked for since `since` (the per-user rate limit).
pub async fn count_since(pool: &Pool, owner_id: &str, since: i64) -> Result<i64, DbError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads WHERE owner_id = $1 AND created_at >= $2")
        .bind(owner_id)
        .bind(since)
        .fetch_one(pool)
        .await?;
    Ok(n)
}
