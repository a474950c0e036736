//! Uploads and their life: `pending` moves to exactly one of completed, failed, expired or
//! cancelled, each move a single conditional UPDATE so racing confirmers change a row once.

use crate::model::{SigningMethod, UploadRow, UploadStatus};

use super::object_keys::pair;
use super::{now_millis, DbError, Pool};

const COLUMNS: &str = "id, owner_id, object_key, file_name, content_type, declared_size, confirmed_size, etag, \
    checksum_sha256, status, method, error, created_at, expires_at, confirmed_at, multipart_upload_id, part_size, \
    part_count, fingerprint, found_at";

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
    pub multipart: Option<NewMultipart<'a>>,
}

/// The multipart side of a new upload.
#[derive(Clone, Debug)]
pub struct NewMultipart<'a> {
    pub upload_id: &'a str,
    pub part_size: i64,
    pub part_count: i64,
    pub fingerprint: Option<&'a str>,
}

/// A new upload's id: a UUIDv7, so ids (and the object keys made from them) grow with time. Rows
/// recorded together then go to the same few pages of the id and key indexes; random (v4) ids put
/// each row on a page of its own, and on SQLite a batch of 64 tickets wrote a third more WAL.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub async fn insert_pending(pool: &Pool, id: &str, u: &NewUpload<'_>) -> Result<UploadRow, DbError> {
    insert(pool, id, u, UploadStatus::Pending, None).await
}

/// Records an upload that is over as soon as it is known (a landed file of a refused type): never
/// pending, so no confirmer or reconciler can move it.
pub async fn insert_failed(pool: &Pool, id: &str, u: &NewUpload<'_>, reason: &str) -> Result<UploadRow, DbError> {
    insert(pool, id, u, UploadStatus::Failed, Some(reason)).await
}

async fn insert(
    pool: &Pool,
    id: &str,
    u: &NewUpload<'_>,
    status: UploadStatus,
    reason: Option<&str>,
) -> Result<UploadRow, DbError> {
    sqlx::query_as(&format!(
        "INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, checksum_sha256, \
         method, created_at, expires_at, multipart_upload_id, part_size, part_count, fingerprint, status, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING {COLUMNS}"
    ))
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
    .bind(u.multipart.as_ref().map(|m| m.upload_id))
    .bind(u.multipart.as_ref().map(|m| m.part_size))
    .bind(u.multipart.as_ref().map(|m| m.part_count))
    .bind(u.multipart.as_ref().and_then(|m| m.fingerprint))
    .bind(status.as_str())
    .bind(reason)
    // All rows, not the first: SQLite commits a `RETURNING` statement only when it is stepped to
    // its end, and a failed commit (a full disk) is reported only then. Taking the first row and
    // dropping the statement answered success for a row that was never stored.
    .fetch_all(pool)
    .await?
    .pop()
    .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
}

pub async fn get(pool: &Pool, id: &str) -> Result<Option<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1")).bind(id).fetch_optional(pool).await?)
}

pub async fn by_key(pool: &Pool, key: &str) -> Result<Option<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE {} = {}", pair("object_key"), pair("$1")))
        .bind(key)
        .fetch_optional(pool)
        .await?)
}

