//! Passwords, session tokens and cookies, and the sign-in attempt limiter.

use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use http::HeaderMap;
use rand_core::RngCore;

use super::db::{self, sessions, sessions::SessionReader, users::User, DbError, Pool};
use super::s3::sigv4::sha256_hex;

pub const SESSION_COOKIE: &str = "s3drop_session";
pub const SESSION_TTL_SECS: i64 = 14 * 24 * 3600;

/// Argon2id with the crate's defaults (19 MiB, 2 passes), in PHC string form.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("Argon2 hashes any password").to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// How many Argon2 computations run at once: one per core. Each takes 19 MiB and a core for tens of
/// milliseconds; unbounded, a burst of sign-ups or sign-ins grows the server's memory at the
/// sender's will. The rest wait their turn.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS
        .get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
}

/// Runs `work` (a password hash or check) on a blocking thread, at most one per core at a time.
pub async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let _permit = hashing_permits().acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work).await
}

/// A hash to verify against when the account does not exist, so both answers take as long.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("no such account, no such password"))
}

/// 256 random bits, URL-safe: the cookie's value. Only its SHA-256 is stored.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Starts a session and returns the cookie's token.
pub async fn start_session(pool: &Pool, user_id: &str) -> Result<String, DbError> {
    let token = new_token();
    sessions::create(pool, &token_hash(&token), user_id, db::now_millis() + SESSION_TTL_SECS * 1000).await?;
    Ok(token)
}

/// The user whose live session the request's cookie names, if any.
pub async fn user_from_headers(sessions: &SessionReader, headers: &HeaderMap) -> Result<Option<User>, DbError> {
    match cookie_token(headers) {
        Some(token) => sessions.ask(token_hash(&token)).await,
        None => Ok(None),
    }
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL_SECS}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn cleared_cookie(secure: bool) -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", if secure { "; Secure" } else { "" })
}

pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| crate::locale::cookie_value(h, SESSION_COOKIE))
        .map(str::to_owned)
}

/// Failed sign-ins allowed per account and per address in [`ATTEMPT_WINDOW`] (counted in the
/// database, see `db::attempts`).
pub const ACCOUNT_LIMIT: usize = 5;
pub const ADDRESS_LIMIT: usize = 20;
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn the_session_cookie_is_http_only_lax_and_secure_on_https() {
        let c = session_cookie("tok", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        assert!(session_cookie("tok", true).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, "a=b; s3drop_session=tok; c=d".parse().unwrap());
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
    }
}
