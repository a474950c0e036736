//! The fault suite, run by `scripts/faults` (and so by `scripts/test`): the real server binary as
//! its own process, its own Garage node and, for the database faults, its own PostgreSQL cluster
//! and a small filesystem for SQLite, so that stopping them disturbs no other test. Each test
//! injects one fault in the middle of work, then audits the database against the bucket: every
//! upload answered as completed is in the bucket with its size, every object has a completed row,
//! and nothing is left pending once the reconciler has run. Each prints one `FAULT|` line for the
//! table in the closing note.
//!
//! The tests are `#[ignore]`d so that a plain `cargo test` leaves them out; they run one at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::{SendPlan, UploadTicket};
use app::server::Config;
use base64::Engine as _;
use reqwest::multipart::{Form, Part};
use sha2::Digest as _;

const PASSWORD: &str = "a long enough password";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private Garage node (its own folder and ports), started and stopped with `scripts/garage.sh`.
struct Garage {
    dir: PathBuf,
    port: u16,
}

impl Garage {
    /// A fresh node: what an earlier run left in its bucket would confuse the audit.
    fn new(port: u16) -> Garage {
        let g = Garage { dir: root().join(format!(".local/garage-faults-{port}")), port };
        if g.dir.exists() {
            g.script("down");
            std::fs::remove_dir_all(&g.dir).unwrap();
        }
        g
    }

    fn script(&self, action: &str) {
        run(Command::new(root().join("scripts/garage.sh"))
            .arg(action)
            .env("GARAGE_DIR", &self.dir)
            .env("GARAGE_S3_PORT", self.port.to_string())
            .env("GARAGE_RPC_PORT", (self.port + 1).to_string())
            .env("GARAGE_ADMIN_PORT", (self.port + 3).to_string()));
    }

    fn up(&self) {
        self.script("up");
    }

    /// Stops the node and waits until its port refuses connections.
    fn down(&self) {
        self.script("down");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "Garage still answers on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// S3 settings for the test bucket of this node.
    fn vars(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.dir.join("test.env")).unwrap();
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/garage.sh")).arg("down").env("GARAGE_DIR", &self.dir).output();
    }
}

/// The server binary as its own process.
struct Server {
    child: Option<Child>,
    port: u16,
    env: HashMap<String, String>,
    log: PathBuf,
}

