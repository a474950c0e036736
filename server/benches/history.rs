//! Seeds 1,000,000 uploads (100 users; `BENCH_ROWS` for another number) and prints the server time
//! of admin history pages and their summaries on SQLite and on PostgreSQL. Run with
//! `cargo bench -p server --bench history` (PostgreSQL from TEST_POSTGRES_URL, default
//! postgres://postgres:postgres@127.0.0.1:5432/postgres; `BENCH_ENGINES=postgres` for one engine).

use std::time::{Duration, Instant};

use app::model::{HistoryFilter, HistorySort, UploadStatus};
use app::server::db::{self, history};
use sqlx::{Connection, Executor, PgConnection};

fn rows() -> i64 {
    std::env::var("BENCH_ROWS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}

async fn seed(pool: &db::Pool) -> Duration {
    let start = Instant::now();
    let now = db::now_millis();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99) \
         INSERT INTO users (id, email, role, password_hash, created_at) \
         SELECT 'u' || CAST(i AS TEXT), 'user' || CAST(i AS TEXT) || '@example.com', 'user', 'x', 0 FROM n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO uploads (id, owner_id, object_key, file_name, content_type, declared_size, status, method, \
                              created_at, expires_at) \
         SELECT 'up' || CAST(i AS TEXT), 'u' || CAST(i % 100 AS TEXT), 'uploads/k' || CAST(i AS TEXT), \
                'file-' || CAST(i AS TEXT) || '.jpg', 'image/jpeg', (i * 7919) % 5000000, \
                CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'pending' WHEN 2 THEN 'expired' ELSE 'completed' END, \
                'post', {now} - i * 1000, {now} - i * 1000 + 900000 FROM n",
        last = rows() - 1
    ))
    .execute(pool)
    .await
    .unwrap();
    start.elapsed()
}

/// Median of five runs of the page (rows and cursor) and of its summary (totals, per day).
async fn time_page(pool: &db::Pool, name: &str, f: &HistoryFilter) {
    let (mut page_t, mut sum_t) = (vec![], vec![]);
    let mut rows = 0;
    for _ in 0..5 {
        let t = Instant::now();
        rows = history::page(pool, f, 50).await.unwrap().rows.len();
        page_t.push(t.elapsed());
        let t = Instant::now();
        history::summary(pool, f, db::now_millis()).await.unwrap();
        sum_t.push(t.elapsed());
    }
    page_t.sort();
    sum_t.sort();
    println!("  {name:<44} page {:>7.1} ms ({rows:>2} rows)   summary {:>7.1} ms", ms(page_t[2]), ms(sum_t[2]));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(engine: &str, url: &str) {
    let pool = db::connect(url).await.unwrap();
    let seeded = seed(&pool).await;
    if url.starts_with("sqlite") {
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    } else {
        sqlx::query("ANALYZE uploads").execute(&pool).await.unwrap();
        sqlx::query("ANALYZE users").execute(&pool).await.unwrap();
    }
    println!(
        "{engine}: seeded {} uploads in {:.1} s (the counts kept by triggers as they went)",
        rows(),
        seeded.as_secs_f64()
    );
    let base = HistoryFilter::default();
    time_page(&pool, "newest first, no filter", &base).await;
    let now = db::now_millis();
    let t = Instant::now();
    history::summary_from_rows(&pool, &base, now).await.unwrap();
    println!("  {:<44} (the same summary read from the rows: {:.1} ms)", "", ms(t.elapsed()));
    let today = now - now.rem_euclid(86_400_000);
    let week = HistoryFilter { from: Some(today - 7 * 86_400_000), to: Some(today), ..base.clone() };
    time_page(&pool, "the last seven whole days", &week).await;
    let user = HistoryFilter { user_email: Some("user43@example.com".into()), ..base.clone() };
    time_page(&pool, "one user (10,000 uploads)", &user).await;
    let filtered = HistoryFilter { status: Some(UploadStatus::Completed), ..user.clone() };
    time_page(&pool, "one user, completed", &filtered).await;
    let day = db::now_millis() - 86_400_000;
    let window = HistoryFilter { from: Some(day - 3_600_000), to: Some(day), ..base.clone() };
    time_page(&pool, "one hour, a day ago", &window).await;
    // Searches: a rare name (111 at 10 M), a common ending (one name in ten), four characters.
    for text in ["file-99999", "9.jpg", "1234"] {
        let search = HistoryFilter { name: Some(text.into()), ..base.clone() };
        time_page(&pool, &format!("file name contains '{text}'"), &search).await;
    }
    let by_size = HistoryFilter { sort: HistorySort::Size, status: Some(UploadStatus::Completed), ..base.clone() };
    time_page(&pool, "completed, largest first", &by_size).await;
    // A deep page: follow the cursor 200 pages in, then time the next one.
    let mut deep = filtered.clone();
    for _ in 0..100 {
        deep.after = history::page(&pool, &deep, 50).await.unwrap().next;
    }
    time_page(&pool, "one user, completed, page 101 (keyset)", &deep).await;
    let t = Instant::now();
    let drift = db::counts::check(&pool).await.unwrap();
    println!("  counts checked against every row in {:.1} s: {} disagree", t.elapsed().as_secs_f64(), drift.len());
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join("s3drop-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "sqlite postgres".into());
    if engines.contains("sqlite") {
        run("SQLite", &format!("sqlite://{}/history.db?mode=rwc", dir.display())).await;
    }
    if !engines.contains("postgres") {
        return;
    }

    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    let mut conn = PgConnection::connect(&admin).await.expect("PostgreSQL (TEST_POSTGRES_URL) is reachable");
    conn.execute("DROP DATABASE IF EXISTS s3drop_bench WITH (FORCE)").await.unwrap();
    conn.execute("CREATE DATABASE s3drop_bench").await.unwrap();
    let url = format!("{}/s3drop_bench", admin.rsplit_once('/').unwrap().0);
    run("PostgreSQL", &url).await;
    conn.execute("DROP DATABASE IF EXISTS s3drop_bench WITH (FORCE)").await.unwrap();
}
