//! Leader ownership of cases (领导包案): one owner per case.

use fengqiao_platform::db::timestamp;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::supervision::v1::CaseOwner;
use sqlx::{AnyConnection, Row};

/// Makes `leader_id` the case's owner (replacing any other) with its acknowledgement clock.
pub async fn assign(
    conn: &mut AnyConnection,
    case_id: &str,
    leader_id: &str,
    by: &Actor,
    clock_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_owners (case_id, leader_id, assigned_by_org, assigned_by_person, assigned_at, clock_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (case_id) DO UPDATE SET leader_id = excluded.leader_id,
             assigned_by_org = excluded.assigned_by_org, assigned_by_person = excluded.assigned_by_person,
             assigned_at = excluded.assigned_at, clock_id = excluded.clock_id, acknowledged_at = NULL",
    )
    .bind(case_id)
    .bind(leader_id)
    .bind(&by.org_id)
    .bind(&by.person_id)
    .bind(now)
    .bind(clock_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the owner's acknowledgement; false when it was acknowledged already.
pub async fn acknowledge(conn: &mut AnyConnection, case_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("UPDATE case_owners SET acknowledged_at = $1 WHERE case_id = $2 AND acknowledged_at IS NULL")
        .bind(now)
        .bind(case_id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// The case's owner, if any.
pub async fn find(conn: &mut AnyConnection, case_id: &str) -> Result<Option<CaseOwner>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT case_id, leader_id, assigned_by_org, assigned_by_person, assigned_at, acknowledged_at, clock_id
         FROM case_owners WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(CaseOwner {
            case_id: r.try_get("case_id")?,
            leader_id: r.try_get("leader_id")?,
            assigned_by: Some(Actor {
                org_id: r.try_get("assigned_by_org")?,
                person_id: r.try_get("assigned_by_person")?,
            }),
            assigned_at: Some(timestamp(r.try_get("assigned_at")?)),
            acknowledged_at: r.try_get::<Option<i64>, _>("acknowledged_at")?.map(timestamp),
            clock_id: r.try_get("clock_id")?,
        })
    })
    .transpose()
}
