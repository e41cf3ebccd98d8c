//! Idempotency-Key: a mutating call sent again with the same key and the
//! same request gets the first answer, without doing anything twice; the
//! same key with another request is refused. Only successful answers are
//! kept (a failed call changed nothing, so its retry runs again).

use fengqiao_platform::group_commit::BoxFuture;
use fengqiao_platform::group_commit::{GroupCommit, Write};
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tonic::Status;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 128;

/// What a key says about a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the call, then [`complete`] or [`release`].
    New,
    /// Seen with the same request and answered: this is the answer.
    Replay(Vec<u8>),
}

/// The key a call carries (`idempotency-key` metadata / header), if any.
pub fn key_of(metadata: &tonic::metadata::MetadataMap) -> Result<Option<String>, Status> {
    let Some(value) = metadata.get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => Ok(Some(k.trim().to_string())),
        _ => Err(status::invalid_argument(&[Violation::new(
            "idempotency-key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID"),
        )])),
    }
}

/// The fingerprint of a request: method and encoded message.
pub fn fingerprint(method: &str, encoded: &[u8]) -> String {
    let digest = Sha256::new().chain_update(method.as_bytes()).chain_update([0]).chain_update(encoded).finalize();
    hex::encode(digest)
}

/// The first claim of a key, as a write of a group commit (most calls carry
/// a new key): whether it was new.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The calling agency.
    pub agency: String,
    /// Its Idempotency-Key.
    pub key: String,
    /// The method called.
    pub method: String,
    /// The request's fingerprint ([`fingerprint`]).
    pub hash: String,
    /// When the call arrived (µs since the epoch).
    pub at: i64,
}

impl Write for NewKey {
    type Output = bool;
    const NAME: &'static str = "idempotency_claim";
    fn apply<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (agency_id, idempotency_key, method, request_hash, response, created_at)
                 VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (agency_id, idempotency_key) DO NOTHING",
            )
            .bind(&self.agency)
            .bind(&self.key)
            .bind(&self.method)
            .bind(&self.hash)
            .bind(self.at)
            .execute(conn)
            .await?;
            Ok(inserted.rows_affected() == 1)
        })
    }
}

/// Claims `key` for this call, or tells what an earlier call with it did. A
/// new key is written through `claims` (in one commit with other calls'
/// keys); a key seen before is looked up on the same database. A claim left unanswered
/// since before `abandoned_before` belonged to a call whose process died (no
/// call runs past its deadline): this call takes it over.
pub async fn claim(claims: &GroupCommit<NewKey>, new: NewKey, abandoned_before: i64) -> Result<Claim, Status> {
    if claims.write(new.clone()).await.map_err(status::database)? {
        return Ok(Claim::New);
    }
    let NewKey { agency, key, method, hash, at } = &new;
    let mut conn = claims.db().writer().acquire().await.map_err(status::database)?;
    let row = sqlx::query(
        "SELECT method, request_hash, response FROM idempotency_keys WHERE agency_id = $1 AND idempotency_key = $2",
    )
    .bind(agency)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(status::database)?
    .ok_or_else(|| Status::aborted("the first call with this Idempotency-Key just failed; retry"))?;
    let (first_method, first_hash): (String, String) =
        (row.try_get("method").map_err(status::database)?, row.try_get("request_hash").map_err(status::database)?);
    if first_method != *method || first_hash != *hash {
        return Err(status::invalid_argument(&[Violation::new(
            "idempotency-key",
            "was already used with a different request; send a new key for a new request",
        )]));
    }
    if let Some(answer) = row.try_get::<Option<Vec<u8>>, _>("response").map_err(status::database)? {
        return Ok(Claim::Replay(answer));
    }
    let taken_over = sqlx::query(
        "UPDATE idempotency_keys SET created_at = $1
         WHERE agency_id = $2 AND idempotency_key = $3 AND response IS NULL AND created_at < $4",
    )
    .bind(*at)
    .bind(agency)
    .bind(key)
    .bind(abandoned_before)
    .execute(&mut *conn)
    .await
    .map_err(status::database)?;
    if taken_over.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    Err(Status::aborted("the first call with this Idempotency-Key is still running; retry in a second"))
}

/// A mutating call's answer, kept under its Idempotency-Key. It is written in
/// the same commit as the call's audit entry (see [`crate::audit::AuditLog::record`]):
/// one commit at the end of a call instead of two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The calling agency.
    pub agency_id: String,
    /// Its Idempotency-Key.
    pub key: String,
    /// The encoded answer a retry with the same key gets.
    pub answer: Vec<u8>,
}

/// Stores a successful answer so that a retry with the same key gets it.
pub async fn complete(conn: &mut sqlx::AnyConnection, c: &Completion) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE agency_id = $2 AND idempotency_key = $3")
        .bind(&c.answer)
        .bind(&c.agency_id)
        .bind(&c.key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Frees the key of a call that failed (it changed nothing; a retry runs again).
pub async fn release(db: &Database, agency: &str, key: &str) {
    let done =
        sqlx::query("DELETE FROM idempotency_keys WHERE agency_id = $1 AND idempotency_key = $2 AND response IS NULL")
            .bind(agency)
            .bind(key)
            .execute(db.writer())
            .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "cannot release an idempotency key; it expires with the others");
    }
}

/// Forgets keys created before `before` (µs); returns how many.
pub async fn purge(db: &Database, before: i64) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(before).execute(db.writer()).await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_known_by_its_method_and_bytes() {
        assert_eq!(fingerprint("RevokeReferral", b"abc"), fingerprint("RevokeReferral", b"abc"));
        assert_ne!(fingerprint("RevokeReferral", b"abc"), fingerprint("RevokeReferral", b"abd"));
        assert_ne!(fingerprint("RevokeReferral", b"abc"), fingerprint("SubmitDispute", b"abc"));
    }

    #[test]
    fn a_key_must_be_short_visible_text() {
        let mut m = tonic::metadata::MetadataMap::new();
        assert_eq!(key_of(&m).unwrap(), None);
        m.insert("idempotency-key", "0b7c6a5e-2f1d-4f5e-9c3a-1d2e3f4a5b6c".parse().unwrap());
        assert!(key_of(&m).unwrap().is_some());
        m.insert("idempotency-key", "x".repeat(MAX_KEY_LEN + 1).parse().unwrap());
        assert_eq!(key_of(&m).unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
