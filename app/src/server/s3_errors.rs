//! What S3's error codes mean to us, read in one place: health, doctor and the upload service ask
//! these instead of matching codes themselves.

use super::s3::S3Error;

pub trait S3ErrorKind {
    /// The bucket does not exist (`NoSuchBucket`, or a bodiless 404 to a HEAD).
    fn is_missing_bucket(&self) -> bool;
    /// S3 refused access (`AccessDenied`, or a bodiless 403 to a HEAD).
    fn is_access_denied(&self) -> bool;
    /// S3 refused the signing credentials themselves: access denied, an unknown key, or a
    /// signature made with the wrong secret.
    fn is_credentials_refused(&self) -> bool;
    /// The multipart upload is gone: completed, aborted, or never there.
    fn is_no_such_upload(&self) -> bool;
    /// S3 did not answer at all (no error code: the network, or an unreadable answer).
    fn is_unreachable(&self) -> bool;
}

impl S3ErrorKind for S3Error {
    fn is_missing_bucket(&self) -> bool {
        matches!(self.code(), Some("NotFound" | "NoSuchBucket"))
    }

    fn is_access_denied(&self) -> bool {
        matches!(self.code(), Some("AccessDenied" | "Forbidden"))
    }

    fn is_credentials_refused(&self) -> bool {
        self.is_access_denied() || matches!(self.code(), Some("InvalidAccessKeyId" | "SignatureDoesNotMatch"))
    }

    fn is_no_such_upload(&self) -> bool {
        self.code() == Some("NoSuchUpload")
    }

    fn is_unreachable(&self) -> bool {
        self.code().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, code: &str) -> S3Error {
        S3Error::Service { status, code: code.into(), message: String::new() }
    }

    #[test]
    fn codes_are_read_as_what_they_mean() {
        assert!(answered(404, "NoSuchBucket").is_missing_bucket() && answered(404, "NotFound").is_missing_bucket());
        assert!(answered(403, "AccessDenied").is_access_denied() && answered(403, "Forbidden").is_access_denied());
        assert!(!answered(403, "SignatureDoesNotMatch").is_access_denied());
        for code in ["AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"] {
            assert!(answered(403, code).is_credentials_refused(), "{code}");
        }
        assert!(answered(404, "NoSuchUpload").is_no_such_upload() && !answered(404, "NotFound").is_no_such_upload());
        assert!(S3Error::InvalidResponse("?".into()).is_unreachable() && !answered(500, "Http500").is_unreachable());
    }
}
