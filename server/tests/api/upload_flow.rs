//! The upload flow through the real server, S3 (Garage) and database: request, send, confirm,
//! cancel, the landing route, and every refusal leaving nothing behind.

use app::model::{SendPlan, UploadRow, UploadStatus, UploadTicket};
use app::server::db::uploads;
use reqwest::multipart::{Form, Part};

use crate::helpers::*;

pub(crate) const LIMITS: [(&str, &str); 2] =
    [("UPLOAD_MAX_BYTES", "1MiB"), ("UPLOAD_ALLOWED_TYPES", "text/plain,image/*")];

/// The bytes these tests upload for a file of `size` bytes: "abc…", so a ticket can pin their
/// SHA-256 before they are sent, as the dropzone does.
pub(crate) fn filler(size: u64) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

pub(crate) async fn request(app: &TestApp, cookie: &str, name: &str, size: u64, ctype: &str) -> reqwest::Response {
    let sum = sha256_b64(&filler(size));
    let form = [("file_name", name), ("size", &size.to_string()), ("content_type", ctype), ("sha256", &sum)];
    app.call("uploads/request", &form, Some(cookie)).await
}

pub(crate) async fn ticket(app: &TestApp, cookie: &str, name: &str, size: u64, ctype: &str) -> UploadTicket {
    let res = request(app, cookie, name, size, ctype).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// What the dropzone does: the ticket's fields in order, the file last (or a PUT with the signed
/// headers).
pub(crate) async fn send_to_s3(t: &UploadTicket, body: &[u8]) -> reqwest::Response {
    match &t.send {
        SendPlan::Post { url, fields } => {
            let mut form = Form::new();
            for (n, v) in fields {
                form = form.text(n.clone(), v.clone());
            }
            form = form.part("file", Part::bytes(body.to_vec()).file_name("x"));
            reqwest::Client::new().post(url).multipart(form).send().await.unwrap()
        }
        SendPlan::Put { url, headers } => {
            let mut req = reqwest::Client::new().put(url).body(body.to_vec());
            for (n, v) in headers {
                req = req.header(n.as_str(), v.as_str());
            }
            req.send().await.unwrap()
        }
        SendPlan::Multipart { .. } => panic!("a multipart ticket is sent part by part"),
    }
}

pub(crate) async fn confirm(app: &TestApp, cookie: &str, id: &str) -> reqwest::Response {
    app.call("uploads/confirm", &[("id", id)], Some(cookie)).await
}

pub(crate) async fn row(app: &TestApp, id: &str) -> UploadRow {
    uploads::get(&app.state.db, id).await.unwrap().expect("the row exists")
}

pub(crate) async fn count_rows(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&app.state.db).await.unwrap();
    n
}

on_both_engines! {
    async fn an_upload_is_signed_sent_and_confirmed_once_s3_has_it(engine) {
        let app = spawn_app_with(engine, &LIMITS).await;
        let cookie = app.sign_up("a@x.io").await;
        let t = ticket(&app, &cookie, "../../etc/pass\u{7}wd ü.txt", 11, "text/plain").await;
        assert!(!t.object_key.contains('\u{7}'), "control characters are removed");
        assert!(t.object_key.ends_with("/passwd ü.txt"), "{}", t.object_key);
        assert!(!t.object_key.contains(".."));
        assert!(t.expires_at > t.server_time);
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending);

        // Confirming before S3 has the object changes nothing.
        assert_eq!(confirm(&app, &cookie, &t.upload_id).await.status(), 409);
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending);

        let res = send_to_s3(&t, &filler(11)).await;
        assert_eq!(res.status(), 201, "{engine:?}");
        let res = confirm(&app, &cookie, &t.upload_id).await;
        assert_eq!(res.status(), 200, "{engine:?}");
        let confirmed: UploadRow = res.json().await.unwrap();
        assert_eq!(confirmed.status, UploadStatus::Completed);
        assert_eq!(confirmed.confirmed_size, Some(11));
        let head = app.state.s3.head_object(&t.object_key).await.unwrap().unwrap();
        assert_eq!(confirmed.etag.as_deref(), Some(head.etag.as_str()));
        // Idempotent.
        let again: UploadRow = confirm(&app, &cookie, &t.upload_id).await.json().await.unwrap();
        assert_eq!(again, confirmed);
    }
}

#[tokio::test]
async fn the_signed_size_is_exact_so_s3_refuses_a_different_file() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let t = ticket(&app, &cookie, "a.txt", 5, "text/plain").await;
    let res = send_to_s3(&t, b"more than five bytes").await;
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert_eq!(app::server::s3::xml::first(&body, "Code").as_deref(), Some("InvalidRequest"), "{body}");
    assert!(body.contains("File size does not match policy"), "{body}");
    assert_eq!(app.state.s3.head_object(&t.object_key).await.unwrap(), None);
    assert_eq!(confirm(&app, &cookie, &t.upload_id).await.status(), 409);
    assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending);
}

