//! Test isolation for every crate's tests: a fresh database per test (a
//! uuid-named PostgreSQL database or a temporary SQLite file) and a fresh
//! stream and subject prefix per test on NATS. Real engines, never mocks.
//!
//! PostgreSQL is reached at `FENGQIAO_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), NATS at `FENGQIAO_TEST_NATS_URL`
//! (default `nats://127.0.0.1:4222`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection};

use crate::bus::{EventBus, MemoryBus, NatsBus};
use crate::config::{BusSettings, Settings};
use crate::db::{Backend, Database};

/// Which bus a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    /// The in-process bus.
    Memory,
    /// NATS JetStream.
    Nats,
}

/// The PostgreSQL server tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("FENGQIAO_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The NATS server tests use.
pub fn nats_url() -> String {
    std::env::var("FENGQIAO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Settings for a test: fast retries, a fresh stream, small batches.
pub fn settings() -> Settings {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut s = Settings {
        bus: BusSettings {
            stream: format!("T_{id}"),
            subject_prefix: format!("t{id}."),
            retry_backoff_ms: 10,
            retry_backoff_max_ms: 100,
            consumer_lanes: Some(4),
            ..BusSettings::default()
        },
        shutdown_grace_secs: 5,
        ..Settings::default()
    };
    s.outbox.poll_interval_ms = 20;
    s
}

/// A database that exists for one test.
pub struct TestDatabase {
    /// The database.
    pub db: Database,
    /// PostgreSQL: the URL of the test database; SQLite: empty.
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates a fresh database for `component` on `backend`.
    pub async fn new(backend: Backend, component: &str) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let db = Database::connect_sqlite(&dir.path().join("test.sqlite"), component, 4).await?;
                Ok(Self { db, url: String::new(), pg_name: None, _dir: Some(dir) })
            }
            Backend::Postgres => {
                let (url, name) = create_postgres_database().await?;
                let db = Database::connect_postgres(&url, component, 8).await?;
                Ok(Self { db, url, pg_name: Some(name), _dir: None })
            }
        }
    }

    /// Drops the database (PostgreSQL); the SQLite file goes with the temp dir.
    pub async fn finish(self) {
        self.db.close().await;
        if let Some(name) = self.pg_name {
            drop_postgres_database(&name).await;
        }
    }
}

/// Creates a uuid-named PostgreSQL database; returns its URL and name.
pub async fn create_postgres_database() -> anyhow::Result<(String, String)> {
    sqlx::any::install_default_drivers();
    let admin = postgres_admin_url();
    let name = format!("fq_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(&admin).await.map_err(|e| {
        anyhow::anyhow!("cannot reach PostgreSQL at {admin}: {e}; start it or set FENGQIAO_TEST_DATABASE_URL")
    })?;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Ok((format!("{base}/{name}"), name))
}

/// Drops a test database, best effort.
pub async fn drop_postgres_database(name: &str) {
    if let Ok(mut conn) = sqlx::AnyConnection::connect(&postgres_admin_url()).await {
        let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut conn)
            .await;
    }
}

/// Connects a fresh bus for a test (NATS: its own stream and prefix from `settings`).
pub async fn bus(kind: BusKind, settings: &mut Settings) -> anyhow::Result<Arc<dyn EventBus>> {
    Ok(match kind {
        BusKind::Memory => Arc::new(MemoryBus::new(&settings.bus)),
        BusKind::Nats => {
            settings.bus.nats_url = nats_url();
            Arc::new(NatsBus::connect(&settings.bus).await?)
        }
    })
}

/// Deletes a test's NATS stream, best effort.
pub async fn finish_bus(settings: &Settings) {
    if !settings.bus.nats_url.is_empty() {
        if let Ok(bus) = NatsBus::connect(&settings.bus).await {
            let _ = bus.delete_stream().await;
        }
    }
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every log line written through it, for tests that read what was logged:
/// give `move || logs.clone()` to a subscriber's writer, then read [`Self::text`].
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("captured logs lock")).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("captured logs lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
