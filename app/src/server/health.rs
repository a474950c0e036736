//! Is the app able to do its job: does the database answer, and can we reach the bucket?

use super::s3_errors::S3ErrorKind;
use super::AppState;
use crate::model::Health;

/// `scheme://host[:port]` of a URL: what a browser sends as `Origin`.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
}

pub async fn check(state: &AppState) -> Health {
    let origin = origin_of(&state.config.public_url);
    let (database, bucket, cors) =
        tokio::join!(super::db::ping(&state.db), state.s3.head_bucket(), state.s3.preflight(&origin));
    Health {
        cors: cors
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "health: no answer to a CORS preflight");
                Err("the bucket did not answer a CORS preflight".to_owned())
            })
            .map_err(|e| format!("{e}: run `server bucket apply-cors`")),
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
