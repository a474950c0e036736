//! Failed sign-ins, counted in the database so that every server sharing it sees the same count.

use super::{DbError, Pool};

/// Whether `key` has at least `max` failures after `since`.
pub async fn blocked(pool: &Pool, key: &str, max: usize, since: i64) -> Result<bool, DbError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND at > $2")
        .bind(key)
        .bind(since)
        .fetch_one(pool)
        .await?;
    Ok(n >= max as i64)
}

pub async fn fail(pool: &Pool, key: &str, at: i64) -> Result<(), DbError> {
    sqlx::query("INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)").bind(key).bind(at).execute(pool).await?;
    Ok(())
}

pub async fn clear(pool: &Pool, key: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(pool).await?;
    Ok(())
}

/// Deletes failures older than `before`: the table holds at most one window of them.
pub async fn prune(pool: &Pool, before: i64) -> Result<u64, DbError> {
    Ok(sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1").bind(before).execute(pool).await?.rows_affected())
}

/// Records an attempt for `key` if it has had fewer than `max` since `since`: true when recorded
/// (the attempt may go on). One statement, so racing requests on SQLite cannot both take the last
/// place; on PostgreSQL a burst may overshoot by the requests that race, which bounds it all the same.
pub async fn take(pool: &Pool, key: &str, max: usize, since: i64, now: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO sign_in_failures (key, at) SELECT $1, $2 \
         WHERE (SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND at > $3) < $4",
    )
    .bind(key)
    .bind(now)
    .bind(since)
    .bind(max as i64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
