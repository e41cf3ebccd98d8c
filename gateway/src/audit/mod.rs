//! The audit log of every call through the gateway: who (agency), what
//! (method, case), when, with what result (gRPC code) and the request id.
//! Entries are appended by one writer per process in batches (group commit);
//! a call's answer waits until its entry is committed, so an answered call is
//! always audited. Retention removes old entries and keeps the chain's anchor.

mod append;
pub mod chain;

use fengqiao_platform::Database;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::idempotency::Completion;
use crate::store::Own;

pub use chain::{Entry, Verdict};

/// The most entries one commit takes.
const BATCH: usize = 256;

/// What a call's entry commits with.
#[derive(Default)]
pub struct Kept {
    /// The answer to keep under its Idempotency-Key.
    pub answer: Option<Completion>,
    /// The owner row of the case the call registered (its call's last write:
    /// one commit fewer on a submission's path).
    pub owner: Option<Own>,
}

/// An entry, what to keep with it, and who waits for the commit.
type Pending = (Entry, Kept, oneshot::Sender<()>);

/// The handle calls use to append their entries.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
}

impl AuditLog {
    /// Starts the writer on `db` (until every handle is dropped).
    pub fn start(db: Database) -> Self {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        tokio::spawn(fengqiao_platform::db::held_by("audit", writer(db, rx)));
        Self { tx }
    }

    /// Appends an entry (its seq is assigned when written) and waits until it is
    /// committed — with what `kept` holds written in the same commit.
    pub async fn record(&self, entry: Entry, kept: Kept) {
        let (done, committed) = oneshot::channel();
        if self.tx.send((entry, kept, done)).await.is_ok() {
            let _ = committed.await;
        }
    }
}

async fn writer(db: Database, mut rx: mpsc::Receiver<Pending>) {
    // Where this process left the chain's head (unknown until its first append).
    let mut known = None;
    let mut outage = fengqiao_platform::outage::Outage::new(db.component(), "writing the audit log");
    while let Some(mut batch) = fengqiao_platform::group_commit::next_batch(&mut rx, BATCH).await {
        let mut delay = std::time::Duration::from_millis(50);
        // Where an attempt at this batch would have left the head (one that failed may have gone in).
        let mut tried = None;
        loop {
            match append::append(&db, &mut batch, &mut known, &mut tried).await {
                Ok(_) => {
                    outage.worked();
                    break;
                }
                Err(e) => {
                    // Calls wait for their entry: keep trying, never drop one.
                    outage.failed(&format_args!("{e} ({} calls wait for their entries)", batch.len()));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        for (_, _, done) in batch {
            let _ = done.send(());
        }
    }
}

fn entry(r: &sqlx::any::AnyRow) -> Result<(Entry, String), sqlx::Error> {
    Ok((
        Entry {
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            agency_id: r.try_get("agency_id")?,
            method: r.try_get("method")?,
            case_id: r.try_get("case_id")?,
            code: r.try_get("code")?,
            request_id: r.try_get("request_id")?,
        },
        r.try_get("hash")?,
    ))
}

/// Verifies the whole chain from its anchor, page by page; `progress` is
/// told how many entries were checked so far.
pub async fn verify(db: &Database, mut progress: impl FnMut(u64)) -> Result<Verdict, sqlx::Error> {
    let mut conn = db.pool().acquire().await?;
    let head = sqlx::query("SELECT anchor_seq, anchor_hash FROM audit_head WHERE id = 1").fetch_one(&mut *conn).await?;
    let (mut seq, mut previous): (i64, String) = (head.try_get("anchor_seq")?, head.try_get("anchor_hash")?);
    let mut checked = 0;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, agency_id, method, case_id, code, request_id, hash FROM audit_log
             WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(seq)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Verdict::Intact(checked));
        }
        let page = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        match chain::verify(seq, &previous, page.iter().map(|(e, h)| (e, h.as_str()))) {
            Verdict::Intact(n) => checked += n,
            broken => return Ok(broken),
        }
        let (last, hash) = page.last().expect("a non-empty page");
        (seq, previous) = (last.seq, hash.clone());
        progress(checked);
    }
}

