//! How a batch of entries joins the chain: numbered and hashed after the
//! chain's head, written with the answers kept under their keys, the head
//! moved — all in one commit. On PostgreSQL, once this process knows where the
//! head is, that is one statement that moves the head only if it is still
//! there; otherwise (SQLite, the first batch, another gateway appended since)
//! a transaction that takes the head row first.

use fengqiao_platform::db::{numbered_values, Backend, ROWS_PER_STATEMENT};
use fengqiao_platform::Database;
use sqlx::Row;

use super::{chain, Pending};
use crate::idempotency::{bind_completion, complete_sql, Completion};

/// The most entries appended in one statement (PostgreSQL's parameters: 8 an
/// entry and 3 an answer, under its limit of 65,535 with room to spare).
const MOST_IN_ONE_STATEMENT: usize = 2_048;

/// The chain's last entry: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Numbers and hashes `batch` after `head`; returns each entry's hash and the new head.
fn chain_after(head: &Head, batch: &mut [Pending]) -> (Vec<String>, Head) {
    let mut previous = head.hash.clone();
    let mut hashes = Vec::with_capacity(batch.len());
    for (i, (entry, _, _)) in batch.iter_mut().enumerate() {
        entry.seq = head.seq + 1 + i as i64;
        previous = chain::hash(&previous, entry);
        hashes.push(previous.clone());
    }
    (hashes, Head { seq: head.seq + batch.len() as i64, hash: previous })
}

/// How a batch went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// In one statement after the head this process knew.
    InOneStatement,
    /// In a transaction that took the head row first.
    UnderLock,
    /// An earlier attempt had put it in already.
    Already,
}

fn answers(batch: &[Pending]) -> Vec<&Completion> {
    batch.iter().filter_map(|(_, answer, _)| answer.as_ref()).collect()
}

/// Appends `batch`; `known` is the head this process left (updated to the new
/// one), `tried` the head an earlier attempt at this same batch would have left:
/// found there, the batch went in though its commit's answer was lost, and is
/// not appended twice.
pub async fn append(
    db: &Database,
    batch: &mut [Pending],
    known: &mut Option<Head>,
    tried: &mut Option<Head>,
) -> Result<Appended, sqlx::Error> {
    let alone = db.backend() == Backend::Postgres && batch.len() <= MOST_IN_ONE_STATEMENT;
    // Taken: if this attempt fails, the next one finds the head under the lock.
    let head = if alone { known.take() } else { None };
    if let Some(head) = head {
        let (hashes, new) = chain_after(&head, batch);
        *tried = Some(new.clone());
        if after(db, batch, &head, &new, &hashes).await? {
            *known = Some(new);
            return Ok(Appended::InOneStatement);
        }
    }
    let (head, how) = locked(db, batch, tried).await?;
    *known = Some(head);
    Ok(how)
}

/// Appends `batch` after `head` in one statement, which moves the head to
/// `new` only if it is still at `head`, and writes the entries and answers only
/// with it; false (nothing written) if another appender moved it first.
async fn after(
    db: &Database,
    batch: &[Pending],
    head: &Head,
    new: &Head,
    hashes: &[String],
) -> Result<bool, sqlx::Error> {
    let answers = answers(batch);
    let mut sql = format!(
        "WITH head AS (UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4 RETURNING 1),
         entries AS (INSERT INTO audit_log (seq, at, agency_id, method, case_id, code, request_id, hash)
             SELECT v.* FROM (VALUES {}) AS v WHERE EXISTS (SELECT 1 FROM head))",
        numbered_values(5, batch.len(), 8)
    );
    if !answers.is_empty() {
        let rows = numbered_values(5 + 8 * batch.len(), answers.len(), 3);
        sql += &format!(", answers AS ({})", complete_sql(&rows, "EXISTS (SELECT 1 FROM head)"));
    }
    sql += " SELECT COUNT(*) FROM head";
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(new.seq).bind(&new.hash).bind(head.seq).bind(&head.hash);
    for ((entry, _, _), hash) in batch.iter().zip(hashes) {
        query = bind_entry(query, entry, hash);
    }
    for c in answers {
        query = bind_completion(query, c);
    }
    let moved: i64 = query.fetch_one(db.writer()).await?.try_get(0)?;
    Ok(moved == 1)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds an entry's row of `audit_log`, its hash last.
fn bind_entry<'q>(query: Query<'q>, entry: &'q chain::Entry, hash: &'q str) -> Query<'q> {
    query
        .bind(entry.seq)
        .bind(entry.at)
        .bind(&entry.agency_id)
        .bind(&entry.method)
        .bind(&entry.case_id)
        .bind(entry.code)
        .bind(&entry.request_id)
        .bind(hash)
}

