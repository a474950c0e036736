//! The one-time admin invitation, kept in the database: servers started together print the same
//! link, and of two sign-ups racing with it exactly one becomes the admin.

use super::{now_millis, DbError, Pool};

/// The live invitation: the one already waiting, or `fresh` when there is none (or the last one
/// was used and there is again no admin).
pub async fn ensure(pool: &Pool, fresh: &str) -> Result<String, DbError> {
    sqlx::query(
        "INSERT INTO admin_invite (id, token, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET token = $1, created_at = $2, used_at = NULL \
         WHERE admin_invite.used_at IS NOT NULL",
    )
    .bind(fresh)
    .bind(now_millis())
    .execute(pool)
    .await?;
    let (token,): (String,) =
        sqlx::query_as("SELECT token FROM admin_invite WHERE id = 1 AND used_at IS NULL").fetch_one(pool).await?;
    Ok(token)
}

/// Takes the invitation if `token` is it and nobody took it: true for exactly one caller.
pub async fn claim(pool: &Pool, token: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE admin_invite SET used_at = $2 WHERE id = 1 AND token = $1 AND used_at IS NULL")
        .bind(token)
        .bind(now_millis())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a claimed invitation back, when the sign-up that claimed it did not make the account.
pub async fn release(pool: &Pool, token: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE admin_invite SET used_at = NULL WHERE id = 1 AND token = $1").bind(token).execute(pool).await?;
    Ok(())
}
