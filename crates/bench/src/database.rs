//! What PostgreSQL did during the load: the WAL it wrote and the transactions
//! it committed per referral, and the checkpoints it took. Commits are counted
//! over the whole cluster (every component's database), as `pg_stat_database`
//! shows them; each commit is a WAL flush, the cost a consumer's batching cuts.
//! After a checkpoint the first change of every page writes the whole page to
//! the WAL, so a run with a checkpoint in it does more work per referral than
//! one without; the report says which kind a run was.
//!
//! Where the server's autovacuum is off (as on our CI machines), nothing ever
//! analyses the bench's fresh tables: a connection's cached plan, made while a
//! table was nearly empty, keeps scanning it whole as it grows, and the run
//! slows by the minute (a fifth in 40 s, measured). A production server runs
//! autovacuum, which analyses a table once a tenth of it has changed, and
//! paces its reading (a short sleep every so many pages); so the bench stands
//! in for it, the same way ([`analyse_while`]), and the report says so.

use std::time::Duration;

use fengqiao_platform::Database;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// PostgreSQL's counters, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Bytes of WAL written since the cluster began.
    wal_bytes: i64,
    /// Transactions committed in every database of the cluster.
    commits: i64,
    /// Checkpoints taken since the statistics were reset (timed and requested).
    checkpoints: i64,
}

/// PostgreSQL's work between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DatabaseUse {
    /// Bytes of WAL per referral answered OK.
    pub wal_bytes_per_referral: f64,
    /// Transactions committed per referral answered OK, in every database of the cluster.
    pub commits_per_referral: f64,
    /// Checkpoints taken during the load.
    pub checkpoints: i64,
    /// Times the bench looked for tables to analyse during the load, standing in for the server's autovacuum,
    /// which is off (0 when it is on).
    #[serde(default)]
    pub analysed_by_bench: u32,
    /// Tables it analysed in all.
    #[serde(default)]
    pub tables_analysed_by_bench: u32,
}