/// Appends `batch` in a transaction that first takes the head row (which
/// serialises appenders, several gateway processes too); returns the new head.
async fn locked(
    db: &Database,
    batch: &mut [Pending],
    tried: &mut Option<Head>,
) -> Result<(Head, Appended), sqlx::Error> {
    let mut tx = db.begin().await?;
    let head =
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *tx).await?;
    let head = Head { seq: head.try_get("seq")?, hash: head.try_get("hash")? };
    if tried.as_ref() == Some(&head) {
        // An earlier attempt went in; only its answer was lost.
        tx.rollback().await?;
        return Ok((head, Appended::Already));
    }
    let (hashes, new) = chain_after(&head, batch);
    *tried = Some(new.clone());
    let answers = answers(batch);
    crate::idempotency::complete_all(&mut tx, &answers).await?;
    let rows: Vec<(&chain::Entry, &String)> = batch.iter().map(|(entry, _, _)| entry).zip(&hashes).collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO audit_log (seq, at, agency_id, method, case_id, code, request_id, hash) VALUES {}",
            fengqiao_platform::db::values(&tx, chunk.len(), 8)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (entry, hash) in chunk {
            query = bind_entry(query, entry, hash);
        }
        query.execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(new.seq)
        .bind(&new.hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((new, Appended::UnderLock))
}

#[cfg(test)]
mod tests {
    use fengqiao_platform::db::Backend;

    use super::*;
    use crate::audit::{test_batch as batch, verify, Verdict};

    async fn seqs(db: &Database) -> Vec<i64> {
        sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(db.pool()).await.unwrap()
    }

    #[tokio::test]
    async fn on_postgres_a_known_head_appends_in_one_statement_and_a_moved_one_under_the_lock() {
        let test = crate::test_database(Backend::Postgres).await;
        let (mut ours, mut theirs) = (None, None);
        let first = append(&test.db, &mut batch(0, 3), &mut ours, &mut None).await.unwrap();
        assert_eq!(first, Appended::UnderLock, "the first append finds the head");
        let next = append(&test.db, &mut batch(3, 2), &mut ours, &mut None).await.unwrap();
        assert_eq!(next, Appended::InOneStatement, "then it knows where the head is");
        // Another gateway appends: the head this process knows is stale.
        append(&test.db, &mut batch(5, 4), &mut theirs, &mut None).await.unwrap();
        let stale = append(&test.db, &mut batch(9, 2), &mut ours, &mut None).await.unwrap();
        assert_eq!(stale, Appended::UnderLock, "a moved head is taken under the lock");
        assert_eq!(ours, Some(Head { seq: 11, hash: ours.clone().unwrap().hash }));
        assert_eq!(seqs(&test.db).await, (1..=11).collect::<Vec<i64>>(), "no gap, nothing twice");
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(11));
        let again = append(&test.db, &mut batch(11, 1), &mut ours, &mut None).await.unwrap();
        assert_eq!(again, Appended::InOneStatement);
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(12));
        test.finish().await;
    }

    /// A batch whose commit went through but whose answer was lost is tried
    /// again: it is found in, not appended twice.
    async fn a_batch_already_in_is_not_appended_again(backend: Backend) {
        let test = crate::test_database(backend).await;
        let mut known = None;
        append(&test.db, &mut batch(0, 2), &mut known, &mut None).await.unwrap();
        let mut lost = batch(2, 3);
        let mut tried = None;
        append(&test.db, &mut lost, &mut known, &mut tried).await.unwrap();
        // The writer retries after an error with the head unknown and what the attempt tried.
        let retried = append(&test.db, &mut lost, &mut None, &mut tried).await.unwrap();
        assert_eq!(retried, Appended::Already);
        assert_eq!(seqs(&test.db).await, (1..=5).collect::<Vec<i64>>());
        // A different batch with the same head goes in.
        let next = append(&test.db, &mut batch(5, 1), &mut None, &mut None).await.unwrap();
        assert_eq!(next, Appended::UnderLock);
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(6));
        test.finish().await;
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_already_in_is_not_appended_again() {
        a_batch_already_in_is_not_appended_again(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_a_batch_already_in_is_not_appended_again() {
        a_batch_already_in_is_not_appended_again(Backend::Postgres).await;
    }
}
