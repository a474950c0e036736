//! Is the app able to do its job: does the database answer, and can we reach the bucket?

use super::s3_errors::S3ErrorKind;
use super::AppState;
use crate::model::Health;

pub async fn check(state: &AppState) -> Health {
    let (database, bucket) = tokio::join!(super::db::ping(&state.db), state.s3.head_bucket());
    Health {
        database: database.map_err(|e| {
            tracing::warn!(error = %e, "health: database unreachable");
            "unreachable".to_owned()
        }),
        bucket: bucket.map_err(|e| {
            tracing::warn!(error = %e, "health: bucket unreachable");
            if e.is_missing_bucket() {
                "bucket not found".to_owned()
            } else if e.is_access_denied() {
                "access denied".to_owned()
            } else {
                "unreachable".to_owned()
            }
        }),
    }
}
