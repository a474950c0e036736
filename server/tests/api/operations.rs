//! Operator tooling against the local Garage: bucket rules, doctor, the reconciler.

use std::process::{Command, Output};

use app::model::{Role, SigningMethod, UploadStatus};
use app::server::db::{self, uploads, users};
use app::server::s3::post_policy::PostPolicy;
use app::server::s3::presign::Expiry;
use app::server::s3::{xml, S3Client};
use app::server::uploads as service;

use crate::helpers::*;

/// The origin every test that touches the shared test bucket's CORS uses (Playwright's too).
const ORIGIN: &str = "http://127.0.0.1:3100";

fn server(args: &[&str], overrides: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("s3drop-ops-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.current_dir(&dir).env_clear().env("PATH", std::env::var("PATH").unwrap()).env("RUST_LOG", "error");
    for (k, v) in s3_vars() {
        cmd.env(k, v);
    }
    cmd.env("DATABASE_URL", format!("sqlite://{}/ops.db?mode=rwc", dir.display())).env("APP_PUBLIC_URL", ORIGIN);
    for (k, v) in overrides {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn preflight(c: &S3Client, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, c.bucket().endpoint.bucket(&c.bucket().name).url())
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn apply_cors_lets_the_apps_origin_preflight_and_no_other_and_doctor_passes() {
    let _rules = bucket_rules_lock().await;
    let out = server(&["bucket", "apply-cors"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains(ORIGIN));
    let c = s3_client();
    let ok = preflight(&c, ORIGIN).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().contains("ETag"));
    let evil = preflight(&c, "http://evil.example").await;
    // A preflight passes only with a 2xx; Garage answers 403 (with `*` on the error itself, so the
    // page may read why) and grants no method.
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-methods").is_none());

    // Applying again changes nothing and says so.
    assert!(stdout(&server(&["bucket", "apply-cors"], &[])).contains("unchanged"));

    // With CORS in place the whole local stack passes the doctor.
    let out = server(&["doctor"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for name in ["database", "credentials", "bucket", "cors", "clock"] {
        assert!(text.lines().any(|l| l.starts_with("ok") && l.contains(name)), "{name} in {text}");
    }

    // Another origin's deployment would be told its CORS is missing.
    let out = server(&["doctor"], &[("APP_PUBLIC_URL", "https://elsewhere.example")]);
    assert!(!out.status.success());
    assert!(stdout(&out).lines().any(|l| l.starts_with("FAIL") && l.contains("cors")), "{}", stdout(&out));
}

#[tokio::test]
async fn two_deployments_sharing_the_bucket_both_keep_their_cors_and_health_says_so() {
    let _rules = bucket_rules_lock().await;
    let (a, b) = ("http://deploy-a.example", "http://deploy-b.example:8080");
    for origin in [a, b] {
        let out = server(&["bucket", "apply-cors"], &[("APP_PUBLIC_URL", origin)]);
        assert!(out.status.success(), "{out:?}");
    }
    // B's rule did not replace A's: a browser on either may send.
    let c = s3_client();
    for origin in [a, b, ORIGIN] {
        assert_eq!(preflight(&c, origin).await.status(), 200, "{origin}");
        assert_eq!(c.preflight(origin).await.unwrap(), Ok(()), "{origin}");
    }
    // An app serving on A reports its uploads possible; the doctor checks by preflight too.
    let app = spawn_app_with(Engine::Sqlite, &[("APP_PUBLIC_URL", a)]).await;
    let body: serde_json::Value = app.http.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok", "database": "ok", "bucket": "ok", "cors": "ok"}));
    let out = server(&["doctor"], &[("APP_PUBLIC_URL", b)]);
    assert!(stdout(&out).lines().any(|l| l.starts_with("ok") && l.contains("cors preflight")), "{}", stdout(&out));
}

#[tokio::test]
async fn apply_lifecycle_is_readable_back_from_the_bucket() {
    let _rules = bucket_rules_lock().await;
    let out = server(&["bucket", "apply-lifecycle"], &[]);
    assert!(out.status.success(), "{out:?}");
    let c = s3_client();
    let doc = c.get_bucket_lifecycle().await.unwrap().expect("a lifecycle configuration");
    let ids = xml::all(&doc, "ID");
    assert!(ids.contains(&"s3drop-abort-incomplete-multipart".to_owned()), "{doc}");
    assert!(ids.contains(&"s3drop-expire-tmp".to_owned()), "{doc}");
    assert!(doc.contains("<DaysAfterInitiation>1</DaysAfterInitiation>"), "{doc}");
}

#[test]
fn doctor_names_the_bucket_when_it_does_not_exist() {
    let out = server(&["doctor"], &[("S3_BUCKET", "no-such-bucket-here")]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL") && l.contains("bucket") && l.contains("no-such-bucket-here")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("ok") && l.contains("database")), "{text}");
}

#[test]
fn doctor_names_the_credentials_when_the_secret_is_wrong() {
    let out = server(&["doctor"], &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("FAIL") && l.contains("credentials")), "{text}");
}

async fn seed(pool: &db::Pool, owner: &str, key: &str, size: i64, expired: bool) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let u = uploads::NewUpload {
        owner_id: owner,
        object_key: key,
        file_name: "f.txt",
        content_type: "text/plain",
        declared_size: size,
        checksum_sha256: None,
        method: SigningMethod::Post,
        expires_at: db::now_millis() + if expired { -1_000 } else { 600_000 },
        multipart: None,
    };
    uploads::insert_pending(pool, &id, &u).await.unwrap();
    id
}

async fn upload_object(c: &S3Client, key: &str, body: &[u8]) {
    let form = PostPolicy::for_key(key, Expiry::secs(60).unwrap())
        .content_type("text/plain")
        .sign(c.bucket(), time::OffsetDateTime::now_utc())
        .unwrap();
    let mut mp = reqwest::multipart::Form::new();
    for (n, v) in form.fields {
        mp = mp.text(n, v);
    }
    mp = mp.part("file", reqwest::multipart::Part::bytes(body.to_vec()));
    let res = reqwest::Client::new().post(&form.url).multipart(mp).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

on_both_engines! {
    async fn the_reconciler_completes_uploaded_rows_expires_missing_ones_and_two_at_once_change_each_row_once(engine) {
        let pool = db::connect(&fresh_database(engine).await).await.unwrap();
        let c = s3_client();
        let owner = users::create(&pool, &email("a@x.io"), Role::User, "h").await.unwrap().id;
        let prefix = format!("tests/{}", uuid::Uuid::new_v4());
        let mut arrived = vec![];
        let mut missing = vec![];
        for i in 0..6 {
            let key = format!("{prefix}/arrived-{i}.txt");
            upload_object(&c, &key, b"12345").await;
            arrived.push(seed(&pool, &owner, &key, 5, true).await);
            missing.push(seed(&pool, &owner, &format!("{prefix}/never-{i}.txt"), 5, true).await);
        }
        let wrong_size_key = format!("{prefix}/wrong-size.txt");
        upload_object(&c, &wrong_size_key, b"123").await;
        let wrong_size = seed(&pool, &owner, &wrong_size_key, 5, true).await;
        let still_valid = seed(&pool, &owner, &format!("{prefix}/later.txt"), 5, false).await;

        let (a, b) = tokio::join!(service::reconcile(&pool, &c, 100), service::reconcile(&pool, &c, 100));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.completed + b.completed, 6, "{engine:?}: {a:?} {b:?}");
        assert_eq!(a.expired + b.expired, 6, "{engine:?}: {a:?} {b:?}");
        assert_eq!(a.failed + b.failed, 1, "{engine:?}: {a:?} {b:?}");
        assert_eq!(a.errors + b.errors, 0);

        for id in &arrived {
            let row = uploads::get(&pool, id).await.unwrap().unwrap();
            assert_eq!(row.status, UploadStatus::Completed, "{engine:?}");
            assert_eq!(row.confirmed_size, Some(5));
            assert!(row.etag.is_some());
        }
        for id in &missing {
            assert_eq!(uploads::get(&pool, id).await.unwrap().unwrap().status, UploadStatus::Expired, "{engine:?}");
        }
        assert_eq!(uploads::get(&pool, &wrong_size).await.unwrap().unwrap().status, UploadStatus::Failed);
        assert_eq!(uploads::get(&pool, &still_valid).await.unwrap().unwrap().status, UploadStatus::Pending);

        // A second pass finds nothing left to do.
        assert_eq!(service::reconcile(&pool, &c, 100).await.unwrap(), Default::default());
    }
}

/// The documented policy grants what the code calls, and nothing outside the upload prefix: cancel
/// and the landing route delete objects, so `s3:DeleteObject` is there, on `uploads/*` only.
#[test]
fn the_documented_iam_policy_allows_deleting_only_under_the_upload_prefix() {
    let text = std::fs::read_to_string(workspace_root().join("doc/iam-policy.json")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut granted: Vec<(String, String)> = vec![];
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        let resource = statement["Resource"].as_str().unwrap().to_owned();
        for action in statement["Action"].as_array().unwrap() {
            granted.push((action.as_str().unwrap().to_owned(), resource.clone()));
        }
    }
    let on =
        |action: &str| -> Vec<&str> { granted.iter().filter(|(a, _)| a == action).map(|(_, r)| r.as_str()).collect() };
    let objects = "arn:aws:s3:::BUCKET/uploads/*";
    for action in ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] {
        assert_eq!(on(action), [objects], "{action}");
    }
    assert!(granted.iter().all(|(a, r)| !a.contains('*') && (r == objects || r == "arn:aws:s3:::BUCKET")));
}
