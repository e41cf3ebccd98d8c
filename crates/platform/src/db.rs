//! One database handle for both backends: a SQLite file per component
//! (standalone) or a PostgreSQL schema per component (distributed). Component
//! code is written once against `sqlx::Any` with `$n` placeholders, portable
//! types (ids as TEXT, instants as BIGINT microseconds) and SQL both speak.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, AssertSqlSafe, ConnectOptions, Connection, Executor, Transaction};

use crate::config::Settings;

/// How long a pooled PostgreSQL connection may sit idle before it is checked
/// (pinged) when next lent.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// Which engine a [`Database`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (standalone).
    Sqlite,
    /// PostgreSQL or a wire-compatible database (distributed).
    Postgres,
}

/// Whether a SQLite pool's connections may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

/// A component's connection pool, bound to its own schema or file.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    /// Where writes go: on PostgreSQL the same pool; on SQLite a pool of one
    /// connection, so the component's writers queue in the process (first come,
    /// first served) instead of in SQLite's busy handler, which sleeps 1, 2, 5,
    /// 10 … 100 ms between tries and never learns that the lock came free.
    writer: AnyPool,
    backend: Backend,
    component: String,
}

/// Failure to reach or prepare a database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the {component} database ({backend:?}): {source}; check database.url and that the server is running")]
    Connect {
        /// The component.
        component: String,
        /// The backend.
        backend: Backend,
        /// The driver's error (never contains the password: sqlx does not echo URLs).
        source: sqlx::Error,
    },
    /// The SQLite data directory could not be created.
    #[error("cannot create the data directory {path}: {source}; check data_dir and its permissions")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Any other database failure.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

tokio::task_local! {
    /// The work the running task does, named for the writers' timings.
    static HOLDER: Arc<str>;
}

/// What [`DB_WRITER_HELD`](crate::metrics::DB_WRITER_HELD) calls work not
/// named with [`held_by`]: the services' calls.
pub const CALLS: &str = "calls";

/// Runs `work` under the name `holder`: the SQLite writer it borrows is timed
/// under that name (the metric's `holder` label), so an operator sees which
/// work keeps a busy file's writer.
pub async fn held_by<F: std::future::Future>(holder: impl Into<Arc<str>>, work: F) -> F::Output {
    HOLDER.scope(holder.into(), work).await
}

/// Times each lending of a file's one writing connection by the work that
/// borrowed it ([`crate::metrics::DB_WRITER_HELD`]): the sum's rate is the
/// share of time the writer was busy; near 1 every write of the file waits
/// for it. The writer pool has one connection, so one lending at a time.
fn time_the_writer(pool: AnyPoolOptions, component: &str) -> AnyPoolOptions {
    let lent = Arc::new(std::sync::Mutex::new(None::<(std::time::Instant, Arc<str>)>));
    let on_return = lent.clone();
    let component = component.to_string();
    pool.before_acquire(move |_, _| {
        // Runs in the borrowing task (the return runs in one sqlx spawns).
        let holder = HOLDER.try_with(Arc::clone).unwrap_or_else(|_| Arc::from(CALLS));
        *lent.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), holder));
        Box::pin(async { Ok(true) })
    })
    .after_release(move |_, _| {
        if let Some((at, holder)) = on_return.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let labels = [("component", component.clone()), ("holder", holder.to_string())];
            ::metrics::histogram!(crate::metrics::DB_WRITER_HELD, &labels).record(at.elapsed().as_secs_f64());
        }
        Box::pin(async { Ok(true) })
    })
}

/// The schema (PostgreSQL) or file stem (SQLite) of a component: `court-linkage` → `court_linkage`.
pub fn schema_name(component: &str) -> String {
    component.replace('-', "_")
}

impl Database {
    /// Connects the component to the database the settings name.
    pub async fn connect(settings: &Settings, component: &str) -> Result<Self, DbError> {
        if settings.uses_postgres() {
            Self::connect_postgres(settings.database.url.expose_secret(), component, settings.database.max_connections)
                .await
        } else {
            let dir = &settings.data_dir;
            std::fs::create_dir_all(dir)
                .map_err(|source| DbError::DataDir { path: dir.display().to_string(), source })?;
            let file = dir.join(format!("{}.sqlite", schema_name(component)));
            Self::connect_sqlite(&file, component, settings.database.max_connections).await
        }
    }

