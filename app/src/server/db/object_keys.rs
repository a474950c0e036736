//! The object key's uniqueness, kept by an index in time order.
//!
//! Keys are `uploads/<owner id>/<folder>/<name>`, the folder an upload id: a UUIDv7, so in the
//! order uploads are made. The migrations' `UNIQUE (object_key)` sorted keys by owner, so every
//! new row landed on a random page of that index: on SQLite 1.8 of the 5.4 WAL pages a ticket
//! wrote (a replay of the ticket writer's batches), with the B-tree descent that found it. The
//! index here sorts by the folder first: new rows go where the last ones went. It is unique on
//! (folder, key), which is unique exactly when the key is, since the folder is part of the key;
//! where a key's owner id is not the usual 36 characters the "folder" is some other part of the
//! key, and only the locality is lost. Lookups name the pair, so both engines use the index.
//!
//! Engine-specific, so at connect rather than in the shared migrations: SQLite cannot drop a
//! column's UNIQUE without rebuilding the table (once, in one transaction, keeping every rowid,
//! which the name search's FTS5 index refers to); PostgreSQL drops the constraint.

use super::{DbError, Pool};

/// The folder of the key `key` (a column, a parameter): where `uploads/` and a 36-character
/// owner id end.
fn folder(key: &str) -> String {
    format!("substr({key}, 46, 36)")
}

/// The pair the index holds, for the key `key`: lookups compare `pair("object_key")` with the
/// pair of the key they look for. A row value, not `folder = … AND object_key = $1`: SQLite would
/// rewrite the folder's expression with the key's constant and then find no index for it.
pub fn pair(key: &str) -> String {
    format!("({}, {key})", folder(key))
}

fn index() -> String {
    format!("CREATE UNIQUE INDEX IF NOT EXISTS uploads_object_key ON uploads (({}), object_key)", folder("object_key"))
}

/// The migrations' line for the column, and what it becomes.
const UNIQUE_COLUMN: &str = "object_key      TEXT NOT NULL UNIQUE,";
const PLAIN_COLUMN: &str = "object_key      TEXT NOT NULL,";

/// Replaces the key's UNIQUE constraint with the index in time order (idempotent). A database
/// this cannot change keeps its constraint, which enforces the same rule, and works as before.
pub async fn install(pool: &Pool, is_sqlite: bool) -> Result<(), DbError> {
    if is_sqlite {
        return rebuild_sqlite(pool).await;
    }
    // Built before the constraint goes: the rule holds at every moment.
    sqlx::query(&index()).execute(pool).await?;
    sqlx::query("ALTER TABLE uploads DROP CONSTRAINT IF EXISTS uploads_object_key_key").execute(pool).await?;
    Ok(())
}

async fn rebuild_sqlite(pool: &Pool) -> Result<(), DbError> {
    let table: Option<(String,)> =
        sqlx::query_as("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'uploads'")
            .fetch_optional(pool)
            .await?;
    let Some((table,)) = table else { return Ok(()) };
    // The migrations' table, still with the column's UNIQUE (SQLite quotes the name of a table
    // renamed to it).
    let old = table.split_once('(').filter(|(head, columns)| {
        matches!(head.trim(), "CREATE TABLE uploads" | "CREATE TABLE \"uploads\"") && columns.contains(UNIQUE_COLUMN)
    });
    let Some((_, columns_sql)) = old else {
        // Rebuilt before, or a table of another shape: only make sure of the index.
        sqlx::query(&index()).execute(pool).await?;
        return Ok(());
    };
    let rows: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads").fetch_one(pool).await?;
    tracing::info!(rows = rows.0, "rebuilding the uploads table once, for an object-key index in time order");
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'uploads' AND sql IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (columns,): (String,) =
        sqlx::query_as("SELECT group_concat(name, ', ') FROM pragma_table_info('uploads')").fetch_one(&mut *tx).await?;
    let rebuilt = format!("CREATE TABLE uploads_rebuilt ({}", columns_sql.replacen(UNIQUE_COLUMN, PLAIN_COLUMN, 1));
    // The table's triggers go with it; the name index's and the counts' are made again right
    // after (at connect), and the rows they follow are the same rows under the same rowids.
    for sql in [
        rebuilt,
        format!("INSERT INTO uploads_rebuilt (rowid, {columns}) SELECT rowid, {columns} FROM uploads"),
        "DROP TABLE uploads".to_owned(),
        "ALTER TABLE uploads_rebuilt RENAME TO uploads".to_owned(),
    ]
    .into_iter()
    .chain(indexes.into_iter().map(|(sql,)| sql))
    .chain([index()])
    {
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    tracing::info!(rows = rows.0, ms = started.elapsed().as_millis() as u64, "uploads table rebuilt");
    Ok(())
}