#[tokio::test]
async fn requests_over_the_limits_are_refused_with_the_reason_and_store_nothing() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let big = request(&app, &cookie, "big.txt", 1024 * 1024 + 1, "text/plain").await;
    assert_eq!(big.status(), 400);
    assert!(big.text().await.unwrap().contains("the limit is 1 MiB"));
    let typed = request(&app, &cookie, "a.pdf", 10, "application/pdf").await;
    assert_eq!(typed.status(), 400);
    assert!(typed.text().await.unwrap().contains("application/pdf"));
    let empty = request(&app, &cookie, "a.txt", 0, "text/plain").await;
    assert_eq!(empty.status(), 400);
    assert_eq!(count_rows(&app).await, 0);
}

#[tokio::test]
async fn anonymous_callers_get_401_and_nothing_is_signed() {
    let app = spawn_app().await;
    let res = app
        .call("uploads/request", &[("file_name", "a.txt"), ("size", "1"), ("content_type", "text/plain")], None)
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(app.call("uploads/mine", &[], None).await.status(), 401);
    assert_eq!(count_rows(&app).await, 0);
}

/// Alice has sent a file to S3 but not confirmed it; Mallory is signed in too.
async fn alice_uploaded_and_mallory_watching(engine: Engine) -> (TestApp, String, String, UploadTicket) {
    let app = spawn_app_with(engine, &LIMITS).await;
    let alice = app.sign_up("alice@x.io").await;
    let mallory = app.sign_up("mallory@x.io").await;
    let t = ticket(&app, &alice, "a.txt", 3, "text/plain").await;
    assert_eq!(send_to_s3(&t, b"abc").await.status(), 201);
    (app, alice, mallory, t)
}

on_both_engines! {
    async fn confirming_another_users_upload_is_refused_and_changes_nothing(engine) {
        let (app, alice, mallory, t) = alice_uploaded_and_mallory_watching(engine).await;
        assert_eq!(confirm(&app, &mallory, &t.upload_id).await.status(), 404, "{engine:?}");
        assert_eq!(app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&mallory)).await.status(), 404);
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending, "{engine:?}");
        let mine: Vec<UploadRow> = app.call("uploads/mine", &[], Some(&mallory)).await.json().await.unwrap();
        assert!(mine.is_empty(), "{engine:?}: a user lists only their own uploads");
        let theirs: Vec<UploadRow> = app.call("uploads/mine", &[], Some(&alice)).await.json().await.unwrap();
        assert_eq!(theirs.len(), 1);
    }
}

#[tokio::test]
async fn confirming_a_key_that_was_never_uploaded_is_refused_and_changes_nothing() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let t = ticket(&app, &cookie, "a.txt", 3, "text/plain").await;
    let res = confirm(&app, &cookie, &t.upload_id).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("no file"));
    assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending);
    assert_eq!(confirm(&app, &cookie, "no-such-id").await.status(), 404);
}

#[tokio::test]
async fn a_cancelled_upload_cannot_be_confirmed_and_its_object_is_removed() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let t = ticket(&app, &cookie, "a.txt", 3, "text/plain").await;
    assert_eq!(send_to_s3(&t, b"abc").await.status(), 201);
    let res = app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Cancelled);
    assert_eq!(confirm(&app, &cookie, &t.upload_id).await.status(), 409);
    assert_eq!(app.state.s3.head_object(&t.object_key).await.unwrap(), None);
}

#[tokio::test]
async fn a_reported_s3_refusal_marks_the_upload_failed_with_the_reason() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let t = ticket(&app, &cookie, "a.txt", 3, "text/plain").await;
    let reason = "The storage refused the file: Policy expired (AccessDenied).";
    assert_eq!(
        app.call("uploads/failed", &[("id", &t.upload_id), ("reason", reason)], Some(&cookie)).await.status(),
        200
    );
    let r = row(&app, &t.upload_id).await;
    assert_eq!((r.status, r.error.as_deref()), (UploadStatus::Failed, Some(reason)));
}

