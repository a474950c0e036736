//! The signer against a real S3 server (the local Garage): what we sign, S3 enforces.

use app::server::s3::post_policy::{PostForm, PostPolicy, Success};
use app::server::s3::presign::{Expiry, PartConstraints, PutConstraints};
use app::server::s3::{xml, Bucket, CompletedPart, CorsRule, PartChecksums, S3Client};
use reqwest::multipart::{Form, Part};
use time::{Duration, OffsetDateTime};

use crate::helpers::{bucket_rules_lock, http_client, s3_client, sha256_b64};

fn bucket(c: &S3Client) -> &Bucket {
    c.bucket()
}

fn unique_key(name: &str) -> String {
    format!("tests/{}/{name}", uuid::Uuid::new_v4())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn secs(s: u64) -> Expiry {
    Expiry::secs(s).unwrap()
}

/// Sends the form as a browser would: fields in order, `extra` after them, the file last.
async fn post(form: &PostForm, extra: &[(&str, &str)], body: Vec<u8>, content_type: &str) -> reqwest::Response {
    let mut mp = Form::new();
    for (n, v) in &form.fields {
        mp = mp.text(n.clone(), v.clone());
    }
    for (n, v) in extra {
        mp = mp.text(n.to_string(), v.to_string());
    }
    mp = mp.part("file", Part::bytes(body).file_name("file.bin").mime_str(content_type).unwrap());
    http_client().post(&form.url).multipart(mp).send().await.unwrap()
}

fn with_field(form: &PostForm, name: &str, value: &str) -> PostForm {
    let mut f = form.clone();
    f.fields.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.to_owned();
    f
}

fn policy(key: &str) -> PostPolicy {
    PostPolicy::for_key(key, secs(600)).content_type("text/plain").length_range(1, 64)
}

/// S3's refusal: the status, and the code and message of its XML `<Error>` body.
async fn refusal(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    let code = xml::first(&body, "Code").unwrap_or_else(|| panic!("S3 explains itself in XML: {status} {body:?}"));
    (status, code, xml::first(&body, "Message").unwrap_or_default())
}

/// Asserts S3 refused with this status and code, and returns its message.
async fn assert_refused(res: reqwest::Response, status: u16, code: &str) -> String {
    let (got_status, got_code, message) = refusal(res).await;
    assert_eq!((got_status, got_code.as_str()), (status, code), "{message}");
    message
}

async fn assert_absent(c: &S3Client, key: &str) {
    assert_eq!(c.head_object(key).await.unwrap(), None, "{key} must not exist");
}

#[tokio::test]
async fn a_signed_post_with_status_201_uploads_and_names_bucket_key_and_etag() {
    let c = s3_client();
    let key = unique_key("hello wörld.txt");
    let form = policy(&key).success(Success::Status(201)).sign(bucket(&c), now()).unwrap();
    let res = post(&form, &[], b"hello, S3".to_vec(), "text/plain").await;
    assert_eq!(res.status(), 201);
    let body = res.text().await.unwrap();
    assert_eq!(xml::first(&body, "Bucket").as_deref(), Some(bucket(&c).name.as_str()), "{body}");
    assert_eq!(xml::first(&body, "Key").as_deref(), Some(key.as_str()));
    let etag = xml::first(&body, "ETag").expect("an ETag");
    let head = c.head_object(&key).await.unwrap().expect("the object exists");
    assert_eq!(head.size, 9);
    assert_eq!(head.etag, etag);
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
}

#[tokio::test]
async fn a_signed_post_with_a_redirect_answers_303_carrying_bucket_key_and_etag() {
    let c = s3_client();
    let key = unique_key("a+b c.txt");
    let landing = "http://127.0.0.1:3000/uploads/landing";
    let form = policy(&key).success(Success::Redirect(landing.into())).sign(bucket(&c), now()).unwrap();
    let res = post(&form, &[], b"redirect me".to_vec(), "text/plain").await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    assert!(location.starts_with(landing), "{location}");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["bucket"], bucket(&c).name);
    assert_eq!(q["key"], key);
    assert_eq!(q["etag"], c.head_object(&key).await.unwrap().unwrap().etag);
}

