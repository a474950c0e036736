//! Presigned URLs (query-string authentication) for PUT, GET, HEAD and multipart parts.
//!
//! A PUT signs `content-type`, `content-length` and, when given, `x-amz-checksum-sha256` as
//! headers: S3 only enforces what is in `X-Amz-SignedHeaders`, never a checksum passed as a
//! query parameter.

use time::OffsetDateTime;

use super::sigv4::{uri_encode, PayloadHash, SignableRequest};
use super::Bucket;

/// Longest validity S3 accepts for a presigned URL: 7 days.
pub const MAX_EXPIRY_SECS: u32 = 604_800;

/// A presigned URL's lifetime, 1 s ..= 7 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry(u32);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a presigned URL must expire between 1 second and 7 days (604800 s), not {0} s")]
pub struct ExpiryOutOfRange(pub u64);

impl Expiry {
    pub fn secs(secs: u64) -> Result<Self, ExpiryOutOfRange> {
        if (1..=MAX_EXPIRY_SECS as u64).contains(&secs) {
            Ok(Expiry(secs as u32))
        } else {
            Err(ExpiryOutOfRange(secs))
        }
    }

    pub fn as_secs(self) -> u32 {
        self.0
    }
}

/// What the browser must send: the method, the URL and exactly these headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// The headers a presigned PUT binds the uploader to.
#[derive(Clone, Debug, Default)]
pub struct PutConstraints {
    pub content_type: String,
    pub content_length: u64,
    /// base64 SHA-256 of the body
    pub checksum_sha256: Option<String>,
}

/// The headers a presigned part binds the uploader to: with them S3 refuses a part of another
/// length or with other bytes.
#[derive(Clone, Debug, Default)]
pub struct PartConstraints {
    pub content_length: Option<u64>,
    /// base64 SHA-256 of the part
    pub checksum_sha256: Option<String>,
}

impl Bucket {
    fn presign(
        &self,
        method: &'static str,
        key: &str,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        expiry: Expiry,
        now: OffsetDateTime,
    ) -> PresignedRequest {
        let loc = self.endpoint.object(&self.name, key);
        let mut signed = vec![("host".to_owned(), loc.host.clone())];
        signed.extend(headers.iter().cloned());
        let req = SignableRequest { method, path: &loc.path, query, headers: signed, payload: PayloadHash::Unsigned };
        let q = self.signer.presign_query(&req, expiry.as_secs(), now);
        PresignedRequest { method, url: format!("{}?{q}", loc.url()), headers }
    }

    pub fn presign_put(&self, key: &str, c: &PutConstraints, expiry: Expiry, now: OffsetDateTime) -> PresignedRequest {
        let mut headers = vec![
            ("content-type".to_owned(), c.content_type.clone()),
            ("content-length".to_owned(), c.content_length.to_string()),
        ];
        if let Some(sum) = &c.checksum_sha256 {
            headers.push(("x-amz-checksum-sha256".to_owned(), sum.clone()));
        }
        self.presign("PUT", key, vec![], headers, expiry, now)
    }

    /// A GET; with `download_name` the response carries `Content-Disposition: attachment`.
    pub fn presign_get(&self, key: &str, download_name: Option<&str>, expiry: Expiry, now: OffsetDateTime) -> String {
        let query = download_name
            .map(|n| vec![("response-content-disposition".to_owned(), content_disposition_attachment(n))])
            .unwrap_or_default();
        self.presign("GET", key, query, vec![], expiry, now).url
    }

    pub fn presign_head(&self, key: &str, expiry: Expiry, now: OffsetDateTime) -> String {
        self.presign("HEAD", key, vec![], vec![], expiry, now).url
    }

    /// One part of a multipart upload (`UploadPart`); presign each shortly before it is sent.
    pub fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        c: &PartConstraints,
        expiry: Expiry,
        now: OffsetDateTime,
    ) -> PresignedRequest {
        let query =
            vec![("partNumber".to_owned(), part_number.to_string()), ("uploadId".to_owned(), upload_id.to_owned())];
        let mut headers = vec![];
        if let Some(len) = c.content_length {
            headers.push(("content-length".to_owned(), len.to_string()));
        }
        if let Some(sum) = &c.checksum_sha256 {
            headers.push(("x-amz-checksum-sha256".to_owned(), sum.clone()));
        }
        self.presign("PUT", key, query, headers, expiry, now)
    }
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 5987).
pub fn content_disposition_attachment(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", uri_encode(name, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_bounded_to_seven_days() {
        assert!(Expiry::secs(0).is_err());
        assert!(Expiry::secs(1).is_ok());
        assert!(Expiry::secs(604_800).is_ok());
        assert_eq!(Expiry::secs(604_801), Err(ExpiryOutOfRange(604_801)));
    }

    proptest::proptest! {
        #[test]
        fn expiry_accepts_exactly_the_documented_range(s in 0u64..2_000_000) {
            proptest::prop_assert_eq!(Expiry::secs(s).is_ok(), (1..=604_800).contains(&s));
        }
    }

    #[test]
    fn content_disposition_keeps_unicode_and_quotes_safely() {
        let v = content_disposition_attachment("rapport \"final\" é.pdf");
        assert_eq!(
            v,
            "attachment; filename=\"rapport _final_ _.pdf\"; filename*=UTF-8''rapport%20%22final%22%20%C3%A9.pdf"
        );
    }
}
