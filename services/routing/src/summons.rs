//! Joint summons (吹哨报到): assistance requests to several departments with a
//! response deadline, their answers, and each department's response rate.

use std::collections::BTreeMap;

use fengqiao_platform::db::timestamp;
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::routing::v1::{AssistanceRequest, DepartmentResponseRate};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::RoutingError;

const COLUMNS: &str = "assistance_id, case_id, department, request, requested_by_org, requested_by_person, \
                       requested_at, due_at, response, responded_at";

fn from_row(r: &AnyRow, now: i64) -> Result<AssistanceRequest, sqlx::Error> {
    let due: i64 = r.try_get("due_at")?;
    let responded: Option<i64> = r.try_get("responded_at")?;
    Ok(AssistanceRequest {
        assistance_id: r.try_get("assistance_id")?,
        case_id: r.try_get("case_id")?,
        department: r.try_get("department")?,
        request: r.try_get("request")?,
        requested_by: Some(Actor {
            org_id: r.try_get("requested_by_org")?,
            person_id: r.try_get("requested_by_person")?,
        }),
        requested_at: Some(timestamp(r.try_get("requested_at")?)),
        due_at: Some(timestamp(due)),
        response: r.try_get("response")?,
        responded_at: responded.map(timestamp),
        overdue: responded.is_none() && now > due,
    })
}

async fn find(conn: &mut AnyConnection, id: &str, now: i64) -> Result<Option<AssistanceRequest>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assistance_requests WHERE assistance_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.map(|r| from_row(&r, now)).transpose()
}

/// Joint summons over routing's database.
#[derive(Clone)]
pub struct Summons {
    db: Database,
}

impl Summons {
    /// Summons over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Asks each department, at `now`, to answer within `hours`.
    pub async fn summon(
        &self,
        case_id: &str,
        departments: &[String],
        request: &str,
        hours: u32,
        actor: Option<Actor>,
        now: i64,
    ) -> Result<Vec<AssistanceRequest>, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        let mut unique = departments.to_vec();
        unique.sort();
        unique.dedup();
        if departments.is_empty()
            || unique.len() != departments.len()
            || departments.iter().any(|d| d.trim().is_empty())
        {
            v.push(Violation::new("departments", "must name at least one department, each once"));
        }
        if request.trim().is_empty() {
            v.push(Violation::new("request", "is required: what the departments are asked to do"));
        }
        if !(1..=720).contains(&hours) {
            v.push(Violation::new("response_hours", "must be between 1 and 720"));
        }
        if actor.org_id.trim().is_empty() {
            v.push(Violation::new("actor.org_id", "is required: who summons"));
        }
        if !v.is_empty() {
            return Err(RoutingError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        if crate::store::find_case(&mut tx, case_id).await?.is_none() {
            return Err(RoutingError::NotFound);
        }
        let due = now + i64::from(hours) * 3_600_000_000;
        let mut made = Vec::new();
        for department in departments {
            let id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO assistance_requests (assistance_id, case_id, department, request, requested_by_org,
                     requested_by_person, requested_at, due_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(case_id)
            .bind(department.trim())
            .bind(request.trim())
            .bind(&actor.org_id)
            .bind(&actor.person_id)
            .bind(now)
            .bind(due)
            .execute(&mut *tx)
            .await?;
            made.push(id);
        }
        let mut requests = Vec::new();
        for id in made {
            requests.push(find(&mut tx, &id, now).await?.expect("just inserted"));
        }
        tx.commit().await?;
        Ok(requests)
    }

    /// Records `department`'s answer at `now` (once; a second answer is refused).
    pub async fn respond(
        &self,
        id: &str,
        department: &str,
        response: &str,
        now: i64,
    ) -> Result<AssistanceRequest, RoutingError> {
        if response.trim().is_empty() {
            return Err(RoutingError::Invalid(vec![Violation::new("response", "is required")]));
        }
        let mut tx = self.db.begin().await?;
        let found =
            find(&mut tx, id, now).await?.filter(|r| r.department == department).ok_or(RoutingError::NotFound)?;
        if found.responded_at.is_some() {
            return Err(RoutingError::Receiver(tonic::Status::failed_precondition(
                "this request was answered already",
            )));
        }
        sqlx::query("UPDATE assistance_requests SET response = $1, responded_at = $2 WHERE assistance_id = $3")
            .bind(response.trim())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let answered = find(&mut tx, id, now).await?.expect("exists");
        tx.commit().await?;
        Ok(answered)
    }

    /// A case's requests, oldest first, as of `now`.
    pub async fn of_case(&self, case_id: &str, now: i64) -> Result<Vec<AssistanceRequest>, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        let sql =
            format!("SELECT {COLUMNS} FROM assistance_requests WHERE case_id = $1 ORDER BY requested_at, department");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(|r| from_row(r, now)).collect::<Result<_, _>>()?)
    }

    /// Each department's figures for requests made in `[from, to)`, as of `now`.
    pub async fn response_rates(
        &self,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Vec<DepartmentResponseRate>, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        let sql = format!("SELECT {COLUMNS} FROM assistance_requests WHERE requested_at >= $1 AND requested_at < $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch_all(&mut *conn).await?;
        let mut by_department: BTreeMap<String, DepartmentResponseRate> = BTreeMap::new();
        for r in rows.iter().map(|r| from_row(r, now)) {
            let r = r?;
            let due = r.due_at.as_ref().map(|t| (t.seconds, t.nanos));
            let answered_at = r.responded_at.as_ref().map(|t| (t.seconds, t.nanos));
            let entry = by_department
                .entry(r.department.clone())
                .or_insert_with(|| DepartmentResponseRate { department: r.department.clone(), ..Default::default() });
            entry.requested += 1;
            if answered_at.is_some() {
                entry.answered += 1;
            }
            if answered_at.is_some() && answered_at <= due {
                entry.answered_in_time += 1;
            }
            if r.overdue {
                entry.overdue += 1;
            }
        }
        Ok(by_department
            .into_values()
            .map(|mut d| {
                d.response_rate = f64::from(d.answered_in_time) / f64::from(d.requested.max(1));
                d
            })
            .collect())
    }
}
