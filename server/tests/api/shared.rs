//! More than one server on one database, and what the database keeps exact under races: the
//! per-user ticket limit, sign-in lock-outs, the one-time admin invitation, reconcilers, and the
//! sweeps that leave no object unaccounted for.

use app::model::UploadStatus;
use app::server::uploads::{reconcile, sweep, SweepPage, UPLOADS_PER_MINUTE};

use futures::future::join_all;

use crate::helpers::*;
use crate::upload_flow::{confirm, request, row, send_to_s3, ticket, LIMITS};

async fn count_rows(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&app.state.db).await.unwrap();
    n
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let (id,): (String,) =
        sqlx::query_as("SELECT id FROM users WHERE email = $1").bind(email).fetch_one(&app.state.db).await.unwrap();
    id
}

on_both_engines! {
    /// 50 requests race for the last 20 tickets of the minute: exactly 20 are signed and recorded.
    async fn the_per_user_ticket_limit_is_exact_under_concurrent_requests(engine) {
        let app = spawn_app_with(engine, &LIMITS).await;
        let cookie = app.sign_up("race@x.io").await;
        let id = user_id(&app, "race@x.io").await;
        let left = 20;
        sqlx::query("UPDATE users SET ticket_window_start = $2, ticket_window_count = $3 WHERE id = $1")
            .bind(&id)
            .bind(app::server::db::now_millis())
            .bind(UPLOADS_PER_MINUTE - left)
            .execute(&app.state.db)
            .await
            .unwrap();
        let answers = join_all((0..50).map(|i| {
            let (app, cookie) = (&app, &cookie);
            async move { request(app, cookie, &format!("r{i}.txt"), 3, "text/plain").await.status().as_u16() }
        }))
        .await;
        let ok = answers.iter().filter(|s| **s == 200).count() as i64;
        let limited = answers.iter().filter(|s| **s == 429).count() as i64;
        assert_eq!((ok, limited), (left, 50 - left), "{engine:?}: {answers:?}");
        assert_eq!(count_rows(&app).await, left, "{engine:?}: a row for each ticket, none for a refusal");
    }
}

fn succeeded(status: reqwest::StatusCode) -> bool {
    status.is_success() || status.is_redirection()
}

on_both_engines! {
    /// Two servers on one database: a session made on one works on the other, failed sign-ins on
    /// both count together, and of two sign-ups racing with the one-time invitation (one on each
    /// server) exactly one makes the admin.
    async fn two_servers_share_sessions_lock_outs_and_the_one_time_invitation(engine) {
        let a = spawn_app_with(engine, &[]).await;
        let b = spawn_app_on(&a.database_url, &[]).await;
        let invite = a.state.admin_invite.lock().unwrap().clone().expect("no admin yet: an invitation");
        assert_eq!(b.state.admin_invite.lock().unwrap().as_deref(), Some(invite.as_str()), "the same link on both");

        let form_one = [("email", "one@x.io"), ("password", PASSWORD), ("invite", invite.as_str())];
        let form_two = [("email", "two@x.io"), ("password", PASSWORD), ("invite", invite.as_str())];
        let (one, two) = tokio::join!(a.call("auth/sign-up", &form_one, None), b.call("auth/sign-up", &form_two, None));
        let statuses = [one.status(), two.status()];
        assert_eq!(statuses.iter().filter(|s| succeeded(**s)).count(), 1, "{engine:?}: {statuses:?}");
        assert!(statuses.contains(&reqwest::StatusCode::FORBIDDEN), "{statuses:?}");
        assert_eq!(app::server::db::users::count_admins(&a.state.db).await.unwrap(), 1);
        let (winner, email) = if succeeded(one.status()) { (one, "one@x.io") } else { (two, "two@x.io") };

        // Made on one server, known on the other.
        let cookie = session_cookie(&winner).expect("a session");
        for app in [&a, &b] {
            let me: serde_json::Value = app.call("auth/me", &[], Some(&cookie)).await.json().await.unwrap();
            assert_eq!(me["email"], email);
            assert_eq!(me["role"], "admin");
        }

        // Five failures, alternating servers, lock the account on both.
        a.sign_up("locked@x.io").await;
        for i in 0..app::server::auth::ACCOUNT_LIMIT {
            let app = if i % 2 == 0 { &a } else { &b };
            let res = app.call("auth/sign-in", &[("email", "locked@x.io"), ("password", "wrong password")], None).await;
            assert_eq!(res.status(), 401, "attempt {i}");
        }
        for app in [&a, &b] {
            let res = app.call("auth/sign-in", &[("email", "locked@x.io"), ("password", PASSWORD)], None).await;
            assert_eq!(res.status(), 429, "{engine:?}: locked out on every server");
        }
        // Failures older than the window are pruned by the reconciler: the table stays bounded.
        sqlx::query("UPDATE sign_in_failures SET at = 0").execute(&a.state.db).await.unwrap();
        let report = reconcile(&b.state.db, &b.state.s3, 100).await.unwrap();
        assert!(report.attempts_pruned >= app::server::auth::ACCOUNT_LIMIT as u64, "{report:?}");
        let res = b.call("auth/sign-in", &[("email", "locked@x.io"), ("password", PASSWORD)], None).await;
        assert!(succeeded(res.status()), "{}", res.status());
    }
}