impl Server {
    fn start(port: u16, env: HashMap<String, String>) -> Server {
        let log = std::env::temp_dir().join(format!("s3drop-faults-server-{port}.log"));
        let mut s = Server { child: None, port, env, log };
        s.spawn();
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).envs(&self.env);
        cmd.env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", self.port));
        cmd.env("APP_PUBLIC_URL", format!("http://127.0.0.1:{}", self.port));
        cmd.env("RUST_LOG", "warn");
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child =
            self.command().arg("serve").stdout(Stdio::from(log.try_clone().unwrap())).stderr(Stdio::from(log)).spawn();
        self.child = Some(child.expect("the server starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not listen on {}; see {}", self.port, self.log.display());
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// One `server reconcile` pass with the same settings (what the server does every minute).
    fn reconcile(&self) -> String {
        let out = self.command().arg("reconcile").output().unwrap();
        assert!(out.status.success(), "reconcile: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A signed-in user talking to the server as the dropzone does.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

fn filler(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
}

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

impl Client {
    async fn sign_up(server: &Server, email: &str) -> Client {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let res = http
            .post(server.url("/api/auth/sign-up"))
            .header("origin", server.url(""))
            .form(&[("email", email), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("s3drop_session="))
            .map(|v| v.split(';').next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("sign-up answered {}", res.status()));
        Client { http, base: server.url(""), cookie }
    }

    async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let res = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .header("origin", &self.base)
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(serde_json::Value::Null)))
    }

    async fn ticket(&self, name: &str, body: &[u8]) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let size = body.len().to_string();
        let sum = sha256_b64(body);
        self.call(
            "uploads/request",
            &[("file_name", name), ("size", &size), ("content_type", "text/plain"), ("sha256", &sum)],
        )
        .await
    }

    async fn confirm(&self, id: &str) -> Result<(u16, serde_json::Value), reqwest::Error> {
        self.call("uploads/confirm", &[("id", id)]).await
    }
}

/// The file to S3 as the dropzone sends it (a POST form, the file last).
async fn send_to_s3(ticket: &UploadTicket, body: &[u8]) -> Result<u16, reqwest::Error> {
    let SendPlan::Post { url, fields } = &ticket.send else { panic!("the fault suite runs with UPLOAD_METHOD=post") };
    let mut form = Form::new();
    for (n, v) in fields {
        form = form.text(n.clone(), v.clone());
    }
    form = form.part("file", Part::bytes(body.to_vec()).file_name("f.txt"));
    let res = reqwest::Client::new().post(url).multipart(form).timeout(Duration::from_secs(20)).send().await?;
    Ok(res.status().as_u16())
}

/// What the database and the bucket hold, and whether they agree.
#[derive(Debug, Default)]
struct Audit {
    rows: usize,
    completed: usize,
    pending: usize,
    objects: usize,
    /// Completed rows whose object is missing or of another size: lost uploads.
    lost: Vec<String>,
    /// Objects with no completed row: stored without being accounted for.
    unaccounted: Vec<String>,
}

async fn audit(database_url: &str, s3_vars: &HashMap<String, String>) -> Audit {
    let mut vars = s3_vars.clone();
    vars.insert("DATABASE_URL".into(), database_url.into());
    let config = Config::from_vars(&vars).unwrap();
    let pool = app::server::db::connect(database_url).await.unwrap();
    let rows: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT object_key, status, confirmed_size FROM uploads").fetch_all(&pool).await.unwrap();
    let s3 = config.s3.client();
    let mut objects: HashMap<String, u64> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = s3.list_objects("uploads/", after.as_deref(), 1000).await.unwrap();
        objects.extend(page.objects.into_iter().map(|o| (o.key, o.size)));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let completed: HashMap<&str, Option<i64>> =
        rows.iter().filter(|r| r.1 == "completed").map(|r| (r.0.as_str(), r.2)).collect();
    Audit {
        rows: rows.len(),
        completed: completed.len(),
        pending: rows.iter().filter(|r| r.1 == "pending").count(),
        objects: objects.len(),
        lost: completed
            .iter()
            .filter(|(k, size)| objects.get(**k).map(|s| *s as i64) != **size)
            .map(|(k, _)| k.to_string())
            .collect(),
        unaccounted: objects.keys().filter(|k| !completed.contains_key(k.as_str())).cloned().collect(),
    }
}

fn report(fault: &str, saw: &str, before: &Audit, after: &Audit, recovery: Duration) {
    let lost = after.lost.len() + after.unaccounted.len();
    println!(
        "FAULT|{fault}|{saw}|{} rows, {} objects|{} rows ({} completed, {} pending), {} objects|{}|{:.1} s",
        before.rows,
        before.objects,
        after.rows,
        after.completed,
        after.pending,
        after.objects,
        if lost == 0 { "nothing".to_owned() } else { format!("{lost}") },
        recovery.as_secs_f64()
    );
}

fn assert_sound(a: &Audit, what: &str) {
    assert!(a.lost.is_empty(), "{what}: completed without their object: {:?}", a.lost);
    assert!(a.unaccounted.is_empty(), "{what}: objects without a completed row: {:?}", a.unaccounted);
    assert_eq!(a.pending, 0, "{what}: rows left pending after the reconciler");
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/faults.db?mode=rwc", dir.display())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("s3drop-faults-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn server_env(s3: &HashMap<String, String>, database_url: &str) -> HashMap<String, String> {
    let mut env = s3.clone();
    env.insert("DATABASE_URL".into(), database_url.into());
    env.insert("UPLOAD_METHOD".into(), "post".into());
    env.insert("UPLOAD_MAX_BYTES".into(), "64MiB".into());
    env.insert("UPLOAD_MULTIPART_THRESHOLD".into(), "8MiB".into());
    env.insert("UPLOAD_ALLOWED_TYPES".into(), "*".into());
    env.insert("S3_TIMEOUT_SECS".into(), "3".into());
    env.insert("S3_APPLY_CORS_ON_START".into(), "false".into());
    env
}

/// Marks every pending upload as past its signature, so that one reconciler pass settles it.
async fn expire_pending(database_url: &str) {
    let pool = app::server::db::connect(database_url).await.unwrap();
    sqlx::query("UPDATE uploads SET expires_at = 0 WHERE status = 'pending'").execute(&pool).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the fault suite: scripts/faults"]
async fn garage_stopped_while_signing_sending_and_confirming() {
    let garage = Garage::new(3910);
    garage.up();
    let s3 = garage.vars();
    let dir = temp_dir("garage");
    let db = sqlite_url(&dir);
    let server = Server::start(3920, server_env(&s3, &db));
    let user = Client::sign_up(&server, "garage@x.io").await;

    let bodies: Vec<Vec<u8>> = (0..4).map(|i| filler(1000 + i, i)).collect();
    let mut tickets = vec![];
    for (i, body) in bodies.iter().enumerate() {
        let (status, json) = user.ticket(&format!("g{i}.txt"), body).await.unwrap();
        assert_eq!(status, 200);
        tickets.push(serde_json::from_value::<UploadTicket>(json).unwrap());
    }
    assert_eq!(send_to_s3(&tickets[0], &bodies[0]).await.unwrap(), 201);
    assert_eq!(user.confirm(&tickets[0].upload_id).await.unwrap().0, 200);
    assert_eq!(send_to_s3(&tickets[1], &bodies[1]).await.unwrap(), 201);
    let before = audit(&db, &s3).await;

    garage.down();
    // Confirming needs S3's word: refused in words, the row stays pending.
    let (status, json) = user.confirm(&tickets[1].upload_id).await.unwrap();
    assert_eq!(status, 503, "{json}");
    let saw = json["message"].as_str().unwrap_or_default().to_owned();
    assert!(saw.contains("storage"), "{saw}");
    // A small file's ticket is signed here alone; a large one needs S3 to start it.
    assert_eq!(user.ticket("small.txt", &filler(10, 0)).await.unwrap().0, 200);
    let big = filler(9 << 20, 0);
    let (status, json) = user.ticket("big.bin", &big).await.unwrap();
    assert_eq!(status, 503, "a multipart upload cannot start without S3: {json}");
    // In flight: the browser's POST fails on the network; nothing is confirmed.
    assert!(send_to_s3(&tickets[2], &bodies[2]).await.is_err());

    garage.up();
    let back = Instant::now();
    loop {
        match user.confirm(&tickets[1].upload_id).await.unwrap().0 {
            200 => break,
            503 if back.elapsed() < Duration::from_secs(30) => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("confirm after Garage came back: {other}"),
        }
    }
    let recovery = back.elapsed();
    expire_pending(&db).await;
    let out = server.reconcile();
    assert!(out.contains("3 expired"), "{out}");
    let after = audit(&db, &s3).await;
    assert_sound(&after, "Garage stopped");
    assert_eq!(after.completed, 2);
    report("Garage stopped mid-work", &format!("503 \"{saw}\""), &before, &after, recovery);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the fault suite: scripts/faults"]
async fn server_killed_mid_load_then_restarted() {
    let garage = Garage::new(3930);
    garage.up();
    let s3 = garage.vars();
    let dir = temp_dir("kill");
    let db = sqlite_url(&dir);
    let mut server = Server::start(3940, server_env(&s3, &db));
    // One user per worker, so that the per-user limit (300 a minute) is not what stops them.
    let mut users = vec![];
    for w in 0..6 {
        users.push(Client::sign_up(&server, &format!("kill{w}@x.io")).await);
    }
    let before = audit(&db, &s3).await;

    // Workers run the dropzone's loop; each confirm answered 200 is remembered.
    let confirmed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut workers = vec![];
    for (w, user) in users.iter().enumerate() {
        let (user, confirmed) = (user.clone(), confirmed.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let body = filler(2000 + i, w);
                let Ok((200, json)) = user.ticket(&format!("k{w}-{i}.txt"), &body).await else { break };
                let ticket: UploadTicket = serde_json::from_value(json).unwrap();
                if send_to_s3(&ticket, &body).await.is_err() {
                    break;
                }
                match user.confirm(&ticket.upload_id).await {
                    Ok((200, _)) => confirmed.lock().unwrap().push(ticket.upload_id),
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for w in workers {
        let _ = w.await;
    }
    let killed_at = Instant::now();
    server.restart();
    let recovery = killed_at.elapsed();
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(confirmed.len() >= 5, "the load did run: {} confirmed", confirmed.len());

    // Every confirmation answered 200 survived the kill.
    let pool = app::server::db::connect(&db).await.unwrap();
    for id in &confirmed {
        let (status,): (String,) =
            sqlx::query_as("SELECT status FROM uploads WHERE id = $1").bind(id).fetch_one(&pool).await.unwrap();
        assert_eq!(status, "completed", "{id}");
    }
    // The rest (sent but not confirmed, or not sent) is settled by the reconciler.
    expire_pending(&db).await;
    server.reconcile();
    let after = audit(&db, &s3).await;
    assert_sound(&after, "server killed");
    assert!(after.completed >= confirmed.len());
    report(
        "server SIGKILLed mid-load, restarted",
        &format!("requests in flight failed; {} confirmed before", confirmed.len()),
        &before,
        &after,
        recovery,
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A PostgreSQL cluster of the suite's own on `port` (initdb as the postgres user).
struct Postgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    fn start(port: u16) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL server binaries")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = PathBuf::from(format!("/tmp/s3drop-faults-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        let pg = Postgres { dir, port, bin };
        pg.as_postgres(&format!("{}/initdb -D {}/data -A trust -U postgres", pg.bin.display(), pg.dir.display()));
        pg.ctl("start");
        pg
    }

    fn as_postgres(&self, command: &str) {
        run(Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", command]));
    }

    fn ctl(&self, action: &str) {
        self.as_postgres(&format!(
            "{}/pg_ctl -D {d}/data -l {d}/log -w -m fast -o '-p {} -k {d} -c listen_addresses=127.0.0.1' {action}",
            self.bin.display(),
            self.port,
            d = self.dir.display()
        ));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c"])
            .arg(format!("{}/pg_ctl -D {}/data -m immediate stop", self.bin.display(), self.dir.display()))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Ticket requests by `workers` at once until `stop`: the statuses answered, in order.
async fn ticket_load(user: &Client, workers: usize, stop: Arc<std::sync::atomic::AtomicBool>) -> Vec<u16> {
    let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
    let mut handles = vec![];
    for w in 0..workers {
        let (user, statuses, stop) = (user.clone(), statuses.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = match user.ticket(&format!("p{w}-{i}.txt"), &filler(100, i)).await {
                    Ok((s, _)) => s,
                    Err(_) => 0,
                };
                statuses.lock().unwrap().push(status);
                i += 1;
                // About 40 a second per worker: the test lasts seconds, the per-user limit is 300 a minute.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let v = statuses.lock().unwrap().clone();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the fault suite: scripts/faults"]
async fn postgres_restarted_under_load() {
    let garage = Garage::new(3950);
    garage.up();
    let s3 = garage.vars();
    let pg = Postgres::start(5499);
    let db = pg.url();
    let server = Server::start(3960, server_env(&s3, &db));
    // Enough users that the per-user limit is not what answers.
    let mut users = vec![];
    for i in 0..4 {
        users.push(Client::sign_up(&server, &format!("pg{i}@x.io")).await);
    }
    let before = audit(&db, &s3).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loads: Vec<_> = users[..3]
        .iter()
        .map(|u| {
            let (u, stop) = (u.clone(), stop.clone());
            tokio::spawn(async move { ticket_load(&u, 1, stop).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Down for five seconds, longer than a request waits for a connection (3 s).
    pg.ctl("stop");
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.ctl("start");
    let restart = Instant::now();
    // Requests go on; the pool must find the database again by itself.
    let mut recovered = None;
    while restart.elapsed() < Duration::from_secs(30) {
        if users[3].ticket("probe.txt", &filler(10, 0)).await.map(|r| r.0).ok() == Some(200) {
            recovered = Some(restart.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovery = recovered.expect("requests succeed again after the restart");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = vec![];
    for l in loads {
        statuses.extend(l.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    let other: Vec<_> = statuses.iter().filter(|s| **s != 200 && **s != 503).collect();
    assert!(other.is_empty(), "only 200 or 503 while the database restarts: {other:?}");
    assert!(unavailable > 0, "requests during the outage were answered 503");
    // No half-written rows: one row per ticket answered (and the probes).
    let pool = app::server::db::connect(&db).await.unwrap();
    let probes: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM uploads WHERE file_name = 'probe.txt'").fetch_one(&pool).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&pool).await.unwrap();
    assert_eq!(rows - probes.0, ok as i64, "rows = tickets answered 200");
    expire_pending(&db).await;
    server.reconcile();
    let after = audit(&db, &s3).await;
    assert_sound(&after, "PostgreSQL restarted");
    report(
        "PostgreSQL restarted under load",
        &format!("{unavailable} of {} requests 503 \"database is not answering\", then 200", statuses.len()),
        &before,
        &after,
        recovery,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the fault suite: scripts/faults"]
async fn sqlite_disk_full_then_room_again() {
    let garage = Garage::new(3970);
    garage.up();
    let s3 = garage.vars();
    // A 3 MiB filesystem of the suite's own for the database, then filled up.
    let dir = temp_dir("full");
    run(Command::new("mount").args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"]).arg(&dir));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).output();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _unmount = Unmount(dir.clone());
    let db = sqlite_url(&dir);
    let server = Server::start(3980, server_env(&s3, &db));
    let user = Client::sign_up(&server, "full@x.io").await;
    let filler_file = dir.join("filler");
    // Leave the database a little room, then let tickets fill it.
    let free = fs_free_bytes(&dir);
    std::fs::write(&filler_file, vec![0u8; free.saturating_sub(96 * 1024) as usize]).ok();
    let before = audit(&db, &s3).await;
    let mut answered = 0;
    let mut saw = None;
    for i in 0..5000 {
        let (status, json) = user.ticket(&format!("f{i}.txt"), &filler(10, i)).await.unwrap();
        match status {
            200 => answered += 1,
            503 => {
                saw = Some(json["message"].as_str().unwrap_or_default().to_owned());
                break;
            }
            other => panic!("a full disk answered {other}: {json}"),
        }
    }
    let saw = saw.expect("the disk filled up");
    assert!(saw.contains("storage space"), "{saw}");
    // Room again: the same server carries on.
    std::fs::remove_file(&filler_file).unwrap();
    let room = Instant::now();
    let (status, _) = user.ticket("after.txt", &filler(10, 0)).await.unwrap();
    assert_eq!(status, 200, "the server carries on once there is room");
    let recovery = room.elapsed();
    let pool = app::server::db::connect(&db).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(check, "ok", "no corruption");
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, answered + 1, "a row for each ticket answered, none for the refused");
    expire_pending(&db).await;
    server.reconcile();
    let after = audit(&db, &s3).await;
    assert_sound(&after, "SQLite disk full");
    report("SQLite's disk full", &format!("503 \"{saw}\" after {answered} tickets"), &before, &after, recovery);
}

fn fs_free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}
