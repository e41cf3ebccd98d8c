//! Intake's tables: cases and their numbering.

use std::collections::HashSet;

use fengqiao_platform::db::{values, ROWS_PER_STATEMENT};
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

/// The next `count` case numbers of `county` in `year`, in order, inside the
/// caller's transaction. On PostgreSQL they come from the county-year's own
/// sequence (see [`ensure_sequence`]): nothing is held until the commit, so
/// registrations do not queue behind each other's commit; a number is lost
/// only when its registration fails after taking it, or loses its reference
/// to another intake registering it at the same moment. On SQLite (one writer at
/// a time anyway) they come from the counter row, held until the commit.
pub async fn next_seqs(
    conn: &mut AnyConnection,
    county: &str,
    year: i32,
    count: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let count = i64::try_from(count).expect("a batch's size fits in i64");
    if fengqiao_platform::db::is_postgres(conn) {
        return sqlx::query_scalar("SELECT nextval($1::regclass) FROM generate_series(1, $2::bigint) ORDER BY 1")
            .bind(sequence_name(county, year))
            .bind(count)
            .fetch_all(conn)
            .await;
    }
    let bump = || {
        sqlx::query_scalar::<_, i64>(
            "UPDATE case_sequences SET last_seq = last_seq + $3
             WHERE county_code = $1 AND year = $2 RETURNING last_seq",
        )
        .bind(county)
        .bind(year)
        .bind(count)
    };
    let last = match bump().fetch_optional(&mut *conn).await? {
        Some(last) => last,
        None => {
            // The county's first case of the year.
            sqlx::query(
                "INSERT INTO case_sequences (county_code, year, last_seq) VALUES ($1, $2, 0)
                 ON CONFLICT (county_code, year) DO NOTHING",
            )
            .bind(county)
            .bind(year)
            .execute(&mut *conn)
            .await?;
            bump().fetch_one(&mut *conn).await?
        }
    };
    Ok((last - count + 1..=last).collect())
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

/// Which of `refs` — `(agency, its reference)` each — are registered already.
pub async fn registered_refs(
    conn: &mut AnyConnection,
    refs: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let mut found = HashSet::new();
    for chunk in refs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT source_agency, external_ref FROM cases WHERE (source_agency, external_ref) IN (VALUES {})",
            values(conn, chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for (agency, reference) in chunk {
            query = query.bind(*agency).bind(*reference);
        }
        found.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

/// Inserts `cases` (each with when it was registered); returns the ids of
/// those inserted — not those whose agency already registered the reference,
/// in the table or earlier in `cases`.
pub async fn insert_all(conn: &mut AnyConnection, cases: &[(&Case, i64)]) -> Result<HashSet<String>, sqlx::Error> {
    let mut inserted = HashSet::with_capacity(cases.len());
    for chunk in cases.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO cases (case_id, case_no, source_agency, external_ref, source, category,
                 division_code, risk_level, dispute, registered_at, risk_explanation)
             VALUES {}
             ON CONFLICT (source_agency, external_ref) DO NOTHING
             RETURNING case_id",
            values(conn, chunk.len(), 11)
        );
        let mut insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for (case, registered_at) in chunk {
            let d = case.dispute.as_ref().expect("validated dispute");
            let division = d.location.as_ref().map(|l| l.division_code.clone()).unwrap_or_default();
            insert = insert
                .bind(&case.case_id)
                .bind(&case.case_no)
                .bind(&case.source_agency)
                .bind(&d.external_ref)
                .bind(d.source)
                .bind(d.category)
                .bind(division)
                .bind(case.risk_level)
                .bind(d.encode_to_vec())
                .bind(*registered_at)
                .bind(&case.risk_explanation);
        }
        inserted.extend(insert.fetch_all(&mut *conn).await?);
    }
    Ok(inserted)
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

/// Stores the parties of cases, `(case id, its parties in order)` each.
pub async fn insert_parties(conn: &mut AnyConnection, cases: &[(&str, &[StoredParty])]) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, i32, &StoredParty)> = cases
        .iter()
        .flat_map(|(case_id, parties)| {
            parties.iter().enumerate().map(move |(i, p)| (*case_id, i32::try_from(i).expect("positions fit"), p))
        })
        .collect();
    // One statement per chunk, nine parameters a party.
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO parties (case_id, position, role, name, resident_id_sealed, phone_sealed,
                 resident_id_hash, phone_hash, name_phone_hash)
             VALUES {}",
            values(conn, chunk.len(), 9)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (case_id, position, p) in chunk {
            insert = insert
                .bind(*case_id)
                .bind(*position)
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