on_both_engines! {
    /// Reconcilers of two servers run at once over the same expired uploads: each row changes once.
    async fn reconcilers_on_two_servers_change_each_row_once(engine) {
        let a = spawn_app_with(engine, &LIMITS).await;
        let b = spawn_app_on(&a.database_url, &LIMITS).await;
        log_status_changes(&a).await;
        let cookie = a.sign_up("rec@x.io").await;
        let mut ids = vec![];
        for i in 0..6u64 {
            let t = ticket(&a, &cookie, &format!("r{i}.txt"), 10 + i, "text/plain").await;
            if i % 2 == 0 {
                let res = send_to_s3(&t, &crate::upload_flow::filler(10 + i)).await;
                assert!(res.status().is_success(), "{}", res.status());
            }
            ids.push(t.upload_id);
        }
        sqlx::query("UPDATE uploads SET expires_at = 0").execute(&a.state.db).await.unwrap();
        let (ra, rb) = tokio::join!(reconcile(&a.state.db, &a.state.s3, 100), reconcile(&b.state.db, &b.state.s3, 100));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!((ra.completed + rb.completed, ra.expired + rb.expired), (3, 3), "{engine:?}: {ra:?} {rb:?}");
        for (i, id) in ids.iter().enumerate() {
            let want = if i % 2 == 0 { "pending -> completed" } else { "pending -> expired" };
            assert_eq!(status_changes(&a, id).await, vec![want.to_owned()], "{engine:?}: row {i}");
        }
    }
}

#[tokio::test]
async fn an_object_sent_with_a_cancelled_ticket_is_deleted_once_the_ticket_lapses() {
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("late@x.io").await;
    let t = ticket(&app, &cookie, "late.txt", 5, "text/plain").await;
    assert_eq!(app.call("uploads/cancel", &[("id", &t.upload_id)], Some(&cookie)).await.status(), 200);
    // S3 cannot revoke a signature: until it lapses, the ticket still stores the file.
    let res = send_to_s3(&t, &crate::upload_flow::filler(5)).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert!(app.state.s3.head_object(&t.object_key).await.unwrap().is_some());
    assert_eq!(confirm(&app, &cookie, &t.upload_id).await.status(), 409, "a cancelled upload is not confirmed");

    let early = reconcile(&app.state.db, &app.state.s3, 100).await.unwrap();
    assert_eq!(early.cleared, 0, "the ticket still works: the key is left alone");
    sqlx::query("UPDATE uploads SET expires_at = 0").execute(&app.state.db).await.unwrap();
    let report = reconcile(&app.state.db, &app.state.s3, 100).await.unwrap();
    assert_eq!(report.cleared, 1, "{report:?}");
    assert!(app.state.s3.head_object(&t.object_key).await.unwrap().is_none(), "the late object is gone");
    assert_eq!(row(&app, &t.upload_id).await.status, UploadStatus::Cancelled);
    assert_eq!(reconcile(&app.state.db, &app.state.s3, 100).await.unwrap().cleared, 0, "cleared once");
}

