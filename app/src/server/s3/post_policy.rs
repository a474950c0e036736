//! Browser POST uploads: the policy document, its signature and the ordered form fields.
//!
//! Every field the form carries is generated from the same list as the policy's conditions, so a
//! field without a condition (which S3 rejects as "Extra input fields") cannot be emitted.

use base64::Engine as _;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::presign::Expiry;
use super::sigv4::{AmzDate, ALGORITHM};
use super::Bucket;

/// How a field's value is bound by the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The value must be exactly the one emitted.
    Exact,
    /// The value may be anything starting with this prefix (the browser may change it).
    StartsWith(String),
}

/// What S3 answers after a successful POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Success {
    /// 200 or 204 (empty body) or 201 (XML naming bucket, key and ETag).
    Status(u16),
    /// 303 See Other to this URL, with `bucket`, `key` and `etag` appended.
    Redirect(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("success_action_status must be 200, 201 or 204, not {0}")]
    BadStatus(u16),
    #[error("content-length-range minimum {0} is above its maximum {1}")]
    BadRange(u64, u64),
    #[error("metadata name {0:?} must be non-empty lower-case letters, digits and '-'")]
    BadMetaName(String),
    #[error("field {name} has value {value:?}, which does not start with its allowed prefix {prefix:?}")]
    PrefixMismatch { name: String, value: String, prefix: String },
    #[error("the object key must be 1..=1024 bytes")]
    BadKey,
}

#[derive(Clone, Debug)]
struct Field {
    name: String,
    value: String,
    rule: Match,
}

/// The policy, built field by field. See [`PostPolicy::sign`].
#[derive(Clone, Debug)]
pub struct PostPolicy {
    key: Field,
    content_type: Option<Field>,
    success: Success,
    meta: Vec<Field>,
    checksum_sha256: Option<String>,
    length_range: Option<(u64, u64)>,
    expiry: Expiry,
}

/// Everything the browser needs for one POST: the action URL and the fields in order (the file
/// goes after them, last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
    pub expires_at: OffsetDateTime,
}

impl PostForm {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl PostPolicy {
    /// A policy for exactly this object key (the safe default: the server chose the key).
    pub fn for_key(key: impl Into<String>, expiry: Expiry) -> Self {
        PostPolicy {
            key: Field { name: "key".into(), value: key.into(), rule: Match::Exact },
            content_type: None,
            success: Success::Status(204),
            meta: vec![],
            checksum_sha256: None,
            length_range: None,
            expiry,
        }
    }

    /// The key may be changed by the browser as long as it keeps `prefix`.
    pub fn key_starts_with(mut self, prefix: impl Into<String>) -> Self {
        self.key.rule = Match::StartsWith(prefix.into());
        self
    }

    pub fn content_type(mut self, value: impl Into<String>) -> Self {
        self.content_type = Some(Field { name: "Content-Type".into(), value: value.into(), rule: Match::Exact });
        self
    }

    pub fn content_type_starts_with(mut self, prefix: impl Into<String>, value: impl Into<String>) -> Self {
        self.content_type =
            Some(Field { name: "Content-Type".into(), value: value.into(), rule: Match::StartsWith(prefix.into()) });
        self
    }

    /// Inclusive bounds on the file's size in bytes.
    pub fn length_range(mut self, min: u64, max: u64) -> Self {
        self.length_range = Some((min, max));
        self
    }

    pub fn success(mut self, success: Success) -> Self {
        self.success = success;
        self
    }

    /// `x-amz-meta-<name>`, pinned exactly.
    pub fn meta(mut self, name: &str, value: impl Into<String>) -> Self {
        self.meta.push(Field { name: format!("x-amz-meta-{name}"), value: value.into(), rule: Match::Exact });
        self
    }

    /// Base64 SHA-256 of the file: S3 refuses a body that does not match.
    pub fn checksum_sha256(mut self, base64_digest: impl Into<String>) -> Self {
        self.checksum_sha256 = Some(base64_digest.into());
        self
    }

    fn fields(&self, bucket: &Bucket, when: &AmzDate) -> Result<Vec<Field>, PolicyError> {
        let exact = |name: &str, value: String| Field { name: name.into(), value, rule: Match::Exact };
        if self.key.value.is_empty() || self.key.value.len() > 1024 {
            return Err(PolicyError::BadKey);
        }
        let mut fields = vec![self.key.clone()];
        fields.extend(self.content_type.clone());
        fields.push(match &self.success {
            Success::Status(s @ (200 | 201 | 204)) => exact("success_action_status", s.to_string()),
            Success::Status(s) => return Err(PolicyError::BadStatus(*s)),
            Success::Redirect(url) => exact("success_action_redirect", url.clone()),
        });
        for m in &self.meta {
            let name = &m.name["x-amz-meta-".len()..];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(PolicyError::BadMetaName(name.into()));
            }
            fields.push(m.clone());
        }
        if let Some(sum) = &self.checksum_sha256 {
            // Without the algorithm field Garage stores the file unchecked; AWS accepts both.
            fields.push(exact("x-amz-checksum-algorithm", "SHA256".into()));
            fields.push(exact("x-amz-checksum-sha256", sum.clone()));
        }
        fields.push(exact("x-amz-algorithm", ALGORITHM.into()));
        fields.push(exact("x-amz-credential", bucket.signer.credential(&when.date)));
        fields.push(exact("x-amz-date", when.datetime.clone()));
        if let Some(token) = &bucket.signer.credentials().session_token {
            fields.push(exact("x-amz-security-token", token.clone()));
        }
        for f in &fields {
            if let Match::StartsWith(prefix) = &f.rule {
                if !f.value.starts_with(prefix.as_str()) {
                    return Err(PolicyError::PrefixMismatch {
                        name: f.name.clone(),
                        value: f.value.clone(),
                        prefix: prefix.clone(),
                    });
                }
            }
        }
        if let Some((min, max)) = self.length_range {
            if min > max {
                return Err(PolicyError::BadRange(min, max));
            }
        }
        Ok(fields)
    }

