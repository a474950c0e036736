//! Users: created by sign-up or the CLI, looked up by email for sign-in.

use crate::domain::Email;
use crate::model::Role;

use super::{now_millis, DbError, Pool};

/// An account as stored. Holds the password hash: never serialised, never sent to a page (pages
/// get a [`crate::model::CurrentUser`]).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub password_hash: String,
    pub created_at: i64,
}

/// Fails to compile if [`User`] ever becomes `Serialize`: with both impls applying, the call
/// below is ambiguous.
const _: fn() = || {
    trait NotSerialize<A> {
        fn check() {}
    }
    impl<T: ?Sized> NotSerialize<()> for T {}
    impl<T: ?Sized + serde::Serialize> NotSerialize<u8> for T {}
    <User as NotSerialize<_>>::check();
};

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

const COLUMNS: &str = "id, email, role, password_hash, created_at";

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an account with this email exists already")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The database refused a second account with this email (and nothing else).
fn is_email_taken(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(e) => {
            // PostgreSQL names the constraint; SQLite names the column in its message.
            e.is_unique_violation()
                && (e.constraint() == Some("users_email_key") || e.message().contains("users.email"))
        }
        _ => false,
    }
}

pub async fn create(pool: &Pool, email: &Email, role: Role, password_hash: &str) -> Result<User, CreateError> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now_millis())
    // Stepped to its end, so that a failed commit is an error (see `uploads::insert`).
    .fetch_all(pool)
    .await
    .map_err(|e| if is_email_taken(&e) { CreateError::EmailTaken } else { CreateError::Db(e.into()) })?
    .pop()
    .ok_or(CreateError::Db(DbError::Sqlx(sqlx::Error::RowNotFound)))
}

pub async fn by_email(pool: &Pool, email: &Email) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
        .bind(email.as_str())
        .fetch_optional(pool)
        .await?)
}

pub async fn by_id(pool: &Pool, id: &str) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(pool).await?)
}

/// The account as it now is, or `None` when no account has this email.
pub async fn set_role(pool: &Pool, email: &Email, role: Role) -> Result<Option<User>, DbError> {
    Ok(sqlx::query_as(&format!("UPDATE users SET role = $2 WHERE email = $1 RETURNING {COLUMNS}"))
        .bind(email.as_str())
        .bind(role.as_str())
        .fetch_all(pool)
        .await?
        .pop())
}

pub async fn count_admins(pool: &Pool) -> Result<i64, DbError> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = $1").bind(Role::Admin.as_str()).fetch_one(pool).await?;
    Ok(n)
}

/// Takes one ticket from the user's allowance of `limit` per minute: true when there was one left.
/// One UPDATE both counts and admits (the row is locked while it runs, on either engine), so
/// racing requests, on one server or several, never get more than `limit` between them.
pub async fn take_ticket(pool: &Pool, id: &str, now: i64, limit: i64) -> Result<bool, DbError> {
    let window_open = now - 60_000;
    let done = sqlx::query(
        "UPDATE users SET \
           ticket_window_count = CASE WHEN ticket_window_start > $2 THEN ticket_window_count + 1 ELSE 1 END, \
           ticket_window_start = CASE WHEN ticket_window_start > $2 THEN ticket_window_start ELSE $3 END \
         WHERE id = $1 AND (ticket_window_start <= $2 OR ticket_window_count < $4)",
    )
    .bind(id)
    .bind(window_open)
    .bind(now)
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
