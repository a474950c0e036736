//! The server's own S3 calls, header-signed with the same [`Signer`](super::Signer): HEAD to verify
//! uploads, bucket CORS and lifecycle for set-up, and the multipart calls around presigned parts.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use reqwest::Method;
use time::OffsetDateTime;

use super::endpoint::Location;
use super::sigv4::{PayloadHash, SignableRequest};
use super::{xml, Bucket};

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// S3 answered with an error (`<Error><Code/><Message/></Error>`, or only a status for HEAD).
    #[error("S3 answered {status}: {code}: {message}")]
    Service { status: u16, code: String, message: String },
    #[error("could not reach S3: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected answer from S3: {0}")]
    InvalidResponse(String),
}

impl S3Error {
    /// The one reading of S3's refusals, whatever the status (S3 may answer 200 with an `<Error>`
    /// body). HEAD answers have no body, so their code is named after the status, letting callers
    /// match codes without caring which method failed.
    fn from_answer(status: u16, body: &str) -> Self {
        let code = xml::first(body, "Code").unwrap_or_else(|| match status {
            403 => "AccessDenied".into(),
            404 => "NotFound".into(),
            _ => format!("Http{status}"),
        });
        S3Error::Service { status, code, message: xml::first(body, "Message").unwrap_or_default() }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            S3Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What a HEAD tells us about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// As S3 sends it, quotes included.
    pub etag: String,
    pub content_type: Option<String>,
    pub checksum_sha256: Option<String>,
}

/// Whether the parts of a multipart upload must each carry a SHA-256 checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartChecksums {
    None,
    Sha256,
}

/// A part as S3 lists it (ListParts): what completion is built from, never the browser's word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub checksum_sha256: Option<String>,
}

/// An object as ListObjectsV2 lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// Unix milliseconds.
    pub last_modified: i64,
}

/// One page of a listing, and where the next one starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPage {
    pub objects: Vec<ListedObject>,
    pub next: Option<String>,
}

/// One part in a CompleteMultipartUpload request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    pub checksum_sha256: Option<String>,
}

impl From<StoredPart> for CompletedPart {
    fn from(p: StoredPart) -> Self {
        CompletedPart { number: p.number, etag: p.etag, checksum_sha256: p.checksum_sha256 }
    }
}

/// One CORS rule of a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: Option<u32>,
}

impl CorsRule {
    /// What a browser upload from `origin` needs: POST and PUT (and GET/HEAD to read back), any
    /// header, and ETag exposed so multipart uploads can collect part ETags.
    pub fn for_browser_uploads(origin: &str) -> Self {
        CorsRule {
            allowed_origins: vec![origin.to_owned()],
            allowed_methods: ["GET", "HEAD", "POST", "PUT"].map(String::from).to_vec(),
            allowed_headers: vec!["*".into()],
            expose_headers: vec!["ETag".into()],
            max_age_secs: Some(3000),
        }
    }

    fn to_xml(&self) -> String {
        let mut s = String::from("<CORSRule>");
        let mut push = |tag: &str, values: &[String]| {
            for v in values {
                s.push_str(&format!("<{tag}>{}</{tag}>", xml::escape(v)));
            }
        };
        push("AllowedOrigin", &self.allowed_origins);
        push("AllowedMethod", &self.allowed_methods);
        push("AllowedHeader", &self.allowed_headers);
        push("ExposeHeader", &self.expose_headers);
        if let Some(age) = self.max_age_secs {
            s.push_str(&format!("<MaxAgeSeconds>{age}</MaxAgeSeconds>"));
        }
        s.push_str("</CORSRule>");
        s
    }

    fn from_xml(rule: &str) -> Self {
        CorsRule {
            allowed_origins: xml::all(rule, "AllowedOrigin"),
            allowed_methods: xml::all(rule, "AllowedMethod"),
            allowed_headers: xml::all(rule, "AllowedHeader"),
            expose_headers: xml::all(rule, "ExposeHeader"),
            max_age_secs: xml::first(rule, "MaxAgeSeconds").and_then(|v| v.parse().ok()),
        }
    }
}

/// A CORS preflight the bucket refused: browsers on `origin` may not send files with `method`.
/// `Display` is the English the doctor prints; the health check words it for its reader.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the bucket does not let {origin} {method} files (CORS)")]
pub struct CorsRefusal {
    pub origin: String,
    pub method: &'static str,
}