#[tokio::test]
async fn the_sweep_records_objects_without_a_row_as_their_owners_completed_uploads() {
    use app::server::s3::{Expiry, PutConstraints};
    let app = spawn_app_with(Engine::Sqlite, &LIMITS).await;
    let cookie = app.sign_up("orphan@x.io").await;
    let owner = user_id(&app, "orphan@x.io").await;
    let put = |key: String, body: &'static [u8]| {
        let c = PutConstraints {
            content_type: "text/plain".into(),
            content_length: body.len() as u64,
            checksum_sha256: None,
        };
        let req =
            app.state.s3.bucket().presign_put(&key, &c, Expiry::secs(60).unwrap(), time::OffsetDateTime::now_utc());
        async move {
            let mut put = reqwest::Client::new().put(&req.url).body(body);
            for (n, v) in &req.headers {
                put = put.header(n.as_str(), v.as_str());
            }
            assert!(put.send().await.unwrap().status().is_success(), "{key}");
        }
    };
    // A form upload whose redirect never reached us: an object, no row.
    let lost_id = uuid::Uuid::new_v4().to_string();
    put(format!("uploads/{owner}/{lost_id}/lost report.txt"), b"lost").await;
    // A key the app could not have made.
    put(format!("uploads/{owner}/not-an-upload-id/odd.txt"), b"odd").await;
    // An upload the app knows.
    let t = ticket(&app, &cookie, "known.txt", 7, "text/plain").await;
    assert!(send_to_s3(&t, &crate::upload_flow::filler(7)).await.status().is_success());
    assert_eq!(confirm(&app, &cookie, &t.upload_id).await.status(), 200);

    let prefix = format!("uploads/{owner}/");
    let now = app::server::db::now_millis();
    let page = |stored_before| SweepPage { prefix: &prefix, after: None, max_keys: 1000, stored_before };
    // Within the grace period a missing row may still be on its way: nothing is recorded.
    let (early, _) = sweep(&app.state.db, &app.state.s3, &page(now - 60_000)).await.unwrap();
    assert_eq!((early.listed, early.recorded), (3, 0), "{early:?}");

    let (report, next) = sweep(&app.state.db, &app.state.s3, &page(now + 60_000)).await.unwrap();
    assert_eq!((report.listed, report.recorded, report.unowned, report.errors), (3, 1, 1, 0), "{report:?}");
    assert_eq!(next, None);
    let found = row(&app, &lost_id).await;
    assert_eq!(found.status, UploadStatus::Completed);
    assert_eq!((found.owner_id.as_str(), found.file_name.as_str()), (owner.as_str(), "lost report.txt"));
    assert_eq!(found.confirmed_size, Some(4));
    assert!(found.found_at.is_some(), "marked as found by the sweep");
    assert!(row(&app, &t.upload_id).await.found_at.is_none());

    let (again, _) = sweep(&app.state.db, &app.state.s3, &page(now + 60_000)).await.unwrap();
    assert_eq!(again.recorded, 0, "recorded once");
    // Paged: one object a page, three pages, the same outcome.
    let mut after = None;
    let mut listed = 0;
    loop {
        let p = SweepPage { prefix: &prefix, after: after.as_deref(), max_keys: 1, stored_before: now + 60_000 };
        let (r, next) = sweep(&app.state.db, &app.state.s3, &p).await.unwrap();
        listed += r.listed;
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(listed, 3);
}