    /// The policy document, as JSON, for the given fields.
    fn document(&self, bucket: &Bucket, fields: &[Field], expires_at: OffsetDateTime) -> Value {
        let mut conditions = vec![json!({ "bucket": bucket.name })];
        for f in fields {
            conditions.push(match &f.rule {
                Match::Exact => json!(["eq", format!("${}", f.name), f.value]),
                Match::StartsWith(prefix) => json!(["starts-with", format!("${}", f.name), prefix]),
            });
        }
        if let Some((min, max)) = self.length_range {
            conditions.push(json!(["content-length-range", min, max]));
        }
        json!({ "expiration": iso8601_millis(expires_at), "conditions": conditions })
    }

    /// Signs the policy at `now` and returns the form.
    pub fn sign(&self, bucket: &Bucket, now: OffsetDateTime) -> Result<PostForm, PolicyError> {
        let when = AmzDate::new(now);
        let expires_at = now + Duration::seconds(self.expiry.as_secs() as i64);
        let fields = self.fields(bucket, &when)?;
        let doc = self.document(bucket, &fields, expires_at);
        let policy = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
        let signature = bucket.signer.sign(&when.date, &policy);
        let mut out: Vec<(String, String)> = fields.into_iter().map(|f| (f.name, f.value)).collect();
        out.push(("policy".into(), policy));
        out.push(("x-amz-signature".into(), signature));
        Ok(PostForm { url: bucket.endpoint.bucket(&bucket.name).url(), fields: out, expires_at })
    }
}

