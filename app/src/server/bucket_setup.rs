//! The bucket rules an operator applies once: CORS for the app's origin, lifecycle for hygiene.

use super::s3::{CorsRule, S3Client, S3Error};

/// What applying the CORS rule did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorsChange {
    Unchanged,
    /// This many earlier rules were replaced by the one rule.
    Replaced(usize),
}

/// Makes the bucket's CORS exactly the browser-upload rule for `origin`; no write when it is already.
pub async fn apply_cors(s3: &S3Client, origin: &str) -> Result<CorsChange, S3Error> {
    let rule = CorsRule::for_browser_uploads(origin);
    let before = s3.get_bucket_cors().await?;
    if before == [rule.clone()] {
        return Ok(CorsChange::Unchanged);
    }
    s3.put_bucket_cors(&[rule]).await?;
    Ok(CorsChange::Replaced(before.len()))
}

/// Aborts multipart uploads abandoned for a day, and expires objects left under `tmp/`.
pub const LIFECYCLE_XML: &str = "<LifecycleConfiguration>\
<Rule><ID>s3drop-abort-incomplete-multipart</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>\
<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
<Rule><ID>s3drop-expire-tmp</ID><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter>\
<Expiration><Days>1</Days></Expiration></Rule>\
</LifecycleConfiguration>";
