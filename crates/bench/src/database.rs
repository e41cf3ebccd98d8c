//! What PostgreSQL did during the load: the WAL it wrote per referral and the
//! checkpoints it took. After a checkpoint the first change of every page writes
//! the whole page to the WAL, so a run with a checkpoint in it does more work
//! per referral than one without; the report says which kind a run was.

use fengqiao_platform::Database;
use serde::Serialize;

/// PostgreSQL's counters, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Bytes of WAL written since the cluster began.
    wal_bytes: i64,
    /// Checkpoints taken since the statistics were reset (timed and requested).
    checkpoints: i64,
}

/// PostgreSQL's work between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DatabaseUse {
    /// Bytes of WAL per referral answered OK.
    pub wal_bytes_per_referral: f64,
    /// Checkpoints taken during the load.
    pub checkpoints: i64,
}

impl Sample {
    /// Reads the counters; `None` on SQLite, or where PostgreSQL does not show them (a wire-compatible
    /// database without `pg_stat_bgwriter`, say): the report then leaves the line out.
    pub async fn take(db: &Database) -> Option<Self> {
        let row: Result<(i64, i64), _> = sqlx::query_as(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::BIGINT,
                    (checkpoints_timed + checkpoints_req)::BIGINT FROM pg_stat_bgwriter",
        )
        .fetch_one(db.pool())
        .await;
        match row {
            Ok((wal_bytes, checkpoints)) => Some(Self { wal_bytes, checkpoints }),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read PostgreSQL's WAL position and checkpoints");
                None
            }
        }
    }

    /// Reads the counters of `db` if there is one (the bench connects only to PostgreSQL).
    pub async fn take_from(db: Option<&Database>) -> Option<Self> {
        match db {
            Some(db) => Self::take(db).await,
            None => None,
        }
    }

    /// PostgreSQL's work from `self` to `later`, for `referrals` answered OK.
    pub fn until(&self, later: &Sample, referrals: u64) -> DatabaseUse {
        let wal = (later.wal_bytes - self.wal_bytes).max(0) as f64;
        DatabaseUse {
            wal_bytes_per_referral: if referrals > 0 { wal / referrals as f64 } else { 0.0 },
            checkpoints: (later.checkpoints - self.checkpoints).max(0),
        }
    }
}

impl DatabaseUse {
    /// The report's line.
    pub fn line(&self) -> String {
        let aftermath = if self.checkpoints > 0 {
            " (whole pages written after it: not comparable with a run without one)"
        } else {
            ""
        };
        format!(
            "\nPostgreSQL during the load: {:.1} KiB of WAL per referral, {} checkpoint(s){aftermath}\n",
            self.wal_bytes_per_referral / 1024.0,
            self.checkpoints
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_is_counted_per_referral_and_checkpoints_are_flagged() {
        let before = Sample { wal_bytes: 1_000_000, checkpoints: 7 };
        let quiet = before.until(&Sample { wal_bytes: 1_000_000 + 2048 * 500, checkpoints: 7 }, 500);
        assert_eq!(quiet, DatabaseUse { wal_bytes_per_referral: 2048.0, checkpoints: 0 });
        assert!(quiet.line().contains("2.0 KiB of WAL per referral, 0 checkpoint(s)\n"), "{}", quiet.line());
        let busy = before.until(&Sample { wal_bytes: 3_000_000, checkpoints: 8 }, 0);
        assert_eq!(busy.wal_bytes_per_referral, 0.0);
        assert!(busy.line().contains("not comparable"), "{}", busy.line());
    }

    #[tokio::test]
    async fn postgres_shows_the_wal_a_write_adds_and_sqlite_shows_nothing() {
        use fengqiao_platform::db::Backend;
        use fengqiao_platform::testing::TestDatabase;
        let pg = TestDatabase::new(Backend::Postgres, "bench").await.expect("a test database");
        let before = Sample::take(&pg.db).await.expect("PostgreSQL shows its WAL position");
        sqlx::query("CREATE TABLE wal_probe (body TEXT NOT NULL)").execute(pg.db.pool()).await.expect("create");
        sqlx::query("INSERT INTO wal_probe SELECT repeat('x', 1000) FROM generate_series(1, 100)")
            .execute(pg.db.pool())
            .await
            .expect("insert");
        let after = Sample::take(&pg.db).await.expect("again");
        let used = before.until(&after, 1);
        assert!(used.wal_bytes_per_referral >= 100_000.0, "100 rows of 1 kB wrote only {used:?}");
        pg.finish().await;
        let lite = TestDatabase::new(Backend::Sqlite, "bench").await.expect("a test file");
        assert_eq!(Sample::take(&lite.db).await, None);
        lite.finish().await;
    }
}
