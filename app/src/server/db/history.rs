//! The admin history: filtered, sorted, keyset-paginated, with totals and uploads per day.
//! The WHERE clause is built from the filter with numbered placeholders, the same for both engines.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use crate::domain::Email;
use crate::model::{HistoryFilter, HistoryPage, HistoryRow, HistorySort, HistorySummary, StatusTotal};

use super::{DbError, Pool};

const DAY_MS: i64 = 86_400_000;

struct Where {
    sql: Vec<String>,
    args: AnyArguments<'static>,
    n: usize,
}

impl Where {
    fn new() -> Self {
        Where { sql: vec![], args: AnyArguments::default(), n: 0 }
    }
    fn text(&mut self, v: String) -> String {
        self.n += 1;
        self.args.add(v).expect("text binds");
        format!("${}", self.n)
    }
    fn int(&mut self, v: i64) -> String {
        self.n += 1;
        self.args.add(v).expect("integer binds");
        format!("${}", self.n)
    }
    fn clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }
}

/// A LIKE pattern (with `ESCAPE '\\'`) matching text that contains `s` literally.
fn contains_pattern(s: &str) -> String {
    format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// A quoted FTS5 phrase: matches text containing `s` (three characters or more, any case).
fn fts_phrase(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn filters(f: &HistoryFilter, with_cursor: bool, sqlite: bool) -> Where {
    let mut w = Where::new();
    // A whole address is looked up by its index; part of one ("ada", "@example.com") is enough
    // too. Stored addresses are lower case.
    if let Some(email) = f.user_email.as_deref().map(Email::canonical).filter(|e| !e.is_empty()) {
        if Email::parse(&email).is_ok() {
            let p = w.text(email);
            w.sql.push(format!("u.email = {p}"));
        } else {
            let p = w.text(contains_pattern(&email));
            w.sql.push(format!("u.email LIKE {p} ESCAPE '\\'"));
        }
    }
    if let Some(status) = f.status {
        let p = w.text(status.as_str().to_owned());
        w.sql.push(format!("up.status = {p}"));
    }
    if let Some(from) = f.from {
        let p = w.int(from);
        w.sql.push(format!("up.created_at >= {p}"));
    }
    if let Some(to) = f.to {
        let p = w.int(to);
        w.sql.push(format!("up.created_at < {p}"));
    }
    if let Some(name) = f.name.as_ref().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if sqlite && name.chars().count() >= 3 {
            // The trigram index (see `db::name_search_index`); shorter text has no trigram.
            let p = w.text(fts_phrase(name));
            w.sql.push(format!("up.rowid IN (SELECT rowid FROM uploads_names WHERE uploads_names MATCH {p})"));
        } else {
            let p = w.text(contains_pattern(&name.to_lowercase()));
            w.sql.push(format!("LOWER(up.file_name) LIKE {p} ESCAPE '\\'"));
            if !sqlite && name.chars().count() >= 3 {
                // The grams' index (see `db::name_search_index`); the LIKE keeps the exact matches.
                let g = w.text(name.to_owned());
                w.sql.push(format!("upload_name_grams(LOWER(up.file_name)) @> upload_name_pattern_grams(LOWER({g}))"));
            }
        }
    }
    if let (true, Some((value, id))) = (with_cursor, &f.before) {
        let col = sort_column(f.sort);
        // A row value: both engines walk the (…, id) index from the cursor instead of filtering.
        let (a, c) = (w.int(*value), w.text(id.clone()));
        w.sql.push(format!("({col}, up.id) > ({a}, {c})"));
    } else if let (true, Some((value, id))) = (with_cursor, &f.after) {
        let col = sort_column(f.sort);
        let (a, c) = (w.int(*value), w.text(id.clone()));
        w.sql.push(format!("({col}, up.id) < ({a}, {c})"));
    }
    w
}

fn sort_column(s: HistorySort) -> &'static str {
    match s {
        HistorySort::Time => "up.created_at",
        HistorySort::Size => "up.declared_size",
    }
}

/// What a page shows of each row.
const PAGE_COLUMNS: &str = "u.email AS owner_email, up.id, up.owner_id, up.object_key, up.file_name, up.content_type, \
    up.declared_size, up.confirmed_size, up.etag, up.checksum_sha256, up.status, up.method, up.error, \
    up.multipart_upload_id, up.part_size, up.part_count, up.fingerprint, up.found_at, \
    up.created_at, up.expires_at, up.confirmed_at";

/// How many of the newest rows a SQLite name search reads before it asks the trigram index.
const NAME_WALK: i64 = 2_000;