/// The plain form the profile page renders for this user.
pub(crate) async fn plain_form(app: &TestApp, cookie: &str) -> app::model::PlainForm {
    let res = app.call("uploads/plain-form", &[], Some(cookie)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The object key S3 makes of the plain form's key field for a file of this name.
pub(crate) fn plain_form_key(form: &app::model::PlainForm, name: &str) -> String {
    let key = form.fields.iter().find(|(n, _)| n == "key").map(|(_, v)| v.as_str()).unwrap();
    key.replace("${filename}", name)
}

/// The form's fields with the file appended, sent as a browser without JavaScript would.
pub(crate) async fn post_plain_form(
    app: &TestApp,
    form: &app::model::PlainForm,
    name: &str,
    body: &[u8],
) -> reqwest::Response {
    let mut mp = Form::new();
    for (n, v) in &form.fields {
        mp = mp.text(n.clone(), v.clone());
    }
    mp = mp.part("file", Part::bytes(body.to_vec()).file_name(name.to_owned()).mime_str("text/plain").unwrap());
    app.http.post(&form.url).multipart(mp).send().await.unwrap()
}

/// A fresh plain form, sent with this file.
pub(crate) async fn send_plain_form(app: &TestApp, cookie: &str, name: &str, body: &[u8]) -> reqwest::Response {
    post_plain_form(app, &plain_form(app, cookie).await, name, body).await
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

on_both_engines! {
    async fn the_plain_form_uploads_and_the_landing_route_completes_it(engine) {
        let app = spawn_app_with(engine, &LIMITS).await;
        let cookie = app.sign_up("a@x.io").await;
        let res = send_plain_form(&app, &cookie, "notes été.txt", b"plain form body").await;
        assert_eq!(res.status(), 303, "{engine:?}");
        let landing = location(&res);
        assert!(landing.starts_with(&app.url("/uploads/landing?")), "{landing}");
        let res = app.http.get(&landing).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert!(location(&res).starts_with("/profile?uploaded=notes%20%C3%A9t%C3%A9.txt"), "{}", location(&res));
        let mine: Vec<UploadRow> = app.call("uploads/mine", &[], Some(&cookie)).await.json().await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].status, UploadStatus::Completed, "{engine:?}");
        assert_eq!(mine[0].file_name, "notes été.txt");
        assert_eq!(mine[0].confirmed_size, Some(15));
        // The landing route is idempotent.
        let again = app.http.get(&landing).header("cookie", &cookie).send().await.unwrap();
        assert!(location(&again).starts_with("/profile?uploaded="));
    }
}

#[tokio::test]
async fn the_plain_form_refuses_a_file_over_the_limit_at_s3_and_nothing_is_stored_or_recorded() {
    let app = spawn_app_with(Engine::Sqlite, &[("UPLOAD_MAX_BYTES", "10")]).await;
    let cookie = app.sign_up("a@x.io").await;
    let form = plain_form(&app, &cookie).await;
    let key = plain_form_key(&form, "big.txt");
    let res = post_plain_form(&app, &form, "big.txt", b"eleven bytes").await;
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert_eq!(app::server::s3::xml::first(&body, "Code").as_deref(), Some("InvalidRequest"), "{body}");
    assert_eq!(app.state.s3.head_object(&key).await.unwrap(), None, "nothing stored at {key}");
    assert_eq!(count_rows(&app).await, 0, "nothing recorded");
    // The same form within the limit goes through to the same key: the key checked above was the
    // one S3 would have written.
    let res = post_plain_form(&app, &form, "big.txt", b"ten bytes!").await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.state.s3.head_object(&key).await.unwrap().map(|i| i.size), Some(10));
}

