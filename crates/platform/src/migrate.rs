//! Migrations per component and backend, recorded in `fq_schema_migrations`
//! of the component's own schema or file. Each migration runs in one
//! transaction; a changed migration that was already applied is refused.

use sqlx::AssertSqlSafe;

use crate::db::{Backend, Database};

/// One schema change, written once per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Who owns it: `platform` or the component's name.
    pub scope: &'static str,
    /// Increasing within the scope.
    pub version: i64,
    /// What it does, for operators.
    pub description: &'static str,
    /// The SQLite text.
    pub sqlite: &'static str,
    /// The PostgreSQL text.
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Builds a [`Migration`] from `migrations/{sqlite,postgres}/<file>` of the
/// calling crate, or with `shared` from `migrations/shared/<file>` when both
/// backends take the same text.
#[macro_export]
macro_rules! migration {
    ($scope:expr, $version:expr, shared $file:literal, $description:expr) => {
        $crate::migrate::Migration {
            scope: $scope,
            version: $version,
            description: $description,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/shared/", $file)),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/shared/", $file)),
        }
    };
    ($scope:expr, $version:expr, $file:literal, $description:expr) => {
        $crate::migrate::Migration {
            scope: $scope,
            version: $version,
            description: $description,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
        }
    };
}

/// What running migrations did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// `scope/version description` of each migration applied now.
    pub applied: Vec<String>,
    /// How many were already applied.
    pub already_applied: usize,
}

/// A migration could not run.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// An applied migration's text changed since.
    #[error(
        "migration {scope}/{version} was changed after it was applied; restore it and add a new migration instead"
    )]
    Changed {
        /// Its scope.
        scope: String,
        /// Its version.
        version: i64,
    },
    /// The database refused it.
    #[error("migration {scope}/{version} ({description}) failed: {source}")]
    Failed {
        /// Its scope.
        scope: String,
        /// Its version.
        version: i64,
        /// What it does.
        description: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// The bookkeeping table could not be read or written.
    #[error("migration bookkeeping failed: {0}")]
    Sql(#[from] sqlx::Error),
}

fn checksum(text: &str) -> String {
    // FNV-1a: stable across releases and platforms, enough to spot an edit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Applies the migrations not yet applied, in order. Safe to run from several
/// processes at once: PostgreSQL serialises them with an advisory lock.
pub async fn run(db: &Database, migrations: &[Migration]) -> Result<MigrationReport, MigrateError> {
    let mut tx = db.begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()))").execute(&mut *tx).await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS fq_schema_migrations (
            scope TEXT NOT NULL,
            version BIGINT NOT NULL,
            description TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (scope, version))",
    )
    .execute(&mut *tx)
    .await?;
    let mut report = MigrationReport::default();
    for m in migrations {
        let sql = m.sql(db.backend());
        let found: Option<(String,)> =
            sqlx::query_as("SELECT checksum FROM fq_schema_migrations WHERE scope = $1 AND version = $2")
                .bind(m.scope)
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
        match found {
            Some((sum,)) if sum == checksum(sql) => report.already_applied += 1,
            Some(_) => return Err(MigrateError::Changed { scope: m.scope.into(), version: m.version }),
            None => {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(|source| MigrateError::Failed {
                    scope: m.scope.into(),
                    version: m.version,
                    description: m.description.into(),
                    source,
                })?;
                sqlx::query(
                    "INSERT INTO fq_schema_migrations (scope, version, description, checksum, applied_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(m.scope)
                .bind(m.version)
                .bind(m.description)
                .bind(checksum(sql))
                .bind(crate::db::now_micros())
                .execute(&mut *tx)
                .await?;
                report.applied.push(format!("{}/{} {}", m.scope, m.version, m.description));
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}
