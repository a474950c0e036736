//! Users: created by sign-up or the CLI, looked up by email for sign-in.

use serde::{Deserialize, Serialize};

use super::{now_millis, DbError, Pool};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// Emails are compared case-insensitively, so they are stored lower-cased.
pub async fn create(pool: &Pool, email: &str, role: &str, password_hash: &str) -> Result<User, DbError> {
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.trim().to_lowercase(),
        role: role.to_owned(),
        password_hash: password_hash.to_owned(),
        created_at: now_millis(),
    };
    sqlx::query("INSERT INTO users (id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.role)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(pool)
        .await?;
    Ok(user)
}

pub async fn by_email(pool: &Pool, email: &str) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as("SELECT id, email, role, password_hash, created_at FROM users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(pool)
        .await?)
}

pub async fn by_id(pool: &Pool, id: &str) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as("SELECT id, email, role, password_hash, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

pub async fn set_role(pool: &Pool, email: &str, role: &str) -> Result<bool, DbError> {
    Ok(sqlx::query("UPDATE users SET role = $2 WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .bind(role)
        .execute(pool)
        .await?
        .rows_affected()
        == 1)
}

pub async fn count_admins(pool: &Pool) -> Result<i64, DbError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(pool).await?;
    Ok(n)
}
