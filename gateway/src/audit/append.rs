//! How a batch of entries joins the chain: numbered and hashed after the
//! chain's head, written with the answers kept under their keys and the new
//! cases' owner rows, the head moved — all in one commit. On PostgreSQL, once this process knows where the
//! head is, that is one statement that moves the head only if it is still
//! there; otherwise (SQLite, the first batch, another gateway appended since)
//! a transaction that takes the head row first.

use fengqiao_platform::db::{numbered_values, Backend, ROWS_PER_STATEMENT};
use fengqiao_platform::Database;
use sqlx::Row;

use super::{chain, Pending};
use crate::idempotency::{bind_completion, complete_sql, Completion};
use crate::store::{owners, Own};

/// The most entries appended in one statement (PostgreSQL's parameters: 8 an
/// entry, 3 an answer and 6 an owner row, under its limit of 65,535 with room
/// to spare).
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
    batch.iter().filter_map(|(_, kept, _)| kept.answer.as_ref()).collect()
}

/// The batch's owner rows in case id order, the order a batch of resubmissions'
/// rows takes too: two such writers racing on the same cases wait on each
/// other in one order, never in a circle.
fn owners(batch: &[Pending]) -> Vec<&Own> {
    let mut owners: Vec<&Own> = batch.iter().filter_map(|(_, kept, _)| kept.owner.as_ref()).collect();
    owners.sort_by(|a, b| a.status.case_id.cmp(&b.status.case_id));
    owners
}