    /// Connects to a SQLite file, creating it if missing.
    pub async fn connect_sqlite(
        file: &std::path::Path,
        component: &str,
        max_connections: u32,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        if let Err(e) = crate::sqlite_plans::plan_statements_once() {
            tracing::warn!(component, "{e}");
        }
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let err = |source| DbError::Connect { component: component.to_string(), backend: Backend::Sqlite, source };
        let options = AnyConnectOptions::from_str(&url).map_err(err)?.disable_statement_logging();
        let writer = Self::sqlite_pool(&options, 1, Access::ReadWrite, component).await.map_err(err)?;
        let pool = Self::sqlite_pool(&options, max_connections, Access::ReadOnly, component).await.map_err(err)?;
        Ok(Self { pool, writer, backend: Backend::Sqlite, component: component.to_string() })
    }

    /// A pool of up to `max_connections` connections to one SQLite file.
    async fn sqlite_pool(
        options: &AnyConnectOptions,
        max_connections: u32,
        access: Access,
        component: &str,
    ) -> Result<AnyPool, sqlx::Error> {
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx would ping the connection's worker thread before lending it
            // (a round trip of two thread wake-ups, while holding the file's one
            // writer): a local file cannot hang up. A connection whose worker
            // died fails its next statement and sqlx's ping when it comes back
            // (which stays), and is replaced.
            .test_before_acquire(false);
        if access == Access::ReadWrite {
            pool = time_the_writer(pool, component);
        }
        pool.after_connect(move |conn, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; FULL sync keeps every
                // acknowledged commit across power loss; the busy timeout makes
                // writers queue instead of failing.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;",
                )
                .await?;
                // A write through a reading connection would take the file's
                // lock beside the writer and sleep in the busy handler: it
                // fails at once instead ("attempt to write a readonly
                // database"), so tests find it.
                if access == Access::ReadOnly {
                    conn.execute("PRAGMA query_only = ON").await?;
                }
                // What a writing statement inside a transaction must undo, should it fail
                // halfway, goes to a temp file once past 64 KiB: a file created, written and
                // unlinked for most of a batch's statements, 132 a second at 1,000/s
                // (docs/performance.md, forty-fifth round). Kept in memory instead: a crash
                // needs none of it. Readers keep temp files, for a large sort's sake.
                if access == Access::ReadWrite {
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
    }

    /// Connects to PostgreSQL with every connection's `search_path` set to the
    /// component's own schema, creating the schema if missing.
    pub async fn connect_postgres(url: &str, component: &str, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let schema = schema_name(component);
        let err = |source| DbError::Connect { component: component.to_string(), backend: Backend::Postgres, source };
        let options = AnyConnectOptions::from_str(url).map_err(err)?.disable_statement_logging();
        let mut conn = options.connect().await.map_err(err)?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        if let Err(e) = conn.execute(AssertSqlSafe(create)).await {
            // Two processes creating the schema at once: one loses the race harmlessly.
            let duplicate = e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "23505" || c == "42P06");
            if !duplicate {
                return Err(err(e));
            }
        }
        warn_if_autovacuum_is_off(&mut conn, component).await;
        conn.close().await.ok();
        let set_path = format!("SET search_path TO \"{schema}\"");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx pings every connection before lending it (a round trip per
            // acquire, on top of the one it makes when a connection comes back):
            // only a connection idle long enough to have been cut is checked.
            // One broken while busy fails its next statement, is closed, and the
            // caller's retry gets a new one.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                let set_path = set_path.clone();
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(set_path)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(err)?;
        Ok(Self { writer: pool.clone(), pool, backend: Backend::Postgres, component: component.to_string() })
    }

    /// The pool, for reads. On SQLite its connections are read-only
    /// (`PRAGMA query_only`): write through [`writer`](Self::writer) or
    /// [`begin`](Self::begin).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for a write outside a transaction (one statement that commits
    /// itself). On SQLite it shares the one connection [`begin`](Self::begin)
    /// uses; do not write through it while holding a transaction of the same
    /// database.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this pool connects with, on PostgreSQL (for a connection of
    /// its own, e.g. to LISTEN); None on SQLite.
    pub fn postgres_url(&self) -> Option<String> {
        (self.backend == Backend::Postgres).then(|| self.pool.connect_options().database_url.to_string())
    }

    /// The component this database belongs to.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Begins a write transaction. On SQLite it holds the file's one writing
    /// connection and takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue instead of deadlocking; finish it before beginning another
    /// on the same database.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Now as microseconds since the Unix epoch: the portable instant of every table.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64
}

/// A stored instant as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// A protobuf timestamp as a stored instant (microseconds since the epoch).
pub fn micros_of(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000
}

/// What ends a `SELECT` that reads rows to change them in the same transaction:
/// ` FOR UPDATE` on PostgreSQL, where writers run side by side, so another
/// writer of those rows waits for the commit; nothing on SQLite, whose one
/// writer already excludes every other.
pub fn for_update(conn: &sqlx::AnyConnection) -> &'static str {
    if is_postgres(conn) {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// Whether the connection is to PostgreSQL (else SQLite).
pub fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME
}

/// The most rows one statement writes or names (a multi-row INSERT, an `IN`
/// list): at fifteen parameters a row or fewer (mediation's inbox rows, the
/// widest), 7,500 at most, far below every engine's limit on bind parameters
/// (SQLite 32,766, PostgreSQL 65,535).
pub const ROWS_PER_STATEMENT: usize = 500;

/// Logs a warning when the PostgreSQL server does not run autovacuum: nothing
/// then analyses the tables, so a connection's cached plan, made while a table
/// was small, scans it whole ever after, and dead rows are never reclaimed.
async fn warn_if_autovacuum_is_off(conn: &mut sqlx::AnyConnection, component: &str) {
    let setting: Result<String, _> = sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(conn).await;
    if setting.is_ok_and(|s| s == "off") {
        tracing::warn!(
            component,
            "PostgreSQL's autovacuum is off: tables are never analysed, so queries slow as they grow; \
             turn it on (autovacuum = on, PostgreSQL's default) or run ANALYZE and VACUUM on a schedule"
        );
    }
}

/// The `VALUES` rows of a statement whose only parameters they are: `rows`
/// rows of `per_row` parameters each, bound in order (a value every row shares
/// is bound again in each row). On SQLite they are anonymous (`?`): SQLite
/// looks each numbered `$n` up by a linear scan of those before it, when it
/// prepares the statement and again when sqlx binds it, so a batch's statement
/// of numbered parameters costs the square of their count (a tenth of
/// standalone's CPU at 800 submissions/s). On PostgreSQL they are `$1…$n`.
pub fn values(conn: &sqlx::AnyConnection, rows: usize, per_row: usize) -> String {
    values_from(conn, 1, rows, per_row)
}

/// [`values`] for a statement with `first - 1` parameters before them (on
/// PostgreSQL numbered from `$first`; on SQLite anonymous, bound in order).
pub fn values_from(conn: &sqlx::AnyConnection, first: usize, rows: usize, per_row: usize) -> String {
    if is_postgres(conn) {
        return numbered_values(first, rows, per_row);
    }
    let row = format!("({})", vec!["?"; per_row].join(", "));
    vec![row; rows].join(", ")
}

/// PostgreSQL's `VALUES` rows numbered from `$first`: `rows` rows of `per_row`
/// parameters, for a statement with other parameters before them.
pub fn numbered_values(first: usize, rows: usize, per_row: usize) -> String {
    let row = |r: usize| -> String {
        let params: Vec<String> = (0..per_row).map(|k| format!("${}", first + r * per_row + k)).collect();
        format!("({})", params.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// The parameters of an `IN (…)` list starting at `$first`, for `count` values:
/// as many as the next power of two, so a statement comes in a few shapes
/// (each prepared once per connection) rather than one per count. Bind the
/// values with [`bind_padded`], which repeats the last to fill the list.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count.next_power_of_two()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// `values` bound to `query` in order, the last repeated up to the list's
/// length in [`placeholders`] (a repeat in an `IN` list matches nothing more).
/// `values` must not be empty: there is no empty `IN ()` in SQL, so callers
/// skip the statement instead (as chunks of a non-empty list never are).
pub fn bind_padded<'q, T>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &[T],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>
where
    T: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Clone + 'q,
{
    assert!(!values.is_empty(), "an IN list needs at least one value: skip the statement instead");
    let padding = values.len().next_power_of_two() - values.len();
    for v in values.iter().chain(std::iter::repeat_n(values.last(), padding).flatten()) {
        query = query.bind(v.clone());
    }
    query
}

/// The calendar year in Asia/Shanghai (UTC+8, no daylight saving) at `micros`.
pub fn local_year(micros: i64) -> i32 {
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    utc.to_offset(time::macros::offset!(+8)).year()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_year_turns_at_midnight_in_beijing() {
        // 2026-12-31T16:00:00Z is 2027-01-01 00:00 in Asia/Shanghai.
        let new_year = 1_798_732_800_000_000_i64;
        assert_eq!(super::local_year(new_year - 1), 2026);
        assert_eq!(super::local_year(new_year), 2027);
    }

    async fn values_are_anonymous_on_sqlite_and_numbered_on_postgres(backend: super::Backend) {
        use crate::testing::TestDatabase;
        let t = TestDatabase::new(backend, "values").await.expect("a test database");
        let mut conn = t.db.writer().acquire().await.expect("a connection");
        let expected = match backend {
            super::Backend::Sqlite => "(?, ?), (?, ?)",
            super::Backend::Postgres => "($1, $2), ($3, $4)",
        };
        assert_eq!(super::values(&conn, 2, 2), expected);
        assert_eq!(super::numbered_values(4, 2, 3), "($4, $5, $6), ($7, $8, $9)", "after three others");
        // Bound in order either way.
        let sql = format!("SELECT v.column1, v.column2 FROM (VALUES {}) AS v ORDER BY 1", super::values(&conn, 2, 2));
        let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(2_i64)
            .bind("b")
            .bind(1_i64)
            .bind("a")
            .fetch_all(&mut *conn)
            .await
            .expect("the statement runs");
        assert_eq!(rows, [(1, "a".to_string()), (2, "b".to_string())]);
        drop(conn);
        t.finish().await;
    }

    #[tokio::test]
    async fn values_are_anonymous_on_sqlite() {
        values_are_anonymous_on_sqlite_and_numbered_on_postgres(super::Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn values_are_numbered_on_postgres() {
        values_are_anonymous_on_sqlite_and_numbered_on_postgres(super::Backend::Postgres).await;
    }

    #[test]
    fn in_lists_are_padded_to_a_power_of_two() {
        assert_eq!(super::placeholders(2, 3), "$2, $3, $4, $5");
        assert_eq!(super::placeholders(1, 4), "$1, $2, $3, $4");
        assert_eq!(super::placeholders(1, 1), "$1");
    }

    #[test]
    #[should_panic(expected = "an IN list needs at least one value")]
    fn an_empty_in_list_is_refused_rather_than_bound_short() {
        let query = sqlx::query::<sqlx::Any>("SELECT 1 WHERE 1 IN ($1)");
        let _ = super::bind_padded::<i64>(query, &[]);
    }

    #[tokio::test]
    async fn a_sqlite_transaction_holds_the_one_writer_while_reads_go_on_beside_it() {
        use crate::testing::TestDatabase;
        let t = TestDatabase::new(super::Backend::Sqlite, "writer").await.expect("a test file");
        let db = &t.db;
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(db.writer()).await.expect("create");
        let mut tx = db.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (n) VALUES (1)").execute(&mut *tx).await.expect("insert");
        // Another writer queues for the connection instead of trying SQLite's lock …
        assert!(db.writer().try_acquire().is_none(), "a second writer got a connection while a transaction writes");
        let waiting = tokio::spawn({
            let db = db.clone();
            async move { sqlx::query("INSERT INTO t (n) VALUES (2)").execute(db.writer()).await.map(|_| ()) }
        });
        // … and readers are not held up: they see what was committed before.
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(db.pool()).await.expect("read");
        assert_eq!(seen, 0);
        assert!(!waiting.is_finished(), "the second write ran inside the first one's transaction");
        tx.commit().await.expect("commit");
        waiting.await.expect("joined").expect("the queued write ran once the writer was free");
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n").fetch_all(db.pool()).await.expect("read");
        assert_eq!(rows, [1, 2]);
        t.finish().await;
    }

    /// The SQLite temp files this process holds open (SQLite names them `etilqs_…`).
    fn open_sqlite_temp_files() -> usize {
        let fds = std::fs::read_dir("/proc/self/fd").expect("Linux's /proc");
        let targets = fds.flatten().filter_map(|fd| std::fs::read_link(fd.path()).ok());
        targets.filter(|t| t.to_string_lossy().contains("etilqs_")).count()
    }

    #[tokio::test]
    async fn a_large_statement_in_a_sqlite_transaction_keeps_its_undo_in_memory_not_a_temp_file() {
        use crate::testing::TestDatabase;
        let t = TestDatabase::new(super::Backend::Sqlite, "undo").await.expect("a test file");
        let db = &t.db;
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
            .execute(db.writer())
            .await
            .expect("create");
        // ~1 MB of rows, committed: a statement changing them all must be able to undo ~250 pages.
        sqlx::query(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 4000) \
             INSERT INTO t (n, v) SELECT n, printf('%0200d', n) FROM s",
        )
        .execute(db.writer())
        .await
        .expect("fill");
        let before = open_sqlite_temp_files();
        let mut tx = db.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (n, v) VALUES (0, 'first')").execute(&mut *tx).await.expect("a first write");
        // Each row could break the UNIQUE index halfway, so SQLite journals the statement.
        sqlx::query("UPDATE t SET v = v || 'x'").execute(&mut *tx).await.expect("the large statement");
        let during = open_sqlite_temp_files();
        tx.commit().await.expect("commit");
        assert_eq!(during, before, "the statement's undo went to a temp file");
        t.finish().await;
    }

    #[tokio::test]
    async fn a_write_through_a_sqlite_reading_connection_fails_at_once() {
        use crate::testing::TestDatabase;
        let t = TestDatabase::new(super::Backend::Sqlite, "reader").await.expect("a test file");
        let db = &t.db;
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(db.writer()).await.expect("create");
        // A stray write would take the file's lock beside the writer and sleep
        // in SQLite's busy handler; it is refused instead, even while the writer is busy.
        let tx = db.begin().await.expect("begin");
        let started = std::time::Instant::now();
        let stray = sqlx::query("INSERT INTO t (n) VALUES (1)").execute(db.pool()).await;
        assert!(stray.is_err(), "a reading connection wrote");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the stray write waited for the lock");
        drop(tx);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(db.pool()).await.expect("read");
        assert_eq!(rows, 0);
        t.finish().await;
    }

    #[tokio::test]
    async fn on_postgres_writes_and_reads_share_one_pool() {
        let t = crate::testing::TestDatabase::new(super::Backend::Postgres, "writer").await.expect("a test database");
        let tx = t.db.begin().await.expect("begin");
        // Row locks, not a file lock: a second writer needs no queue of its own.
        let second = tokio::time::timeout(std::time::Duration::from_secs(10), t.db.writer().acquire()).await;
        assert!(matches!(second, Ok(Ok(_))), "no second connection while a transaction is open");
        // One pool: the connections the writer handed out are the reading pool's.
        let (writer, reader) = (t.db.writer(), t.db.pool());
        assert_eq!((writer.size(), writer.num_idle()), (reader.size(), reader.num_idle()));
        assert!(reader.size() >= 2, "the transaction's and the second connection are counted in the one pool");
        drop(second);
        // No reading connection is query-only on PostgreSQL.
        sqlx::query("CREATE TABLE written_through_pool (n INTEGER)").execute(reader).await.expect("a write via pool()");
        drop(tx);
        t.finish().await;
    }

    #[test]
    fn a_timestamp_keeps_microseconds() {
        let t = super::timestamp(1_500_000);
        assert_eq!((t.seconds, t.nanos), (1, 500_000_000));
    }
}
