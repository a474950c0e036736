//! Malformed requests to every server function and route: each is refused with a 4xx and words a
//! person can read, never a 500.

use crate::helpers::*;

/// A request body as a client could send it.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// `application/x-www-form-urlencoded`, as the pages' forms send server function arguments.
    Form(&'static [u8]),
    /// `application/json`, for the server functions that take JSON.
    Json(&'static [u8]),
}

/// `(endpoint, body, expected status, what is wrong)`.
const CASES: &[(&str, Body, u16, &str)] = &[
    ("auth/me", Body::Form(b"\xff\xfe"), 400, "a body that is not UTF-8"),
    ("auth/sign-up", Body::Form(b"password=a+long+enough+password"), 400, "no email"),
    (
        "auth/sign-up",
        Body::Form(b"email=a%40x.io&email=b%40x.io&password=a+long+enough+password"),
        400,
        "a repeated key",
    ),
    ("auth/sign-up", Body::Form(b"email=\xff&password=a+long+enough+password"), 400, "a field that is not UTF-8"),
    ("auth/sign-up", Body::Form(b"email=not-an-email&password=a+long+enough+password"), 400, "not an email"),
    ("auth/sign-up", Body::Form(b"email=c%40x.io&password=short"), 400, "a short password"),
    ("auth/sign-in", Body::Form(b"email=a%40x.io"), 400, "no password"),
    ("auth/sign-in", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    ("auth/sign-out", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    ("status/limits", Body::Form(b"\xc3\x28"), 400, "a body that is not UTF-8"),
    ("status/health", Body::Form(b"\xc3\x28"), 400, "a body that is not UTF-8"),
    ("uploads/request", Body::Form(b"file_name=a.txt&content_type=text%2Fplain"), 400, "no size"),
    ("uploads/request", Body::Form(b"file_name=a.txt&size=-1&content_type=text%2Fplain"), 400, "a negative size"),
    (
        "uploads/request",
        Body::Form(b"file_name=a.txt&size=abc&content_type=text%2Fplain"),
        400,
        "a size that is no number",
    ),
    (
        "uploads/request",
        Body::Form(b"file_name=a.txt&size=99999999999999999999999&content_type=text%2Fplain"),
        400,
        "a size beyond u64",
    ),
    ("uploads/request", Body::Form(b"file_name=a.txt&size=1&size=2&content_type=text%2Fplain"), 400, "a repeated key"),
    ("uploads/request", Body::Form(b"size=1&content_type=text%2Fplain"), 400, "no file name"),
    (
        "uploads/request",
        Body::Form(b"file_name=a.txt&size=1&content_type=text%2Fplain&last_modified=yesterday"),
        400,
        "a time that is no number",
    ),
    ("uploads/request", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    (
        "uploads/request",
        Body::Form(b"file_name=a.txt&size=1&content_type=text%2Fplain%00&sha256=x"),
        400,
        "a NUL in the content type",
    ),
    (
        "uploads/request",
        Body::Form(b"file_name=a.txt&size=1&content_type=text%2Fplain%0D%0Ax-amz-acl%3A+public-read&sha256=x"),
        400,
        "a header smuggled in the content type",
    ),
    ("uploads/request", Body::Form(b"file_name=a.txt&size=0&content_type=text%2Fplain"), 400, "an empty file"),
    ("uploads/parts", Body::Json(b"{"), 400, "malformed JSON"),
    ("uploads/parts", Body::Json(b"[]"), 400, "JSON of another shape"),
    ("uploads/parts", Body::Json(br#"{"id":"x"}"#), 400, "no parts"),
    ("uploads/parts", Body::Json(br#"{"id":"x","parts":[{"part_number":-1,"sha256":"x"}]}"#), 400, "a negative part"),
    ("uploads/parts", Body::Json(br#"{"id":"x","parts":"all"}"#), 400, "parts that are no list"),
    ("uploads/parts", Body::Json(b"{\"id\":\"\xff\",\"parts\":[]}"), 400, "JSON that is not UTF-8"),
    ("uploads/parts", Body::Json(br#"{"id":"x","parts":[]}"#), 400, "no part asked for"),
    ("uploads/complete", Body::Form(b""), 400, "no id"),
    ("uploads/complete", Body::Form(b"id=a&id=b"), 400, "a repeated key"),
    ("uploads/confirm", Body::Form(b""), 400, "no id"),
    ("uploads/confirm", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    ("uploads/cancel", Body::Form(b"id=a&id=b"), 400, "a repeated key"),
    ("uploads/failed", Body::Form(b"id=x"), 400, "no reason"),
    ("uploads/mine", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    ("uploads/plain-form", Body::Form(b"\xff"), 400, "a body that is not UTF-8"),
    ("admin/history", Body::Json(b"{"), 400, "malformed JSON"),
    ("admin/history", Body::Json(b"{}"), 400, "no filter"),
    ("admin/history", Body::Json(br#"{"filter":{"status":"bogus","sort":"time"}}"#), 400, "an unknown status"),
    ("admin/history", Body::Form(b"filter=x"), 400, "a form where JSON is expected"),
    ("admin/summary", Body::Json(br#"{"filter":{"from":"yesterday","sort":"time"}}"#), 400, "a date that is no number"),
    ("admin/summary", Body::Json(b"\xff"), 400, "a body that is not UTF-8"),
];

/// The body names what is wrong in words: JSON with a `message`, or for requests that never
/// reached a function, text.
fn assert_readable(what: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => json["message"].as_str().unwrap_or_default().to_owned(),
        Err(_) => text.to_string(),
    };
    assert!(message.trim().len() > 5, "{what}: no readable message in {text:?}");
    for inside in ["sqlx", "database error", "panicked", "S3 answered"] {
        assert!(!text.contains(inside), "{what}: internal details in {text:?}");
    }
}

#[tokio::test]
async fn malformed_server_function_calls_are_4xx_with_a_message() {
    let app = spawn_app().await;
    let cookie = app.sign_up("a@x.io").await;
    let mut wrong = vec![];
    for (endpoint, body, expected, why) in CASES {
        let (content_type, bytes) = match body {
            Body::Form(b) => ("application/x-www-form-urlencoded", *b),
            Body::Json(b) => ("application/json", *b),
        };
        let res = app
            .http
            .post(app.url(&format!("/api/{endpoint}")))
            .header("origin", &app.base_url)
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let what = format!("{endpoint} with {why}");
        let body = res.bytes().await.unwrap();
        if status != *expected {
            wrong.push(format!("{what}: {status} {}", String::from_utf8_lossy(&body)));
            continue;
        }
        assert_readable(&what, &body);
    }
    assert!(wrong.is_empty(), "unexpected answers:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn argument_errors_name_the_argument() {
    let app = spawn_app().await;
    let res = app.call("uploads/request", &[("file_name", "a.txt"), ("size", "abc"), ("content_type", "")], None).await;
    assert_eq!(res.status(), 400);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["kind"], "call");
    assert!(json["message"].as_str().unwrap().starts_with("The request could not be read"), "{json}");
    let res = app.call("auth/sign-up", &[("password", PASSWORD)], None).await;
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(json["message"].as_str().unwrap().contains("email"), "{json}");
}

#[tokio::test]
async fn refusals_are_the_typed_error_as_json() {
    let app = spawn_app().await;
    let res = app.call("uploads/mine", &[], None).await;
    assert_eq!(res.status(), 401);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json, serde_json::json!({"kind": "unauthorized", "message": "Please sign in first."}));
    let err: app::api::ApiError = serde_json::from_value(json).unwrap();
    assert_eq!(err, app::api::ApiError::Unauthorized);
}

#[tokio::test]
async fn malformed_route_requests_are_refused_in_words_too() {
    let app = spawn_app().await;
    let user = app.sign_up("a@x.io").await;
    let get = |path: &str, cookie: Option<&str>| {
        let mut req = app.http.get(app.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };

    for (path, cookie, expected) in [
        ("/admin/download/%FF%FE", Some(user.as_str()), 400),
        ("/admin/download/some-id", None, 401),
        ("/admin/download/some-id", Some(user.as_str()), 403),
    ] {
        let res = get(path, cookie).await.unwrap();
        assert_eq!(res.status(), expected, "{path}");
        assert_readable(path, &res.bytes().await.unwrap());
    }

    // The landing route answers a browser: refusals go back to the profile page, in words.
    for path in ["/uploads/landing", "/uploads/landing?bucket=x", "/uploads/landing?key=%FF"] {
        let res = get(path, Some(&user)).await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/profile?error="), "{path}: {location}");
    }

    let evil = app
        .http
        .post(app.url("/api/uploads/mine"))
        .header("origin", "https://evil.example")
        .header("cookie", &user)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert_readable("a cross-origin call", &evil.bytes().await.unwrap());

    let nowhere = app.call("no/such/function", &[], Some(&user)).await;
    assert_eq!(nowhere.status(), 404);
    assert_readable("an unknown function", &nowhere.bytes().await.unwrap());
}

/// Values an attacker or a broken client sends.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("10 kB", "a".repeat(10_000)),
        ("a NUL", "a\0b".into()),
        ("control characters", "a\r\nX-Injected: 1\x07".into()),
        ("an RTL override", "invoice\u{202E}fdp.exe".into()),
        ("markup", "<img src=x onerror=alert(1)>".into()),
        ("negative", "-1".into()),
        ("zero", "0".into()),
        ("huge", "18446744073709551616".into()),
        ("a float", "1e309".into()),
        ("empty", String::new()),
    ]
}

/// Every form argument of every server function, one at a time, given each hostile value with the
/// other arguments valid: never a 500; a refusal is a 4xx in words; a name that is accepted is
/// stored without control or direction characters and shown escaped.
#[tokio::test]
async fn hostile_values_in_every_argument_are_refused_or_stored_harmlessly() {
    let app = spawn_app().await;
    let user = app.sign_up("hostile@x.io").await;
    let admin = app.sign_up_admin("boss@x.io").await;
    let sum = sha256_b64(b"abc");
    let calls: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("auth/sign-up", vec![("email", "new@x.io".into()), ("password", PASSWORD.into())]),
        ("auth/sign-in", vec![("email", "hostile@x.io".into()), ("password", "wrong password".into())]),
        (
            "uploads/request",
            vec![
                ("file_name", "a.txt".into()),
                ("size", "3".into()),
                ("content_type", "text/plain".into()),
                ("sha256", sum.clone()),
            ],
        ),
        ("uploads/confirm", vec![("id", "x".into())]),
        ("uploads/cancel", vec![("id", "x".into())]),
        ("uploads/complete", vec![("id", "x".into())]),
        ("uploads/failed", vec![("id", "x".into()), ("reason", "x".into())]),
    ];
    let mut wrong = vec![];
    for (endpoint, args) in &calls {
        for position in 0..args.len() {
            for (what, value) in hostile_values() {
                let mut form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                form[position].1 = &value;
                let res = app.call(endpoint, &form, Some(&user)).await;
                let status = res.status().as_u16();
                let body = res.bytes().await.unwrap();
                let case = format!("{endpoint} with {what} as {}", args[position].0);
                if status >= 500 {
                    wrong.push(format!("{case}: {status} {}", String::from_utf8_lossy(&body)));
                } else if status >= 400 {
                    assert_readable(&case, &body);
                }
            }
        }
    }
    assert!(wrong.is_empty(), "server errors:\n{}", wrong.join("\n"));
    // A 10 kB name is no file's: refused, not shortened.
    let ten_kb = "a".repeat(10_000);
    let form = [("file_name", ten_kb.as_str()), ("size", "3"), ("content_type", "text/plain"), ("sha256", &sum)];
    let res = app.call("uploads/request", &form, Some(&user)).await;
    assert_eq!(res.status(), 400);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["message"], "The file name is too long (at most 1,024 bytes).");

    // What was accepted is stored clean: no control or direction characters, no path, bounded.
    let names: Vec<(String,)> = sqlx::query_as("SELECT file_name FROM uploads").fetch_all(&app.state.db).await.unwrap();
    assert!(!names.is_empty(), "valid requests with odd names were accepted");
    for (name,) in &names {
        assert!(!name.chars().any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)), "{name:?}");
        assert!(name.len() <= 255 && !name.contains('/'), "{name:?}");
    }
    // No account was made from a hostile value (only the two of this test, and sign-up's own).
    let (accounts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&app.state.db).await.unwrap();
    assert!(accounts <= 3, "{accounts} accounts");
    // Markup in a name is text on every page that shows it.
    for (path, cookie) in [("/profile", &user), ("/admin", &admin)] {
        let html = app.http.get(app.url(path)).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{path} shows the name");
        assert!(!html.contains("<img src=x"), "{path} shows it escaped");
    }
}
