//! S3 misbehaving (5xx, no answer, a HEAD without an ETag, a refused DELETE) and requests racing
//! on the same row, through a fault-injecting proxy between the app and the local Garage.

use std::time::{Duration, Instant};

use app::model::{UploadRow, UploadStatus, UploadTicket};
use app::server::uploads::{self as service, ReconcileReport};
use reqwest::Method;

use crate::helpers::*;
use crate::upload_flow::{
    confirm, count_rows, filler, location, plain_form, plain_form_key, post_plain_form, row, send_to_s3, ticket, LIMITS,
};

/// What the app answers when S3 did not: the same words whatever went wrong.
const UNAVAILABLE: &str = "The storage service did not answer; please try again.";

/// Every way S3 can fail a HEAD that the claims are about.
const HEAD_FAULTS: [Fault; 4] = [Fault::Status(500), Fault::Status(503), Fault::Hang, Fault::StripEtag];

/// An app whose S3 calls all go through a fresh proxy and give up after 2 seconds.
async fn app_behind_proxy(engine: Engine) -> (TestApp, S3Proxy) {
    let proxy = S3Proxy::start().await;
    let app =
        spawn_app_with(engine, &[LIMITS[0], LIMITS[1], ("S3_ENDPOINT", &proxy.url), ("S3_TIMEOUT_SECS", "2")]).await;
    assert_eq!(app.state.s3.timeout(), Duration::from_secs(2));
    (app, proxy)
}

/// A ticket whose object S3 has (sent through the proxy, which passes everything yet).
async fn uploaded(app: &TestApp, cookie: &str, name: &str) -> UploadTicket {
    let t = ticket(app, cookie, name, 3, "text/plain").await;
    assert_eq!(send_to_s3(&t, &filler(3)).await.status(), 201);
    t
}

/// The landing URL S3 redirects to for `key`.
fn landing_url(app: &TestApp, key: &str) -> String {
    app.url(&format!(
        "/uploads/landing?bucket={}&key={}",
        app.state.config.s3.bucket,
        app::server::s3::sigv4::uri_encode(key, true)
    ))
}

async fn land(app: &TestApp, cookie: &str, url: &str) -> String {
    let res = app.http.get(url).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    location(&res)
}

fn error_redirect(message: &str) -> String {
    format!("/profile?error={}", app::server::s3::sigv4::uri_encode(message, true))
}

/// A fault must have been met, and a hanging S3 must not hold the caller longer than the timeout.
fn check_fault_met(proxy: &S3Proxy, hits_before: usize, fault: Fault, took: Duration) {
    assert!(proxy.hits() > hits_before, "{fault:?}: the request went through the fault");
    assert!(took < Duration::from_secs(10), "{fault:?}: took {took:?}; the S3 timeout is 2 s");
}

// ---- S3 failing during confirm, landing and the reconciler -------------------------------------

#[tokio::test]
async fn confirm_answers_503_and_leaves_the_row_pending_when_s3_fails_the_head() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    for fault in HEAD_FAULTS {
        let t = uploaded(&app, &cookie, "a.txt").await;
        proxy.inject(Method::HEAD, "/uploads/", fault);
        let (hits, start) = (proxy.hits(), Instant::now());
        let res = confirm(&app, &cookie, &t.upload_id).await;
        check_fault_met(&proxy, hits, fault, start.elapsed());
        assert_eq!(res.status(), 503, "{fault:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!((body["kind"].as_str(), body["message"].as_str()), (Some("unavailable"), Some(UNAVAILABLE)));
        let r = row(&app, &t.upload_id).await;
        assert_eq!((r.status, r.etag, r.confirmed_at), (UploadStatus::Pending, None, None), "{fault:?}");
        // S3 back: the same confirmation completes it.
        proxy.heal();
        let done: UploadRow = confirm(&app, &cookie, &t.upload_id).await.json().await.unwrap();
        assert_eq!(done.status, UploadStatus::Completed, "{fault:?}");
    }
}

