//! Is the app able to do its job: does the database answer, and can we reach the bucket?

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
            match e.code() {
                Some("NotFound" | "NoSuchBucket") => "bucket not found".to_owned(),
                Some("AccessDenied" | "Forbidden") => "access denied".to_owned(),
                _ => "unreachable".to_owned(),
            }
        }),
    }
}
