//! Test helpers: the real app on port 0, a fresh database per test on SQLite or PostgreSQL, the
//! local Garage's settings (written by `scripts/garage.sh up`), and `on_both_engines!`, which makes
//! one test two named cases, one per database engine.

use std::collections::HashMap;
use std::path::PathBuf;

use app::server::{AppState, Config};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

const S3_VARS: [&str; 7] = [
    "S3_ENDPOINT",
    "S3_REGION",
    "S3_BUCKET",
    "S3_FORCE_PATH_STYLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The local Garage's S3 settings: from the environment (scripts/test exports them), else from
/// `.local/garage/test.env`.
pub fn s3_vars() -> HashMap<String, String> {
    let mut vars: HashMap<String, String> =
        S3_VARS.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
    if !vars.contains_key("S3_ENDPOINT") {
        let file = workspace_root().join(".local/garage/test.env");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|_| {
            panic!(
                "no local S3 settings: run `scripts/garage.sh up` (or scripts/test), which writes {}",
                file.display()
            )
        });
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    vars
}

pub fn config(database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut vars = s3_vars();
    vars.insert("DATABASE_URL".into(), database_url.into());
    // Tests sign up many accounts from 127.0.0.1; the limit has its own test.
    vars.insert("SIGNUP_PER_ADDRESS".into(), "100000".into());
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_vars(&vars).expect("the test configuration is valid")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Makes one test two cases, `name::sqlite` and `name::postgres`, each on a fresh database of its
/// engine: a failure names the engine, and the two run in parallel like any other tests. The body
/// sees the engine under the name given in the parentheses, and the test module's items.
///
/// ```ignore
/// on_both_engines! {
///     async fn a_user_signs_up(engine) {
///         let app = spawn_app_with(engine, &[]).await;
///     }
/// }
/// ```
macro_rules! on_both_engines {
    ($(#[$attr:meta])* async fn $name:ident($engine:ident) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($engine: $crate::helpers::Engine) $body

            #[tokio::test]
            async fn sqlite() {
                run($crate::helpers::Engine::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                run($crate::helpers::Engine::Postgres).await
            }
        }
    };
}
pub(crate) use on_both_engines;

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

static PG_CLEANED: OnceCell<()> = OnceCell::const_new();

/// A new, empty database URL for one test.
pub async fn fresh_database(engine: Engine) -> String {
    let name = format!("s3drop_test_{}", uuid::Uuid::new_v4().simple());
    match engine {
        Engine::Sqlite => {
            let dir = std::env::temp_dir().join("s3drop-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}/{name}.db?mode=rwc", dir.display())
        }
        Engine::Postgres => {
            let admin = postgres_admin_url();
            let mut conn = PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (TEST_POSTGRES_URL) is not reachable: {e}"));
            // Databases of earlier runs go first: the tests' one binary does this once per run.
            PG_CLEANED
                .get_or_init(|| async {
                    let old: Vec<(String,)> =
                        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 's3drop_test_%'")
                            .fetch_all(&mut PgConnection::connect(&admin).await.unwrap())
                            .await
                            .unwrap();
                    let mut c = PgConnection::connect(&admin).await.unwrap();
                    for (db,) in old {
                        let _ = c.execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str()).await;
                    }
                })
                .await;
            conn.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await.unwrap();
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    pub base_url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub database_url: String,
}

/// The real router on 127.0.0.1:0 with a fresh database.
pub async fn spawn_app_with(engine: Engine, overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(&fresh_database(engine).await, overrides).await
}

/// Another server on the same database `db` (as two instances behind one proxy would run).
pub async fn spawn_app_on(db: &str, overrides: &[(&str, &str)]) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base_url = format!("http://{addr}");
    let db = db.to_owned();
    let mut all = vec![("APP_PUBLIC_URL", base_url.as_str())];
    all.extend_from_slice(overrides);
    let mut options = server::leptos_options();
    options.site_addr = addr;
    let state = server::build_state(config(&db, &all), options).await.expect("the app starts");
    let state_for_server = state.clone();
    tokio::spawn(async move { server::serve(listener, state_for_server).await.unwrap() });
    TestApp { base_url, state, http: http_client(), database_url: db }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Engine::Sqlite, &[]).await
}

/// An HTTP client that reports redirects instead of following them.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The S3 client of the test configuration: the local Garage and its test bucket.
pub fn s3_client() -> app::server::s3::S3Client {
    config("sqlite::memory:", &[]).s3.client()
}

/// Held by the tests that write the shared test bucket's CORS or lifecycle rules, so that another
/// test's rules cannot land between writing and reading them back (they all run in one binary).
pub async fn bucket_rules_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The base64 SHA-256 of `bytes`, as S3's checksum fields and headers carry it.
pub fn sha256_b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

pub const PASSWORD: &str = "a long enough password";

/// An address known to be valid, as the database functions take it.
pub fn email(address: &str) -> app::domain::Email {
    app::domain::Email::parse(address).expect("a valid test address")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// POSTs a form to a server function as a same-origin page would.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url(&format!("/api/{endpoint}"))).header("origin", &self.base_url).form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    pub async fn call_json(&self, endpoint: &str, body: serde_json::Value, cookie: Option<&str>) -> reqwest::Response {
        let mut req =
            self.http.post(self.url(&format!("/api/{endpoint}"))).header("origin", &self.base_url).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// Signs up and returns the `name=value` of the session cookie.
    pub async fn sign_up(&self, email: &str) -> String {
        let res = self.call("auth/sign-up", &[("email", email), ("password", PASSWORD)], None).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "sign-up of {email}: {}", res.status());
        session_cookie(&res).expect("sign-up sets the session cookie")
    }

    /// An admin, made through the one-time invitation.
    pub async fn sign_up_admin(&self, email: &str) -> String {
        let invite = self.state.admin_invite.lock().unwrap().clone().expect("a fresh app has an invitation");
        let res =
            self.call("auth/sign-up", &[("email", email), ("password", PASSWORD), ("invite", &invite)], None).await;
        session_cookie(&res).expect("sign-up sets the session cookie")
    }
}

pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("s3drop_session=") && !v.starts_with("s3drop_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

// ---- A fault-injecting proxy in front of the local Garage -------------------------------------

/// What the proxy does to a request that a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status itself, with S3's error body (none to a HEAD); S3 never sees it.
    Status(u16),
    /// Never answers: the app's S3 timeout has to end the call.
    Hang,
    /// Forwards the request, then holds S3's answer this long before passing it on.
    Delay(std::time::Duration),
    /// Forwards the request and drops the `ETag` header from S3's answer.
    StripEtag,
}

#[derive(Clone, Debug)]
struct Rule {
    method: reqwest::Method,
    path_contains: String,
    fault: Fault,
}

#[derive(Clone, Default)]
struct ProxyState {
    rules: std::sync::Arc<std::sync::Mutex<Vec<Rule>>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// An HTTP proxy on 127.0.0.1:0 that passes requests to the local Garage unchanged (the `Host`
/// header too, so signatures made for the proxy's address hold) unless a rule says otherwise.
/// Point an app at it with `spawn_app_with(engine, &[("S3_ENDPOINT", &proxy.url)])`.
pub struct S3Proxy {
    pub url: String,
    state: ProxyState,
}

impl S3Proxy {
    pub async fn start() -> S3Proxy {
        let upstream = s3_vars()["S3_ENDPOINT"].trim_end_matches('/').to_owned();
        let state = ProxyState::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = http_client();
        let for_handler = state.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            proxy_one(for_handler.clone(), client.clone(), upstream.clone(), req)
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        S3Proxy { url, state }
    }

    /// From now on, `fault` for every `method` request whose path contains `path_contains`.
    pub fn inject(&self, method: reqwest::Method, path_contains: &str, fault: Fault) {
        let rule = Rule { method, path_contains: path_contains.to_owned(), fault };
        self.state.rules.lock().unwrap().push(rule);
    }

    /// Back to passing everything through.
    pub fn heal(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// How many requests a fault was applied to so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn s3_error_code(status: u16) -> &'static str {
    match status {
        403 => "AccessDenied",
        404 => "NoSuchKey",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "InvalidRequest",
    }
}

async fn proxy_one(
    state: ProxyState,
    client: reqwest::Client,
    upstream: String,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let fault = state
        .rules
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == parts.method && parts.uri.path().contains(&r.path_contains))
        .map(|r| r.fault);
    if fault.is_some() {
        state.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    match fault {
        Some(Fault::Status(status)) => {
            let code = s3_error_code(status);
            let body = format!("<Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>");
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            return (status, [("content-type", "application/xml")], body).into_response();
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            return axum::http::StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        _ => {}
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut forward = client.request(parts.method.clone(), format!("{upstream}{path}")).body(body);
    for (name, value) in &parts.headers {
        // `Host` goes as the app sent it: it is part of what was signed.
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            forward = forward.header(name, value);
        }
    }
    let answer = match forward.send().await {
        Ok(a) => a,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    match fault {
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::StripEtag) => {
            headers.remove("etag");
        }
        _ => {}
    }
    headers.remove("transfer-encoding");
    headers.remove("connection");
    let mut res = axum::response::Response::new(axum::body::Body::from(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    res
}

// ---- Every status change of a row, as the database saw it -------------------------------------

/// From now on the database logs every UPDATE of an upload's status (even one that writes the same
/// value again) in `upload_changes`: what a race test reads to know a row changed exactly once.
pub async fn log_status_changes(app: &TestApp) {
    let db = &app.state.db;
    let statements: &[&str] = if app.state.config.database_url.starts_with("sqlite") {
        &[
            "CREATE TABLE upload_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, old TEXT, new TEXT)",
            "CREATE TRIGGER log_upload_changes AFTER UPDATE OF status ON uploads BEGIN \
             INSERT INTO upload_changes (id, old, new) VALUES (NEW.id, OLD.status, NEW.status); END",
        ]
    } else {
        &[
            "CREATE TABLE upload_changes (seq BIGSERIAL PRIMARY KEY, id TEXT, old TEXT, new TEXT)",
            "CREATE FUNCTION log_upload_change() RETURNS trigger AS $$ BEGIN \
             INSERT INTO upload_changes (id, old, new) VALUES (NEW.id, OLD.status, NEW.status); RETURN NEW; \
             END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER log_upload_changes AFTER UPDATE OF status ON uploads \
             FOR EACH ROW EXECUTE FUNCTION log_upload_change()",
        ]
    };
    for s in statements {
        sqlx::query(s).execute(db).await.unwrap();
    }
}

/// The status changes logged for upload `id`, in order, as `"old -> new"`.
pub async fn status_changes(app: &TestApp, id: &str) -> Vec<String> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT old, new FROM upload_changes WHERE id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    rows.into_iter().map(|(o, n)| format!("{o} -> {n}")).collect()
}