#[derive(Clone, Debug)]
pub struct S3Client {
    http: reqwest::Client,
    bucket: Bucket,
    timeout: std::time::Duration,
}

type Query = Vec<(String, String)>;

fn q(pairs: &[(&str, &str)]) -> Query {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl S3Client {
    /// A client whose every call gives up after `timeout` (connecting: after at most 5 s).
    pub fn new(bucket: Bucket, timeout: std::time::Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
            .timeout(timeout)
            .build()
            .expect("the HTTP client builds with static settings");
        S3Client { http, bucket, timeout }
    }

    /// How long one call may take before it fails.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// The URL and headers to send, signed at `now`. URL and signature come from one
    /// [`SignableRequest`], so the path and query S3 reads back are the ones that were signed.
    /// `host` is signed but left to the HTTP client to send, from the URL.
    fn signed_request(
        &self,
        method: &Method,
        loc: &Location,
        query: Query,
        mut headers: Vec<(String, String)>,
        payload: PayloadHash,
        now: OffsetDateTime,
    ) -> (String, Vec<(String, String)>) {
        headers.push(("host".into(), loc.host.clone()));
        let req = SignableRequest { method: method.as_str(), path: &loc.path, query, headers, payload };
        let added = self.bucket.signer.sign_headers(&req, now);
        let url = format!("{}{}", loc.origin(), req.path_and_query());
        let mut headers = req.headers;
        headers.retain(|(n, _)| n != "host");
        headers.extend(added);
        (url, headers)
    }

    async fn send(
        &self,
        method: Method,
        loc: Location,
        query: Query,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, S3Error> {
        let payload = PayloadHash::from_body(&body);
        let (url, headers) = self.signed_request(&method, &loc, query, headers, payload, OffsetDateTime::now_utc());
        let mut req = self.http.request(method.clone(), url);
        for (n, v) in &headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let resp = req.body(body).send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = if method == Method::HEAD { String::new() } else { resp.text().await.unwrap_or_default() };
        Err(S3Error::from_answer(status, &text))
    }

    async fn send_bucket(
        &self,
        method: Method,
        query: Query,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, S3Error> {
        self.send(method, self.bucket.endpoint.bucket(&self.bucket.name), query, headers, body).await
    }

    async fn send_object(
        &self,
        method: Method,
        key: &str,
        query: Query,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, S3Error> {
        self.send(method, self.bucket.endpoint.object(&self.bucket.name, key), query, vec![], body).await
    }

    /// The object's size, ETag and (where the store keeps one) SHA-256 checksum, or `None` if
    /// there is no such object.
    pub async fn head_object(&self, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        let loc = self.bucket.endpoint.object(&self.bucket.name, key);
        // Without checksum mode S3 leaves the stored checksum out of the answer.
        let headers = vec![("x-amz-checksum-mode".to_owned(), "ENABLED".to_owned())];
        let resp = match self.send(Method::HEAD, loc, vec![], headers, vec![]).await {
            Ok(r) => r,
            Err(S3Error::Service { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let size = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| S3Error::InvalidResponse("HEAD without a Content-Length".into()))?;
        let etag = header("etag").ok_or_else(|| S3Error::InvalidResponse("HEAD without an ETag".into()))?;
        Ok(Some(ObjectInfo {
            size,
            etag,
            content_type: header("content-type"),
            checksum_sha256: header("x-amz-checksum-sha256"),
        }))
    }

    /// Succeeds when the bucket exists and these credentials may use it.
    pub async fn head_bucket(&self) -> Result<(), S3Error> {
        self.send_bucket(Method::HEAD, vec![], vec![], vec![]).await.map(|_| ())
    }

    pub async fn delete_object(&self, key: &str) -> Result<(), S3Error> {
        self.send_object(Method::DELETE, key, vec![], vec![]).await.map(|_| ())
    }

    /// What a browser on `origin` is told when it asks (a CORS preflight) to send the dropzone's
    /// requests to the bucket: `Ok(())` when both a POST and a PUT with a content type may go,
    /// else the method that may not. Unsigned, as a browser's preflight is.
    pub async fn preflight(&self, origin: &str) -> Result<Result<(), CorsRefusal>, S3Error> {
        let url = self.bucket.endpoint.bucket(&self.bucket.name).url();
        for method in ["POST", "PUT"] {
            let res = self
                .http
                .request(Method::OPTIONS, url.as_str())
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", "content-type")
                .send()
                .await?;
            let allowed = res
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|o| o == origin || o == "*");
            if !(res.status().is_success() && allowed) {
                return Ok(Err(CorsRefusal { origin: origin.to_owned(), method }));
            }
        }
        Ok(Ok(()))
    }

    /// One page (at most `max_keys`) of the objects under `prefix`, from `after` (the previous
    /// page's continuation token).
    pub async fn list_objects(&self, prefix: &str, after: Option<&str>, max_keys: u32) -> Result<ObjectPage, S3Error> {
        let max = max_keys.to_string();
        let mut query = q(&[("list-type", "2"), ("prefix", prefix), ("max-keys", &max)]);
        if let Some(token) = after {
            query.push(("continuation-token".into(), token.to_owned()));
        }
        let text = self.send_bucket(Method::GET, query, vec![], vec![]).await?.text().await?;
        let mut objects = vec![];
        for item in xml::elements(&text, "Contents") {
            let key = xml::first(item, "Key");
            let size = xml::first(item, "Size").and_then(|n| n.parse().ok());
            let modified = xml::first(item, "LastModified")
                .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok());
            let (Some(key), Some(size), Some(modified)) = (key, size, modified) else {
                return Err(S3Error::InvalidResponse(format!("a listed object without key, size or date: {item:?}")));
            };
            let etag = xml::first(item, "ETag").unwrap_or_default();
            objects.push(ListedObject { key, size, etag, last_modified: crate::server::db::unix_millis(modified) });
        }
        let next = match xml::first(&text, "IsTruncated").as_deref() {
            Some("true") => xml::first(&text, "NextContinuationToken"),
            _ => None,
        };
        Ok(ObjectPage { objects, next })
    }

    /// Bucket sub-resource writes (`?cors`, `?lifecycle`) need a Content-MD5.
    async fn put_subresource(&self, name: &str, body: String) -> Result<(), S3Error> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let headers = vec![("content-md5".into(), md5), ("content-type".into(), "application/xml".into())];
        self.send_bucket(Method::PUT, q(&[(name, "")]), headers, body.into_bytes()).await.map(|_| ())
    }

    async fn get_subresource(&self, name: &str) -> Result<Option<String>, S3Error> {
        match self.send_bucket(Method::GET, q(&[(name, "")]), vec![], vec![]).await {
            Ok(resp) => Ok(Some(resp.text().await?)),
            Err(S3Error::Service { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn put_bucket_cors(&self, rules: &[CorsRule]) -> Result<(), S3Error> {
        let body = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            rules.iter().map(CorsRule::to_xml).collect::<String>()
        );
        self.put_subresource("cors", body).await
    }

    /// The bucket's CORS rules; empty when it has none.
    pub async fn get_bucket_cors(&self) -> Result<Vec<CorsRule>, S3Error> {
        Ok(self
            .get_subresource("cors")
            .await?
            .map(|x| xml::elements(&x, "CORSRule").into_iter().map(CorsRule::from_xml).collect())
            .unwrap_or_default())
    }

    /// `xml` is a whole `<LifecycleConfiguration>` document.
    pub async fn put_bucket_lifecycle(&self, xml: &str) -> Result<(), S3Error> {
        self.put_subresource("lifecycle", xml.to_owned()).await
    }

    pub async fn get_bucket_lifecycle(&self) -> Result<Option<String>, S3Error> {
        self.get_subresource("lifecycle").await
    }

    /// Starts a multipart upload and returns its upload id. With [`PartChecksums::Sha256`] S3
    /// refuses any part without a matching `x-amz-checksum-sha256` and keeps a composite checksum.
    pub async fn create_multipart_upload(
        &self,
        key: &str,
        content_type: &str,
        checksums: PartChecksums,
    ) -> Result<String, S3Error> {
        let loc = self.bucket.endpoint.object(&self.bucket.name, key);
        let mut headers = vec![("content-type".into(), content_type.to_owned())];
        if checksums == PartChecksums::Sha256 {
            headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
        }
        let text = self.send(Method::POST, loc, q(&[("uploads", "")]), headers, vec![]).await?.text().await?;
        xml::first(&text, "UploadId").ok_or_else(|| S3Error::InvalidResponse(format!("no UploadId in {text:?}")))
    }

    /// Every part S3 holds for a multipart upload, by part number, following ListParts' pages.
    pub async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<StoredPart>, S3Error> {
        let mut parts = vec![];
        let mut marker: Option<String> = None;
        loop {
            let mut query = q(&[("uploadId", upload_id), ("max-parts", "1000")]);
            if let Some(m) = &marker {
                query.push(("part-number-marker".into(), m.clone()));
            }
            let text = self.send_object(Method::GET, key, query, vec![]).await?.text().await?;
            for part in xml::elements(&text, "Part") {
                let number = xml::first(part, "PartNumber").and_then(|n| n.parse().ok());
                let size = xml::first(part, "Size").and_then(|n| n.parse().ok());
                let (Some(number), Some(size), Some(etag)) = (number, size, xml::first(part, "ETag")) else {
                    return Err(S3Error::InvalidResponse(format!(
                        "a ListParts part without number, size or ETag: {part:?}"
                    )));
                };
                parts.push(StoredPart { number, size, etag, checksum_sha256: xml::first(part, "ChecksumSHA256") });
            }
            match (xml::first(&text, "IsTruncated").as_deref(), xml::first(&text, "NextPartNumberMarker")) {
                (Some("true"), Some(next)) if marker.as_ref() != Some(&next) => marker = Some(next),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Completes a multipart upload from its parts (number, ETag and, for an upload created with
    /// checksums, each part's checksum); returns the object's ETag.
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<String, S3Error> {
        let body = completion_body(parts);
        let text =
            self.send_object(Method::POST, key, q(&[("uploadId", upload_id)]), body.into_bytes()).await?.text().await?;
        // S3 may answer 200 with an <Error> body when completion fails late.
        if xml::root(&text) == Some("Error") {
            return Err(S3Error::from_answer(200, &text));
        }
        xml::first(&text, "ETag").ok_or_else(|| S3Error::InvalidResponse(format!("no ETag in {text:?}")))
    }

    pub async fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.send_object(Method::DELETE, key, q(&[("uploadId", upload_id)]), vec![]).await.map(|_| ())
    }

    /// The `Date` S3 reports, to measure clock skew.
    pub async fn server_date(&self) -> Result<Option<String>, S3Error> {
        let resp = self.send_bucket(Method::HEAD, vec![], vec![], vec![]).await?;
        Ok(resp.headers().get("date").and_then(|v| v.to_str().ok()).map(str::to_owned))
    }
}

/// The body of a CompleteMultipartUpload request, every value escaped.
fn completion_body(parts: &[CompletedPart]) -> String {
    let body: String = parts
        .iter()
        .map(|p| {
            let sum =
                p.checksum_sha256.as_deref().map(|c| format!("<ChecksumSHA256>{}</ChecksumSHA256>", xml::escape(c)));
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>{}</Part>",
                p.number,
                xml::escape(&p.etag),
                sum.unwrap_or_default()
            )
        })
        .collect();
    format!("<CompleteMultipartUpload>{body}</CompleteMultipartUpload>")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::sigv4::{canonical_query, Credentials, Signer};
    use super::super::Endpoint;
    use super::*;

    fn client() -> S3Client {
        S3Client::new(
            Bucket {
                name: "bkt".into(),
                endpoint: Endpoint::custom("http://127.0.0.1:3900", true).unwrap(),
                signer: Arc::new(Signer::new(
                    Credentials { access_key_id: "AK".into(), secret_access_key: "SK".into(), session_token: None },
                    "garage",
                )),
            },
            std::time::Duration::from_secs(60),
        )
    }

    #[test]
    fn the_url_sent_carries_the_query_that_was_signed() {
        let c = client();
        let loc = c.bucket.endpoint.object("bkt", "dir/ü ~x");
        let query = q(&[("prefix", "a b/c~d é"), ("uploads", ""), ("max-keys", "2")]);
        let now = time::macros::datetime!(2013-05-24 00:00:00 UTC);
        let (url, headers) =
            c.signed_request(&Method::GET, &loc, query.clone(), vec![], PayloadHash::from_body(b""), now);
        let signed = SignableRequest {
            method: "GET",
            path: &loc.path,
            query: query.clone(),
            headers: vec![("host".into(), loc.host.clone())],
            payload: PayloadHash::Empty,
        };
        let signed_query = signed.canonical_request().lines().nth(2).unwrap().to_owned();
        assert_eq!(signed_query, "max-keys=2&prefix=a%20b%2Fc~d%20%C3%A9&uploads=");
        assert_eq!(url, format!("http://127.0.0.1:3900/bkt/dir/%C3%BC%20~x?{signed_query}"));
        assert_eq!(url.split_once('?').map(|(_, q)| q.to_owned()), Some(canonical_query(&query)));
        // The same request signed by hand carries the same signature: nothing was re-encoded.
        let by_hand = c.bucket.signer.sign_headers(&signed, now);
        assert_eq!(
            headers.iter().find(|(n, _)| n == "authorization"),
            by_hand.iter().find(|(n, _)| n == "authorization")
        );
        assert!(headers.iter().all(|(n, _)| n != "host"));
    }

    #[test]
    fn refusals_read_the_same_with_or_without_a_body() {
        let body = "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>";
        let e = S3Error::from_answer(404, body);
        assert!(
            matches!(&e, S3Error::Service { status: 404, code, message } if code == "NoSuchUpload" && message == "gone")
        );
        assert_eq!(S3Error::from_answer(404, "").code(), Some("NotFound"));
        assert_eq!(S3Error::from_answer(403, "").code(), Some("AccessDenied"));
        assert_eq!(S3Error::from_answer(500, "").code(), Some("Http500"));
        assert_eq!(S3Error::from_answer(200, body).code(), Some("NoSuchUpload"));
    }

    #[test]
    fn a_cors_rule_round_trips_through_xml() {
        let rule = CorsRule::for_browser_uploads("http://127.0.0.1:3000");
        let doc = format!("<CORSConfiguration>{}</CORSConfiguration>", rule.to_xml());
        let back: Vec<CorsRule> = xml::elements(&doc, "CORSRule").into_iter().map(CorsRule::from_xml).collect();
        assert_eq!(back, vec![rule]);
    }

    #[test]
    fn a_cors_rule_with_markup_characters_is_escaped_in_the_xml_and_reads_back_the_same() {
        let rule = CorsRule {
            allowed_origins: vec!["https://a.example/?x=1&y=<2>".into()],
            allowed_methods: vec!["PUT".into()],
            allowed_headers: vec!["x-\"quoted\"".into(), "x-it's".into()],
            expose_headers: vec!["</ExposeHeader><AllowedOrigin>*".into()],
            max_age_secs: None,
        };
        let raw = rule.to_xml();
        assert!(raw.contains("<AllowedOrigin>https://a.example/?x=1&amp;y=&lt;2&gt;</AllowedOrigin>"), "{raw}");
        assert!(raw.contains("<AllowedHeader>x-&quot;quoted&quot;</AllowedHeader>"), "{raw}");
        assert!(raw.contains("<AllowedHeader>x-it&apos;s</AllowedHeader>"), "{raw}");
        assert!(raw.contains("<ExposeHeader>&lt;/ExposeHeader&gt;&lt;AllowedOrigin&gt;*</ExposeHeader>"), "{raw}");
        assert!(!raw.contains("&y=") && !raw.contains("\"quoted"), "no raw markup characters: {raw}");
        let doc = format!("<CORSConfiguration>{raw}</CORSConfiguration>");
        let back: Vec<CorsRule> = xml::elements(&doc, "CORSRule").into_iter().map(CorsRule::from_xml).collect();
        assert_eq!(back, vec![rule], "no origin was smuggled in: {raw}");
    }

    #[test]
    fn a_completion_request_escapes_the_etags_it_sends() {
        // ETags come quoted; every value goes into the body escaped.
        let part = CompletedPart { number: 1, etag: "\"abc&<\"".into(), checksum_sha256: Some("x&y".into()) };
        let body = completion_body(&[part]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;abc&amp;&lt;&quot;</ETag>\
             <ChecksumSHA256>x&amp;y</ChecksumSHA256></Part></CompleteMultipartUpload>"
        );
        assert_eq!(xml::first(&body, "ETag").as_deref(), Some("\"abc&<\""));
    }
}
