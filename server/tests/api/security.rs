//! Security headers: pages run only their own nonce'd scripts and talk only to the app and the
//! bucket; nothing is framed, sniffed or sent a Referer.

use crate::helpers::*;

#[tokio::test]
async fn pages_carry_a_policy_naming_their_own_nonce_and_the_bucket() {
    let app = spawn_app().await;
    // The profile page: the one with scripts (the dropzone island).
    let cookie = app.sign_up("nonce@x.io").await;
    let page = || app.http.get(app.url("/profile")).header("cookie", &cookie).send();
    let res = page().await.unwrap();
    assert_eq!(res.status(), 200);
    let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("referrer-policy").as_deref(), Some("same-origin"));
    let policy = header("content-security-policy").expect("a page has a policy");
    let html = res.text().await.unwrap();
    // Every script tag carries the nonce the policy names, and it is this response's own.
    let nonce = policy.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{policy}");
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "{html}");
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), scripts, "{html}");
    let s3 = s3_vars()["S3_ENDPOINT"].trim_end_matches('/').to_owned();
    // (In development the live-reload socket is allowed too.)
    let connect = policy.split("connect-src ").nth(1).and_then(|r| r.split(';').next()).unwrap_or_default();
    assert!(connect == format!("'self' {s3}") || connect.starts_with(&format!("'self' {s3} ws://")), "{policy}");
    assert!(policy.contains(&format!("form-action 'self' {s3};")), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let scripts_allowed = policy.split("script-src ").nth(1).and_then(|r| r.split(';').next()).unwrap_or_default();
    assert!(!scripts_allowed.contains("unsafe-inline"), "{policy}");

    let again = page().await.unwrap();
    let policy2 = again.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_ne!(policy, policy2, "a fresh nonce for every response");
}

#[tokio::test]
async fn other_answers_allow_nothing_to_run_or_frame() {
    let app = spawn_app().await;
    for res in [app.http.get(app.url("/health")).send().await.unwrap(), app.call("uploads/mine", &[], None).await] {
        assert_eq!(
            res.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["referrer-policy"], "same-origin");
    }
}