impl Sample {
    /// Reads the counters; `None` on SQLite, or where PostgreSQL does not show them (a wire-compatible
    /// database without `pg_stat_bgwriter`, say): the report then leaves the line out.
    pub async fn take(db: &Database) -> Option<Self> {
        let row: Result<(i64, i64, i64), _> = sqlx::query_as(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::BIGINT,
                    (SELECT COALESCE(sum(xact_commit), 0)::BIGINT FROM pg_stat_database),
                    (checkpoints_timed + checkpoints_req)::BIGINT FROM pg_stat_bgwriter",
        )
        .fetch_one(db.pool())
        .await;
        match row {
            Ok((wal_bytes, commits, checkpoints)) => Some(Self { wal_bytes, commits, checkpoints }),
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
        let per_referral = |grew: i64| if referrals > 0 { grew.max(0) as f64 / referrals as f64 } else { 0.0 };
        DatabaseUse {
            wal_bytes_per_referral: per_referral(later.wal_bytes - self.wal_bytes),
            commits_per_referral: per_referral(later.commits - self.commits),
            checkpoints: (later.checkpoints - self.checkpoints).max(0),
            analysed_by_bench: 0,
            tables_analysed_by_bench: 0,
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
        let analysed = match self.analysed_by_bench {
            0 => String::new(),
            n => format!(
                "autovacuum is off on this server: the bench stood in for it {n} time(s) during the load ({} s in, \
                 then every {} s), analysing {} table(s) in all, those autovacuum would have, paced as it is\n",
                ANALYSE_FIRST.as_secs(),
                ANALYSE_EVERY.as_secs(),
                self.tables_analysed_by_bench
            ),
        };
        format!(
            "\nPostgreSQL during the load: {:.1} KiB of WAL and {:.1} commits per referral, {} checkpoint(s){aftermath}\n\
             {analysed}",
            self.wal_bytes_per_referral / 1024.0,
            self.commits_per_referral,
            self.checkpoints
        )
    }
}

/// When the bench first analyses the database, counted from the start of the load.
pub const ANALYSE_FIRST: Duration = Duration::from_secs(5);
/// How often it analyses it again.
pub const ANALYSE_EVERY: Duration = Duration::from_secs(15);

/// Whether the server runs autovacuum (PostgreSQL's default). Taken as yes when it cannot be read, so
/// the bench then adds no work of its own.
pub async fn autovacuum_runs(db: &Database) -> bool {
    let setting: Result<String, _> =
        sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(db.pool()).await;
    setting.map_or(true, |s| s == "on")
}

/// The tables autovacuum would analyse now: changed since they were last
/// analysed by more than `autovacuum_analyze_threshold` rows and
/// `autovacuum_analyze_scale_factor` of their size (PostgreSQL's rule, with the
/// server's own settings).
const DUE: &str = "SELECT format('%I.%I', s.schemaname, s.relname) FROM pg_stat_user_tables s
     JOIN pg_class c ON c.oid = s.relid
     WHERE s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
         + current_setting('autovacuum_analyze_scale_factor')::float8 * GREATEST(c.reltuples, 0)
     ORDER BY 1";

/// Autovacuum's pace for its own analyses: its cost delay and limit (a limit
/// of -1 means the server's `vacuum_cost_limit`).
const PACE: &str = "SELECT set_config('vacuum_cost_delay', current_setting('autovacuum_vacuum_cost_delay'), false),
     set_config('vacuum_cost_limit', CASE current_setting('autovacuum_vacuum_cost_limit') WHEN '-1'
         THEN current_setting('vacuum_cost_limit') ELSE current_setting('autovacuum_vacuum_cost_limit') END, false)";

/// A connection of its own (closed when dropped) whose analyses go at autovacuum's pace.
async fn paced(db: &Database) -> Result<sqlx::AnyConnection, sqlx::Error> {
    let mut conn = db.pool().acquire().await?.detach();
    sqlx::query(PACE).execute(&mut conn).await?;
    Ok(conn)
}

/// One time the bench looked for tables to analyse, in seconds since the
/// load's start: the chart shades it, as the submit p99 rises while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnalysisPass {
    pub from_secs: f64,
    pub to_secs: f64,
    /// Tables it analysed (0: none was due).
    pub tables: u32,
}

impl AnalysisPass {
    /// Whether it analysed a table (a look that found none due did nothing).
    pub fn analysed(&self) -> bool {
        self.tables > 0
    }
}

/// Analyses, as autovacuum would, the tables of `db` it would analyse, `first`
/// after `origin` and then `every` until `stop`; returns each time it looked.
/// A failure is logged and counted out.
pub async fn analyse_while(
    db: Database,
    origin: Instant,
    first: Duration,
    every: Duration,
    stop: CancellationToken,
) -> Vec<AnalysisPass> {
    let mut passes = Vec::new();
    let mut next = origin + first;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return passes,
            _ = tokio::time::sleep_until(next) => {}
        }
        let from_secs = origin.elapsed().as_secs_f64();
        match analyse_due(&db).await {
            Ok(tables) => passes.push(AnalysisPass { from_secs, to_secs: origin.elapsed().as_secs_f64(), tables }),
            Err(e) => tracing::warn!(error = %e, "cannot analyse the bench's database; its plans may go stale"),
        }
        next = Instant::now() + every;
    }
}