#[tokio::test]
async fn the_landing_route_redirects_with_the_error_and_completes_nothing_when_s3_fails_the_head() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    for fault in HEAD_FAULTS {
        // A form upload: no row until its landing.
        let form = plain_form(&app, &cookie).await;
        let res = post_plain_form(&app, &form, "form.txt", b"sent without JavaScript").await;
        assert_eq!(res.status(), 303);
        let landing = location(&res);
        // A dropzone upload landed by key: its row exists and is pending.
        let t = uploaded(&app, &cookie, "drop.txt").await;
        let rows_before = count_rows(&app).await;

        proxy.inject(Method::HEAD, "/uploads/", fault);
        for url in [landing.clone(), landing_url(&app, &t.object_key)] {
            let (hits, start) = (proxy.hits(), Instant::now());
            let back = land(&app, &cookie, &url).await;
            check_fault_met(&proxy, hits, fault, start.elapsed());
            assert_eq!(back, error_redirect(UNAVAILABLE), "{fault:?}");
        }
        assert_eq!(count_rows(&app).await, rows_before, "{fault:?}: the form upload is not recorded yet");
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending, "{fault:?}");

        // S3 back: landing again (a reload) completes both.
        proxy.heal();
        assert!(land(&app, &cookie, &landing).await.starts_with("/profile?uploaded=form.txt"), "{fault:?}");
        assert!(land(&app, &cookie, &landing_url(&app, &t.object_key)).await.starts_with("/profile?uploaded="));
        let key = plain_form_key(&form, "form.txt");
        let landed = app::server::db::uploads::by_key(&app.state.db, &key).await.unwrap().unwrap();
        assert_eq!(landed.status, UploadStatus::Completed, "{fault:?}");
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Completed, "{fault:?}");
    }
}

#[tokio::test]
async fn the_reconciler_counts_an_error_and_leaves_the_row_pending_when_s3_fails_the_head() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    for fault in HEAD_FAULTS {
        // Sent, never confirmed, and its signature has expired: the reconciler's to settle.
        let t = uploaded(&app, &cookie, "late.txt").await;
        sqlx::query("UPDATE uploads SET expires_at = 1 WHERE id = $1")
            .bind(&t.upload_id)
            .execute(&app.state.db)
            .await
            .unwrap();
        proxy.inject(Method::HEAD, "/uploads/", fault);
        let (hits, start) = (proxy.hits(), Instant::now());
        let report = service::reconcile(&app.state.db, &app.state.s3, 100).await.unwrap();
        check_fault_met(&proxy, hits, fault, start.elapsed());
        assert_eq!(report, ReconcileReport { errors: 1, ..Default::default() }, "{fault:?}");
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Pending, "{fault:?}");
        assert!(app.state.s3.head_object(&t.object_key).await.is_err(), "{fault:?}: S3 is still failing");
        proxy.heal();
        assert!(app.state.s3.head_object(&t.object_key).await.unwrap().is_some(), "{fault:?}: nothing was deleted");
        let report = service::reconcile(&app.state.db, &app.state.s3, 100).await.unwrap();
        assert_eq!(report, ReconcileReport { completed: 1, ..Default::default() }, "{fault:?}");
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Completed, "{fault:?}");
    }
}

// ---- A DELETE the credentials are not allowed ---------------------------------------------------

#[tokio::test]
async fn cancel_says_so_when_s3_refuses_to_delete_the_stored_file() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    let t = uploaded(&app, &cookie, "a.txt").await;
    // What S3 answers credentials without s3:DeleteObject.
    proxy.inject(Method::DELETE, "/uploads/", Fault::Status(403));
    let res = app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await;
    assert_eq!(proxy.hits(), 1, "cancel asked S3 to delete the object");
    assert_eq!(res.status(), 200);
    let cancelled: UploadRow = res.json().await.unwrap();
    assert_eq!(cancelled.status, UploadStatus::Cancelled);
    assert_eq!(
        cancelled.error.as_deref(),
        Some("cancelled by the user; the stored file could not be removed yet (the operator will remove it)")
    );
    assert_eq!(row(&app, &t.upload_id).await, cancelled, "the row says the same");
    assert!(app.state.s3.head_object(&t.object_key).await.unwrap().is_some(), "the file is still there");

    // When S3 deletes it, the reason is the plain one.
    proxy.heal();
    let t = uploaded(&app, &cookie, "b.txt").await;
    let cancelled: UploadRow =
        app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await.json().await.unwrap();
    assert_eq!(cancelled.error.as_deref(), Some("cancelled by the user"));
    assert_eq!(app.state.s3.head_object(&t.object_key).await.unwrap(), None);
}

