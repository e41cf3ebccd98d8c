//! Intake's tables: cases and their numbering.

use fengqiao_platform::db::{value_rows, ROWS_PER_STATEMENT};
use fengqiao_platform::Backend;
use fengqiao_proto::fengqiao::common::v1::Dispute;
use fengqiao_proto::fengqiao::intake::v1::Case;
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Executor, Row};

const CASE_COLUMNS: &str = "case_id, case_no, source_agency, risk_level, risk_explanation, dispute, registered_at";

fn case_from(row: &AnyRow) -> Result<Case, sqlx::Error> {
    let dispute: Vec<u8> = row.try_get("dispute")?;
    Ok(Case {
        case_id: row.try_get("case_id")?,
        case_no: row.try_get("case_no")?,
        source_agency: row.try_get("source_agency")?,
        dispute: Some(Dispute::decode(dispute.as_slice()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?),
        risk_level: row.try_get::<i32, _>("risk_level")?,
        risk_explanation: row.try_get("risk_explanation")?,
        links: Vec::new(),
        registered_at: Some(fengqiao_platform::db::timestamp(row.try_get("registered_at")?)),
    })
}

/// The case an agency registered under its reference.
pub async fn find_by_ref(
    conn: &mut AnyConnection,
    source_agency: &str,
    external_ref: &str,
) -> Result<Option<Case>, sqlx::Error> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE source_agency = $1 AND external_ref = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(source_agency)
        .bind(external_ref)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(case_from)
        .transpose()
}

/// A case by id.
pub async fn find(conn: &mut AnyConnection, case_id: &str) -> Result<Option<Case>, sqlx::Error> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_optional(conn).await?.as_ref().map(case_from).transpose()
}

/// The next case number of `county` in `year`, inside the caller's
/// transaction. On PostgreSQL it comes from the county-year's own sequence
/// (see [`ensure_sequence`]): nothing is held until the commit, so
/// registrations do not queue behind each other's commit; a number is lost
/// only when its registration fails after taking it. On SQLite (one writer at
/// a time anyway) it comes from the counter row, held until the commit.
pub async fn next_seq(conn: &mut AnyConnection, backend: Backend, county: &str, year: i32) -> Result<i64, sqlx::Error> {
    if backend == Backend::Postgres {
        return sqlx::query_scalar("SELECT nextval($1::regclass)")
            .bind(sequence_name(county, year))
            .fetch_one(conn)
            .await;
    }
    let bump = || {
        sqlx::query_scalar(
            "UPDATE case_sequences SET last_seq = last_seq + 1
             WHERE county_code = $1 AND year = $2 RETURNING last_seq",
        )
        .bind(county)
        .bind(year)
    };
    if let Some(seq) = bump().fetch_optional(&mut *conn).await? {
        return Ok(seq);
    }
    // The county's first case of the year.
    sqlx::query(
        "INSERT INTO case_sequences (county_code, year, last_seq) VALUES ($1, $2, 0)
         ON CONFLICT (county_code, year) DO NOTHING",
    )
    .bind(county)
    .bind(year)
    .execute(&mut *conn)
    .await?;
    bump().fetch_one(conn).await
}

/// The PostgreSQL sequence numbering `county`'s cases of `year`.
fn sequence_name(county: &str, year: i32) -> String {
    assert!(county.bytes().all(|b| b.is_ascii_digit()), "a county code is digits");
    format!("case_no_{county}_{year}")
}

