//! The upload service's decisions that do not depend on who asks: is the object really there, and
//! does it match what was signed? Confirm, the landing route and the reconciler all end here.

use crate::model::{UploadRow, UploadStatus};

use super::db::{self, uploads, DbError, Pool};
use super::s3::{S3Client, S3Error};

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
