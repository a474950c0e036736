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
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
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

/// The last line of a canonical request: what the signature says about the body. An enum rather
/// than a string so that "no body", "body not known yet" and "this body" cannot be confused, and
/// the one magic constant of each lives here only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// No body. S3 still wants a hash: the one of the empty string.
    Empty,
    /// The body does not exist yet when signing (presigned URLs), so only the rest is vouched for.
    Unsigned,
    /// Lower-case hex SHA-256 of the body; [`PayloadHash::from_body`] computes it.
    Sha256(String),
}

impl PayloadHash {
    /// The hash of a body in hand, [`PayloadHash::Empty`] for none, so callers never special-case
    /// the empty body themselves.
    pub fn from_body(body: &[u8]) -> Self {
        if body.is_empty() {
            PayloadHash::Empty
        } else {
            PayloadHash::Sha256(sha256_hex(body))
        }
    }

    /// The value signed and sent as `x-amz-content-sha256`.
    pub fn as_str(&self) -> &str {
        match self {
            PayloadHash::Empty => EMPTY_SHA256,
            PayloadHash::Unsigned => UNSIGNED_PAYLOAD,
            PayloadHash::Sha256(hex) => hex,
        }
    }
}

impl fmt::Display for PayloadHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The query string both signed and sent. S3 rebuilds the canonical query from the URL it receives,
/// so the two must be the same bytes: writing both here makes that hold by construction. Keys and
/// values are encoded (RFC 3986, `/` included) before sorting, as the spec sorts encoded names; an
/// empty value keeps its `=` (`cors=`), which S3 reads the same as a bare `cors`.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (uri_encode(k, true), uri_encode(v, true))).collect();
    encoded.sort();
    let mut out = String::new();
    for (k, v) in encoded {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

/// One request as SigV4 sees it, shared by header signing and presigning so both read the same
/// fields the same way. `path` is the URI-encoded path exactly as sent: S3 signs it encoded once and
/// never normalised (`a/../b` stays). Query and header values are raw; this type encodes them.
#[derive(Clone, Debug)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    /// Must hold `host` and every other header the receiver is bound to send.
    pub headers: Vec<(String, String)>,
    pub payload: PayloadHash,
}

