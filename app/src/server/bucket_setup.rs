//! The bucket rules an operator applies once: CORS for the app's origin, lifecycle for hygiene.

/// Aborts multipart uploads abandoned for a day, and expires objects left under `tmp/`.
pub const LIFECYCLE_XML: &str = "<LifecycleConfiguration>\
<Rule><ID>s3drop-abort-incomplete-multipart</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>\
<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
<Rule><ID>s3drop-expire-tmp</ID><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter>\
<Expiration><Days>1</Days></Expiration></Rule>\
</LifecycleConfiguration>";
