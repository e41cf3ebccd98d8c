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
    registered_all(conn, &[Registration { event: ev, at, org: None }]).await
}

/// A registration to record: the event, its time, and the organisation (and
/// its level) the case was referred to as it was routed, if it was.
pub struct Registration<'a> {
    /// The event.
    pub event: &'a CaseRegistered,
    /// Its time.
    pub at: i64,
    /// The organisation holding the case, and its level.
    pub org: Option<(&'a str, i32)>,
}

/// Records each registration as [`registered`] does, their rows in one
/// statement; one recorded before stays as it is.
pub async fn registered_all(conn: &mut AnyConnection, all: &[Registration<'_>]) -> Result<(), sqlx::Error> {
    for chunk in all.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO case_figures (case_id, registered_at, township, source_agency, refiled, org_id, org_level)
             VALUES {} ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            fengqiao_platform::db::values(conn, chunk.len(), 7)
        );
        let mut insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let ev = r.event;
            let division =
                ev.dispute.as_ref().and_then(|d| d.location.as_ref()).map(|l| l.division_code.as_str()).unwrap_or("");
            let (org_id, level) = r.org.unwrap_or(("", 0));
            insert = insert
                .bind(&ev.case_id)
                .bind(r.at)
                .bind(township(division))
                .bind(&ev.source_agency)
                .bind(i32::from(ev.links.iter().any(|l| l.kind == "RELATED")))
                .bind(org_id)
                .bind(level);
        }
        let mut written: std::collections::HashSet<String> = insert.fetch_all(&mut *conn).await?.into_iter().collect();
        for r in chunk.iter().filter(|r| written.remove(&r.event.case_id)) {
            for link in r.event.links.iter().filter(|l| l.kind == "REFLOW" || l.kind == "REPEAT_PETITION") {
                sqlx::query(
                    "UPDATE case_figures SET reflowed_at = $1
                     WHERE case_id = $2 AND outcome = $3 AND reflowed_at IS NULL",
                )
                .bind(r.at)
                .bind(&link.related_case_id)
                .bind(MediationOutcome::Agreement as i32)
                .execute(&mut *conn)
                .await?;
            }
        }
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
