//! What each case contributes to the figures, recorded as routing follows it.

use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::events::v1::{CaseRegistered, MediationConcluded};
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use sqlx::AnyConnection;

/// The township of a division code: its first nine digits (county 6 + township 3).
pub fn township(division_code: &str) -> String {
    division_code.get(..9).unwrap_or(division_code).to_string()
}

/// Records a registration at `at` (the event's time); a case linked as
/// RELATED repeats an earlier registration (refiled), and one linked as
/// REFLOW or REPEAT_PETITION marks the earlier case's resolution as re-flowed.
pub async fn registered(conn: &mut AnyConnection, ev: &CaseRegistered, at: i64) -> Result<(), sqlx::Error> {
    let division =
        ev.dispute.as_ref().and_then(|d| d.location.as_ref()).map(|l| l.division_code.as_str()).unwrap_or("");
    let refiled = ev.links.iter().any(|l| l.kind == "RELATED");
    let inserted = sqlx::query(
        "INSERT INTO case_figures (case_id, registered_at, township, source_agency, refiled)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(&ev.case_id)
    .bind(at)
    .bind(township(division))
    .bind(&ev.source_agency)
    .bind(i32::from(refiled))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(());
    }
    for link in ev.links.iter().filter(|l| l.kind == "REFLOW" || l.kind == "REPEAT_PETITION") {
        sqlx::query(
            "UPDATE case_figures SET reflowed_at = $1 WHERE case_id = $2 AND outcome = $3 AND reflowed_at IS NULL",
        )
        .bind(at)
        .bind(&link.related_case_id)
        .bind(MediationOutcome::Agreement as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the organisation now holding the case (its latest referral).
pub async fn referred(conn: &mut AnyConnection, case_id: &str, org_id: &str, level: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE case_figures SET org_id = $1, org_level = $2 WHERE case_id = $3")
        .bind(org_id)
        .bind(level)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a conclusion at `at`: its outcome, and whether it came before its
/// mediation clock was breached.
pub async fn concluded(conn: &mut AnyConnection, ev: &MediationConcluded, at: i64) -> Result<(), sqlx::Error> {
    let breached: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM clocks WHERE case_id = $1 AND state = $2
         AND kind IN ('PEOPLES_MEDIATION', 'PRE_LITIGATION', 'IN_LITIGATION', 'IN_LITIGATION_SIMPLIFIED',
                 'PETITION_HANDLING', 'PETITION_REVIEW_ANSWER')",
    )
    .bind(&ev.case_id)
    .bind(ClockState::Breached as i32)
    .fetch_one(&mut *conn)
    .await?;
    let level: Option<i32> = sqlx::query_scalar("SELECT level FROM organisations WHERE org_id = $1")
        .bind(&ev.org_id)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE case_figures SET concluded_at = $1, outcome = $2, on_time = $3, org_id = $4, org_level = $5
         WHERE case_id = $6 AND concluded_at IS NULL",
    )
    .bind(at)
    .bind(ev.outcome)
    .bind(i32::from(breached == 0))
    .bind(&ev.org_id)
    .bind(level.unwrap_or(0))
    .bind(&ev.case_id)
    .execute(conn)
    .await?;
    Ok(())
}