/// Analyses the tables that are due, each in its own transaction, at autovacuum's pace; returns how many.
async fn analyse_due(db: &Database) -> Result<u32, sqlx::Error> {
    let mut conn = paced(db).await?;
    let due: Vec<String> = sqlx::query_scalar(DUE).fetch_all(&mut conn).await?;
    for table in &due {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE {table}"))).execute(&mut conn).await?;
    }
    Ok(u32::try_from(due.len()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_is_counted_per_referral_and_checkpoints_are_flagged() {
        let before = Sample { wal_bytes: 1_000_000, commits: 40, checkpoints: 7 };
        let quiet =
            before.until(&Sample { wal_bytes: 1_000_000 + 2048 * 500, commits: 40 + 6_550, checkpoints: 7 }, 500);
        assert_eq!(
            quiet,
            DatabaseUse {
                wal_bytes_per_referral: 2048.0,
                commits_per_referral: 13.1,
                checkpoints: 0,
                analysed_by_bench: 0,
                tables_analysed_by_bench: 0
            }
        );
        assert!(!quiet.line().contains("autovacuum"), "{}", quiet.line());
        let stood_in = DatabaseUse { analysed_by_bench: 4, tables_analysed_by_bench: 30, ..quiet };
        assert!(
            stood_in.line().contains("the bench stood in for it 4 time(s)")
                && stood_in.line().contains("analysing 30 table(s) in all"),
            "{}",
            stood_in.line()
        );
        assert!(
            quiet.line().contains("2.0 KiB of WAL and 13.1 commits per referral, 0 checkpoint(s)\n"),
            "{}",
            quiet.line()
        );
        let busy = before.until(&Sample { wal_bytes: 3_000_000, commits: 90, checkpoints: 8 }, 0);
        assert_eq!((busy.wal_bytes_per_referral, busy.commits_per_referral), (0.0, 0.0));
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
        // The statistics reach pg_stat_database when a backend reports them (at
        // the latest a second after its transaction); the two commits show then.
        let counted = async {
            loop {
                let now = Sample::take(&pg.db).await.expect("again");
                if before.until(&now, 1).commits_per_referral >= 2.0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), counted).await.expect("the two commits are counted");
        pg.finish().await;
        let lite = TestDatabase::new(Backend::Sqlite, "bench").await.expect("a test file");
        assert_eq!(Sample::take(&lite.db).await, None);
        lite.finish().await;
    }

    /// Until told to stop, the bench analyses the tables autovacuum would (one
    /// that grew), not those it would leave (one analysed since it last
    /// changed), at autovacuum's pace.
    #[tokio::test]
    async fn the_bench_analyses_the_tables_autovacuum_would_at_its_pace_until_told_to_stop() {
        use fengqiao_platform::db::Backend;
        use fengqiao_platform::testing::TestDatabase;
        let pg = TestDatabase::new(Backend::Postgres, "bench").await.expect("a test database");
        for sql in [
            "CREATE TABLE grows (id INTEGER PRIMARY KEY)",
            "CREATE TABLE settled (id INTEGER PRIMARY KEY)",
            "INSERT INTO settled SELECT generate_series(1, 100)",
            "INSERT INTO grows SELECT generate_series(1, 5000)",
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pg.db.pool()).await.expect(sql);
        }
        let db = &pg.db;
        let stats = |table: &'static str| async move {
            let row: (f32, i64) = sqlx::query_as(
                "SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
                 WHERE c.relname = $1",
            )
            .bind(table)
            .fetch_one(db.pool())
            .await
            .expect("pg_class");
            row
        };
        // The changes reach the statistics when their backend reports them (within a few seconds).
        let reported = async {
            while stats("grows").await.1 < 5000 || stats("settled").await.1 < 100 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), reported).await.expect("the inserts are counted");
        sqlx::raw_sql("ANALYZE settled").execute(pg.db.pool()).await.expect("analyse");
        assert!(stats("grows").await.0 < 0.0, "a new table is not analysed yet");

        let stop = CancellationToken::new();
        let origin = Instant::now();
        let every = Duration::from_millis(50);
        let task = tokio::spawn(analyse_while(pg.db.clone(), origin, Duration::ZERO, every, stop.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        let done = tokio::time::timeout(Duration::from_secs(30), task).await.expect("stops when told").expect("joins");
        assert!(done.len() >= 2, "looked at once and again every 50 ms: {done:?}");
        let tables: Vec<u32> = done.iter().map(|p| p.tables).collect();
        assert_eq!(tables[0], 1, "only the table that grew, at the first look: {done:?}");
        assert_eq!(tables.iter().sum::<u32>(), 1, "and once: {done:?}");
        assert!(done[0].from_secs < 0.2, "the first look at once: {done:?}");
        for (pass, next) in done.iter().zip(&done[1..]) {
            assert!(pass.from_secs <= pass.to_secs, "each pass ends after it starts: {done:?}");
            assert!(next.from_secs - pass.to_secs >= 0.045, "passes {every:?} apart: {done:?}");
        }
        assert_eq!(stats("grows").await.0, 5000.0, "the planner now knows the table's rows");

        let mut conn = paced(&pg.db).await.expect("a paced connection");
        let (delay, autovacuum_delay): (String, String) = sqlx::query_as(
            "SELECT current_setting('vacuum_cost_delay'), current_setting('autovacuum_vacuum_cost_delay')",
        )
        .fetch_one(&mut conn)
        .await
        .expect("settings");
        assert_eq!(delay, autovacuum_delay, "analyses are paced as autovacuum's");
        assert_ne!(delay, "0", "and paced at all");
        drop(conn);
        pg.finish().await;
    }
}
