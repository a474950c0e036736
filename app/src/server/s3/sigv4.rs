//! AWS Signature Version 4, the parts S3 needs: the signing key, canonical requests, header
//! authentication and query-string (presigned) authentication.
//!
//! Hand-written on `hmac` + `sha2` so that the whole signing path is ours to read and test against
//! AWS's published vectors. Nothing here knows about users, buckets or the database.

use std::fmt;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string, the payload hash of every body-less request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SERVICE: &str = "s3";

/// Access key, secret and, for temporary credentials, the session token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    // The secret and token never go to logs, not even by accident through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The two renderings of one instant that SigV4 uses: `yyyymmdd` and `yyyymmddThhmmssZ`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmzDate {
    pub date: String,
    pub datetime: String,
}

impl AmzDate {
    pub fn new(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
        let datetime = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
        AmzDate { date, datetime }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived key: four chained HMACs over date, region, service and `aws4_request`.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// URI-encodes per SigV4: unreserved characters stay, everything else is `%XX` (upper case).
/// `/` is kept in object key paths and encoded everywhere else.
pub fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for &b in input.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

/// Inverse of [`uri_encode`]; `None` for malformed escapes or invalid UTF-8.
pub fn uri_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A request reduced to what SigV4 signs. `path` is already URI-encoded (S3 encodes it once and
/// never normalises it); query values and header values are raw.
#[derive(Clone, Debug)]
pub struct CanonicalRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub payload_hash: &'a str,
}

impl CanonicalRequest<'_> {
    /// `a;b;c`: lower-case header names, sorted.
    pub fn signed_headers(&self) -> String {
        let mut names: Vec<String> = self.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        names.join(";")
    }

    pub fn canonical_query(&self) -> String {
        let mut pairs: Vec<(String, String)> =
            self.query.iter().map(|(k, v)| (uri_encode(k, true), uri_encode(v, true))).collect();
        pairs.sort();
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    }

    pub fn canonical_headers(&self) -> String {
        let mut hs: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect();
        hs.sort();
        let mut out = String::new();
        for (n, v) in hs {
            out.push_str(&n);
            out.push(':');
            out.push_str(&v);
            out.push('\n');
        }
        out
    }

    pub fn render(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            self.canonical_query(),
            self.canonical_headers(),
            self.signed_headers(),
            self.payload_hash
        )
    }
}

/// Signs with one set of credentials in one region. The derived key is cached per day, so a
/// signature costs one HMAC instead of five.
pub struct Signer {
    credentials: Credentials,
    region: String,
    cached_key: Mutex<Option<(String, [u8; 32])>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("credentials", &self.credentials).field("region", &self.region).finish()
    }
}

impl Signer {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        Signer { credentials, region: region.into(), cached_key: Mutex::new(None) }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `<date>/<region>/s3/aws4_request`
    pub fn scope(&self, date: &str) -> String {
        format!("{date}/{}/{SERVICE}/aws4_request", self.region)
    }

    /// `<access key id>/<scope>`, the value of `x-amz-credential`.
    pub fn credential(&self, date: &str) -> String {
        format!("{}/{}", self.credentials.access_key_id, self.scope(date))
    }

    pub fn signing_key(&self, date: &str) -> [u8; 32] {
        let mut cache = self.cached_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, key)) = cache.as_ref() {
            if d == date {
                return *key;
            }
        }
        let key = derive_signing_key(&self.credentials.secret_access_key, date, &self.region, SERVICE);
        *cache = Some((date.to_owned(), key));
        key
    }

    /// Hex HMAC of `string_to_sign` with the day's signing key. POST policies sign their base64
    /// text directly with this.
    pub fn sign(&self, date: &str, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.signing_key(date), string_to_sign.as_bytes()))
    }

    pub fn string_to_sign(&self, when: &AmzDate, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            when.datetime,
            self.scope(&when.date),
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// Header authentication: returns the headers to add (`x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` when present, and `authorization`). `headers` must already hold
    /// `host` and whatever else is to be signed.
    pub fn sign_headers(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        payload_hash: &str,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let when = AmzDate::new(now);
        let mut added = vec![
            ("x-amz-content-sha256".to_owned(), payload_hash.to_owned()),
            ("x-amz-date".to_owned(), when.datetime.clone()),
        ];
        if let Some(token) = &self.credentials.session_token {
            added.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let mut all = headers.to_vec();
        all.extend(added.iter().cloned());
        let creq = CanonicalRequest { method, path, query: query.to_vec(), headers: all, payload_hash };
        let signature = self.sign(&when.date, &self.string_to_sign(&when, &creq.render()));
        added.push((
            "authorization".to_owned(),
            format!(
                "{ALGORITHM} Credential={},SignedHeaders={},Signature={signature}",
                self.credential(&when.date),
                creq.signed_headers()
            ),
        ));
        added
    }

    /// Query-string authentication. Returns the complete query string (sorted, encoded, ending in
    /// `X-Amz-Signature`). `headers` must hold `host` and every header the client is bound to send.
    pub fn presign_query(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        expires_secs: u32,
        now: OffsetDateTime,
    ) -> String {
        let when = AmzDate::new(now);
        let mut creq = CanonicalRequest {
            method,
            path,
            query: query.to_vec(),
            headers: headers.to_vec(),
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let signed_headers = creq.signed_headers();
        creq.query.extend([
            ("X-Amz-Algorithm".to_owned(), ALGORITHM.to_owned()),
            ("X-Amz-Credential".to_owned(), self.credential(&when.date)),
            ("X-Amz-Date".to_owned(), when.datetime.clone()),
            ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), signed_headers),
        ]);
        if let Some(token) = &self.credentials.session_token {
            creq.query.push(("X-Amz-Security-Token".to_owned(), token.clone()));
        }
        let signature = self.sign(&when.date, &self.string_to_sign(&when, &creq.render()));
        format!("{}&X-Amz-Signature={signature}", creq.canonical_query())
    }
}

