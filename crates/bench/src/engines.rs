//! Which database and broker a run measured, by their own version: the same
//! build gives different figures on NATS 2.9 and a current NATS, so a report
//! says which it ran against.

use fengqiao_platform::db::Backend;
use fengqiao_platform::{Database, Settings};
use serde::Serialize;

/// The engines' versions, as they report them.
#[derive(Debug, Clone, Serialize)]
pub struct Engines {
    /// `PostgreSQL 15.20` or `SQLite 3.46.0`.
    pub database: String,
    /// The NATS server's version (`2.9.25`); none in standalone mode, whose bus is in-process.
    pub nats: Option<String>,
}

impl Engines {
    /// One line for the terminal: `PostgreSQL 15.20, nats-server 2.9.25`.
    pub fn line(&self) -> String {
        match &self.nats {
            Some(nats) => format!("{}, nats-server {nats}", self.database),
            None => self.database.clone(),
        }
    }
}

/// Asks the database and, where the bus is NATS, the broker for their versions.
pub async fn of(settings: &Settings) -> anyhow::Result<Engines> {
    let db = Database::connect(settings, "bench").await?;
    let database = database_version(&db).await;
    db.close().await;
    let nats = match settings.uses_postgres() && !settings.bus.nats_url.is_empty() {
        true => Some(nats_version(&settings.bus.nats_url).await?),
        false => None,
    };
    Ok(Engines { database: database?, nats })
}

/// `PostgreSQL 15.20` or `SQLite 3.46.0`.
pub async fn database_version(db: &Database) -> anyhow::Result<String> {
    let (name, sql) = match db.backend() {
        Backend::Postgres => ("PostgreSQL", "SELECT current_setting('server_version')"),
        Backend::Sqlite => ("SQLite", "SELECT sqlite_version()"),
    };
    let version: String = sqlx::query_scalar(sql).fetch_one(db.pool()).await?;
    // PostgreSQL may add its packager's words: `15.20 (Debian 15.20-0+deb12u1)`.
    let version = version.split_whitespace().next().unwrap_or_default();
    Ok(format!("{name} {version}"))
}

/// The version the NATS server at `url` announces when a client connects.
pub async fn nats_version(url: &str) -> anyhow::Result<String> {
    let client = async_nats::connect(url).await?;
    let version = client.server_info().version;
    anyhow::ensure!(!version.is_empty(), "the NATS server at {url} announced no version");
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_broker_only_where_there_is_one() {
        let distributed = Engines { database: "PostgreSQL 15.20".into(), nats: Some("2.9.25".into()) };
        assert_eq!(distributed.line(), "PostgreSQL 15.20, nats-server 2.9.25");
        let standalone = Engines { database: "SQLite 3.46.0".into(), nats: None };
        assert_eq!(standalone.line(), "SQLite 3.46.0");
    }

    fn is_version(v: &str) -> bool {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() >= 2 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    }

    #[tokio::test]
    async fn standalone_reports_its_sqlite_and_no_broker() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let settings = Settings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let engines = of(&settings).await.expect("the versions");
        let version = engines.database.strip_prefix("SQLite ").expect("named SQLite");
        assert!(is_version(version), "not a version: {}", engines.database);
        assert_eq!(engines.nats, None);
    }

    #[tokio::test]
    async fn distributed_reports_postgres_and_the_brokers_own_version() {
        use fengqiao_platform::testing::{nats_url, TestDatabase};
        let pg = TestDatabase::new(Backend::Postgres, "bench").await.expect("a test database");
        let database = database_version(&pg.db).await.expect("PostgreSQL's version");
        let version = database.strip_prefix("PostgreSQL ").expect("named PostgreSQL");
        assert!(is_version(version), "not a version: {database}");
        let nats = nats_version(&nats_url()).await.expect("the broker's version");
        assert!(is_version(&nats), "not a version: {nats}");
        pg.finish().await;
    }
}
