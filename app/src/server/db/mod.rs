//! Database access for SQLite and PostgreSQL through one pool type. The SQL is written once, in
//! the subset both engines accept (`$n` placeholders, TEXT ids, BIGINT Unix milliseconds).

pub mod attempts;
pub mod batch;
pub mod counts;
pub mod history;
pub mod invites;
pub mod object_keys;
pub mod sessions;
pub mod tickets;
pub mod uploads;
pub mod users;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::AnyPool;

pub type Pool = AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not create the folder for the SQLite file {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    /// One failure given to every caller it concerns (a transaction that wrote many callers' rows).
    #[error(transparent)]
    Shared(std::sync::Arc<DbError>),
}

/// A database that cannot serve now, as opposed to a query of ours that is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Not reachable, restarting, or too busy to answer in time.
    Unreachable,
    /// Out of disk space (SQLite's file cannot grow).
    Full,
}

impl DbError {
    /// Whether this is the database being away or full (worth a 503 and a retry) rather than a fault.
    pub fn outage(&self) -> Option<Outage> {
        if let DbError::Shared(e) = self {
            return e.outage();
        }
        let DbError::Sqlx(e) = self else { return None };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                Some(Outage::Unreachable)
            }
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
                // SQLite's primary result code is the low byte of the extended one.
                let sqlite = code.parse::<u32>().ok().map(|c| c & 0xff);
                match (code.as_str(), sqlite) {
                    (_, Some(13)) => Some(Outage::Full),
                    (_, Some(5 | 6 | 10 | 14)) => Some(Outage::Unreachable), // busy, locked, I/O, cannot open
                    ("53100", _) => Some(Outage::Full),                      // PostgreSQL: disk full
                    (c, _) if c.starts_with("08") || c.starts_with("57P") || c == "53300" => {
                        Some(Outage::Unreachable) // connection lost, shutting down, too many connections
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The database refused a row whose unique value (id, object key, email) another row has.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlx(sqlx::Error::Database(e)) => e.is_unique_violation(),
            DbError::Shared(e) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// Connects, creating the SQLite file (and its folder) when needed, and applies migrations.
pub async fn connect(url: &str) -> Result<Pool, DbError> {
    install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        ensure_sqlite_folder(url)?;
    }
    let pool = AnyPoolOptions::new()
        // SQLite has one writer; a small pool avoids lock contention, PostgreSQL takes more.
        .max_connections(if is_sqlite { 4 } else { 16 })
        // A request that cannot get a connection in 3 s is answered 503 (the database is away)
        // instead of waiting on with the user.
        .acquire_timeout(std::time::Duration::from_secs(3))
        // A SQLite connection is a file, not a socket that can go dead: checking it at every
        // checkout was a message to its thread and back for nothing (the return still checks it).
        .test_before_acquire(!is_sqlite)
        // Connections left over from a burst are closed once it is over, with their caches and
        // (SQLite) memory maps: an idle server's resident memory returns near its start.
        .idle_timeout(batch::IDLE_RELEASE)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if is_sqlite {
                    use sqlx::Executor;
                    conn.execute(SQLITE_SETTINGS).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    MIGRATOR.run(&pool).await?;
    if let Err(e) = object_keys::install(&pool, is_sqlite).await {
        tracing::warn!(error = %e, "the object key keeps its first index; ticket writes stay slower");
    }
    name_search_index(&pool, is_sqlite).await;
    counts::install(&pool, is_sqlite).await?;
    Ok(pool)
}

/// Every SQLite connection's settings. WAL with NORMAL sync: no corruption on a crash, one fsync
/// per checkpoint instead of one per upload row change. The file is read through a memory map
/// (up to 256 MiB of it) rather than a read call per page that misses SQLite's own cache: under
/// load those calls and their copies were a quarter of the database threads' time. Statement
/// journals (a batch's INSERT keeps one, to undo itself alone) stay in memory: on disk each batch
/// created, wrote and deleted a temporary file, thousands of calls a second (the ticket endpoint
/// went from about 6,600 to 8,100 a second in one side-by-side run). The WAL is copied back into the
/// file every 10,000 pages (40 MiB) rather than every 1,000: a batch of tickets dirties a few
/// hundred pages, mostly the same hot ones, so the default made every fourth commit a checkpoint
/// with its fsync (a third of a batch's time in a replay of one); the file is cut back to 64 MiB
/// after each.
const SQLITE_SETTINGS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
    PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY; \
    PRAGMA wal_autocheckpoint = 10000; PRAGMA journal_size_limit = 67108864;";

/// On SQLite, copies the WAL back into the database file from a connection of its own, so that
/// little is left to copy for the commit that crosses `wal_autocheckpoint`. That commit still
/// finishes the copy and syncs both files while every caller of its batch waits, and under a
/// steady load it comes every 10,000 pages: the background copy never quite catches the writer,
/// and the WAL can start over only once all of it is copied. Its cost is mostly the fsync of what
/// the background copy left unsynced (about 1 ms per 2 MB here), so the copy runs every 5 ms
/// while the WAL changes: at 64 connections the ticket endpoint's p99 went from 41 ms (every
/// 250 ms) to 25 (50 ms), 18 (10 ms) and 15–17 ms (5 ms). After a second without a change it
/// looks four times a second. PASSIVE never waits for a writer and never holds one up. A WAL that
/// has not changed since the last copy (its modification time) is left alone without a query. Once nothing was written for a while the
/// WAL is cut to nothing and the connection closed, so an idle server holds neither. On
/// PostgreSQL this does nothing.
pub fn spawn_checkpoints(pool: Pool) {
    let Some(wal) = sqlite_path(pool.connect_options().database_url.as_str()).map(|p| format!("{p}-wal")) else {
        return;
    };
    tokio::spawn(async move {
        let mut held = batch::Held::new(pool.clone());
        let mut copied: Option<std::time::SystemTime> = None;
        let mut changed_at = std::time::Instant::now();
        let modified_at = || std::fs::metadata(&wal).and_then(|m| m.modified()).ok();
        loop {
            let busy = changed_at.elapsed() < std::time::Duration::from_secs(1);
            tokio::time::sleep(std::time::Duration::from_millis(if busy { 5 } else { 250 })).await;
            if pool.is_closed() {
                break;
            }
            let modified = modified_at();
            if modified.is_none() || modified == copied {
                if changed_at.elapsed() > batch::IDLE_RELEASE && held.holds() {
                    // Nothing written for a while: the WAL (up to 64 MiB after a burst) is copied
                    // back and cut to nothing, once.
                    if let Ok(conn) = held.get().await {
                        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn).await {
                            tracing::debug!(error = %e, "could not cut the idle WAL back; it stays as it is");
                        }
                    }
                    copied = modified_at();
                    held.release().await;
                }
                continue;
            }
            changed_at = std::time::Instant::now();
            let result = match held.get().await {
                Ok(conn) => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(conn).await.map_err(DbError::from),
                Err(e) => Err(e),
            };
            match &result {
                Ok(_) => copied = modified,
                Err(e) => tracing::debug!(error = %e, "background WAL checkpoint failed; the next one will try again"),
            }
            held.after(&result);
        }
    });
}

/// On PostgreSQL, files the name index's pending rows (see [`PG_NAME_GRAMS`]) from the
/// background, once a second while tickets come, so that no ticket batch has to: done by the
/// insert that filled the list, it took that batch 20–100 ms and a quarter of the ticket
/// endpoint's throughput. With nothing to file it asks every 2 s (a longer rest let a burst fill
/// the list and an insert file 16 MB: a 300 ms stall). On SQLite this does nothing.
pub fn spawn_name_index_upkeep(pool: Pool) {
    if is_sqlite(&pool) {
        return;
    }
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_secs(2);
        loop {
            tokio::time::sleep(wait).await;
            if pool.is_closed() {
                break;
            }
            let filed = sqlx::query_as::<_, (i64,)>("SELECT gin_clean_pending_list('uploads_name_grams'::regclass)")
                .fetch_one(&pool)
                .await;
            wait = match filed {
                Ok((n,)) if n > 0 => std::time::Duration::from_secs(1),
                Ok(_) => std::time::Duration::from_secs(2),
                Err(e) => {
                    tracing::debug!(error = %e, "could not file the name index's pending rows; inserts will");
                    std::time::Duration::from_secs(30)
                }
            };
        }
    });
}