#[cfg(test)]
mod tests {
    //! AWS's published Signature V4 examples for S3 (see the project's reference notes).
    use super::*;

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn example_signer() -> Signer {
        Signer::new(
            Credentials { access_key_id: AKID.into(), secret_access_key: SECRET.into(), session_token: None },
            "us-east-1",
        )
    }

    fn at(s: &str) -> OffsetDateTime {
        let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        time::PrimitiveDateTime::parse(s, &fmt).unwrap().assume_utc()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_signing_key_matches_the_post_example() {
        let key = derive_signing_key(SECRET, "20151229", "us-east-1", "s3");
        assert_eq!(hex::encode(key), "cbcef1ebeaefc82cce6530b9f0a9ae598846065f5c5bae0674bd5ebc4ba52d28");
    }

    #[test]
    fn the_signing_key_matches_the_header_examples() {
        let key = derive_signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(hex::encode(key), "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
    }

    #[test]
    fn the_cached_key_follows_the_date() {
        let s = example_signer();
        assert_eq!(s.signing_key("20151229"), derive_signing_key(SECRET, "20151229", "us-east-1", "s3"));
        assert_eq!(s.signing_key("20130524"), derive_signing_key(SECRET, "20130524", "us-east-1", "s3"));
        assert_eq!(s.signing_key("20151229"), derive_signing_key(SECRET, "20151229", "us-east-1", "s3"));
    }

    #[test]
    fn the_presigned_get_example_signs_as_published() {
        let s = example_signer();
        let host = h(&[("host", "examplebucket.s3.amazonaws.com")]);
        let q = s.presign_query("GET", "/test.txt", &[], &host, 86400, at("20130524T000000Z"));
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn the_presigned_get_canonical_request_hashes_as_published() {
        let creq = CanonicalRequest {
            method: "GET",
            path: "/test.txt",
            query: h(&[
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
                ("X-Amz-Date", "20130524T000000Z"),
                ("X-Amz-Expires", "86400"),
                ("X-Amz-SignedHeaders", "host"),
            ]),
            headers: h(&[("host", "examplebucket.s3.amazonaws.com")]),
            payload_hash: UNSIGNED_PAYLOAD,
        };
        assert_eq!(
            sha256_hex(creq.render().as_bytes()),
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
    }

    fn authorization(added: &[(String, String)]) -> &str {
        &added.iter().find(|(n, _)| n == "authorization").unwrap().1
    }

    #[test]
    fn a_ranged_get_signs_as_published() {
        let s = example_signer();
        let added = s.sign_headers(
            "GET",
            "/test.txt",
            &[],
            &h(&[("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")]),
            EMPTY_SHA256,
            at("20130524T000000Z"),
        );
        assert_eq!(
            authorization(&added),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn a_put_with_a_dollar_in_the_key_signs_as_published() {
        let s = example_signer();
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let path = format!("/{}", uri_encode("test$file.text", false));
        let added = s.sign_headers(
            "PUT",
            &path,
            &[],
            &h(&[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ]),
            &hash,
            at("20130524T000000Z"),
        );
        assert!(authorization(&added).ends_with(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        ));
    }

    #[test]
    fn a_subresource_get_signs_as_published() {
        let s = example_signer();
        let added = s.sign_headers(
            "GET",
            "/",
            &h(&[("lifecycle", "")]),
            &h(&[("host", "examplebucket.s3.amazonaws.com")]),
            EMPTY_SHA256,
            at("20130524T000000Z"),
        );
        assert!(authorization(&added)
            .ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
    }

    #[test]
    fn a_listing_with_query_parameters_signs_as_published() {
        let s = example_signer();
        let added = s.sign_headers(
            "GET",
            "/",
            &h(&[("prefix", "J"), ("max-keys", "2")]),
            &h(&[("host", "examplebucket.s3.amazonaws.com")]),
            EMPTY_SHA256,
            at("20130524T000000Z"),
        );
        assert!(authorization(&added)
            .ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let mut creds = example_signer().credentials.clone();
        creds.session_token = Some("TOKEN/+=".into());
        let s = Signer::new(creds, "us-east-1");
        let added = s.sign_headers("GET", "/", &[], &h(&[("host", "h")]), EMPTY_SHA256, at("20130524T000000Z"));
        assert!(added.iter().any(|(n, v)| n == "x-amz-security-token" && v == "TOKEN/+="));
        assert!(authorization(&added).contains("x-amz-security-token"));
        let q = s.presign_query("GET", "/k", &[], &h(&[("host", "h")]), 60, at("20130524T000000Z"));
        assert!(q.contains("X-Amz-Security-Token=TOKEN%2F%2B%3D"));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", example_signer());
        assert!(shown.contains(AKID));
        assert!(!shown.contains(SECRET));
    }

    #[test]
    fn uri_encoding_keeps_unreserved_and_slashes_in_paths() {
        assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
        assert_eq!(uri_encode("a b/c~d", true), "a%20b%2Fc~d");
        assert_eq!(uri_encode("é", true), "%C3%A9");
        assert_eq!(uri_encode("../x", false), "../x");
    }

    proptest::proptest! {
        #[test]
        fn uri_encoding_round_trips(s in "\\PC*", slash in proptest::bool::ANY) {
            let enc = uri_encode(&s, slash);
            proptest::prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%/".contains(&b)));
            if slash { proptest::prop_assert!(!enc.contains('/')); }
            proptest::prop_assert_eq!(uri_decode(&enc), Some(s));
        }
    }
}