/// Creates the sequence numbering `county`'s cases of `year` if missing
/// (PostgreSQL; outside any registration's transaction). It continues from
/// the county-year's counter row, where a database numbered cases before.
pub async fn ensure_sequence(pool: &AnyPool, county: &str, year: i32) -> Result<(), sqlx::Error> {
    let name = sequence_name(county, year);
    let start: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(last_seq), 0) + 1 FROM case_sequences WHERE county_code = $1 AND year = $2",
    )
    .bind(county)
    .bind(year)
    .fetch_one(pool)
    .await?;
    let create = format!("CREATE SEQUENCE IF NOT EXISTS {name} START WITH {start}");
    match pool.execute(sqlx::AssertSqlSafe(create)).await {
        Ok(_) => Ok(()),
        // Two registrations creating it at once: one loses the race harmlessly.
        Err(e) if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "23505" || c == "42P07") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gives a registered case its number (taken last in the registering
/// transaction, so the county's counter row is held only until the commit).
pub async fn set_case_no(conn: &mut AnyConnection, case_id: &str, case_no: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET case_no = $1 WHERE case_id = $2").bind(case_no).bind(case_id).execute(conn).await?;
    Ok(())
}

/// Inserts `case`; false when the agency already registered this reference.
pub async fn insert(conn: &mut AnyConnection, case: &Case, registered_at: i64) -> Result<bool, sqlx::Error> {
    let d = case.dispute.as_ref().expect("validated dispute");
    let division = d.location.as_ref().map(|l| l.division_code.clone()).unwrap_or_default();
    let inserted = sqlx::query(
        "INSERT INTO cases (case_id, case_no, source_agency, external_ref, source, category,
             division_code, risk_level, dispute, registered_at, risk_explanation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (source_agency, external_ref) DO NOTHING",
    )
    .bind(&case.case_id)
    .bind(&case.case_no)
    .bind(&case.source_agency)
    .bind(&d.external_ref)
    .bind(d.source)
    .bind(d.category)
    .bind(division)
    .bind(case.risk_level)
    .bind(d.encode_to_vec())
    .bind(registered_at)
    .bind(&case.risk_explanation)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A party as stored: sealed personal data and its hashes.
#[derive(Debug, Clone, Default)]
pub struct StoredParty {
    /// Its role (enum number).
    pub role: i32,
    /// Its name.
    pub name: String,
    /// The sealed resident id, if given.
    pub resident_id_sealed: Option<String>,
    /// The sealed phone number, if given.
    pub phone_sealed: Option<String>,
    /// Keyed hash of the normalised resident id.
    pub resident_id_hash: Option<String>,
    /// Keyed hash of the normalised phone number.
    pub phone_hash: Option<String>,
    /// Keyed hash of the normalised name and phone number together.
    pub name_phone_hash: Option<String>,
}

/// Stores a case's parties.
pub async fn insert_parties(
    conn: &mut AnyConnection,
    case_id: &str,
    parties: &[StoredParty],
) -> Result<(), sqlx::Error> {
    // One statement per chunk: the case, then eight parameters a party.
    for (chunk_no, chunk) in parties.chunks(ROWS_PER_STATEMENT).enumerate() {
        let sql = format!(
            "INSERT INTO parties (case_id, position, role, name, resident_id_sealed, phone_sealed,
                 resident_id_hash, phone_hash, name_phone_hash)
             VALUES {}",
            value_rows(chunk.len(), 1, 8)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id);
        for (i, p) in chunk.iter().enumerate() {
            insert = insert
                .bind((chunk_no * ROWS_PER_STATEMENT + i) as i32)
                .bind(p.role)
                .bind(&p.name)
                .bind(p.resident_id_sealed.as_deref())
                .bind(p.phone_sealed.as_deref())
                .bind(p.resident_id_hash.as_deref())
                .bind(p.phone_hash.as_deref())
                .bind(p.name_phone_hash.as_deref());
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A case's parties, in order.
pub async fn parties(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<StoredParty>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT role, name, resident_id_sealed, phone_sealed, resident_id_hash, phone_hash, name_phone_hash
         FROM parties WHERE case_id = $1 ORDER BY position",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredParty {
                role: r.try_get("role")?,
                name: r.try_get("name")?,
                resident_id_sealed: r.try_get("resident_id_sealed")?,
                phone_sealed: r.try_get("phone_sealed")?,
                resident_id_hash: r.try_get("resident_id_hash")?,
                phone_hash: r.try_get("phone_hash")?,
                name_phone_hash: r.try_get("name_phone_hash")?,
            })
        })
        .collect()
}

/// Sets a case's risk level and its explanation.
pub async fn set_risk(
    conn: &mut AnyConnection,
    case_id: &str,
    level: i32,
    explanation: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET risk_level = $1, risk_explanation = $2 WHERE case_id = $3")
        .bind(level)
        .bind(explanation)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that `requester` was shown the case's personal data.
pub async fn record_access(
    conn: &mut AnyConnection,
    case_id: &str,
    requester: &fengqiao_proto::fengqiao::common::v1::Actor,
    purpose: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO personal_data_access (case_id, org_id, person_id, purpose, accessed_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(&requester.org_id)
    .bind(&requester.person_id)
    .bind(purpose)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