#[tokio::test]
async fn cancelling_a_multipart_upload_says_so_when_s3_refuses_to_abort_it() {
    let proxy = S3Proxy::start().await;
    let app = spawn_app_with(
        Engine::Sqlite,
        &[("UPLOAD_MAX_BYTES", "64MiB"), ("UPLOAD_MULTIPART_THRESHOLD", "8MiB"), ("S3_ENDPOINT", &proxy.url)],
    )
    .await;
    let cookie = app.sign_up("a@x.io").await;
    let size = (9 << 20).to_string();
    let form = [
        ("file_name", "big.bin"),
        ("size", size.as_str()),
        ("content_type", "application/octet-stream"),
        ("last_modified", "1"),
        ("first_part_sha256", &sha256_b64(b"first part")),
    ];
    let t: UploadTicket = app.call("uploads/request", &form, Some(&cookie)).await.json().await.unwrap();
    let s3_id = row(&app, &t.upload_id).await.multipart_upload_id.unwrap();
    proxy.inject(Method::DELETE, "/uploads/", Fault::Status(500));
    let cancelled: UploadRow =
        app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await.json().await.unwrap();
    assert_eq!(cancelled.status, UploadStatus::Cancelled);
    assert_eq!(
        cancelled.error.as_deref(),
        Some(
            "cancelled by the user; the parts already sent could not be removed yet (the bucket's lifecycle rule or \
             the operator will remove them)"
        )
    );
    proxy.heal();
    assert!(app.state.s3.list_parts(&t.object_key, &s3_id).await.is_ok(), "the multipart upload is still there");
    app.state.s3.abort_multipart_upload(&t.object_key, &s3_id).await.unwrap();
}

#[tokio::test]
async fn a_refused_type_that_s3_does_not_delete_is_recorded_failed_and_says_the_file_is_still_there() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    let form = plain_form(&app, &cookie).await;
    let key = plain_form_key(&form, "page.html");
    let res = post_plain_form(&app, &form, "page.html", b"<p>hi</p>").await;
    proxy.inject(Method::DELETE, "/uploads/", Fault::Status(403));
    let back = land(&app, &cookie, &location(&res)).await;
    assert_eq!(back, error_redirect("page.html: files of type text/html are not accepted."));
    let r = app::server::db::uploads::by_key(&app.state.db, &key).await.unwrap().unwrap();
    assert_eq!(r.status, UploadStatus::Failed);
    assert_eq!(
        r.error.as_deref(),
        Some("files of type text/html are not accepted; the stored file could not be removed yet (the operator will remove it)")
    );
    assert!(app.state.s3.head_object(&key).await.unwrap().is_some());
}

// ---- Races on one row ---------------------------------------------------------------------------

/// S3's HEAD answers are held this long, so two requests are both past their HEAD at once.
const HOLD: Duration = Duration::from_millis(400);