impl SignableRequest<'_> {
    /// `a;b;c`: lower-case header names, sorted. It is both part of the canonical request and sent
    /// alongside the signature, which is how S3 knows which headers to re-read.
    pub fn signed_headers(&self) -> String {
        let mut names: Vec<String> = self.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        names.join(";")
    }

    fn canonical_headers(&self) -> String {
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

    /// The text whose hash is signed. Public because it is what to compare when S3 answers
    /// `SignatureDoesNotMatch` (its answer quotes the canonical request it computed) and in AWS's examples.
    pub fn canonical_request(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            canonical_query(&self.query),
            self.canonical_headers(),
            self.signed_headers(),
            self.payload
        )
    }

    /// Path and query as they go on the wire, from the same writer as the signed query.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.to_owned()
        } else {
            format!("{}?{}", self.path, canonical_query(&self.query))
        }
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

    /// Header authentication. Returns the headers to add (`x-amz-content-sha256`, `x-amz-date`,
    /// `x-amz-security-token` when present, and `authorization`) rather than a new request, so the
    /// caller keeps sending exactly what it built.
    pub fn sign_headers(&self, req: &SignableRequest<'_>, now: OffsetDateTime) -> Vec<(String, String)> {
        let when = AmzDate::new(now);
        let mut added = vec![
            ("x-amz-content-sha256".to_owned(), req.payload.to_string()),
            ("x-amz-date".to_owned(), when.datetime.clone()),
        ];
        if let Some(token) = &self.credentials.session_token {
            added.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let mut signed = req.clone();
        signed.headers.extend(added.iter().cloned());
        let signature = self.sign(&when.date, &self.string_to_sign(&when, &signed.canonical_request()));
        added.push((
            "authorization".to_owned(),
            format!(
                "{ALGORITHM} Credential={},SignedHeaders={},Signature={signature}",
                self.credential(&when.date),
                signed.signed_headers()
            ),
        ));
        added
    }

    /// Query-string authentication. Returns the complete query string (the request's own pairs and
    /// the `X-Amz-*` ones, sorted and encoded, then `X-Amz-Signature`, which cannot sign itself).
    /// S3 presigned URLs sign the body as [`PayloadHash::Unsigned`]: it does not exist yet.
    pub fn presign_query(&self, req: &SignableRequest<'_>, expires_secs: u32, now: OffsetDateTime) -> String {
        let when = AmzDate::new(now);
        let mut signed = req.clone();
        signed.query.extend([
            ("X-Amz-Algorithm".to_owned(), ALGORITHM.to_owned()),
            ("X-Amz-Credential".to_owned(), self.credential(&when.date)),
            ("X-Amz-Date".to_owned(), when.datetime.clone()),
            ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
            ("X-Amz-SignedHeaders".to_owned(), req.signed_headers()),
        ]);
        if let Some(token) = &self.credentials.session_token {
            signed.query.push(("X-Amz-Security-Token".to_owned(), token.clone()));
        }
        let signature = self.sign(&when.date, &self.string_to_sign(&when, &signed.canonical_request()));
        format!("{}&X-Amz-Signature={signature}", canonical_query(&signed.query))
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

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        payload: PayloadHash,
    ) -> SignableRequest<'a> {
        SignableRequest { method, path, query: h(query), headers: h(headers), payload }
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
        let get = req("GET", "/test.txt", &[], &[("host", "examplebucket.s3.amazonaws.com")], PayloadHash::Unsigned);
        let q = s.presign_query(&get, 86400, at("20130524T000000Z"));
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn the_presigned_get_canonical_request_hashes_as_published() {
        let creq = req(
            "GET",
            "/test.txt",
            &[
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
                ("X-Amz-Date", "20130524T000000Z"),
                ("X-Amz-Expires", "86400"),
                ("X-Amz-SignedHeaders", "host"),
            ],
            &[("host", "examplebucket.s3.amazonaws.com")],
            PayloadHash::Unsigned,
        );
        assert_eq!(
            sha256_hex(creq.canonical_request().as_bytes()),
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
        );
    }

    fn authorization(added: &[(String, String)]) -> &str {
        &added.iter().find(|(n, _)| n == "authorization").unwrap().1
    }

    #[test]
    fn a_ranged_get_signs_as_published() {
        let s = example_signer();
        let get = req(
            "GET",
            "/test.txt",
            &[],
            &[("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")],
            PayloadHash::Empty,
        );
        let added = s.sign_headers(&get, at("20130524T000000Z"));
        assert_eq!(
            authorization(&added),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn a_put_with_a_dollar_in_the_key_signs_as_published() {
        let s = example_signer();
        let body = b"Welcome to Amazon S3.";
        let hash = PayloadHash::from_body(body);
        assert_eq!(hash.as_str(), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let path = format!("/{}", uri_encode("test$file.text", false));
        let put = req(
            "PUT",
            &path,
            &[],
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            hash,
        );
        let added = s.sign_headers(&put, at("20130524T000000Z"));
        assert!(authorization(&added).ends_with(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        ));
    }

    #[test]
    fn a_subresource_get_signs_as_published() {
        let s = example_signer();
        let get =
            req("GET", "/", &[("lifecycle", "")], &[("host", "examplebucket.s3.amazonaws.com")], PayloadHash::Empty);
        let added = s.sign_headers(&get, at("20130524T000000Z"));
        assert!(authorization(&added)
            .ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
    }

    #[test]
    fn a_listing_with_query_parameters_signs_as_published() {
        let s = example_signer();
        let get = req(
            "GET",
            "/",
            &[("prefix", "J"), ("max-keys", "2")],
            &[("host", "examplebucket.s3.amazonaws.com")],
            PayloadHash::Empty,
        );
        let added = s.sign_headers(&get, at("20130524T000000Z"));
        assert!(authorization(&added)
            .ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let mut creds = example_signer().credentials.clone();
        creds.session_token = Some("TOKEN/+=".into());
        let s = Signer::new(creds, "us-east-1");
        let added = s.sign_headers(&req("GET", "/", &[], &[("host", "h")], PayloadHash::Empty), at("20130524T000000Z"));
        assert!(added.iter().any(|(n, v)| n == "x-amz-security-token" && v == "TOKEN/+="));
        assert!(authorization(&added).contains("x-amz-security-token"));
        let q = s.presign_query(
            &req("GET", "/k", &[], &[("host", "h")], PayloadHash::Unsigned),
            60,
            at("20130524T000000Z"),
        );
        assert!(q.contains("X-Amz-Security-Token=TOKEN%2F%2B%3D"));
    }

    #[test]
    fn each_payload_hash_signs_its_canonical_value() {
        let cases = [
            (PayloadHash::Empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (PayloadHash::Unsigned, "UNSIGNED-PAYLOAD"),
            (
                PayloadHash::Sha256("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072".into()),
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
        ];
        for (payload, value) in cases {
            assert_eq!(payload.as_str(), value);
            let creq = req("PUT", "/k", &[], &[("host", "h")], payload.clone());
            assert_eq!(creq.canonical_request().lines().last(), Some(value), "{payload:?}");
            let added = example_signer().sign_headers(&creq, at("20130524T000000Z"));
            assert!(added.iter().any(|(n, v)| n == "x-amz-content-sha256" && v == value), "{payload:?}");
        }
        assert_eq!(PayloadHash::from_body(b""), PayloadHash::Empty);
        assert_eq!(PayloadHash::from_body(b"").as_str(), sha256_hex(b""));
        assert_eq!(
            PayloadHash::from_body(b"Welcome to Amazon S3."),
            PayloadHash::Sha256("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072".into())
        );
    }

    #[test]
    fn the_signed_query_and_the_sent_query_are_the_same_string() {
        let get = req(
            "GET",
            "/a%20b/~c",
            &[("prefix", "a b/c~d é"), ("cors", ""), ("Z", "1"), ("a/b", "~")],
            &[("host", "h")],
            PayloadHash::Empty,
        );
        let expected = "Z=1&a%2Fb=~&cors=&prefix=a%20b%2Fc~d%20%C3%A9";
        assert_eq!(canonical_query(&get.query), expected);
        assert_eq!(get.canonical_request().lines().nth(2), Some(expected));
        assert_eq!(get.path_and_query(), format!("/a%20b/~c?{expected}"));
        let bare = req("GET", "/k", &[], &[("host", "h")], PayloadHash::Empty);
        assert_eq!(bare.path_and_query(), "/k");
        assert_eq!(bare.canonical_request().lines().nth(2), Some(""));
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
