//! Upload counts and bytes kept as the rows change, so the admin's totals and chart read a few
//! hundred rows instead of every upload (at a million uploads a scan took about a second).
//!
//! Two tables: per day and status (what the unfiltered summary and a status filter need), and per
//! owner, day and status (one user's summary). Triggers keep them, so every statement that
//! inserts, updates or deletes an upload changes the counts in its own transaction, whatever code
//! (or hand-typed SQL) wrote it. Trigger syntax differs between the engines, so, like the name
//! index, they are made at connect rather than in the shared migrations. [`check`] recomputes
//! them from the rows; [`rebuild`] rewrites them.

use std::collections::BTreeMap;

use super::{DbError, Pool};

pub const DAY_MS: i64 = 86_400_000;

const TABLES: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS upload_day_counts (
        day     BIGINT NOT NULL,
        status  TEXT NOT NULL,
        uploads BIGINT NOT NULL,
        bytes   BIGINT NOT NULL,
        PRIMARY KEY (day, status))",
    "CREATE TABLE IF NOT EXISTS upload_owner_counts (
        owner_id TEXT NOT NULL,
        day      BIGINT NOT NULL,
        status   TEXT NOT NULL,
        uploads  BIGINT NOT NULL,
        bytes    BIGINT NOT NULL,
        PRIMARY KEY (owner_id, day, status))",
];

/// The statements that take a row (`r` is `new` or `old`) into the counts (`sign` 1) or out of
/// them (`sign` -1). Taking in is an upsert; taking out only ever meets an existing count.
fn follow(r: &str, sign: i64) -> [String; 2] {
    let bytes = format!("COALESCE({r}.confirmed_size, {r}.declared_size)");
    let day = format!("{r}.created_at / {DAY_MS}");
    if sign > 0 {
        [
            format!(
                "INSERT INTO upload_day_counts (day, status, uploads, bytes) VALUES ({day}, {r}.status, 1, {bytes}) \
                 ON CONFLICT (day, status) DO UPDATE SET uploads = upload_day_counts.uploads + 1, \
                 bytes = upload_day_counts.bytes + excluded.bytes"
            ),
            format!(
                "INSERT INTO upload_owner_counts (owner_id, day, status, uploads, bytes) \
                 VALUES ({r}.owner_id, {day}, {r}.status, 1, {bytes}) \
                 ON CONFLICT (owner_id, day, status) DO UPDATE SET uploads = upload_owner_counts.uploads + 1, \
                 bytes = upload_owner_counts.bytes + excluded.bytes"
            ),
        ]
    } else {
        [
            format!(
                "UPDATE upload_day_counts SET uploads = uploads - 1, bytes = bytes - {bytes} \
                 WHERE day = {day} AND status = {r}.status"
            ),
            format!(
                "UPDATE upload_owner_counts SET uploads = uploads - 1, bytes = bytes - {bytes} \
                 WHERE owner_id = {r}.owner_id AND day = {day} AND status = {r}.status"
            ),
        ]
    }
}

/// The columns whose change moves a row from one count to another.
const COUNTED_COLUMNS: &str = "status, confirmed_size, declared_size, created_at, owner_id";

fn sqlite_triggers() -> Vec<String> {
    let body = |parts: Vec<String>| parts.into_iter().map(|s| s + ";").collect::<Vec<_>>().join(" ");
    let [ins_day, ins_owner] = follow("new", 1);
    let [del_day, del_owner] = follow("old", -1);
    vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS upload_counts_insert AFTER INSERT ON uploads BEGIN {} END",
            body(vec![ins_day.clone(), ins_owner.clone()])
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS upload_counts_delete AFTER DELETE ON uploads BEGIN {} END",
            body(vec![del_day.clone(), del_owner.clone()])
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS upload_counts_update AFTER UPDATE OF {COUNTED_COLUMNS} ON uploads BEGIN {} END",
            body(vec![del_day, del_owner, ins_day, ins_owner])
        ),
    ]
}