on_both_engines! {
    async fn confirm_and_cancel_at_once_change_the_row_once_and_agree_with_the_bucket(engine) {
        let (app, proxy) = app_behind_proxy(engine).await;
        log_status_changes(&app).await;
        let cookie = app.sign_up("a@x.io").await;

        // Cancel lands while confirm's HEAD (which saw the object) is on its way back.
        let t = uploaded(&app, &cookie, "a.txt").await;
        proxy.inject(Method::HEAD, "/uploads/", Fault::Delay(HOLD));
        let (confirmed, cancelled) = tokio::join!(confirm(&app, &cookie, &t.upload_id), async {
            tokio::time::sleep(HOLD / 3).await;
            app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await
        });
        assert_eq!(cancelled.status(), 200, "{engine:?}");
        assert_eq!(confirmed.status(), 409, "{engine:?}");
        assert!(confirmed.text().await.unwrap().contains("This upload is cancelled."));
        assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Cancelled, "{engine:?}");
        assert_eq!(status_changes(&app, &t.upload_id).await, ["pending -> cancelled"], "{engine:?}");
        proxy.heal();
        assert_eq!(app.state.s3.head_object(&t.object_key).await.unwrap(), None, "{engine:?}: and the object is gone");

        // Both at the same moment: whichever wins, the row changed once and matches the bucket.
        for i in 0..3 {
            let t = uploaded(&app, &cookie, &format!("r{i}.txt")).await;
            let id = [("id", t.upload_id.as_str())];
            let (confirmed, cancelled) =
                tokio::join!(confirm(&app, &cookie, &t.upload_id), app.call("uploads/cancel", &id, Some(&cookie)));
            let r = row(&app, &t.upload_id).await;
            let stored = app.state.s3.head_object(&t.object_key).await.unwrap();
            assert_eq!(status_changes(&app, &t.upload_id).await.len(), 1, "{engine:?}");
            match r.status {
                UploadStatus::Completed => {
                    assert_eq!(confirmed.status(), 200, "{engine:?}");
                    assert_eq!(cancelled.status(), 409);
                    let said = cancelled.text().await.unwrap();
                    assert!(said.contains("This upload is already completed."), "{engine:?}: {said}");
                    assert_eq!(stored.map(|s| Some(s.etag)), Some(r.etag), "{engine:?}: the object stays");
                }
                UploadStatus::Cancelled => {
                    assert_eq!(cancelled.status(), 200, "{engine:?}");
                    assert_eq!(confirmed.status(), 409);
                    assert_eq!(stored, None, "{engine:?}: the object is gone");
                }
                other => panic!("{engine:?}: {other:?}"),
            }
        }
    }
}

on_both_engines! {
    async fn cancel_after_confirm_is_refused_and_the_row_and_the_object_stay(engine) {
        let (app, _proxy) = app_behind_proxy(engine).await;
        log_status_changes(&app).await;
        let cookie = app.sign_up("a@x.io").await;
        let t = uploaded(&app, &cookie, "a.txt").await;
        let done: UploadRow = confirm(&app, &cookie, &t.upload_id).await.json().await.unwrap();
        assert_eq!(done.status, UploadStatus::Completed);
        let res = app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await;
        assert_eq!(res.status(), 409, "{engine:?}");
        assert!(res.text().await.unwrap().contains("This upload is already completed."));
        assert_eq!(row(&app, &t.upload_id).await, done, "{engine:?}: the row is untouched");
        assert_eq!(status_changes(&app, &t.upload_id).await, ["pending -> completed"], "{engine:?}");
        let stored = app.state.s3.head_object(&t.object_key).await.unwrap().expect("the object stays");
        assert_eq!(Some(stored.etag), done.etag);
    }
}

on_both_engines! {
    async fn confirm_and_landing_at_once_complete_the_row_once(engine) {
        let (app, proxy) = app_behind_proxy(engine).await;
        log_status_changes(&app).await;
        let cookie = app.sign_up("a@x.io").await;
        let t = uploaded(&app, &cookie, "a.txt").await;
        proxy.inject(Method::HEAD, "/uploads/", Fault::Delay(HOLD));
        let landing = landing_url(&app, &t.object_key);
        let (confirmed, landed) = tokio::join!(confirm(&app, &cookie, &t.upload_id), land(&app, &cookie, &landing));
        assert_eq!(proxy.hits(), 2, "{engine:?}: both looked at the object");
        assert_eq!(confirmed.status(), 200, "{engine:?}");
        let confirmed: UploadRow = confirmed.json().await.unwrap();
        assert!(landed.starts_with("/profile?uploaded=a.txt"), "{engine:?}: {landed}");
        assert_eq!(confirmed.status, UploadStatus::Completed);
        assert_eq!(row(&app, &t.upload_id).await, confirmed, "{engine:?}");
        assert_eq!(status_changes(&app, &t.upload_id).await, ["pending -> completed"], "{engine:?}");
    }
}