/// `2015-12-30T12:00:00.000Z`, the policy's expiration format.
pub fn iso8601_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Decodes a form's `policy` field back to JSON (for checks and tests).
pub fn decode_policy(policy_b64: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(policy_b64).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::sigv4::{Credentials, Signer};
    use super::super::Endpoint;
    use super::*;

    fn bucket(token: Option<&str>) -> Bucket {
        Bucket {
            name: "sigv4examplebucket".into(),
            endpoint: Endpoint::custom("http://127.0.0.1:3900", true).unwrap(),
            signer: Arc::new(Signer::new(
                Credentials {
                    access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                    secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                    session_token: token.map(Into::into),
                },
                "us-east-1",
            )),
        }
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2015-12-29 00:00:00 UTC)
    }

    #[test]
    fn the_published_example_policy_signs_as_published() {
        let raw = include_bytes!("../../../tests/fixtures/aws-post-example-policy.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(b64.len(), 864);
        assert!(b64.starts_with("eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0K"));
        assert_eq!(
            bucket(None).signer.sign("20151229", &b64),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    #[test]
    fn the_form_lists_fields_in_order_with_the_file_to_follow() {
        let form = PostPolicy::for_key("uploads/u/1/a.txt", Expiry::secs(600).unwrap())
            .content_type("text/plain")
            .length_range(1, 10)
            .success(Success::Status(201))
            .meta("uuid", "14365123651274")
            .checksum_sha256("abc=")
            .sign(&bucket(Some("tok")), now())
            .unwrap();
        let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "Content-Type",
                "success_action_status",
                "x-amz-meta-uuid",
                "x-amz-checksum-algorithm",
                "x-amz-checksum-sha256",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-security-token",
                "policy",
                "x-amz-signature"
            ]
        );
        assert_eq!(form.url, "http://127.0.0.1:3900/sigv4examplebucket");
        assert_eq!(form.field("x-amz-credential"), Some("AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"));
        assert_eq!(form.field("x-amz-date"), Some("20151229T000000Z"));
        let doc = decode_policy(form.field("policy").unwrap()).unwrap();
        assert_eq!(doc["expiration"], "2015-12-29T00:10:00.000Z");
        assert!(doc["conditions"].as_array().unwrap().contains(&json!(["content-length-range", 1, 10])));
        assert!(doc["conditions"].as_array().unwrap().contains(&json!({"bucket": "sigv4examplebucket"})));
    }

    /// SigV4's chain written out here with the `hmac` crate alone, so a mistake in the signer's
    /// own derivation (a step left out, another order, a wrong scope) cannot also be in the check.
    fn independent_signature(secret: &str, date: &str, region: &str, string_to_sign: &str) -> (String, String) {
        use hmac::{Hmac, Mac};
        let step = |key: &[u8], data: &str| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(data.as_bytes());
            mac.finalize().into_bytes().to_vec()
        };
        let k_date = step(format!("AWS4{secret}").as_bytes(), date);
        let k_region = step(&k_date, region);
        let k_service = step(&k_region, "s3");
        let k_signing = step(&k_service, "aws4_request");
        (hex::encode(&k_signing), hex::encode(step(&k_signing, string_to_sign)))
    }

    #[test]
    fn the_independent_chain_reproduces_the_published_example() {
        let raw = include_bytes!("../../../tests/fixtures/aws-post-example-policy.json");
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let (key, signature) =
            independent_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20151229", "us-east-1", &b64);
        assert_eq!(key, "cbcef1ebeaefc82cce6530b9f0a9ae598846065f5c5bae0674bd5ebc4ba52d28");
        assert_eq!(signature, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_policy_text() {
        let b = bucket(Some("tok"));
        let form = PostPolicy::for_key("uploads/u/1/a b.txt", Expiry::secs(60).unwrap())
            .content_type("text/plain")
            .length_range(1, 10)
            .sign(&b, now())
            .unwrap();
        let policy = form.field("policy").unwrap();
        let (_, expected) =
            independent_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20151229", "us-east-1", policy);
        assert_eq!(form.field("x-amz-signature"), Some(expected.as_str()));
        // The credential names the same scope the chain used.
        assert_eq!(form.field("x-amz-credential"), Some("AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"));
    }

    #[test]
    fn invalid_policies_are_refused_with_the_reason() {
        let p = || PostPolicy::for_key("k", Expiry::secs(60).unwrap());
        let b = bucket(None);
        assert_eq!(p().success(Success::Status(302)).sign(&b, now()), Err(PolicyError::BadStatus(302)));
        assert_eq!(p().length_range(5, 4).sign(&b, now()), Err(PolicyError::BadRange(5, 4)));
        assert_eq!(p().meta("Bad Name", "x").sign(&b, now()), Err(PolicyError::BadMetaName("Bad Name".into())));
        assert!(matches!(
            p().content_type_starts_with("image/", "text/plain").sign(&b, now()),
            Err(PolicyError::PrefixMismatch { .. })
        ));
        assert!(matches!(p().key_starts_with("uploads/").sign(&b, now()), Err(PolicyError::PrefixMismatch { .. })));
        assert_eq!(PostPolicy::for_key("", Expiry::secs(60).unwrap()).sign(&b, now()), Err(PolicyError::BadKey));
    }

    /// Does `doc` have a condition that accepts `value` for `name`?
    fn covered(doc: &Value, name: &str, value: &str) -> bool {
        let var = format!("${name}");
        doc["conditions"].as_array().unwrap().iter().any(|c| match c {
            Value::Object(o) => o.get(name).and_then(Value::as_str) == Some(value),
            Value::Array(a) if a.len() == 3 && a[1] == var.as_str() => match a[0].as_str() {
                Some("eq") => a[2] == value,
                Some("starts-with") => value.starts_with(a[2].as_str().unwrap_or("\u{0}")),
                _ => false,
            },
            _ => false,
        })
    }

    proptest::proptest! {
        #[test]
        fn every_emitted_field_is_covered_by_a_condition(
            key in "[a-zA-Z0-9/._ -]{1,60}",
            ctype in "[a-z]{1,10}/[a-z0-9.+-]{1,20}",
            prefix_len in 0usize..5,
            metas in proptest::collection::vec(("[a-z0-9-]{1,12}", "\\PC{0,30}"), 0..4),
            status in proptest::sample::select(vec![200u16, 201, 204]),
            redirect in proptest::option::of("https://app\\.example/[a-z]{0,10}"),
            token in proptest::option::of("[A-Za-z0-9/+=]{10,40}"),
            checksum in proptest::option::of("[A-Za-z0-9+/]{43}="),
            min in 0u64..1000, extra in 0u64..1_000_000,
            expiry in 1u64..=604_800,
        ) {
            let mut p = PostPolicy::for_key(key, Expiry::secs(expiry).unwrap())
                .content_type_starts_with(ctype[..prefix_len.min(ctype.len())].to_string(), ctype.clone())
                .length_range(min, min + extra)
                .success(redirect.map(Success::Redirect).unwrap_or(Success::Status(status)));
            for (n, v) in &metas { p = p.meta(n, v.clone()); }
            if let Some(c) = checksum { p = p.checksum_sha256(c); }
            let form = p.sign(&bucket(token.as_deref()), now()).unwrap();
            let doc = decode_policy(form.field("policy").unwrap()).unwrap();
            for (name, value) in &form.fields {
                if name == "policy" || name == "x-amz-signature" { continue; }
                proptest::prop_assert!(covered(&doc, name, value), "field {} = {:?} not covered", name, value);
            }
            let exp = OffsetDateTime::parse(doc["expiration"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
            proptest::prop_assert_eq!(exp, now() + Duration::seconds(expiry as i64));
        }
    }
}
