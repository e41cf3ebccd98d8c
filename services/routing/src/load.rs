//! An organisation's load: its open referrals, kept as a number (routing
//! migration 13). Triggers on `referrals` append each statement's moves to
//! `org_load_changes`; [`fold`] moves the committed ones into `org_load`.
//! Nothing waits on an organisation's row but the fold, so lanes that send
//! referrals to the same organisation never serialise on it.

use std::time::Duration;

use fengqiao_platform::db::{Backend, Database};
use fengqiao_platform::outage::Outage;

/// An organisation's open referrals, for a query over `organisations o`: its
/// folded count plus its changes not folded yet, read in one snapshot.
pub const OPEN: &str = "COALESCE((SELECT l.open FROM org_load l WHERE l.org_id = o.org_id), 0)
     + COALESCE((SELECT SUM(c.delta) FROM org_load_changes c WHERE c.org_id = o.org_id), 0)";

/// The most changes one fold moves (one transaction).
const FOLD_BATCH: i64 = 10_000;

/// How often routing folds: an organisation's count then sums at most about
/// this much of its changes.
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// Moves up to [`FOLD_BATCH`] committed changes into `org_load`, in one
/// transaction; returns how many. Changes of transactions not yet committed
/// are not seen, so they wait for a later fold; two folds at once (two
/// replicas) never move a change twice.
pub async fn fold(db: &Database) -> Result<u64, sqlx::Error> {
    match db.backend() {
        // The changes deleted are exactly those added: one statement.
        Backend::Postgres => {
            let moved: i64 = sqlx::query_scalar(
                "WITH moved AS (
                     DELETE FROM org_load_changes
                     WHERE id IN (SELECT id FROM org_load_changes ORDER BY id LIMIT $1)
                     RETURNING org_id, delta),
                 folded AS (
                     INSERT INTO org_load (org_id, open)
                     SELECT org_id, SUM(delta) FROM moved GROUP BY org_id ORDER BY org_id
                     ON CONFLICT (org_id) DO UPDATE SET open = org_load.open + EXCLUDED.open)
                 SELECT COUNT(*) FROM moved",
            )
            .bind(FOLD_BATCH)
            .fetch_one(db.writer())
            .await?;
            Ok(moved as u64)
        }
        // One writer: nothing commits between the statements.
        Backend::Sqlite => {
            let mut tx = db.writer().begin().await?;
            let upto: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(id) FROM (SELECT id FROM org_load_changes ORDER BY id LIMIT $1) AS oldest",
            )
            .bind(FOLD_BATCH)
            .fetch_one(&mut *tx)
            .await?;
            let Some(upto) = upto else { return Ok(0) };
            sqlx::query(
                "INSERT INTO org_load (org_id, open)
                 SELECT org_id, SUM(delta) FROM org_load_changes WHERE id <= $1 GROUP BY org_id ORDER BY org_id
                 ON CONFLICT (org_id) DO UPDATE SET open = org_load.open + excluded.open",
            )
            .bind(upto)
            .execute(&mut *tx)
            .await?;
            let moved = sqlx::query("DELETE FROM org_load_changes WHERE id <= $1").bind(upto).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(moved.rows_affected())
        }
    }
}

/// Folds every [`FOLD_EVERY`] (at once again while a fold finds a full
/// batch) until `shutdown`.
pub async fn fold_while(db: Database, shutdown: tokio_util::sync::CancellationToken) {
    let mut outage = Outage::new(db.component(), "fold of organisations' load changes");
    loop {
        let folded = fold(&db).await;
        outage.record(&folded);
        if folded.is_ok_and(|moved| moved >= FOLD_BATCH as u64) {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FOLD_EVERY) => {}
        }
    }
}
