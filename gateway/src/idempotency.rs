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
use std::collections::HashSet;
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
    /// A claim inserts only its own new row: claims share commits on
    /// PostgreSQL too (one commit of the submit path's four, twenty-fourth
    /// round of docs/performance.md).
    const BATCHES_ON_POSTGRES: bool = true;

    /// A batch of one (a failed batch's claims are tried one at a time).
    fn apply<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            let one = [self];
            Ok(Self::apply_all(&one, conn).await?.pop().unwrap_or(false))
        })
    }

    /// A batch's claims in one statement (500 a statement): a key claimed
    /// twice in the batch is new only for its first call. The keys go in
    /// sorted, so two gateways' batches lock shared keys in the same order
    /// (one waits for the other instead of both for each other).
    fn apply_all<'c>(
        keys: &'c [&'c Self],
        conn: &'c mut sqlx::AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<bool>, sqlx::Error>> {
        Box::pin(async move {
            let mut sorted: Vec<&NewKey> = keys.to_vec();
            sorted.sort_by(|a, b| (&a.agency, &a.key).cmp(&(&b.agency, &b.key)));
            sorted.dedup_by(|a, b| (&a.agency, &a.key) == (&b.agency, &b.key));
            let mut inserted: HashSet<(String, String)> = HashSet::with_capacity(sorted.len());
            for chunk in sorted.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO idempotency_keys (agency_id, idempotency_key, method, request_hash, created_at)
                     VALUES {} ON CONFLICT (agency_id, idempotency_key) DO NOTHING
                     RETURNING agency_id, idempotency_key",
                    fengqiao_platform::db::values(conn, chunk.len(), 5)
                );
                let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
                for k in chunk {
                    query = query.bind(&k.agency).bind(&k.key).bind(&k.method).bind(&k.hash).bind(k.at);
                }
                inserted.extend(query.fetch_all(&mut *conn).await?);
            }
            // A second claim of a key later in the batch finds it already taken out.
            Ok(keys.iter().map(|k| inserted.remove(&(k.agency.clone(), k.key.clone()))).collect())
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

/// The statement keeping the answers given as `VALUES` rows (agency, key,
/// answer; bind them with [`bind_completion`]), where `condition` holds too
/// (`TRUE` for always).
pub(crate) fn complete_sql(values: &str, condition: &str) -> String {
    format!(
        "UPDATE idempotency_keys SET response = v.column3 FROM (VALUES {values}) AS v
         WHERE idempotency_keys.agency_id = v.column1 AND idempotency_keys.idempotency_key = v.column2
         AND {condition}"
    )
}

/// Binds a completion's row of [`complete_sql`].
pub(crate) fn bind_completion<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    c: &'q Completion,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query.bind(&c.agency_id).bind(&c.key).bind(&c.answer)
}

/// Stores successful answers so that a retry with the same key gets its
/// answer: one statement for up to 500.
pub async fn complete_all(conn: &mut sqlx::AnyConnection, all: &[&Completion]) -> Result<(), sqlx::Error> {
    for chunk in all.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = complete_sql(&fengqiao_platform::db::values(conn, chunk.len(), 3), "TRUE");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            query = bind_completion(query, c);
        }
        query.execute(&mut *conn).await?;
    }
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
    use fengqiao_platform::db::Backend;
    use fengqiao_platform::group_commit::apply_each;

    fn new_key(agency: &str, key: &str) -> NewKey {
        NewKey { agency: agency.into(), key: key.into(), method: "SubmitDispute".into(), hash: "h".into(), at: 1 }
    }

    /// Claims `keys` in one batch (at once, or one by one) after `k-old` was
    /// claimed and answered, then keeps answers for the new ones; what each
    /// claim said and the rows left.
    async fn claims_and_answers(
        backend: Backend,
        at_once: bool,
    ) -> (Vec<bool>, Vec<(String, String, Option<Vec<u8>>)>) {
        let test = crate::test_database(backend).await;
        let old = new_key("police-1", "k-old");
        let mut tx = test.db.begin().await.unwrap();
        assert!(old.apply(&mut tx).await.unwrap());
        let answer = Completion { agency_id: "police-1".into(), key: "k-old".into(), answer: b"first".to_vec() };
        complete_all(&mut tx, &[&answer]).await.unwrap();
        // The same key from two agencies is two keys; one agency's key twice is one.
        let keys = [
            new_key("police-1", "k-1"),
            new_key("police-2", "k-1"),
            new_key("police-1", "k-1"),
            old.clone(),
            new_key("police-1", "k-2"),
        ];
        let batch: Vec<&NewKey> = keys.iter().collect();
        let new = if at_once {
            NewKey::apply_all(&batch, &mut tx).await.unwrap()
        } else {
            apply_each(&batch, &mut tx).await.unwrap()
        };
        let answers: Vec<Completion> = batch
            .iter()
            .zip(&new)
            .filter(|(_, new)| **new)
            .map(|(k, _)| Completion {
                agency_id: k.agency.clone(),
                key: k.key.clone(),
                answer: k.agency.clone().into_bytes(),
            })
            .collect();
        complete_all(&mut tx, &answers.iter().collect::<Vec<_>>()).await.unwrap();
        tx.commit().await.unwrap();
        let rows = sqlx::query_as(
            "SELECT agency_id, idempotency_key, response FROM idempotency_keys ORDER BY agency_id, idempotency_key",
        )
        .fetch_all(test.db.pool())
        .await
        .unwrap();
        test.finish().await;
        (new, rows)
    }

    async fn a_batch_of_claims_at_once_says_and_leaves_what_one_by_one_does(backend: Backend) {
        let (new, rows) = claims_and_answers(backend, true).await;
        assert_eq!(new, [true, true, false, false, true], "only each key's first claim is new");
        assert_eq!((new, rows), claims_and_answers(backend, false).await);
    }

    #[tokio::test]
    async fn a_batch_of_claims_at_once_says_and_leaves_what_one_by_one_does_on_sqlite() {
        a_batch_of_claims_at_once_says_and_leaves_what_one_by_one_does(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn a_batch_of_claims_at_once_says_and_leaves_what_one_by_one_does_on_postgres() {
        a_batch_of_claims_at_once_says_and_leaves_what_one_by_one_does(Backend::Postgres).await;
    }

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
