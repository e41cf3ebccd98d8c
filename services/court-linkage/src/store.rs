//! The delegations table.

use fengqiao_proto::fengqiao::court::v1::{Delegation, RosterMember};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "delegation_id, court_id, court_case_no, kind, judge, case_id, referral_state, outcome, \
                       designated_org_id, designated_mediator_id, result, filing_reason, agreement_sha256, \
                       agreement_terms, agreement_amount_fen, performance_deadline";

fn from_row(r: &AnyRow) -> Result<Delegation, sqlx::Error> {
    Ok(Delegation {
        delegation_id: r.try_get("delegation_id")?,
        court_id: r.try_get("court_id")?,
        court_case_no: r.try_get("court_case_no")?,
        kind: r.try_get::<i32, _>("kind")?,
        judge: r.try_get("judge")?,
        case_id: r.try_get("case_id")?,
        referral_state: r.try_get::<i32, _>("referral_state")?,
        outcome: r.try_get::<i32, _>("outcome")?,
        designated_org_id: r.try_get("designated_org_id")?,
        designated_mediator_id: r.try_get("designated_mediator_id")?,
        result: r.try_get::<i32, _>("result")?,
        filing_reason: r.try_get("filing_reason")?,
        agreement_sha256: r.try_get("agreement_sha256")?,
        agreement_terms: r
            .try_get::<String, _>("agreement_terms")?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        agreement_amount_fen: r.try_get("agreement_amount_fen")?,
        performance_deadline: r.try_get("performance_deadline")?,
    })
}

/// The delegation of a case.
pub async fn find_by_case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<Delegation>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM delegations WHERE case_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// A delegation by id.
pub async fn find(conn: &mut AnyConnection, delegation_id: &str) -> Result<Option<Delegation>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM delegations WHERE delegation_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(delegation_id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// A court's delegation by its case number.
pub async fn find_by_number(
    conn: &mut AnyConnection,
    court_id: &str,
    court_case_no: &str,
) -> Result<Option<Delegation>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM delegations WHERE court_id = $1 AND court_case_no = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(court_id).bind(court_case_no).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a delegation. `from_court` is true for the court's own submission,
/// whose kind and judge replace what the case's registration implied; false
/// for a record made from the registration, which never overwrites.
pub async fn upsert(conn: &mut AnyConnection, d: &Delegation, from_court: bool, at: i64) -> Result<(), sqlx::Error> {
    let on_conflict = if from_court {
        "DO UPDATE SET kind = excluded.kind, judge = excluded.judge, designated_org_id = excluded.designated_org_id,
             designated_mediator_id = excluded.designated_mediator_id"
    } else {
        "DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO delegations (delegation_id, court_id, court_case_no, kind, judge, case_id, referral_state, outcome,
             created_at, updated_at, designated_org_id, designated_mediator_id)
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $7, $8, $9)
         ON CONFLICT (court_id, court_case_no) {on_conflict}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&d.delegation_id)
        .bind(&d.court_id)
        .bind(&d.court_case_no)
        .bind(d.kind)
        .bind(&d.judge)
        .bind(&d.case_id)
        .bind(at)
        .bind(&d.designated_org_id)
        .bind(&d.designated_mediator_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Follows a newly requested referral of the case.
pub async fn follow(
    conn: &mut AnyConnection,
    case_id: &str,
    referral_id: &str,
    state: i32,
    at: i64,
) -> Result<(), sqlx::Error> {
    // Referral ids are UUIDv7, in the order routing made them: a late request of an earlier referral changes nothing.
    sqlx::query(
        "UPDATE delegations SET referral_id = $1, referral_state = $2, updated_at = $3 WHERE case_id = $4 AND referral_id < $1",
    )
    .bind(referral_id)
    .bind(state)
    .bind(at)
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The referral the case's record follows and its state; `None` without a record.
pub async fn followed(conn: &mut AnyConnection, case_id: &str) -> Result<Option<(String, i32)>, sqlx::Error> {
    let row = sqlx::query("SELECT referral_id, referral_state FROM delegations WHERE case_id = $1")
        .bind(case_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("referral_id")?, r.try_get("referral_state")?))).transpose()
}

/// Sets the state of the case's current referral (moves of earlier ones are ignored).
pub async fn set_state(
    conn: &mut AnyConnection,
    case_id: &str,
    referral_id: &str,
    state: i32,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE delegations SET referral_state = $1, updated_at = $2 WHERE case_id = $3 AND referral_id = $4")
        .bind(state)
        .bind(at)
        .bind(case_id)
        .bind(referral_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the outcome of the case's current referral.
pub async fn set_outcome(
    conn: &mut AnyConnection,
    case_id: &str,
    referral_id: &str,
    outcome: i32,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE delegations SET outcome = $1, updated_at = $2 WHERE case_id = $3 AND referral_id = $4")
        .bind(outcome)
        .bind(at)
        .bind(case_id)
        .bind(referral_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records what the court does next, once: a later event never overwrites a result.
pub async fn set_result(conn: &mut AnyConnection, case_id: &str, d: &Delegation, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE delegations SET result = $1, filing_reason = $2, agreement_sha256 = $3, agreement_terms = $4,
             agreement_amount_fen = $5, performance_deadline = $6, updated_at = $7
         WHERE case_id = $8 AND result = 0",
    )
    .bind(d.result)
    .bind(&d.filing_reason)
    .bind(&d.agreement_sha256)
    .bind(d.agreement_terms.join("\n"))
    .bind(d.agreement_amount_fen)
    .bind(&d.performance_deadline)
    .bind(at)
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds or replaces a roster member.
pub async fn upsert_member(conn: &mut AnyConnection, m: &RosterMember) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO roster (court_id, member_id, kind, name, active) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (court_id, member_id) DO UPDATE SET kind = $3, name = $4, active = $5",
    )
    .bind(&m.court_id)
    .bind(&m.member_id)
    .bind(m.kind)
    .bind(&m.name)
    .bind(i32::from(m.active))
    .execute(conn)
    .await?;
    Ok(())
}

/// A court's roster, by member id.
pub async fn roster(conn: &mut AnyConnection, court_id: &str) -> Result<Vec<RosterMember>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT court_id, member_id, kind, name, active FROM roster WHERE court_id = $1 ORDER BY member_id",
    )
    .bind(court_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RosterMember {
                court_id: r.try_get("court_id")?,
                member_id: r.try_get("member_id")?,
                kind: r.try_get("kind")?,
                name: r.try_get("name")?,
                active: r.try_get::<i32, _>("active")? == 1,
            })
        })
        .collect()
}