on_both_engines! {
    async fn the_landing_route_deletes_a_file_of_a_refused_type_and_records_it_failed(engine) {
        let app = spawn_app_with(engine, &LIMITS).await;
        let cookie = app.sign_up("a@x.io").await;
        let form = plain_form(&app, &cookie).await;
        let key = plain_form_key(&form, "page.html");
        // S3 takes any file the form allows; the type is judged by the name when it lands.
        let res = post_plain_form(&app, &form, "page.html", b"<script>alert(1)</script>").await;
        assert_eq!(res.status(), 303, "{engine:?}");
        assert!(app.state.s3.head_object(&key).await.unwrap().is_some(), "S3 stored it");
        let res = app.http.get(location(&res)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let back = location(&res);
        assert!(back.starts_with("/profile?error="), "{engine:?}: {back}");
        assert!(back.contains("page.html%3A%20files%20of%20type%20text%2Fhtml%20are%20not%20accepted"), "{back}");
        assert_eq!(app.state.s3.head_object(&key).await.unwrap(), None, "{engine:?}: the object is deleted");
        let mine: Vec<UploadRow> = app.call("uploads/mine", &[], Some(&cookie)).await.json().await.unwrap();
        assert_eq!(mine.len(), 1, "{engine:?}");
        assert_eq!(mine[0].object_key, key);
        assert_eq!(mine[0].status, UploadStatus::Failed, "{engine:?}");
        assert_eq!(mine[0].error.as_deref(), Some("files of type text/html are not accepted"));
        // Landing again changes nothing.
        let res = app.http.get(app.url(&format!(
            "/uploads/landing?bucket={}&key={}",
            app.state.config.s3.bucket,
            app::server::s3::sigv4::uri_encode(&key, true)
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
        assert!(location(&res).starts_with("/profile?error="));
        assert_eq!(row(&app, &mine[0].id).await, mine[0]);
    }
}

#[tokio::test]
async fn a_plain_form_sent_again_with_another_file_records_each_file_as_its_own_upload() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    // The browser's back button: the same signed form, a second file.
    let form = plain_form(&app, &cookie).await;
    let first = post_plain_form(&app, &form, "first.txt", b"first").await;
    let second = post_plain_form(&app, &form, "second.txt", b"second").await;
    let land = |res: reqwest::Response| app.http.get(location(&res)).header("cookie", &cookie).send();
    assert!(location(&land(first).await.unwrap()).starts_with("/profile?uploaded=first.txt"));
    assert!(location(&land(second).await.unwrap()).starts_with("/profile?uploaded=second.txt"));
    assert_eq!(count_rows(&app).await, 2, "each landed object has its own row");
    for (name, bytes) in [("first.txt", 5), ("second.txt", 6)] {
        let key = plain_form_key(&form, name);
        let r = uploads::by_key(&app.state.db, &key).await.unwrap().expect("a row for each object");
        assert_eq!((r.status, r.confirmed_size, r.file_name.as_str()), (UploadStatus::Completed, Some(bytes), name));
        assert!(app.state.s3.head_object(&key).await.unwrap().is_some());
    }
}

on_both_engines! {
    async fn reporting_a_failure_on_another_users_upload_is_404_and_changes_nothing(engine) {
        let (app, alice, mallory, t) = alice_uploaded_and_mallory_watching(engine).await;
        let before = row(&app, &t.upload_id).await;
        let res = app
            .call("uploads/failed", &[("id", &t.upload_id), ("reason", "mallory says so")], Some(&mallory))
            .await;
        assert_eq!(res.status(), 404, "{engine:?}");
        assert!(res.text().await.unwrap().contains("There is no such upload."));
        assert_eq!(row(&app, &t.upload_id).await, before, "{engine:?}: the row is untouched");
        // Alice still completes it.
        let done: UploadRow = confirm(&app, &alice, &t.upload_id).await.json().await.unwrap();
        assert_eq!(done.status, UploadStatus::Completed, "{engine:?}");
    }
}

on_both_engines! {
    async fn an_admin_download_is_refused_for_an_upload_that_is_not_completed(engine) {
        let app = spawn_app_with(engine, &LIMITS).await;
        let admin = app.sign_up_admin("boss@x.io").await;
        let user = app.sign_up("a@x.io").await;
        let download = |id: String| {
            app.http.get(app.url(&format!("/admin/download/{id}"))).header("cookie", &admin).send()
        };
        // Sent to S3 but not confirmed: the object exists, the row is pending.
        let pending = ticket(&app, &user, "pending.txt", 3, "text/plain").await;
        assert_eq!(send_to_s3(&pending, &filler(3)).await.status(), 201);
        let cancelled = ticket(&app, &user, "cancelled.txt", 3, "text/plain").await;
        assert_eq!(app.call("uploads/cancel", &[("id", &cancelled.upload_id)], Some(&user)).await.status(), 200);
        for t in [&pending, &cancelled] {
            let res = download(t.upload_id.clone()).await.unwrap();
            assert_eq!(res.status(), 404, "{engine:?}: {}", t.object_key);
            assert!(res.headers().get("location").is_none(), "no presigned URL");
            let body = res.text().await.unwrap();
            assert!(!body.contains("X-Amz-Signature"), "{body}");
            assert!(body.contains("No completed upload has this id."), "{body}");
        }
        // Once completed, the same link gives a presigned GET.
        assert_eq!(confirm(&app, &user, &pending.upload_id).await.status(), 200);
        let res = download(pending.upload_id.clone()).await.unwrap();
        assert_eq!(res.status(), 303, "{engine:?}");
        assert!(location(&res).contains("X-Amz-Signature="), "{}", location(&res));
    }
}

#[tokio::test]
async fn the_301st_upload_request_in_a_minute_is_429_and_records_nothing() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let limit = app::server::uploads::UPLOADS_PER_MINUTE;
    assert_eq!(limit, 300);
    for i in 0..limit {
        let res = request(&app, &cookie, &format!("f{i}.txt"), 3, "text/plain").await;
        assert_eq!(res.status(), 200, "request {}", i + 1);
    }
    assert_eq!(count_rows(&app).await, limit);
    let res = request(&app, &cookie, "one-too-many.txt", 3, "text/plain").await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "rate_limited");
    assert_eq!(body["message"], "Too many uploads in the last minute; please wait a moment.");
    assert_eq!(count_rows(&app).await, limit, "no row for the refused request");
    // The limit is the user's own: someone else still uploads.
    let other = app.sign_up("b@x.io").await;
    assert_eq!(request(&app, &other, "b.txt", 3, "text/plain").await.status(), 200);
}

on_both_engines! {
    async fn a_forged_landing_request_with_a_foreign_key_is_refused_and_changes_nothing(engine) {
        let (app, _alice, mallory, t) = alice_uploaded_and_mallory_watching(engine).await;
        let bucket = &app.state.config.s3.bucket;
        let forged = app.url(&format!(
            "/uploads/landing?bucket={bucket}&key={}&etag=x",
            app::server::s3::sigv4::uri_encode(&t.object_key, true)
        ));
        let res = app.http.get(&forged).header("cookie", &mallory).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert!(location(&res).starts_with("/profile?error="), "{engine:?}: {}", location(&res));
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending, "{engine:?}");
        // A key under mallory's own prefix that S3 never stored is refused too, and records nothing.
        let me: serde_json::Value = app.call("auth/me", &[], Some(&mallory)).await.json().await.unwrap();
        let fake = format!("uploads/{}/{}/x.txt", me["id"].as_str().unwrap(), uuid::Uuid::new_v4());
        let res = app
            .http
            .get(app.url(&format!(
                "/uploads/landing?bucket={bucket}&key={}",
                app::server::s3::sigv4::uri_encode(&fake, true)
            )))
            .header("cookie", &mallory)
            .send()
            .await
            .unwrap();
        assert!(location(&res).starts_with("/profile?error="));
        assert_eq!(count_rows(&app).await, 1, "{engine:?}");
        // Anonymous: to the sign-in page.
        let res = app.http.get(&forged).send().await.unwrap();
        assert_eq!(location(&res), "/signin");
    }
}