on_both_engines! {
    /// The admin's name search goes through its index (FTS5 trigrams on SQLite, 3- and 5-grams
    /// on PostgreSQL) and still finds exactly the names holding the text, in any case; short or
    /// odd text too.
    async fn the_name_search_finds_any_part_of_a_name_through_the_index(engine) {
        use app::model::HistoryFilter;
        let app = spawn_app_with(engine, &LIMITS).await;
        let cookie = app.sign_up("names@x.io").await;
        for name in ["Quarterly Report.txt", "quarterly-notes.txt", "other.txt", "say \"hi\".txt", "aba-bab.txt", "50%_off.txt"] {
            assert_eq!(request(&app, &cookie, name, 3, "text/plain").await.status(), 200, "{name}");
        }
        let find = |text: &str| {
            let filter = HistoryFilter { name: Some(text.to_owned()), ..Default::default() };
            let db = app.state.db.clone();
            async move {
                let page = app::server::db::history::page(&db, &filter, 50).await.unwrap();
                let mut names: Vec<String> = page.rows.into_iter().map(|r| r.upload.file_name).collect();
                names.sort();
                names
            }
        };
        assert_eq!(find("ARTERLY").await, ["Quarterly Report.txt", "quarterly-notes.txt"], "{engine:?}");
        assert_eq!(find("rt.t").await, ["Quarterly Report.txt"], "{engine:?}");
        assert_eq!(find("y-").await, ["quarterly-notes.txt"], "{engine:?}: two characters, no trigram");
        assert_eq!(find("\"hi\"").await, ["say \"hi\".txt"], "{engine:?}: quotes are text");
        assert!(find("nothing like it").await.is_empty());
        assert_eq!(find("PORT").await, ["Quarterly Report.txt"], "{engine:?}: four characters");
        assert_eq!(find("rly-N").await, ["quarterly-notes.txt"], "{engine:?}");
        assert!(find("abab").await.is_empty(), "{engine:?}: each gram is in a name, the text is not");
        assert_eq!(find("%_o").await, ["50%_off.txt"], "{engine:?}: % and _ are text");
        // Small pages: text in more names than a page holds is answered from the newest rows on
        // SQLite (`history::newest_name_matches`), the rest of it by the index, in one order.
        let pages = |text: &str, sort: app::model::HistorySort| {
            let db = app.state.db.clone();
            let text = text.to_owned();
            async move {
                let mut filter = HistoryFilter { name: Some(text), sort, ..Default::default() };
                let mut names = vec![];
                loop {
                    let page = app::server::db::history::page(&db, &filter, 2).await.unwrap();
                    names.extend(page.rows.into_iter().map(|r| r.upload.file_name));
                    match page.next {
                        Some(next) => filter.after = Some(next),
                        None => return names,
                    }
                }
            }
        };
        let newest_first = ["50%_off.txt", "aba-bab.txt", "say \"hi\".txt", "other.txt", "quarterly-notes.txt", "Quarterly Report.txt"];
        assert_eq!(pages(".TXT", Default::default()).await, newest_first, "{engine:?}");
        assert_eq!(pages("arterly", Default::default()).await, newest_first[4..], "{engine:?}");
        // Every file is 3 bytes: by size, the ids order them, newest first again.
        assert_eq!(pages("txt", app::model::HistorySort::Size).await, newest_first, "{engine:?}");
        if engine == Engine::Postgres {
            // The grams' index answers (a table this small is scanned unless the planner is told not to).
            let mut tx = app.state.db.begin().await.unwrap();
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await.unwrap();
            let plan: Vec<(String,)> = sqlx::query_as(
                "EXPLAIN SELECT id FROM uploads \
                 WHERE upload_name_grams(LOWER(file_name)) @> upload_name_pattern_grams(LOWER('ARTERLY'))",
            )
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            assert!(plan.iter().any(|(line,)| line.contains("uploads_name_grams")), "{plan:?}");
        }
        if engine == Engine::Sqlite {
            // The index is the one answering, not a scan.
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
                "EXPLAIN QUERY PLAN SELECT rowid FROM uploads_names WHERE uploads_names MATCH '\"arterly\"'",
            )
            .fetch_all(&app.state.db)
            .await
            .unwrap();
            assert!(plan.iter().any(|p| p.3.contains("VIRTUAL TABLE INDEX")), "{plan:?}");
        }
    }
}
