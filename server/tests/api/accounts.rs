//! Accounts, sessions, authorisation and the admin history, on SQLite and PostgreSQL.

use app::model::{HistoryFilter, HistoryPage, HistorySort, Role, SigningMethod, UploadStatus};
use app::server::db::{self, uploads, users};

use crate::helpers::*;

async fn me(app: &TestApp, cookie: Option<&str>) -> serde_json::Value {
    let res = app.call("auth/me", &[], cookie).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

on_both_engines! {
    async fn a_new_account_is_signed_in_and_signing_out_ends_the_session(engine) {
        let app = spawn_app_with(engine, &[]).await;
        let cookie = app.sign_up("Ada@Example.com").await;
        assert_eq!(me(&app, Some(&cookie)).await["email"], "ada@example.com", "{engine:?}");
        assert_eq!(me(&app, Some(&cookie)).await["role"], "user");
        let res = app.call("auth/sign-out", &[], Some(&cookie)).await;
        assert!(res.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().contains("Max-Age=0")));
        assert_eq!(me(&app, Some(&cookie)).await, serde_json::Value::Null, "{engine:?}: the old cookie is dead");
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let res = app.call("auth/sign-up", &[("email", "a@x.io"), ("password", PASSWORD)], None).await;
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"), "{set}");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    app.sign_up("a@x.io").await;
    let user = users::by_email(&app.state.db, &email("a@x.io")).await.unwrap().unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"), "{}", user.password_hash);
    assert!(!user.password_hash.contains(PASSWORD));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    app.sign_up("a@x.io").await;
    let wrong = app.call("auth/sign-in", &[("email", "a@x.io"), ("password", "not the password")], None).await;
    let unknown = app.call("auth/sign-in", &[("email", "b@x.io"), ("password", "not the password")], None).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
    let ok = app.call("auth/sign-in", &[("email", "A@X.io"), ("password", PASSWORD)], None).await;
    assert!(session_cookie(&ok).is_some());
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while_even_with_the_right_password() {
    let app = spawn_app().await;
    app.sign_up("a@x.io").await;
    for _ in 0..5 {
        assert_eq!(
            app.call("auth/sign-in", &[("email", "a@x.io"), ("password", "wrong password")], None).await.status(),
            401
        );
    }
    let res = app.call("auth/sign-in", &[("email", "a@x.io"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), 429);
    assert!(session_cookie(&res).is_none());
}

async fn failed_sign_ins_from(app: &TestApp, forwarded_for: &str, n: usize) -> reqwest::StatusCode {
    let mut last = reqwest::StatusCode::OK;
    for i in 0..n {
        let email = format!("nobody{i}@x.io");
        last = app
            .http
            .post(app.url("/api/auth/sign-in"))
            .header("origin", &app.base_url)
            .header("x-forwarded-for", forwarded_for)
            .form(&[("email", email.as_str()), ("password", "wrong password")])
            .send()
            .await
            .unwrap()
            .status();
    }
    last
}

#[tokio::test]
async fn many_failures_from_one_address_lock_that_address_out() {
    let app = spawn_app().await;
    app.sign_up("a@x.io").await;
    assert_eq!(failed_sign_ins_from(&app, "203.0.113.7", 20).await, 401);
    // Forwarded-for is not trusted by default: all of this came from 127.0.0.1, which is now locked.
    let res = app.call("auth/sign-in", &[("email", "a@x.io"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_addresses_are_told_apart_by_x_forwarded_for() {
    let app = spawn_app_with(Engine::Sqlite, &[("TRUST_FORWARDED_FOR", "true")]).await;
    app.sign_up("a@x.io").await;
    assert_eq!(failed_sign_ins_from(&app, "203.0.113.7", 20).await, 401);
    assert_eq!(failed_sign_ins_from(&app, "203.0.113.7", 1).await, 429, "that address is locked");
    let other = app
        .http
        .post(app.url("/api/auth/sign-in"))
        .header("origin", &app.base_url)
        .header("x-forwarded-for", "198.51.100.1, 10.0.0.1")
        .form(&[("email", "a@x.io"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&other).is_some(), "another client behind the same proxy still signs in");
}

on_both_engines! {
    async fn an_expired_session_is_not_a_session(engine) {
        let app = spawn_app_with(engine, &[]).await;
        app.sign_up("a@x.io").await;
        let user = users::by_email(&app.state.db, &email("a@x.io")).await.unwrap().unwrap();
        let token = app::server::auth::new_token();
        db::sessions::create(&app.state.db, &app::server::auth::token_hash(&token), &user.id, db::now_millis() - 1)
            .await
            .unwrap();
        assert_eq!(me(&app, Some(&format!("s3drop_session={token}"))).await, serde_json::Value::Null, "{engine:?}");
    }
}

#[tokio::test]
async fn sign_up_checks_its_input_and_refuses_duplicates() {
    let app = spawn_app().await;
    assert_eq!(
        app.call("auth/sign-up", &[("email", "not-an-email"), ("password", PASSWORD)], None).await.status(),
        400
    );
    assert_eq!(app.call("auth/sign-up", &[("email", "a@x.io"), ("password", "short")], None).await.status(), 400);
    app.sign_up("a@x.io").await;
    assert_eq!(app.call("auth/sign-up", &[("email", "A@x.io"), ("password", PASSWORD)], None).await.status(), 409);
}

#[tokio::test]
async fn closed_sign_up_refuses_newcomers_but_the_admin_invitation_still_works_once() {
    let app = spawn_app_with(Engine::Sqlite, &[("SIGNUP_ENABLED", "false")]).await;
    assert_eq!(app.call("auth/sign-up", &[("email", "a@x.io"), ("password", PASSWORD)], None).await.status(), 403);
    let invite = app.state.admin_invite.lock().unwrap().clone().unwrap();
    assert_eq!(
        app.call("auth/sign-up", &[("email", "x@x.io"), ("password", PASSWORD), ("invite", "forged")], None)
            .await
            .status(),
        403
    );
    let cookie = app.sign_up_admin("boss@x.io").await;
    assert_eq!(me(&app, Some(&cookie)).await["role"], "admin");
    let again =
        app.call("auth/sign-up", &[("email", "c@x.io"), ("password", PASSWORD), ("invite", &invite)], None).await;
    assert_eq!(again.status(), 403, "the invitation is single-use");
}

on_both_engines! {
    async fn admin_functions_are_401_anonymously_and_403_for_users(engine) {
        let app = spawn_app_with(engine, &[]).await;
        let admin = app.sign_up_admin("boss@x.io").await;
        let user = app.sign_up("a@x.io").await;
        let body = serde_json::json!({ "filter": HistoryFilter::default() });
        assert_eq!(app.call_json("admin/history", body.clone(), None).await.status(), 401, "{engine:?}");
        assert_eq!(app.call_json("admin/history", body.clone(), Some(&user)).await.status(), 403, "{engine:?}");
        assert_eq!(app.call_json("admin/history", body, Some(&admin)).await.status(), 200, "{engine:?}");
        let dl = |c: Option<&str>| {
            let mut r = app.http.get(app.url("/admin/download/some-id"));
            if let Some(c) = c {
                r = r.header("cookie", c);
            }
            r.send()
        };
        assert_eq!(dl(None).await.unwrap().status(), 401);
        assert_eq!(dl(Some(&user)).await.unwrap().status(), 403);
        assert_eq!(dl(Some(&admin)).await.unwrap().status(), 404);
    }
}

#[tokio::test]
async fn a_cross_origin_post_to_a_server_function_is_refused() {
    let app = spawn_app().await;
    let cookie = app.sign_up("a@x.io").await;
    let evil = app
        .http
        .post(app.url("/api/auth/sign-out"))
        .header("origin", "https://evil.example")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    let cross = app
        .http
        .post(app.url("/api/uploads/request"))
        .header("sec-fetch-site", "cross-site")
        .header("cookie", &cookie)
        .form(&[("file_name", "a.txt"), ("size", "1"), ("content_type", "text/plain")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(me(&app, Some(&cookie)).await["email"], "a@x.io", "the session survived");
}

on_both_engines! {
    async fn the_admin_summary_is_401_anonymously_403_for_users_and_the_totals_for_admins(engine) {
        let app = spawn_app_with(engine, &[]).await;
        let admin = app.sign_up_admin("boss@x.io").await;
        let user = app.sign_up("a@x.io").await;
        let owner = users::by_email(&app.state.db, &email("a@x.io")).await.unwrap().unwrap().id;
        for (i, size) in [10_i64, 32].into_iter().enumerate() {
            let id = uuid::Uuid::new_v4().to_string();
            let key = format!("uploads/{owner}/{id}/f{i}");
            let u = uploads::NewUpload {
                owner_id: &owner,
                object_key: &key,
                file_name: "f.txt",
                content_type: "text/plain",
                declared_size: size,
                checksum_sha256: None,
                method: SigningMethod::Post,
                expires_at: db::now_millis() + 60_000,
                multipart: None,
            };
            uploads::insert_pending(&app.state.db, &id, &u).await.unwrap();
        }
        let body = serde_json::json!({ "filter": HistoryFilter::default() });
        let anonymous = app.call_json("admin/summary", body.clone(), None).await;
        assert_eq!(anonymous.status(), 401, "{engine:?}");
        assert_eq!(anonymous.json::<serde_json::Value>().await.unwrap()["kind"], "unauthorized");
        let as_user = app.call_json("admin/summary", body.clone(), Some(&user)).await;
        assert_eq!(as_user.status(), 403, "{engine:?}");
        assert_eq!(as_user.json::<serde_json::Value>().await.unwrap()["message"], "Only administrators may do this.");
        let res = app.call_json("admin/summary", body, Some(&admin)).await;
        assert_eq!(res.status(), 200, "{engine:?}");
        let summary: app::model::HistorySummary = res.json().await.unwrap();
        assert_eq!(
            summary.totals,
            vec![app::model::StatusTotal { status: "pending".into(), count: 2, bytes: 42 }],
            "{engine:?}"
        );
        assert_eq!(summary.per_day.iter().map(|(_, n)| n).sum::<i64>(), 2);
    }
}

#[tokio::test]
async fn set_role_signs_the_account_out_everywhere() {
    let app = spawn_app().await;
    let cookie = app.sign_up("ops@x.io").await;
    let other_browser =
        session_cookie(&app.call("auth/sign-in", &[("email", "ops@x.io"), ("password", PASSWORD)], None).await)
            .unwrap();
    let bystander = app.sign_up("b@x.io").await;
    assert_eq!(me(&app, Some(&cookie)).await["role"], "user");
    assert_eq!(me(&app, Some(&other_browser)).await["role"], "user");

    let dir = std::env::temp_dir().join(format!("s3drop-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.current_dir(&dir).env_clear().env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in s3_vars() {
        cmd.env(k, v);
    }
    // The running app's own database.
    cmd.env("DATABASE_URL", &app.state.config.database_url);
    let out = cmd.args(["set-role", "ops@x.io", "admin"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops@x.io is now admin; 2 session(s) signed out"), "{out:?}");

    assert_eq!(me(&app, Some(&cookie)).await, serde_json::Value::Null, "the old cookie is dead");
    assert_eq!(me(&app, Some(&other_browser)).await, serde_json::Value::Null, "in every browser");
    let res = app.call_json("admin/history", serde_json::json!({ "filter": HistoryFilter::default() }), Some(&cookie));
    assert_eq!(res.await.status(), 401, "the old cookie does not carry the new role either");
    assert_eq!(me(&app, Some(&bystander)).await["email"], "b@x.io", "other accounts stay signed in");
    // Signing in again gives a session with the new role.
    let fresh = session_cookie(&app.call("auth/sign-in", &[("email", "ops@x.io"), ("password", PASSWORD)], None).await)
        .unwrap();
    assert_eq!(me(&app, Some(&fresh)).await["role"], "admin");
}

async fn seed_history(pool: &db::Pool) -> (Vec<String>, usize) {
    let mut owners = vec![];
    for e in ["ann@x.io", "bob@x.io", "cy@x.io"] {
        owners.push(users::create(pool, &email(e), Role::User, "h").await.unwrap().id);
    }
    let n = 3_000;
    let mut tx_rows = 0;
    for i in 0..n {
        let owner = &owners[i % 3];
        let id = format!("{i:05}");
        let u = uploads::NewUpload {
            owner_id: owner,
            object_key: &format!("uploads/{owner}/{id}/f"),
            file_name: if i % 10 == 0 { "Quarterly_Report 100%.pdf" } else { "photo.jpg" },
            content_type: "image/jpeg",
            declared_size: ((i * 7919) % 5000) as i64,
            checksum_sha256: None,
            method: SigningMethod::Post,
            expires_at: 0,
            multipart: None,
        };
        uploads::insert_pending(pool, &id, &u).await.unwrap();
        if i % 4 == 0 {
            uploads::mark_completed(pool, &id, u.declared_size, "\"e\"", None).await.unwrap();
        }
        tx_rows += 1;
    }
    (owners, tx_rows)
}

async fn all_pages(pool: &db::Pool, mut f: HistoryFilter) -> Vec<app::model::HistoryRow> {
    let mut out = vec![];
    loop {
        let page: HistoryPage = db::history::page(pool, &f, 97).await.unwrap();
        assert!(page.rows.len() <= 97);
        out.extend(page.rows);
        match page.next {
            Some(c) => f.after = Some(c),
            None => return out,
        }
    }
}

on_both_engines! {
    async fn history_filters_sorting_and_pagination_return_the_right_rows(engine) {
        let pool = db::connect(&fresh_database(engine).await).await.unwrap();
        let (owners, n) = seed_history(&pool).await;

        let all = all_pages(&pool, HistoryFilter::default()).await;
        assert_eq!(all.len(), n, "{engine:?}: every row once");
        let mut ids: Vec<&str> = all.iter().map(|r| r.upload.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{engine:?}: no repeats across pages");
        assert!(all
            .windows(2)
            .all(|w| (w[0].upload.created_at, &w[0].upload.id) > (w[1].upload.created_at, &w[1].upload.id)));

        let bobs = all_pages(&pool, HistoryFilter { user_email: Some("BOB@x.io".into()), ..Default::default() }).await;
        assert_eq!(bobs.len(), n / 3 + usize::from(n % 3 > 1), "{engine:?}");
        assert!(bobs.iter().all(|r| r.owner_email == "bob@x.io" && r.upload.owner_id == owners[1]));

        let done =
            all_pages(&pool, HistoryFilter { status: Some(UploadStatus::Completed), ..Default::default() }).await;
        assert_eq!(done.len(), n / 4, "{engine:?}");

        let named = all_pages(&pool, HistoryFilter { name: Some("report 100%".into()), ..Default::default() }).await;
        assert_eq!(named.len(), n / 10, "{engine:?}: case-insensitive, % taken literally");
        let none = all_pages(&pool, HistoryFilter { name: Some("_%".into()), ..Default::default() }).await;
        assert_eq!(none.len(), 0, "{engine:?}: wildcards are escaped");

        let by_size = all_pages(&pool, HistoryFilter { sort: HistorySort::Size, ..Default::default() }).await;
        assert_eq!(by_size.len(), n);
        assert!(
            by_size
                .windows(2)
                .all(|w| (w[0].upload.declared_size, &w[0].upload.id) > (w[1].upload.declared_size, &w[1].upload.id)),
            "{engine:?}"
        );

        let now = db::now_millis();
        let future = all_pages(&pool, HistoryFilter { from: Some(now + 3_600_000), ..Default::default() }).await;
        assert!(future.is_empty());
        let window = all_pages(
            &pool,
            HistoryFilter { from: Some(now - 3_600_000), to: Some(now + 3_600_000), ..Default::default() },
        )
        .await;
        assert_eq!(window.len(), n);

        let page = db::history::summary(&pool, &HistoryFilter::default(), now).await.unwrap();
        let count: i64 = page.totals.iter().map(|t| t.count).sum();
        assert_eq!(count as usize, n, "{engine:?}");
        let completed = page.totals.iter().find(|t| t.status == "completed").unwrap();
        assert_eq!(completed.count as usize, n / 4);
        let bytes: i64 = done.iter().map(|r| r.upload.declared_size).sum();
        assert_eq!(completed.bytes, bytes, "{engine:?}");
        assert_eq!(page.per_day.iter().map(|(_, c)| c).sum::<i64>() as usize, n);
        let bobs_summary = db::history::summary(
            &pool,
            &HistoryFilter { user_email: Some("bob@x.io".into()), ..Default::default() },
            now,
        )
        .await
        .unwrap();
        assert_eq!(bobs_summary.totals.iter().map(|t| t.count).sum::<i64>() as usize, bobs.len(), "{engine:?}");
    }
}

#[test]
fn create_user_reads_the_password_from_stdin_and_set_role_promotes() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("s3drop-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_url = format!("sqlite://{}/cli.db?mode=rwc", dir.display());
    let run = |args: &[&str], stdin: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.current_dir(&dir).env_clear().env("PATH", std::env::var("PATH").unwrap()).env("DATABASE_URL", &db_url);
        for (k, v) in s3_vars() {
            cmd.env(k, v);
        }
        let mut child =
            cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&["create-user", "ops@x.io"], &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    let short = run(&["create-user", "b@x.io"], "short\n");
    assert!(!short.status.success());
    let out = run(&["set-role", "ops@x.io", "admin"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is now admin"), "{out:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = db::connect(&db_url).await.unwrap();
        let u = users::by_email(&pool, &email("ops@x.io")).await.unwrap().unwrap();
        assert_eq!(u.role, Role::Admin);
        assert!(app::server::auth::verify_password(PASSWORD, &u.password_hash));
        assert!(users::by_email(&pool, &email("b@x.io")).await.unwrap().is_none());
    });
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited_and_hashing_is_bounded() {
    let app = spawn_app_with(Engine::Sqlite, &[("SIGNUP_PER_ADDRESS", "3")]).await;
    // Five at once: three accounts are made, two refused before any hashing, in words.
    let forms: Vec<[(&str, String); 2]> =
        (0..5).map(|i| [("email", format!("s{i}@x.io")), ("password", PASSWORD.to_owned())]).collect();
    let app = &app;
    let answers = futures::future::join_all(forms.iter().map(|f| {
        let form: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        async move {
            let res = app.call("auth/sign-up", &form, None).await;
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.ok())
        }
    }))
    .await;
    let made = answers.iter().filter(|(s, _)| *s < 400).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((made, limited.len()), (3, 2), "{answers:?}");
    assert!(limited.iter().all(|(_, b)| b.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("Too many accounts were made from this address")));
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(users, 3);
}
