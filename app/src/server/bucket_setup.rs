//! The bucket rules an operator applies once: CORS for the app's origin, lifecycle for hygiene.

use super::s3::{CorsRule, S3Client, S3Error};

/// What applying the CORS rule did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorsChange {
    Unchanged,
    /// The rule for the origin was added (or brought up to date); `kept` other rules stay as they
    /// were, so deployments on other origins sharing the bucket keep working.
    Added {
        kept: usize,
    },
}

/// Puts the browser-upload rule for `origin` on the bucket beside the rules already there (an
/// older rule for this origin alone is replaced); no write when it is in place already.
pub async fn apply_cors(s3: &S3Client, origin: &str) -> Result<CorsChange, S3Error> {
    let rule = CorsRule::for_browser_uploads(origin);
    let before = s3.get_bucket_cors().await?;
    if before.contains(&rule) {
        return Ok(CorsChange::Unchanged);
    }
    let mut rules: Vec<CorsRule> = before.into_iter().filter(|r| r.allowed_origins != [origin]).collect();
    let kept = rules.len();
    rules.push(rule);
    s3.put_bucket_cors(&rules).await?;
    Ok(CorsChange::Added { kept })
}

/// Aborts multipart uploads abandoned for a day, and expires objects left under `tmp/`.
pub const LIFECYCLE_XML: &str = "<LifecycleConfiguration>\
<Rule><ID>s3drop-abort-incomplete-multipart</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>\
<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
<Rule><ID>s3drop-expire-tmp</ID><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter>\
<Expiration><Days>1</Days></Expiration></Rule>\
</LifecycleConfiguration>";