#[tokio::test]
async fn nothing_is_signed_while_the_servers_clock_is_far_off_s3s() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    app.state.clock_skew_secs.store(3_600, std::sync::atomic::Ordering::Relaxed);
    let res = request(&app, &cookie, "a.txt", 3, "text/plain").await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("clock"));
    assert_eq!(app.call("uploads/plain-form", &[], Some(&cookie)).await.status(), 503);
    assert_eq!(count_rows(&app).await, 0);
    // Measured again (the reconciler does so every minute), the real skew lets signing resume.
    server::measure_clock(&app.state).await;
    assert_eq!(request(&app, &cookie, "a.txt", 3, "text/plain").await.status(), 200);
}

#[tokio::test]
async fn a_ticket_carries_the_servers_time() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let before = app::server::db::now_millis();
    let t = ticket(&app, &cookie, "a.txt", 3, "text/plain").await;
    let after = app::server::db::now_millis();
    assert!((before..=after).contains(&t.server_time));
    assert_eq!(t.expires_at - t.server_time, 900_000, "the default 15 minutes");
}

// ---- Large files: multipart, resume, integrity ------------------------------------------------

const LARGE: [(&str, &str); 3] =
    [("UPLOAD_MAX_BYTES", "64MiB"), ("UPLOAD_MULTIPART_THRESHOLD", "8MiB"), ("UPLOAD_ALLOWED_TYPES", "*")];
const MIB: usize = 1 << 20;