/// pending → completed with what S3 reported (the checksum S3 keeps, when it reported one; else
/// the one signed stays). `false` if the row was not pending (someone else confirmed it first, or
/// it was cancelled).
pub async fn mark_completed(
    pool: &Pool,
    id: &str,
    size: i64,
    etag: &str,
    checksum: Option<&str>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE uploads SET status = 'completed', confirmed_size = $2, etag = $3, confirmed_at = $4, \
         checksum_sha256 = COALESCE($5, checksum_sha256) WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(size)
    .bind(etag)
    .bind(now_millis())
    .bind(checksum)
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

/// Replaces the reason of an upload that ended as `status` (what became of its stored file, found
/// out after the row moved). `false` if the row is not in that state.
pub async fn note_error(pool: &Pool, id: &str, status: UploadStatus, reason: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE uploads SET error = $3 WHERE id = $1 AND status = $2")
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

/// On SQLite, the index a query must take, for the few whose rows a partial index holds.
/// Without statistics SQLite's planner takes the plain `status` index for `status = 'pending'`
/// and reads every pending row: the reconciler read the whole table once a minute (at 100,000
/// tickets, the full database through the memory map, which then stayed resident), and each
/// multipart ticket read every pending upload to find a resumable one. PostgreSQL plans these
/// from its statistics.
fn indexed_by(pool: &Pool, index: &str) -> String {
    if super::is_sqlite(pool) {
        format!("INDEXED BY {index}")
    } else {
        String::new()
    }
}

/// Pending uploads whose signature expired before `now`: the reconciler's work list.
pub async fn pending_expired_before(pool: &Pool, now: i64, limit: i64) -> Result<Vec<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads {} WHERE status = 'pending' AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        indexed_by(pool, "uploads_pending_by_expiry")
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The caller's unfinished multipart upload of the same file (name, size and fingerprint), if its
/// time has not run out: what a reload or a second drop of the file resumes.
pub async fn resumable(
    pool: &Pool,
    owner_id: &str,
    file_name: &str,
    size: i64,
    fingerprint: &str,
    now: i64,
) -> Result<Option<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads {} WHERE owner_id = $1 AND fingerprint = $2 AND status = 'pending' \
         AND fingerprint IS NOT NULL AND file_name = $3 AND declared_size = $4 AND expires_at > $5 \
         ORDER BY created_at DESC LIMIT 1",
        indexed_by(pool, "uploads_resumable")
    ))
    .bind(owner_id)
    .bind(fingerprint)
    .bind(file_name)
    .bind(size)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

/// Moves a pending upload's end of life to `expires_at`: a multipart upload that is still
/// sending parts is alive, however long it takes.
pub async fn extend(pool: &Pool, id: &str, expires_at: i64) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE uploads SET expires_at = $2 WHERE id = $1 AND status = 'pending' AND expires_at < $2")
            .bind(id)
            .bind(expires_at)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancelled uploads sent by POST or PUT whose ticket has lapsed and whose key nobody has cleared
/// yet: an object may have arrived on a ticket that still worked after the cancel.
pub async fn cancelled_unswept(pool: &Pool, now: i64, limit: i64) -> Result<Vec<UploadRow>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads {} WHERE status = 'cancelled' AND swept_at IS NULL AND expires_at < $1 \
         AND method <> 'multipart' ORDER BY expires_at LIMIT $2",
        indexed_by(pool, "uploads_cancelled_unswept")
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn mark_swept(pool: &Pool, id: &str, now: i64) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE uploads SET swept_at = $2 WHERE id = $1 AND swept_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Which of `keys` some row names.
pub async fn known_keys(pool: &Pool, keys: &[String]) -> Result<Vec<String>, DbError> {
    let mut known = vec![];
    for chunk in keys.chunks(200) {
        // Joined to a list rather than `IN`, which SQLite answers with a scan of the key index.
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("(${i})")).collect();
        let sql = format!(
            "SELECT u.object_key FROM (VALUES {}) AS k JOIN uploads u ON {} = {}",
            marks.join(", "),
            pair("u.object_key"),
            pair("k.column1")
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for key in chunk {
            query = query.bind(key);
        }
        known.extend(query.fetch_all(pool).await?.into_iter().map(|(k,)| k));
    }
    Ok(known)
}

/// An object the sweep found in the bucket with no row: recorded as its owner's completed upload,
/// marked with when it was found. Nothing happens if a row for the id or key appeared meanwhile
/// (the landing route, or the sweep of another server).
pub struct FoundObject<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub object_key: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub etag: &'a str,
    pub checksum_sha256: Option<&'a str>,
    pub stored_at: i64,
}

pub async fn insert_found(pool: &Pool, f: &FoundObject<'_>, now: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, confirmed_size, \
         etag, checksum_sha256, status, method, created_at, expires_at, confirmed_at, found_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 'completed', 'post', $9, $9, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(f.id)
    .bind(f.owner_id)
    .bind(f.object_key)
    .bind(f.file_name)
    .bind(f.content_type)
    .bind(f.size)
    .bind(f.etag)
    .bind(f.checksum_sha256)
    .bind(f.stored_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