/// Removes entries older than `before` (µs), moving the anchor to the last removed; returns how many.
pub async fn purge(db: &Database, before: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let last = sqlx::query("SELECT seq, hash FROM audit_log WHERE at < $1 ORDER BY seq DESC LIMIT 1")
        .bind(before)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(last) = last else { return Ok(0) };
    let (seq, hash): (i64, String) = (last.try_get("seq")?, last.try_get("hash")?);
    let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1").bind(seq).execute(&mut *tx).await?;
    sqlx::query("UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed.rows_affected())
}

/// The calls that concerned `case_id`, oldest first (who looked at a case: PIPL).
pub async fn of_case(db: &Database, case_id: &str) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, at, agency_id, method, case_id, code, request_id, hash FROM audit_log
         WHERE case_id = $1 ORDER BY seq",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| entry(r).map(|(e, _)| e)).collect()
}

/// `n` calls' entries from the `from`th on, without answers, as the writer receives them.
#[cfg(test)]
fn test_batch(from: usize, n: usize) -> Vec<Pending> {
    let entry = |i: usize| Entry {
        seq: 0,
        at: i as i64,
        agency_id: "police-1".into(),
        method: "SubmitDispute".into(),
        case_id: format!("case-{i}"),
        code: 0,
        request_id: format!("r-{i}"),
    };
    (from..from + n).map(|i| (entry(i), Kept::default(), oneshot::channel().0)).collect()
}

#[cfg(test)]
mod tests {
    use fengqiao_platform::db::Backend;

    use super::*;
    use crate::idempotency::{Completion, NewKey};
    use fengqiao_platform::group_commit::Write;

    /// 600 calls' entries appended in one batch, every third with an answer
    /// to keep: the chain holds all, in order, and every answer is kept.
    async fn entries_appended_in_one_batch_chain_in_order_with_their_answers(backend: Backend) {
        let test = crate::test_database(backend).await;
        let keyed: Vec<usize> = (0..600).filter(|i| i % 3 == 0).collect();
        let mut conn = test.db.writer().acquire().await.unwrap();
        for i in &keyed {
            let key = NewKey {
                agency: "police-1".into(),
                key: format!("k-{i}"),
                method: "SubmitDispute".into(),
                hash: "h".into(),
                at: 1,
            };
            assert!(key.apply(&mut conn).await.unwrap());
        }
        drop(conn);
        // One append of all 600: the batch the writer would take (two statements' worth of rows).
        let mut batch: Vec<Pending> = test_batch(0, 600);
        for (i, (_, kept, _)) in batch.iter_mut().enumerate() {
            kept.answer = (i % 3 == 0).then(|| Completion {
                agency_id: "police-1".into(),
                key: format!("k-{i}"),
                answer: format!("answer-{i}").into_bytes(),
            });
        }
        // The head as a process knows it after its first append: on PostgreSQL one statement then.
        let head =
            sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(test.db.pool()).await.unwrap();
        let mut known = Some(append::Head { seq: head.get("seq"), hash: head.get("hash") });
        let how = append::append(&test.db, &mut batch, &mut known, &mut None).await.unwrap();
        let expected = match backend {
            Backend::Postgres => append::Appended::InOneStatement,
            Backend::Sqlite => append::Appended::UnderLock,
        };
        assert_eq!(how, expected);
        assert_eq!(verify(&test.db, |_| {}).await.unwrap(), Verdict::Intact(600));
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(test.db.pool()).await.unwrap();
        assert_eq!(seqs, (1..=600).collect::<Vec<i64>>(), "one entry a call, numbered without a gap");
        let kept: Vec<(String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT idempotency_key, response FROM idempotency_keys")
                .fetch_all(test.db.pool())
                .await
                .unwrap();
        assert_eq!(kept.len(), keyed.len());
        for (key, response) in kept {
            let i = key.trim_start_matches("k-");
            assert_eq!(response, Some(format!("answer-{i}").into_bytes()), "{key}'s answer");
        }
        test.finish().await;
    }

    #[tokio::test]
    async fn entries_appended_in_one_batch_chain_in_order_with_their_answers_on_sqlite() {
        entries_appended_in_one_batch_chain_in_order_with_their_answers(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn entries_appended_in_one_batch_chain_in_order_with_their_answers_on_postgres() {
        entries_appended_in_one_batch_chain_in_order_with_their_answers(Backend::Postgres).await;
    }
}