/// 17 MiB: three parts of 8, 8 and 1 MiB.
fn large_file(seed: u8) -> Vec<u8> {
    (0..17 * MIB).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn request_large(app: &TestApp, cookie: &str, name: &str, file: &[u8], modified: i64) -> reqwest::Response {
    let first = sha256_b64(&file[..file.len().min(8 * MIB)]);
    let form = [
        ("file_name", name),
        ("size", &file.len().to_string()),
        ("content_type", "application/octet-stream"),
        ("last_modified", &modified.to_string()),
        ("first_part_sha256", &first),
    ];
    app.call("uploads/request", &form, Some(cookie)).await
}

fn part(file: &[u8], n: u32) -> &[u8] {
    let (start, end) = app::model::part_range(file.len() as u64, 8 * MIB as u64, n);
    &file[start as usize..end as usize]
}

async fn sign_parts(app: &TestApp, cookie: &str, id: &str, parts: &[(u32, String)]) -> reqwest::Response {
    let parts: Vec<_> = parts.iter().map(|(n, s)| serde_json::json!({"part_number": n, "sha256": s})).collect();
    app.call_json("uploads/parts", serde_json::json!({"id": id, "parts": parts}), Some(cookie)).await
}

/// Signs part `n` of `file` and PUTs `body` (normally the part itself) with the signed headers.
async fn put_part(app: &TestApp, cookie: &str, id: &str, file: &[u8], n: u32, body: &[u8]) -> reqwest::Response {
    let res = sign_parts(app, cookie, id, &[(n, sha256_b64(part(file, n)))]).await;
    assert_eq!(res.status(), 200);
    let urls: app::model::PartUrls = res.json().await.unwrap();
    let mut req = reqwest::Client::new().put(&urls.parts[0].url).body(body.to_vec());
    for (h, v) in &urls.parts[0].headers {
        req = req.header(h.as_str(), v.as_str());
    }
    req.send().await.unwrap()
}

on_both_engines! {
    async fn a_large_file_goes_by_multipart_with_checksummed_parts_completed_from_s3s_own_list(engine) {
        let app = spawn_app_with(engine, &LARGE).await;
        let cookie = app.sign_up("a@x.io").await;
        let file = large_file(1);
        let res = request_large(&app, &cookie, "video.bin", &file, 1_700_000_000_000).await;
        assert_eq!(res.status(), 200, "{engine:?}");
        let t: UploadTicket = res.json().await.unwrap();
        assert_eq!(
            t.send,
            SendPlan::Multipart {
                part_size: 8 * MIB as u64,
                part_count: 3,
                concurrency: 4,
                done: vec![],
                resumed: false
            }
        );
        let r = row(&app, &t.upload_id).await;
        assert_eq!((r.part_count, r.part_size), (Some(3), Some(8 * MIB as i64)));
        let s3_id = r.multipart_upload_id.clone().expect("the S3 upload id is recorded");

        // Changed bytes are refused by S3 through the signed checksum.
        let mut bad = part(&file, 1).to_vec();
        bad[7] ^= 0xff;
        assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, 1, &bad).await.status(), 400);
        for n in [1, 2] {
            assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, n, part(&file, n)).await.status(), 200);
        }
        // Completing with a part missing is refused and changes nothing.
        let res = app.call("uploads/complete", &[("id", &t.upload_id)], Some(&cookie)).await;
        assert_eq!(res.status(), 409);
        assert!(res.text().await.unwrap().contains("2 of the 3 parts"));
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending);

        assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, 3, part(&file, 3)).await.status(), 200);
        let res = app.call("uploads/complete", &[("id", &t.upload_id)], Some(&cookie)).await;
        assert_eq!(res.status(), 200, "{engine:?}");
        let done: UploadRow = res.json().await.unwrap();
        assert_eq!(done.status, UploadStatus::Completed);
        assert_eq!(done.confirmed_size, Some(file.len() as i64));
        assert!(done.checksum_sha256.as_deref().is_some_and(|c| c.ends_with("-3")), "{:?}", done.checksum_sha256);
        let head = app.state.s3.head_object(&t.object_key).await.unwrap().unwrap();
        assert_eq!(head.size, file.len() as u64);
        // Completing again answers the same row; the S3 upload is gone.
        let again: UploadRow =
            app.call("uploads/complete", &[("id", &t.upload_id)], Some(&cookie)).await.json().await.unwrap();
        assert_eq!(again, done);
        assert!(app.state.s3.list_parts(&t.object_key, &s3_id).await.is_err());
        // And no more part URLs once completed.
        let res = sign_parts(&app, &cookie, &t.upload_id, &[(1, sha256_b64(part(&file, 1)))]).await;
        assert_eq!(res.status(), 409);
    }
}

#[tokio::test]
async fn part_urls_are_refused_for_another_users_upload_and_for_parts_out_of_range() {
    let app = spawn_app_with(Engine::Sqlite, &LARGE).await;
    let alice = app.sign_up("alice@x.io").await;
    let mallory = app.sign_up("mallory@x.io").await;
    let file = large_file(2);
    let t: UploadTicket = request_large(&app, &alice, "a.bin", &file, 1).await.json().await.unwrap();
    let sum = sha256_b64(part(&file, 1));
    assert_eq!(sign_parts(&app, &mallory, &t.upload_id, &[(1, sum.clone())]).await.status(), 404);
    assert_eq!(sign_parts(&app, &alice, &t.upload_id, &[(4, sum.clone())]).await.status(), 400);
    assert_eq!(sign_parts(&app, &alice, &t.upload_id, &[(0, sum.clone())]).await.status(), 400);
    assert_eq!(sign_parts(&app, &alice, &t.upload_id, &[(1, "not a digest".into())]).await.status(), 400);
    assert_eq!(sign_parts(&app, &alice, &t.upload_id, &[]).await.status(), 400);
    assert_eq!(app.call("uploads/complete", &[("id", &t.upload_id)], Some(&mallory)).await.status(), 404);
    assert_eq!(sign_parts(&app, &alice, &t.upload_id, &[(1, sum)]).await.status(), 200);
}

