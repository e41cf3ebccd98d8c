//! Which database and broker a run measured, by their own version, and how it
//! reached the database: the same build gives different figures on NATS 2.9 and
//! a current NATS, and over TCP or a Unix socket, so a report says which.

use fengqiao_platform::db::Backend;
use fengqiao_platform::{Database, Settings};
use serde::Serialize;

/// The engines' versions, as they report them.
#[derive(Debug, Clone, Serialize)]
pub struct Engines {
    /// `PostgreSQL 15.20` or `SQLite 3.46.0`.
    pub database: String,
    /// How this run reached PostgreSQL (the components use the same URL); none on SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_link: Option<Link>,
    /// The NATS server's version (`2.9.25`); none in standalone mode, whose bus is in-process.
    pub nats: Option<String>,
}

/// The way to a PostgreSQL server: a server on the same machine answers through its Unix socket
/// with less of the kernel's work a round trip than over TCP loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    UnixSocket,
    Tcp,
}

impl Engines {
    /// One line for the terminal: `PostgreSQL 15.20 over a Unix socket, nats-server 2.9.25`.
    pub fn line(&self) -> String {
        let link = match self.database_link {
            Some(Link::UnixSocket) => " over a Unix socket",
            Some(Link::Tcp) => " over TCP",
            None => "",
        };
        match &self.nats {
            Some(nats) => format!("{}{link}, nats-server {nats}", self.database),
            None => format!("{}{link}", self.database),
        }
    }
}

/// Asks the database and, where the bus is NATS, the broker for their versions.
pub async fn of(settings: &Settings) -> anyhow::Result<Engines> {
    let db = Database::connect(settings, "bench").await?;
    let database = database_version(&db).await;
    let database_link = database_link(&db).await;
    db.close().await;
    let nats = match settings.uses_postgres() && !settings.bus.nats_url.is_empty() {
        true => Some(nats_version(&settings.bus.nats_url).await?),
        false => None,
    };
    Ok(Engines { database: database?, database_link: database_link?, nats })
}

/// How `db` reaches its PostgreSQL server, as the server sees it (no client address: a Unix
/// socket); none on SQLite.
pub async fn database_link(db: &Database) -> anyhow::Result<Option<Link>> {
    if db.backend() != Backend::Postgres {
        return Ok(None);
    }
    let over_socket: bool = sqlx::query_scalar("SELECT inet_client_addr() IS NULL").fetch_one(db.pool()).await?;
    Ok(Some(if over_socket { Link::UnixSocket } else { Link::Tcp }))
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
        let distributed = Engines {
            database: "PostgreSQL 15.20".into(),
            database_link: Some(Link::UnixSocket),
            nats: Some("2.9.25".into()),
        };
        assert_eq!(distributed.line(), "PostgreSQL 15.20 over a Unix socket, nats-server 2.9.25");
        let one_process = Engines { database_link: Some(Link::Tcp), nats: None, ..distributed };
        assert_eq!(one_process.line(), "PostgreSQL 15.20 over TCP");
        let standalone = Engines { database: "SQLite 3.46.0".into(), database_link: None, nats: None };
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
        assert_eq!((engines.database_link, engines.nats), (None, None));
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

    #[tokio::test]
    async fn a_database_reached_through_its_unix_socket_is_reported_so() {
        use fengqiao_platform::testing::TestDatabase;
        let pg = TestDatabase::new(Backend::Postgres, "bench").await.expect("a test database");
        assert_eq!(database_link(&pg.db).await.expect("the link"), Some(Link::Tcp), "the test URL names a TCP host");
        // The same database through the server's socket (FENGQIAO_TEST_POSTGRES_SOCKET_DIR, else Debian's).
        let dir = std::env::var("FENGQIAO_TEST_POSTGRES_SOCKET_DIR").unwrap_or_else(|_| "/var/run/postgresql".into());
        let name = pg.url.rsplit('/').next().expect("a database name");
        let url = format!("postgres://postgres@{}/{name}", dir.replace('/', "%2F"));
        let db = Database::connect_postgres(&url, "bench", 2)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL's socket in {dir} (set FENGQIAO_TEST_POSTGRES_SOCKET_DIR): {e}"));
        assert_eq!(database_link(&db).await.expect("the link"), Some(Link::UnixSocket));
        db.close().await;
        pg.finish().await;
    }
}
