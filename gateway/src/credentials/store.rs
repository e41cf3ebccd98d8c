//! The registry's tables: agencies and their credentials.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::Agency;

/// What kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An Ed25519 public key verifying the agency's JWTs.
    TokenKey,
    /// A client certificate, known by its fingerprint.
    Certificate,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::TokenKey => "token-key",
            Kind::Certificate => "certificate",
        }
    }
}

/// One credential of an agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Token key id (`kid`) or certificate fingerprint.
    pub credential_id: String,
    /// Whose.
    pub agency_id: String,
    /// `token-key` or `certificate`.
    pub kind: String,
    /// The Ed25519 public key (PEM) of a token key; empty for a certificate.
    pub public_key: String,
    /// Valid until (µs since the epoch).
    pub not_after: i64,
    /// Registered at (µs).
    pub created_at: i64,
    /// Revoked at (µs), if revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: String,
}

fn credential(r: &AnyRow) -> Result<Credential, sqlx::Error> {
    Ok(Credential {
        credential_id: r.try_get("credential_id")?,
        agency_id: r.try_get("agency_id")?,
        kind: r.try_get("kind")?,
        public_key: r.try_get("public_key")?,
        not_after: r.try_get("not_after")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_reason: r.try_get("revoked_reason")?,
    })
}

const COLUMNS: &str = "c.credential_id, c.agency_id, c.kind, c.public_key, c.not_after, c.created_at, c.revoked_at,
    c.revoked_reason";

/// Registers a credential.
pub async fn add(
    conn: &mut AnyConnection,
    id: &str,
    agency_id: &str,
    kind: Kind,
    public_key: &str,
    not_after: i64,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO credentials (credential_id, agency_id, kind, public_key, not_after, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(agency_id)
    .bind(kind.as_str())
    .bind(public_key)
    .bind(not_after)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a credential; false if there is none by that id or it was already revoked.
pub async fn revoke(conn: &mut AnyConnection, id: &str, reason: &str, at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE credentials SET revoked_at = $1, revoked_reason = $2 WHERE credential_id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every credential, or one agency's, newest first.
pub async fn list(conn: &mut AnyConnection, agency_id: Option<&str>) -> Result<Vec<Credential>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM credentials c WHERE $1 = '' OR c.agency_id = $1 ORDER BY c.created_at DESC, c.credential_id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(agency_id.unwrap_or("")).fetch_all(conn).await?;
    rows.iter().map(credential).collect()
}

/// A credential with its agency, if the agency is registered.
pub async fn lookup(conn: &mut AnyConnection, id: &str) -> Result<Option<(Credential, Agency, bool)>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS}, a.kind AS agency_kind, a.name, a.division_code, a.disabled_at
         FROM credentials c JOIN agencies a ON a.agency_id = c.agency_id WHERE c.credential_id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.map(|r| {
        let c = credential(&r)?;
        let disabled = r.try_get::<Option<i64>, _>("disabled_at")?.is_some();
        let agency = crate::store::agency_from(&r, "agency_kind")?;
        Ok((c, agency, disabled))
    })
    .transpose()
}

/// Registers an agency; false if the id is taken.
pub async fn add_agency(conn: &mut AnyConnection, a: &Agency, at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO agencies (agency_id, kind, name, division_code, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agency_id) DO NOTHING",
    )
    .bind(&a.agency_id)
    .bind(&a.kind)
    .bind(&a.name)
    .bind(&a.division_code)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Disables an agency (none of its credentials authenticates any more); false if unknown.
pub async fn disable_agency(conn: &mut AnyConnection, agency_id: &str, at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE agencies SET disabled_at = $1 WHERE agency_id = $2 AND disabled_at IS NULL")
        .bind(at)
        .bind(agency_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every agency with whether it is disabled.
pub async fn agencies(conn: &mut AnyConnection) -> Result<Vec<(Agency, bool)>, sqlx::Error> {
    let rows = sqlx::query("SELECT agency_id, kind, name, division_code, disabled_at FROM agencies ORDER BY agency_id")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok((crate::store::agency_from(r, "kind")?, r.try_get::<Option<i64>, _>("disabled_at")?.is_some())))
        .collect()
}

/// Forgets credentials that expired before `before` (µs); returns how many.
/// (Command-line sessions issue a one-day key each; the registry would
/// otherwise grow without end.)
pub async fn purge_expired(conn: &mut AnyConnection, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM credentials WHERE not_after < $1").bind(before).execute(conn).await?;
    Ok(done.rows_affected())
}