pub async fn page(pool: &Pool, f: &HistoryFilter, limit: i64) -> Result<HistoryPage, DbError> {
    let col = sort_column(f.sort);
    let backwards = f.before.is_some();
    // Going back reads the rows just above the cursor in the other order, then turns them round.
    let order = if backwards { "ASC" } else { "DESC" };
    let sqlite = super::is_sqlite(pool);
    let walked = if sqlite { newest_name_matches(pool, f, limit, col, order).await? } else { None };
    let mut rows: Vec<HistoryRow> = if let Some(rows) = walked {
        rows
    } else {
        let mut w = filters(f, true, sqlite);
        let lim = w.int(limit + 1);
        let sql = format!(
            "SELECT {PAGE_COLUMNS} FROM uploads up JOIN users u ON u.id = up.owner_id {} \
             ORDER BY {col} {order}, up.id {order} LIMIT {lim}",
            w.clause()
        );
        // Not kept prepared: PostgreSQL then plans each search with its own text, and so sees how
        // common its grams are, where a plan kept for any text would guess.
        sqlx::query_as_with(&sql, w.args).persistent(false).fetch_all(pool).await?
    };
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if backwards {
        rows.reverse();
    }
    let cursor = |r: &HistoryRow| {
        let v = match f.sort {
            HistorySort::Time => r.upload.created_at,
            HistorySort::Size => r.upload.declared_size,
        };
        (v, r.upload.id.clone())
    };
    // Forwards, there is a page before whenever we came by a cursor; backwards, when rows remain.
    let (next, prev) = if backwards {
        (rows.last().map(cursor), rows.first().filter(|_| more).map(cursor))
    } else {
        (rows.last().filter(|_| more).map(cursor), rows.first().filter(|_| f.after.is_some()).map(cursor))
    };
    Ok(HistoryPage { rows, next, prev })
}

/// On SQLite, a name search first reads the newest [`NAME_WALK`] rows the other filters keep, in
/// the page's order, and keeps those whose name holds the text: text in many names ("jpg",
/// "9.jpg") fills a page there in a few milliseconds, where FTS5 intersects the trigram lists of
/// every name holding it (117 ms at a million rows for "9.jpg"). Only a full page is taken from
/// the walk (`None` otherwise: the index answers). ASCII text only: SQLite's LIKE folds ASCII
/// case alone, FTS5 all of Unicode's, and both must find the same rows.
async fn newest_name_matches(
    pool: &Pool,
    f: &HistoryFilter,
    limit: i64,
    col: &str,
    order: &str,
) -> Result<Option<Vec<HistoryRow>>, DbError> {
    let Some(name) = f.name.as_deref().map(str::trim).filter(|n| n.chars().count() >= 3 && n.is_ascii()) else {
        return Ok(None);
    };
    let others = HistoryFilter { name: None, ..f.clone() };
    let mut w = filters(&others, true, true);
    let like = w.text(contains_pattern(&name.to_ascii_lowercase()));
    let (walk, lim) = (w.int(NAME_WALK), w.int(limit + 1));
    let sql = format!(
        "SELECT {PAGE_COLUMNS} FROM (SELECT up.* FROM uploads up JOIN users u ON u.id = up.owner_id {} \
         ORDER BY {col} {order}, up.id {order} LIMIT {walk}) up JOIN users u ON u.id = up.owner_id \
         WHERE LOWER(up.file_name) LIKE {like} ESCAPE '\\' ORDER BY {col} {order}, up.id {order} LIMIT {lim}",
        w.clause()
    );
    let rows: Vec<HistoryRow> = sqlx::query_as_with(&sql, w.args).persistent(false).fetch_all(pool).await?;
    Ok((rows.len() as i64 > limit).then_some(rows))
}

/// The users table is joined only when the filter names a user: aggregates stay on one table.
fn from_clause(f: &HistoryFilter) -> &'static str {
    if f.user_email.as_ref().is_some_and(|e| !e.trim().is_empty()) {
        "FROM uploads up JOIN users u ON u.id = up.owner_id"
    } else {
        "FROM uploads up"
    }
}

/// Totals per status and uploads per day for the filter: from the kept counts when they can
/// answer it (see `counts`), else from the rows.
pub async fn summary(pool: &Pool, f: &HistoryFilter, now: i64) -> Result<HistorySummary, DbError> {
    match super::counts::summary(pool, f, now).await? {
        Some(s) => Ok(s),
        None => summary_from_rows(pool, f, now).await,
    }
}

/// The summary read from the rows themselves: for filters the counts cannot answer (part of a
/// file name or email, times within a day), and to check the counts against.
pub async fn summary_from_rows(pool: &Pool, f: &HistoryFilter, now: i64) -> Result<HistorySummary, DbError> {
    // One pass over the matching rows, grouped by status and day; totals and the chart are both
    // sums of those groups (a name search costs one index scan, not two).
    let w = filters(f, false, super::is_sqlite(pool));
    let sql = format!(
        "SELECT up.status, up.created_at / {DAY_MS} AS day, COUNT(*), \
         CAST(COALESCE(SUM(COALESCE(up.confirmed_size, up.declared_size)), 0) AS BIGINT) \
         {} {} GROUP BY up.status, up.created_at / {DAY_MS}",
        from_clause(f),
        w.clause()
    );
    let groups: Vec<(String, i64, i64, i64)> =
        sqlx::query_as_with(&sql, w.args).persistent(false).fetch_all(pool).await?;
    let today = now - now.rem_euclid(DAY_MS);
    let since = (today - 29 * DAY_MS) / DAY_MS;
    let mut totals = std::collections::BTreeMap::<String, (i64, i64)>::new();
    let mut per_day = std::collections::BTreeMap::<i64, i64>::new();
    for (status, day, count, bytes) in groups {
        let t = totals.entry(status).or_default();
        t.0 += count;
        t.1 += bytes;
        if day >= since {
            *per_day.entry(day).or_default() += count;
        }
    }
    Ok(HistorySummary {
        totals: totals.into_iter().map(|(status, (count, bytes))| StatusTotal { status, count, bytes }).collect(),
        per_day: per_day.into_iter().rev().map(|(d, n)| (d * DAY_MS, n)).collect(),
        today,
    })
}