/// The file of a SQLite URL (`sqlite:path` or `sqlite://path?options`); `None` for another
/// engine or an in-memory database.
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite:")?;
    let path = path.strip_prefix("//").unwrap_or(path);
    let path = path.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Whether `pool` is SQLite's (the few engine-specific statements depend on it).
pub fn is_sqlite(pool: &Pool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

/// The admin's file-name search ("contains", any case) through an index instead of a scan of
/// every row: SQLite's FTS5 trigram table kept in step by triggers; on PostgreSQL a GIN index of
/// each lower-cased name's 3- and 5-character substrings ([`PG_NAME_GRAMS`]). Engine-specific,
/// so not in the shared migrations; idempotent. Without it (an engine that refuses) the search
/// still works, by scanning.
///
/// PostgreSQL's pg_trgm index (used before) cut names into words and words into trigrams, so a
/// search for `file-99999` among 10 M `file-N.jpg` names walked every name holding " 99" and
/// "999" (111 k of them) to find 111: about 150 ms. Its 5-grams (`-9999`, `99999`) are rare, and
/// the index answers in about 3 ms. Names the pattern's grams say little about ("jpg" in every
/// name) are left to the newest-first walk, which stops at the page: the planner sees how common
/// each gram is from the index's own statistics.
async fn name_search_index(pool: &Pool, is_sqlite: bool) {
    let statements: &[&str] = if is_sqlite {
        &[
            "CREATE VIRTUAL TABLE IF NOT EXISTS uploads_names USING fts5(file_name, content='uploads', \
             content_rowid='rowid', tokenize='trigram')",
            "CREATE TRIGGER IF NOT EXISTS uploads_names_insert AFTER INSERT ON uploads BEGIN \
             INSERT INTO uploads_names (rowid, file_name) VALUES (new.rowid, new.file_name); END",
            "CREATE TRIGGER IF NOT EXISTS uploads_names_delete AFTER DELETE ON uploads BEGIN \
             INSERT INTO uploads_names (uploads_names, rowid, file_name) VALUES ('delete', old.rowid, old.file_name); END",
            "CREATE TRIGGER IF NOT EXISTS uploads_names_update AFTER UPDATE OF file_name ON uploads BEGIN \
             INSERT INTO uploads_names (uploads_names, rowid, file_name) VALUES ('delete', old.rowid, old.file_name); \
             INSERT INTO uploads_names (rowid, file_name) VALUES (new.rowid, new.file_name); END",
        ]
    } else {
        PG_NAME_GRAMS
    };
    // What tells a new index, and what fills it once (the rows written before it existed): FTS5
    // indexes them on 'rebuild'; PostgreSQL built its index with them, and ANALYZE gives the
    // planner the index's and the names' statistics at once (a sample: seconds at 10 M rows).
    let (exists, fill) = if is_sqlite {
        (
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'uploads_names'",
            "INSERT INTO uploads_names (uploads_names) VALUES ('rebuild')",
        )
    } else {
        ("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'uploads_name_grams'", "ANALYZE uploads")
    };
    let fresh = sqlx::query_as::<_, (i64,)>(exists).fetch_one(pool).await.is_ok_and(|(n,)| n == 0);
    for sql in statements {
        if let Err(e) = sqlx::query(sql).execute(pool).await {
            tracing::warn!(error = %e, "no file-name search index; the admin's name search scans");
            return;
        }
    }
    // Without statistics of the lower-cased names PostgreSQL guesses any LIKE rare, so that a
    // search for text in most names ("9.jpg") read all of them through the index (150 ms at a
    // million) instead of walking the newest until a page is full (2 ms). PostgreSQL 14 and later.
    if !is_sqlite {
        let stats = "CREATE STATISTICS IF NOT EXISTS uploads_lower_name ON (LOWER(file_name)) FROM uploads";
        if let Err(e) = sqlx::query(stats).execute(pool).await {
            tracing::warn!(error = %e, "no statistics of file names; searches for common text may be slow");
        }
    }
    if fresh {
        if let Err(e) = sqlx::query(fill).execute(pool).await {
            tracing::warn!(error = %e, "could not index (or, on PostgreSQL, analyse) the file names already there");
        }
    }
}

/// The substrings PostgreSQL indexes names by, and those a search looks up: of a pattern of 5
/// characters or more its 5-grams, of a shorter one its 3-grams (under 3, no index: a scan).
/// Every substring of a name a pattern is in holds the pattern's grams, so the index never
/// misses a match; the LIKE beside it drops the names that hold the grams elsewhere. The
/// functions are created only when missing: an index depends on its function never changing.
const PG_NAME_GRAMS: &[&str] = &[
    "DO $$ BEGIN IF to_regprocedure('upload_name_grams(text)') IS NULL THEN \
       CREATE FUNCTION upload_name_grams(name text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS \
       'SELECT ARRAY(SELECT substr(name, i, n) FROM (VALUES (3), (5)) AS g(n), generate_series(1, length(name) - n + 1) AS i)'; \
     END IF; \
     IF to_regprocedure('upload_name_pattern_grams(text)') IS NULL THEN \
       CREATE FUNCTION upload_name_pattern_grams(p text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS \
       'SELECT ARRAY(SELECT substr(p, i, n) FROM (SELECT CASE WHEN length(p) >= 5 THEN 5 ELSE 3 END) AS g(n), \
        generate_series(1, length(p) - n + 1) AS i)'; \
     END IF; END $$",
    // New rows wait in the index's pending list, filed into the index proper from the background
    // ([`spawn_name_index_upkeep`]); only if that falls 16 MB behind does an insert file them.
    "CREATE INDEX IF NOT EXISTS uploads_name_grams ON uploads USING gin (upload_name_grams(LOWER(file_name))) \
     WITH (gin_pending_list_limit = 16384)",
    // The index of earlier versions: the grams answer every search it did.
    "DROP INDEX IF EXISTS uploads_name_trgm",
];

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

fn ensure_sqlite_folder(url: &str) -> Result<(), DbError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| DbError::Folder { path: path.to_owned(), source })?;
    }
    Ok(())
}

/// Succeeds when the database answers a query.
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Now, as every time is stored: Unix milliseconds.
pub fn now_millis() -> i64 {
    unix_millis(time::OffsetDateTime::now_utc())
}

/// A moment as Unix milliseconds.
pub fn unix_millis(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn a_sqlite_url_gives_its_file_and_nothing_else_does() {
        assert_eq!(sqlite_path("sqlite:///var/lib/s3drop/app.db?mode=rwc"), Some("/var/lib/s3drop/app.db"));
        assert_eq!(sqlite_path("sqlite://data/app.db"), Some("data/app.db"));
        assert_eq!(sqlite_path("sqlite:data/app.db"), Some("data/app.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://?mode=memory"), None);
        assert_eq!(sqlite_path("postgres://127.0.0.1/app"), None);
    }
}