/// PostgreSQL: statement-level triggers over the transition tables, one per kind of change, so a
/// statement touching many rows (an import, a bulk fix) adds up its changes per count once. A
/// row-level trigger there updated the same count row once per row, each update a new version of
/// that row within the transaction: a million-row insert took minutes. Counts are written in
/// (day, status) order, the day table before the owner table, so concurrent statements take their
/// row locks in one order and cannot deadlock.
fn postgres_triggers() -> Vec<String> {
    let bytes = |r: &str| format!("COALESCE({r}.confirmed_size, {r}.declared_size)");
    // What a statement adds to and takes from the counts, as (owner_id, day, status, n, bytes).
    let inserted =
        format!("SELECT owner_id, created_at / {DAY_MS} AS day, status, 1 AS n, {} AS b FROM new_rows r", bytes("r"));
    let deleted =
        format!("SELECT owner_id, created_at / {DAY_MS} AS day, status, -1 AS n, -{} AS b FROM old_rows r", bytes("r"));
    let differs = format!(
        "(o.owner_id, o.created_at / {DAY_MS}, o.status, {}) IS DISTINCT FROM (nw.owner_id, nw.created_at / {DAY_MS}, nw.status, {})",
        bytes("o"),
        bytes("nw")
    );
    let updated = format!(
        "SELECT o.owner_id, o.created_at / {DAY_MS} AS day, o.status, -1 AS n, -{} AS b \
         FROM old_rows o JOIN new_rows nw ON nw.id = o.id WHERE {differs} \
         UNION ALL SELECT nw.owner_id, nw.created_at / {DAY_MS}, nw.status, 1, {} \
         FROM old_rows o JOIN new_rows nw ON nw.id = o.id WHERE {differs}",
        bytes("o"),
        bytes("nw")
    );
    let apply = |delta: &str| {
        format!(
            "INSERT INTO upload_day_counts (day, status, uploads, bytes) \
             SELECT day, status, SUM(n), SUM(b) FROM ({delta}) d GROUP BY day, status ORDER BY day, status \
             ON CONFLICT (day, status) DO UPDATE SET uploads = upload_day_counts.uploads + excluded.uploads, \
             bytes = upload_day_counts.bytes + excluded.bytes; \
             INSERT INTO upload_owner_counts (owner_id, day, status, uploads, bytes) \
             SELECT owner_id, day, status, SUM(n), SUM(b) FROM ({delta}) d GROUP BY owner_id, day, status \
             ORDER BY owner_id, day, status \
             ON CONFLICT (owner_id, day, status) DO UPDATE SET uploads = upload_owner_counts.uploads + excluded.uploads, \
             bytes = upload_owner_counts.bytes + excluded.bytes;"
        )
    };
    let mut out = vec!["DROP TRIGGER IF EXISTS upload_counts_follow ON uploads".to_owned()];
    for (op, delta, referencing) in [
        ("insert", inserted, "NEW TABLE AS new_rows"),
        ("delete", deleted, "OLD TABLE AS old_rows"),
        ("update", updated, "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ] {
        out.push(format!(
            "CREATE OR REPLACE FUNCTION upload_counts_{op}() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN {} RETURN NULL; END $$",
            apply(&delta)
        ));
        out.push(format!(
            "CREATE OR REPLACE TRIGGER upload_counts_{op} AFTER {} ON uploads REFERENCING {referencing} \
             FOR EACH STATEMENT EXECUTE FUNCTION upload_counts_{op}()",
            op.to_uppercase()
        ));
    }
    out
}

/// Makes the tables and triggers (idempotent); counts the rows already there when the tables are
/// new. Tables, triggers and the first count are one transaction: no row is counted twice or
/// missed by this server's start.
pub async fn install(pool: &Pool, is_sqlite: bool) -> Result<(), DbError> {
    let existing: Vec<(i64,)> = if is_sqlite {
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = 'upload_day_counts'").fetch_all(pool).await?
    } else {
        sqlx::query_as("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'upload_day_counts'")
            .fetch_all(pool)
            .await?
    };
    let fresh = existing.first().is_none_or(|(n,)| *n == 0);
    let mut tx = pool.begin().await?;
    for sql in TABLES {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    for sql in if is_sqlite { sqlite_triggers() } else { postgres_triggers() } {
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    if fresh {
        fill(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn fill(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<(), DbError> {
    for sql in [
        "DELETE FROM upload_day_counts".to_owned(),
        "DELETE FROM upload_owner_counts".to_owned(),
        format!(
            "INSERT INTO upload_day_counts (day, status, uploads, bytes) \
             SELECT created_at / {DAY_MS}, status, COUNT(*), CAST(SUM(COALESCE(confirmed_size, declared_size)) AS BIGINT) \
             FROM uploads GROUP BY created_at / {DAY_MS}, status"
        ),
        format!(
            "INSERT INTO upload_owner_counts (owner_id, day, status, uploads, bytes) \
             SELECT owner_id, created_at / {DAY_MS}, status, COUNT(*), CAST(SUM(COALESCE(confirmed_size, declared_size)) AS BIGINT) \
             FROM uploads GROUP BY owner_id, created_at / {DAY_MS}, status"
        ),
    ] {
        sqlx::query(&sql).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Rewrites the counts from the rows, in one transaction.
pub async fn rebuild(pool: &Pool) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    fill(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// One count that disagrees with the rows: (owner or `*`, day in Unix ms, status), what the
/// counts say and what the rows say, as (uploads, bytes).
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub owner: String,
    pub day: i64,
    pub status: String,
    pub counted: (i64, i64),
    pub actual: (i64, i64),
}

type Key = (String, i64, String);

async fn read(pool: &Pool, sql: &str) -> Result<BTreeMap<Key, (i64, i64)>, DbError> {
    let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(sql).fetch_all(pool).await?;
    Ok(rows.into_iter().filter(|r| r.3 != 0 || r.4 != 0).map(|(o, d, s, n, b)| ((o, d * DAY_MS, s), (n, b))).collect())
}

/// Compares the counts with the rows (reading every row: for the operator, not for pages).
pub async fn check(pool: &Pool) -> Result<Vec<Mismatch>, DbError> {
    let sum = "CAST(SUM(COALESCE(confirmed_size, declared_size)) AS BIGINT)";
    let pairs = [
        (
            read(pool, "SELECT '*', day, status, uploads, bytes FROM upload_day_counts").await?,
            read(
                pool,
                &format!(
                    "SELECT '*', created_at / {DAY_MS}, status, COUNT(*), {sum} FROM uploads \
                     GROUP BY created_at / {DAY_MS}, status"
                ),
            )
            .await?,
        ),
        (
            read(pool, "SELECT owner_id, day, status, uploads, bytes FROM upload_owner_counts").await?,
            read(
                pool,
                &format!(
                    "SELECT owner_id, created_at / {DAY_MS}, status, COUNT(*), {sum} FROM uploads \
                     GROUP BY owner_id, created_at / {DAY_MS}, status"
                ),
            )
            .await?,
        ),
    ];
    let mut out = vec![];
    for (counted, actual) in pairs {
        let keys: std::collections::BTreeSet<&Key> = counted.keys().chain(actual.keys()).collect();
        for k in keys {
            let (c, a) = (counted.get(k).copied().unwrap_or((0, 0)), actual.get(k).copied().unwrap_or((0, 0)));
            if c != a {
                out.push(Mismatch { owner: k.0.clone(), day: k.1, status: k.2.clone(), counted: c, actual: a });
            }
        }
    }
    Ok(out)
}

/// The admin summary from the counts, when the filter asks only what they hold: a status, one
/// whole email (one owner), whole days. `None` when it asks for more (part of a file name or of
/// an email, a time within a day): the caller reads the rows instead.
pub async fn summary(
    pool: &Pool,
    f: &crate::model::HistoryFilter,
    now: i64,
) -> Result<Option<crate::model::HistorySummary>, DbError> {
    use crate::domain::Email;
    use crate::model::{HistorySummary, StatusTotal};
    use sqlx::Arguments;

    let email = f.user_email.as_deref().map(Email::canonical).filter(|e| !e.is_empty());
    let whole_days = |t: Option<i64>| t.is_none_or(|t| t.rem_euclid(DAY_MS) == 0);
    let by_name = f.name.as_deref().is_some_and(|n| !n.trim().is_empty());
    if by_name || !whole_days(f.from) || !whole_days(f.to) || email.as_deref().is_some_and(|e| Email::parse(e).is_err())
    {
        return Ok(None);
    }
    let today = now - now.rem_euclid(DAY_MS);
    let since = today - 29 * DAY_MS;
    // Both queries: the same conditions, on the owner's table when one is named.
    let query = |select: &str, extra_from: Option<i64>, group: &str| {
        let mut args = sqlx::any::AnyArguments::default();
        let mut conds = vec![];
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let table = match &email {
            Some(e) => {
                conds.push(format!("owner_id IN (SELECT id FROM users WHERE email = {})", next()));
                args.add(e.clone()).expect("text binds");
                "upload_owner_counts"
            }
            None => "upload_day_counts",
        };
        if let Some(s) = f.status {
            conds.push(format!("status = {}", next()));
            args.add(s.as_str().to_owned()).expect("text binds");
        }
        for (bound, op) in [(f.from.max(extra_from), ">="), (f.to, "<")] {
            if let Some(t) = bound {
                conds.push(format!("day {op} {}", next()));
                args.add(t.div_euclid(DAY_MS)).expect("integer binds");
            }
        }
        let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        (
            format!("SELECT {select} FROM {table} {filter} GROUP BY {group} HAVING SUM(uploads) > 0 ORDER BY {group}"),
            args,
        )
    };
    let (sql, args) = query("status, CAST(SUM(uploads) AS BIGINT), CAST(SUM(bytes) AS BIGINT)", None, "status");
    let totals: Vec<(String, i64, i64)> = sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
    let (sql, args) = query("day, CAST(SUM(uploads) AS BIGINT)", Some(since), "day");
    let mut per_day: Vec<(i64, i64)> = sqlx::query_as_with(&sql, args).fetch_all(pool).await?;
    per_day.reverse();
    Ok(Some(HistorySummary {
        totals: totals.into_iter().map(|(status, count, bytes)| StatusTotal { status, count, bytes }).collect(),
        per_day: per_day.into_iter().map(|(d, n)| (d * DAY_MS, n)).collect(),
        today,
    }))
}