#[tokio::test]
async fn a_post_with_a_changed_key_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("a.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    let other = unique_key("evil.txt");
    let res = post(&with_field(&form, "key", &other), &[], b"x".to_vec(), "text/plain").await;
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("Key 'key' has value not allowed in policy"), "{message}");
    assert_absent(&c, &other).await;
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn a_post_with_a_changed_content_type_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("a.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    let res = post(&with_field(&form, "Content-Type", "text/html"), &[], b"<script>".to_vec(), "text/html").await;
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("Key 'content-type' has value not allowed in policy"), "{message}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn a_post_with_an_extra_unsigned_field_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("a.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    let res = post(&form, &[("x-amz-meta-evil", "1")], b"x".to_vec(), "text/plain").await;
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("Key 'x-amz-meta-evil' is not allowed in policy"), "{message}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn a_post_larger_than_the_length_range_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("big.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    let res = post(&form, &[], vec![b'x'; 65], "text/plain").await;
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("File size does not match policy"), "{message}");
    assert_absent(&c, &key).await;
    // One byte less is within the range and goes through.
    let res = post(&form, &[], vec![b'x'; 64], "text/plain").await;
    assert!(res.status().is_success(), "{}", res.status());
}

#[tokio::test]
async fn an_expired_post_policy_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("late.txt");
    let form = PostPolicy::for_key(&key, secs(60))
        .content_type("text/plain")
        .length_range(1, 64)
        .sign(bucket(&c), now() - Duration::minutes(10))
        .unwrap();
    let res = post(&form, &[], b"x".to_vec(), "text/plain").await;
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("Expiration date is in the past"), "{message}");
    assert_absent(&c, &key).await;
    // Signed at the same moment but valid for an hour, it goes through: the expiry was the reason.
    let form = PostPolicy::for_key(&key, secs(3600))
        .content_type("text/plain")
        .length_range(1, 64)
        .sign(bucket(&c), now() - Duration::minutes(10))
        .unwrap();
    assert!(post(&form, &[], b"x".to_vec(), "text/plain").await.status().is_success());
}

