//! The running skeleton: health, server rendering, configuration errors.

use crate::helpers::*;

on_both_engines! {
    async fn health_reports_the_database_and_the_bucket_reachable(engine) {
        let app = spawn_app_with(engine, &[]).await;
        let res = app.http.get(format!("{}/health", app.base_url)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{engine:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!((&body["database"], &body["bucket"]), (&"ok".into(), &"ok".into()), "{engine:?}: {body}");
        // This app's origin (a random port) is in no CORS rule: the page could not upload, and
        // health says so (in service, but degraded), where before it said "ok".
        assert_eq!(body["status"], "degraded", "{body}");
        let cors = body["cors"].as_str().unwrap();
        assert!(cors.contains(&format!("does not let {} POST", app.base_url)) && cors.contains("apply-cors"), "{cors}");
    }
}

#[tokio::test]
async fn health_is_503_and_says_the_bucket_is_not_found_when_it_does_not_exist() {
    let app = spawn_app_with(Engine::Sqlite, &[("S3_BUCKET", "no-such-bucket-here")]).await;
    let res = app.http.get(format!("{}/health", app.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["bucket"], "bucket not found");
}

#[tokio::test]
async fn health_is_503_when_the_secret_key_is_wrong() {
    let app = spawn_app_with(Engine::Sqlite, &[("AWS_SECRET_ACCESS_KEY", "wrong-secret")]).await;
    let res = app.http.get(format!("{}/health", app.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["bucket"], "access denied");
}

#[tokio::test]
async fn the_home_page_is_a_document_without_scripts() {
    let app = spawn_app().await;
    let res = app.http.get(&app.base_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let html = res.text().await.unwrap();
    assert!(html.contains("Upload files straight to S3"), "{html}");
    // The limits are in the page itself, not loaded later by a script.
    assert!(html.contains(r#"data-testid="limits""#) && !html.contains("Loading"), "{html}");
    // No WASM and no module script; what inline script Leptos adds only declares empty tables.
    assert!(!html.contains(".wasm") && !html.contains("<script type=\"module\""), "{html}");
    assert!(!html.contains("modulepreload") && !html.contains("__RESOLVED_RESOURCES["), "{html}");
}

#[tokio::test]
async fn the_profile_page_loads_the_islands_and_only_the_dropzone_is_one() {
    let app = spawn_app().await;
    let cookie = app.sign_up("islands@x.io").await;
    let res = app.http.get(app.url("/profile")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<link rel="modulepreload" href="/pkg/s3drop"#), "{html}");
    let script = html.split(r#"<script type="module""#).nth(1).expect("a module script").split("</script>").next();
    assert!(script.unwrap().contains("hydrateIslands"), "{script:?}");
    assert_eq!(html.matches("<leptos-island").count(), 1, "{html}");
    assert!(html.contains(r#"data-component="Dropzone_"#), "{html}");
    // The dropzone's limits travel as attributes, and the history is in the page.
    assert!(html.contains(r#"data-max-bytes=""#), "{html}");
    assert!(html.contains(r#"id="history""#), "{html}");
}

#[tokio::test]
async fn an_unknown_page_is_a_404() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/no/such/page", app.base_url)).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

fn run_server_without(var: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("s3drop-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.current_dir(&dir).env_clear().env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in s3_vars() {
        if k != var {
            cmd.env(k, v);
        }
    }
    cmd.env("DATABASE_URL", format!("sqlite://{}/x.db?mode=rwc", dir.display()));
    cmd.arg("serve").output().unwrap()
}

#[test]
fn starting_without_a_bucket_prints_one_line_naming_it_and_exits_non_zero() {
    let out = run_server_without("S3_BUCKET");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("configuration error: S3_BUCKET is not set"), "{err}");
}

#[test]
fn starting_without_credentials_names_the_missing_variable() {
    let out = run_server_without("AWS_SECRET_ACCESS_KEY");
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("configuration error: AWS_SECRET_ACCESS_KEY"));
}