on_both_engines! {
    async fn the_same_file_asked_for_again_resumes_with_the_parts_s3_has_and_another_file_does_not(engine) {
        let app = spawn_app_with(engine, &LARGE).await;
        let cookie = app.sign_up("a@x.io").await;
        let file = large_file(3);
        let t: UploadTicket = request_large(&app, &cookie, "disk.img", &file, 42).await.json().await.unwrap();
        assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, 2, part(&file, 2)).await.status(), 200);

        // The page reloaded; the same file is dropped again.
        let again: UploadTicket = request_large(&app, &cookie, "disk.img", &file, 42).await.json().await.unwrap();
        assert_eq!(again.upload_id, t.upload_id, "{engine:?}");
        match &again.send {
            SendPlan::Multipart { done, resumed, .. } => assert_eq!((done.as_slice(), *resumed), (&[2][..], true)),
            other => panic!("{other:?}"),
        }
        // Same name and size, other content (or another modification time): a new upload.
        let other = large_file(4);
        let fresh: UploadTicket = request_large(&app, &cookie, "disk.img", &other, 42).await.json().await.unwrap();
        assert_ne!(fresh.upload_id, t.upload_id);
        let touched: UploadTicket = request_large(&app, &cookie, "disk.img", &file, 43).await.json().await.unwrap();
        assert_ne!(touched.upload_id, t.upload_id);
        // Another user's identical file is not theirs to resume.
        let bob = app.sign_up("bob@x.io").await;
        let theirs: UploadTicket = request_large(&app, &bob, "disk.img", &file, 42).await.json().await.unwrap();
        assert_ne!(theirs.upload_id, t.upload_id);
    }
}

#[tokio::test]
async fn cancelling_a_multipart_upload_aborts_it_on_s3_and_the_reconciler_aborts_expired_ones() {
    let app = spawn_app_with(Engine::Sqlite, &LARGE).await;
    let cookie = app.sign_up("a@x.io").await;
    let file = large_file(5);
    let t: UploadTicket = request_large(&app, &cookie, "c.bin", &file, 1).await.json().await.unwrap();
    assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, 1, part(&file, 1)).await.status(), 200);
    let s3_id = row(&app, &t.upload_id).await.multipart_upload_id.unwrap();
    assert_eq!(app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await.status(), 200);
    let err = app.state.s3.list_parts(&t.object_key, &s3_id).await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
    assert_eq!(sign_parts(&app, &cookie, &t.upload_id, &[(2, sha256_b64(part(&file, 2)))]).await.status(), 409);

    // Abandoned: its time runs out and the reconciler aborts it.
    let t: UploadTicket = request_large(&app, &cookie, "abandoned.bin", &file, 2).await.json().await.unwrap();
    assert_eq!(put_part(&app, &cookie, &t.upload_id, &file, 1, part(&file, 1)).await.status(), 200);
    let s3_id = row(&app, &t.upload_id).await.multipart_upload_id.unwrap();
    sqlx::query("UPDATE uploads SET expires_at = 1 WHERE id = $1")
        .bind(&t.upload_id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let report = app::server::uploads::reconcile(&app.state.db, &app.state.s3, 100).await.unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Expired);
    let err = app.state.s3.list_parts(&t.object_key, &s3_id).await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
}

