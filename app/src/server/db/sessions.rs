//! Sessions: a row per signed-in browser, found by the SHA-256 of its cookie token.

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::batch::{json_param, Batcher, Work};
use super::users::User;
use super::{now_millis, DbError, Pool};

pub async fn create(pool: &Pool, token_hash: &str, user_id: &str, expires_at: i64) -> Result<(), DbError> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now_millis())
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Finds the users of live sessions (not expired, not revoked) by the SHA-256 of their cookie
/// token: every lookup waiting, in one query. Every request of a signed-in user starts with one,
/// so under load these were most of the database's calls. Each lookup still reads the database,
/// so a session revoked anywhere (another server, the CLI) is refused at once.
pub type SessionReader = Batcher<Lookups>;

/// Starts the reader on the current Tokio runtime.
pub fn reader(pool: Pool) -> SessionReader {
    Batcher::start(pool, Lookups)
}

/// The reader's work: a token hash in, the session's user (if it is live) out.
pub struct Lookups;

#[derive(sqlx::FromRow)]
struct Found {
    token_hash: String,
    #[sqlx(flatten)]
    user: User,
}

impl Work for Lookups {
    type Request = String;
    type Answer = Option<User>;
    async fn run(&self, conn: &mut AnyConnection, hashes: &[String]) -> Result<Vec<Option<User>>, DbError> {
        let json = json_param(&hashes)?;
        let sql = if conn.backend_name() == "SQLite" { SQLITE_LOOKUP } else { PG_LOOKUP };
        let found: Vec<Found> = sqlx::query_as(sql).bind(json).bind(now_millis()).fetch_all(&mut *conn).await?;
        let found: HashMap<String, User> = found.into_iter().map(|f| (f.token_hash, f.user)).collect();
        Ok(hashes.iter().map(|h| found.get(h).cloned()).collect())
    }
}

/// `$1` the token hashes (a JSON array), `$2` now.
const SQLITE_LOOKUP: &str = "SELECT s.token_hash, u.id, u.email, u.role, u.password_hash, u.created_at \
    FROM json_each($1) AS j JOIN sessions s ON s.token_hash = j.value JOIN users u ON u.id = s.user_id \
    WHERE s.expires_at > $2 AND s.revoked_at IS NULL";

const PG_LOOKUP: &str = "SELECT s.token_hash, u.id, u.email, u.role, u.password_hash, u.created_at \
    FROM jsonb_array_elements_text(CAST($1 AS jsonb)) AS j(token_hash) \
    JOIN sessions s ON s.token_hash = j.token_hash JOIN users u ON u.id = s.user_id \
    WHERE s.expires_at > $2 AND s.revoked_at IS NULL";

pub async fn revoke(pool: &Pool, token_hash: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash)
        .bind(now_millis())
        .execute(pool)
        .await?;
    Ok(())
}

/// Signs a user out everywhere (after a role or password change).
pub async fn revoke_all_for_user(pool: &Pool, user_id: &str) -> Result<u64, DbError> {
    Ok(sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .bind(now_millis())
        .execute(pool)
        .await?
        .rows_affected())
}
