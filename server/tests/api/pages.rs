//! Pages as a browser without JavaScript gets them: account forms posted by the browser itself
//! answer with redirects and messages in words, and the admin history is plain HTML.

use crate::helpers::*;

/// Posts a form the way a browser does on its own: it wants a page back.
async fn post_form(app: &TestApp, endpoint: &str, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(&format!("/api/{endpoint}")))
        .header("origin", &app.base_url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    assert!(res.status().is_redirection(), "a redirect, not {}", res.status());
    res.headers()["location"].to_str().unwrap().to_owned()
}

async fn page_with_status(app: &TestApp, path: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> String {
    let (status, html) = page_with_status(app, path, cookie).await;
    assert_eq!(status, 200, "{path}: {html}");
    html
}

#[tokio::test]
async fn a_refused_sign_in_form_comes_back_with_the_reason_and_the_email_typed() {
    let app = spawn_app().await;
    app.sign_up("form@x.io").await;
    let res = post_form(&app, "auth/sign-in", &[("email", "form@x.io"), ("password", "not the password")], None).await;
    let back = location(&res);
    assert_eq!(back, "/signin?error=wrong-credentials&email=form%40x.io");
    assert!(session_cookie(&res).is_none());
    let html = page(&app, &back, None).await;
    assert!(html.contains("Wrong email or password."), "{html}");
    assert!(html.contains(r#"value="form@x.io""#), "{html}");
    assert!(!html.contains("ServerError"), "{html}");

    let res = post_form(&app, "auth/sign-in", &[("email", "form@x.io"), ("password", PASSWORD)], None).await;
    assert_eq!(location(&res), "/profile");
    assert!(session_cookie(&res).is_some());
}

#[tokio::test]
async fn sign_up_refusals_are_shown_beside_the_field_they_concern() {
    let app = spawn_app().await;
    app.sign_up("taken@x.io").await;
    let cases = [
        (
            "not-an-email",
            PASSWORD,
            "/signup?error=bad-email&email=not-an-email",
            "email-error",
            "This is not an email address.",
        ),
        (
            "new@x.io",
            "short",
            "/signup?error=short-password&email=new%40x.io",
            "password-error",
            "The password needs at least 10 characters.",
        ),
        (
            "Taken@x.io",
            PASSWORD,
            "/signup?error=email-taken&email=Taken%40x.io",
            "email-error",
            "An account with this email exists already",
        ),
    ];
    for (email, password, want, field, words) in cases {
        let res = post_form(&app, "auth/sign-up", &[("email", email), ("password", password)], None).await;
        assert_eq!(location(&res), want);
        let html = page(&app, want, None).await;
        let shown = html.split(&format!(r#"data-testid="{field}""#)).nth(1).unwrap_or_default();
        assert!(shown.split("</span>").next().unwrap().contains(words), "{field} says {words:?}: {html}");
    }
    // A code nobody sent shows nothing, and text in the URL is never shown.
    let html = page(&app, "/signup?error=%3Cb%3Eyour+account+is+locked%3C%2Fb%3E", None).await;
    assert!(!html.contains("locked") && !html.contains("field-error"), "{html}");
    // Scripts (no text/html in Accept) still get the status and the JSON error.
    let res = app.call("auth/sign-up", &[("email", "not-an-email"), ("password", PASSWORD)], None).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn signing_out_by_form_lands_on_the_home_page_with_a_message() {
    let app = spawn_app().await;
    let cookie = app.sign_up("out@x.io").await;
    let res = post_form(&app, "auth/sign-out", &[], Some(&cookie)).await;
    assert_eq!(location(&res), "/?done=signed-out");
    let html = page(&app, "/?done=signed-out", None).await;
    assert!(html.contains("You are signed out."), "{html}");
    // The session is gone: the profile asks to sign in (with the status that says so).
    let (status, html) = page_with_status(&app, "/profile", Some(&cookie)).await;
    assert_eq!(status, 401);
    assert!(html.contains("to upload files"), "{html}");
}

#[tokio::test]
async fn the_service_check_is_a_get_form_the_server_answers() {
    let app = spawn_app().await;
    let html = page(&app, "/?check=1", None).await;
    assert!(html.contains("Database: ok"), "{html}");
    assert!(html.contains("Bucket: ok"), "{html}");
}

#[tokio::test]
async fn the_admin_history_is_server_rendered_html_with_an_svg_chart() {
    let app = spawn_app().await;
    let admin = app.sign_up_admin("boss@x.io").await;
    let user = app.sign_up("pages@x.io").await;
    for (name, size) in [("small.txt", "10"), ("large.txt", "3000"), ("<img src=x onerror=alert(1)>.txt", "20")] {
        let res = app
            .call(
                "uploads/request",
                &[("file_name", name), ("size", size), ("content_type", "text/plain"), ("sha256", &sha256_b64(b"x"))],
                Some(&user),
            )
            .await;
        assert_eq!(res.status(), 200, "{name}");
    }
    let html = page(&app, "/admin?status=pending&sort=size", Some(&admin)).await;
    let body = html.split(r#"data-testid="history""#).nth(1).expect("the history table");
    let order: Vec<usize> = ["large.txt", "&lt;img src=x onerror=alert(1)&gt;.txt", "small.txt"]
        .iter()
        .map(|n| body.find(n).unwrap_or_else(|| panic!("{n} in {body}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "largest first: {order:?}");
    assert!(!html.contains("<img src=x"), "names are escaped");
    assert!(html.contains(r#"<svg viewBox="0 0 600 180" role="img""#), "{html}");
    assert!(html.contains("3 uploads from "), "the chart says what it shows: {html}");
    assert!(!html.contains("<script type=\"module\"") && !html.contains(".wasm"), "no WASM on the admin page: {html}");
    assert!(!html.contains("__RESOLVED_RESOURCES["), "no data written twice for a hydration that never comes");
    // Filters the page does not know are ignored, not a 500.
    page(&app, "/admin?status=nonsense&sort=sideways&after=x_y&from=2026-13-45", Some(&admin)).await;
}

#[tokio::test]
async fn the_admin_history_pages_back_and_forth_filters_by_part_of_an_email_and_refuses_a_backwards_range() {
    let app = spawn_app().await;
    let admin = app.sign_up_admin("boss@x.io").await;
    let user = app.sign_up("Paging.Person@example.org").await;
    let sum = sha256_b64(b"x");
    let total = app::api::admin::PAGE_SIZE as usize + 7;
    for i in 0..total {
        let name = format!("p{i:03}.txt");
        let res = app
            .call(
                "uploads/request",
                &[("file_name", &name), ("size", "1"), ("content_type", "text/plain"), ("sha256", &sum)],
                Some(&user),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let names = |html: &str| -> Vec<String> {
        html.split(r#"<td class="name">"#).skip(1).map(|s| s.split('<').next().unwrap().to_owned()).collect()
    };
    let href = |html: &str, id: &str| -> Option<String> {
        let at = html.find(&format!(r#"data-testid="{id}""#))?;
        let start = html[..at].rfind("href=\"")? + 6;
        Some(html[start..].split('"').next().unwrap().replace("&amp;", "&"))
    };
    // Part of the address, in any case, finds the user's uploads; the count is the total.
    let first = page(&app, "/admin?user=PAGING.person", Some(&admin)).await;
    assert!(first.contains(&format!("{total} uploads match.")), "{first}");
    assert_eq!(names(&first).len(), app::api::admin::PAGE_SIZE as usize);
    assert!(href(&first, "prev-page").is_none(), "no page before the first");
    let second_url = href(&first, "next-page").expect("a next page");
    assert!(second_url.contains("user=PAGING.person"), "{second_url}");
    let second = page(&app, &second_url, Some(&admin)).await;
    assert_eq!(names(&second).len(), 7);
    assert!(href(&second, "next-page").is_none());
    // Back from the second page is the first page again, row for row.
    let back = page(&app, &href(&second, "prev-page").expect("a previous page"), Some(&admin)).await;
    assert_eq!(names(&back), names(&first));
    assert!(href(&back, "prev-page").is_none(), "the first page has nothing before it");
    assert!(href(&back, "next-page").is_some());

    let none = page(&app, "/admin?user=nobody-like-this", Some(&admin)).await;
    assert!(none.contains("No uploads match these filters."), "{none}");
    let backwards = page(&app, "/admin?from=2026-05-02&to=2026-05-01", Some(&admin)).await;
    assert!(backwards.contains("The From date is after the To date"), "{backwards}");
    assert!(!backwards.contains(r#"data-testid="history""#));
    // Times travel as UTC in `<time datetime>` for the page to show in the reader's zone.
    assert!(first.contains("<time datetime=\""), "{first}");
}