/// Appends `batch`; `known` is the head this process left (updated to the new
/// one), `tried` the head an earlier attempt at this same batch would have left:
/// found there, or in the log once another gateway appended after it, the batch
/// went in though its commit's answer was lost, and is not appended twice.
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
    let (answers, owners) = (answers(batch), owners(batch));
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
    if !owners.is_empty() {
        let rows = numbered_values(5 + 8 * batch.len() + 3 * answers.len(), owners.len(), 6);
        sql += &format!(", owners AS ({})", owners::insert_sql(&rows, "EXISTS (SELECT 1 FROM head)"));
    }
    sql += " SELECT COUNT(*) FROM head";
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(new.seq).bind(&new.hash).bind(head.seq).bind(&head.hash);
    for ((entry, _, _), hash) in batch.iter().zip(hashes) {
        query = bind_entry(query, entry, hash);
    }
    for c in answers {
        query = bind_completion(query, c);
    }
    for o in owners {
        query = owners::bind_owner(query, o);
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
    if went_in(&mut tx, tried.as_ref(), &head).await? {
        // An earlier attempt went in; only its answer was lost.
        tx.rollback().await?;
        return Ok((head, Appended::Already));
    }
    let (hashes, new) = chain_after(&head, batch);
    *tried = Some(new.clone());
    crate::idempotency::complete_all(&mut tx, &answers(batch)).await?;
    owners::insert_all(&mut tx, &owners(batch)).await?;
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

/// Whether an earlier attempt, which would have left the head at `tried`,
/// went in: the head is there, or (another gateway appended since) the log
/// holds that entry. Asked under the head's lock, so an attempt still
/// committing has finished; the hash chains the batch's every entry after the
/// head it found, so no other batch leaves the same one.
async fn went_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tried: Option<&Head>,
    head: &Head,
) -> Result<bool, sqlx::Error> {
    let Some(tried) = tried else { return Ok(false) };
    if tried == head {
        return Ok(true);
    }
    if tried.seq > head.seq {
        return Ok(false);
    }
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq = $1 AND hash = $2")
        .bind(tried.seq)
        .bind(&tried.hash)
        .fetch_one(&mut **tx)
        .await?;
    Ok(found > 0)
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

    /// The same, when another gateway appended between the lost answer and
    /// the retry: the head moved past the batch, which is found in the log.
    async fn a_batch_already_in_is_not_appended_again_after_another_gateway_appended(backend: Backend) {
        let test = crate::test_database(backend).await;
        let (mut ours, mut theirs) = (None, None);
        append(&test.db, &mut batch(0, 2), &mut ours, &mut None).await.unwrap();
        let mut lost = batch(2, 3);
        let mut tried = None;
        append(&test.db, &mut lost, &mut ours, &mut tried).await.unwrap();
        append(&test.db, &mut batch(5, 4), &mut theirs, &mut None).await.unwrap();
        let retried = append(&test.db, &mut lost, &mut None, &mut tried).await.unwrap();
        assert_eq!(retried, Appended::Already);
        assert_eq!(seqs(&test.db).await, (1..=9).collect::<Vec<i64>>(), "the lost batch once, theirs after it");
        // A batch that did not go in is appended after the moved head.
        let mut failed = batch(9, 2);
        let mut never = Some(Head { seq: 7, hash: "not-in-the-log".into() });
        let how = append(&test.db, &mut failed, &mut None, &mut never).await.unwrap();
        assert_eq!(how, Appended::UnderLock);
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(11));
        test.finish().await;
    }

    fn owner(case: &str, code: &str) -> Own {
        let status = fengqiao_proto::fengqiao::gateway::v1::CaseStatus { case_id: case.into(), ..Default::default() };
        Own { agency_id: "police-1".into(), status, verification_code: code.into(), at: 1 }
    }

    /// A new case's owner row goes in with its call's entry, whichever way the
    /// batch goes in; a row a racing resubmission wrote first stays.
    async fn owner_rows_go_in_with_their_entries(backend: Backend) {
        let test = crate::test_database(backend).await;
        let mut conn = test.db.writer().acquire().await.unwrap();
        owners::insert_all(&mut conn, &[&owner("case-1", "FIRST")]).await.unwrap();
        drop(conn);
        let mut known = None;
        let mut first = batch(0, 2);
        first[0].1.owner = Some(owner("case-1", "LATER"));
        first[1].1.owner = Some(owner("case-2", "CODE2"));
        assert_eq!(append(&test.db, &mut first, &mut known, &mut None).await.unwrap(), Appended::UnderLock);
        let mut second = batch(2, 3);
        second[1].1.owner = Some(owner("case-3", "CODE3"));
        let how = append(&test.db, &mut second, &mut known, &mut None).await.unwrap();
        let expected = match backend {
            Backend::Postgres => Appended::InOneStatement,
            Backend::Sqlite => Appended::UnderLock,
        };
        assert_eq!(how, expected);
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT case_id, verification_code FROM case_owners ORDER BY case_id")
                .fetch_all(test.db.pool())
                .await
                .unwrap();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(c, v)| (c.as_str(), v.as_str())).collect();
        assert_eq!(rows, [("case-1", "FIRST"), ("case-2", "CODE2"), ("case-3", "CODE3")]);
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(5));
        test.finish().await;
    }

    /// A batch of resubmissions holds one case's owner row while the audit
    /// writer writes two new ones: both take the rows in case id order, so
    /// one waits for the other instead of each waiting for the other.
    #[tokio::test]
    async fn on_postgres_owner_rows_racing_a_batch_of_resubmissions_wait_without_a_deadlock() {
        let test = crate::test_database(Backend::Postgres).await;
        let mut resubmissions = test.db.pool().begin().await.unwrap();
        owners::insert_all(&mut resubmissions, &[&owner("case-a", "A")]).await.unwrap();
        let mut entries = batch(0, 2);
        entries[0].1.owner = Some(owner("case-b", "B"));
        entries[1].1.owner = Some(owner("case-a", "A"));
        let db = test.db.clone();
        let audit = tokio::spawn(async move { append(&db, &mut entries, &mut None, &mut None).await });
        // The audit writer's statement now waits on case-a's row.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        owners::insert_all(&mut resubmissions, &[&owner("case-b", "B")]).await.expect("no deadlock");
        resubmissions.commit().await.unwrap();
        audit.await.unwrap().expect("the entries go in");
        let rows: Vec<String> = sqlx::query_scalar("SELECT case_id FROM case_owners ORDER BY case_id")
            .fetch_all(test.db.pool())
            .await
            .unwrap();
        assert_eq!(rows, ["case-a", "case-b"]);
        test.finish().await;
    }

    #[tokio::test]
    async fn on_sqlite_owner_rows_go_in_with_their_entries() {
        owner_rows_go_in_with_their_entries(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_owner_rows_go_in_with_their_entries() {
        owner_rows_go_in_with_their_entries(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_already_in_is_not_appended_again() {
        a_batch_already_in_is_not_appended_again(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_a_batch_already_in_is_not_appended_again() {
        a_batch_already_in_is_not_appended_again(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_already_in_is_not_appended_again_after_another_gateway_appended() {
        a_batch_already_in_is_not_appended_again_after_another_gateway_appended(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_a_batch_already_in_is_not_appended_again_after_another_gateway_appended() {
        a_batch_already_in_is_not_appended_again_after_another_gateway_appended(Backend::Postgres).await;
    }
}
