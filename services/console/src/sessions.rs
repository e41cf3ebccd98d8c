//! Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its
//! SHA-256 is stored. A session ends after `idle` without a request, or
//! `absolute` after sign-in, whichever is first; signing out ends it at once.
//! Every form carries the session's CSRF token.

use std::time::Duration;

use base64::Engine;
use fengqiao_platform::db::now_micros;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use crate::accounts::{self, Staff};

/// The cookie that carries the session token.
pub const COOKIE: &str = "fq_session";

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Without a request.
    pub idle: Duration,
    /// From sign-in, whatever happens.
    pub absolute: Duration,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in.
    pub staff: Staff,
    /// The token every form must carry.
    pub csrf: String,
}

/// 256 random bits, URL-safe.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a token, in hex: what is stored instead of it.
pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Starts a session for `username`; the token for the cookie.
pub async fn start(pool: &AnyPool, username: &str, life: Lifetimes) -> Result<String, sqlx::Error> {
    let token = random_token();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO sessions (token_sha256, username, csrf, created_at, expires_at, absolute_expiry)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&token))
    .bind(username)
    .bind(random_token())
    .bind(now)
    .bind(now + micros(life.idle))
    .bind(now + micros(life.absolute))
    .execute(pool)
    .await?;
    Ok(token)
}

/// The live session of `token`, moving its idle expiry on; `None` when it has
/// expired, was ended, or its account is gone or disabled.
pub async fn find(pool: &AnyPool, token: &str, life: Lifetimes) -> Result<Option<Session>, sqlx::Error> {
    use sqlx::Row;
    let now = now_micros();
    let key = digest(token);
    let row = sqlx::query(
        "SELECT username, csrf FROM sessions WHERE token_sha256 = $1 AND expires_at > $2 AND absolute_expiry > $2",
    )
    .bind(&key)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let username: String = row.try_get("username")?;
    let Some((staff, _)) = accounts::find(pool, &username).await? else { return Ok(None) };
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE token_sha256 = $2")
        .bind(now + micros(life.idle))
        .bind(&key)
        .execute(pool)
        .await?;
    Ok(Some(Session { staff, csrf: row.try_get("csrf")? }))
}

/// Ends the session of `token`.
pub async fn end(pool: &AnyPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(digest(token)).execute(pool).await?;
    Ok(())
}

/// Removes sessions that have expired.
pub async fn forget_expired(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    let now = now_micros();
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR absolute_expiry <= $1")
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The `Set-Cookie` value that carries `token` (`secure` over TLS).
pub fn cookie(token: &str, life: Lifetimes, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", life.absolute.as_secs())
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in a request's headers.
pub fn cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_found_again() {
        let life = Lifetimes { idle: Duration::from_secs(60), absolute: Duration::from_secs(3600) };
        let set = cookie("abc", life, true);
        for part in ["fq_session=abc", "HttpOnly", "SameSite=Strict", "Secure", "Max-Age=3600"] {
            assert!(set.contains(part), "{set}");
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, "lang=en; fq_session=abc".parse().unwrap());
        assert_eq!(cookie_value(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "other"), None);
        assert_ne!(random_token(), random_token());
        assert_eq!(digest("abc").len(), 64);
    }
}
