//! Supervision notices (督办) and their responses.

use fengqiao_platform::db::timestamp;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::supervision::v1::SupervisionNotice;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT n.notice_id, n.case_id, n.org_id, n.demand, n.issued_by_org, n.issued_by_person, n.issued_at,
                n.clock_id, n.response, n.responded_by_org, n.responded_by_person, n.responded_at, c.due_at
             FROM supervision_notices n JOIN clocks c ON c.clock_id = n.clock_id ",
            $rest
        )
    };
}

/// Records a new notice.
pub async fn insert(conn: &mut AnyConnection, n: &SupervisionNotice, issued_at: i64) -> Result<(), sqlx::Error> {
    let by = n.issued_by.clone().unwrap_or_default();
    sqlx::query(
        "INSERT INTO supervision_notices (notice_id, case_id, org_id, demand, issued_by_org, issued_by_person,
             issued_at, clock_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&n.notice_id)
    .bind(&n.case_id)
    .bind(&n.org_id)
    .bind(&n.demand)
    .bind(&by.org_id)
    .bind(&by.person_id)
    .bind(issued_at)
    .bind(&n.clock_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the response; false when it was answered already.
pub async fn respond(
    conn: &mut AnyConnection,
    notice_id: &str,
    response: &str,
    by: &Actor,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE supervision_notices SET response = $1, responded_by_org = $2, responded_by_person = $3,
             responded_at = $4 WHERE notice_id = $5 AND responded_at IS NULL",
    )
    .bind(response)
    .bind(&by.org_id)
    .bind(&by.person_id)
    .bind(now)
    .bind(notice_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

fn from_row(r: &AnyRow) -> Result<SupervisionNotice, sqlx::Error> {
    Ok(SupervisionNotice {
        notice_id: r.try_get("notice_id")?,
        case_id: r.try_get("case_id")?,
        org_id: r.try_get("org_id")?,
        demand: r.try_get("demand")?,
        issued_by: Some(Actor { org_id: r.try_get("issued_by_org")?, person_id: r.try_get("issued_by_person")? }),
        issued_at: Some(timestamp(r.try_get("issued_at")?)),
        clock_id: r.try_get("clock_id")?,
        due_at: Some(timestamp(r.try_get("due_at")?)),
        response: r.try_get("response")?,
        responded_by: Some(Actor {
            org_id: r.try_get("responded_by_org")?,
            person_id: r.try_get("responded_by_person")?,
        }),
        responded_at: r.try_get::<Option<i64>, _>("responded_at")?.map(timestamp),
    })
}

/// One notice.
pub async fn find(conn: &mut AnyConnection, notice_id: &str) -> Result<Option<SupervisionNotice>, sqlx::Error> {
    sqlx::query(select!("WHERE n.notice_id = $1"))
        .bind(notice_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A case's notices, oldest first.
pub async fn of_case(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<SupervisionNotice>, sqlx::Error> {
    sqlx::query(select!("WHERE n.case_id = $1 ORDER BY n.issued_at, n.notice_id"))
        .bind(case_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}