on_both_engines! {
    async fn the_landing_route_and_the_reconciler_at_once_complete_the_row_once(engine) {
        let (app, proxy) = app_behind_proxy(engine).await;
        log_status_changes(&app).await;
        let cookie = app.sign_up("a@x.io").await;
        let form = plain_form(&app, &cookie).await;
        let res = post_plain_form(&app, &form, "form.txt", b"sent without JavaScript").await;
        let landing = location(&res);
        // The landing records the row after its first HEAD and completes it after its second; the
        // reconciler finds the row (recorded as already expired) in between.
        proxy.inject(Method::HEAD, "/uploads/", Fault::Delay(HOLD));
        let (landed, report) = tokio::join!(land(&app, &cookie, &landing), async {
            tokio::time::sleep(HOLD + HOLD / 2).await;
            service::reconcile(&app.state.db, &app.state.s3, 100).await.unwrap()
        });
        assert!(landed.starts_with("/profile?uploaded=form.txt"), "{engine:?}: {landed}");
        assert_eq!((report.expired, report.failed, report.errors), (0, 0, 0), "{engine:?}: {report:?}");
        assert!(report.completed <= 1);
        let r = app::server::db::uploads::by_key(&app.state.db, &plain_form_key(&form, "form.txt"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, UploadStatus::Completed, "{engine:?}");
        assert_eq!(status_changes(&app, &r.id).await, ["pending -> completed"], "{engine:?}");
        let stored = app.state.s3.head_object(&r.object_key).await.unwrap().unwrap();
        assert_eq!(Some(stored.etag), r.etag);
    }
}

on_both_engines! {
    async fn two_landings_of_one_key_record_one_row_completed_once(engine) {
        let (app, proxy) = app_behind_proxy(engine).await;
        log_status_changes(&app).await;
        let cookie = app.sign_up("a@x.io").await;
        let form = plain_form(&app, &cookie).await;
        let res = post_plain_form(&app, &form, "twice.txt", b"landed twice").await;
        let landing = location(&res);
        // A double reload: both HEAD the object before either records it.
        proxy.inject(Method::HEAD, "/uploads/", Fault::Delay(HOLD));
        let (a, b) = tokio::join!(land(&app, &cookie, &landing), land(&app, &cookie, &landing));
        assert!(a.starts_with("/profile?uploaded=twice.txt"), "{engine:?}: {a}");
        assert!(b.starts_with("/profile?uploaded=twice.txt"), "{engine:?}: {b}");
        assert_eq!(count_rows(&app).await, 1, "{engine:?}");
        let r = app::server::db::uploads::by_key(&app.state.db, &plain_form_key(&form, "twice.txt"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, UploadStatus::Completed, "{engine:?}");
        assert_eq!(status_changes(&app, &r.id).await, ["pending -> completed"], "{engine:?}");
    }
}

#[tokio::test]
async fn a_landing_key_with_dot_segments_is_refused_before_any_call_to_s3() {
    let (app, proxy) = app_behind_proxy(Engine::Sqlite).await;
    let cookie = app.sign_up("a@x.io").await;
    let me: serde_json::Value = app.call("auth/me", &[], Some(&cookie)).await.json().await.unwrap();
    let own = format!("uploads/{}", me["id"].as_str().unwrap());
    let folder = uuid::Uuid::new_v4();
    // Every HEAD would be answered 500 and counted: none may be tried.
    proxy.inject(reqwest::Method::HEAD, "/", Fault::Status(500));
    for key in [
        format!("{own}/{folder}/../x.txt"),
        format!("{own}/../other/{folder}/x.txt"),
        format!("{own}/./{folder}/x.txt"),
        format!("{own}//{folder}/x.txt"),
        format!("{own}/{folder}/a\u{1}.txt"),
    ] {
        let res = app.http.get(landing_url(&app, &key)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303, "{key:?}");
        assert!(location(&res).starts_with("/profile?error="), "{key:?}: {}", location(&res));
    }
    assert_eq!(proxy.hits(), 0, "no HEAD reached S3");
    assert_eq!(count_rows(&app).await, 0);
    // A well-formed key of the user's own still gets its HEAD (and the fault).
    let res = app
        .http
        .get(landing_url(&app, &format!("{own}/{folder}/x.txt")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(proxy.hits(), 1);
}