#[tokio::test]
async fn a_post_with_a_wrong_signature_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("a.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    let sig = form.field("x-amz-signature").unwrap();
    let flipped = format!("{}{}", if sig.starts_with('0') { '1' } else { '0' }, &sig[1..]);
    let res = post(&with_field(&form, "x-amz-signature", &flipped), &[], b"x".to_vec(), "text/plain").await;
    let message = assert_refused(res, 403, "AccessDenied").await;
    assert!(message.contains("signature"), "{message}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn a_post_whose_body_does_not_match_its_checksum_is_rejected_and_stores_nothing() {
    let c = s3_client();
    let key = unique_key("sum.txt");
    let form = policy(&key).checksum_sha256(sha256_b64(b"the real bytes")).sign(bucket(&c), now()).unwrap();
    let res = post(&form, &[], b"other bytes!!!".to_vec(), "text/plain").await;
    assert_refused(res, 400, "InvalidDigest").await;
    assert_absent(&c, &key).await;
    let res = post(&form, &[], b"the real bytes".to_vec(), "text/plain").await;
    assert!(res.status().is_success(), "the matching body goes through: {}", res.status());
}

async fn put(req: &app::server::s3::PresignedRequest, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
    let mut r = http_client().put(&req.url);
    for (n, v) in headers {
        r = r.header(*n, *v);
    }
    r.body(body).send().await.unwrap()
}

fn put_req(c: &S3Client, key: &str, len: u64, at: OffsetDateTime, expiry: u64) -> app::server::s3::PresignedRequest {
    let constraints = PutConstraints { content_type: "image/png".into(), content_length: len, checksum_sha256: None };
    bucket(c).presign_put(key, &constraints, secs(expiry), at)
}

#[tokio::test]
async fn a_presigned_put_uploads_the_file() {
    let c = s3_client();
    let key = unique_key("pic ü.png");
    let body = b"\x89PNG not really".to_vec();
    let req = put_req(&c, &key, body.len() as u64, now(), 300);
    let hdrs: Vec<(&str, &str)> = req.headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let res = put(&req, &hdrs, body.clone()).await;
    assert!(res.status().is_success(), "{}: {}", res.status(), res.text().await.unwrap());
    let head = c.head_object(&key).await.unwrap().unwrap();
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(head.content_type.as_deref(), Some("image/png"));
}

#[tokio::test]
async fn a_presigned_put_with_another_content_type_is_rejected() {
    let c = s3_client();
    let key = unique_key("pic.png");
    let req = put_req(&c, &key, 4, now(), 300);
    let res = put(&req, &[("content-type", "text/html")], b"abcd".to_vec()).await;
    let message = assert_refused(res, 403, "AccessDenied").await;
    assert!(message.contains("signature"), "{message}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn a_presigned_put_with_another_length_is_rejected() {
    let c = s3_client();
    let key = unique_key("pic.png");
    let req = put_req(&c, &key, 4, now(), 300);
    let res = put(&req, &[("content-type", "image/png")], b"abcdefgh".to_vec()).await;
    let message = assert_refused(res, 403, "AccessDenied").await;
    assert!(message.contains("signature"), "{message}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn an_expired_presigned_put_is_rejected() {
    let c = s3_client();
    let key = unique_key("pic.png");
    let req = put_req(&c, &key, 4, now() - Duration::minutes(10), 60);
    let res = put(&req, &[("content-type", "image/png")], b"abcd".to_vec()).await;
    // Garage's words for a presigned URL past its X-Amz-Expires (AWS: 403 AccessDenied).
    let message = assert_refused(res, 400, "InvalidRequest").await;
    assert!(message.contains("Date is too old"), "{message}");
    assert_absent(&c, &key).await;
    // Signed at the same moment but valid for an hour, it goes through: the expiry was the reason.
    let req = put_req(&c, &key, 4, now() - Duration::minutes(10), 3600);
    assert!(put(&req, &[("content-type", "image/png")], b"abcd".to_vec()).await.status().is_success());
}

#[tokio::test]
async fn a_presigned_put_with_a_checksum_refuses_other_bytes() {
    let c = s3_client();
    let key = unique_key("sum.bin");
    let constraints = PutConstraints {
        content_type: "application/octet-stream".into(),
        content_length: 4,
        checksum_sha256: Some(sha256_b64(b"good")),
    };
    let req = bucket(&c).presign_put(&key, &constraints, secs(300), now());
    let hdrs: Vec<(&str, &str)> = req.headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let res = put(&req, &hdrs, b"evil".to_vec()).await;
    assert_refused(res, 400, "InvalidDigest").await;
    assert_absent(&c, &key).await;
    let res = put(&req, &hdrs, b"good".to_vec()).await;
    assert!(res.status().is_success(), "{}", res.status());
}

#[tokio::test]
async fn presigned_get_and_head_read_back_the_object_as_an_attachment() {
    let c = s3_client();
    let key = unique_key("report.txt");
    let form = policy(&key).sign(bucket(&c), now()).unwrap();
    assert!(post(&form, &[], b"contents".to_vec(), "text/plain").await.status().is_success());
    let url = bucket(&c).presign_get(&key, Some("rapport é.txt"), secs(60), now());
    let res = http_client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cd = res.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"contents");
    let head = http_client().head(bucket(&c).presign_head(&key, secs(60), now())).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "8");
}

#[tokio::test]
async fn head_through_the_servers_client_reports_size_and_etag_or_nothing() {
    let c = s3_client();
    let key = unique_key("h.txt");
    assert_eq!(c.head_object(&key).await.unwrap(), None);
    let form = policy(&key).success(Success::Status(201)).sign(bucket(&c), now()).unwrap();
    let body = post(&form, &[], b"12345".to_vec(), "text/plain").await.text().await.unwrap();
    let info = c.head_object(&key).await.unwrap().unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(Some(info.etag), xml::first(&body, "ETag"));
    c.delete_object(&key).await.unwrap();
    assert_eq!(c.head_object(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_multipart_upload_completes_through_presigned_part_urls() {
    let c = s3_client();
    let key = unique_key("large.bin");
    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let part2 = b"the small last part".to_vec();
    let upload_id = c.create_multipart_upload(&key, "application/octet-stream", PartChecksums::None).await.unwrap();
    let mut etags = vec![];
    for (n, data) in [(1u32, part1.clone()), (2, part2.clone())] {
        let req = bucket(&c).presign_upload_part(&key, &upload_id, n, &PartConstraints::default(), secs(300), now());
        let res = http_client().put(&req.url).body(data).send().await.unwrap();
        assert!(res.status().is_success(), "part {n}: {}", res.status());
        etags.push(CompletedPart {
            number: n,
            etag: res.headers()["etag"].to_str().unwrap().to_owned(),
            checksum_sha256: None,
        });
    }
    let etag = c.complete_multipart_upload(&key, &upload_id, &etags).await.unwrap();
    let head = c.head_object(&key).await.unwrap().unwrap();
    assert_eq!(head.size, (part1.len() + part2.len()) as u64);
    assert_eq!(head.etag, etag);
}

#[tokio::test]
async fn multipart_parts_signed_with_their_checksum_and_length_accept_only_those_bytes() {
    let c = s3_client();
    let key = unique_key("checked.bin");
    let part1: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 249) as u8).collect();
    let part2 = b"the last part".to_vec();
    let upload_id = c.create_multipart_upload(&key, "application/octet-stream", PartChecksums::Sha256).await.unwrap();
    let sign = |n: u32, data: &[u8]| {
        let pc = PartConstraints { content_length: Some(data.len() as u64), checksum_sha256: Some(sha256_b64(data)) };
        bucket(&c).presign_upload_part(&key, &upload_id, n, &pc, secs(300), now())
    };
    let put = |req: app::server::s3::PresignedRequest, body: Vec<u8>| {
        let mut r = http_client().put(&req.url).body(body);
        for (n, v) in &req.headers {
            r = r.header(n.as_str(), v.as_str());
        }
        r.send()
    };
    // Other bytes of the same length: S3 compares them with the signed checksum.
    let mut tampered = part1.clone();
    tampered[12345] ^= 1;
    let res = put(sign(1, &part1), tampered).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("InvalidDigest"));
    // The signed checksum left out: the signature no longer matches the request.
    let req = sign(1, &part1);
    // Garage refuses it before reading the body, which may reach the client as a closed connection.
    match http_client().put(&req.url).header("content-length", part1.len()).body(part1.clone()).send().await {
        Ok(res) => {
            let message = assert_refused(res, 400, "InvalidRequest").await;
            assert!(message.contains("x-amz-checksum-sha256"), "{message}");
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    for (n, data) in [(1u32, &part1), (2, &part2)] {
        let res = put(sign(n, data), data.clone()).await.unwrap();
        assert_eq!(res.status(), 200, "part {n}");
    }
    // Completion is built from S3's own list, checksums included.
    let listed = c.list_parts(&key, &upload_id).await.unwrap();
    assert_eq!(listed.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(), vec![(1, part1.len() as u64), (2, 13)]);
    assert_eq!(listed[1].checksum_sha256.as_deref(), Some(sha256_b64(&part2).as_str()));
    let parts: Vec<CompletedPart> = listed.into_iter().map(CompletedPart::from).collect();
    c.complete_multipart_upload(&key, &upload_id, &parts).await.unwrap();
    let head = c.head_object(&key).await.unwrap().unwrap();
    assert_eq!(head.size, (part1.len() + part2.len()) as u64);
    let sum = head.checksum_sha256.expect("the composite checksum is reported");
    assert!(sum.ends_with("-2"), "{sum}");
    let res = http_client().get(bucket(&c).presign_get(&key, None, secs(60), now())).send().await.unwrap();
    let body = res.bytes().await.unwrap();
    assert_eq!(&body[..part1.len()], &part1[..]);
    assert_eq!(&body[part1.len()..], &part2[..]);
}

#[tokio::test]
async fn an_aborted_multipart_upload_cannot_be_completed() {
    let c = s3_client();
    let key = unique_key("aborted.bin");
    let upload_id = c.create_multipart_upload(&key, "application/octet-stream", PartChecksums::None).await.unwrap();
    let req = bucket(&c).presign_upload_part(&key, &upload_id, 1, &PartConstraints::default(), secs(300), now());
    let res = http_client().put(&req.url).body(b"tiny".to_vec()).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    c.abort_multipart_upload(&key, &upload_id).await.unwrap();
    let part = CompletedPart { number: 1, etag, checksum_sha256: None };
    let err = c.complete_multipart_upload(&key, &upload_id, &[part]).await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"), "{err}");
    assert_absent(&c, &key).await;
}

#[tokio::test]
async fn s3_errors_come_back_typed_with_code_and_message() {
    let c = s3_client();
    let part = CompletedPart { number: 1, etag: "\"e\"".into(), checksum_sha256: None };
    let err = c.complete_multipart_upload(&unique_key("x"), "no-such-upload", &[part]).await.unwrap_err();
    match err {
        app::server::s3::S3Error::Service { status, code, message } => {
            assert_eq!((status, code.as_str()), (404, "NoSuchUpload"), "{message}");
            assert!(!message.is_empty(), "S3's own words come along");
        }
        other => panic!("expected a service error, got {other}"),
    }
}

#[tokio::test]
async fn the_bucket_cors_rule_is_applied_and_read_back() {
    // Its own bucket would be cleaner, but the rule we put is the one the test bucket needs anyway.
    let _rules = bucket_rules_lock().await;
    let c = s3_client();
    let origin = "http://127.0.0.1:3100";
    c.put_bucket_cors(&[CorsRule::for_browser_uploads(origin)]).await.unwrap();
    assert_eq!(c.get_bucket_cors().await.unwrap(), vec![CorsRule::for_browser_uploads(origin)]);
    let preflight = |origin: &'static str| {
        http_client()
            .request(reqwest::Method::OPTIONS, bucket(&c).endpoint.bucket(&bucket(&c).name).url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("http://127.0.0.1:3100").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().contains("ETag"));
    let other = preflight("http://evil.example").await.unwrap();
    // A preflight passes only with a 2xx; Garage answers 403 and grants no method.
    assert_eq!(other.status(), 403);
    assert!(other.headers().get("access-control-allow-methods").is_none());
}

#[tokio::test]
async fn a_lifecycle_rule_is_applied_and_read_back() {
    let _rules = bucket_rules_lock().await;
    let c = s3_client();
    let doc = "<LifecycleConfiguration><Rule><ID>abort-incomplete-multipart</ID><Status>Enabled</Status>\
        <Filter><Prefix>uploads/</Prefix></Filter>\
        <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>\
        </Rule></LifecycleConfiguration>";
    c.put_bucket_lifecycle(doc).await.unwrap();
    let back = c.get_bucket_lifecycle().await.unwrap().expect("a lifecycle configuration");
    assert_eq!(xml::first(&back, "ID").as_deref(), Some("abort-incomplete-multipart"));
    assert_eq!(xml::first(&back, "DaysAfterInitiation").as_deref(), Some("1"));
}
