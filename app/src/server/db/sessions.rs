//! Sessions: a row per signed-in browser, found by the SHA-256 of its cookie token.

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

/// The user of a live session: not expired at `now`, not revoked.
pub async fn user_by_token_hash(pool: &Pool, token_hash: &str, now: i64) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, u.role, u.password_hash, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

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