#[tokio::test]
async fn single_uploads_pin_the_sha256_so_other_bytes_are_refused_even_with_a_used_ticket() {
    for method in ["post", "put"] {
        let app = spawn_app_with(Engine::Sqlite, &[LIMITS[0], LIMITS[1], ("UPLOAD_METHOD", method)]).await;
        let cookie = app.sign_up("a@x.io").await;
        let t = ticket(&app, &cookie, "a.txt", 3, "text/plain").await;
        assert_eq!(matches!(t.send, SendPlan::Put { .. }), method == "put", "{:?}", t.send);
        let res = send_to_s3(&t, b"xyz").await;
        assert_eq!(res.status(), 400, "{method}: same size, other bytes");
        assert!(res.text().await.unwrap().contains("InvalidDigest"), "{method}");
        assert_eq!(app.state.s3.head_object(&t.object_key).await.unwrap(), None, "{method}: nothing stored");
        assert!(send_to_s3(&t, &filler(3)).await.status().is_success(), "{method}");
        let done: UploadRow = confirm(&app, &cookie, &t.upload_id).await.json().await.unwrap();
        assert_eq!(done.status, UploadStatus::Completed, "{method}");
        assert_eq!(done.checksum_sha256, Some(sha256_b64(&filler(3))), "{method}");
        // The ticket is still within its time: used again with other bytes, S3 refuses it.
        assert_eq!(send_to_s3(&t, b"xyz").await.status(), 400, "{method}");
        let got = reqwest::get(app.state.s3.bucket().presign_get(
            &t.object_key,
            None,
            app::server::s3::Expiry::secs(60).unwrap(),
            time::OffsetDateTime::now_utc(),
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        assert_eq!(&got[..], &filler(3)[..], "{method}: the stored bytes are the confirmed ones");
    }
    // Without a checksum no single-request ticket is given.
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("a@x.io").await;
    let res = app
        .call(
            "uploads/request",
            &[("file_name", "a.txt"), ("size", "3"), ("content_type", "text/plain")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(count_rows(&app).await, 0);
}

#[tokio::test]
async fn many_tickets_and_many_confirmations_each_answered_in_one_call() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let ann = app.sign_up("ann@x.io").await;
    let bob = app.sign_up("bob@x.io").await;
    let file = |name: &str, size: u64, ctype: &str| serde_json::json!({"file_name": name, "size": size, "content_type": ctype, "sha256": sha256_b64(&filler(size))});
    let files = serde_json::json!({"files": [
        file("one.txt", 10, "text/plain"),
        file("program.exe", 10, "application/x-msdownload"),
        file("two.txt", 2 << 20, "text/plain"),
        file("three.png", 30, "image/png"),
    ]});
    let res = app.call_json("uploads/request-many", files, Some(&ann)).await;
    assert_eq!(res.status(), 200);
    let answers: Vec<serde_json::Value> = res.json().await.unwrap();
    assert_eq!(answers.len(), 4, "one answer per file, in order");
    assert!(answers[1]["Err"]["message"].as_str().unwrap().contains("application/x-msdownload"), "{answers:?}");
    assert!(answers[2]["Err"]["message"].as_str().unwrap().contains("limit"), "{answers:?}");
    let tickets: Vec<UploadTicket> =
        [0, 3].iter().map(|&i| serde_json::from_value(answers[i]["Ok"].clone()).unwrap()).collect();
    // Only the accepted files have rows.
    assert_eq!(
        uploads::list_for_owner(&app.state.db, &row(&app, &tickets[0].upload_id).await.owner_id, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    assert_eq!(send_to_s3(&tickets[0], &filler(10)).await.status(), 201);
    assert_eq!(send_to_s3(&tickets[1], &filler(30)).await.status(), 201);
    let ids = serde_json::json!({"ids": [tickets[0].upload_id, "no-such-upload", tickets[1].upload_id]});
    // Another user's confirmations of these uploads find nothing of theirs.
    let res = app.call_json("uploads/confirm-many", ids.clone(), Some(&bob)).await;
    let answers: Vec<serde_json::Value> = res.json().await.unwrap();
    assert!(answers.iter().all(|a| a["Err"]["kind"] == "not_found"), "{answers:?}");
    assert_eq!(row(&app, &tickets[0].upload_id).await.status, UploadStatus::Pending);

    let res = app.call_json("uploads/confirm-many", ids, Some(&ann)).await;
    assert_eq!(res.status(), 200);
    let answers: Vec<serde_json::Value> = res.json().await.unwrap();
    assert_eq!(answers[0]["Ok"]["status"], "completed", "{answers:?}");
    assert_eq!(answers[1]["Err"]["kind"], "not_found");
    assert_eq!(answers[2]["Ok"]["status"], "completed");
    for t in &tickets {
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Completed);
    }
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_whole_and_writes_nothing() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let ann = app.sign_up("ann@x.io").await;
    let one = serde_json::json!({"file_name": "a.txt", "size": 10, "content_type": "text/plain", "sha256": sha256_b64(&filler(10))});
    let files = serde_json::json!({ "files": vec![one; app::model::MAX_BATCH + 1] });
    let res = app.call_json("uploads/request-many", files, Some(&ann)).await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("101 files"), "{body}");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(n, 0);
    let ids = serde_json::json!({ "ids": vec!["x"; app::model::MAX_BATCH + 1] });
    assert_eq!(app.call_json("uploads/confirm-many", ids, Some(&ann)).await.status(), 400);
    // Signed out, nothing at all.
    assert_eq!(app.call_json("uploads/confirm-many", serde_json::json!({"ids": []}), None).await.status(), 401);
}
